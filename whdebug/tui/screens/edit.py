"""The edit screen: a capture's request (headers and body) in a text area or $EDITOR, analysed
beside the original on save, then signed again and sent; the answer in a Response tab and the
edited request stored as a new capture linked to its original (never replacing it)."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane, TextArea

from whdebug.engine import AnalysisOptions
from whdebug.engine.report import Report
from whdebug.errors import WhdebugError
from whdebug.formats.http import format_http, parse_http
from whdebug.model.request import Capture, CapturedRequest, ForwardResult, Source
from whdebug.model.secrecy import MASK, SecretSet
from whdebug.store.store import Store
from whdebug.tools.diff import diff_requests
from whdebug.tools.resend import Answer, resend
from whdebug.tools.resign import edit_request, resign
from whdebug.tui.analysis import Analysis, run_analysis
from whdebug.tui.screens.compare import diff_tables
from whdebug.tui.screens.prompts import resend_prompt
from whdebug.tui.widgets.response_view import answer_content
from whdebug.tui.workspace import Workspace


@dataclass(frozen=True, slots=True)
class EditContext:
    """What the edit screen needs from the app."""

    workspace: Workspace
    store: Store | None
    masks: SecretSet
    default_url: str


def editable_text(request: CapturedRequest, masks: SecretSet) -> str | None:
    """The request as `.http` text with credential headers masked; None when its body is not
    UTF-8 text (a text area cannot hold it byte for byte)."""
    try:
        request.body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    shown = CapturedRequest(request.method, request.path, request.query,
                            tuple(masks.mask_headers(request.headers)), request.body,
                            request.http_version)
    return format_http(shown).decode("utf-8")


def read_edit(text: str, original: CapturedRequest, initial: str) -> CapturedRequest:
    """The edited request: masked header values put back from the original, Content-Length
    kept right when the body changed. Unchanged text is the original, byte for byte."""
    if text == initial:
        return original
    parsed = parse_http(text.encode("utf-8"), "the edited request")
    values: dict[str, list[str]] = {}
    for name, value in original.headers:
        values.setdefault(name.lower(), []).append(value)
    headers = []
    for name, value in parsed.headers:
        kept = values.get(name.lower())
        if value == MASK and kept:
            value = kept.pop(0)
        elif kept:
            kept.pop(0)
        headers.append((name, value))
    stated = original.header("content-length")
    edited = CapturedRequest(parsed.method, parsed.path, parsed.query, tuple(headers),
                             original.body, parsed.http_version)
    if parsed.body != original.body and (stated is None
                                         or parsed.header("content-length") == stated):
        return edit_request(edited, body=parsed.body)
    return CapturedRequest(parsed.method, parsed.path, parsed.query, tuple(headers),
                           parsed.body, parsed.http_version)


class EditSent(Message):
    """The edited request was sent (or sending failed)."""

    def __init__(self, request: CapturedRequest, url: str, answer: Answer | None,
                 error: str | None, notes: list[str]) -> None:
        super().__init__()
        self.request = request
        self.url = url
        self.answer = answer
        self.error = error
        self.notes = notes


class EditAnalysed(Message):
    def __init__(self, request: CapturedRequest, report: Report | None,
                 problem: str | None) -> None:
        super().__init__()
        self.request = request
        self.report = report
        self.problem = problem


class EditScreen(Screen[None]):
    """Edit the request on the left; the diff with the original and the app's answer right."""

    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("ctrl+s", "analyse", "Analyse", priority=True),
        Binding("ctrl+o", "external_editor", "$EDITOR", priority=True),
        Binding("ctrl+r", "send", "Re-sign & send", priority=True),
    ]
    DEFAULT_CSS = """
    EditScreen #edit-main { height: 1fr; }
    EditScreen TextArea { width: 1fr; height: 1fr; }
    EditScreen #edit-tabs { width: 1fr; height: 1fr; }
    EditScreen VerticalScroll > Static { width: 1fr; height: auto; margin-bottom: 1; }
    EditScreen #edit-status { height: auto; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, original: Analysis, context: EditContext) -> None:
        super().__init__(id="edit-screen")
        assert original.capture is not None
        self.original = original
        self.context = context
        self.initial = editable_text(original.capture.request, context.masks) or ""
        self.edited: CapturedRequest = original.capture.request
        self.report: Report | None = None
        self.sent: Capture | None = None
        """The edited request as stored, with the app's answer (after ctrl+r)."""
        self.stored_id: int | None = None

    @property
    def label(self) -> str:
        return f"#{self.original.capture_id}"

    def compose(self) -> ComposeResult:
        yield Static(f"Editing capture {self.label}: ctrl+s analyse · ctrl+o $EDITOR · "
                     "ctrl+r re-sign and send · Escape back", id="edit-status", markup=False)
        with Horizontal(id="edit-main"):
            yield TextArea(self.initial, id="edit-area", soft_wrap=True, show_line_numbers=True)
            with TabbedContent(id="edit-tabs", initial="edit-diff"):
                with TabPane("Diff", id="edit-diff"), VerticalScroll(id="edit-diff-view"):
                    yield Static("Press ctrl+s to analyse the edited request beside the "
                                 "original.", markup=False)
                with TabPane("Response", id="edit-response"), VerticalScroll():
                    yield Static("Press ctrl+r to sign the edited request again and send it.",
                                 id="edit-response-text", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_close(self) -> None:
        self.dismiss(None)

    # -- analysing -------------------------------------------------------------------------

    def _read(self) -> CapturedRequest | None:
        assert self.original.capture is not None
        try:
            return read_edit(self.query_one(TextArea).text, self.original.capture.request,
                             self.initial)
        except WhdebugError as error:
            self.notify(str(error), title="Not a request", severity="error")
            return None

    def action_analyse(self) -> None:
        edited = self._read()
        if edited is None:
            return
        self.edited = edited
        self.run_worker(lambda: self._analyse(edited), thread=True, exclusive=True,
                        group="edit-analysis", exit_on_error=False)

    def _analyse(self, edited: CapturedRequest) -> None:
        resolved = self.context.workspace.resolve(self.original.capture_id, edited.path)
        if resolved is None:
            self.post_message(EditAnalysed(edited, None, "no definition loaded"))
            return
        now = resolved.now or datetime.now(UTC)
        try:
            report = run_analysis(Capture(edited, Source(received_at=now)), resolved,
                                  resolved.secrets, now=now,
                                  options=_options(self.context.workspace), dedupe=None,
                                  show_secrets=not self.context.masks.by_name)
        except Exception as error:  # the engine must never take the TUI down
            self.post_message(EditAnalysed(edited, None, f"{type(error).__name__}: {error}"))
            return
        self.post_message(EditAnalysed(edited, report, None))

    @on(EditAnalysed)
    def _analysed(self, message: EditAnalysed) -> None:
        if message.request is not self.edited:
            return
        self.report = message.report
        assert self.original.capture is not None
        reports = None
        if message.report is not None and self.original.report is not None:
            reports = (self.original.report, message.report)
        diff = diff_requests(self.original.capture.request, message.request,
                             a_label=self.label, b_label="edited", reports=reports)
        view = self.query_one("#edit-diff-view", VerticalScroll)
        view.remove_children()
        parts = diff_tables(diff, self.context.masks)
        if message.problem:
            parts.insert(0, _text(f"No report for the edited request: {message.problem}"))
        view.mount_all(Static(part) for part in parts)
        self.query_one(TabbedContent).active = "edit-diff"

    # -- $EDITOR ---------------------------------------------------------------------------

    def action_external_editor(self) -> None:
        area = self.query_one(TextArea)
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        handle, name = tempfile.mkstemp(prefix="whdebug-edit-", suffix=".http")
        path = Path(name)
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
                file.write(area.text)
            try:
                with self.app.suspend():
                    subprocess.run([*shlex.split(editor), str(path)], check=False)
            except SuspendNotSupported:
                self.notify("This terminal cannot hand over to $EDITOR; edit here instead.",
                            severity="warning")
                return
            except OSError as error:
                self.notify(f"cannot run {editor}: {error}", severity="error")
                return
            area.text = path.read_text(encoding="utf-8")
        finally:
            path.unlink(missing_ok=True)
        self.action_analyse()

    # -- sending ---------------------------------------------------------------------------

    def action_send(self) -> None:
        edited = self._read()
        if edited is None:
            return
        self.edited = edited

        def chosen(url: str | None) -> None:
            if url and url.strip():
                self.send_to(url.strip())

        self.app.push_screen(resend_prompt(self.context.default_url), chosen)

    def send_to(self, url: str) -> None:
        """Sign the edited request again (when the definition or its headers say how) and
        send it to `url` in a worker."""
        edited = self.edited
        self.query_one("#edit-response-text", Static).update(f"Sending to {url}…")
        self.query_one(TabbedContent).active = "edit-response"
        self.run_worker(lambda: self._send(edited, url), thread=True, group="edit-send",
                        exit_on_error=False)

    def _send(self, edited: CapturedRequest, url: str) -> None:
        notes: list[str] = []
        resolved = self.context.workspace.resolve(self.original.capture_id, edited.path)
        request = edited
        if resolved is not None:
            try:
                signed = resign(edited, resolved.definition, resolved.secrets,
                                now=datetime.now(UTC), fresh_timestamp=True)
            except WhdebugError as error:
                notes.append(f"sent without signing again: {error}")
            else:
                request = signed.request
                notes.append(f"re-signed {', '.join(signed.headers)} "
                             f"({', '.join(signed.schemes)})")
        try:
            answer = resend(request, url, masks=self.context.masks)
        except WhdebugError as error:
            self.post_message(EditSent(request, url, None, error.message, notes))
            return
        self.post_message(EditSent(request, url, answer, None, notes))

    @on(EditSent)
    def _sent(self, message: EditSent) -> None:
        answer = message.answer
        forward = (ForwardResult(answer.status, answer.body, answer.headers, answer.elapsed)
                   if answer is not None else ForwardResult(error=message.error))
        capture = Capture(message.request,
                          Source(received_at=datetime.now(UTC), client="whdebug edit",
                                 edited_from=self.original.capture_id), None, forward)
        self.sent = capture
        notes = list(message.notes)
        store = self.context.store
        if store is not None:
            try:
                self.stored_id = store.insert(capture)
            except WhdebugError as error:
                notes.append(f"not stored: {error}")
            else:
                notes.append(f"stored as capture #{self.stored_id}, edited from {self.label}")
        runtime = self.report.outcome.http_status if self.report is not None else None
        content = answer_content(forward, self.context.masks, runtime_status=runtime)
        self.query_one("#edit-response-text", Static).update(content)
        self.notify("; ".join(notes) or "sent", title=f"Sent to {message.url}")


def _options(workspace: Workspace) -> AnalysisOptions:
    return AnalysisOptions(missing_part=workspace.missing_part, nullish=workspace.nullish)


def _text(line: str) -> Text:
    return Text(line, style="bold")
