"""What the receiver's two uvicorn protocols (whdebug.receiver.protocol) share, whatever the
parser: the limits, the connection cap's bookkeeping, the deadlines, the lingering close,
half-close and the canned answers.

`Guard` is mixed in before a uvicorn protocol class (`class P(Guard, HttpToolsProtocol)`);
the protocol tells it where its parser is (`_phase`: waiting for a head, reading a body, or
done with the request) and whether part of a head has arrived (`_partial_head`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import resource
import sys
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RAW_HEADERS = "whdebug.raw_headers"
"""Scope extension: the request's header (name, value) byte pairs exactly as received."""
DISCONNECTED = "whdebug.disconnected"
"""Scope extension: a callable, true once an answer can no longer reach the client."""
LIMITS_ATTRIBUTE = "whdebug_limits"
"""The uvicorn.Config attribute carrying a ConnectionLimits."""
FD_RESERVE = 64
"""File descriptors kept free of client connections (store, pipes, logs, the accept burst)."""
LINGER_SECONDS = 2.0
"""How long an early-answered upload may keep sending (discarded) before the close."""
LINGER_BYTES = 64 * 1024 * 1024
"""How much of it is read and discarded at most."""
EMFILE_INTERVAL = 10.0
"""Seconds between two reports that the process ran out of file descriptors."""
UNREAD_GRACE = 1.0
"""Seconds a newly accepted connection is spared from making room under the cap until the
receiver has read from it: a burst accepted in one loop turn must not close its own first
members (their requests may already be waiting, unread) for the later ones."""
MAX_HEAD_BYTES = 16 * 1024
"""A request head (request line and headers) larger than this is answered 400: h11's
default maximum incomplete event size, enforced by hand on both parsers (httptools has no
limit; h11's applies only to a head that has not arrived whole)."""

HEAD, BODY, DONE = "head", "body", "done"
"""Where a connection's parser is: waiting for (or reading) a request head, reading a
request body, or done reading the request (its answer pending)."""

_log = logging.getLogger("whdebug.receiver")
INVALID_REQUEST = "Invalid HTTP request received."
"""What uvicorn logs (and answers, with 400) when its parser refuses a request."""
TIMEOUT_408 = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
               b"connection: close\r\ncontent-length: 36\r\n\r\n"
               b"request head not received in time.\r\n")
BUSY_503 = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"connection: close\r\nretry-after: 1\r\ncontent-length: 35\r\n\r\n"
            b"too many connections; retry later.\r\n")


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """How long a client may take, and how many may be connected at once."""

    header_timeout: float = 10.0
    """Seconds from a connection's first byte (or its opening) to its whole request head."""
    body_timeout: float = 30.0
    """Seconds a request body may stall while the receiver is waiting for it."""
    max_connections: int | None = None
    """Open client connections at most; None: the file-descriptor limit less a reserve."""

    def connection_cap(self, burst: int = 0) -> int:
        """The cap in force: `max_connections`, else the descriptor limit less FD_RESERVE
        and less `burst`, the connections an event loop may accept before the cap acts."""
        if self.max_connections is not None:
            return self.max_connections
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return 65_536
        return max(16, soft - FD_RESERVE - burst)


DEFAULT_LIMITS = ConnectionLimits()


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (more connections below the cap);
    the soft limit in force afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # e.g. a hard limit of infinity on macOS
            pass
    return soft


COALESCE_BYTES = 65_536
"""Writes held back to go out together (an answer's head and body) at most."""


class LingeringTransport:
    """The connection's transport as uvicorn sees it.

    - `close()` while the client is still sending its body ends our side and drains theirs
      for a moment (see Guard._linger);
    - writes made in one loop step go out in ONE system call (and one TCP segment): uvicorn
      writes an answer's head and its body separately, and on a small machine the second
      send() cost as much as a third of the receiver's own work per request. Everything
      else that touches the socket (close, write_eof, abort) sends what is held first.
    """

    def __init__(self, transport: asyncio.Transport, protocol: Guard) -> None:
        self._transport = transport
        self._protocol = protocol
        self._closing = False
        self._held: list[bytes] = []
        self._held_bytes = 0
        # The calls made per request, bound once (not looked up through __getattr__).
        self.get_extra_info = transport.get_extra_info
        self.pause_reading = transport.pause_reading
        self.resume_reading = transport.resume_reading

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._held:
            self._protocol.loop.call_soon(self.flush)
        self._held.append(bytes(data) if not isinstance(data, bytes) else data)
        self._held_bytes += len(data)
        if self._held_bytes >= COALESCE_BYTES:
            self.flush()

    def write_whole(self, data: bytes) -> None:
        """One whole answer, head and body (the direct path's): it goes out at once, as
        nothing is left to coalesce it with, unless earlier writes are still held."""
        if self._held or self._closing:
            self.write(data)
        elif not self._transport.is_closing():
            self._transport.write(data)

    def flush(self) -> None:
        """Send what is held, in one write."""
        held = self._held
        if not held:
            return
        self._held, self._held_bytes = [], 0
        if not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def get_write_buffer_size(self) -> int:
        return self._held_bytes + self._transport.get_write_buffer_size()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held, self._held_bytes = [], 0
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._closing or self._transport.is_closing()

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self.flush()
        if self._protocol._phase() is BODY:
            self._protocol._linger()
        else:
            self._transport.close()


