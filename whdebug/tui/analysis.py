"""Analysing captures for the TUI: reports on demand, cached per definition generation.

Pure (no Textual): worker threads call `Analyzer`, the app turns results into messages.
Deduplication looks back over the previous `DEDUPE_WINDOW` captures of the same profile
group, so one capture is analysed without replaying the whole store.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from whdebug.engine import AnalysisOptions, DedupeIndex, Report, analyze
from whdebug.errors import WhdebugError
from whdebug.model.definition import Definition
from whdebug.model.request import Capture, Secrets
from whdebug.store.store import CaptureSummary, Store
from whdebug.tools.profiles import analyze_profile
from whdebug.tui.workspace import Resolved, Workspace

DEDUPE_WINDOW = 50
"""How many earlier captures of the same group a capture is deduplicated against."""
_REPORT_CACHE = 24
_REPORT_CACHE_BYTES = 96 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RowVerdict:
    """What the capture list shows for one analysed capture."""

    event: str | None
    signature: str
    """pass | fail | skipped | none (no report)"""
    status: str
    """An outcome status, or `none` when there is no report (see `note`)."""
    codes: tuple[str, ...] = ()
    note: str | None = None


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
                          tuple(report.codes()), note)


class SharedStore:
    """A Store connection shared by worker threads, one call at a time."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = threading.Lock()

    def get(self, capture_id: int) -> Capture:
        with self.lock:
            return self.store.get(capture_id)

    def page(self, before_id: int | None, limit: int) -> list[CaptureSummary]:
        with self.lock:
            return self.store.page(before_id=before_id, limit=limit)

    def close(self) -> None:
        with self.lock:
            self.store.close()


class Analyzer:
    def __init__(self, store: SharedStore, workspace: Workspace, *,
                 window: int = DEDUPE_WINDOW) -> None:
        self.store = store
        self.workspace = workspace
        self.window = window
        self._lock = threading.Lock()
        self._generation = -1
        self._verdicts: dict[int, RowVerdict] = {}
        self._transactions: dict[int, str | None] = {}
        self._reports: OrderedDict[int, Analysis] = OrderedDict()
        self._counts: Counter[str] = Counter()
        self._last_window: tuple[int, str, list[tuple[int, str]]] | None = None
        self._running: dict[int, threading.Event] = {}
        """Captures being analysed by some thread right now."""

    # -- caches ----------------------------------------------------------------------------

    def _sync(self, generation: int) -> bool:
        """Drop caches of an older generation; False when `generation` is already stale."""
        with self._lock:
            if generation > self._generation:
                self._generation = generation
                self._verdicts = {}
                self._transactions = {}
                self._reports.clear()
                self._counts = Counter()
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

    def forget(self, capture_id: int) -> None:
        with self._lock:
            self._last_window = None
            old = self._verdicts.pop(capture_id, None)
            if old is not None:
                self._counts[old.status] -= 1
            self._transactions.pop(capture_id, None)
            self._reports.pop(capture_id, None)

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
            report = analysis.report
            if report is not None:
                self._transactions[analysis.capture_id] = _accepted_id(report)
            self._reports[analysis.capture_id] = analysis
            self._reports.move_to_end(analysis.capture_id)
            while len(self._reports) > _REPORT_CACHE or (
                    len(self._reports) > 1 and _cached_bytes(self._reports) > _REPORT_CACHE_BYTES):
                self._reports.popitem(last=False)

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
        return _with_elapsed(analysis, time.perf_counter() - started)

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
        try:
            dedupe = self._dedupe_index(capture_id, capture.request.path, resolved, generation)
            report = run_analysis(capture, resolved, secrets, now=_now(resolved, capture),
                                  options=self._options(), dedupe=dedupe)
        except Exception as error:  # the engine must never take the TUI down
            return Analysis(capture_id, generation, capture, None, resolved.definition,
                            resolved.definition_path,
                            f"analysis failed: {type(error).__name__}: {error}")
        return Analysis(capture_id, generation, capture, report, resolved.definition,
                        resolved.definition_path, None, trial=trial_secret is not None)

    def _options(self, *, diagnose: bool = True) -> AnalysisOptions:
        return AnalysisOptions(missing_part=self.workspace.missing_part,
                               nullish=self.workspace.nullish, diagnose=diagnose)

    def _dedupe_index(self, capture_id: int, path: str, resolved: Resolved,
                      generation: int) -> DedupeIndex:
        """Transaction ids accepted by the earlier captures of the same group, oldest first."""
        index = DedupeIndex()
        if self.window <= 0:
            return index
        single_group = self.workspace.single_group
        for earlier_id, earlier_path in reversed(self._earlier(capture_id, path)):
            if not single_group and (
                    self.workspace.group_of(earlier_id, earlier_path) != resolved.group):
                continue
            transaction = self._transaction_of(earlier_id, generation)
            if transaction is not None:
                index.record(transaction, earlier_id)
        return index

    def _earlier(self, capture_id: int, path: str) -> list[tuple[int, str]]:
        """(id, path) of the `window` captures before this one, newest first.

        Scans analyse ids in increasing order, so the window of id N + 1 is usually the
        window of N shifted by one: only a jump needs the store.
        """
        with self._lock:
            last = self._last_window
        if last is not None and last[0] == capture_id - 1:
            earlier = [(last[0], last[1]), *last[2][: self.window - 1]]
        else:
            earlier = [(s.id, s.path) for s in self.store.page(capture_id, self.window)]
        with self._lock:
            self._last_window = (capture_id, path, earlier)
        return earlier

    def _transaction_of(self, capture_id: int, generation: int) -> str | None:
        """The transaction id an earlier capture recorded (None when it was not accepted)."""
        if capture_id in self._transactions and self._generation == generation:
            return self._transactions[capture_id]
        transaction: str | None = None
        try:
            capture = self.store.get(capture_id)
            resolved = self.workspace.resolve(capture_id, capture.request.path)
            if resolved is not None:
                report = run_analysis(capture, resolved, resolved.secrets,
                                      now=_now(resolved, capture),
                                      options=self._options(diagnose=False), dedupe=None)
                transaction = _accepted_id(report)
        except Exception:  # an unreadable earlier capture just does not dedupe
            transaction = None
        with self._lock:
            if self._generation == generation:
                self._transactions[capture_id] = transaction
        return transaction


def run_analysis(capture: Capture, resolved: Resolved, secrets: Secrets, *,
                 now: datetime, options: AnalysisOptions,
                 dedupe: DedupeIndex | None) -> Report:
    """The report on one capture: the built-in profile's checks when one is active."""
    if resolved.builtin is not None:
        return analyze_profile(capture, resolved.builtin, secrets, now=now, options=options,
                               dedupe=dedupe)
    return analyze(capture, resolved.plan or resolved.definition, secrets, now=now,
                   options=options, dedupe=dedupe)


def _accepted_id(report: Report) -> str | None:
    """The transaction id the runtime records for this request (only accepted ones count)."""
    if report.outcome.status in ("rejected", "challenge"):
        return None
    return report.transaction.id


def _now(resolved: Resolved, capture: Capture) -> datetime:
    return resolved.now or capture.source.received_at or datetime.now(UTC)


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


def _with_elapsed(analysis: Analysis, elapsed: float) -> Analysis:
    return Analysis(analysis.capture_id, analysis.generation, analysis.capture, analysis.report,
                    analysis.definition, analysis.definition_path, analysis.problem,
                    analysis.trial, elapsed)


def _cached_bytes(reports: OrderedDict[int, Analysis]) -> int:
    return sum(len(a.capture.request.body) for a in reports.values() if a.capture is not None)
