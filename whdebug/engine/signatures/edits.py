"""The edit catalogue: what happens to a body between signing and receipt, and how to undo it.

Each `Edit` is a change a proxy, tunnel, framework or test script makes to the signed bytes
(`apply`: signed -> received) with its inverse (`undo`: received -> the bytes that may have
been signed, or None when the edit cannot have happened to these bytes). The diagnosis
search undoes the byte-level edits first (newline, CRLF/LF, BOM, escapes, charset), then
pairs of them, then the JSON re-serialisations, so the smallest explanation wins.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

BOM = b"\xef\xbb\xbf"
#: Bodies larger than this skip every variant (each costs a full HMAC).
VARIANT_BODY_LIMIT = 4 * 1024 * 1024
#: Bodies larger than this skip the pairs of edits.
PAIR_BODY_LIMIT = 64 * 1024

Transform = Callable[[bytes], bytes | None]


@dataclass(frozen=True, slots=True)
class Edit:
    """One change made to the body after signing."""

    id: str
    transit: str
    """What happened to the signed bytes, as a clause: 'a trailing newline was added'."""
    apply: Transform
    """signed -> received (None when the edit does not apply to these bytes)."""
    undo: Transform
    """received -> the bytes that were signed (None when it cannot have happened)."""
    byte_level: bool = True


def _changed(before: bytes, after: bytes) -> bytes | None:
    return after if after != before else None


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


@lru_cache(maxsize=2)
def _json(data: bytes) -> Any:
    """The parsed body (cached: every re-serialisation of one body parses it once)."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return _MISSING


_MISSING = object()

_UNESCAPED_SLASH = re.compile(rb"(?<!\\)/")
_HTML = {b"&": b"\\u0026", b"<": b"\\u003c", b">": b"\\u003e"}
_HTML_ESCAPE = re.compile(rb"\\u00(26|3[cCeE])")
_U_ESCAPE = re.compile(r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"
                       r"|\\u(00[89a-fA-F][0-9a-fA-F]|0[1-9a-fA-F][0-9a-fA-F]{2}"
                       r"|[1-9a-cA-CefEF][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2})")


def _escape_slashes(data: bytes) -> bytes | None:
    return _changed(data, _UNESCAPED_SLASH.sub(rb"\\/", data))


def _unescape_slashes(data: bytes) -> bytes | None:
    return _changed(data, data.replace(b"\\/", b"/"))


def _escape_html(data: bytes) -> bytes | None:
    return _changed(data, re.sub(rb"[&<>]", lambda m: _HTML[m.group()], data))


def _unescape_html(data: bytes) -> bytes | None:
    def char(match: re.Match[bytes]) -> bytes:
        return bytes([int(b"00" + match.group(1), 16)])

    return _changed(data, _HTML_ESCAPE.sub(char, data))


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def _escape_unicode(data: bytes) -> bytes | None:
    if data.isascii():
        return None
    text = _text(data)
    if text is None:
        return None
    return _changed(data, re.sub(r"[^\x00-\x7f]", _escape_char, text).encode())


def _unescape_unicode(data: bytes) -> bytes | None:
    text = _text(data)
    if text is None:
        return None

    def char(match: re.Match[str]) -> str:
        if match.group(3):
            return chr(int(match.group(3), 16))
        high, low = int(match.group(1), 16), int(match.group(2), 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))

    try:
        return _changed(data, _U_ESCAPE.sub(char, text).encode())
    except UnicodeEncodeError:
        return None


def _transcode(source: str, target: str) -> Transform:
    def run(data: bytes) -> bytes | None:
        try:
            return _changed(data, data.decode(source).encode(target))
        except (UnicodeDecodeError, UnicodeEncodeError):
            return None

    return run


def _non_ascii(transform: Transform) -> Transform:
    """Charset edits only change bytes >= 0x80; skip an ASCII body at no cost."""

    def run(data: bytes) -> bytes | None:
        return transform(data) if not data.isascii() else None

    return run


def _utf8_result(transform: Transform) -> Transform:
    def run(data: bytes) -> bytes | None:
        out = transform(data)
        return out if out is not None and _text(out) is not None else None

    return run


def _non_utf8(transform: Transform, source: bool = False) -> Transform:
    """Only when the signed bytes are not UTF-8 (the input for `apply`, the output for `undo`)."""

    def run(data: bytes) -> bytes | None:
        if source and _text(data) is not None:
            return None
        out = transform(data)
        return out if out is not None and (source or _text(out) is None) else None

    return run


def _sub(old: bytes, new: bytes) -> Transform:
    def run(data: bytes) -> bytes | None:
        return _changed(data, data.replace(old, new)) if old in data else None

    return run


def _lf_to_crlf(data: bytes) -> bytes | None:
    if b"\n" not in data or b"\r\n" in data:
        return None
    return data.replace(b"\n", b"\r\n")


