"""The analysis index: which verdicts a definition and its credentials give every capture.

Kept in the store (whdebug.store.analyses) per *fingerprint*: a keyed hash (HMAC-SHA256 with
the store's random salt) of each part that decides a verdict — the definition split by the
runtime step that reads it, the credentials, the analysis options, the clock, the built-in
profile and the engine's own source. The fingerprint and its parts are hashes under a key
that never leaves the store, so they reveal no secret beyond what the store's captures (their
signatures over known bodies) already do.

Filling follows the one dedupe rule: one `ReplaySession` replays the captures oldest first, so
every capture is deduplicated against every earlier one in arrival order. A fill may stop at
any point; the next one settles the kept rows' transaction ids into its session before it
analyses the first missing capture.

Incremental updates: when the fingerprint changes, `reusable_outcomes` compares the parts
once and says which verdicts cannot change. A capture the runtime stops before event
extraction (a challenge, or a rejected signature) depends only on the steps up to
verification, and on event extraction for the event it would carry once verified; so when
only later steps changed (event extraction, transaction id, customer, sync, triggers,
response), those rows are carried over and only the accepted captures are analysed again.
Any other change, or a part this module does not know, re-runs everything.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.pool import RemoteTraceback  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from whdebug.engine.analyze import AnalysisOptions
from whdebug.engine.plan import Plan, compile_definition
from whdebug.engine.report import Report
from whdebug.engine.session import ReplaySession, accepted_transaction
from whdebug.errors import WhdebugError
from whdebug.model.definition import Definition
from whdebug.model.request import Capture, Secrets
from whdebug.store.analyses import AnalysisRow, AnalysisSet
from whdebug.store.base import indexed as indexed  # also read from here
from whdebug.store.base import supports_index as supports_index
from whdebug.store.fingerprints import (  # noqa: F401 (also read from here)
    ALL_OUTCOMES,
    FINDINGS,
    INDEX_VERSION,
    canonical,
    changed_parts,
    engine_digest,
    fingerprint,
    options_part,
    parts_but_findings,
    reusable_outcomes,
)

if TYPE_CHECKING:
    from whdebug.tools.profiles import Profile as BuiltinProfile

FILL_BATCH = 250
READ_RANGE = 2000
"""Captures read per query while filling."""
PARALLEL_RUN = 1000
"""Runs of fewer missing captures are analysed in this process (workers cost more)."""
CLI_BATCH = 5000
"""Captures per batch when the CLI fills (one transaction, and one set of workers, each)."""


@dataclass(frozen=True, slots=True)
class IndexProfile:
    """Everything that decides a capture's verdict in one index."""

    definition: Definition
    secrets: Secrets
    options: AnalysisOptions = AnalysisOptions()
    now: datetime | None = None
    """Judge timestamps at this time; None: at each capture's arrival."""
    builtin: BuiltinProfile | None = None
    plan: Plan | None = None

    def clock(self, capture: Capture) -> datetime:
        return self.now or capture.source.received_at or datetime.now(UTC)

    def session(self) -> ReplaySession:
        """A fresh session replaying captures in arrival order (no window)."""
        analyzer = None
        if self.builtin is not None:
            from whdebug.tools.profiles import analyze_profile

            analyzer = functools.partial(analyze_profile, profile=self.builtin,
                                         secrets=self.secrets)
        return ReplaySession(self.definition, self.secrets, now=self.clock,
                             options=self.options, analyzer=analyzer)


# -- fingerprints (whdebug.store.fingerprints) --------------------------------------------------

def profile_parts(profile: IndexProfile) -> dict[str, bytes]:
    """The parts of a fingerprint, in clear (hash them with `fingerprint`; never store)."""
    plan = profile.plan or compile_definition(profile.definition)
    options = profile.options
    parts = parts_but_findings(
        profile.definition.data, profile.secrets,
        options_part(options.missing_part, options.nullish, options.diagnose,
                     options.expected_body, len(options.peers)),
        profile.now, profile.builtin.name if profile.builtin else None)
    parts[FINDINGS] = canonical([[f.code, f.pointer, f.message] for f in plan.findings])
    return parts


# -- filling ----------------------------------------------------------------------------------

class IndexStore(Protocol):
    """What filling needs from a store (a Store, or the TUI's shared one)."""

    def get(self, capture_id: int) -> Capture: ...

    def analyses_between(self, set_id: int, first: int, last: int) -> dict[int, AnalysisRow]: ...

    def put_analyses(self, set_id: int, rows: Sequence[AnalysisRow]) -> None: ...


