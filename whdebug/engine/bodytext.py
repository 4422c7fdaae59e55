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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from whdebug.engine.report import Finding, finding
from whdebug.model.definition import lone_surrogate as model_lone_surrogate

if TYPE_CHECKING:
    from whdebug.engine.paths import Body

_CHUNK = 1 << 20
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Nesting:
    """How deep a JSON text nests, and the byte offset of its deepest opening bracket."""

    depth: int
    offset: int


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
    """The deepest nesting of arrays and objects in a JSON text (strings skipped)."""
    depth = deepest = offset = 0
    for match in _TOKEN.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest, offset = depth, match.start()
        elif token in (b"]", b"}"):
            depth -= 1
    return Nesting(deepest, offset)


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


def body_findings(body: Body) -> list[Finding]:
    """What whdebug and Node may read differently in this body, each said as a finding."""
    findings: list[Finding] = []
    deep = body.nesting
    if deep is not None:
        findings.append(finding(
            "REQ_BODY_TOO_DEEP",
            f"the body nests {deep.depth} arrays/objects deep (deepest bracket at byte "
            f"{deep.offset}); whdebug's JSON parser stops at about 1,000 levels, so its body "
            "paths find nothing here. Node's JSON.parse (V8) parses any depth, so the runtime "
            "does read this body: what its event, transaction id and customer paths select is "
            "unknown to whdebug (the signature verdict only needs the bytes and stands)",
            "to check the body paths, replay a flatter sample of the same event",
            step="request"))
        return findings
    if body.kind != "json":
        return findings
    bad = body.invalid_utf8_at
    if bad is not None:
        sample = body.raw[bad:bad + 4].hex(" ")
        findings.append(finding(
            "REQ_BODY_NOT_UTF8",
            f"the body is not valid UTF-8 at byte {bad} ({sample} ...). Node reads a body with "
            "Buffer.toString('utf8'), which turns every invalid sequence into U+FFFD before "
            "JSON.parse, and whdebug read it the same way (assumed: a runtime that rejected "
            "invalid UTF-8 would drop this request); values holding those bytes are not what "
            "the provider sent",
            "make the sender encode its body as UTF-8",
            step="request"))
    surrogate = body.lone_surrogate
    if surrogate is not None:
        path, text = surrogate
        findings.append(finding(
            "REQ_LONE_SURROGATE",
            f"the body string at {path} ({json.dumps(text)}) holds a lone UTF-16 surrogate "
            "escape. Node's JSON.parse accepts it and keeps it, as whdebug does, so the event, "
            "ids and trigger match use that code unit; but TextEncoder (and any UTF-8 write: "
            "a stored record, a forwarded body) writes it as U+FFFD (ef bf bd), so what is "
            "stored differs from what was matched",
            "make the sender escape whole surrogate pairs (or send the character as UTF-8)",
            step="request"))
    return findings


_BODY_STEPS = frozenset({"extract", "match", "dedupe", "customer", "sync"})


def unparsed_body_caveats(findings: list[Finding]) -> list[Finding]:
    """With a body whdebug could not parse, its body-based findings say so, and their fix
    is to check on a parsable sample first.

    A fix derived from values whdebug could not read (say, renaming a trigger to the event
    it extracted without the body's part) would be a wrong fix.
    """
    if not any(f.code == "REQ_BODY_TOO_DEEP" for f in findings):
        return findings
    return [
        msgspec.structs.replace(
            f, message=f"{f.message} (whdebug could not parse the body, REQ_BODY_TOO_DEEP: "
                       "the runtime may extract otherwise)",
            fix="check it on a sample whdebug can parse before changing the definition")
        if f.step in _BODY_STEPS else f
        for f in findings
    ]
