"""The bodies of the app's thread workers: they compute and post messages, nothing else.

Each runs in a Textual thread worker (`App.run_worker(..., thread=True)`), stops when the
worker is cancelled, and hands its results to the app as messages; the app's `@on` handlers
apply them. `wait` lets the selected capture's analysis (and the UI) go first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from textual.app import App
from textual.message import Message
from textual.worker import Worker, WorkerState, get_current_worker

from whdebug.errors import WhdebugError
from whdebug.model.definition import Definition
from whdebug.model.request import CapturedRequest, Secrets
from whdebug.tui.analysis import Analyzer
from whdebug.tui.filters import CaptureFilter, indexed_matches, scan
from whdebug.tui.history import DedupeHistory
from whdebug.tui.indexing import IndexState, fill_batches, indexed_verdicts, open_set
from whdebug.tui.messages import (
    FilterProgressed,
    HistoryChecked,
    IndexFilled,
    ResendFinished,
    SamplesSent,
    VerdictsComputed,
)

Post = Callable[[Message], object]
HISTORY_BATCH = 250
"""Captures the history's worker checks per message."""
HISTORY_IDLE = 0.001
"""Seconds the history's worker idles every 32 captures (about 6 ms of work)."""
FILTER_PAGE = 500


class Foreground:
    """Counts the workers doing what the user is looking at (the visible rows); the dedupe
    history's worker waits while there is any."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self._count += 1

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        with self._lock:
            self._count -= 1

    def __bool__(self) -> bool:
        return self._count > 0


def compute_verdicts(analyzer: Analyzer, capture_ids: list[int], post: Post,
                     wait: Callable[[], None], delay: float = 0.0,
                     foreground: Foreground | None = None,
                     index: Callable[[], IndexState | None] = lambda: None) -> None:
    """Post the verdicts the analysis index holds, then analyse the others oldest first;
    post them 25 at a time (counted in `foreground` while it runs, when given). `index`
    gives the index of the current generation once the first frame is drawn (the app
    keeps one from then on)."""
    if foreground is None:
        _compute_verdicts(analyzer, capture_ids, post, wait, delay, index)
        return
    with foreground:
        _compute_verdicts(analyzer, capture_ids, post, wait, delay, index)


def _compute_verdicts(analyzer: Analyzer, capture_ids: list[int], post: Post,
                      wait: Callable[[], None], delay: float,
                      index_of: Callable[[], IndexState | None]) -> None:
    worker = get_current_worker()
    generation = analyzer.workspace.generation
    time.sleep(delay)  # while scrolling, only the rows the view settles on are analysed
    wait()  # after the first frame
    index = index_of()
    if index is not None and index.generation == generation:
        try:
            open_set(index, analyzer.store)
        except WhdebugError:
            pass  # the fill's worker says so; these rows are analysed here
        found = indexed_verdicts(index, analyzer.store, capture_ids)
        if found:
            analyzer.remember_verdicts(found, generation)
            post(VerdictsComputed(found, generation))
            capture_ids = [i for i in capture_ids if i not in found]
    batch = {}
    for capture_id in sorted(capture_ids):
        if worker.is_cancelled or generation != analyzer.workspace.generation:
            return
        wait()
        batch[capture_id] = analyzer.analyse(capture_id).verdict
        time.sleep(0.0005)
        if len(batch) >= 25:
            post(VerdictsComputed(batch, generation))
            batch = {}
    if batch:
        post(VerdictsComputed(batch, generation))


def fill_history(analyzer: Analyzer, history: DedupeHistory, capture_ids: list[int],
                 post: Post, wait: Callable[[], None]) -> None:
    """Check captures for the dedupe history, oldest first; post them in batches."""
    worker = get_current_worker()
    options = analyzer.history_options()

    checked = 0

    def pause() -> None:
        nonlocal checked
        wait()
        checked += 1
        # Idle a little between captures so the UI thread gets the GIL when it needs it.
        time.sleep(HISTORY_IDLE if checked % 32 == 0 else 0)

    for start in range(0, len(capture_ids), HISTORY_BATCH):
        if worker.is_cancelled or history is not analyzer.history:
            return
        batch = history.check(capture_ids[start:start + HISTORY_BATCH], analyzer.store.get,
                              analyzer.workspace, options, pause)
        post(HistoryChecked(history, batch))


def fill_index(analyzer: Analyzer, state: IndexState, history: DedupeHistory,
               capture_ids: list[int], post: Post, wait: Callable[[], None]) -> None:
    """Fill the analysis index for these captures, oldest first (reading what it holds, and
    analysing the rest); post each batch, which also feeds the dedupe history."""
    worker = get_current_worker()
    analysed = 0

    def pause() -> None:
        nonlocal analysed
        wait()
        analysed += 1
        time.sleep(HISTORY_IDLE if analysed % 32 == 0 else 0)

    def cancelled() -> bool:
        return worker.is_cancelled or history is not analyzer.history

    try:
        for checked, verdicts, counts in fill_batches(state, analyzer.store, history,
                                                      capture_ids, pause, wait, cancelled):
            post(IndexFilled(history, state, checked, verdicts, counts))
    except WhdebugError as error:  # the store cannot keep it: the TUI works without it
        post(IndexFilled(history, state, [], {}, None, error.message))


def scan_filter(analyzer: Analyzer, token: int, capture_filter: CaptureFilter,
                only: list[int] | None, post: Post, index: IndexState | None = None) -> None:
    """Post the matching captures page by page, then (for a full scan) that it is done.

    With the analysis index it is one SQL query (over `only`'s range, for new arrivals or
    newly indexed captures): captures not indexed yet match by path and method alone."""
    worker = get_current_worker()
    if index is not None:
        found = indexed_matches(analyzer.store, index.set_id, capture_filter, only)
        if not worker.is_cancelled:
            post(FilterProgressed(token, found, len(found), only is None, []))
        return
    scanned = 0
    for matches, scanned in scan(analyzer, capture_filter, only=only, page_size=FILTER_PAGE):
        if worker.is_cancelled:
            return
        post(FilterProgressed(token, [s.id for s in matches], scanned, False, matches))
    if only is None:
        post(FilterProgressed(token, [], scanned, True, []))


def send_again(request: CapturedRequest, url: str, post: Post) -> None:
    """Re-send a capture; post the answer, or the one-line reason nothing answered."""
    from whdebug.tools.resend import resend

    try:
        post(ResendFinished(url, resend(request, url)))
    except WhdebugError as error:
        post(ResendFinished(url, None, error.message))


def send_samples(definition: Definition, secrets: Secrets, url: str, post: Post) -> None:
    """One sample delivery per trigger (as `whdebug samples --for` writes them), signed as
    the definition verifies and sent to `url`; post each event's answer."""
    from datetime import UTC, datetime

    from whdebug.tools.resend import resend
    from whdebug.tools.samples import samples_for
    from whdebug.tools.signing import sign_request

    now = datetime.now(UTC)
    results: list[tuple[str, int | None, str | None]] = []
    for sample in samples_for(definition):
        try:
            signed = sign_request(sample.payload, definition, secrets, now=now,
                                  event=sample.event)
            answer = resend(signed.request, url)
        except WhdebugError as error:
            results.append((sample.event, None, error.message))
        else:
            results.append((sample.event, answer.status, None))
    post(SamplesSent(url, results))


def notify_failure(app: App[Any], event: Worker.StateChanged) -> None:
    """A worker died of a bug: say so (the TUI keeps running)."""
    if event.state == WorkerState.ERROR and event.worker.error is not None:
        error = event.worker.error
        app.notify(f"{type(error).__name__}: {error}", title="Internal error",
                   severity="error", timeout=10)
