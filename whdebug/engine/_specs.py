"""The typed blocks of a compiled definition: one frozen record per runtime step's settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from whdebug.engine.bodypaths import BodyPath, compile_body_path

LOOKUP_SOURCES = ("body", "header", "query")


@dataclass(frozen=True, slots=True)
class LookupSpec:
    """Where one value is read: a body JSONPath, a header name or a query key."""

    source: str
    """body | header | query, or the unknown source as written."""
    path: str
    """The path or name as written (`str()` of a missing or mistyped one, for messages)."""
    body_path: BodyPath | None = None
    """The compiled JSONPath, for a usable body lookup."""
    error: str | None = None
    """Why nothing can be read here: empty path, unknown source, invalid JSONPath."""


def lookup_spec(source: Any, path: Any) -> LookupSpec:
    """A lookup as the runtime reads it: no source means the body; a path must be a string."""
    source_text = str(source or "body")
    shown = str(path)
    if not isinstance(path, str) or not path:
        return LookupSpec(source_text, shown, error="empty path")
    if source_text not in LOOKUP_SOURCES:
        return LookupSpec(source_text, shown, error=f"unknown source {source_text!r}")
    if source_text != "body":
        return LookupSpec(source_text, shown)
    compiled = compile_body_path(path)
    if compiled.error is not None:
        return LookupSpec(source_text, shown, compiled, f"invalid JSONPath: {compiled.error}")
    return LookupSpec(source_text, shown, compiled)


@dataclass(frozen=True, slots=True)
class CompositeSpec:
    parts: tuple[LookupSpec, ...]
    """Empty when `parts` is missing, empty or not an array."""
    separator: str | None
    """The separator as JavaScript's join() sees it; None when unset (join() then uses ',')."""


@dataclass(frozen=True, slots=True)
class EventExtractionSpec:
    primary: LookupSpec
    fallback: LookupSpec | None = None
    composite: CompositeSpec | None = None
    """Present when `compositeStrategy` is an object: the primary path is then ignored."""


@dataclass(frozen=True, slots=True)
class VerificationSpec:
    type: str | None
    """hmac-sha256 | hmac-sha1 | header-token | none, or an unknown type as written."""
    header_name: str | None = None
    secret_key: str | None = None
    encoding: Literal["hex", "base64"] = "hex"
    timestamp_header: str | None = None
    type_error: str | None = None
    """Set when `type` is not a string (`an array`): the runtime knows no such type."""


@dataclass(frozen=True, slots=True)
class TransactionSpec:
    paths: tuple[BodyPath, ...] = ()
    overrides: Mapping[str, tuple[BodyPath, ...]] = field(default_factory=dict)
    """Per-event paths that replace `paths`."""
    separator: str | None = None
    """Joins the values of every path when set (a non-empty string)."""
    generate: bool = False
    """`fallback: "generate"`: a random id when no path finds one."""


@dataclass(frozen=True, slots=True)
class ChallengeSpec:
    identify_field: BodyPath
    identify_value: Any
    challenge_path: BodyPath | None
    response_field: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerField:
    """One `mapping` entry: internal name <- provider field inside the base object."""

    name: str
    text: str | None
    """The provider field as written; None when it is not a string (never found)."""
    keys: tuple[str, ...] = ()
    """A dotted field (`contact.email`), walked with numeric keys indexing arrays."""
    path: BodyPath | None = None
    """A `$`-JSONPath evaluated against the base object."""


@dataclass(frozen=True, slots=True)
class CustomerSpec:
    base_path: BodyPath
    overrides: Mapping[str, BodyPath]
    """Per-event basePath."""
    fields: tuple[CustomerField, ...]


@dataclass(frozen=True, slots=True)
class SyncField:
    """One record mapping: the first path (of `spec` or its paths) with a non-empty value."""

    name: str
    paths: tuple[BodyPath, ...]
    shown: str
    """The mapping value as written, for messages."""
    plain: bool = False
    """A JSONPath string (one path, whose value counts even when empty)."""


@dataclass(frozen=True, slots=True)
class SyncHandlerSpec:
    event: str
    pointer: str
    shape: Literal["record", "resource"]
    record_type: str | None = None
    operation: str | None = None
    resource: str | None = None
    fields: tuple[SyncField, ...] = ()
    data_path: BodyPath | None = None
    """The resource shape's dataPath (default `$`); None when it is not a string."""
    data_path_text: str | None = None
    """dataPath as written (None when absent)."""


@dataclass(frozen=True, slots=True)
class SyncSpec:
    handlers: Mapping[str, SyncHandlerSpec]
    """The usable handlers by event."""
    names: tuple[str, ...] = ()
    """Every handler key, usable or not."""


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    index: int
    event: str | None
    """None when missing or not a string: the trigger never fires."""
    type: str | None = None
    label: str | None = None
    description: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    """The trigger object as written: the template for a trigger a fix adds."""


@dataclass(frozen=True, slots=True)
class ResponseSpec:
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
