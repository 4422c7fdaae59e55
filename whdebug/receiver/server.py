"""Run the receiver on uvicorn: binding, the console line per capture, and embedding in a loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import uvicorn
from rich.console import Console
from rich.text import Text
from starlette.types import ASGIApp

from whdebug.errors import WhdebugError
from whdebug.receiver.analyst import Analyst, defers
from whdebug.receiver.app import (
    CaptureEvent,
    ForwardEvent,
    Receiver,
    ReceiverApp,
    ReceiverSettings,
    create_app,
)
from whdebug.store.store import Store
from whdebug.store.writer import describe_error

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


def uvicorn_config(app: ASGIApp, settings: ServerSettings, *, embedded: bool) -> uvicorn.Config:
    """The one uvicorn configuration (the bench's bare app uses it too, for a fair ratio).

    Embedded servers leave logging alone (a TUI owns the terminal), so uvicorn's few warnings
    go to the `uvicorn.error` logger without a handler.
    """
    extra: dict[str, Any] = {"log_config": None} if embedded else {}
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        lifespan="on",
        access_log=False,
        ws="none",
        server_header=False,
        timeout_graceful_shutdown=settings.timeout_graceful_shutdown,
        backlog=settings.backlog,
        **extra,
    )


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the program embedding it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


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


def format_size(size: int) -> str:
    """Bytes in decimal units, as `7.0 KB`."""
    if size < 1000:
        return f"{size} B"
    for unit in ("KB", "MB", "GB"):
        size_in_unit = size / 1000
        if size_in_unit < 1000 or unit == "GB":
            return f"{size_in_unit:.1f} {unit}"
        size = int(size_in_unit)
    raise AssertionError("unreachable")


def _printable(text: str, limit: int = 80) -> str:
    """Request-controlled text safe for a terminal: no control characters, bounded length."""
    if not text.isprintable():
        text = "".join(char if char.isprintable() else "\ufffd" for char in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


Segments = list[tuple[str, str]]
"""A console line as (text, rich style) pieces: joined plain, or assembled with colour."""

_SIGNATURE_MARKS = {"pass": ("sig ✓", "green"), "fail": ("sig ✗", "bold red"),
                    "skipped": ("sig -", "dim")}
_OUTCOME_STYLES = {"fires": "bold green", "challenge": "cyan", "rejected": "bold red",
                   "duplicate": "yellow", "no-trigger": "yellow", "no-event": "yellow"}


def _status_style(status: int | None) -> str:
    if status is None or status >= 500:
        return "bold red"
    return "green" if status < 400 else "red"


@functools.lru_cache(maxsize=8)
def _local_time(epoch_seconds: int) -> str:
    """Local wall-clock time of a second; cached, as a burst of captures shares its second."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch_seconds))


def capture_segments(event: CaptureEvent) -> Segments:
    """`2025-11-24 16:00:05  POST /path  7.0 KB  -> 200  push  sig ✓  fires  #12`.

    The time is local; colour only repeats what the words and symbols already say.
    """
    status = event.response_status
    line: Segments = [
        (_local_time(int(event.received_at.timestamp())), "dim"),
        ("  ", ""),
        (_printable(event.method, 16), "bold"),
        (f" {_printable(event.target, 100)}  {format_size(event.size)}", ""),
    ]
    if event.truncated:
        line.append((" truncated", "yellow"))
    line += [("  -> ", ""), ("---" if status is None else str(status), _status_style(status))]
    if event.wrong_path:
        line.append((f"  ⚠ wrong path, expected POST {event.expected_path}", "bold yellow"))
    if event.event is not None:
        line.append(("  " + _printable(event.event, 60), "bold"))
    if event.signature is not None:
        mark, style = _SIGNATURE_MARKS.get(event.signature, (f"sig {event.signature}", ""))
        line += [("  ", ""), (mark, style)]
    if event.outcome is not None:
        line += [("  ", ""), (event.outcome, _OUTCOME_STYLES.get(event.outcome, ""))]
        if event.duplicate_of is not None:
            line.append((f" of #{event.duplicate_of}", "yellow"))
    if event.error is not None:
        line.append((f"  ! {_printable(event.error, 100)}", "bold red"))
    if event.capture_id is not None:
        line.append((f"  #{event.capture_id}", "dim"))
    return line


def forward_segments(event: ForwardEvent) -> Segments:
    """`  ↳ #12 forwarded to URL -> 200`, or why forwarding failed."""
    line: Segments = [
        (f"  ↳ #{event.capture_id} forwarded to {_printable(event.url, 80)} -> ", "dim")]
    if event.status is not None:
        line.append((str(event.status), _status_style(event.status)))
    else:
        line.append((f"failed: {_printable(event.error or 'unknown error', 100)}", "bold red"))
    return line


def _text(segments: Segments) -> Text:
    return Text.assemble(*segments, no_wrap=True, overflow="ellipsis")


def format_capture_line(event: CaptureEvent) -> Text:
    return _text(capture_segments(event))


def format_forward_line(event: ForwardEvent) -> Text:
    return _text(forward_segments(event))


class ConsoleLines:
    """Prints capture and forward lines; a burst becomes one write per event-loop turn.

    Without colour (a pipe, a file, NO_COLOR) lines are written as plain text, skipping
    rich's rendering, so a busy receiver spends its time receiving.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self._pending: list[Segments] = []
        self._scheduled = False

    def add(self, line: Segments) -> None:
        self._pending.append(line)
        if self._scheduled:
            return
        try:
            asyncio.get_running_loop().call_soon(self.flush)
        except RuntimeError:  # no loop (a direct call): print at once
            self.flush()
            return
        self._scheduled = True

    def flush(self) -> None:
        lines, self._pending, self._scheduled = self._pending, [], False
        if lines:
            _write_segments(self.console, lines)


def _write_segments(console: Console, lines: list[Segments]) -> None:
    """Print lines at once: plain text without colour (fast), else through rich."""
    if console.color_system is None or console.no_color:
        console.file.write("".join(text for line in lines for text, _ in (*line, ("\n", ""))))
        console.file.flush()
    else:
        console.print(Text("\n").join(_text(line) for line in lines), soft_wrap=True,
                      highlight=False)


def write_lines(console: Console, events: list[CaptureEvent]) -> None:
    """The console lines of these captures (the deferred analyst prints with this)."""
    if events:
        _write_segments(console, [capture_segments(event) for event in events])


def describe_failure(error: BaseException) -> str:
    return describe_error(error)


def _chain(first: Callable[[Any], None], then: Callable[[Any], None] | None
           ) -> Callable[[Any], None]:
    def both(event: Any) -> None:
        first(event)
        if then is not None:
            then(event)
    return both


def printing(settings: ReceiverSettings, console: Console) -> ReceiverSettings:
    """`settings` that also print one console line per capture and per forward."""
    lines = ConsoleLines(console)
    return replace(
        settings,
        on_capture=_chain(lambda event: lines.add(capture_segments(event)),
                          settings.on_capture),
        on_forward=_chain(lambda event: lines.add(forward_segments(event)),
                          settings.on_forward),
    )


def _print_banner(console: Console, url: str, store_path: Path,
                  settings: ReceiverSettings) -> None:
    definition = settings.definition
    console.print(Text.assemble("whdebug receiver listening on ", (url, "bold")))
    if definition is not None and definition.webhook_path:
        console.print(Text.assemble("  register  ", (url + definition.webhook_path, "bold cyan"),
                                    f"  (POST, {definition.label})"))
    else:
        console.print(f"  send to   {url}/ (any path; no definition loaded)", highlight=False)
    console.print(f"  store     {store_path}", highlight=False)
    if settings.forward_to:
        console.print(f"  forward   {settings.forward_to}", highlight=False)
    if settings.strict:
        console.print("  strict    answers 401 when the signature does not verify",
                      highlight=False)
    console.print("Press Ctrl-C to stop.", style="dim")


def _warn_exposed(error_console: Console, host: str) -> None:
    error_console.print(Text(
        f"whdebug: WARNING: listening on {host}, which is not loopback: anyone who can reach "
        "this machine can send requests that are stored and analysed with your secrets, and "
        "captured payloads and secrets become reachable from the network. Prefer "
        "--host 127.0.0.1 behind a tunnel.", style="bold red"))


def serve(
    store_path: str | Path,
    receiver_settings: ReceiverSettings,
    server_settings: ServerSettings,
    console: Console | None = None,
    *,
    error_console: Console | None = None,
) -> None:
    """`whdebug serve`: bind, open the store (errors before serving), print lines until Ctrl-C.

    The port is bound first so that a port in use leaves no new store file behind.
    """
    console = console or Console()
    error_console = error_console or Console(stderr=True)
    path = Path(store_path)
    sock = bind_socket(server_settings.host, server_settings.port, server_settings.backlog)
    try:
        store = Store.open(path)
    except BaseException:
        sock.close()
        raise
    if not is_loopback(server_settings.host):
        _warn_exposed(error_console, server_settings.host)
    analyst = _start_analyst(path, receiver_settings, console)
    settings = printing(receiver_settings, console)
    if analyst is not None:
        settings = replace(settings, defer_analysis=analyst.submit)
    app = create_app(store, settings)
    url = _url(server_settings.host, int(sock.getsockname()[1]))
    _print_banner(console, url, path.absolute(), receiver_settings)
    server = uvicorn.Server(uvicorn_config(app, server_settings, embedded=False))
    try:
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
        pass
    finally:
        sock.close()
        if analyst is not None:
            analyst.close()
        store.close()


def _start_analyst(store_path: Path, settings: ReceiverSettings, console: Console
                   ) -> Analyst | None:
    """A second process for the console lines' analysis, when the answers do not need it.

    Only for the process's own stdout: a child process can print there, not into a Console
    that writes elsewhere (tests, embedding).
    """
    definition = settings.definition
    if definition is None or not defers(settings.plan, settings.strict):
        return None
    if console.file is not sys.stdout:
        return None
    analyst = Analyst(store_path, definition, settings.secrets, settings.options,
                      settings.analysis_now, console)
    analyst.start()
    return analyst
