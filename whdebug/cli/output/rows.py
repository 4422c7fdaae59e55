"""`replay`'s many-request view: one plain line per request, then the full report of each
request that does not fire, then the summary.

A screenful of full reports is the most a reader follows; past it (the terminal's height, or
`ROWS_WHEN_PIPED` lines when stdout is not a terminal) each request gets one row. Rows are
plain formatted strings written in blocks (a table layout engine per row is what made a
20,000-request replay take minutes); the full reports and the summary stay rich.
"""

from __future__ import annotations

import shutil
import sys

from whdebug.cli.output.progress import Progress
from whdebug.cli.output.text import safe
from whdebug.engine.parallel import Replayed
from whdebug.model.request import Capture
from whdebug.model.secrecy import SecretSet

__all__ = ["Progress", "ROWS_WHEN_PIPED", "format_row", "row_header", "screenful"]

ROWS_WHEN_PIPED = 40
"""Requests shown in full when stdout is not a terminal; more get one row each."""
_SIGNATURE = {"pass": "pass", "fail": "fail", "skipped": "skip"}


def screenful() -> int:
    """How many requests `replay` shows in full before it switches to one row each."""
    if sys.stdout.isatty():
        return max(shutil.get_terminal_size().lines, 1)
    return ROWS_WHEN_PIPED


def row_header() -> str:
    """The column names above the rows."""
    return (f"{'time':<8}  {'method':<6}  {'path':<32}  {'size':>9}  {'event':<28}  sig  "
            f"{'outcome':<10}  top finding")


def format_row(capture: Capture, replayed: Replayed, symbols: dict[str, str],
               masks: SecretSet | None = None) -> str:
    """One request: time, method, path, size, event, signature mark, outcome, top finding.

    Request-controlled text is escaped (`safe`) and cut to its column; a secret in the method
    or path is masked (`masks`), as the report masks it (the event comes from the report).
    """
    request = capture.request
    method, path = request.method, request.path
    if masks:
        method, path = masks.mask(method), masks.mask(path)
    received = capture.source.received_at
    clock = received.strftime("%H:%M:%S") if received is not None else "-"
    event = replayed.event
    event_text = safe(event, 28) if event is not None else "-"
    sign = symbols.get(_SIGNATURE.get(replayed.verdict, ""), "?")
    return (f"{clock:<8}  {safe(method, 6):<6}  {safe(path, 32):<32}  "
            f"{request.size:>9}  {event_text:<28}  {sign:<3}  {replayed.status:<10}  "
            f"{replayed.top_code or ''}").rstrip()
