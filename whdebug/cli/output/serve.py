"""Human output of `whdebug serve`: the banner, the exposed-host warning and one line per
capture and per forward, printed by the receiver (and its analyst process) through ConsoleSink.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.color import ColorSystem
from rich.console import Console
from rich.style import Style
from rich.text import Text

from whdebug.cli.output.text import OutputConsole, format_size
from whdebug.errors import is_broken_pipe, silence_stdout
from whdebug.model.secrecy import SecretSet
from whdebug.receiver.app import CaptureEvent, ReceiverSettings
from whdebug.receiver.relay import ForwardEvent

Segments = list[tuple[str, str]]
"""A console line as (text, rich style) pieces: joined plain, or assembled with colour."""

_SIGNATURE_MARKS = {"pass": ("sig ✓", "green"), "fail": ("sig ✗", "bold red"),
                    "skipped": ("sig -", "dim")}
_OUTCOME_STYLES = {"fires": "bold green", "challenge": "cyan", "rejected": "bold red",
                   "duplicate": "yellow", "no-trigger": "yellow", "no-event": "yellow"}


def _printable(text: str, limit: int = 80) -> str:
    """Request-controlled text safe for a terminal: no control characters, bounded length."""
    if not text.isprintable():
        text = "".join(char if char.isprintable() else "\ufffd" for char in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        right_path = event.path.rstrip("/") == (event.expected_path or "")
        wrong = f"wrong method {event.method}" if right_path else "wrong path"
        line.append((f"  ⚠ {wrong}, expected POST {event.expected_path}", "bold yellow"))
    if event.event is not None:
        line.append(("  " + _printable(event.event, 60), "bold"))
    elif event.event_if_verified is not None:  # rejected: the event it carries, as the TUI
        line.append(("  (" + _printable(event.event_if_verified, 60) + ")", "dim"))
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
    """`  ↳ #12 forwarded to URL -> 200 in 41 ms`, or why forwarding failed."""
    line: Segments = [
        (f"  ↳ #{event.capture_id} forwarded to {_printable(event.url, 80)} -> ", "dim")]
    if event.status is not None:
        line.append((str(event.status), _status_style(event.status)))
        if event.latency is not None:
            line.append((f" in {event.latency * 1000:.0f} ms", "dim"))
    else:
        line.append((f"failed: {_printable(event.error or 'unknown error', 100)}", "bold red"))
    return line


def _segments(event: CaptureEvent | ForwardEvent) -> Segments:
    return capture_segments(event) if isinstance(event, CaptureEvent) else forward_segments(event)


def _text(segments: Segments) -> Text:
    return Text.assemble(*segments, no_wrap=True, overflow="ellipsis")


def format_capture_line(event: CaptureEvent) -> Text:
    """One capture's console line as rich Text (styled pieces, never markup)."""
    return _text(capture_segments(event))


def write_lines(console: Console, lines: list[Segments]) -> None:
    """Print lines at once: plain text without colour (fast), else through rich.

    Without colour (a pipe, a file, NO_COLOR) lines are written as plain text, skipping
    rich's rendering, so a busy receiver spends its time receiving.
    """
    if console.color_system is None or console.no_color:
        console.file.write("".join(text for line in lines for text, _ in (*line, ("\n", ""))))
        console.file.flush()
        return
    system = _COLOR_SYSTEMS.get(console.color_system)
    if system is None or console.legacy_windows:
        console.print(Text("\n").join(_text(line) for line in lines), soft_wrap=True,
                      highlight=False)
        return
    # A terminal: each piece wrapped in its style's escape codes, as rich would print it
    # with soft_wrap (no wrapping, no cropping), without its layout engine, which cost more
    # per capture than everything else the receiver does for a request.
    console.file.write("".join(
        _styled(text, style, system) for line in lines for text, style in (*line, ("\n", ""))))
    console.file.flush()


_COLOR_SYSTEMS = {"standard": ColorSystem.STANDARD, "256": ColorSystem.EIGHT_BIT,
                  "truecolor": ColorSystem.TRUECOLOR}


def _styled(text: str, style: str, system: ColorSystem) -> str:
    if not style or not text:
        return text
    prefix, suffix = _escapes(style, system)
    return prefix + text + suffix


@functools.lru_cache(maxsize=64)
def _escapes(style: str, system: ColorSystem) -> tuple[str, str]:
    """The escape codes rich puts before and after a piece in `style`."""
    prefix, _, suffix = Style.parse(style).render("\0", color_system=system).partition("\0")
    return prefix, suffix


