"""The main screen: header, capture list, detail tabs; its keys act on the selected capture.

The screen owns what is shown (the selection, its analysis, the filter); the app (`Shell`)
owns the data behind it: store, workspace, analyzer and its dedupe history, receiver.
Workers started here only compute and post messages (whdebug.tui.workers); the `@on`
handlers below apply them.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from pathlib import Path
from typing import Protocol

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent
from textual.worker import Worker, get_current_worker

from whdebug.errors import WhdebugError
from whdebug.model.secrecy import SecretSet
from whdebug.store.base import CaptureStore, StoreLocation, display_location
from whdebug.tui import workers
from whdebug.tui.analysis import Analysis, Analyzer, RowVerdict, secret_key_of
from whdebug.tui.exporting import export_capture
from whdebug.tui.filters import CaptureFilter, parse_filter
from whdebug.tui.indexing import IndexState
from whdebug.tui.messages import (
    AnalysisCompleted,
    FilterProgressed,
    ResendFinished,
    VerdictsComputed,
)
from whdebug.tui.options import TuiOptions
from whdebug.tui.receiver_worker import EmbeddedReceiver
from whdebug.tui.rows import CaptureRows
from whdebug.tui.screens.tools import TOOL_BINDINGS, CaptureTools
from whdebug.tui.widgets.banner import Banner
from whdebug.tui.widgets.capture_list import CaptureList
from whdebug.tui.widgets.event_lab import EventLab
from whdebug.tui.widgets.header import HeaderState, WhdebugHeader
from whdebug.tui.widgets.tabs import LABELS, DetailTabs
from whdebug.tui.workspace import DefinitionSlot, Workspace

# The dialogs (screens.export, .notices, .prompts) are imported where they open, not at start.

_ROWS_DELAY = 0.05
"""Seconds visible rows wait before being analysed, so the selected capture goes first."""
FIRST_FRAME_WAIT = 3.0
"""At most this many seconds analyses wait for the first frame."""
_WIDE = 140
"""From this width on the capture list gets more room, enough for method and path."""
_NARROW = 100
"""In terminals narrower than this the tab labels are abbreviated so all five stay visible."""


class Shell(Protocol):
    """What the main screen reads from its app (`whdebug.tui.app.WhdebugApp`)."""

    options: TuiOptions
    store: CaptureStore | None
    store_path: StoreLocation
    store_error: str | None
    analyzer: Analyzer | None
    index_state: IndexState | None
    workspace: Workspace
    rows: CaptureRows
    receiver: EmbeddedReceiver
    selecting: threading.Event
    painted: threading.Event
    foreground: workers.Foreground
    sweep_limit: int
    live: bool

    def forget_capture(self, capture_id: int) -> None: ...

    def load_definition(self, path: str) -> None: ...

    def reload(self) -> None: ...


class MainScreen(CaptureTools, Screen[None]):
    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("f", "follow", "Follow"),
        Binding("e", "export", "Export"),
        Binding("c", "copy_curl", "Curl"),
        Binding("r", "resend", "Resend"),
        Binding("d", "load_definition", "Def"),
        Binding("s", "try_secret", "Secret"),
        Binding("x", "delete", "Delete"),
        Binding("v", "deliveries", "Deliveries", show=False),
        *TOOL_BINDINGS,
        Binding("b", "body_mode", "Body", show=False),
        Binding("question_mark", "toggle_keys", "Keys", show=False),
        Binding("q", "app.quit", "Quit"),
        *(Binding(str(n), f"show_tab('{name}')", name.title(), show=False)
          for n, name in enumerate(LABELS, 1)),
    ]

    def __init__(self, shell: Shell) -> None:
        super().__init__()
        self.shell = shell
        self.selected_id: int | None = None
        self.current: Analysis | None = None
        self.following = True
        self.capture_filter: CaptureFilter | None = None
        self._filter_token = 0
        self.filter_scanned: tuple[int, bool] = (0, True)
        """(captures scanned, scan done) of the current filter."""
        self._resend_url: str | None = None
        self.header_bar = WhdebugHeader(id="header")
        self.banner = Banner(id="banner")
        self.capture_list = CaptureList(
            shell.rows, self._verdict_of, id="captures",
            masks=SecretSet(by_name=not shell.options.show_secrets))
        self.details = DetailTabs()
        self.footer_bar = Footer(compact=True)
        self.shown_at: float | None = None
        """perf_counter() when an analysis was last drawn (the benchmark reads it)."""

    def compose(self) -> ComposeResult:
        yield self.header_bar
        yield self.banner
        with Horizontal(id="main"):
            yield self.capture_list
            yield from self.details.compose()
        yield self.footer_bar

    def on_mount(self) -> None:
        self.on_resize()
        self.details.event_lab.missing_part = self.shell.workspace.missing_part
        self.capture_list.reset()
        self.capture_list.focus()
        self._show_analysis(None)
        self.refresh_banner()

    def on_resize(self) -> None:
        narrow = self.app.size.width < _NARROW
        self.footer_bar.show_command_palette = not narrow
        self.capture_list.styles.width = "55%" if self.app.size.width >= _WIDE else "45%"
        self.details.fit(narrow)

    def _verdict_of(self, capture_id: int) -> RowVerdict | None:
        analyzer = self.shell.analyzer
        return analyzer.verdict(capture_id) if analyzer is not None else None

    # -- header and banner -----------------------------------------------------------------

    def _definition_slot(self) -> DefinitionSlot | None:
        workspace = self.shell.workspace
        if workspace.builtin_slot is not None:
            return workspace.builtin_slot
        path = self.current.definition_path if self.current is not None else None
        if path is None and self.selected_id is not None:
            summary = self.shell.rows.summary(self.selected_id)
            if summary is not None:
                path = workspace.profile_for(summary.id, summary.path).definition_path
        path = path or workspace.default.definition_path
        return workspace.slots.get(path) if path else None

    def refresh_header(self) -> None:
        shell, slot = self.shell, self._definition_slot()
        definition = slot.definition if slot is not None else None
        builtin = shell.workspace.builtin
        label: str | None
        if builtin is not None:
            # Karzoun posts to the user's own server: any path, no /miniapps/{ns}/webhooks.
            path = str(builtin.definition.extra.get("webhookPath") or "/")
            receiver_url, label = f"{shell.receiver.base_url}{path}", builtin.name
        else:
            ns = definition.ns if definition is not None and definition.ns else "{ns}"
            receiver_url = f"{shell.receiver.base_url}/miniapps/{ns}/webhooks"
            label = definition.label if definition is not None else None
        index = self._index()
        counts = (index.counts if index is not None
                  else shell.analyzer.counts() if shell.analyzer is not None else {})
        history = shell.analyzer.history if shell.analyzer is not None else None
        scanned, done = self.filter_scanned
        filter_text = None
        if self.capture_filter is not None:
            filter_text = self.capture_filter.text + (
                "" if done else f" (scanning {scanned:,}/{shell.rows.total:,})")
            if (index is not None and self.capture_filter.needs_analysis and history is not None
                    and not history.complete):
                filter_text += f" (over {history.checked:,} analysed)"
        self.header_bar.set_state(HeaderState(
            title=shell.options.title, receiver_url=receiver_url,
            listening=shell.receiver.listening, receiver_error=shell.receiver.error,
            store=_short_path(shell.store_path), definition=label, total=shell.rows.total,
            analysed=sum(counts.values()),
            counts=tuple(sorted((k, v) for k, v in counts.items() if v)),
            following=self.following, filter_text=filter_text,
            checking=None if history is None or history.complete else (
                history.checked, history.total),
            checking_label="analysed" if index is not None else "dedupe: checked"))

    def _index(self) -> IndexState | None:
        """The analysis index of the current generation, if the app keeps one."""
        index = self.shell.index_state
        if index is None or index.generation != self.shell.workspace.generation:
            return None
        return index

    def refresh_banner(self) -> None:
        self.banner.show_state(self.shell.store_error, self.shell.workspace)

    # -- selection and analysis ------------------------------------------------------------

    @on(CaptureList.Highlighted)
    def _capture_highlighted(self, message: CaptureList.Highlighted) -> None:
        self.selected_id = message.capture_id
        self.following = self.capture_list.cursor == 0
        analyzer = self.shell.analyzer
        if message.capture_id is None or analyzer is None:
            self._show_analysis(None)
            return
        cached = analyzer.cached(message.capture_id)
        if cached is not None:
            self._show_analysis(cached)
        else:
            self.analyse_selected(message.capture_id)
        self.refresh_header()

    @work(thread=True, exclusive=True, exit_on_error=False, group="selected")
    def analyse_selected(self, capture_id: int, trial_secret: str | None = None) -> None:
        analyzer = self.shell.analyzer
        assert analyzer is not None
        self.wait_for_first_frame()  # the first frame first: rows from the index
        self.shell.selecting.set()
        try:
            analysis = analyzer.analyse(capture_id, trial_secret=trial_secret)
        finally:
            self.shell.selecting.clear()
        self.post_message(AnalysisCompleted(analysis))

    @on(AnalysisCompleted)
    def _analysis_completed(self, message: AnalysisCompleted) -> None:
        if not self.shell.live:
            return
        analysis = message.analysis
        self.capture_list.refresh()
        if (analysis.capture_id != self.selected_id
                or analysis.generation != self.shell.workspace.generation):
            return
        self._show_analysis(analysis)
        if analysis.trial and analysis.report is not None:
            report = analysis.report
            self.notify(f"With the typed secret: signature {report.signature.verdict}, "
                        f"outcome {report.outcome.status}.", title="Try a secret")
        self.settle_verdicts()

    def _show_analysis(self, analysis: Analysis | None) -> None:
        self.current = analysis
        self.details.show(analysis, self._definition_slot())
        self.refresh_header()
        self.shown_at = time.perf_counter()

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, message: TabbedContent.TabActivated) -> None:
        self.details.reveal(message.pane.id or "")

    def settle_verdicts(self) -> None:
        """Confirm provisional verdicts the dedupe history has reached, analyse again those
        that turned out to be duplicates, and keep the selected capture's dedupe note current."""
        analyzer = self.shell.analyzer
        if analyzer is None:
            return
        confirmed, forgotten = analyzer.settle()
        current = self.current
        if forgotten:
            self.capture_list.refresh()
            self.analyse_rows(forgotten, "settled")
            if self.capture_filter is not None:
                self._run_filter(self.capture_filter, only=forgotten)
        if current is None or not current.pending or current.trial:
            return
        if current.capture_id in forgotten:
            self.analyse_selected(current.capture_id)
            return
        history = analyzer.history
        pending = 0 if current.capture_id in confirmed else history.pending(current.capture_id)
        if pending != current.pending and current.generation == history.generation:
            self.current = dataclasses.replace(current, pending=pending)
            self.details.show_pipeline(self.current)

    def workspace_changed(self) -> None:
        """Definitions, secrets or options changed: re-analyse what is on screen at once."""
        self.refresh_banner()
        if self.selected_id is not None and self.shell.analyzer is not None:
            self.analyse_selected(self.selected_id)
        self.capture_list.reset()
        if self.capture_filter is not None:
            self._run_filter(self.capture_filter)
        self.sweep()
        self.refresh_header()

    # -- rows: visible verdicts, background sweep, arrivals --------------------------------

    @on(CaptureList.RowsShown)
    def _rows_shown(self, message: CaptureList.RowsShown) -> None:
        if self.shell.live:
            self.analyse_rows(message.capture_ids, "rows")

    def analyse_rows(self, capture_ids: list[int], group: str) -> None:
        analyzer = self.shell.analyzer
        missing = [i for i in capture_ids if self._verdict_of(i) is None]
        delay = _ROWS_DELAY if group == "rows" else 0.0
        if missing and analyzer is not None:
            foreground = self.shell.foreground if group != "sweep" else None
            self.run_worker(lambda: workers.compute_verdicts(
                analyzer, missing, self.post_message, self.wait_for_selection, delay,
                foreground, self._index),
                thread=True, exclusive=group in ("rows", "sweep"), group=group,
                exit_on_error=False)

    def wait_for_first_frame(self) -> None:
        """In a worker: until the first frame is drawn (at most FIRST_FRAME_WAIT seconds), or
        the worker is cancelled (an app that quits before its first frame must not keep a
        worker waiting the whole time, once per capture)."""
        worker = get_current_worker()
        deadline = time.monotonic() + FIRST_FRAME_WAIT
        while not worker.is_cancelled and time.monotonic() < deadline:
            if self.shell.painted.wait(0.05):
                return

    def wait_for_selection(self) -> None:
        """Background workers let the selected capture's analysis and the UI go first."""
        worker = get_current_worker()
        self.wait_for_first_frame()
        while self.shell.selecting.is_set() and not worker.is_cancelled:
            time.sleep(0.002)

    def sweep(self) -> None:
        total = self.shell.rows.total
        if self._index() is not None:
            return  # the analysis index's fill analyses every capture
        if self.shell.analyzer is not None and 0 < total <= self.shell.sweep_limit:
            self.analyse_rows(self.shell.rows.ids_between(0, total), "sweep")

    @on(VerdictsComputed)
    def _verdicts_computed(self, message: VerdictsComputed) -> None:
        if self.shell.live and message.generation == self.shell.workspace.generation:
            self.capture_list.refresh()
            self.settle_verdicts()
            self.refresh_header()

    def index_filled(self, capture_ids: list[int]) -> None:
        """The analysis index reached these captures: draw their verdicts, and add those
        matching the filter."""
        self.capture_list.refresh()
        self.settle_verdicts()
        if (capture_ids and self.capture_filter is not None
                and self.capture_filter.needs_analysis):
            self._run_filter(self.capture_filter, only=capture_ids)

    def captures_added(self, capture_ids: list[int]) -> None:
        """New captures went on top of the list (the app added them to its rows)."""
        if self.capture_filter is not None:
            self._run_filter(self.capture_filter, only=capture_ids)
        else:
            self.capture_list.rows_added(len(capture_ids), follow=self.following)
        self.analyse_rows(capture_ids, "arrivals")
        self.refresh_header()

    # -- actions on the selected capture ---------------------------------------------------

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

        from whdebug.tui.screens.prompts import secret_prompt
        self.app.push_screen(secret_prompt(key), tried)

    def action_export(self) -> None:
        current = self._selected_request()
        if current is None or current.capture is None:
            return
        capture = current.capture
        from whdebug.tui.screens.export import ExportChoice, ExportScreen

        def chosen(choice: ExportChoice | None) -> None:
            if choice is None:
                return
            try:
                written = export_capture(capture, choice.format, choice.path,
                                         self.shell.receiver.base_url)
            except WhdebugError as error:
                self.notify(str(error), title="Export failed", severity="error")
                return
            self.notify("Wrote " + ", ".join(str(path) for path in written), title="Export")

        self.app.push_screen(ExportScreen(current.capture_id, Path.cwd()), chosen)

    def action_resend(self) -> None:
        current = self._selected_request()
        if current is None or current.capture is None:
            return
        request = current.capture.request

        def chosen(url: str | None) -> None:
            if url and url.strip():
                self._resend_url = url.strip()
                self.notify(f"Sending #{current.capture_id} to {url.strip()}…", timeout=3)
                self.run_worker(lambda: workers.send_again(request, url.strip(),
                                                           self.post_message),
                                thread=True, group="resend", exit_on_error=False)

        default = self._resend_url or self.shell.receiver.base_url
        from whdebug.tui.screens.prompts import resend_prompt
        self.app.push_screen(resend_prompt(default), chosen)

    def action_deliveries(self) -> None:
        from whdebug.tui.screens.deliveries import open_deliveries

        open_deliveries(self, self.shell.analyzer, self.shell.workspace.default_definition,
                        self.shell.rows.position_of)

    @on(ResendFinished)
    def _resend_finished(self, message: ResendFinished) -> None:
        from whdebug.tui.screens.notices import ResendResultScreen
        if self.shell.live:
            self.app.push_screen(ResendResultScreen(message.url, message.answer, message.error,
                                                    self.screen_masks(self.current)))

    def action_delete(self) -> None:
        current = self._selected_request()
        if current is None or self.shell.store is None:
            return
        capture_id = current.capture_id

        def confirmed(yes: bool | None) -> None:
            store = self.shell.store
            if not yes or store is None:
                return
            try:
                store.delete(capture_id)
            except WhdebugError as error:
                self.notify(str(error), title="Delete failed", severity="error")
                return
            self.shell.forget_capture(capture_id)
            self.selected_id = None
            self.capture_list.reset()
            self.notify(f"Deleted capture #{capture_id}.")

        from whdebug.tui.screens.notices import ConfirmScreen
        self.app.push_screen(ConfirmScreen(f"Delete capture #{capture_id} from the store?"),
                             confirmed)

    def action_body_mode(self) -> None:
        if self.details.active != "request":
            self.details.active = "request"
        else:
            self.details.request_view.cycle_body_mode()

    def action_show_tab(self, name: str) -> None:
        self.details.active = name

    @on(EventLab.SnippetRequested)
    def _snippet_requested(self, message: EventLab.SnippetRequested) -> None:
        from whdebug.tui.screens.notices import SnippetScreen
        self.app.push_screen(SnippetScreen(message.suggestion))

    # -- definitions, keys -----------------------------------------------------------------

    def action_load_definition(self) -> None:
        workspace = self.shell.workspace
        if workspace.builtin is not None:
            self.notify(f"The built-in profile {workspace.builtin.name} is in use; start "
                        "whdebug tui without --profile to load a definition file.",
                        title="Definition")
            return
        current = workspace.default.definition_path or str(Path.cwd()) + "/"

        def chosen(path: str | None) -> None:
            if path and path.strip():
                self.shell.load_definition(path.strip())

        from whdebug.tui.screens.prompts import definition_prompt
        self.app.push_screen(definition_prompt(current), chosen)

    def action_reload(self) -> None:
        self.shell.reload()

    def action_toggle_keys(self) -> None:
        """`?` shows or hides Textual's panel of keys for the focused widget."""
        if self.query("HelpPanel"):
            self.app.action_hide_help_panel()
        else:
            self.app.action_show_help_panel()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        workers.notify_failure(self.app, event)

    # -- filter and follow -----------------------------------------------------------------

    def action_filter(self) -> None:
        current = self.capture_filter.text if self.capture_filter is not None else ""
        from whdebug.tui.screens.prompts import filter_prompt
        self.app.push_screen(filter_prompt(current), self._filter_chosen)

    def _filter_chosen(self, text: str | None) -> None:
        if text is None:
            return
        capture_filter = parse_filter(text)
        if not capture_filter:
            self.action_clear_filter()
            return
        self.capture_filter = capture_filter
        self.shell.rows.show_only([])
        self.capture_list.cursor = 0
        self._run_filter(capture_filter)

    def action_clear_filter(self) -> None:
        self.capture_filter = None
        self._filter_token += 1
        self.filter_scanned = (0, True)
        self.shell.rows.show_all()
        self.capture_list.reset()
        if self.selected_id is not None:
            self.capture_list.select(self.selected_id)
        self.refresh_header()

    def _run_filter(self, capture_filter: CaptureFilter, *, only: list[int] | None = None) -> None:
        analyzer = self.shell.analyzer
        if analyzer is None:
            return
        if only is None:
            self._filter_token += 1
            self.shell.rows.show_only([])
            self.capture_list.reset()
            self.filter_scanned = (0, False)
        token = self._filter_token
        index = self._index()
        self.run_worker(lambda: workers.scan_filter(
            analyzer, token, capture_filter, only, self.post_message, index), thread=True,
            exclusive=only is None, group="filter", exit_on_error=False)
        self.refresh_header()

    @on(FilterProgressed)
    def _filter_progressed(self, message: FilterProgressed) -> None:
        if not self.shell.live or message.token != self._filter_token or (
                self.capture_filter is None):
            return
        rows = self.shell.rows
        rows.remember(message.summaries)
        if message.matches:
            before = self.capture_list.capture_id
            rows.extend(message.matches)
            self.capture_list.reset()
            if self.following:
                self.capture_list.cursor = 0
            elif before is not None:
                self.capture_list.select(before)
        if message.done or message.scanned > self.filter_scanned[0]:
            self.filter_scanned = (max(message.scanned, self.filter_scanned[0]), message.done)
        self.settle_verdicts()
        self.refresh_header()

    def action_follow(self) -> None:
        self.following = True
        self.capture_list.cursor = 0
        self.capture_list.scroll_to(y=0, animate=False)
        self.notify("Following the newest capture.", timeout=2)
        self.refresh_header()


@functools.lru_cache(maxsize=8)
def _short_path(path: StoreLocation) -> str:
    """The store as the header shows it (resolved once: the header redraws often)."""
    if not isinstance(path, Path):
        return display_location(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)
