"""HAR 1.2 import and export of requests, bodies as base64 so every byte survives."""

from __future__ import annotations

import base64
import json
import mmap
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, overload

import msgspec

from whdebug import __version__
from whdebug.formats._json import decode_file, field_error
from whdebug.formats.capture_json import decode_base64, format_timestamp, parse_timestamp, wire_text
from whdebug.model.request import Capture, CapturedRequest, Reply, Source

Buffer = bytes | mmap.mmap
"""A HAR file's bytes, or the file mapped read-only."""
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Content(msgspec.Struct):
    """postData or response.content."""

    text: str | None = None
    encoding: str | None = None
    params: Any = None


class _Header(msgspec.Struct):
    name: str | None = None
    value: str | None = None


class _Request(msgspec.Struct):
    method: str | None = None
    url: str | None = None
    http_version: str | None = msgspec.field(default=None, name="httpVersion")
    headers: list[_Header] = []
    post_data: _Content | None = msgspec.field(default=None, name="postData")


class _Response(msgspec.Struct):
    status: int | None = None
    content: _Content | None = None


class _Extension(msgspec.Struct):
    """whdebug's own `_whdebug` member of an entry."""

    capture_id: int | None = None
    body_size: int | None = None
    truncated: Any = None
    """Only `true` counts: other tools' values are ignored."""
    client: str | None = None


class _Entry(msgspec.Struct):
    request: _Request | None = None
    started: str | None = msgspec.field(default=None, name="startedDateTime")
    response: _Response | None = None
    extension: _Extension | None = msgspec.field(default=None, name="_whdebug")


class _Base64Content(msgspec.Struct):
    """postData read with its text as base64 bytes (msgspec decodes it in the one pass):
    right only when `encoding` is "base64", which the reader checks."""

    text: bytes | None = None
    encoding: str | None = None
    params: Any = None


class _Base64Request(msgspec.Struct):
    method: str | None = None
    url: str | None = None
    http_version: str | None = msgspec.field(default=None, name="httpVersion")
    headers: list[_Header] = []
    post_data: _Base64Content | None = msgspec.field(default=None, name="postData")


class _Base64Entry(msgspec.Struct):
    """An entry whose postData text is base64 (what whdebug and browsers export)."""

    request: _Base64Request | None = None
    started: str | None = msgspec.field(default=None, name="startedDateTime")
    response: _Response | None = None
    extension: _Extension | None = msgspec.field(default=None, name="_whdebug")


class _Log(msgspec.Struct):
    entries: list[_Entry] = []


class _Document(msgspec.Struct):
    log: _Log | None = None


_DOCUMENT = msgspec.json.Decoder(_Document)


def _where(path: str) -> str:
    """HAR messages name a place by its JSON path, as msgspec writes it (`$.log.entries[0]`)."""
    return path


def _content(content: _Content | _Base64Content | None, name: str, entry: int, where: str,
             text_key: str = "text") -> bytes | None:
    """postData / response.content bytes: base64 when `encoding` says so, else UTF-8 text.
    A problem is said at `$.log.entries[entry]` + `where` (made only then)."""
    if content is None:
        return None
    text = content.text
    if text is None:
        if content.params:
            raise field_error(name, f"{_entry_at(entry)}{where}.params",
                              "form params without 'text' are not supported")
        return None
    if isinstance(text, bytes):  # `_Base64Content`: decoded with the entry (base64 said)
        return text
    encoding = content.encoding
    if encoding is None or encoding == "":
        return text.encode("utf-8")
    if encoding != "base64":
        raise field_error(name, f"{_entry_at(entry)}{where}.encoding",
                          f"unsupported {encoding!r} (expected 'base64')")
    try:
        return decode_base64(text)
    except ValueError as error:
        raise field_error(name, f"{_entry_at(entry)}{where}.{text_key}", str(error)) from None


def _entry_at(index: int) -> str:
    """Where an entry is, as msgspec writes it (`$.log.entries[0]`)."""
    return f"$.log.entries[{index}]"


@lru_cache(maxsize=1024)
def split_url(url: str) -> tuple[str, str]:
    """Raw path and raw query of an absolute or origin-form URL, with no decoding at all
    (remembered: the entries of one capture mostly share their URL)."""
    target = url
    match = _SCHEME.match(url)
    if match:
        rest = url[match.end() :]
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
        target = rest[cut:]
    elif not url.startswith(("/", "*")):
        raise ValueError("expected an absolute URL or a path starting with '/'")
    path, _, query = target.partition("?")
    return path or "/", query


