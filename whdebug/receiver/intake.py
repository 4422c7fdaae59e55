"""Reading one request off its ASGI connection: the exact bytes, within the receiver's limits.

The request line, the header names and values exactly as sent (from the protocol's
`whdebug.raw_headers` scope extension when uvicorn runs ReceiverProtocol, else the ASGI
headers), and the body up to `--max-body`, while the bodies buffered by all requests at once
stay under `--max-inflight`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.types import Receive, Scope

from whdebug.model.request import Capture, CapturedRequest, Reply, Source
from whdebug.receiver.guard import DISCONNECTED, RAW_HEADERS

DEFAULT_MAX_INFLIGHT = 134_217_728
"""128 MiB: request bodies buffered at once, over all requests; beyond it, answer 503.

It counts body bytes; the process peaks near 2.5 times that (the chunks and their joined
copy, then SQLite's copy while committing): 16 concurrent 20 MiB uploads peaked at 672 MiB
RSS without the budget, 346 MiB with it (6 stored, 10 answered 503)."""


class BodyBudget:
    """The bytes of request bodies held in memory at once, across every request."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> bool:
        """Reserve `size` bytes; False (nothing reserved) when that would pass the limit."""
        if size and self.used + size > self.limit:
            return False
        self.used += size
        return True

    def release(self, size: int) -> None:
        self.used -= size


@dataclass(frozen=True, slots=True)
class Intake:
    """One request as read: its capture and why its body may be incomplete."""

    capture: Capture
    over: bool = False
    """The body went over --max-body."""
    gone: bool = False
    """The client left before its body ended."""
    busy: bool = False
    """Reading the body would have passed --max-inflight."""
    held: int = 0
    """Bytes reserved in the BodyBudget, to release once the capture is stored."""

    @property
    def kept(self) -> int:
        return len(self.capture.request.body)


def content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def client_of(scope: Scope) -> str | None:
    client = scope.get("client")
    if not client:
        return None
    host, port = client[0], client[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def disconnected(scope: Scope) -> bool:
    """True when an answer can no longer reach the client (known only on ReceiverProtocol)."""
    check: Callable[[], bool] | None = scope.get("extensions", {}).get(DISCONNECTED)
    return check is not None and check()


def path_of(scope: Scope) -> str:
    """The request's path as sent (never percent-decoded)."""
    raw_path = scope.get("raw_path")
    return raw_path.decode("latin-1") if raw_path else str(scope["path"])


def captured(scope: Scope, body: bytes, received_at: datetime, size: int,
             truncated: bool, reply: Reply | None = None, path: str | None = None) -> Capture:
    """The request as received: raw path and query (never percent-decoded), header names
    byte for byte as sent (`path`: path_of(scope), when the caller has it already)."""
    if path is None:
        path = path_of(scope)
    extensions = scope.get("extensions")
    raw = extensions.get(RAW_HEADERS) if extensions else None
    request = CapturedRequest(
        method=scope["method"],
        path=path,
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=tuple([(name.decode("latin-1"), value.decode("latin-1"))
                       for name, value in (scope["headers"] if raw is None else raw)]),
        body=body,
        http_version=scope.get("http_version", "1.1"),
        body_size=size,
        truncated=truncated,
    )
    return Capture(request, Source(received_at=received_at, client=client_of(scope)), reply)


async def receive_request(scope: Scope, receive: Receive, *, received_at: datetime,
                          max_body: int, budget: BodyBudget, reply: Reply | None) -> Intake:
    """Read the request; `reply` is recorded in the capture when the body arrived whole.

    A Content-Length over `max_body`, or more than the budget has left, is answered at once
    without reading the body (a client that sent `Expect: 100-continue` never uploads it).
    """
    announced = content_length(scope)
    if announced is not None and announced > max_body:
        return Intake(captured(scope, b"", received_at, announced, True), over=True)
    held = announced or 0
    if not budget.take(held):
        return Intake(captured(scope, b"", received_at, held, True), busy=True)
    chunks: list[bytes] = []
    kept = seen = 0
    over = gone = busy = False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone = True
            break
        chunk: bytes = message.get("body", b"")
        seen += len(chunk)
        if kept < max_body and chunk:
            piece = chunk if len(chunk) <= max_body - kept else chunk[: max_body - kept]
            extra = kept + len(piece) - held  # beyond the reservation (a chunked body)
            if extra > 0:
                if not budget.take(extra):
                    busy = True
                    break
                held += extra
            chunks.append(piece)
            kept += len(piece)
        if seen > max_body:
            over = True
            break
        if not message.get("more_body", False):
            break
    cut = over or gone or busy
    size = announced if cut and announced is not None else seen
    capture = captured(scope, b"".join(chunks), received_at, size, cut,
                       None if cut else reply)
    return Intake(capture, over=over, gone=gone, busy=busy, held=held)
