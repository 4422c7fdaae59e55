"""Run the receiver on uvicorn: binding, reporting to a sink, and embedding in a loop."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import errno
import gc
import ipaddress
import os
import resource
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
from whdebug.receiver.guard import (
    DEFAULT_LIMITS,
    FD_RESERVE,
    LIMITS_ATTRIBUTE,
    ConnectionLimits,
    install_emfile_reporter,
    raise_fd_limit,
)
from whdebug.receiver.protocol import H11ReceiverProtocol, ReceiverProtocol
from whdebug.receiver.relay import ForwardEvent
from whdebug.receiver.sink import ServeSink
from whdebug.store.base import (
    CaptureStore,
    StoreLocation,
    display_location,
    open_store,
    store_location,
)

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


PARSER_VARIABLE = "WHDEBUG_HTTP_PARSER"
"""Set to `h11` to serve on h11 (pure Python, slower) instead of httptools: an escape hatch."""


def parser_name() -> str:
    """The HTTP parser the receiver runs on: `httptools` unless WHDEBUG_HTTP_PARSER=h11."""
    return "h11" if os.environ.get(PARSER_VARIABLE, "").strip().lower() == "h11" else "httptools"


def serve_log_config() -> dict[str, Any]:
    """uvicorn's logging set-up for `whdebug serve`, plus whdebug's receiver logger: its
    lines (a request refused before it was captured, descriptors running out) go to standard
    error with the date and time the capture lines carry."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["formatters"]["whdebug"] = {"format": "%(asctime)s  %(message)s",
                                       "datefmt": "%Y-%m-%d %H:%M:%S"}
    config["handlers"]["whdebug"] = {"formatter": "whdebug", "class": "logging.StreamHandler",
                                     "stream": "ext://sys.stderr"}
    config["loggers"]["whdebug.receiver"] = {"handlers": ["whdebug"], "level": "INFO",
                                             "propagate": False}
    return config


def uvicorn_config(app: ASGIApp, settings: ServerSettings, *, embedded: bool,
                   stock: bool = False, parser: str | None = None,
                   on_uvloop: bool = False) -> uvicorn.Config:
    """The one uvicorn configuration (the bench's bare app uses it too, for a fair ratio,
    with `stock=True`: uvicorn's own protocol for the same parser instead of the receiver's).

    Embedded servers leave logging alone (a TUI owns the terminal), so uvicorn's few warnings
    go to the `uvicorn.error` logger without a handler. The HTTP parser is named, not left
    to uvicorn's "auto", so the receiver's behaviour never depends on what else is installed:
    httptools (llhttp, C) by default, h11 with `parser="h11"` or WHDEBUG_HTTP_PARSER=h11.

    Why the receiver is safe on httptools: ReceiverProtocol is uvicorn's HttpToolsProtocol
    with every guard the h11 one has (whdebug.receiver.guard: the head and body deadlines,
    the connection cap, half-close, lingering close, `whdebug.disconnected`), header names
    as sent taken from httptools' own `on_header` callback (uvicorn lower-cases its copy),
    and by hand the 400s that h11 gives and llhttp does not: an HTTP/1.1 request without a
    Host header (or with two), and a request head over 16 KiB (h11's limit; llhttp has
    none). tests/receiver runs the protocol-level tests on both parsers.

    The event loop is chosen by `serve` (see event_loop_factory); an embedded server runs in
    whatever loop embeds it. `on_uvloop` says it is uvloop's: the cap then also leaves room
    for a whole listen backlog twice over, because libuv accepts every pending connection in
    one go before the protocols' connection_made (where the cap acts) runs, and out of
    descriptors it accepts and drops them all (health checks included).
    """
    chosen = parser or parser_name()
    protocol: Any
    if stock:
        protocol = chosen
    else:
        protocol = H11ReceiverProtocol if chosen == "h11" else ReceiverProtocol
    extra: dict[str, Any] = {"log_config": None if embedded else serve_log_config()}
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        lifespan="on",
        access_log=False,
        ws="none",
        http=protocol,
        loop="uvloop" if on_uvloop else "asyncio",
        server_header=False,
        timeout_graceful_shutdown=settings.timeout_graceful_shutdown,
        backlog=settings.backlog,
        **extra,
    )
    limits = settings.limits  # the cap resolved once (after raise_fd_limit), not per connection
    burst = 2 * settings.backlog if on_uvloop else 0
    setattr(config, LIMITS_ATTRIBUTE,
            replace(limits, max_connections=limits.connection_cap(burst)))
    return config


UVLOOP_MIN_CONNECTIONS = 1024
"""uvloop only when its cap (see uvicorn_config) still allows this many connections."""


def event_loop_factory(backlog: int) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when uvloop is installed (not on Windows) and the descriptor limit
    leaves room for its accept bursts, else None (asyncio's loop, which leaves connections
    it cannot accept in the backlog). Call after raise_fd_limit."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if (soft != resource.RLIM_INFINITY
            and soft < FD_RESERVE + 2 * backlog + UVLOOP_MIN_CONNECTIONS):
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def is_uvloop(loop: asyncio.AbstractEventLoop) -> bool:
    return type(loop).__module__.startswith("uvloop")


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
    server = _EmbeddedServer(uvicorn_config(app, settings, embedded=True,
                                            on_uvloop=is_uvloop(asyncio.get_running_loop())))
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
    store: CaptureStore | str | Path, receiver_settings: ReceiverSettings,
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
    store: CaptureStore | str | Path, receiver_settings: ReceiverSettings,
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
    store_path: StoreLocation,
    receiver_settings: ReceiverSettings,
    server_settings: ServerSettings,
    sink: ServeSink,
) -> None:
    """`whdebug serve`: bind, open the store (errors before serving), report to `sink` until
    Ctrl-C or SIGTERM (both shut down gracefully and return).

    The port is bound first so that a port in use leaves no new store file behind.
    """
    path = store_location(store_path)
    raise_fd_limit()
    sock = bind_socket(server_settings.host, server_settings.port, server_settings.backlog)
    try:
        store = open_store(path)
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
    shown = path.absolute() if isinstance(path, Path) else display_location(path)
    sink.listening(url, shown, receiver_settings)
    loop_factory = event_loop_factory(server_settings.backlog)
    server = _ServeServer(uvicorn_config(app, server_settings, embedded=False,
                                         on_uvloop=loop_factory is not None))

    async def run() -> None:
        install_emfile_reporter(asyncio.get_running_loop())
        await server.serve(sockets=[sock])

    # Everything loaded so far (modules, the definition, the store) lives as long as serve:
    # the garbage collector stops walking it. Its full collections over that heap took
    # about a tenth of serve's CPU under load (perf, see docs/architecture.md).
    gc.freeze()
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(run())
    except KeyboardInterrupt:  # a Ctrl-C before uvicorn took over the signals
        pass
    finally:
        sock.close()
        if analyst is not None:
            analyst.close()
        store.close()


def _start_analyst(store_path: StoreLocation, settings: ReceiverSettings, sink: ServeSink,
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