@lru_cache(maxsize=64)
def _http_version(text: str) -> str:
    version = text.strip()
    lowered = version.lower()
    if lowered.startswith("http/"):
        version = version[5:]
    elif lowered in ("h2", "h3"):
        version = lowered[1:]
    return version or "1.1"


def _parse_entry(entry: _Entry | _Base64Entry, name: str, index: int) -> Capture:
    """Entry `index`'s capture (a problem raises RequestFileError, said where it is)."""
    request = entry.request
    if request is None:
        raise field_error(name, f"{_entry_at(index)}.request", "missing")
    if not request.method:
        raise field_error(name, f"{_entry_at(index)}.request.method", "missing")
    url = request.url
    if url is None:
        raise field_error(name, f"{_entry_at(index)}.request.url", "missing")
    try:
        path, query = split_url(url)
    except ValueError as error:
        raise field_error(name, f"{_entry_at(index)}.request.url",
                          f"{error}: {url!r}") from None
    headers: list[tuple[str, str]] = []
    for number, header in enumerate(request.headers):
        key, value = header.name, header.value or ""
        if not key:
            raise field_error(name, f"{_entry_at(index)}.request.headers[{number}].name",
                              "missing")
        if key[0] == ":":
            continue  # HTTP/2 pseudo-headers (:authority, :path) are not request headers
        headers.append((key if key.isascii() else wire_text(key),
                        value if value.isascii() else wire_text(value)))
    body = _content(request.post_data, name, index, ".request.postData") or b""

    started = entry.started
    try:
        received_at = parse_timestamp(started) if started else None
    except ValueError:
        raise field_error(name, f"{_entry_at(index)}.startedDateTime",
                          f"not an ISO 8601 timestamp: {started!r}") from None

    reply = None
    response = entry.response
    if response is not None:
        status = response.status or None  # HAR writes 0 for "no response"
        content = response.content
        reply_body = _content(content, name, index, ".response.content") if (
            content is not None) else None
        if reply_body is None and status is not None:
            reply = _STATUS_ONLY.get(status)
            if reply is None:
                reply = Reply(status)
                if len(_STATUS_ONLY) < 1024:
                    _STATUS_ONLY[status] = reply
        elif status is not None or reply_body is not None:
            reply = Reply(status, reply_body)

    extension = entry.extension or _NO_EXTENSION
    body_size = extension.body_size
    captured = CapturedRequest(  # positional: the fields in order (method ... truncated)
        request.method, path, query, tuple(headers), body,
        _http_version(request.http_version or ""),
        body_size if body_size is not None and body_size >= len(body) else len(body),
        extension.truncated is True,
    )
    return Capture(captured, Source(extension.capture_id, name, received_at, extension.client),
                   reply)


_NO_EXTENSION = _Extension()
_STATUS_ONLY: dict[int, Reply] = {}
"""A reply of which only the status is known, by status (a Reply is never changed): the
entries of one file share one per status."""


def parse_har(data: bytes, name: str = "<har>") -> list[Capture]:
    """Every entry's capture; bad JSON or a bad HAR structure raises RequestFileError."""
    document = decode_file(data, _DOCUMENT, name, _where)
    if document.log is None:
        raise field_error(name, "$.log", "missing (not a HAR file)")
    return [_parse_entry(entry, name, index)
            for index, entry in enumerate(document.log.entries)]


class _RawLog(msgspec.Struct):
    entries: list[msgspec.Raw] = []


class _RawDocument(msgspec.Struct):
    log: _RawLog | None = None


_RAW_DOCUMENT = msgspec.json.Decoder(_RawDocument)
_ENTRY = msgspec.json.Decoder(_Entry)
_BASE64_ENTRY = msgspec.json.Decoder(_Base64Entry)


def _decode_entry(raw: msgspec.Raw) -> _Entry | _Base64Entry | None:
    """One entry (None when it does not decode: its whole file's reading words why). An
    entry whose postData says base64 has its text decoded by msgspec while the entry is
    (the same strict decoder `decode_base64` tries first); one with text in any other
    encoding, or text that is not strict base64, is read again with its text as a string
    and goes through `_content`."""
    try:
        entry = _BASE64_ENTRY.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    else:
        request = entry.request
        post_data = request.post_data if request is not None else None
        if post_data is None or post_data.text is None or post_data.encoding == "base64":
            return entry
    try:
        return _ENTRY.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