def print_banner(console: Console, url: str, store_path: Path | str,
                 settings: ReceiverSettings, secrets: SecretSet | None = None) -> None:
    """Where the receiver listens, where to send, where captures go and how to stop.

    Lines are never wrapped by whdebug (a URL or path broken across lines cannot be
    copied); a terminal folds them visually.
    """
    definition = settings.definition

    def line(text: str | Text) -> None:
        console.print(text, highlight=False, markup=False, soft_wrap=True)

    line(Text.assemble("whdebug receiver listening on ", (url, "bold")))
    if definition is not None and definition.webhook_path:
        line(Text.assemble("  register  ", (url + definition.webhook_path, "bold cyan"),
                           f"  (POST, {definition.label})"))
    else:
        line(f"  send to   {url}/ (any path; no definition loaded)")
    line(f"  store     {store_path}")
    if settings.forward_to:
        masks = secrets if secrets is not None else SecretSet()
        line(f"  forward   {masks.mask_target(settings.forward_to)}")
    if settings.strict:
        line("  strict    answers 401 when the signature does not verify")
    elif definition is not None:  # a line may say `sig ✗ rejected` beside `-> 200`
        line("  answers   the definition's response, also when the signature does not verify "
             "(the runtime answers 401: add --strict to do the same)")
    console.print("Press Ctrl-C to stop.", style="dim")


def print_exposed_warning(error_console: Console, host: str) -> None:
    """Listening beyond loopback exposes captures and secrets: say so, in red, on stderr."""
    error_console.print(Text(
        f"whdebug: WARNING: listening on {host}, which is not loopback: anyone who can reach "
        "this machine can send requests that are stored and analysed with your secrets, and "
        "captured payloads and secrets become reachable from the network. Prefer "
        "--host 127.0.0.1 behind a tunnel.", style="bold red"))


def masked(event: CaptureEvent | ForwardEvent, secrets: SecretSet) -> CaptureEvent | ForwardEvent:
    """The event as a line may show it: secrets and credential query parameters masked."""
    if isinstance(event, ForwardEvent):
        return replace(event, url=secrets.mask_target(event.url),
                       error=secrets.mask(event.error) if event.error else event.error)
    path, query = secrets.mask(event.path), secrets.mask_query(event.query)
    name = secrets.mask(event.event) if event.event else event.event
    error = secrets.mask(event.error) if event.error else event.error
    carried = event.event_if_verified
    carried = secrets.mask(carried) if carried else carried
    if (path, query, name, error, carried) == (event.path, event.query, event.event,
                                               event.error, event.event_if_verified):
        return event  # nothing to mask (the usual case): no copy per capture
    return replace(event, path=path, query=query, event=name, error=error,
                   event_if_verified=carried)


class ConsoleSink:
    """The receiver's sink for a terminal: the banner and lines on `console`, the warning on
    `error_console`.

    It pickles as its console's settings, so the analyst process can print on the same
    standard output with the same colours and width (see `for_child`).
    """

    def __init__(self, console: Console | None = None,
                 error_console: Console | None = None, secrets: SecretSet | None = None) -> None:
        self.console = console or OutputConsole()
        self.error_console = error_console or Console(stderr=True)
        self.secrets = secrets if secrets is not None else SecretSet()
        """Masked in every line, with credential-looking query parameters."""
        self.gone = False
        """Standard output's reader went away: no more lines, the receiver goes on."""

    def exposed(self, host: str) -> None:
        print_exposed_warning(self.error_console, host)

    def listening(self, url: str, store_path: Path | str, settings: ReceiverSettings) -> None:
        try:
            print_banner(self.console, url, store_path, settings, self.secrets)
        except OSError as error:
            self._reader_gone(error)

    def lines(self, events: Sequence[CaptureEvent | ForwardEvent]) -> None:
        if events and not self.gone:
            try:
                write_lines(self.console, [_segments(masked(event, self.secrets))
                                           for event in events])
            except OSError as error:
                self._reader_gone(error)

    def _reader_gone(self, error: OSError) -> None:
        """`whdebug serve | head -2`, a `less` quit: the lines stop, the captures do not.
        Receiving is the job (a provider's next delivery must still be stored and
        answered), so this says so once on stderr and the receiver runs on until Ctrl-C."""
        if not is_broken_pipe(error):
            raise error
        self.gone = True
        if self.console.file is sys.stdout:
            silence_stdout()
        self.error_console.print(
            "whdebug: standard output is closed (its reader went away), so no more capture "
            "lines are printed; every capture is still stored: whdebug list shows them",
            highlight=False, markup=False, soft_wrap=True)

    def for_child(self) -> ConsoleSink | None:
        """This sink for another process: only when it prints to this process's stdout,
        which a child process shares (not into a Console that writes elsewhere)."""
        return self if self.console.file is sys.stdout and not self.gone else None

    def __getstate__(self) -> dict[str, Any]:
        console = self.console
        return {"color_system": console.color_system, "no_color": console.no_color,
                "width": console.width, "secrets": self.secrets}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.console = OutputConsole(color_system=state["color_system"],
                                     no_color=state["no_color"], width=state["width"])
        self.gone = False
        self.error_console = Console(stderr=True)
        self.secrets = state["secrets"]