def row_of(capture_id: int, report: Report) -> AnalysisRow:
    """The verdict the index keeps from a report."""
    hypothetical = report.outcome.if_verified
    if_event = hypothetical.get("event") if hypothetical else None
    return AnalysisRow(capture_id, report.event.value, report.outcome.status,
                       report.signature.verdict, tuple(report.codes()),
                       if_event if isinstance(if_event, str) else None,
                       report.transaction.duplicate_of, accepted_transaction(report))


class _Value(msgspec.Struct):
    value: str | None = None


class _Verdict(msgspec.Struct):
    verdict: str


class _Outcome(msgspec.Struct):
    status: str
    if_verified: dict[str, Any] | None = None


class _Transaction(msgspec.Struct):
    id: str | None = None
    duplicate_of: int | str | None = None


class _Code(msgspec.Struct):
    code: str


class _Line(msgspec.Struct):
    """What `row_of` reads, from a report's JSON line."""

    event: _Value
    signature: _Verdict
    outcome: _Outcome
    transaction: _Transaction
    findings: list[_Code] = []


_LINE = msgspec.json.Decoder(_Line)


def row_of_line(capture_id: int, line: str) -> AnalysisRow:
    """`row_of` the report whose JSON line (`ReplaySession.encode`) this is."""
    try:
        report = _LINE.decode(line)
    except msgspec.DecodeError:  # a lone surrogate ("\ud800"), which msgspec refuses
        report = msgspec.convert(json.loads(line), _Line)
    hypothetical = report.outcome.if_verified
    if_event = hypothetical.get("event") if hypothetical else None
    status = report.outcome.status
    return AnalysisRow(capture_id, report.event.value, status, report.signature.verdict,
                       tuple(finding.code for finding in report.findings),
                       if_event if isinstance(if_event, str) else None,
                       report.transaction.duplicate_of,
                       None if status in ("rejected", "challenge") else report.transaction.id)

def prepare(store: Any, profile: IndexProfile) -> AnalysisSet:
    """Open (or create) the analysis set of `profile` in a Store; a new set takes the rows
    that cannot change from the most recent set they can come from."""
    whole, hashed = fingerprint(store.analysis_salt(), profile_parts(profile))
    analysis_set: AnalysisSet = store.open_analysis_set(whole, hashed)
    if analysis_set.created:
        for older in store.other_analysis_sets(analysis_set.id):
            outcomes = reusable_outcomes(older.parts, hashed)
            if outcomes:
                store.carry_analyses(older.id, analysis_set.id, outcomes)
                break
    return analysis_set


class IndexFill:
    """Fills one analysis set, oldest first, through one ReplaySession (arrival order).

    Missing captures are read a range at a time, and a long run of them may be analysed in
    worker processes (whdebug.engine.parallel: the workers analyse without the dedupe
    history, this process enters each result into it in arrival order and analyses a
    duplicate again itself), so the rows are the ones one session replaying every capture
    oldest first gives."""

    def __init__(self, analysis_set: AnalysisSet, profile: IndexProfile) -> None:
        self.set = analysis_set
        self.profile = profile
        self.session = profile.session()
        self.last_id = 0
        """The newest capture entered into the session (ids must come in increasing)."""
        self.computed = 0
        """Captures this fill analysed (the rest came from the store)."""

    def run(self, store: IndexStore, capture_ids: Sequence[int], *,
            batch: int = FILL_BATCH, pause: Callable[[], None] = lambda: None,
            between: Callable[[], None] = lambda: None,
            cancelled: Callable[[], bool] = lambda: False,
            workers: int = 1) -> Iterator[list[AnalysisRow]]:
        """The rows of `capture_ids` (oldest first, newer than any before), batch by batch;
        missing ones are analysed and stored. `pause` runs before each analysis in this
        process, `between` before each batch; stops early when `cancelled()`. With
        `workers` above 1, runs of at least `PARALLEL_RUN` missing captures are analysed in
        that many worker processes."""
        ids = [capture_id for capture_id in capture_ids if capture_id > self.last_id]
        if not self.session.uses_definition:
            workers = 1  # a built-in profile's analyser is not forked
        for start in range(0, len(ids), batch):
            between()
            if cancelled():
                return
            chunk = ids[start:start + batch]
            known = store.analyses_between(self.set.id, chunk[0], chunk[-1])
            captures = _read(store, [i for i in chunk if i not in known])
            rows: list[AnalysisRow] = []
            new: list[AnalysisRow] = []
            missing: list[int] = []
            for capture_id in [*chunk, None]:
                row = known.get(capture_id) if capture_id is not None else None
                if capture_id is not None and row is None:
                    missing.append(capture_id)
                    continue
                if missing:  # the run of missing captures before this one
                    analysed = self._analyse_run(captures, missing, pause, workers)
                    rows += analysed
                    new += analysed
                    missing = []
                if row is not None:
                    self.session.settle(row.transaction_id, row.capture_id)
                    rows.append(row)
            self.last_id = chunk[-1]
            if new:
                store.put_analyses(self.set.id, new)
                self.computed += len(new)
            yield rows

    def _analyse_run(self, captures: Mapping[int, Capture | str], run: list[int],
                     pause: Callable[[], None], workers: int) -> list[AnalysisRow]:
        """The rows of consecutive missing captures, in arrival order."""
        rows: list[AnalysisRow] = []
        readable = [captures[i] for i in run]
        if workers > 1 and len(run) >= PARALLEL_RUN and all(
                isinstance(capture, Capture) for capture in readable):
            from whdebug.engine.parallel import frozen_heap, replay_many

            batch = [capture for capture in readable if isinstance(capture, Capture)]
            with frozen_heap():  # forked workers never scan (so copy) this heap
                try:
                    for replayed in replay_many(self.session, batch, keep_fired=False,
                                                workers=workers):
                        capture_id = run[len(rows)]
                        rows.append(row_of(capture_id, replayed.report) if replayed.report
                                    else row_of_line(capture_id, replayed.line))
                except Exception as error:  # noqa: BLE001 - an engine failure is the capture's row
                    if not isinstance(error.__cause__, RemoteTraceback):
                        # This process was replaying the capture: the session has entered it.
                        rows.append(_failed(run[len(rows)], error))
                    # else: a worker failed on a chunk none of which was entered; go on here
        for capture_id in run[len(rows):]:
            pause()
            rows.append(self._replay(capture_id, captures[capture_id]))
        return rows

    def _replay(self, capture_id: int, capture: Capture | str) -> AnalysisRow:
        if isinstance(capture, str):  # unreadable: it claims no transaction id
            self.session.settle(None, capture_id)
            return AnalysisRow(capture_id, None, "none", "none", problem=capture)
        try:
            report = self.session.replay(capture)
        except Exception as error:  # an engine failure: the capture claims no id
            return _failed(capture_id, error)
        return row_of(capture_id, report)


