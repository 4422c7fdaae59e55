"""`replaying 1,234 of 20,000` on stderr while a long replay runs (rows and --json alike).

Plain text, no rich: `replay --json` imports no rendering library.
"""

from __future__ import annotations

import sys
import time
from typing import IO

_PROGRESS_AFTER = 1.0
"""Seconds before the progress line appears (stderr on a terminal only)."""


class Progress:
    """`replaying 1,234 of 20,000` on stderr, redrawn in place, once a replay has run for a
    second; nothing when stderr is not a terminal."""

    def __init__(self, total: int, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total = total
        self.enabled = self.stream.isatty()
        self.start = time.monotonic()
        self.shown = False
        self._next = self.start + _PROGRESS_AFTER

    def update(self, done: int) -> None:
        """Show `done` (call it every few hundred requests)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + 0.2
        self.shown = True
        self.stream.write(f"\r\x1b[Kreplaying {done:,} of {self.total:,}")
        self.stream.flush()

    def hide(self) -> None:
        """Clear the line before rows go to the same terminal."""
        if self.shown and sys.stdout.isatty():
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
