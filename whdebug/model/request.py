"""Domain values shared by every part: a capture (the request as received, the answer whdebug
sent, the forward result, where it came from) and the secrets given to the engine."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from whdebug.model.records import fast_init

_sha256 = hashlib.sha256

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade", "host", "content-length",
    "expect",
})
"""Headers that belong to one connection, or that the sending client computes itself."""


class _PendingDigest:
    """A body's SHA-256 being computed in its own thread. It pickles as the digest itself,
    so a request sent to a worker process carries no thread."""

    __slots__ = ("_hex", "_thread")

    def __init__(self, body: bytes) -> None:
        self._hex = ""

        def run() -> None:
            self._hex = _sha256(body).hexdigest()

        self._thread = threading.Thread(target=run, name="whdebug-sha256", daemon=True)
        self._thread.start()

    def result(self) -> str:
        self._thread.join()
        return self._hex

    def __reduce__(self) -> tuple[type[str], tuple[str]]:
        return str, (self.result(),)


@fast_init
@dataclass(frozen=True, slots=True)
class CapturedRequest:
    """One HTTP message exactly as received (who sent it and what was answered live in Capture).

    Header names and values are kept as `str` decoded with latin-1, which maps every
    byte to one code point and back, so `name.encode("latin-1")` is the wire bytes.
    """

    method: str
    path: str
    """Raw request path, percent-encoding untouched, without the query string."""
    query: str = ""
    """Raw query string without the leading '?'; '' when there was none."""
    headers: tuple[tuple[str, str], ...] = ()
    """Ordered (name, value) pairs as received, duplicates kept."""
    body: bytes = b""
    """The exact body bytes (possibly only the first part when `truncated`)."""
    http_version: str = "1.1"
    body_size: int | None = None
    """Size announced or received; may exceed len(body) when truncated."""
    truncated: bool = False
    _index: dict[str, tuple[int, ...]] | None = field(default=None, init=False, repr=False,
                                                      compare=False)
    _sha256: str | _PendingDigest | None = field(default=None, init=False, repr=False,
                                                 compare=False)

    def _header_index(self) -> dict[str, tuple[int, ...]]:
        """Where each header (by its lowercased name) is in `headers`: shared by every request
        whose header names are these, in this order (`_positions`)."""
        index = self._index
        if index is None:
            index = _positions(tuple([key for key, _ in self.headers]))
            object.__setattr__(self, "_index", index)  # a cache, not state: built on first use
        return index

    @property
    def size(self) -> int:
        return self.body_size if self.body_size is not None else len(self.body)

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def header_values(self, name: str) -> list[str]:
        """Every value of header `name` (case-insensitive), in arrival order."""
        headers = self.headers
        return [headers[at][1] for at in self._header_index().get(name.lower(), ())]

    def header(self, name: str) -> str | None:
        """The header as Node.js presents it: repeated values joined with ', '; None if absent."""
        index = self._index
        found = (index if index is not None else self._header_index()).get(name.lower())
        if found is None:
            return None
        headers = self.headers
        if len(found) == 1:
            return headers[found[0]][1]
        return ", ".join([headers[at][1] for at in found])

    def has_header(self, name: str) -> bool:
        return name.lower() in self._header_index()

    @property
    def content_type(self) -> str | None:
        return self.header("content-type")

    @property
    def body_sha256(self) -> str:
        """The body's SHA-256 (hex), computed once (waiting for `start_body_digest`'s)."""
        digest = self._sha256
        if digest is None:
            digest = _sha256(self.body).hexdigest()
        elif isinstance(digest, _PendingDigest):
            digest = digest.result()
        else:
            return digest
        object.__setattr__(self, "_sha256", digest)  # a cache, not state, as _index
        return digest

    @property
    def has_body_digest(self) -> bool:
        """Whether `body_sha256` is computed, or being computed (`start_body_digest`)."""
        return self._sha256 is not None

    def start_body_digest(self) -> None:
        """Start computing `body_sha256` in a thread of its own (hashlib drops the GIL), so
        that a large body's digest is ready when asked for."""
        if self._sha256 is None:
            object.__setattr__(self, "_sha256", _PendingDigest(self.body))

    def query_pairs(self) -> list[tuple[str, str]]:
        from urllib.parse import parse_qsl

        return parse_qsl(self.query, keep_blank_values=True)


