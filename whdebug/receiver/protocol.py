"""uvicorn's HTTP protocols, hardened for an endpoint anyone on the internet may post to.

`ReceiverProtocol` (the default) is uvicorn's own `HttpToolsProtocol` and
`H11ReceiverProtocol` its `H11Protocol` (same parsers, same request cycles), each plus
what whdebug.receiver.guard shares between them:

- exact header names: each name is kept as sent and handed to the app as the scope
  extension `whdebug.raw_headers` (name/value byte pairs in arrival order), while
  `scope["headers"]` stays lower-cased as ASGI requires;
- a head deadline: a connection (or a keep-alive connection's next request, from its first
  byte) that has not sent a whole request head within `header_timeout` seconds is answered
  408 and closed (slowloris);
- a body idle timeout: a request body that stalls for `body_timeout` seconds while the
  receiver waits for it is cut, so the capture is stored truncated with no answer;
- a connection cap below the file-descriptor limit: at the cap, a new connection closes the
  connection that has waited longest for a request head (a slow or idle client), so a
  health check or a real sender still gets in; when every connection is busy with a
  request, the new one is answered 503 and closed;
- a half-closed client (it shut down its sending side after a whole request) still gets
  its answer, then the connection closes;
- a lingering close: an answer given before the client finished uploading (413, 503) is
  followed by the end of our side and a short drain of what the client still sends, so it
  reads the answer instead of a connection reset;
- the scope extension `whdebug.disconnected`, a callable telling the app whether its answer
  can still reach the client, so a capture records what was really sent.

h11 answers 400 to an HTTP/1.1 request without a Host header (or with two) and to a request
head over 16 KiB; httptools (llhttp) accepts all three, so ReceiverProtocol checks them by
hand and answers the same 400.

ReceiverProtocol also serves plain captures itself, without an ASGI task (see
whdebug.receiver.direct): the hot path of `whdebug serve`. Every other request, and every
request on H11ReceiverProtocol, runs through the app.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from whdebug.receiver.direct import (
    DIRECT_BODY_LIMIT,
    DirectCapture,
    DirectCaptures,
    direct_captures,
)
from whdebug.receiver.guard import (
    BODY,
    DEFAULT_LIMITS,
    DISCONNECTED,
    DONE,
    HEAD,
    INVALID_REQUEST,
    LIMITS_ATTRIBUTE,
    MAX_HEAD_BYTES,
    RAW_HEADERS,
    ConnectionLimits,
    Guard,
    LingeringTransport,
    emfile_reporter,
    install_emfile_reporter,
    raise_fd_limit,
    refused,
)

__all__ = ["DEFAULT_LIMITS", "DISCONNECTED", "LIMITS_ATTRIBUTE", "RAW_HEADERS",
           "ConnectionLimits", "H11ReceiverProtocol", "ReceiverProtocol", "emfile_reporter",
           "install_emfile_reporter", "raise_fd_limit"]


_NOT_PLAIN = frozenset((b"transfer-encoding", b"x-forwarded-for", b"x-forwarded-proto"))
"""Headers that send a request through the app: a chunked body; what uvicorn's proxy-headers
middleware reads to rewrite the client."""


class _BadHead(Exception):
    """A request head h11 would have refused (httptools turns it into a parser error: 400)."""


class _Plain:
    """Passed to uvicorn in place of the app for a request that may be served directly
    (it travels with the cycle through uvicorn's pipeline queue to `_start_asgi_task`)."""

    __slots__ = ("announced",)

    def __init__(self, announced: int) -> None:
        self.announced = announced


class ReceiverProtocol(Guard, HttpToolsProtocol):  # type: ignore[misc]
    """uvicorn's HttpToolsProtocol with the guards listed in the module docstring."""

    direct = True
    """Serve plain captures without the ASGI cycle (off: every request goes to the app)."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._state = HEAD
        self._head_bytes = 0
        """Bytes received for the head being read (the guard against an endless head)."""
        self._head_size = 0
        """The parsed head's size: target and headers (the exact check once it is whole)."""
        self._hosts = 0
        self._raw: list[tuple[bytes, bytes]] = []
        self._length: int | None = None
        """The head's Content-Length (the first one), when it is a number."""
        self._plain = True
        """No header so far makes the request one for the app (see whdebug.receiver.direct)."""
        self._app = self.app
        self._captures: DirectCaptures | None = None
        if self.direct:
            self._captures = direct_captures(config, self.app)
        self._direct: DirectCapture | None = None
        """The request being served directly (its answer not yet written)."""
        self._direct_cycle: Any = None

    def _phase(self) -> str:
        return self._state

    def _partial_head(self) -> bool:
        return self._head_bytes > 0

    def data_received(self, data: bytes) -> None:
        if self._state is not BODY and self._drained is None:
            self._head_bytes += len(data)
        super().data_received(data)
        if (self._state is HEAD and self._head_bytes > MAX_HEAD_BYTES
                and not self.transport.is_closing()):
            refused(self.client, f"request head over {MAX_HEAD_BYTES // 1024} KiB")
            self.send_400_response(INVALID_REQUEST)

    # Parser callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._state = HEAD
        self._raw = []
        self._head_size = self._hosts = 0
        self._length = None
        self._plain = True

    def on_header(self, name: bytes, value: bytes) -> None:
        # uvicorn's on_header, keeping the name as sent beside the lower-cased one.
        value = value.rstrip(b" \t")
        lower = name.lower()
        if lower == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        elif lower == b"host":
            self._hosts += 1
        elif lower == b"content-length":
            if self._length is None:
                self._length = int(value) if value.isdigit() else -1
        elif lower in _NOT_PLAIN:
            self._plain = False
        self.headers.append((lower, value))
        self._raw.append((name, value))
        self._head_size += len(name) + len(value) + 4

    def on_headers_complete(self) -> None:
        if self._head_size + len(self.url) > MAX_HEAD_BYTES:
            raise _BadHead("request head too large")
        if self._hosts > 1 or (self._hosts == 0 and self.parser.get_http_version() == "1.1"):
            raise _BadHead("missing or repeated Host header")
        method = self.parser.get_method()
        if method == b"CONNECT":  # an authority target, not a path
            target, self.url = self.url, b"/"
            super().on_headers_complete()
            self.scope["path"] = target.decode("latin-1")
            self.scope["raw_path"] = target
            self.scope["query_string"] = b""
        elif self._captures is not None and self._is_plain(method):
            # uvicorn hands `self.app` with the new cycle to _start_asgi_task, now or (a
            # pipelined request) once the answer before it is complete.
            self.app = _Plain(self._length or 0)
            try:
                super().on_headers_complete()
            finally:
                self.app = self._app
        else:
            super().on_headers_complete()
        self._state = BODY
        self._head_bytes = 0
        self._new_request(self._raw)

    def _is_plain(self, method: bytes) -> bool:
        """Whether the request may be served directly (see whdebug.receiver.direct)."""
        length = self._length
        return (self._plain and method != b"HEAD" and not self.expect_100_continue
                and (length is None or 0 <= length <= DIRECT_BODY_LIMIT)
                and not self.parser.should_upgrade() and not self.flow.write_paused)

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        if type(app) is not _Plain:
            super()._start_asgi_task(cycle, app)
            return
        direct = None
        captures = self._captures
        if captures is not None and not cycle.scope["path"].startswith("/_whdebug/"):
            direct = captures.start(cycle.scope, app.announced)
        if direct is None:
            super()._start_asgi_task(cycle, self._app)
            return
        self._direct, self._direct_cycle = direct, cycle
        if not cycle.more_body:  # a pipelined request, read whole while it waited
            self._finish_direct(gone=False)

    def _finish_direct(self, gone: bool) -> None:
        direct, cycle = self._direct, self._direct_cycle
        assert direct is not None
        self._direct = self._direct_cycle = None
        body, cycle.body = bytes(cycle.body), bytearray()
        direct.finish(cycle.scope, body, gone,
                      lambda status, headers, content: self._answer(cycle, status, headers,
                                                                    content))

    def _answer(self, cycle: Any, status: int, headers: list[tuple[bytes, bytes]],
                body: bytes) -> None:
        """What uvicorn's `RequestResponseCycle.send` writes for a start and a body message
        with these headers (a Content-Length, never chunked), in one write."""
        if cycle.disconnected or cycle.response_started:
            return
        cycle.response_started = True
        cycle.waiting_for_100_continue = False
        content = [STATUS_LINE[status]]
        for name, value in cycle.default_headers:
            content += (name.lower(), b": ", value, b"\r\n")
        for name, value in headers:
            content += (name, b": ", value, b"\r\n")
        if not cycle.keep_alive:
            content.append(b"connection: close\r\n")
        content += (b"\r\n", body)
        transport = cycle.transport
        if isinstance(transport, LingeringTransport):
            transport.write_whole(b"".join(content))
        else:
            transport.write(b"".join(content))
        cycle.response_complete = True
        cycle.message_event.set()
        if not cycle.keep_alive:
            transport.close()
        cycle.on_response()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self._direct is not None:  # the client left during the body: store what came
            self._finish_direct(gone=True)

    def _unsupported_upgrade_warning(self) -> None:
        """CONNECT and Upgrade requests are captured and answered like any other."""

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._state = DONE
        self._head_bytes = 0
        if self._direct is not None and self._direct_cycle is self.cycle and (
                not self.cycle.more_body):
            self._finish_direct(gone=False)

    def on_response_complete(self) -> None:
        if self._state is DONE:
            self._state = HEAD
        super().on_response_complete()


class _RawNamesConnection(h11.Connection):
    """h11's connection, remembering the last request head's names as sent, and refusing a
    head over MAX_HEAD_BYTES as the httptools protocol does (h11's own limit applies only
    to a head still incomplete, so one that arrived in a single read passed)."""

    raw_headers: list[tuple[bytes, bytes]] | None = None

    def next_event(self) -> Any:
        event = super().next_event()
        if type(event) is h11.Request:
            self.raw_headers = raw = event.headers.raw_items()
            if len(event.target) + sum(len(n) + len(v) + 4 for n, v in raw) > MAX_HEAD_BYTES:
                raise h11.RemoteProtocolError("request head too large", 400)
        return event


_H11_PHASES = {h11.IDLE: HEAD, h11.SEND_BODY: BODY}


class H11ReceiverProtocol(Guard, H11Protocol):  # type: ignore[misc]
    """uvicorn's H11Protocol with the guards listed in the module docstring."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        size = config.h11_max_incomplete_event_size
        self.conn = _RawNamesConnection(
            h11.SERVER, DEFAULT_MAX_INCOMPLETE_EVENT_SIZE if size is None else size)

    def _phase(self) -> str:
        return _H11_PHASES.get(self.conn.their_state, DONE)

    def _partial_head(self) -> bool:
        return bool(self.conn.trailing_data[0])

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a new request head: hand its exact names to the app
            self._new_request(self.conn.raw_headers)  # type: ignore[attr-defined]