class LazyCaptures(Sequence[Capture]):
    """A sequence of captures each made when asked for: a subclass gives its length and
    `_capture(index)` for an index within it; slices and negative indexes are done here."""

    def __len__(self) -> int:
        raise NotImplementedError

    def _capture(self, index: int) -> Capture:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> Capture: ...

    @overload
    def __getitem__(self, index: slice) -> list[Capture]: ...

    def __getitem__(self, index: int | slice) -> Capture | list[Capture]:
        length = len(self)
        if isinstance(index, slice):
            return [self._capture(i) for i in range(*index.indices(length))]
        if index < 0:
            index += length
        if not 0 <= index < length:
            raise IndexError(index)
        return self._capture(index)


class HarEntries(LazyCaptures):
    """A HAR file's captures, each read when it is first asked for (`parse_har` reads them
    all at once): a long replay's worker processes read their own entries. The document's
    JSON was checked as a whole; an entry that is wrong raises, when it is read, the
    RequestFileError `parse_har` gives for it."""

    def __init__(self, data: Buffer, name: str, entries: list[msgspec.Raw]) -> None:
        self._data = data
        self.name = name
        self._entries = entries
        self._whole: list[Capture] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def _capture(self, index: int) -> Capture:
        entry = _decode_entry(self._entries[index])
        if entry is None:  # the whole file's reading words the problem, or reads it
            if self._whole is None:
                self._whole = parse_har(bytes(self._data), self.name)
            return self._whole[index]
        return _parse_entry(entry, self.name, index)


def read_har_lazily(data: Buffer, name: str = "<har>") -> Sequence[Capture]:
    """The entries of a HAR file (bytes, or the file mapped), each read when asked for
    (`HarEntries`); a file whose structure is wrong raises RequestFileError now, as
    `parse_har` does."""
    text = memoryview(data)
    if bytes(text[:3]) == b"\xef\xbb\xbf":
        text = text[3:]
    try:
        document = _RAW_DOCUMENT.decode(text)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return parse_har(bytes(data), name)  # its message; or what json.loads reads
    if document.log is None:
        raise field_error(name, "$.log", "missing (not a HAR file)")
    return HarEntries(data, name, document.log.entries)


def _har_url(request: CapturedRequest) -> str:
    host = request.header("host") or ""
    if not host or any(char in host for char in "/?# \t"):
        host = "localhost"  # a hostile Host value must not shift the path on re-import
    return f"http://{host}{request.target}"


def _har_entry(capture: Capture) -> dict[str, Any]:
    request, source = capture.request, capture.source
    reply = capture.reply
    http_version = f"HTTP/{request.http_version}"
    har_request: dict[str, Any] = {
        "method": request.method,
        "url": _har_url(request),
        "httpVersion": http_version,
        "cookies": [],
        "headers": [{"name": name, "value": value} for name, value in request.headers],
        "queryString": [{"name": key, "value": value} for key, value in request.query_pairs()],
        "headersSize": -1,
        "bodySize": len(request.body),
    }
    if request.body:
        har_request["postData"] = {
            "mimeType": request.content_type or "",
            "text": base64.b64encode(request.body).decode("ascii"),
            "encoding": "base64",
        }
    response_body = reply.body if reply is not None else None
    content: dict[str, Any] = {"size": len(response_body or b""), "mimeType": ""}
    if response_body is not None:
        content["text"] = base64.b64encode(response_body).decode("ascii")
        content["encoding"] = "base64"
    received_at = source.received_at or _EPOCH
    return {
        "startedDateTime": format_timestamp(received_at),
        "time": 0,
        "request": har_request,
        "response": {
            "status": (reply.status if reply is not None else None) or 0,
            "statusText": "",
            "httpVersion": http_version,
            "cookies": [],
            "headers": [],
            "content": content,
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1 if response_body is None else len(response_body),
        },
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
        "_whdebug": {
            "capture_id": source.capture_id,
            "truncated": request.truncated,
            "body_size": request.size,
            "client": source.client,
        },
    }


def format_har(captures: Iterable[Capture]) -> bytes:
    """A HAR 1.2 document (UTF-8 JSON) with one entry per capture."""
    document = {
        "log": {
            "version": "1.2",
            "creator": {"name": "whdebug", "version": __version__},
            "entries": [_har_entry(capture) for capture in captures],
        }
    }
    return json.dumps(document, indent=2).encode("utf-8") + b"\n"
