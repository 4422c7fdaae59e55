"""Reading request files: the one place that tells a .http, a HAR, a capture export and a
bare JSON payload apart, by extension first and by content otherwise."""

from __future__ import annotations

import bisect
import json
import mmap
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePath
from typing import Any, Literal

from whdebug.errors import STDIN, STDIN_NAME, RequestFileError, WhdebugError, read_input
from whdebug.formats.capture_json import parse_capture_json
from whdebug.formats.har import HarEntries, LazyCaptures, parse_har, read_har_lazily
from whdebug.formats.http import parse_http_file, read_http_file
from whdebug.model.request import Capture, Source

Kind = Literal["http", "har", "capture", "payload"]
REQUEST_SUFFIXES = (".http", ".rest", ".har", ".json")
"""File types a request or sample may come in."""
_HTTP_SUFFIXES = (".http", ".rest")
_HAR_START = re.compile(rb'\s*(?:\xef\xbb\xbf)?\s*\{\s*"log"\s*:')
_REQUEST_LINE = re.compile(rb"\s*[A-Z]+ +\S+( +HTTP/\d(\.\d)?)?\r?\n", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RequestFile:
    """What one file holds: captures, or a bare JSON payload (a sample to be signed)."""

    name: str
    kind: Kind
    captures: tuple[Capture, ...] = ()
    payload: bytes | None = None
    """The file's bytes when it is a bare payload (kind "payload"), else None."""


def sniff(data: bytes, name: str) -> Kind:
    """The kind of a file: its extension decides .http/.rest and .har, its content the rest.

    Raises RequestFileError for a file that is none of them.
    """
    suffix = PurePath(name).suffix.lower()
    if suffix in _HTTP_SUFFIXES:
        return "http"
    if suffix == ".har" or _HAR_START.match(data):
        return "har"
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        if suffix != ".json" and _REQUEST_LINE.match(data):
            return "http"
        raise RequestFileError("not JSON, nor a .http, .har or capture export", name) from None
    if isinstance(document, dict) and "log" in document:
        return "har"
    items = document if isinstance(document, list) and document else [document]
    if all(_is_capture(item) for item in items):
        return "capture"
    return "payload"


def _is_capture(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    if str(item.get("schema", "")).startswith("whdebug.capture/"):
        return True
    return "method" in item and "body_base64" in item


def parse_file(data: bytes, name: str, *, payloads: bool = False) -> RequestFile:
    """The requests in `data` (read from `name`); a bare JSON payload only when `payloads`."""
    kind = sniff(data, name)
    if kind == "http":
        return RequestFile(name, kind, tuple(Capture(request, Source(file=name))
                                             for request in parse_http_file(data, name)))
    if kind == "har":
        return RequestFile(name, kind, tuple(parse_har(data, name)))
    if kind == "capture":
        return RequestFile(name, kind, tuple(parse_capture_json(data, name)))
    if not payloads:  # a capture export with a broken field: its reader says which
        return RequestFile(name, "capture", tuple(parse_capture_json(data, name)))
    return RequestFile(name, "payload", payload=data)


def is_stream(path: str | Path) -> bool:
    """Standard input (`-`) or a path that is not a regular file (a pipe: `<(...)`,
    /dev/stdin, a named pipe): read once, its kind told by its content, as it has no
    extension to go by."""
    if str(path) == STDIN:
        return True
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:  # missing: the read says so
        return False


def read_stream(path: str | Path) -> tuple[bytes, str]:
    """The bytes of standard input or a pipe, and the name to show for them."""
    data = read_input(path, "request", RequestFileError)
    return data, STDIN_NAME if str(path) == STDIN else str(path)


def read_file(path: str | Path, *, payloads: bool = False) -> RequestFile:
    """The requests in the file at `path` (see `parse_file`); `-` is standard input."""
    name = str(path)
    suffix = Path(path).suffix.lower()
    if suffix not in REQUEST_SUFFIXES and is_stream(path):
        data, name = read_stream(path)
        return parse_file(data, name, payloads=payloads)
    if suffix not in REQUEST_SUFFIXES:
        raise RequestFileError(
            f"unknown request file type {suffix or '(none)'!r} (expected .http, .har or .json)",
            name)
    if suffix in _HTTP_SUFFIXES:  # read apart from its head: a large body is held once
        return RequestFile(name, "http", tuple(Capture(request, Source(file=name))
                                               for request in read_http_file(path)))
    return parse_file(read_input(path, "request", RequestFileError), name, payloads=payloads)


def read_request_file(path: str | Path) -> list[Capture]:
    """Every capture in one request file: .http/.rest one (or each between `###` lines), .har
    every entry, .json an export."""
    return list(read_file(path).captures)


def read_requests(paths: Sequence[str | Path]) -> list[Capture]:
    """Every capture in these request files, in order."""
    captures: list[Capture] = []
    for path in paths:
        captures.extend(read_file(path).captures)
    return captures


def read_requests_lazily(paths: Sequence[str | Path]) -> Sequence[Capture]:
    """`read_requests`, with a HAR file's entries read only when asked for (`HarEntries`):
    a bad entry raises when it is read. A file that is not a HAR is read now; a list when
    every file was."""
    parts: list[Sequence[Capture]] = []
    for path in paths:
        name = str(path)
        if Path(path).suffix.lower() == ".har":
            mapped = _mapped(path)
            if mapped is not None:  # read in place: worker processes share its pages
                parts.append(read_har_lazily(mapped, name))
                continue
        if Path(path).suffix.lower() in (".har", ".json"):
            data = read_input(path, "request", RequestFileError)
            if sniff(data, name) == "har":
                parts.append(read_har_lazily(data, name))
                continue
            parts.append(parse_file(data, name).captures)
        else:
            parts.append(read_file(path).captures)
    if not any(isinstance(part, HarEntries) for part in parts):
        return [capture for part in parts for capture in part]
    return parts[0] if len(parts) == 1 else _Joined(parts)


def _mapped(path: str | Path) -> mmap.mmap | None:
    """The file mapped read-only, or None (then it is read, and a problem said, as usual)."""
    try:
        with open(path, "rb") as handle:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # missing, a directory, empty, or not mappable
        return None
    if hasattr(mmap, "MADV_WILLNEED"):
        # read ahead now: a file not in the page cache, read page by page as the decoder
        # reaches it, was several times slower than one read()
        mapped.madvise(mmap.MADV_WILLNEED)
    return mapped


class _Joined(LazyCaptures):
    """Several files' captures, one after the other."""

    def __init__(self, parts: list[Sequence[Capture]]) -> None:
        self._parts = parts
        self._starts: list[int] = []
        total = 0
        for part in parts:
            self._starts.append(total)
            total += len(part)
        self._total = total

    def __len__(self) -> int:
        return self._total

    def _capture(self, index: int) -> Capture:
        part = bisect.bisect_right(self._starts, index) - 1
        return self._parts[part][index - self._starts[part]]


def numbered(found: RequestFile) -> list[Capture]:
    """The file's captures, each from `file#N` when it holds several."""
    if len(found.captures) == 1:
        return [from_file(found.captures[0], found.name)]
    return [from_file(capture, f"{found.name}#{number}")
            for number, capture in enumerate(found.captures, 1)]


def from_file(capture: Capture, name: str) -> Capture:
    """`capture` as read from the file `name`."""
    return replace(capture, source=replace(capture.source, file=name))


def sample_paths(given: Sequence[str]) -> list[tuple[Path, str]]:
    """Sample files (path, display name) in the given files and folders, folders sorted by name.

    A file inside a folder is named by its file name, a file given directly as given.
    """
    files: list[tuple[Path, str]] = []
    for item in given:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file()
                           and not p.name.startswith(".")
                           and p.suffix.lower() in REQUEST_SUFFIXES)
            if not found:
                raise WhdebugError("no .http, .har or .json samples in this directory", item)
            files.extend((p, p.name) for p in found)
        elif path.is_file():
            files.append((path, item))
        else:
            raise WhdebugError("sample file or directory not found", item)
    return files
