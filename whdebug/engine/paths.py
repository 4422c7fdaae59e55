"""Look values up in a request the way the runtime does: JSONPath in the body, headers, query."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from whdebug.engine._projection import Projection
from whdebug.engine._specs import LookupSpec, lookup_spec
from whdebug.engine.bodypaths import BodyPath, compile_body_path
from whdebug.engine.bodytext import (
    Nesting,
    first_invalid_utf8,
    lone_surrogate,
    nesting,
    node_text,
)
from whdebug.model.records import fast_init
from whdebug.model.request import CapturedRequest

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
UTF8_SCAN_LIMIT = 4 * 1024 * 1024
"""Bodies up to this size are checked for bytes that are not UTF-8 (about 8 ms at the limit
for non-ASCII text; a 64 MiB body would cost more than its HMAC)."""


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


class Body:
    """The request body as the engine sees it, parsed at most once and only when a step needs it.

    With a projection (the plain dotted paths a definition reads), the body is decoded into
    just those values: the whole document is validated, but nothing else is built, so a
    64 MiB body costs one fast scan. Any other path decodes the whole document once.
    """

    __slots__ = ("raw", "_content_type", "_projection", "_kind", "_projected", "_document",
                 "_error", "_nesting", "_surrogate", "_bad_utf8")

    def __init__(self, raw: bytes, content_type: str | None = None,
                 projection: Projection | None = None) -> None:
        self.raw = raw
        self._content_type = (content_type or "").lower()
        self._projection = projection
        self._kind: str | None = None
        self._projected: Any = MISSING
        self._document: Any = MISSING
        self._error: str | None = None
        self._nesting: Nesting | None = None
        self._surrogate: tuple[str, str] | None = None
        self._bad_utf8: int | None = None

    @classmethod
    def of(cls, kind: str, document: Any, error: str | None = None) -> Body:
        """A body that is already parsed (tests and callers that hold a document)."""
        body = cls(b"")
        body._kind, body._document, body._error = kind, document, error
        return body

    def _parse(self) -> None:
        raw = self.raw
        if not raw or raw.isspace():
            self._kind = "empty"
            return
        if "application/x-www-form-urlencoded" in self._content_type:
            self._kind, self._document, self._error = _parse_form(raw)
            return
        if self._projection is not None:
            try:
                self._projected = self._projection.decoder.decode(raw)
                self._kind = "json"
                return
            except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
                pass  # not an object of that shape, or not JSON: decode it whole below
        document, failure = self._load_whole()
        if document is not MISSING:
            self._kind, self._document = "json", document
            return
        if (not self._content_type and self._nesting is None and b"=" in raw
                and raw.lstrip()[:1] not in (b"{", b"[")):
            kind, document, _ = _parse_form(raw)
            if kind == "form":
                self._kind, self._document = kind, document
                return
        self._kind, self._error = "invalid", failure

    def _load_whole(self) -> tuple[Any, str | None]:
        """The whole document (or MISSING and why not), read as Node reads it.

        msgspec first; what it refuses goes through `json.loads`, which also takes a UTF-8
        BOM and lone surrogate escapes. Bytes that are not UTF-8 are replaced by U+FFFD first,
        as Node's `Buffer.toString` does; nesting too deep for Python is recorded.
        """
        raw = self.raw
        document = _decode_whole(raw)
        if document is not MISSING:
            return document, None
        # json.loads(bytes) decodes with "surrogatepass": it would read ED A0 80 as a lone
        # surrogate where Node reads three U+FFFD, so bytes that are not strict UTF-8 go
        # through Node's reading instead
        bad_byte = self._bad_utf8 = first_invalid_utf8(raw)
        try:
            document = json.loads(raw if bad_byte is None else node_text(raw))
        except RecursionError:
            self._nesting = nesting(raw)
            return MISSING, (f"nested {self._nesting.words}, more than whdebug's JSON parser "
                             "reads (about 1,000)")
        except ValueError as error:
            if bad_byte is None:
                return MISSING, _json_error(error)
            return MISSING, (f"not UTF-8 at byte {bad_byte}, and not JSON even with its bad "
                             f"bytes read as U+FFFD: {_json_error(error)}")
        if _SURROGATE_ESCAPE.search(raw):  # the only way a JSON text spells one
            self._surrogate = lone_surrogate(document)
        return document, None

    @property
    def nesting(self) -> Nesting | None:
        """How deep the body nests, when that is too deep for whdebug to parse."""
        if self._kind is None:
            self._parse()
        return self._nesting

    @property
    def lone_surrogate(self) -> tuple[str, str] | None:
        """(JSONPath, string) of a string holding a lone UTF-16 surrogate escape, if any.

        Known once the whole document was read through `json.loads` (msgspec refuses lone
        surrogates); a body read through the projection alone holds none in the values read,
        and is not decoded whole just to look.
        """
        if self._kind is None:
            self._parse()
        return self._surrogate

    @property
    def invalid_utf8_at(self) -> int | None:
        """The offset of the first byte that is not UTF-8 (Node reads it as U+FFFD).

        Scanned up to UTF8_SCAN_LIMIT bytes; a larger body is only known to hold one when
        its whole document had to be read (a value the definition reads went through it).
        """
        if self._bad_utf8 is None and len(self.raw) <= UTF8_SCAN_LIMIT:
            self._bad_utf8 = first_invalid_utf8(self.raw)
        return self._bad_utf8

    @property
    def kind(self) -> str:
        """json | form | empty | invalid"""
        if self._kind is None:
            self._parse()
        return self._kind or "invalid"

    @property
    def error(self) -> str | None:
        if self._kind is None:
            self._parse()
        return self._error

    @property
    def document(self) -> Any:
        """The whole body as Python values (MISSING unless kind is json or form)."""
        if self._kind is None:
            self._parse()
        if self._document is MISSING and self._projected is not MISSING:
            self._document, _ = self._load_whole()
        return self._document

    def select(self, path: BodyPath) -> list[Any]:
        """Every value a compiled path selects in the body (nothing for a broken path)."""
        if self._kind is None:
            self._parse()
        keys = path.keys
        if self._projected is not MISSING and self._document is MISSING and keys is not None:
            projection = self._projection
            if projection is not None and projection.covers(keys):
                return projection.lookup(self._projected, keys)
        document = self.document
        return [] if document is MISSING else path.find(document)

    def find(self, path: str) -> list[Any]:
        """Every value `path` selects in the body (nothing for a malformed path)."""
        return self.select(compile_body_path(path))


def _decode_whole(raw: bytes) -> Any:
    """msgspec's decode of the whole body, or MISSING when it refuses (the caller retries)."""
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return MISSING


