"""Analysing captures for the TUI: reports on demand, cached per definition generation.

Pure (no Textual): worker threads call `Analyzer`, the app turns results into messages.
A capture is deduplicated against every earlier capture of its group, read from the
generation's `DedupeHistory` (whdebug.tui.history), which a worker fills oldest first. A report
made before the history reached its capture is provisional (`Analysis.pending`): the app
calls `settle` as the history grows, which confirms it, or forgets it to be analysed again
when an earlier capture turned out to have its transaction id.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from whdebug.errors import StoreError, WhdebugError
from whdebug.model.definition import Definition
from whdebug.model.request import Capture, Secrets
from whdebug.store.analyses import AnalysisRow
from whdebug.store.base import CaptureStore, indexed
from whdebug.store.fingerprints import options_part
from whdebug.store.store import CaptureSummary
from whdebug.tui.history import DedupeHistory
from whdebug.tui.workspace import Resolved, Workspace

if TYPE_CHECKING:
    from whdebug.engine import AnalysisOptions, DedupeIndex, Report

_REPORT_CACHE = 24
_REPORT_CACHE_BYTES = 96 * 1024 * 1024


class RowVerdict(msgspec.Struct, frozen=True, gc=False):
    """What the capture list shows for one analysed capture. Not tracked by the garbage
    collector (it holds strings, numbers and a tuple of strings: no cycle): the list keeps
    one per capture, and 100,000 tracked ones made each full collection about 100 ms."""

    event: str | None
    signature: str
    """pass | fail | skipped | none (no report)"""
    status: str
    """An outcome status, or `none` when there is no report (see `note`)."""
    codes: tuple[str, ...] = ()
    note: str | None = None
    duplicate_of: int | str | None = None
    """The earlier capture this one duplicates (status `duplicate`)."""


@dataclass(frozen=True, slots=True)
class Analysis:
    capture_id: int
    generation: int
    capture: Capture | None
    report: Report | None
    definition: Definition | None
    definition_path: str | None
    problem: str | None = None
    """Why there is no report (no definition, unreadable capture, engine failure)."""
    trial: bool = False
    """Analysed with a typed secret that is never stored."""
    elapsed: float = 0.0
    pending: int = 0
    """Earlier captures not yet in the dedupe history: while above 0, "new" is provisional."""
    group: str = ""

    @property
    def verdict(self) -> RowVerdict:
        report = self.report
        if report is None:
            return RowVerdict(None, "none", "none", (), self.problem)
        note = None
        hypothetical = report.outcome.if_verified
        if hypothetical and hypothetical.get("event") is not None:
            note = f"({hypothetical['event']})"  # the event it would carry once verified
        return RowVerdict(report.event.value, report.signature.verdict, report.outcome.status,
                          tuple(report.codes()), note, report.transaction.duplicate_of)


class SharedStore:
    """A Store connection shared by worker threads, one call at a time."""

    def __init__(self, store: CaptureStore) -> None:
        self.store = store
        self.lock = threading.Lock()

    def get(self, capture_id: int) -> Capture:
        with self.lock:
            return self.store.get(capture_id)

    def ids(self) -> list[int]:
        with self.lock:
            return self.store.ids()

    def captures_between(self, first: int, last: int) -> list[Capture]:
        """A range of captures in one query; StoreError when the store reads them one by one
        only (the index's fill then does)."""
        between = getattr(self.store, "captures_between", None)
        if between is None:
            raise StoreError("this capture store reads captures one at a time", "")
        with self.lock:
            return list(between(first, last))

    def page(self, before_id: int | None, limit: int) -> list[CaptureSummary]:
        with self.lock:
            return self.store.page(before_id=before_id, limit=limit)

    def close(self) -> None:
        with self.lock:
            self.store.close()

    def analyses_between(self, set_id: int, first: int, last: int) -> dict[int, AnalysisRow]:
        with self.lock:
            return indexed(self.store).analyses_between(set_id, first, last)

    def put_analyses(self, set_id: int, rows: Sequence[AnalysisRow]) -> None:
        with self.lock:
            indexed(self.store).put_analyses(set_id, rows)


class Analyzer:
    def __init__(self, store: SharedStore, workspace: Workspace, *,
                 show_secrets: bool = False) -> None:
        self.store = store
        self.workspace = workspace
        self.show_secrets = show_secrets
        """Reports show credential-looking headers and query parameters (`--show-secrets`)."""
        self.history = DedupeHistory(-1, ())
        """The dedupe history of the current generation (replaced by `restart_history`)."""
        self._lock = threading.Lock()
        self._generation = -1
        self._verdicts: dict[int, RowVerdict] = {}
        self._reports: OrderedDict[int, Analysis] = OrderedDict()
        self._counts: Counter[str] = Counter()
        self._provisional: dict[int, tuple[str, str]] = {}
        """Cached "new" verdicts made before the history reached them: (group, id)."""
        self._running: dict[int, threading.Event] = {}
        """Captures being analysed by some thread right now."""

    # -- caches ----------------------------------------------------------------------------

    def _sync(self, generation: int) -> bool:
        """Drop caches of an older generation; False when `generation` is already stale."""
        with self._lock:
            if generation > self._generation:
                self._generation = generation
                self._verdicts = {}
                self._reports.clear()
                self._counts = Counter()
                self._provisional = {}
            return generation == self._generation

    def verdict(self, capture_id: int) -> RowVerdict | None:
        """The cached verdict of the current generation, if computed."""
        if self._generation != self.workspace.generation:
            return None
        return self._verdicts.get(capture_id)

    def cached(self, capture_id: int) -> Analysis | None:
        """The cached full analysis of the current generation, if any."""
        cached = self._reports.get(capture_id)
        if cached is None or cached.generation != self.workspace.generation:
            return None
        return cached

    def counts(self) -> Counter[str]:
        """Analysed captures by outcome status (current generation)."""
        if self._generation != self.workspace.generation:
            return Counter()
        return Counter(self._counts)

    def analysed(self) -> int:
        return sum(self.counts().values())

    @property
    def provisional(self) -> int:
        """Cached verdicts still waiting for the dedupe history."""
        return len(self._provisional)

    def forget(self, capture_id: int) -> None:
        with self._lock:
            old = self._verdicts.pop(capture_id, None)
            if old is not None:
                self._counts[old.status] -= 1
            self._reports.pop(capture_id, None)
            self._provisional.pop(capture_id, None)

    def remember_verdicts(self, verdicts: dict[int, RowVerdict], generation: int) -> None:
        """Final verdicts from the analysis index (made in arrival order): shown as they are."""
        self._sync(generation)
        with self._lock:
            if generation != self._generation:
                return
            for capture_id, verdict in verdicts.items():
                old = self._verdicts.get(capture_id)
                if old is not None:
                    self._counts[old.status] -= 1
                self._verdicts[capture_id] = verdict
                self._counts[verdict.status] += 1
                # A provisional report stays provisional: `settle` confirms or forgets it.

    def _remember(self, analysis: Analysis) -> None:
        with self._lock:
            if analysis.generation != self._generation:
                return
            verdict = analysis.verdict
            old = self._verdicts.get(analysis.capture_id)
            if old is not None:
                self._counts[old.status] -= 1
            self._verdicts[analysis.capture_id] = verdict
            self._counts[verdict.status] += 1
            transaction = _accepted(analysis.report) if analysis.report else None
            if analysis.pending and transaction is not None:
                self._provisional[analysis.capture_id] = (analysis.group, transaction)
            else:
                self._provisional.pop(analysis.capture_id, None)
            self._reports[analysis.capture_id] = analysis
            self._reports.move_to_end(analysis.capture_id)
            while len(self._reports) > _REPORT_CACHE or (
                    len(self._reports) > 1 and _cached_bytes(self._reports) > _REPORT_CACHE_BYTES):
                self._reports.popitem(last=False)

    # -- the dedupe history ----------------------------------------------------------------

    def restart_history(self, capture_ids: Iterable[int]) -> DedupeHistory:
        """A new, empty history for the current generation (the UI thread, on a change)."""
        self.history = DedupeHistory(self.workspace.generation, capture_ids)
        return self.history

    def fill_history(self) -> None:
        """Fill the history at once, for a caller without workers (scripts, tests)."""
        if self.history.generation != self.workspace.generation:
            self.restart_history(self.store.ids())
        self.history.fill(self.store.get, self.workspace, self._options(diagnose=False))

    def settle(self) -> tuple[list[int], list[int]]:
        """Provisional verdicts the history has now reached: (confirmed, forgotten).

        Forgotten ones turned out to be duplicates of an earlier capture: analyse them again.
        """
        history = self.history
        confirmed: list[int] = []
        forgotten: list[int] = []
        if history.generation != self._generation:
            return confirmed, forgotten
        with self._lock:
            reached = [(capture_id, group, transaction)
                       for capture_id, (group, transaction) in self._provisional.items()
                       if history.pending(capture_id) == 0]
        for capture_id, group, transaction in reached:
            if history.duplicate_of(capture_id, group, transaction) is not None:
                verdict = self._verdicts.get(capture_id)
                if verdict is not None and verdict.duplicate_of is not None:
                    with self._lock:  # the analysis index already gave the final verdict
                        self._reports.pop(capture_id, None)
                        self._provisional.pop(capture_id, None)
                else:
                    self.forget(capture_id)
                forgotten.append(capture_id)
                continue
            with self._lock:
                self._provisional.pop(capture_id, None)
                cached = self._reports.get(capture_id)
                if cached is not None:
                    self._reports[capture_id] = replace(cached, pending=0)
            confirmed.append(capture_id)
        return confirmed, forgotten

    # -- analysing -------------------------------------------------------------------------

    def analyse(self, capture_id: int, *, trial_secret: str | None = None) -> Analysis:
        """The full analysis of one capture (cached unless a trial secret is given)."""
        generation = self.workspace.generation
        self._sync(generation)
        if trial_secret is not None:
            return self._timed(capture_id, generation, trial_secret)
        while True:
            with self._lock:
                cached = self._reports.get(capture_id)
                if cached is not None and cached.generation == generation:
                    return cached
                running = self._running.get(capture_id)
                if running is None:
                    done = self._running[capture_id] = threading.Event()
                    break
            running.wait()  # another thread is analysing it: take its result
        try:
            analysis = self._timed(capture_id, generation, None)
            self._remember(analysis)
        finally:
            with self._lock:
                self._running.pop(capture_id, None)
            done.set()
        return analysis

    def _timed(self, capture_id: int, generation: int, trial_secret: str | None) -> Analysis:
        started = time.perf_counter()
        analysis = self._analyse(capture_id, generation, trial_secret)
        return replace(analysis, elapsed=time.perf_counter() - started)

    def verdicts(self, capture_ids: Iterable[int]) -> dict[int, RowVerdict]:
        """Verdicts for these captures, computing the missing ones (oldest first)."""
        result: dict[int, RowVerdict] = {}
        for capture_id in sorted(set(capture_ids)):
            cached = self.verdict(capture_id)
            result[capture_id] = cached if cached is not None else self.analyse(
                capture_id).verdict
        return result

    def _analyse(self, capture_id: int, generation: int, trial_secret: str | None) -> Analysis:
        try:
            capture = self.store.get(capture_id)
        except WhdebugError as error:
            return Analysis(capture_id, generation, None, None, None, None, str(error))
        resolved = self.workspace.resolve(capture_id, capture.request.path)
        if resolved is None:
            return Analysis(capture_id, generation, capture, None, None, None,
                            "no definition loaded (press d to load one)")
        secrets = resolved.secrets
        if trial_secret is not None:
            secrets = _with_trial_secret(secrets, resolved.definition, trial_secret)
        history = self.history
        current = history.generation == generation
        # Read before the history: a race can only make the verdict look provisional.
        pending = history.pending(capture_id) if current else max(capture_id - 1, 1)
        from whdebug.engine import DedupeIndex

        try:
            dedupe = history.earlier(capture_id, resolved.group) if current else DedupeIndex()
            report = run_analysis(capture, resolved, secrets, now=resolved.clock(capture),
                                  options=self._options(), dedupe=dedupe,
                                  show_secrets=self.show_secrets)
        except Exception as error:  # the engine must never take the TUI down
            return Analysis(capture_id, generation, capture, None, resolved.definition,
                            resolved.definition_path,
                            f"analysis failed: {type(error).__name__}: {error}")
        if _accepted(report) is None or report.transaction.duplicate_of is not None:
            pending = 0  # no dedupe verdict to wait for, or a final one
        return Analysis(capture_id, generation, capture, report, resolved.definition,
                        resolved.definition_path, None, trial=trial_secret is not None,
                        pending=pending, group=resolved.group)

    def _options(self, *, diagnose: bool = True) -> AnalysisOptions:
        from whdebug.engine import AnalysisOptions

        return AnalysisOptions(missing_part=self.workspace.missing_part,
                               nullish=self.workspace.nullish, diagnose=diagnose)

    def analysis_options(self) -> AnalysisOptions:
        """How captures are analysed for the list and the selected capture (with diagnosis)."""
        return self._options()

    def analysis_options_part(self) -> list[Any]:
        """`analysis_options()` as the analysis index's fingerprint reads it, known without
        importing the engine (whdebug.store.fingerprints.options_part)."""
        return options_part(self.workspace.missing_part, self.workspace.nullish, True, None, 0)

    def history_options(self) -> AnalysisOptions:
        """How the history's worker analyses captures (no diagnosis search)."""
        return self._options(diagnose=False)


def _accepted(report: Report) -> str | None:
    """The transaction id the runtime records for this report (the engine's rule)."""
    from whdebug.engine.session import accepted_transaction

    return accepted_transaction(report)


def run_analysis(capture: Capture, resolved: Resolved, secrets: Secrets, *,
                 now: datetime, options: AnalysisOptions,
                 dedupe: DedupeIndex | None, show_secrets: bool = False) -> Report:
    """The report on one capture: the built-in profile's checks when one is active.

    `show_secrets` leaves credential-looking headers and query parameters unmasked (the
    secrets' own values stay masked)."""
    from whdebug.engine import analyze
    from whdebug.model.secrecy import SecretSet

    if resolved.builtin is not None:
        from whdebug.tools.profiles import analyze_profile

        return analyze_profile(capture, resolved.builtin, secrets, now=now, options=options,
                               dedupe=dedupe, show_secrets=show_secrets)
    secret_set = (SecretSet.build(resolved.definition, secrets).showing_names()
                  if show_secrets else None)
    return analyze(capture, resolved.plan or resolved.definition, secrets, now=now,
                   options=options, dedupe=dedupe, secret_set=secret_set)


def _with_trial_secret(secrets: Secrets, definition: Definition, secret: str) -> Secrets:
    verification = definition.webhook.get("verification")
    key = verification.get("secretKey") if isinstance(verification, dict) else None
    if not isinstance(key, str) or not key:
        return secrets
    return Secrets(credentials={**secrets.credentials, key: secret}, config=secrets.config)


def secret_key_of(definition: Definition | None) -> str | None:
    """The verification's secretKey, when the definition verifies signatures."""
    if definition is None:
        return None
    verification = definition.webhook.get("verification")
    if not isinstance(verification, dict):
        return None
    key = verification.get("secretKey")
    return key if isinstance(key, str) and key else None


def _cached_bytes(reports: OrderedDict[int, Analysis]) -> int:
    return sum(len(a.capture.request.body) for a in reports.values() if a.capture is not None)