class Guard:
    """The limits, deadlines, cap, half-close and lingering close of a receiver protocol.

    Mixed in before a uvicorn protocol class, whose attributes (`loop`, `transport`, `flow`,
    `cycle`, `connections`) it uses; the subclass provides `_phase` and `_partial_head`.
    """

    loop: asyncio.AbstractEventLoop
    transport: Any
    flow: Any
    cycle: Any
    connections: set[Any]
    logger: Any
    client: tuple[str, int] | None

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)  # type: ignore[call-arg]
        self.limits: ConnectionLimits = getattr(config, LIMITS_ATTRIBUTE, DEFAULT_LIMITS)
        self._cap = self.limits.connection_cap()
        self._deadline: asyncio.TimerHandle | None = None
        self._head_since: float | None = None
        """When this connection began waiting for a request head (None: a request is on)."""
        self._last_data = 0.0
        self._unread_until: float | None = None
        """Until when this connection, not yet read from, is spared (None: it has been read)."""
        self._over_cap = False
        """Accepted over the cap when nobody could make room: decided at its first read."""
        self._raw_transport: asyncio.Transport | None = None
        self._drained: int | None = None
        """Bytes discarded while lingering (None: not lingering)."""

    def _phase(self) -> str:
        raise NotImplementedError

    def _partial_head(self) -> bool:
        raise NotImplementedError

    # Connections ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:
        self._raw_transport = transport
        super().connection_made(LingeringTransport(transport, self))  # type: ignore[misc]
        self.logger = ConnectionLog(self.logger, self.client)
        self._head_since = self._last_data = now = time.monotonic()
        self._unread_until = now + UNREAD_GRACE
        self._arm(self.limits.header_timeout)
        if len(self.connections) > self._cap:
            self._make_room(refuse=False)

    def _make_room(self, *, refuse: bool) -> bool:
        """Over the cap: close whoever has waited longest for a head (once read from, or
        after UNREAD_GRACE). When nobody can go, refuse self with 503 if `refuse`, else
        decide again at this connection's first read (`_over_cap`): a burst accepted in one
        loop turn (a slowloris reconnecting) can fill the cap with connections not read yet,
        and its last member, a health check say, was refused before any of them was found
        trickling a head. Whether this connection stays."""
        oldest: Guard | None = None
        now = time.monotonic()
        for other in self.connections:
            if (other is not self and isinstance(other, Guard)
                    and other._head_since is not None
                    and (other._unread_until is None or other._unread_until <= now)
                    and (oldest is None or other._head_since < oldest._head_since)):  # type: ignore[operator]
                oldest = other
        if oldest is not None:
            oldest._cut(None)
            return True
        if refuse:
            self._cut(BUSY_503)
            return False
        self._over_cap = True
        return True

    def _room_at_first_read(self) -> bool:
        """An over-cap connection's first read: make room now, or refuse it (503)."""
        self._over_cap = False
        return len(self.connections) <= self._cap or self._make_room(refuse=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _linger(self) -> None:
        """We answered before the client finished its upload: end our side (the answer is
        flushed first), discard what it still sends, close after LINGER_SECONDS."""
        transport = self._raw_transport
        assert transport is not None
        self._disarm()
        self._head_since = None
        if transport.is_closing():
            return
        self._drained = 0
        if transport.can_write_eof():
            transport.write_eof()
        transport.resume_reading()
        self._deadline = self.loop.call_later(LINGER_SECONDS, transport.close)

    def eof_received(self) -> bool | None:
        """A client that shut down its sending side after a whole request still gets its
        answer; the connection closes after it."""
        cycle = self.cycle
        if (cycle is not None and not cycle.response_complete and not cycle.disconnected
                and self._phase() is DONE):
            cycle.keep_alive = False
            return True
        return None

    # Requests ---------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._drained is not None:  # lingering: the rest of an upload already answered
            self._drained += len(data)
            if self._drained > LINGER_BYTES and self._raw_transport is not None:
                self._raw_transport.close()
            return
        self._last_data = time.monotonic()
        self._unread_until = None
        if self._over_cap and not self._room_at_first_read():
            return
        super().data_received(data)  # type: ignore[misc]
        phase = self._phase()
        if phase is HEAD:
            if self._head_since is None:
                self._head_since = self._last_data
            if self._deadline is None:  # a keep-alive connection's next head has begun
                self._arm(self.limits.header_timeout)
        elif phase is BODY:
            self._head_since = None
            if self._deadline is None:
                self._arm(self.limits.body_timeout)
        else:
            self._head_since = None
            self._disarm()

    def _new_request(self, raw: list[tuple[bytes, bytes]] | None) -> None:
        """A request head arrived: hand its exact names and a disconnected check to the app."""
        cycle = self.cycle
        extensions: dict[str, Any] = cycle.scope.setdefault("extensions", {})
        extensions[RAW_HEADERS] = raw
        transport = self.transport
        # The check reaches the cycle through a weak reference: a closure over the cycle,
        # kept in the cycle's own scope, made each request a reference cycle (ten objects)
        # for the garbage collector, which then cost serve about a tenth of its time.
        # Whoever can call the check holds the cycle (its task, or the direct answer).
        alive = weakref.ref(cycle)

        def gone() -> bool:
            current = alive()
            return current is None or current.disconnected or transport.is_closing()

        extensions[DISCONNECTED] = gone
        self._head_since = None
        self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if self._phase() is HEAD and not self.transport.is_closing():
            self._head_since = time.monotonic()  # idle: uvicorn's keep-alive timeout runs

    # Deadlines --------------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        phase = self._phase()
        if phase is HEAD:
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:  # a pipelined head waits
                self._arm(self.limits.header_timeout)
                return
            self._cut(TIMEOUT_408 if self._partial_head() else None)
        elif phase is BODY:
            if self.flow.read_paused:  # the receiver is not reading: not the client's fault
                self._arm(self.limits.body_timeout)
                return
            remaining = self._last_data + self.limits.body_timeout - time.monotonic()
            if remaining > 0:
                self._arm(remaining)
                return
            self._cut(None)  # the app sees the client gone: the capture is stored truncated

    def _cut(self, answer: bytes | None) -> None:
        """Close now (no lingering: this client is too slow or must make room)."""
        self._disarm()
        self._head_since = None
        if isinstance(self.transport, LingeringTransport):
            self.transport.flush()  # an answer still held goes before the cut
        transport = self._raw_transport or self.transport
        if answer is not None:
            transport.write(answer)
        transport.close()


def emfile_reporter(previous: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]
                    | None) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """A loop exception handler: running out of file descriptors while accepting becomes one
    warning line per EMFILE_INTERVAL (CPython logs a traceback per failed accept, up to the
    backlog at each wake-up); everything else goes to `previous` (or the default handler)."""
    last = [float("-inf")]
    missed = [0]

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno in (errno.EMFILE, errno.ENFILE):
            now = time.monotonic()
            missed[0] += 1
            if now - last[0] >= EMFILE_INTERVAL:
                _log.warning("out of file descriptors: %d accept(s) failed since the last "
                             "report; new connections wait (raise `ulimit -n`)", missed[0])
                last[0], missed[0] = now, 0
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    return handle