def simple_keys(path: str) -> tuple[str, ...] | None:
    """The keys of a plain dotted path (`$.a.b` -> ("a", "b")), None for any other JSONPath."""
    return compile_body_path(path).keys


def parse_body(request: CapturedRequest, projection: Projection | None = None) -> Body:
    """The request's body, parsed lazily as JSON (what the runtime does) or form for diagnosis."""
    return Body(request.body, request.content_type, projection)


def _json_error(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno} column {error.colno}"
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text (byte {error.start})"
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return str(error)


def _parse_form(raw: bytes) -> tuple[str, Any, str | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return "invalid", MISSING, f"form body is not UTF-8 (byte {error.start})"
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
            document[key] = (
                [*previous, parsed] if isinstance(previous, list) else [previous, parsed]
            )
        else:
            document[key] = parsed
    return "form", document, None


def find_all(path: str, document: Any) -> list[Any]:
    """Every value `path` selects in `document` (nothing for a malformed path)."""
    if document is MISSING:
        return []
    return compile_body_path(path).find(document)


@fast_init
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
    return read_lookup(lookup_spec(source, path), request, body)


def read_lookup(spec: LookupSpec, request: CapturedRequest, body: Body) -> Lookup:
    """Read one compiled lookup from the request's body, header or query."""
    if spec.error is not None:
        return Lookup(False, MISSING, 0, spec.error)
    if spec.source == "header":
        value = request.header(spec.path)
        return Lookup(True, value, 1) if value is not None else NOT_FOUND
    if spec.source == "query":
        values = [v for k, v in request.query_pairs() if k == spec.path]
        if not values:
            return NOT_FOUND
        return Lookup(True, values[0] if len(values) == 1 else values, len(values))
    assert spec.body_path is not None
    matches = body.select(spec.body_path)
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
        # JSON.parse reads every number as a double: ids past 2**53 lose their last digits
        return str(value) if abs(value) <= _SAFE_INTEGER else _js_number(float(value))
    if isinstance(value, float):
        return _js_number(value)
    if isinstance(value, list):
        return js_join(value, ",")
    return "[object Object]"


def js_join(values: list[Any], separator: str) -> str:
    """JavaScript's `Array.prototype.join`: undefined and null become '', a nested array its
    own `join(",")`. Iterative, so an array nested a thousand deep cannot exhaust the stack."""
    levels: list[tuple[Iterator[Any], list[str], str]] = [(iter(values), [], separator)]
    while True:
        items, parts, joiner = levels[-1]
        for item in items:
            if isinstance(item, list):
                levels.append((iter(item), [], ","))
                break
            parts.append("" if item is None or item is MISSING else js_string(item))
        else:
            levels.pop()
            text = joiner.join(parts)
            if not levels:
                return text
            levels[-1][1].append(text)


SAFE_INTEGER = _SAFE_INTEGER = 2**53 - 1
"""Number.MAX_SAFE_INTEGER: JSON.parse reads larger integers as the nearest double."""


def _js_number(value: float) -> str:
    """Number.prototype.toString: shortest round-trip digits, plain from 1e-6 up to 1e21."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    text = repr(value)
    if 1e-6 <= abs(value) < 1e21:
        plain = format(Decimal(text), "f")
        return plain[:-2] if plain.endswith(".0") else plain
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
