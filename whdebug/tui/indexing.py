"""The TUI's side of the analysis index (whdebug.store.index): which set, how far it is filled.

When every capture is analysed with one profile (the normal TUI: one definition, one
credentials file), the verdicts live in the store, keyed by the fingerprint of that profile.
One worker at a time fills them oldest first through the set's `IndexFill` (one
ReplaySession: arrival order), and the same batches feed the dedupe history the selected
capture is analysed against, so the store is replayed once, not twice. The capture list's
verdicts, its counts and `/` filters are then read from the store (SQL), and a restarted
TUI with an unchanged definition finds every verdict already there.

The demo (a profile per capture) has no single fingerprint: it keeps the in-memory way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from whdebug.store.analyses import AnalysisRow, AnalysisSet
from whdebug.store.base import indexed, supports_index
from whdebug.store.fingerprints import parts_but_findings, set_without_findings
from whdebug.tui.analysis import Analyzer, RowVerdict, SharedStore
from whdebug.tui.history import Checked, DedupeHistory
from whdebug.tui.workspace import Resolved

if TYPE_CHECKING:
    from whdebug.store.index import IndexFill, IndexProfile

Batch = tuple[list[Checked], dict[int, RowVerdict], dict[str, int] | None]
FILL_BATCH = 500
"""Captures per posted batch (reading rows the index holds is cheap; analysing is not)."""
COUNTS_EVERY = 0.3
"""Seconds between two SQL counts while the index fills (and one at the end)."""


@dataclass
class IndexState:
    """One generation's analysis set and how far its fill has come (UI thread writes)."""

    generation: int
    profile: IndexProfile
    resolved: Resolved
    analysis_set: AnalysisSet | None = None
    fill: IndexFill | None = None
    counts: dict[str, int] = field(default_factory=dict)
    """Verdicts by outcome (SQL, refreshed as the fill goes)."""
    frontier: int = 0
    """Every capture up to this id has a row."""
    error: str | None = None

    @property
    def set_id(self) -> int | None:
        return self.analysis_set.id if self.analysis_set is not None else None

    @property
    def indexed(self) -> int:
        return sum(self.counts.values())


def index_state(analyzer: Analyzer) -> IndexState | None:
    """The index of the one profile every capture is analysed with, for the current
    generation; None when there is no such profile (the demo) or no definition."""
    resolved = _indexed_profile(analyzer)
    if resolved is None:
        return None
    from whdebug.store.index import IndexProfile

    profile = IndexProfile(resolved.definition, resolved.secrets, analyzer.analysis_options(),
                           now=resolved.now, builtin=resolved.builtin, plan=resolved.plan)
    return IndexState(analyzer.workspace.generation, profile, resolved)


def _indexed_profile(analyzer: Analyzer) -> Resolved | None:
    """The one profile every capture is analysed with, resolved, when its verdicts can come
    from the store's index; None when there is no such profile (the demo), no definition,
    or a store without an index."""
    workspace = analyzer.workspace
    if not workspace.single_group or not supports_index(analyzer.store.store):
        return None
    return workspace.resolve(0, "/")


_OPENING = threading.Lock()


def open_set(state: IndexState, shared: SharedStore) -> AnalysisSet:
    """In a worker: the state's analysis set, opened (or created) by the first caller (the
    visible rows' worker reads their verdicts from it before the fill starts)."""
    from whdebug.store.index import prepare

    with _OPENING:
        if state.analysis_set is None:
            with shared.lock:
                state.analysis_set = prepare(shared.store, state.profile)
        return state.analysis_set


def verdict_of(row: AnalysisRow) -> RowVerdict:
    """What the capture list shows for an index row (as `Analysis.verdict` does)."""
    note = row.problem if row.outcome == "none" else (
        f"({row.if_event})" if row.if_event is not None else None)
    return RowVerdict(row.event, row.signature, row.outcome, row.codes, note, row.duplicate_of)


def fill_batches(state: IndexState, shared: SharedStore, history: DedupeHistory,
                 capture_ids: list[int], pause: Callable[[], None],
                 between: Callable[[], None], cancelled: Callable[[], bool]) -> Iterator[Batch]:
    """In a worker: prepare the set (first call), then yield (checked, verdicts, counts) per
    batch of `capture_ids`, oldest first; counts is None between two SQL counts. `between`
    runs before each batch (the app holds it while the user acts), `pause` before each
    capture analysed."""
    from whdebug.store.index import IndexFill

    if state.fill is None:
        between()  # after the first frame: hashing the engine's source can wait
        state.fill = IndexFill(open_set(state, shared), state.profile)
    fill, set_id = state.fill, state.fill.set.id
    group = history.register(state.resolved, fill.session.options)
    counted = 0.0
    for rows in fill.run(shared, capture_ids, batch=FILL_BATCH, pause=pause, between=between,
                         cancelled=cancelled):
        checked = [Checked(row.capture_id, None if row.outcome == "none" else group,
                           row.transaction_id) for row in rows]
        verdicts = {row.capture_id: verdict_of(row) for row in rows}
        counts = None
        last = rows[-1].capture_id == capture_ids[-1]
        if last or time.monotonic() - counted > COUNTS_EVERY:
            with shared.lock:
                counts = indexed(shared.store).analysis_counts(set_id)
            counted = time.monotonic()
        yield checked, verdicts, counts


def first_parts(analyzer: Analyzer) -> dict[str, bytes] | None:
    """The current profile's fingerprint but the definition's findings (which only the
    engine computes and which the other parts decide, whdebug.store.fingerprints); None
    when the first frame reads no verdict from the index."""
    resolved = _indexed_profile(analyzer)
    if resolved is None:
        return None
    try:
        return parts_but_findings(
            resolved.definition.data, resolved.secrets, analyzer.analysis_options_part(),
            resolved.now, resolved.builtin.name if resolved.builtin else None)
    except ValueError:  # not encodable (a lone surrogate): the fill's worker says so
        return None


def first_verdicts(analyzer: Analyzer, capture_ids: list[int],
                   parts: dict[str, bytes] | None) -> dict[int, RowVerdict]:
    """Before the first frame and without the engine: the verdicts an existing set with
    these `first_parts` holds for these captures (the first screenful), read without
    writing (the fill's worker opens the set, or creates it, after the first frame)."""
    if not capture_ids or parts is None:
        return {}
    shared = analyzer.store
    with shared.lock:
        store = indexed(shared.store)
        found = set_without_findings(store.other_analysis_sets(-1), store.analysis_salt(),
                                     parts)
        if found is None:
            return {}
        rows = store.analyses_between(found.id, min(capture_ids), max(capture_ids))
    wanted = set(capture_ids)
    return {i: verdict_of(row) for i, row in rows.items() if i in wanted}


def indexed_verdicts(state: IndexState | None, shared: SharedStore,
                     capture_ids: list[int]) -> dict[int, RowVerdict]:
    """Verdicts the index already holds for these captures (final: made in arrival order)."""
    if state is None or state.set_id is None or not capture_ids:
        return {}
    with shared.lock:
        rows = indexed(shared.store).analyses_between(state.set_id, min(capture_ids),
                                                      max(capture_ids))
    wanted = set(capture_ids)
    return {i: verdict_of(row) for i, row in rows.items() if i in wanted}
