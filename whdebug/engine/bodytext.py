"""Bodies anyone can send: bytes that are not UTF-8, lone surrogates, nesting too deep to parse.

Node reads a webhook body as text with `Buffer.toString("utf8")` (and body-parser does the
same): every invalid UTF-8 sequence becomes U+FFFD before `JSON.parse` sees it. `JSON.parse`
accepts a lone UTF-16 surrogate escape (`"\\ud800"`) and keeps it in the string, but
`TextEncoder` (and any UTF-8 write) turns it into U+FFFD. V8's `JSON.parse` is not recursive,
so Node parses nesting millions of levels deep; whdebug's parsers stop at about 1,000 levels
(Python's recursion limit). These helpers find each case so the report can say so.
"""

from __future__ import annotations

import codecs
import json
import re
from array import array
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from whdebug.model.definition import lone_surrogate as model_lone_surrogate

_CHUNK = 1 << 20
NESTING_SCAN_LIMIT = 4 * 1024 * 1024
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
"""Opening brackets to +1, closing ones to -1 (0xff, read as a signed byte)."""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Nesting:
    """How deep a JSON text nests (at least, when only its first `scanned` bytes were read)."""

    depth: int
    scanned: int
    complete: bool

    @property
    def words(self) -> str:
        """"1101 levels deep", or "at least 9000 levels deep (in its first 4 MiB)"."""
        if self.complete:
            return f"{self.depth} levels deep"
        return f"at least {self.depth} levels deep (in its first {self.scanned >> 20} MiB)"


def first_invalid_utf8(raw: bytes) -> int | None:
    """The offset of the first byte that is not valid UTF-8, or None (chunked: no big copy)."""
    if raw.isascii():
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    for start in range(0, len(raw), _CHUNK):
        pending = len(decoder.getstate()[0])  # bytes of a sequence the last chunk split
        try:
            decoder.decode(raw[start:start + _CHUNK], final=start + _CHUNK >= len(raw))
        except UnicodeDecodeError as error:
            return start - pending + error.start
    return None


def node_text(raw: bytes) -> str:
    """The body as Node's `Buffer.toString("utf8")` reads it: bad sequences become U+FFFD."""
    return raw.decode("utf-8", "replace")


def nesting(raw: bytes) -> Nesting:
    """The deepest nesting of arrays and objects in a JSON text (strings skipped).

    C-speed passes only (a hostile body can be 64 MiB of brackets): strings are cut out, every
    byte but a bracket deleted, and the running depth summed; past NESTING_SCAN_LIMIT bytes
    the depth is a lower bound.
    """
    text = raw[:NESTING_SCAN_LIMIT]
    brackets = _STRING.sub(b"", text).translate(None, _NOT_BRACKET).translate(_STEP)
    depth = max(accumulate(array("b", brackets)), default=0)
    return Nesting(max(depth, 0), len(text), len(text) == len(raw))


def lone_surrogate(document: Any) -> tuple[str, str] | None:
    """(JSONPath, string) of the first string or key holding a lone UTF-16 surrogate."""
    found = model_lone_surrogate(document)
    if found is None:
        return None
    location, text = found
    path = "$"
    for step in location:
        if isinstance(step, int):
            path += f"[{step}]"
        elif _NAME.fullmatch(step):
            path += f".{step}"
        else:
            path += f"[{json.dumps(step)}]"
    return path, text


def utf8(text: str) -> bytes:
    """`text` as UTF-8; a lone surrogate becomes its `\\uXXXX` escape, as JSON.stringify writes."""
    return text.encode("utf-8", "backslashreplace")

