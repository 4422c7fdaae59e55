"""Text helpers every renderer shares: terminal-safe text, sizes, plurals, the stdout console.

Request-controlled text goes through `escape` (or `safe_text`, which builds a plain rich
`Text`, never markup) so a captured header can neither inject terminal sequences nor hide a
stray zero-width space.
"""

from __future__ import annotations

import errno
import io
import os
import re
import sys
from typing import TextIO, cast

from rich.console import Console
from rich.text import Text

# C0/C1 controls, bidi overrides and zero-width characters: shown escaped, never raw.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _escape_match(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """`text` with control and invisible characters written as `\\xNN` or `\\uNNNN`."""
    return _UNSAFE.sub(_escape_match, text)


def safe(text: str, limit: int = 200) -> str:
    """Request-controlled text for a terminal: control characters escaped, length bounded."""
    text = escape(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_text(value: object, style: str = "") -> Text:
    """`value` as plain text with unsafe characters escaped; never parsed as markup."""
    return Text(escape(str(value)), style=style)


def format_size(size: int) -> str:
    """Bytes in decimal units with one decimal: `275 B`, `7.0 KB`, `1.2 MB`.

    rich's `pick_unit_and_suffix` picks the same unit (a test compares them); this runs once
    per capture line of a busy `serve`, and the loop over units cost it a microsecond."""
    if size < 1000:
        return f"{size} B"
    if size < 1_000_000:
        return f"{size / 1000:.1f} KB"
    if size < 1_000_000_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{size / 1_000_000_000:.1f} GB"


#: The width of output without a terminal: wide enough that no line is ever wrapped.
UNWRAPPED = 100_000


class TrimmedLines(io.TextIOBase):
    """A text stream that drops the trailing spaces of each line before writing it on.

    Rich pads table cells and indented blocks to their width; in a file or a pipe that
    padding is only noise (and breaks `diff` and `grep 'x$'`).
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream
        self._pending = ""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            self._stream.write(line.rstrip(" ") + "\n")
        return len(text)

    def flush(self) -> None:
        if self._pending.strip(" "):
            self._stream.write(self._pending)
            self._pending = ""
        self._stream.flush()


class OutputConsole(Console):
    """A rich Console that lets a broken pipe (standard output's reader went away) reach the
    command as BrokenPipeError, where the CLI ends quietly with 141 and `serve` goes on
    storing; rich's own handling exits 1, which whdebug's exit statuses read as findings."""

    def on_broken_pipe(self) -> None:
        if self.quiet:
            return
        self.quiet = True  # what is still buffered is dropped, not written again
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def stdout_console() -> Console:
    """The console for standard output; a terminal that cannot encode a symbol gets '?'.

    Without a terminal (a pipe, a file, CI) lines are never wrapped, so a URL, a path or a
    code is never broken, and carry no trailing padding; `COLUMNS` still sets a width.
    """
    stream = sys.stdout
    encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "")
    if encoding != "utf8" and hasattr(stream, "reconfigure"):
        stream.reconfigure(errors="replace")
    if stream.isatty():
        return OutputConsole(highlight=False)
    width = os.environ.get("COLUMNS", "")
    return OutputConsole(highlight=False, file=cast(TextIO, TrimmedLines(stream)),
                   width=int(width) if width.isdigit() and int(width) > 0 else UNWRAPPED)
