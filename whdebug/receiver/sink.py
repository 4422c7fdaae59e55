"""What `serve` and its analyst report while they run, for a face (the CLI) to show.

The receiver knows nothing of terminals: it hands events to a ServeSink, and the CLI's
`whdebug.cli.output.serve.ConsoleSink` turns them into console lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from whdebug.receiver.app import CaptureEvent, ReceiverSettings
from whdebug.receiver.relay import ForwardEvent


class ServeSink(Protocol):
    """Receives the banner, the exposed-host warning and every capture and forward event."""

    def exposed(self, host: str) -> None:
        """Listening on `host`, which is not loopback (called before the banner)."""

    def listening(self, url: str, store_path: Path | str, settings: ReceiverSettings) -> None:
        """The receiver is bound to `url` and stores into `store_path`."""

    def lines(self, events: Sequence[CaptureEvent | ForwardEvent]) -> None:
        """Capture and forward events in arrival order; a burst comes as one call."""

    def for_child(self) -> ServeSink | None:
        """A picklable sink reporting to the same place from another process, or None
        when that is impossible (the analyst then stays off)."""
