"""Read typed values out of a definition document, recording each shape error as a finding."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from whdebug.engine._specs import LookupSpec, lookup_spec
from whdebug.engine.bodypaths import BodyPath, compile_body_path, repair_path
from whdebug.engine.locations import Location, def_finding, where
from whdebug.engine.report import Finding

IGNORED = "whdebug ignores it, as the runtime cannot use it"


class ShapeReader:
    """Reads typed values out of the document, recording a finding for each shape error."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.body_paths: list[BodyPath] = []
        """Usable paths evaluated against the whole body (they make up the projection)."""

    def get(self, container: Mapping[str, Any], key: str, at: Location, kind: type,
            consequence: str = IGNORED) -> Any:
        """`container[key]` when it has JSON type `kind`; None when absent, null or mistyped."""
        value = container.get(key)
        if value is None or value.__class__ is kind or _has_type(value, kind):
            return value
        self.wrong_type((*at, key), value, kind, consequence)
        return None

    def wrong_type(self, at: Location, value: Any, kind: type,
                   consequence: str = IGNORED, wanted: str | None = None) -> None:
        shown, wanted = where(at), wanted or _KIND_NAMES[kind]
        self.findings.append(def_finding(
            "DEF_SCHEMA", f"{shown} must be {wanted}, not {kind_of(value)}: {consequence}",
            f"change {shown} to {wanted}", at))

    def strings(self, container: Mapping[str, Any], key: str, at: Location,
                consequence: str = IGNORED) -> list[str]:
        """The string items of an array field; every other item is reported and skipped."""
        items = self.get(container, key, at, list, consequence)
        out: list[str] = []
        for index, item in enumerate(items or []):
            if isinstance(item, str):
                out.append(item)
            else:
                self.wrong_type((*at, key, index), item, str, consequence)
        return out

    def body_path(self, text: str, at: Location, *, whole_body: bool = True) -> BodyPath:
        """`text` compiled; a JSONPath that does not compile is reported and selects nothing."""
        compiled = compile_body_path(text)
        if compiled.error is not None:
            bad = jsonpath_finding(text, at)
            if bad is not None:
                self.findings.append(bad)
        elif whole_body:
            self.body_paths.append(compiled)
        return compiled

    def body_paths_of(self, container: Mapping[str, Any], key: str, at: Location,
                      consequence: str = IGNORED) -> tuple[BodyPath, ...] | None:
        """An array of JSONPaths (None when the field is absent or not an array)."""
        items = self.get(container, key, at, list, consequence)
        if items is None:
            return None
        paths: list[BodyPath] = []
        for index, item in enumerate(items):
            if isinstance(item, str):
                paths.append(self.body_path(item, (*at, key, index)))
            else:
                self.wrong_type((*at, key, index), item, str, consequence)
        return tuple(paths)

    def lookup(self, config: Mapping[str, Any], at: Location) -> LookupSpec:
        """A {source, path} lookup; a mistyped source is an unknown one."""
        source = config.get("source")
        if source is not None and not isinstance(source, str):
            self.wrong_type((*at, "source"), source, str, "nothing is read from this lookup")
            source = json.dumps(source)
        path = config.get("path")
        if path is not None and not isinstance(path, str):
            self.wrong_type((*at, "path"), path, str, "nothing is read from this lookup")
        spec = lookup_spec(source, path)
        if spec.body_path is not None:
            assert isinstance(path, str)
            self.body_path(path, (*at, "path"))
        return spec


def jsonpath_finding(text: str, at: Location) -> Finding | None:
    """DEF_BAD_JSONPATH for a non-empty path at `at` that does not compile, else None."""
    error = compile_body_path(text).error
    if error is None or not text:
        return None
    repaired = repair_path(text)
    fix = (f'write {where(at)} as "{repaired}"' if repaired else
           f'write {where(at)} as a JSONPath such as "$.data.type" (quote unusual names: '
           "\"$['odd-name']\")")
    return def_finding(
        "DEF_BAD_JSONPATH", f'{where(at)} "{text}" is not a valid JSONPath: {error}', fix, at)


_KIND_NAMES: dict[type, str] = {
    str: "a string", dict: "an object", list: "an array", int: "an integer"}


def _has_type(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"
