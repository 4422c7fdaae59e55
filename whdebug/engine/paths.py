"""Look values up in a request the way the runtime does: JSONPath in the body, headers, query."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

import jsonpath

from whdebug.models import CapturedRequest

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SIMPLE_PATH = re.compile(r"^\$(?:\.[A-Za-z_][A-Za-z0-9_-]*)+$")


class _Missing:
    """Marks a value that is absent (JavaScript `undefined`), distinct from JSON null."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


@dataclass(frozen=True, slots=True)
class Body:
    """The request body as the engine sees it: parsed once, shared by every step."""

    kind: str
    """json | form | empty | invalid"""
    document: Any
    """The parsed value (MISSING unless kind is json or form)."""
    error: str | None = None


def parse_body(request: CapturedRequest) -> Body:
    """Parse the body as JSON (what the runtime does), or form-encoded for diagnosis."""
    raw = request.body
    if not raw.strip():
        return Body("empty", MISSING)
    content_type = (request.content_type or "").lower()
    if "application/x-www-form-urlencoded" in content_type:
        return _parse_form(raw)
    try:
        return Body("json", json.loads(raw))
    except (ValueError, RecursionError) as error:
        if not content_type and b"=" in raw and not raw.lstrip().startswith((b"{", b"[")):
            form = _parse_form(raw)
            if form.kind == "form":
                return form
        return Body("invalid", MISSING, _json_error(error))


def _json_error(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno} column {error.colno}"
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text (byte {error.start})"
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return str(error)


def _parse_form(raw: bytes) -> Body:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return Body("invalid", MISSING, f"form body is not UTF-8 (byte {error.start})")
    document: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        parsed: Any = value
        if value[:1] in ("{", "["):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = value
        if key in document:
            previous = document[key]
            document[key] = [*previous, parsed] if isinstance(previous, list) else [previous, parsed]
        else:
            document[key] = parsed
    return Body("form", document)


def normalize_path(path: str) -> str:
    """`event` and `data.type` as the docs write them mean `$.event` and `$.data.type`."""
    path = path.strip()
    if path.startswith("$"):
        return path
    if path.startswith("["):
        return "$" + path
    return "$." + path


@lru_cache(maxsize=1024)
def _compile(path: str) -> tuple[tuple[str, ...] | None, Any]:
    """A plain dotted path becomes a tuple of keys (fast); anything else a compiled JSONPath."""
    if _SIMPLE_PATH.match(path):
        return tuple(path[2:].split(".")), None
    return None, jsonpath.compile(path)


def find_all(path: str, document: Any) -> list[Any]:
    """Every value `path` selects in `document` (raises on a malformed path)."""
    if document is MISSING:
        return []
    keys, compiled = _compile(normalize_path(path))
    if keys is not None:
        node = document
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return []
            node = node[key]
        return [node]
    return list(compiled.findall(document))


def path_error(path: str) -> str | None:
    """Why `path` is not a valid JSONPath, or None."""
    try:
        _compile(normalize_path(path))
    except Exception as error:  # python-jsonpath raises several error types
        return str(error)
    return None


@dataclass(frozen=True, slots=True)
class Lookup:
    """The result of reading one location: absent, or a raw value plus how many matched."""

    found: bool
    value: Any
    count: int = 0
    error: str | None = None


NOT_FOUND = Lookup(False, MISSING, 0)


def lookup(source: str, path: str, request: CapturedRequest, body: Body) -> Lookup:
    """Read `path` from the request's body, header or query, as the runtime would."""
    if not isinstance(path, str) or not path:
        return Lookup(False, MISSING, 0, "empty path")
    if source == "header":
        value = request.header(path)
        return Lookup(True, value, 1) if value is not None else NOT_FOUND
    if source == "query":
        values = [v for k, v in request.query_pairs() if k == path]
        if not values:
            return NOT_FOUND
        return Lookup(True, values[0] if len(values) == 1 else values, len(values))
    if source != "body":
        return Lookup(False, MISSING, 0, f"unknown source {source!r}")
    try:
        matches = find_all(path, body.document)
    except Exception as error:
        return Lookup(False, MISSING, 0, f"invalid JSONPath: {error}")
    if not matches:
        return NOT_FOUND
    return Lookup(True, matches[0], len(matches))


def js_string(value: Any) -> str:
    """JavaScript's `String(value)`."""
    if isinstance(value, str):
        return value
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _js_number(value)
    if isinstance(value, list):
        return js_join(value, ",")
    return "[object Object]"


def js_join(values: list[Any], separator: str) -> str:
    """JavaScript's `Array.prototype.join`: undefined and null become ''."""
    return separator.join("" if v is None or v is MISSING else js_string(v) for v in values)


def _js_number(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        return f"{mantissa.removesuffix('.0')}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
    return text


def json_type(value: Any) -> str:
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def iter_leaves(document: Any, limit: int = 20000) -> Iterator[tuple[str, Any]]:
    """(JSONPath, value) for every scalar in a document, breadth-first, at most `limit`."""
    queue: deque[tuple[str, Any]] = deque([("$", document)])
    seen = 0
    while queue and seen < limit:
        path, node = queue.popleft()
        seen += 1
        if isinstance(node, dict):
            for key, child in node.items():
                step = f".{key}" if _NAME.fullmatch(key) else f"[{json.dumps(key)}]"
                queue.append((path + step, child))
        elif isinstance(node, list):
            for index, child in enumerate(node):
                queue.append((f"{path}[{index}]", child))
        elif node is not MISSING:
            yield path, node
