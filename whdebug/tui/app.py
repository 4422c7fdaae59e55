"""WhdebugApp: the store, workspace, analyzer and receiver behind the main screen.

The app owns the data and the background machinery: polling the store for arrivals, watching
definition and credentials files, the embedded receiver, and the dedupe history
(whdebug.tui.history), filled oldest first by one worker at a time in batches that the
`HistoryChecked` handler applies in order. That worker is the one long job (seconds per 10,000
captures), so it yields to the user: it holds off for `QUIET` seconds after every key, click
or scroll, and while the selected capture or the rows on screen are analysed. What is on
screen, and the keys that act on it, belong to `MainScreen` (whdebug.tui.screens.main).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events, on
from textual.app import App
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, get_current_worker

from whdebug.errors import StoreError, WhdebugError
from whdebug.store.base import CaptureStore, StoreLocation, open_store, store_location
from whdebug.tui.analysis import Analysis, Analyzer, RowVerdict, SharedStore
from whdebug.tui.commands import WhdebugCommands
from whdebug.tui.indexing import IndexState, first_parts, first_verdicts, index_state
from whdebug.tui.messages import (
    CapturesArrived,
    DefinitionReloaded,
    FilesChanged,
    HistoryChecked,
    IndexFilled,
    ReceiverChanged,
)
from whdebug.tui.options import TuiOptions
from whdebug.tui.receiver_worker import EmbeddedReceiver
from whdebug.tui.rows import CaptureRows
from whdebug.tui.screens.main import MainScreen
from whdebug.tui.watcher import FileWatcher
from whdebug.tui.widgets.capture_list import CaptureList
from whdebug.tui.widgets.header import WhdebugHeader
from whdebug.tui.workers import Foreground, fill_history, fill_index, notify_failure
from whdebug.tui.workspace import Workspace, build_workspace

if TYPE_CHECKING:
    pass

SWEEP_LIMIT = 5_000
"""Stores up to this size are analysed completely in the background (complete counts)."""
QUIET = 0.25
"""Seconds the dedupe history's worker holds off after a key, a click or a scroll."""
FIRST_FRAME_WAIT = 3.0
"""At most this many seconds background work waits for the first frame."""
STARTUP_QUIET = 1.0
FREEZE_AFTER: float | None = 2.0
"""Seconds after the first frame when the heap built at start-up is frozen (`_freeze_heap`;
None: never, as in the tests, which share one process and its collector)."""
FIRST_SCREENFUL = 200
"""Rows whose verdicts the first frame reads from the index."""
"""Seconds it holds off after the first frame: the first analyses go first."""


class StoreNotified(Message):
    """A shared store's listener heard that some receiver committed captures."""


class WhdebugApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "whdebug"
    COMMANDS = App.COMMANDS | {WhdebugCommands}

    def __init__(
        self,
        options: TuiOptions | None = None,
        *,
        workspace: Workspace | None = None,
        store_path: StoreLocation | None = None,
        watch: bool = True,
        poll_interval: float = 1.0,
        sweep_limit: int = SWEEP_LIMIT,
        notice: str | None = None,
    ) -> None:
        super().__init__()
        self.options = options or TuiOptions()
        self.title = self.options.title
        self.store_path = store_location(store_path or self.options.store_path)
        self.workspace = workspace or build_workspace(self.options)
        self.watch_files = watch
        self.poll_interval = poll_interval
        self.sweep_limit = sweep_limit
        self.startup_notice = notice
        self.store: CaptureStore | None = None
        self._stop_watching: Callable[[], None] | None = None
        self.store_error: str | None = None
        self.analyzer: Analyzer | None = None
        self.index_state: IndexState | None = None
        """The analysis index of the current generation (None: verdicts kept in memory)."""
        self._open_store()
        self.rows = CaptureRows(self.store)
        self._early_verdicts: tuple[frozenset[int], dict[str, bytes] | None,
                                    dict[int, RowVerdict]] | None = None
        """The first screenful's verdicts, read beside the ids (`_read_first_verdicts`)."""
        self.rows.preload(then=self._read_first_verdicts)  # on_mount takes them
        self.receiver = EmbeddedReceiver(self)
        self.receiver.on_arrival = self._poll_store
        self.watcher = FileWatcher(lambda paths: self.post_message(FilesChanged(paths)))
        self.selecting = threading.Event()
        """Set while the selected capture is analysed: background analyses wait for it."""
        self.foreground = Foreground()
        """Workers analysing the rows on screen: the dedupe history's worker waits for them."""
        self.live = False
        """True between mount and unmount: background results are drawn only then."""
        self._quiet_until = 0.0
        self.painted = threading.Event()
        """Set once the first frame is drawn: analyses wait for it (at most FIRST_FRAME_WAIT
        seconds), so the first frame shows rows as soon as they are read."""
        self.main = MainScreen(self)

    def _open_store(self) -> None:
        try:
            self.store = open_store(self.store_path)
            self.analyzer = Analyzer(SharedStore(open_store(self.store_path)), self.workspace,
                                     show_secrets=self.options.show_secrets)
        except StoreError as error:
            if self.store is not None:
                self.store.close()
            self.store, self.store_error = None, str(error)

    def get_default_screen(self) -> Screen[None]:
        return self.main

    def on_mount(self) -> None:
        if self.store is not None:
            try:
                self.rows.reload()
            except StoreError as error:
                self.store_error = str(error)
        self.hold_background(STARTUP_QUIET)
        self.call_after_refresh(self._first_frame)
        self._first_verdicts()
        self.main.capture_list.reset()
        self.main.refresh_banner()
        if self.store_error:
            self.notify(self.store_error, title="Capture store", severity="error", timeout=10)
        if self.startup_notice:
            self.notify(self.startup_notice, timeout=8)
        if self.watch_files:
            self.watcher.watch(self.workspace.watched_paths())
        if self.store is not None:
            self.set_interval(self.poll_interval, self._poll_store, name="poll-store")
            watch = getattr(self.store, "watch", None)
            if watch is not None:  # a shared store says when any receiver added captures
                self._stop_watching = watch(self._store_notified)
            if self.options.listen:
                self._configure_receiver()
                self.receiver.start(self.store_path, self.options.host, self.options.port)
        self.live = True

    def _read_first_verdicts(self, ids: list[int]) -> None:
        """In the thread reading the ids, while Textual starts: the first screenful's
        verdicts (SQLite reads without the GIL). `_first_verdicts` takes them if the profile
        is still the one they were read for; on any error it reads them itself."""
        if self.analyzer is None:
            return
        newest = ids[-FIRST_SCREENFUL:]
        try:
            parts = first_parts(self.analyzer)
            self._early_verdicts = (frozenset(newest), parts,
                                    first_verdicts(self.analyzer, newest, parts))
        except Exception:  # read again, and reported, on the UI thread
            self._early_verdicts = None

    def _first_verdicts(self, screenful: int = FIRST_SCREENFUL) -> None:
        """The first frame shows the newest rows' verdicts when the index has them (one
        read, without the engine; everything else waits for the first frame)."""
        if self.analyzer is None:
            return
        newest = self.rows.ids_between(0, screenful)
        early, self._early_verdicts = self._early_verdicts, None
        try:
            parts = first_parts(self.analyzer)
            if early is not None and early[:2] == (frozenset(newest), parts):
                found = early[2]
            else:
                found = first_verdicts(self.analyzer, newest, parts)
        except WhdebugError:
            return  # the fill's worker says what is wrong
        if found:
            self.analyzer.remember_verdicts(found, self.workspace.generation)

    async def on_unmount(self) -> None:
        self.live = False
        if self._stop_watching is not None:
            self._stop_watching()
        self.watcher.stop()
        await self.receiver.stop()
        if self.analyzer is not None:
            self.analyzer.store.close()
        if self.store is not None:
            self.store.close()

    def _configure_receiver(self) -> None:
        from whdebug.engine import AnalysisOptions

        workspace = self.workspace
        # A profile's deliveries go to the user's own server on any path: the receiver just
        # stores them and answers 200 (the TUI analyses them with the profile).
        definition = None if workspace.builtin is not None else workspace.default_definition
        self.receiver.configure(
            definition, workspace.default_secrets(),
            AnalysisOptions(missing_part=workspace.missing_part, nullish=workspace.nullish))

    # -- what the main screen shows (read by tests and the benchmark) -----------------------

    @property
    def current(self) -> Analysis | None:
        return self.main.current

    @property
    def selected_id(self) -> int | None:
        return self.main.selected_id

    @property
    def shown_at(self) -> float | None:
        return self.main.shown_at

    @property
    def captures(self) -> CaptureList:
        return self.main.capture_list

    @property
    def header_bar(self) -> WhdebugHeader:
        return self.main.header_bar

    # -- arrivals --------------------------------------------------------------------------

    def _store_notified(self) -> None:
        """From the store's listener thread: another receiver committed captures."""
        self.post_message(StoreNotified())  # thread-safe; read on the app's thread

    @on(StoreNotified)
    def _store_changed(self, message: StoreNotified) -> None:
        self._poll_store()

    def _poll_store(self) -> None:
        if self.store is None or not self.live:
            return
        try:
            new = self.store.since(self.rows.latest_id, limit=1000)
        except WhdebugError as error:
            if self.store_error != str(error):
                self.store_error = str(error)
                self.main.refresh_banner()
            return
        if new:
            self.post_message(CapturesArrived(new))

    @on(CapturesArrived)
    def _captures_arrived(self, message: CapturesArrived) -> None:
        if not self.live:
            return
        added = self.rows.add(message.summaries)
        if not added:
            return
        ids = [summary.id for summary in added]
        if self.analyzer is not None:
            self.analyzer.history.arrived(ids)
            self._check_history()
        self.main.captures_added(ids)

    def forget_capture(self, capture_id: int) -> None:
        """A capture was deleted from the store: drop it, and verdicts it may have decided."""
        self.rows.remove(capture_id)
        if self.analyzer is not None:
            self.analyzer.forget(capture_id)
            for affected in self.analyzer.history.forget(capture_id):
                self.analyzer.forget(affected)
            if self.index_state is not None:
                # The store dropped the rows the deletion may change; read the rest again.
                self._restart_history()

    # -- the dedupe history ----------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown | events.MouseScrollDown
                      | events.MouseScrollUp):
            self.hold_background()
        await super().on_event(event)

    def hold_background(self, seconds: float = QUIET) -> None:
        """The user acts: the dedupe history's worker pauses for a moment."""
        self._quiet_until = max(self._quiet_until, time.monotonic() + seconds)

    def _first_frame(self) -> None:
        """The first frame is drawn: now the engine is imported (the history and the index
        need it), and the background work starts."""
        self.hold_background(STARTUP_QUIET)
        self._restart_history()
        self.main.sweep()
        self.painted.set()
        if FREEZE_AFTER is not None:
            self.set_timer(FREEZE_AFTER, self._freeze_heap)

    def _freeze_heap(self) -> None:
        """Once started (the engine imported, every tab mounted): what exists now lives as
        long as the app, so the garbage collector stops scanning it (`gc.freeze`, after one
        last collection). Full collections over it took 60-100 ms with 100,000 captures, and
        landed on keystrokes."""
        gc.collect()
        gc.freeze()

    def _wait_for_quiet(self) -> None:
        """In the history's worker: wait while the user acts, or the selected capture or the
        visible rows are analysed."""
        self.main.wait_for_selection()
        worker = get_current_worker()
        unpainted_until = time.monotonic() + FIRST_FRAME_WAIT
        while not worker.is_cancelled and (
                (not self.painted.is_set() and time.monotonic() < unpainted_until)
                or time.monotonic() < self._quiet_until or self.foreground):
            time.sleep(0.01)

    def _restart_history(self) -> None:
        """A new generation: check every capture again, oldest first, in the background."""
        if self.analyzer is None:
            return
        self.workers.cancel_group(self, "history")
        self.analyzer.restart_history(self.rows.all_ids())
        self.index_state = index_state(self.analyzer)
        self._check_history()

    def _check_history(self) -> None:
        """Hand the captures not checked yet to a worker; one at a time, so they stay in order."""
        analyzer = self.analyzer
        if analyzer is None:
            return
        history = analyzer.history
        capture_ids = history.dispatch()
        state = self.index_state
        if capture_ids and state is not None:
            self.run_worker(lambda: fill_index(
                analyzer, state, history, capture_ids, self.post_message, self._wait_for_quiet),
                thread=True, group="history", exit_on_error=False)
        elif capture_ids:
            self.run_worker(lambda: fill_history(
                analyzer, history, capture_ids, self.post_message, self._wait_for_quiet),
                thread=True, group="history", exit_on_error=False)

    @on(HistoryChecked)
    def _history_checked(self, message: HistoryChecked) -> None:
        analyzer = self.analyzer
        if not self.live or analyzer is None or message.history is not analyzer.history:
            return
        if not message.history.apply(message.checked):
            return
        self.main.settle_verdicts()
        self._check_history()  # captures that arrived meanwhile
        self.main.refresh_header()

    @on(IndexFilled)
    def _index_filled(self, message: IndexFilled) -> None:
        analyzer, state = self.analyzer, message.state
        if (not self.live or analyzer is None or message.history is not analyzer.history
                or state is not self.index_state):
            return
        if message.error is not None:
            self.notify(f"{message.error}; analysing in memory instead", title="Analysis index",
                        severity="warning")
            self.index_state = None
            message.history.dispatched = message.history.checked
            self._check_history()
            return
        if not message.history.apply(message.checked):
            return
        analyzer.remember_verdicts(message.verdicts, state.generation)
        if message.counts is not None:
            state.counts = message.counts
        if message.checked:
            state.frontier = message.checked[-1].capture_id
        self.main.index_filled(list(message.verdicts))
        self._check_history()
        self.main.refresh_header()

    # -- watching and loading definitions --------------------------------------------------

    @on(FilesChanged)
    def _files_changed(self, message: FilesChanged) -> None:
        if not self.live:
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
        """Definitions, secrets or options changed: a new generation, analysed at once."""
        if self.watch_files:
            self.watcher.watch(self.workspace.watched_paths())
        self._configure_receiver()
        self._restart_history()
        self.main.workspace_changed()
        self.post_message(DefinitionReloaded(self.workspace.generation, self.workspace.errors()))

    @on(DefinitionReloaded)
    def _definition_reloaded(self, message: DefinitionReloaded) -> None:
        if self.live and message.errors:
            self.notify(message.errors[0], title="Definition not reloaded", severity="error")

    def load_definition(self, path: str) -> None:
        """Analyse every capture with this definition file from now on (the `d` key)."""
        slot = self.workspace.use_definition(str(Path(path).expanduser()))
        if slot.definition is not None and slot.error is None:
            self.notify(f"Loaded {slot.definition.label} from {slot.path}.")
        self._workspace_changed()

    def reload(self) -> None:
        """Read every definition and the credentials file again."""
        for slot_path in list(self.workspace.slots):
            self.workspace.load(slot_path)
        self.workspace.reload_credentials()
        self._workspace_changed()

    # -- receiver and workers --------------------------------------------------------------

    @on(ReceiverChanged)
    def _receiver_changed(self, message: ReceiverChanged) -> None:
        if not self.live:
            return
        if message.error:
            self.notify(message.error, title="Receiver", severity="error", timeout=10)
        self.main.refresh_header()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        notify_failure(self, event)