def _failed(capture_id: int, error: Exception) -> AnalysisRow:
    return AnalysisRow(capture_id, None, "none", "none",
                       problem=f"analysis failed: {type(error).__name__}: {error}")


def _read(store: IndexStore, capture_ids: list[int]) -> dict[int, Capture | str]:
    """These captures by id, or why one cannot be read: a range at a time when the store
    reads ranges (`captures_between`) and the ids are dense enough, else one by one."""
    found: dict[int, Capture | str] = {}
    between = getattr(store, "captures_between", None)
    for start in range(0, len(capture_ids), READ_RANGE):
        part = capture_ids[start:start + READ_RANGE]
        if between is not None and (part[-1] - part[0] + 1) <= 2 * len(part):
            wanted = set(part)
            try:
                found.update((c.source.capture_id, c) for c in between(part[0], part[-1])
                             if c.source.capture_id in wanted)
            except WhdebugError:
                pass  # one by one below: each says what is wrong with it
        for capture_id in part:
            if capture_id not in found:
                try:
                    found[capture_id] = store.get(capture_id)
                except WhdebugError as error:
                    found[capture_id] = str(error)
    return found


def fill(store: Any, profile: IndexProfile,
         progress: Callable[[int, int], None] | None = None, *,
         workers: int | None = None) -> AnalysisSet:
    """Bring the profile's set in a Store up to date at once (the CLI); its set. Long runs
    of missing captures are analysed in `workers` processes (None: WHDEBUG_WORKERS when
    set, else this process alone).

    One process is the default: the engine's workers send back every report that does not
    fire, which this process decodes, weighs against the fired ones and encodes again, so
    a fill where many captures do not fire (bench/tui.py: 40%) costs about 1.5x the CPU in
    workers and was slower on a shared 2-core machine (bench/tui.py prints both)."""
    analysis_set = prepare(store, profile)
    ids = store.ids()
    indexed_rows = sum(store.analysis_counts(analysis_set.id).values())
    if indexed_rows == len(ids):
        return analysis_set  # every capture has its row (deletions take theirs along)
    if workers is None:  # one process unless WHDEBUG_WORKERS asks for more: see FILL_WORKERS
        from whdebug.engine.parallel import WORKERS_VARIABLE, worker_count

        workers = (worker_count(len(ids) - indexed_rows)
                   if os.environ.get(WORKERS_VARIABLE, "").strip() else 1)
    done = 0
    fill_rows = IndexFill(analysis_set, profile)
    for rows in fill_rows.run(store, ids, batch=CLI_BATCH, workers=workers):
        done += len(rows)
        if progress is not None:
            progress(done, len(ids))
    return analysis_set