def _positions(names: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    """Each lowercased header name's positions among `names` (remembered by the exact names
    in order: a long replay's requests mostly send the same headers)."""
    index = _POSITIONS.get(names)
    if index is None:
        found: dict[str, list[int]] = {}
        for at, key in enumerate(names):
            found.setdefault(key.lower(), []).append(at)
        index = {key: tuple(at) for key, at in found.items()}
        if len(_POSITIONS) >= 1024:
            _POSITIONS.clear()
        _POSITIONS[names] = index
    return index


_POSITIONS: dict[tuple[str, ...], dict[str, tuple[int, ...]]] = {}
"""`_positions` remembered; an entry is never changed once made."""


@fast_init
@dataclass(frozen=True, slots=True)
class Source:
    """Where a request came from: a stored capture, a file, or nowhere known."""

    capture_id: int | None = None
    file: str | None = None
    """The file the request was read from (`file.har#2` for one of several entries)."""
    received_at: datetime | None = None
    """When it arrived; None for a request written by hand."""
    client: str | None = None
    """The sender's `host:port`, as the receiver saw it."""
    edited_from: int | None = None
    """The capture this request was edited from (never replaced: a new capture is stored)."""

    @property
    def key(self) -> int | str:
        """How the engine names the request: its capture id, else its file, else "request"."""
        if self.capture_id is not None:
            return self.capture_id
        return self.file or "request"

    @property
    def label(self) -> str:
        """`#3`, the file name, or `request`."""
        return f"#{self.capture_id}" if self.capture_id is not None else self.file or "request"


@fast_init
@dataclass(frozen=True, slots=True)
class Reply:
    """What whdebug's receiver answered the sender."""

    status: int | None
    """None when only the body was recorded (a hand-edited export)."""
    body: bytes | None = None
    """None when no body was recorded (which differs from an empty one)."""
    headers: tuple[tuple[str, str], ...] | None = None
    """None when the headers were not recorded."""


@fast_init
@dataclass(frozen=True, slots=True)
class ForwardResult:
    """What the app behind `--forward-to` answered, or why relaying failed."""

    status: int | None = None
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] | None = None
    latency: float | None = None
    """Seconds from relaying the request to the app's answer."""
    error: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Capture:
    """One webhook delivery: the request exactly as received, kept apart from whdebug's reply,
    the forward result and where the request came from."""

    request: CapturedRequest
    source: Source = Source()
    reply: Reply | None = None
    """None when nothing was answered (the client left) or nothing was recorded."""
    forward: ForwardResult | None = None
    """None when the request was not relayed."""


def as_capture(value: Capture | CapturedRequest) -> Capture:
    """`value` as a capture: a bare request is one of unknown source."""
    return value if isinstance(value, Capture) else Capture(value)


@fast_init
@dataclass(frozen=True, slots=True)
class Secrets:
    """What the engine may use as secrets: the tenant's credentials and auth.config overrides."""

    credentials: Mapping[str, Any] = field(default_factory=dict)
    """The install's `credentials` bag (from --credentials / --credential)."""
    config: Mapping[str, Any] = field(default_factory=dict)
    """Values that override the definition's `auth.config` (from --config)."""

    def values(self) -> Iterator[str]:
        """Every non-empty string value given, for redaction."""
        for bag in (self.credentials, self.config):
            for value in bag.values():
                if isinstance(value, str) and value:
                    yield value


def forwardable_headers(request: CapturedRequest) -> list[tuple[str, str]]:
    """The original headers in order, duplicates kept, minus hop-by-hop ones.

    Headers named in `Connection` are hop-by-hop too (RFC 9110 section 7.6.1).
    """
    dropped = set(HOP_BY_HOP)
    for value in request.header_values("connection"):
        dropped.update(token.strip().lower() for token in value.split(",") if token.strip())
    return [(name, value) for name, value in request.headers if name.lower() not in dropped]