def _serializer(dump: Callable[[Any], str], suffix: bytes = b"") -> Transform:
    def run(data: bytes) -> bytes | None:
        document = _json(data)
        if document is _MISSING:
            return None
        try:  # a lone surrogate ("\\ud800") is written back as that escape, as JSON.stringify does
            text = dump(document).encode("utf-8", "backslashreplace")
        except RecursionError:  # parsed, but too deep to write back out
            return None
        return _changed(data, text + suffix)

    return run


def _compact(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def _pretty(indent: int) -> Callable[[Any], str]:
    return lambda document: json.dumps(document, indent=indent, ensure_ascii=False)


def _newlines_stripped(data: bytes) -> bytes | None:
    """curl -d @file drops every CR and LF of the file."""
    return _changed(data, data.replace(b"\r", b"").replace(b"\n", b""))


_INDENTED = re.compile(rb'[{,\[] {2,}["\d\[{tfn-]')


def _indented_one_line(indent: int) -> Transform:
    """Undo curl -d @file: a pretty file (ending in a newline) with its line breaks gone."""
    pretty = _serializer(_pretty(indent), b"\n")

    def run(data: bytes) -> bytes | None:
        if b"\n" in data or not _INDENTED.search(data):
            return None
        return pretty(data)

    return run


#: Byte-level edits, cheapest and most common first.
BYTE_EDITS: tuple[Edit, ...] = (
    Edit("newline-added", "a trailing newline was added",
         lambda d: d + b"\n", lambda d: d[:-1] if d.endswith(b"\n") and not d.endswith(
             b"\r\n") else None),
    Edit("newline-removed", "the trailing newline was removed (curl -d @file does this)",
         lambda d: d[:-1] if d.endswith(b"\n") and not d.endswith(b"\r\n") else None,
         lambda d: d + b"\n" if not d.endswith(b"\n") else None),
    Edit("crlf-added", "a trailing CRLF was added",
         lambda d: d + b"\r\n", lambda d: d[:-2] if d.endswith(b"\r\n") else None),
    Edit("crlf-removed", "the trailing CRLF was removed",
         lambda d: d[:-2] if d.endswith(b"\r\n") else None,
         lambda d: d + b"\r\n" if not d.endswith(b"\n") else None),
    Edit("crlf-to-lf", "CRLF line endings were turned into LF",
         _sub(b"\r\n", b"\n"), _lf_to_crlf),
    Edit("lf-to-crlf", "LF line endings were turned into CRLF",
         _lf_to_crlf, _sub(b"\r\n", b"\n")),
    Edit("bom-removed", "the UTF-8 byte order mark was removed",
         lambda d: d[3:] if d.startswith(BOM) else None,
         lambda d: BOM + d if not d.startswith(BOM) else None),
    Edit("bom-added", "a UTF-8 byte order mark was added",
         lambda d: BOM + d if not d.startswith(BOM) else None,
         lambda d: d[3:] if d.startswith(BOM) else None),
    Edit("whitespace-added", "trailing whitespace was added",
         lambda d: d + b" " if not d.endswith(b"\n") else None,
         lambda d: _changed(d, d.rstrip()) if _json(d) is not _MISSING else None),
    Edit("slash-unescaped", "the JSON escapes \\/ were turned into /",
         _unescape_slashes, _escape_slashes),
    Edit("slash-escaped", "every / was escaped as \\/",
         _escape_slashes, _unescape_slashes),
    Edit("html-unescaped", "the escapes \\u0026, \\u003c, \\u003e were turned into &, <, >",
         _unescape_html, _escape_html),
    Edit("html-escaped", "&, < and > were escaped as \\u0026, \\u003c, \\u003e",
         _escape_html, _unescape_html),
    Edit("unicode-unescaped", "\\u escapes of non-ASCII characters (\\u00e9) were decoded to "
         "UTF-8 (é)", _unescape_unicode, _escape_unicode),
    Edit("unicode-escaped", "non-ASCII characters (é) were escaped as \\u00e9",
         _escape_unicode, _unescape_unicode),
    Edit("latin1-mojibake", "the UTF-8 bytes were decoded as Latin-1 and encoded again as "
         "UTF-8 (mojibake: é became Ã©)",
         _non_ascii(_transcode("latin-1", "utf-8")),
         _utf8_result(_non_ascii(_transcode("utf-8", "latin-1")))),
    Edit("cp1252-mojibake", "the UTF-8 bytes were decoded as Windows-1252 and encoded again "
         "as UTF-8 (mojibake: é became Ã©)",
         _non_ascii(_transcode("cp1252", "utf-8")),
         _utf8_result(_non_ascii(_transcode("utf-8", "cp1252")))),
    Edit("latin1-reencoded", "the Latin-1 bytes that were signed were re-encoded as UTF-8",
         _non_utf8(_non_ascii(_transcode("latin-1", "utf-8")), source=True),
         _non_utf8(_non_ascii(_transcode("utf-8", "latin-1")))),
    Edit("sent-as-latin1", "the UTF-8 text was sent encoded as Latin-1",
         _non_ascii(_transcode("utf-8", "latin-1")), _non_ascii(_transcode("latin-1", "utf-8"))),
)

#: JSON re-serialisations: tried after the byte edits and their pairs.
RESERIALIZATIONS: tuple[Edit, ...] = (
    Edit("newlines-stripped", "every line break was removed (curl -d @file does this; "
         "--data-binary keeps them)", _newlines_stripped,
         _indented_one_line(2), False),
    Edit("newlines-stripped-4", "every line break was removed (curl -d @file does this; "
         "--data-binary keeps them)", _newlines_stripped,
         _indented_one_line(4), False),
    Edit("compact", "the JSON was re-serialised: the signed bytes are compact JSON",
         _serializer(_compact), _serializer(_compact), False),
    Edit("compact-ascii", "the JSON was re-serialised: the signed bytes are compact JSON with "
         "\\u escapes", _serializer(json.dumps), _serializer(
             lambda d: json.dumps(d, separators=(",", ":"))), False),
    Edit("python-spacing", "the JSON was re-serialised: the signed bytes use Python's "
         "json.dumps spacing (', ' and ': ')", _serializer(json.dumps),
         _serializer(json.dumps), False),
    Edit("pretty-2", "the JSON was re-serialised: the signed bytes are pretty JSON (2 spaces)",
         _serializer(_pretty(2)), _serializer(_pretty(2)), False),
    Edit("pretty-4", "the JSON was re-serialised: the signed bytes are pretty JSON (4 spaces)",
         _serializer(_pretty(4)), _serializer(_pretty(4)), False),
)

CATALOGUE = {edit.id: edit for edit in BYTE_EDITS + RESERIALIZATIONS}


@dataclass(frozen=True, slots=True)
class Variant:
    """Bytes that may have been signed, and the edits (in transit order) that led from them
    to the received body."""

    edits: tuple[Edit, ...]
    content: bytes
    signed_newline: bool = False
    """A re-serialisation of bytes that ended in a newline (a saved file): the newline went
    with the re-serialisation, not with an edit of its own (its id stays in the label)."""

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(edit.id for edit in self.edits)

    @property
    def label(self) -> str:
        return "body after undoing: " + " + ".join(self.ids)

    @property
    def clauses(self) -> tuple[str, ...]:
        """What happened to the signed bytes, one clause per change, in transit order."""
        if self.signed_newline:
            return (f"{self.edits[0].transit}, ending in a newline",)
        return tuple(edit.transit for edit in self.edits)

    @property
    def transit(self) -> str:
        return ", then ".join(self.clauses)


def body_variants(body: bytes) -> Iterator[Variant]:
    """Candidate signed bodies, smallest edit first: single byte edits, their pairs, then
    re-serialisations. Each distinct candidate appears once; none equals `body`."""
    if len(body) > VARIANT_BODY_LIMIT:
        return
    seen = {hashlib.sha256(body).digest()}

    def fresh(content: bytes | None) -> bool:
        if content is None:
            return False
        key = hashlib.sha256(content).digest()
        if key in seen:
            return False
        seen.add(key)
        return True

    singles: list[Variant] = []
    for edit in BYTE_EDITS:
        content = edit.undo(body)
        if fresh(content):
            assert content is not None
            variant = Variant((edit,), content)
            singles.append(variant)
            yield variant
    if len(body) <= PAIR_BODY_LIMIT:
        for first in singles:
            for edit in BYTE_EDITS:
                if edit.id == first.edits[0].id:
                    continue
                content = edit.undo(first.content)
                if fresh(content):
                    assert content is not None
                    # undo order: `first` was undone first, so it happened last in transit
                    yield Variant((edit, first.edits[0]), content)
    for edit in RESERIALIZATIONS:
        content = edit.undo(body)
        if fresh(content):
            assert content is not None
            yield Variant((edit,), content)
        if content is not None and not content.endswith(b"\n"):
            with_newline = content + b"\n"
            if fresh(with_newline):
                yield Variant((edit, BYTE_EDITS[1]), with_newline, signed_newline=True)


def describe_difference(signed: bytes, received: bytes, secrets: Sequence[str] = (),
                        context: int = 12) -> str:
    """Lengths and the first differing bytes of the signed and the received body; any form
    of a secret near them is shown as asterisks, also one the cut would leave half shown."""
    limit = min(len(signed), len(received))
    start = next((i for i in range(limit) if signed[i] != received[i]), limit)
    lo = max(0, start - context)
    forms = [form.encode("utf-8", "replace") for form in secrets if form]
    reach = max((len(form) for form in forms), default=0)

    def show(data: bytes) -> str:
        wide_lo = max(0, lo - reach)
        wide = bytearray(data[wide_lo : start + context + reach])
        for form in forms:
            at = wide.find(form)
            while at != -1:
                wide[at : at + len(form)] = b"*" * len(form)
                at = wide.find(form, at + len(form))
        piece = bytes(wide[lo - wide_lo : lo - wide_lo + start + context - lo])
        text = repr(piece)[2:-1]
        return ("…" if lo else "") + text + ("…" if start + context < len(data) else "")

    return (
        f"signed {len(signed)} bytes, received {len(received)}; first difference at byte "
        f"{start}: signed '{show(signed)}', received '{show(received)}'"
    )
