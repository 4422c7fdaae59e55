"""Run the receiver on uvicorn: binding, reporting to a sink, and embedding in a loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import signal
import socket
import threading
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from whdebug.errors import WhdebugError
from whdebug.receiver.analyst import Analyst, defers
from whdebug.receiver.app import (
    CaptureEvent,
    Receiver,
    ReceiverApp,
    ReceiverSettings,
    create_app,
)
from whdebug.receiver.protocol import (
    DEFAULT_LIMITS,
    LIMITS_ATTRIBUTE,
    ConnectionLimits,
    ReceiverProtocol,
    install_emfile_reporter,
    raise_fd_limit,
)
from whdebug.receiver.relay import ForwardEvent
from whdebug.receiver.sink import ServeSink
from whdebug.store.store import Store

START_TIMEOUT = 10.0
"""Seconds an embedded server may take to start listening."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Where and how uvicorn listens; `port=0` picks a free port (see RunningServer.port)."""

    host: str = "127.0.0.1"
    port: int = 8787
    log_level: str = "warning"
    timeout_graceful_shutdown: int = 5
    """Seconds to let open requests finish at shutdown before cancelling them."""
    backlog: int = 2048
    limits: ConnectionLimits = DEFAULT_LIMITS
    """Head and body timeouts, and the connection cap (see whdebug.receiver.protocol)."""


def is_loopback(host: str) -> bool:
    """True when `host` only ever resolves to loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    addresses = {str(info[4][0]).split("%")[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def bind_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening socket on host:port, or a one-line WhdebugError (port in use, bad host).

    It listens at once, so clients that connect before uvicorn starts wait in the backlog.
    """
    where = f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except OSError:
        raise WhdebugError(f"cannot resolve host {host!r}", where) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Lets a restarted receiver reuse a port in TIME_WAIT; a listening port still fails.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise WhdebugError(f"port {port} is already in use", where) from None
        if error.errno == errno.EACCES:
            raise WhdebugError(f"permission denied to listen on port {port}", where) from None
        if error.errno == errno.EADDRNOTAVAIL:
            raise WhdebugError(f"address {host} is not on this machine", where) from None
        raise WhdebugError(f"cannot listen: {error.strerror}", where) from None
    return sock


