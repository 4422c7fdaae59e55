"""The keys that act on the selected capture: try a secret, export, curl, re-send, delete.

A base of WhdebugApp (app.py), which owns the state declared here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on
from textual.app import App
from textual.widgets import TabbedContent

from whdebug.errors import WhdebugError
from whdebug.store.store import Store
from whdebug.tui.analysis import Analysis, Analyzer, secret_key_of
from whdebug.tui.exporting import curl_command, export_capture
from whdebug.tui.messages import ResendFinished
from whdebug.tui.receiver_worker import EmbeddedReceiver
from whdebug.tui.resend import resend
from whdebug.tui.rows import CaptureRows
from whdebug.tui.screens.export import ExportChoice, ExportScreen
from whdebug.tui.screens.notices import ConfirmScreen, ResendResultScreen, SnippetScreen
from whdebug.tui.screens.prompts import resend_prompt, secret_prompt
from whdebug.tui.widgets.capture_list import CaptureList
from whdebug.tui.widgets.event_lab import EventLab
from whdebug.tui.widgets.request_view import RequestView


class CaptureActions(App[int]):
    current: Analysis | None
    selected_id: int | None
    store: Store | None
    store_path: Path
    analyzer: Analyzer | None
    rows: CaptureRows
    capture_list: CaptureList
    receiver: EmbeddedReceiver
    tabs: TabbedContent
    request_view: RequestView
    _resend_url: str | None
    _live: bool

    def analyse_selected(self, capture_id: int, trial_secret: str | None = None) -> Any:
        raise NotImplementedError

    def _selected_request(self) -> Analysis | None:
        current = self.current
        if current is None or current.capture is None or current.capture_id != self.selected_id:
            self.notify("Select a capture first.", severity="warning")
            return None
        return current

    def action_try_secret(self) -> None:
        current = self._selected_request()
        if current is None:
            return
        key = secret_key_of(current.definition)
        if key is None:
            self.notify("This capture's definition has no verification.secretKey to try.",
                        severity="warning")
            return
        capture_id = current.capture_id

        def tried(secret: str | None) -> None:
            if secret and self.selected_id == capture_id:
                self.analyse_selected(capture_id, trial_secret=secret)

        self.push_screen(secret_prompt(key), tried)

    def action_export(self) -> None:
        current = self._selected_request()
        if current is None:
            return
        capture = current.capture
        assert capture is not None

        def chosen(choice: ExportChoice | None) -> None:
            if choice is None:
                return
            try:
                written = export_capture(capture, choice.format, choice.path,
                                         self.receiver.base_url)
            except WhdebugError as error:
                self.notify(str(error), title="Export failed", severity="error")
                return
            self.notify("Wrote " + ", ".join(str(path) for path in written), title="Export")

        self.push_screen(ExportScreen(current.capture_id, Path.cwd()), chosen)

    def action_copy_curl(self) -> None:
        current = self._selected_request()
        if current is None or current.capture is None:
            return
        body_path = self.store_path.parent / f"capture-{current.capture_id}.body"
        try:
            text, separate = curl_command(current.capture.request, self.receiver.base_url,
                                          body_path)
        except OSError as error:
            self.notify(f"cannot write {body_path}: {error}", severity="error")
            return
        self.copy_to_clipboard(text)
        note = f" The body is in {body_path}." if separate else ""
        self.notify(f"curl command for #{current.capture_id} copied to the clipboard.{note}",
                    title="Copy as curl")

    def action_resend(self) -> None:
        current = self._selected_request()
        if current is None or current.capture is None:
            return
        request = current.capture.request

        def chosen(url: str | None) -> None:
            if url and url.strip():
                self._resend_url = url.strip()
                self.notify(f"Sending #{current.capture_id} to {url.strip()}…", timeout=3)
                self.run_worker(lambda: self.post_message(ResendFinished(
                    resend(request, url.strip()))), thread=True, group="resend",
                    exit_on_error=False)

        default = self._resend_url or self.receiver.base_url
        self.push_screen(resend_prompt(default), chosen)

    @on(ResendFinished)
    def _resend_finished(self, message: ResendFinished) -> None:
        if not self._live:
            return
        self.push_screen(ResendResultScreen(message.result))

    def action_delete(self) -> None:
        current = self._selected_request()
        if current is None or self.store is None:
            return
        capture_id = current.capture_id

        def confirmed(yes: bool | None) -> None:
            if not yes or self.store is None:
                return
            try:
                self.store.delete(capture_id)
            except WhdebugError as error:
                self.notify(str(error), title="Delete failed", severity="error")
                return
            self.rows.remove(capture_id)
            if self.analyzer is not None:
                self.analyzer.forget(capture_id)
            self.selected_id = None
            self.capture_list.reset()
            self.notify(f"Deleted capture #{capture_id}.")

        self.push_screen(ConfirmScreen(f"Delete capture #{capture_id} from the store?"),
                         confirmed)

    def action_body_mode(self) -> None:
        tabs = self.tabs
        view = self.request_view
        if tabs.active != "request":
            tabs.active = "request"
        else:
            view.cycle_body_mode()

    def action_show_tab(self, name: str) -> None:
        self.tabs.active = name

    @on(EventLab.SnippetRequested)
    def _snippet_requested(self, message: EventLab.SnippetRequested) -> None:
        self.push_screen(SnippetScreen(message.suggestion))
