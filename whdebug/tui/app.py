"""WhdebugApp: the main screen, its keys, its workers and the handlers that own its state."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState, get_current_worker

from whdebug.engine import AnalysisOptions
from whdebug.errors import StoreError, WhdebugError
from whdebug.store.store import Store, default_store_path
from whdebug.tui.actions import CaptureActions
from whdebug.tui.analysis import Analysis, Analyzer, RowVerdict, SharedStore
from whdebug.tui.commands import WhdebugCommands
from whdebug.tui.filters import CaptureFilter, parse_filter, scan
from whdebug.tui.messages import (
    AnalysisCompleted,
    CapturesArrived,
    DefinitionReloaded,
    FilesChanged,
    FilterProgressed,
    ReceiverChanged,
    VerdictsComputed,
)
from whdebug.tui.options import TuiOptions
from whdebug.tui.receiver_worker import EmbeddedReceiver
from whdebug.tui.rows import CaptureRows
from whdebug.tui.screens.prompts import (
    definition_prompt,
    filter_prompt,
)
from whdebug.tui.watcher import FileWatcher
from whdebug.tui.widgets.capture_list import CaptureList
from whdebug.tui.widgets.definition_view import DefinitionView
from whdebug.tui.widgets.detail import DetailPane
from whdebug.tui.widgets.event_lab import EventLab
from whdebug.tui.widgets.header import HeaderState, WhdebugHeader
from whdebug.tui.widgets.pipeline import PipelineView
from whdebug.tui.widgets.request_view import RequestView
from whdebug.tui.widgets.signature_lab import SignatureLab
from whdebug.tui.workspace import DefinitionSlot, Profile, Workspace, find_definition

SWEEP_LIMIT = 5_000
"""Stores up to this size are analysed completely in the background (complete counts)."""
_FILTER_PAGE = 500
_ROWS_DELAY = 0.05
"""Seconds visible rows wait before being analysed, so the selected capture goes first."""
_TABS = ("pipeline", "signature", "event", "request", "definition")
_TAB_LABELS = {"pipeline": ("Pipeline", "Pipeline"), "signature": ("Signature", "Sig"),
               "event": ("Event", "Event"), "request": ("Request", "Req"),
               "definition": ("Definition", "Def")}
_WIDE = 140
"""From this width on the capture list gets more room, enough for method and path."""
_NARROW = 100
"""In terminals narrower than this the tab labels are abbreviated so all five stay visible."""


def build_workspace(options: TuiOptions, directory: Path | None = None) -> Workspace:
    """The workspace for `whdebug` / `whdebug tui`: one profile from the command line.

    With `options.profile` every capture is analysed with that built-in profile: no
    definition file is loaded or discovered (an unknown name raises WhdebugError).
    """
    builtin = None
    definition_path = options.definition_path
    if options.profile is not None:
        from whdebug.tools.profiles import get_profile

        builtin = get_profile(options.profile)
        definition_path = None
    elif definition_path is None and options.discover_definition:
        definition_path = find_definition(directory or Path.cwd())
    profile = Profile(str(definition_path) if definition_path else None,
                      dict(options.credentials), dict(options.config), options.now)
    return Workspace(profile, credentials_path=options.credentials_path,
                     missing_part=options.missing_part, nullish=options.nullish,
                     builtin=builtin)


class WhdebugApp(CaptureActions):
    CSS_PATH = "app.tcss"
    TITLE = "whdebug"
    COMMANDS = App.COMMANDS | {WhdebugCommands}
    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("f", "follow", "Follow"),
        Binding("e", "export", "Export"),
        Binding("c", "copy_curl", "Curl"),
        Binding("r", "resend", "Resend"),
        Binding("d", "load_definition", "Def"),
        Binding("s", "try_secret", "Secret"),
        Binding("x", "delete", "Delete"),
        Binding("b", "body_mode", "Body", show=False),
        Binding("question_mark", "toggle_keys", "Keys", show=False),
        Binding("q", "quit", "Quit"),
        *(Binding(str(n), f"show_tab('{name}')", name.title(), show=False)
          for n, name in enumerate(_TABS, 1)),
    ]

    def __init__(
        self,
        options: TuiOptions | None = None,
        *,
        workspace: Workspace | None = None,
        store_path: Path | None = None,
        watch: bool = True,
        poll_interval: float = 1.0,
        sweep_limit: int = SWEEP_LIMIT,
        notice: str | None = None,
    ) -> None:
        super().__init__()
        self.options = options or TuiOptions()
        self.title = self.options.title
        self.store_path = store_path or self.options.store_path or default_store_path()
        self.workspace = workspace or build_workspace(self.options)
        self.watch_files = watch
        self.poll_interval = poll_interval
        self.sweep_limit = sweep_limit
        self.startup_notice = notice
        self.store: Store | None = None
        self.store_error: str | None = None
        self.analyzer: Analyzer | None = None
        self._open_store()
        self.rows = CaptureRows(self.store)
        self.selected_id: int | None = None
        self.current: Analysis | None = None
        self.following = True
        self.capture_filter: CaptureFilter | None = None
        self._filter_token = 0
        self._filter_scanned: tuple[int, bool] = (0, True)
        self.receiver = EmbeddedReceiver(self)
        self.receiver.on_arrival = self._poll_store
        self.watcher = FileWatcher(lambda paths: self.post_message(FilesChanged(paths)))
        self._resend_url: str | None = None
        self._selecting = threading.Event()
        """Set while the selected capture is analysed: row analyses wait for it."""
        self._live = False
        """True between mount and unmount: background results are drawn only then."""
        self.header_bar = WhdebugHeader(id="header")
        self.banner = Static(id="banner", markup=False)
        self.capture_list = CaptureList(self.rows, self._verdict_of, id="captures")
        self.tabs = TabbedContent(id="tabs", initial="pipeline")
        self.request_view = RequestView(id="request-view")
        self.definition_view = DefinitionView(id="definition-view")
        self.event_lab = EventLab(id="event-view")
        self.panes: dict[str, DetailPane] = {
            "pipeline": PipelineView(id="pipeline-view"),
            "signature": SignatureLab(id="signature-view"),
            "event": self.event_lab,
            "request": self.request_view,
            "definition": self.definition_view,
        }
        self.footer_bar = Footer(compact=True)
        self.shown_at: float | None = None
        """perf_counter() when an analysis was last drawn (the benchmark reads it)."""

    def _open_store(self) -> None:
        try:
            self.store = Store.open(self.store_path)
            self.analyzer = Analyzer(SharedStore(Store.open(self.store_path)), self.workspace)
        except StoreError as error:
            if self.store is not None:
                self.store.close()
            self.store, self.store_error = None, str(error)

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.header_bar
        yield self.banner
        with Horizontal(id="main"):
            yield self.capture_list
            with self.tabs:
                for pane_id, pane in self.panes.items():
                    with TabPane(_TAB_LABELS[pane_id][0], id=pane_id):
                        yield pane
        yield self.footer_bar

    def on_mount(self) -> None:
        self.on_resize()
        self.event_lab.missing_part = self.workspace.missing_part
        if self.store is not None:
            try:
                self.rows.reload()
            except StoreError as error:
                self.store_error = str(error)
        self.captures.reset()
        self.captures.focus()
        self._show_analysis(None)
        self._refresh_banner()
        self._refresh_header()
        if self.store_error:
            self.notify(self.store_error, title="Capture store", severity="error", timeout=10)
        if self.startup_notice:
            self.notify(self.startup_notice, timeout=8)
        if self.watch_files:
            self.watcher.watch(self.workspace.watched_paths())
        if self.store is not None:
            self.set_interval(self.poll_interval, self._poll_store, name="poll-store")
            if self.options.listen:
                self._configure_receiver()
                self.receiver.start(self.store_path, self.options.host, self.options.port)
        self._sweep()
        self._live = True

    async def on_unmount(self) -> None:
        self._live = False
        self.watcher.stop()
        await self.receiver.stop()
        if self.analyzer is not None:
            self.analyzer.store.close()
        if self.store is not None:
            self.store.close()

    def _configure_receiver(self) -> None:
        workspace = self.workspace
        # A profile's deliveries go to the user's own server on any path: the receiver just
        # stores them and answers 200 (the TUI analyses them with the profile).
        definition = None if workspace.builtin is not None else workspace.default_definition
        self.receiver.configure(
            definition, workspace.default_secrets(),
            AnalysisOptions(missing_part=workspace.missing_part, nullish=workspace.nullish))

    def on_resize(self) -> None:
        tabs = self.tabs
        narrow = self.size.width < _NARROW
        self.footer_bar.show_command_palette = not narrow
        self.capture_list.styles.width = "55%" if self.size.width >= _WIDE else "45%"
        for pane_id, labels in _TAB_LABELS.items():
            tab = tabs.get_tab(pane_id)
            label = labels[1] if narrow else labels[0]
            if str(tab.label) != label:
                tab.label = label

    def action_toggle_keys(self) -> None:
        """`?` shows or hides Textual's panel of keys for the focused widget."""
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    @property
    def captures(self) -> CaptureList:
        return self.capture_list

    def _verdict_of(self, capture_id: int) -> RowVerdict | None:
        return self.analyzer.verdict(capture_id) if self.analyzer is not None else None

    # -- header and banner -----------------------------------------------------------------

    def _definition_slot(self) -> DefinitionSlot | None:
        if self.workspace.builtin_slot is not None:
            return self.workspace.builtin_slot
        path = self.current.definition_path if self.current is not None else None
        if path is None and self.selected_id is not None:
            summary = self.rows.summary(self.selected_id)
            if summary is not None:
                path = self.workspace.profile_for(summary.id, summary.path).definition_path
        path = path or self.workspace.default.definition_path
        return self.workspace.slots.get(path) if path else None

    def _refresh_header(self) -> None:
        slot = self._definition_slot()
        definition = slot.definition if slot is not None else None
        builtin = self.workspace.builtin
        if builtin is not None:
            # Karzoun posts to the user's own server: any path, no /miniapps/{ns}/webhooks.
            path = str(builtin.definition.extra.get("webhookPath") or "/")
            receiver_url = f"{self.receiver.base_url}{path}"
            label: str | None = builtin.name
        else:
            ns = definition.ns if definition is not None and definition.ns else "{ns}"
            receiver_url = f"{self.receiver.base_url}/miniapps/{ns}/webhooks"
            label = definition.label if definition is not None else None
        counts = self.analyzer.counts() if self.analyzer is not None else {}
        scanned, done = self._filter_scanned
        filter_text = None
        if self.capture_filter is not None:
            filter_text = self.capture_filter.text + (
                "" if done else f" (scanning {scanned:,}/{self.rows.total:,})")
        state = HeaderState(
            title=self.options.title,
            receiver_url=receiver_url,
            listening=self.receiver.listening,
            receiver_error=self.receiver.error,
            store=_short_path(self.store_path),
            definition=label,
            total=self.rows.total,
            analysed=sum(counts.values()),
            counts=tuple(sorted((k, v) for k, v in counts.items() if v)),
            following=self.following,
            filter_text=filter_text,
        )
        self.header_bar.set_state(state)

    def _refresh_banner(self) -> None:
        banner = self.banner
        messages = []
        if self.store_error:
            messages.append(f"Capture store: {self.store_error}")
        messages += [f"Definition error (keeping the last good version): {message}"
                     for message in self.workspace.definition_errors()]
        if self.workspace.credentials_error:
            messages.append(f"Credentials (keeping the last good ones): "
                            f"{self.workspace.credentials_error}")
        info = not messages and self.workspace.default_definition is None and not any(
            slot.definition for slot in self.workspace.slots.values())
        if info:
            messages.append("No definition loaded: press d to load one "
                            "(or start with --definition FILE).")
        banner.update("\n".join(messages))
        banner.set_class(bool(messages), "-shown")
        banner.set_class(info, "-info")

    # -- selection and analysis ------------------------------------------------------------

    @on(CaptureList.Highlighted)
    def _capture_highlighted(self, message: CaptureList.Highlighted) -> None:
        self.selected_id = message.capture_id
        self.following = self.captures.cursor == 0
        if message.capture_id is None or self.analyzer is None:
            self.current = None
            self._show_analysis(None)
            self._refresh_header()
            return
        cached = self.analyzer.cached(message.capture_id)
        if cached is not None:
            self._show_analysis(cached)
        else:
            self.analyse_selected(message.capture_id)
        self._refresh_header()

    @work(thread=True, exclusive=True, exit_on_error=False, group="selected")
    def analyse_selected(self, capture_id: int, trial_secret: str | None = None) -> None:
        assert self.analyzer is not None
        self._selecting.set()
        try:
            analysis = self.analyzer.analyse(capture_id, trial_secret=trial_secret)
        finally:
            self._selecting.clear()
        self.post_message(AnalysisCompleted(analysis))

    @on(AnalysisCompleted)
    def _analysis_completed(self, message: AnalysisCompleted) -> None:
        if not self._live:
            return
        analysis = message.analysis
        self.captures.refresh()
        if (analysis.capture_id != self.selected_id
                or analysis.generation != self.workspace.generation):
            return
        self._show_analysis(analysis)
        if analysis.trial and analysis.report is not None:
            report = analysis.report
            self.notify(f"With the typed secret: signature {report.signature.verdict}, "
                        f"outcome {report.outcome.status}.", title="Try a secret")

    def _show_analysis(self, analysis: Analysis | None) -> None:
        self.current = analysis
        active = self.tabs.active
        for pane_id, pane in self.panes.items():
            if pane is not self.definition_view:
                pane.show(analysis, visible=pane_id == active)
        definition_view = self.definition_view
        definition_view.analysis = analysis
        definition_view.show_slot(self._definition_slot(), visible=active == "definition")
        self._refresh_header()
        self.shown_at = time.perf_counter()

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, message: TabbedContent.TabActivated) -> None:
        pane = self.panes.get(message.pane.id or "")
        if pane is not None:
            pane.reveal()

    # -- rows: visible verdicts, background sweep, arrivals --------------------------------

    @on(CaptureList.RowsShown)
    def _rows_shown(self, message: CaptureList.RowsShown) -> None:
        if not self._live:
            return
        if self.analyzer is not None:
            self._analyse_rows(message.capture_ids, "rows")

    def _analyse_rows(self, capture_ids: list[int], group: str) -> None:
        missing = [i for i in capture_ids if self._verdict_of(i) is None]
        delay = _ROWS_DELAY if group == "rows" else 0.0
        if missing:
            self.run_worker(lambda: self._compute_verdicts(missing, delay), thread=True,
                            exclusive=group != "arrivals", group=group, exit_on_error=False)

    def _compute_verdicts(self, capture_ids: list[int], delay: float = 0.0) -> None:
        assert self.analyzer is not None
        worker = get_current_worker()
        generation = self.workspace.generation
        time.sleep(delay)  # while scrolling, only the rows the view settles on are analysed
        batch = {}
        for capture_id in sorted(capture_ids):
            if worker.is_cancelled or generation != self.workspace.generation:
                return
            # The selected capture's analysis and the UI go first.
            while self._selecting.is_set() and not worker.is_cancelled:
                time.sleep(0.002)
            batch[capture_id] = self.analyzer.analyse(capture_id).verdict
            time.sleep(0.0005)
            if len(batch) >= 25:
                self.post_message(VerdictsComputed(batch, generation))
                batch = {}
        if batch:
            self.post_message(VerdictsComputed(batch, generation))

    def _sweep(self) -> None:
        if self.analyzer is not None and 0 < self.rows.total <= self.sweep_limit:
            self._analyse_rows(self.rows.ids_between(0, self.rows.total), "sweep")

    @on(VerdictsComputed)
    def _verdicts_computed(self, message: VerdictsComputed) -> None:
        if not self._live:
            return
        if message.generation == self.workspace.generation:
            self.captures.refresh()
            self._refresh_header()

    def _poll_store(self) -> None:
        if self.store is None or not self._live:
            return
        try:
            new = self.store.since(self.rows.latest_id, limit=1000)
        except WhdebugError as error:
            if self.store_error != str(error):
                self.store_error = str(error)
                self._refresh_banner()
            return
        if new:
            self.post_message(CapturesArrived(new))

    @on(CapturesArrived)
    def _captures_arrived(self, message: CapturesArrived) -> None:
        if not self._live:
            return
        added = self.rows.add(message.summaries)
        if not added:
            return
        ids = [summary.id for summary in added]
        if self.capture_filter is not None:
            self._run_filter(self.capture_filter, only=ids)
        else:
            self.captures.rows_added(len(added), follow=self.following)
        self._analyse_rows(ids, "arrivals")
        self._refresh_header()

    # -- watching and loading definitions --------------------------------------------------

    @on(FilesChanged)
    def _files_changed(self, message: FilesChanged) -> None:
        if not self._live:
            return
        credentials = self.workspace.credentials_path
        for path in message.paths:
            if credentials is not None and path == credentials.resolve():
                self.workspace.reload_credentials()
            for slot_path in list(self.workspace.slots):
                if Path(slot_path).resolve() == path:
                    self.workspace.load(slot_path)
        self._workspace_changed()

    def _workspace_changed(self) -> None:
        """Definitions, secrets or options changed: re-analyse what is on screen at once."""
        if self.watch_files:
            self.watcher.watch(self.workspace.watched_paths())
        self._configure_receiver()
        self._refresh_banner()
        if self.selected_id is not None and self.analyzer is not None:
            self.analyse_selected(self.selected_id)
        self.captures.reset()
        if self.capture_filter is not None:
            self._run_filter(self.capture_filter)
        self._sweep()
        self._refresh_header()
        self.post_message(DefinitionReloaded(self.workspace.generation, self.workspace.errors()))

    @on(DefinitionReloaded)
    def _definition_reloaded(self, message: DefinitionReloaded) -> None:
        if not self._live:
            return
        if message.errors:
            self.notify(message.errors[0], title="Definition not reloaded", severity="error")

    def action_load_definition(self) -> None:
        if self.workspace.builtin is not None:
            self.notify(f"The built-in profile {self.workspace.builtin.name} is in use; start "
                        "whdebug tui without --profile to load a definition file.",
                        title="Definition")
            return
        current = self.workspace.default.definition_path or str(Path.cwd()) + "/"
        self.push_screen(definition_prompt(current), self._definition_chosen)

    def _definition_chosen(self, path: str | None) -> None:
        if not path or not path.strip():
            return
        slot = self.workspace.use_definition(str(Path(path.strip()).expanduser()))
        if slot.definition is not None and slot.error is None:
            self.notify(f"Loaded {slot.definition.label} from {slot.path}.")
        self._workspace_changed()

    def action_reload(self) -> None:
        for slot_path in list(self.workspace.slots):
            self.workspace.load(slot_path)
        self.workspace.reload_credentials()
        self._workspace_changed()

    # -- filter and follow -----------------------------------------------------------------

    def action_filter(self) -> None:
        current = self.capture_filter.text if self.capture_filter is not None else ""
        self.push_screen(filter_prompt(current), self._filter_chosen)

    def _filter_chosen(self, text: str | None) -> None:
        if text is None:
            return
        capture_filter = parse_filter(text)
        if not capture_filter:
            self.action_clear_filter()
            return
        self.capture_filter = capture_filter
        self.rows.show_only([])
        self.captures.cursor = 0
        self._run_filter(capture_filter)

    def action_clear_filter(self) -> None:
        self.capture_filter = None
        self._filter_token += 1
        self._filter_scanned = (0, True)
        self.rows.show_all()
        self.captures.reset()
        if self.selected_id is not None:
            self.captures.select(self.selected_id)
        self._refresh_header()

    def _run_filter(self, capture_filter: CaptureFilter, *, only: list[int] | None = None) -> None:
        if self.analyzer is None:
            return
        if only is None:
            self._filter_token += 1
            self.rows.show_only([])
            self.captures.reset()
            self._filter_scanned = (0, False)
        token = self._filter_token
        self.run_worker(lambda: self._scan(token, capture_filter, only), thread=True,
                        exclusive=only is None, group="filter", exit_on_error=False)
        self._refresh_header()

    def _scan(self, token: int, capture_filter: CaptureFilter, only: list[int] | None) -> None:
        """Post the matching captures page by page (a thread worker)."""
        assert self.analyzer is not None
        worker = get_current_worker()
        scanned = 0
        for matches, scanned in scan(self.analyzer, capture_filter, only=only,
                                     page_size=_FILTER_PAGE):
            if worker.is_cancelled:
                return
            self.post_message(FilterProgressed(token, [s.id for s in matches], scanned, False,
                                               matches))
        if only is None:
            self.post_message(FilterProgressed(token, [], scanned, True, []))

    @on(FilterProgressed)
    def _filter_progressed(self, message: FilterProgressed) -> None:
        if not self._live:
            return
        if message.token != self._filter_token or self.capture_filter is None:
            return
        self.rows.remember(message.summaries)
        if message.matches:
            before = self.captures.capture_id
            self.rows.extend(message.matches)
            self.captures.reset()
            if self.following:
                self.captures.cursor = 0
            elif before is not None:
                self.captures.select(before)
        if message.done or message.scanned > self._filter_scanned[0]:
            self._filter_scanned = (max(message.scanned, self._filter_scanned[0]),
                                    message.done)
        self._refresh_header()

    def action_follow(self) -> None:
        self.following = True
        self.captures.cursor = 0
        self.captures.scroll_to(y=0, animate=False)
        self.notify("Following the newest capture.", timeout=2)
        self._refresh_header()

    # -- receiver and workers --------------------------------------------------------------

    @on(ReceiverChanged)
    def _receiver_changed(self, message: ReceiverChanged) -> None:
        if not self._live:
            return
        if message.error:
            self.notify(message.error, title="Receiver", severity="error", timeout=10)
        self._refresh_header()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            self.notify(f"{type(error).__name__}: {error}", title="Internal error",
                        severity="error", timeout=10)


def _short_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)

