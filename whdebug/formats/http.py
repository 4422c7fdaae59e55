"""The `.http` raw request format: parse one, write one, and split REST Client files.

A `.http` file is a request line, header lines (CRLF or LF), one empty line, then the body:
every remaining byte exactly. Header values lose surrounding spaces and tabs, as in HTTP.

A file written for the REST Client (VS Code) or JetBrains HTTP Client holds several requests
separated by lines that start with `###`. There each body ends with its last non-empty line:
the line breaks before the next `###` line or the end of the file are not sent.
"""

from __future__ import annotations

import re
from pathlib import Path

from whdebug.errors import RequestFileError, read_input
from whdebug.model.request import CapturedRequest

_BOM = b"\xef\xbb\xbf"
_VERSION = re.compile(rb"HTTP/(\d(?:\.\d)?)", re.IGNORECASE)
_ABSOLUTE = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]*://[^/?]*")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION_TEXT = re.compile(r"\d(?:\.\d)?")
_OWS = b" \t"
_SPLITS = frozenset(" \t\n\r\x0b\x0c")
_SEPARATOR = re.compile(rb"^###[^\n]*(?:\n|\Z)", re.MULTILINE)
"""Characters `bytes.split()` treats as whitespace: a target must not contain them."""


def _read_line(data: bytes, start: int) -> tuple[bytes, int]:
    """The line at `start` without its LF or CRLF, and where the next line starts."""
    end = data.find(b"\n", start)
    if end < 0:
        line, after = data[start:], len(data)
    else:
        line, after = data[start:end], end + 1
    return (line[:-1] if line.endswith(b"\r") else line), after


def _parse_request_line(line: bytes, where: str) -> tuple[str, bytes, str]:
    parts = line.split()
    if len(parts) not in (2, 3):
        raise RequestFileError(f"{where}: expected 'METHOD /path HTTP/1.1', got {_show(line)}")
    method, target = parts[0], parts[1]
    if not _TOKEN.fullmatch(method.decode("latin-1")):
        raise RequestFileError(f"{where}: invalid method {_show(method)}")
    version = "1.1"
    if len(parts) == 3:
        match = _VERSION.fullmatch(parts[2])
        if match is None:
            raise RequestFileError(f"{where}: invalid HTTP version {_show(parts[2])}")
        version = match.group(1).decode("ascii")
    absolute = _ABSOLUTE.match(target)
    if absolute is not None:  # REST-client style `POST https://host/path`
        target = target[absolute.end() :] or b"/"
        if target.startswith(b"?"):
            target = b"/" + target
    return method.decode("latin-1"), target, version


def _show(raw: bytes) -> str:
    return repr(raw.decode("latin-1")[:60])


def parse_http_file(data: bytes, name: str = "<http>") -> list[CapturedRequest]:
    """Every request in a `.http` file: one exact request, or each request of a REST Client /
    JetBrains file with `###` separator lines (requests that are only comments are skipped)."""
    separators = [m for m in _SEPARATOR.finditer(data) if _starts_request(data, m.end())]
    if not separators:
        return [parse_http(data, name)]
    if separators[0].start() > 0 and _has_request_line(data[:separators[0].start()]):
        whole = _whole_request(data, name)
        if whole is not None:
            return [whole]
    requests: list[CapturedRequest] = []
    bounds = [0, *(m.start() for m in separators), len(data)]
    starts = [0, *(m.end() for m in separators)]
    for start, end in zip(starts, bounds[1:], strict=True):
        segment = data[start:end]
        if not _has_request_line(segment):
            continue
        segment = segment.rstrip(b"\r\n")
        first_line = data.count(b"\n", 0, start)
        requests.append(parse_http(segment, name, line_offset=first_line))
    if not requests:
        raise RequestFileError(f"{name}: no request between the ### separators")
    return requests