def install_emfile_reporter(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_exception_handler(emfile_reporter(loop.get_exception_handler()))


class ConnectionLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A connection's stand-in for uvicorn's `uvicorn.error` logger, which its protocol logs
    to. uvicorn says only "Invalid HTTP request received." when its parser refuses a request;
    this says who sent it, what the parser refused and that it was answered 400 and not
    captured, on whdebug's own logger (`whdebug serve` prints it; the TUI keeps it quiet).
    Anything else goes to uvicorn's logger as before."""

    def __init__(self, logger: logging.Logger, client: tuple[str, int] | None) -> None:
        super().__init__(logger, {})
        self.client = client

    @property
    def level(self) -> int:  # uvicorn reads `logger.level` (its trace checks)
        return int(self.logger.level)

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        if msg == INVALID_REQUEST:
            refused(self.client, parser_reason(sys.exc_info()[1]))
        else:
            self.logger.warning(msg, *args, **kwargs)


def refused(client: tuple[str, int] | None, reason: str) -> None:
    """Log a request answered 400 before it was captured (why, and from whom)."""
    sender = f"{client[0]}:{client[1]}" if client else "a client"
    _log.warning("%s sent a request that is not valid HTTP (%s): answered 400, not captured",
                 sender, reason)


def parser_reason(error: BaseException | None) -> str:
    """What the HTTP parser refused, in its words (or the receiver's, for a head it refused
    itself in a parser callback: the error's context)."""
    if error is None:
        return "malformed request"
    cause = error.__cause__ or error.__context__
    if cause is not None and type(error).__name__ == "HttpParserCallbackError":
        error = cause
    text = _BYTES_REPR.sub(r"'\2'", str(error).strip().rstrip("."))
    # what the sender sent may be in it: printable ASCII only, never a terminal escape
    text = "".join(c if " " <= c <= "~" else "?" for c in text)
    if len(text) > 100:
        text = text[:99] + "…"
    return text[:1].lower() + text[1:] if text else type(error).__name__


_BYTES_REPR = re.compile(r"""(?:bytearray\()?b(['"])(.*?)\1\)?""")
"""h11 quotes what it refused as `bytearray(b'...')`: shown as '...'."""