def uvicorn_config(app: ASGIApp, settings: ServerSettings, *, embedded: bool,
                   stock: bool = False) -> uvicorn.Config:
    """The one uvicorn configuration (the bench's bare app uses it too, for a fair ratio,
    with `stock=True`: uvicorn's own h11 protocol instead of the receiver's ReceiverProtocol).

    Embedded servers leave logging alone (a TUI owns the terminal), so uvicorn's few warnings
    go to the `uvicorn.error` logger without a handler. The HTTP parser and the event loop are
    named, not left to "auto": with "auto", merely having httptools installed swaps the parser,
    and httptools accepts what h11 answers 400 (no Host, a 80 KB header block), so the
    receiver's behaviour would depend on what else is installed on the machine.
    ReceiverProtocol is uvicorn's h11 protocol with exact header names and the limits.
    """
    extra: dict[str, Any] = {"log_config": None} if embedded else {}
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        lifespan="on",
        access_log=False,
        ws="none",
        http="h11" if stock else ReceiverProtocol,
        loop="asyncio",
        server_header=False,
        timeout_graceful_shutdown=settings.timeout_graceful_shutdown,
        backlog=settings.backlog,
        **extra,
    )
    limits = settings.limits  # the cap resolved once (after raise_fd_limit), not per connection
    setattr(config, LIMITS_ATTRIBUTE, replace(limits, max_connections=limits.connection_cap()))
    return config


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the program embedding it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class _ServeServer(uvicorn.Server):
    """`whdebug serve`'s server: Ctrl-C and SIGTERM both shut down gracefully, then return.

    uvicorn re-raises the signal it caught once it has shut down; for SIGTERM that killed
    the process before serve's cleanup (analyst, store) could run. Here both simply end
    `serve`, which cleans up and exits 0.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}"


@dataclass(slots=True)
class RunningServer:
    """A uvicorn server serving inside the current event loop."""

    server: uvicorn.Server
    task: asyncio.Task[None]
    host: str
    port: int
    """The bound port (the real one when ServerSettings.port was 0)."""
    app: ASGIApp

    @property
    def url(self) -> str:
        return _url(self.host, self.port)

    @property
    def receiver(self) -> Receiver | None:
        """The embedded receiver (swap its `.settings` to reload), when serving one."""
        return self.app.receiver if isinstance(self.app, ReceiverApp) else None

    async def stop(self, timeout: float = 10.0) -> None:
        """Shut down gracefully (lifespan shutdown commits queued captures), bounded."""
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout)
        except TimeoutError:
            self.server.force_exit = True
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


async def start_app_in_loop(app: ASGIApp, settings: ServerSettings) -> RunningServer:
    """Serve any ASGI app in this loop; returns once it listens (PORT errors come first)."""
    sock = bind_socket(settings.host, settings.port, settings.backlog)
    return await _start(app, settings, sock)


async def _start(app: ASGIApp, settings: ServerSettings, sock: socket.socket) -> RunningServer:
    port = int(sock.getsockname()[1])
    raise_fd_limit()
    install_emfile_reporter(asyncio.get_running_loop())
    server = _EmbeddedServer(uvicorn_config(app, settings, embedded=True))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    running = RunningServer(server, task, settings.host, port, app)
    try:
        async with asyncio.timeout(START_TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()  # re-raise why it stopped
                    raise WhdebugError("receiver stopped while starting", running.url)
                await asyncio.sleep(0.005)
    except BaseException:
        with contextlib.suppress(Exception):
            await running.stop(timeout=1.0)
        sock.close()
        raise
    return running


async def start_in_loop(
    store: Store | str | Path, receiver_settings: ReceiverSettings,
    server_settings: ServerSettings,
) -> RunningServer:
    """Start the receiver inside the running loop (the TUI embeds it); stop() when done."""
    sock = bind_socket(server_settings.host, server_settings.port, server_settings.backlog)
    try:
        app = create_app(store, receiver_settings)
    except BaseException:
        sock.close()
        raise
    return await _start(app, server_settings, sock)


@contextlib.asynccontextmanager
async def running_receiver(
    store: Store | str | Path, receiver_settings: ReceiverSettings,
    server_settings: ServerSettings,
) -> AsyncIterator[RunningServer]:
    """start_in_loop, always stopped on exit."""
    running = await start_in_loop(store, receiver_settings, server_settings)
    try:
        yield running
    finally:
        await running.stop()


class EventBatcher:
    """Collects capture and forward events; a burst goes to the sink once per loop turn."""

    def __init__(self, sink: ServeSink) -> None:
        self.sink = sink
        self._pending: list[CaptureEvent | ForwardEvent] = []
        self._scheduled = False

    def add(self, event: CaptureEvent | ForwardEvent) -> None:
        self._pending.append(event)
        if self._scheduled:
            return
        try:
            asyncio.get_running_loop().call_soon(self.flush)
        except RuntimeError:  # no loop (a direct call): report at once
            self.flush()
            return
        self._scheduled = True

    def flush(self) -> None:
        events, self._pending, self._scheduled = self._pending, [], False
        if events:
            self.sink.lines(events)


def _chain(first: Callable[[Any], None], then: Callable[[Any], None] | None
           ) -> Callable[[Any], None]:
    def both(event: Any) -> None:
        first(event)
        if then is not None:
            then(event)
    return both


def reporting(settings: ReceiverSettings, sink: ServeSink) -> ReceiverSettings:
    """`settings` that also report every capture and forward to `sink`."""
    batcher = EventBatcher(sink)
    return replace(settings, on_capture=_chain(batcher.add, settings.on_capture),
                   on_forward=_chain(batcher.add, settings.on_forward))


def serve(
    store_path: str | Path,
    receiver_settings: ReceiverSettings,
    server_settings: ServerSettings,
    sink: ServeSink,
) -> None:
    """`whdebug serve`: bind, open the store (errors before serving), report to `sink` until
    Ctrl-C or SIGTERM (both shut down gracefully and return).

    The port is bound first so that a port in use leaves no new store file behind.
    """
    path = Path(store_path)
    raise_fd_limit()
    sock = bind_socket(server_settings.host, server_settings.port, server_settings.backlog)
    try:
        store = Store.open(path)
    except BaseException:
        sock.close()
        raise
    if not is_loopback(server_settings.host):
        sink.exposed(server_settings.host)
    try:
        before_run = store.latest_id()
    except BaseException:
        sock.close()
        store.close()
        raise
    analyst = _start_analyst(path, receiver_settings, sink, before_run)
    settings = reporting(receiver_settings, sink)
    if analyst is not None:
        settings = replace(settings, defer_analysis=analyst.submit)
    app = create_app(store, settings)
    url = _url(server_settings.host, int(sock.getsockname()[1]))
    sink.listening(url, path.absolute(), receiver_settings)
    server = _ServeServer(uvicorn_config(app, server_settings, embedded=False))

    async def run() -> None:
        install_emfile_reporter(asyncio.get_running_loop())
        await server.serve(sockets=[sock])

    try:
        asyncio.run(run())
    except KeyboardInterrupt:  # a Ctrl-C before uvicorn took over the signals
        pass
    finally:
        sock.close()
        if analyst is not None:
            analyst.close()
        store.close()


def _start_analyst(store_path: Path, settings: ReceiverSettings, sink: ServeSink,
                   before_run: int | None) -> Analyst | None:
    """A second process for the console lines' analysis, when the answers do not need it
    and the sink can report from another process."""
    definition = settings.definition
    if definition is None or not defers(settings.plan, settings.strict):
        return None
    child_sink = sink.for_child()
    if child_sink is None:
        return None
    analyst = Analyst(store_path, definition, settings.secrets, settings.options,
                      settings.analysis_now, child_sink, before_run)
    analyst.start()
    return analyst