_REQUEST_LINE = re.compile(
    rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+[ \t]+\S+([ \t]+HTTP/\d(\.\d)?)?[ \t]*\r?$")


def _starts_request(data: bytes, start: int) -> bool:
    """After a `###` line comes a request (comments and blank lines first), or nothing: a
    `###` line inside a text body, followed by more text, is body."""
    for line in data[start:].split(b"\n"):
        content = line.strip(_OWS + b"\r")
        if not content or content.startswith((b"#", b"//")):
            continue
        return _REQUEST_LINE.match(content) is not None
    return True


def _whole_request(data: bytes, name: str) -> CapturedRequest | None:
    """The file as one exact request when its Content-Length counts every byte after the
    blank line (a whdebug export whose body happens to hold a `###` line)."""
    try:
        request = parse_http(data, name)
    except RequestFileError:
        return None
    length = request.header("Content-Length")
    if length is not None and length.strip().isdigit() and int(length) == len(request.body):
        return request
    return None


def _has_request_line(segment: bytes) -> bool:
    for line in segment.splitlines():
        content = line.strip(_OWS + b"\r").removeprefix(_BOM)
        if content and not content.startswith((b"#", b"//")):
            return True
    return False


def parse_http(data: bytes, name: str = "<http>", *, line_offset: int = 0) -> CapturedRequest:
    """Parse one raw request; blank and `#` or `//` comment lines may precede the request line.

    `line_offset` is the number of file lines before `data`, for error positions."""
    head = _parse_head(data, name, line_offset)
    return _request(head, data[head[4]:])


_Head = tuple[str, str, str, tuple[tuple[str, str], ...], int, bool]
"""method, target, HTTP version, headers, where the body starts, whether the blank line
ending the headers was found."""


def _parse_head(data: bytes, name: str, line_offset: int = 0) -> _Head:
    """The request line and headers of a raw request."""
    position = len(_BOM) if data.startswith(_BOM) else 0
    line_number = line_offset
    while True:
        if position >= len(data):
            raise RequestFileError(
                f"{name}:{max(line_number, 1)}: no request line (expected 'METHOD /path HTTP/1.1')"
            )
        line, after = _read_line(data, position)
        line_number += 1
        position = after
        content = line.strip(_OWS)
        if content and not content.startswith((b"#", b"//")):
            break
    method, target, version = _parse_request_line(content, f"{name}:{line_number}")

    headers: list[tuple[str, str]] = []
    ended = False
    while position < len(data):
        line, after = _read_line(data, position)
        line_number += 1
        position = after
        if not line.strip(_OWS):
            ended = after <= len(data) and data[after - 1:after] == b"\n"
            break
        where = f"{name}:{line_number}"
        if line[:1] in (b" ", b"\t"):
            raise RequestFileError(f"{where}: header continuation lines are not supported")
        header_name, colon, value = line.partition(b":")
        if not colon:
            raise RequestFileError(f"{where}: header line without ':': {_show(line)}")
        if not header_name or any(byte in header_name for byte in _OWS):
            raise RequestFileError(f"{where}: invalid header name {_show(header_name)}")
        headers.append((header_name.decode("latin-1"), value.strip(_OWS).decode("latin-1")))
    return method, target.decode("latin-1"), version, tuple(headers), position, ended


def _request(head: _Head, body: bytes) -> CapturedRequest:
    method, target, version, headers, _, _ = head
    path, _, query = target.partition("?")
    return CapturedRequest(
        method=method,
        path=path,
        query=query,
        headers=headers,
        body=body,
        http_version=version,
        body_size=len(body),
    )


_HEAD_READ = 1 << 16
"""Bytes read to find a file's request line and headers before its body is read."""


def read_http(path: str | Path) -> CapturedRequest:
    """Read and parse one `.http` file (its first request, when it holds several)."""
    return read_http_file(path)[0]


def read_http_file(path: str | Path) -> list[CapturedRequest]:
    """Every request in a `.http` file (`parse_http_file`).

    The head is parsed from the file's first bytes, then the body is read on its own into
    one bytes object: a 64 MiB body is held once, never as the file's bytes and a slice.
    A file with `###` separator lines is parsed whole.
    """
    name = str(path)
    try:
        with open(path, "rb") as handle:
            start = handle.read(_HEAD_READ)
            if len(start) == _HEAD_READ:
                try:
                    head = _parse_head(start, name)
                except RequestFileError:
                    head = None  # a line cut by the first read; the whole file says which
                if head is not None and head[5]:
                    handle.seek(head[4])
                    body = handle.read()
                    if not _separated(start[:head[4]]) and not _separated(body):
                        return [_request(head, body)]
    except OSError:
        pass  # read_input below gives the one-line message
    return parse_http_file(_read_bytes(path), name)


def _separated(data: bytes) -> bool:
    """Whether a line of `data` starts with `###` (a possible request separator).

    A body without any `#` is told by one memchr, several times faster than the search for
    the whole separator."""
    return b"#" in data and (data.startswith(b"###") or b"\n###" in data)


def _unwritable(where: str, problem: str) -> RequestFileError:
    return RequestFileError(f"cannot write as .http: {problem}", where)


def _encode_header(where: str, name: str, value: str) -> bytes:
    if not name or any(char in name for char in ": \t\r\n"):
        raise _unwritable(where, f"invalid header name {name!r}")
    if any(char in value for char in "\r\n") or value != value.strip(" \t"):
        raise _unwritable(where, f"header {name} value has line breaks or surrounding blanks")
    try:
        return name.encode("latin-1") + b": " + value.encode("latin-1") + b"\r\n"
    except UnicodeEncodeError:
        raise _unwritable(where, f"header {name} is not latin-1 text") from None


def format_http(request: CapturedRequest, *, where: str = "request") -> bytes:
    """The request as `.http` bytes: CRLF line endings, then the exact body.

    `where` names the request in the error when it cannot be written (`#3`, a file name).
    """
    if not _TOKEN.fullmatch(request.method) or request.method.startswith("#"):
        raise _unwritable(where, f"invalid method {request.method!r}")
    target = request.target
    if not target or any(char in _SPLITS for char in target):
        raise _unwritable(where, f"invalid target {target!r}")
    if not _VERSION_TEXT.fullmatch(request.http_version):
        raise _unwritable(where, f"invalid HTTP version {request.http_version!r}")
    try:
        request_line = f"{request.method} {target} HTTP/{request.http_version}\r\n".encode(
            "latin-1"
        )
    except UnicodeEncodeError:
        raise _unwritable(where, f"target is not latin-1 text: {target!r}") from None
    parts = [request_line]
    parts.extend(_encode_header(where, name, value) for name, value in request.headers)
    parts.append(b"\r\n")
    parts.append(request.body)
    return b"".join(parts)


def _read_bytes(path: str | Path) -> bytes:
    return read_input(path, "request", RequestFileError)
