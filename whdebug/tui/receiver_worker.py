"""The embedded receiver: uvicorn serving inside the Textual app's event loop.

The receiver stores each capture itself; its callback only tells the app to read the store
at once (the one-second poll would find the capture anyway, as it does for a separate
`whdebug serve`). Its log lines go nowhere: the TUI owns the terminal, and a capture that
could not be stored is reported by the callback instead.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from whdebug.errors import WhdebugError
from whdebug.model.definition import Definition
from whdebug.model.request import Secrets
from whdebug.store.base import StoreLocation
from whdebug.tui.messages import ReceiverChanged

if TYPE_CHECKING:
    from textual.app import App

    from whdebug.engine import AnalysisOptions
    from whdebug.receiver.app import CaptureEvent
    from whdebug.receiver.server import RunningServer

_QUIET_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "whdebug.receiver")


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}"


class EmbeddedReceiver:
    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self.host = "127.0.0.1"
        self.port = 8787
        self.running: RunningServer | None = None
        self.error: str | None = None
        self.on_arrival: Any = None
        """Called (on the event loop) after each capture; the app polls the store."""
        self._settings: tuple[Definition | None, Secrets, AnalysisOptions | None] = (
            None, Secrets(), None)
        """Set by `configure` (the app does before `start`); None options: the defaults."""

    @property
    def listening(self) -> bool:
        return self.running is not None

    @property
    def base_url(self) -> str:
        return self.running.url if self.running is not None else _url(self.host, self.port)

    def start(self, store_path: StoreLocation, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.app.run_worker(self._start(store_path), group="receiver", exit_on_error=False)

    async def _start(self, store_path: StoreLocation) -> None:
        from whdebug.receiver.app import ReceiverSettings
        from whdebug.receiver.server import ServerSettings, start_in_loop

        for name in _QUIET_LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
                logger.addHandler(logging.NullHandler())
            logger.propagate = False
        from whdebug.engine import AnalysisOptions

        definition, secrets, options = self._settings
        # The TUI judges duplicates itself (its dedupe history): the receiver only answers.
        settings = ReceiverSettings(definition=definition, secrets=secrets,
                                    options=options or AnalysisOptions(),
                                    on_capture=self._captured, dedupe=False)
        try:
            self.running = await start_in_loop(store_path, settings,
                                               ServerSettings(host=self.host, port=self.port))
        except WhdebugError as error:
            self.error = error.message
        except Exception as error:  # the TUI still works without its receiver
            self.error = f"receiver failed: {type(error).__name__}: {error}"
        else:
            self.port = self.running.port
            self.error = None
        self.app.post_message(ReceiverChanged(self.listening, self.base_url, self.error))

    def configure(self, definition: Definition | None, secrets: Secrets,
                  options: AnalysisOptions) -> None:
        """Answer with this definition from now on (challenges, webhook.response)."""
        self._settings = (definition, secrets, options)
        if self.running is None:
            return
        receiver = getattr(self.running.app, "state", None)
        receiver = getattr(receiver, "receiver", None) if receiver is not None else None
        if receiver is not None:
            receiver.settings = replace(receiver.settings, definition=definition,
                                        secrets=secrets, options=options)

    def _captured(self, event: CaptureEvent) -> None:
        if event.error and event.capture_id is None:
            self.app.notify(event.error, title="Receiver", severity="error")
        if self.on_arrival is not None:
            self.on_arrival()

    async def stop(self) -> None:
        running, self.running = self.running, None
        if running is not None:
            await running.stop(timeout=3.0)
