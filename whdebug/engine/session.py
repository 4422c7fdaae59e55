"""ReplaySession: the one replay loop, shared by every face (replay, demo, serve, TUI, bundle,
readiness), so a capture gets the same dedupe verdict wherever it is looked at.

Requests go through in arrival order. Each one is deduplicated against the accepted
transaction ids of the requests before it: all of them by default, or only the last `window`
(`--dedupe-window N`). Earlier requests that are not shown are `seed`ed: analysed without the
diagnosis search, kept only for their transaction id. The summary is kept as counts, so a
long replay holds no reports.

Faces that cannot analyse and record in one step split it: `check` and `accepted_id` analyse
without touching the history (safe from any thread), and `settle` enters the result into the
history later, still in arrival order (the receiver answers first and settles once the capture
has its id; the TUI checks captures in a worker and settles them on its UI thread). A face
that reads the history out of order (the TUI's selected capture) asks `earlier_than(id)`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, Protocol

import msgspec

from whdebug.engine.analyze import DEFAULT_OPTIONS, AnalysisOptions, analyze
from whdebug.engine.patches import PatchError, apply_patch
from whdebug.engine.paths import parse_body
from whdebug.engine.plan import compile_definition
from whdebug.engine.report import SUMMARY_SCHEMA, EventResult, Finding, Report
from whdebug.engine.reportline import encode_report, encoded_line
from whdebug.engine.steps.events import extract_event
from whdebug.engine.steps.transactions import DedupeIndex
from whdebug.engine.steps.triggers import add_trigger_fix, join_caveat
from whdebug.model.definition import Definition
from whdebug.model.request import Capture, CapturedRequest, as_capture
from whdebug.model.secrecy import Secrets, SecretSet


def witness_key(report: Report) -> tuple[str, str, bool]:
    """What a fired request witnesses: its event, extraction strategy and fallback use."""
    return (report.event.value or "", report.event.strategy, report.event.used_fallback)


def accepted_transaction(report: Report) -> str | None:
    """The transaction id the runtime records for the report's request, or None when it would
    not accept the request (rejected, a challenge) or finds no id."""
    if report.outcome.status in ("rejected", "challenge"):
        return None
    return report.transaction.id


class Analyzer(Protocol):
    """How one capture is analysed: `analyze` for a definition, or a profile's analysis."""

    def __call__(self, capture: Capture, *, now: datetime, options: AnalysisOptions,
                 dedupe: DedupeIndex | None) -> Report: ...


class ReplaySession:
    """Analyses requests in arrival order against one definition (or profile) and secrets."""

    def __init__(self, definition: Definition, secrets: Secrets, *,
                 now: datetime | Callable[[Capture], datetime],
                 options: AnalysisOptions = DEFAULT_OPTIONS, window: int | None = None,
                 analyzer: Analyzer | None = None,
                 secret_set: SecretSet | None = None) -> None:
        self.definition = definition
        self.plan = compile_definition(definition)
        self.secrets = secrets
        self.options = options
        self.window = window
        self.secret_set = secret_set if secret_set is not None else SecretSet.of(
            secrets, self.plan.secret_config)
        self.dedupe = DedupeIndex(window=window)
        self._now = now
        self._analyzer: Analyzer = analyzer or self._analyze_definition
        self.uses_definition = analyzer is None
        """Analysed by the definition (not a profile's analyser, which may not fork)."""
        self._seeding = dataclasses.replace(options, diagnose=False, verdict_only=True)
        """For what needs only the verdicts: a seed's or a line's (`replay_verdict`)."""
        self._trigger_events = self.plan.trigger_events
        self._outcomes: dict[str, int] = {}
        self._fired: set[str] = set()
        self._verdicts: dict[tuple[str, int], bool] = {}
        """Whether a patch breaks a witness, by patch and number of witnesses."""
        self._witnesses: dict[tuple[str, str, bool], CapturedRequest] = {}
        """One fired request per (event, extraction strategy, fallback used): the deliveries
        an EVT_PATH_SUGGESTION must keep working."""
        self.requests = 0
        """Requests replayed (seeded ones are not counted)."""
        self.all_ok = True
        """Every replayed request would be accepted and fire (replay's exit status 0)."""

    def _analyze_definition(self, capture: Capture, *, now: datetime,
                            options: AnalysisOptions, dedupe: DedupeIndex | None) -> Report:
        return analyze(capture, self.plan, self.secrets, now=now, options=options,
                       dedupe=dedupe, secret_set=self.secret_set)

    def now_for(self, capture: Capture) -> datetime:
        return self._now(capture) if callable(self._now) else self._now

    def seed(self, capture: Capture | CapturedRequest) -> None:
        """An earlier request the runtime saw: only its accepted transaction id is kept."""
        capture = as_capture(capture)
        try:
            self._analyzer(capture, now=self.now_for(capture), options=self._seeding,
                           dedupe=self.dedupe)
        finally:
            self.dedupe.advance()

    def check(self, capture: Capture | CapturedRequest) -> Report:
        """The report of `capture` without the history: nothing is looked up or recorded.

        Enter it with `settle(accepted_transaction(report), source)`, in arrival order.
        """
        capture = as_capture(capture)
        return self._analyzer(capture, now=self.now_for(capture), options=self.options,
                              dedupe=None)

    def accepted_id(self, capture: Capture | CapturedRequest) -> str | None:
        """The transaction id the runtime would record for `capture` (None when it would not
        accept it), without the history or the diagnosis search; `settle` enters it."""
        capture = as_capture(capture)
        report = self._analyzer(capture, now=self.now_for(capture), options=self._seeding,
                                dedupe=None)
        return accepted_transaction(report)

    def settle(self, transaction_id: str | None, source: str | int) -> str | int | None:
        """Enter the next request by its accepted transaction id (from `check` or
        `accepted_id`): the earlier request it duplicates, or None when it is new."""
        duplicate_of = None
        if transaction_id is not None:
            duplicate_of = self.dedupe.lookup(transaction_id)
            if duplicate_of is None:
                self.dedupe.record(transaction_id, source)
        self.dedupe.advance()
        return duplicate_of

    def earlier_than(self, capture_id: int) -> DedupeIndex:
        """The history as the runtime saw it before capture `capture_id`, read-only.

        For a face that settles captures (by id, oldest first) while it shows any one of them:
        a transaction id first recorded by `capture_id` itself or a later capture is new.
        """
        return _EarlierThan(self.dedupe, capture_id)

    def restart_history(self) -> None:
        """Forget every request entered so far (to enter them again, e.g. after a deletion)."""
        self.dedupe = DedupeIndex(window=self.window)
        self._witnesses.clear()
        self._verdicts.clear()

    def replay(self, capture: Capture | CapturedRequest) -> Report:
        """The report of the next capture, deduplicated against every capture before it."""
        return self.replay_line(capture)[0]

    def replay_line(self, capture: Capture | CapturedRequest, *,
                    lines: bool = True) -> tuple[Report, str]:
        """`replay`, with the report's compact JSON line (`replay --json`). Without `lines`,
        a fired request's line is "" and only its event is masked (`encode_shown`)."""
        capture = as_capture(capture)
        try:
            report = self._analyzer(capture, now=self.now_for(capture), options=self.options,
                                    dedupe=self.dedupe)
        finally:
            self.dedupe.advance()
        report = self._keep_witnesses_working(capture.request, report)
        report, line = self.encode(report) if lines else self.encode_shown(report)
        self.count(report.outcome.status, report.outcome.triggers, report.ok)
        return report, line

    def replay_verdict(self, capture: Capture | CapturedRequest) -> Report:
        """`replay` for a view that shows only the verdicts (serve's console line: event,
        signature, outcome, triggers, duplicate): `AnalysisOptions.verdict_only`, without
        the diagnosis of a failed signature, and any secret in the event (or a rejected
        request's event once verified) masked. The
        request enters the history as with `replay`, but not the summary (`report.ok`
        needs the findings)."""
        capture = as_capture(capture)
        try:
            report = self._analyzer(capture, now=self.now_for(capture),
                                    options=self._seeding, dedupe=self.dedupe)
        finally:
            self.dedupe.advance()
        if_verified = report.outcome.if_verified
        for event in (report.event.value, if_verified.get("event") if if_verified else None):
            if event is not None and self.secret_set and self.secret_set.contains(event):
                scrubbed: Report = self.secret_set.scrub(report)
                return scrubbed
        return report

    def encode(self, report: Report) -> tuple[Report, str]:
        """The report and its JSON line, any secret in them masked."""
        line = encoded_line(report)
        if line is None:
            line = encode_report(report)
        if self.secret_set.values and self.secret_set.contains(line):
            report = self.secret_set.scrub(report)
            line = encode_report(report)
        return report, line

    def encode_shown(self, report: Report) -> tuple[Report, str]:
        """For a view that shows a fired request as one row (its outcome, signature verdict,
        event and top finding code) and any other in full: a fired report with any secret in
        its event masked, and "" for its line (the one JSON encoding a row does not need);
        any other report as `encode` gives it."""
        event = report.event.value
        if report.outcome.status != "fires" or (
                event is not None and self.secret_set and self.secret_set.contains(event)):
            return self.encode(report)
        return report, ""

    def count(self, status: str, triggers: Iterable[str], ok: bool) -> None:
        """Count a replayed request in the summary."""
        self.requests += 1
        self.all_ok = self.all_ok and ok
        self._outcomes[status] = self._outcomes.get(status, 0) + 1
        self._fired.update(triggers)

    def count_many(self, status: str, requests: int, triggers: Iterable[Iterable[str]],
                   all_ok: bool) -> None:
        """`count` for `requests` requests of one outcome: the triggers each fired, and
        whether every one of them is ok."""
        self.requests += requests
        self.all_ok = self.all_ok and all_ok
        self._outcomes[status] = self._outcomes.get(status, 0) + requests
        for fired in triggers:
            self._fired.update(fired)

    def keep_witnesses_working(self, request: CapturedRequest, report: Report) -> Report:
        """In arrival order, after the analysis: remember a fired request; drop path
        suggestions that would break one remembered (`replay_line` does it; a face that
        analysed without the history, as the parallel replay does, calls it)."""
        return self._keep_witnesses_working(request, report)

    def wants_witness(self, key: tuple[str, str, bool]) -> bool:
        """Whether `witness` would remember a fired request of this key (its first)."""
        return key not in self._witnesses and len(self._witnesses) < _MAX_WITNESSES

    def witness(self, request: CapturedRequest, key: tuple[str, str, bool]) -> None:
        """Remember a fired request by (event, extraction strategy, fallback used)."""
        if key not in self._witnesses and len(self._witnesses) < _MAX_WITNESSES:
            self._witnesses[key] = request

    def _keep_witnesses_working(self, request: CapturedRequest, report: Report) -> Report:
        """Remember a fired request; drop path suggestions that would break one remembered."""
        if report.outcome.status == "fires":
            self.witness(request, witness_key(report))
            return report
        fixes = [f for f in report.findings if f.code in _CHECKED_FIXES and f.patch]
        if not fixes or not self._witnesses:
            return report
        broken = [f for f in fixes if self._breaks_a_witness(f)]
        if not broken:
            return report
        snippets = {(f.fix or "").removeprefix("use: ") for f in broken
                    if f.code == "EVT_PATH_SUGGESTION"}
        triggers = dataclasses.replace(report.triggers, suggested_paths=tuple(
            s for s in report.triggers.suggested_paths if s.snippet not in snippets))
        findings = tuple(self._instead(f, report.event) if f in broken else f
                         for f in report.findings)
        return msgspec.structs.replace(
            report, findings=tuple(f for f in findings if f is not None), triggers=triggers)

    def _instead(self, broken: Finding, extracted: EventResult) -> Finding | None:
        """A trigger rename that would break a fired delivery becomes an added trigger; a
        path suggestion that would is dropped."""
        event = extracted.value
        if broken.code == "EVT_PATH_SUGGESTION" or not event:
            return None
        renamed = next((op.path for op in broken.patch or () if op.op == "replace"), None)
        index = renamed.split("/")[2] if renamed else None
        kept = next((t.event for t in self.plan.triggers if str(t.index) == index), None)
        fix, patch = add_trigger_fix(event, self.plan.triggers, self.plan.ns, kept)
        return msgspec.structs.replace(broken, fix=fix + join_caveat(extracted), patch=patch)

    def _breaks_a_witness(self, suggestion: Finding) -> bool:
        if suggestion.patch is None:
            return False
        # json, not msgspec: a patch may hold a hostile body's lone surrogate ("\\ud800"),
        # which msgspec cannot encode
        key = (json.dumps(msgspec.to_builtins(suggestion.patch)), len(self._witnesses))
        known = self._verdicts.get(key)
        if known is None:
            known = self._verdicts[key] = self._check_witnesses(suggestion)
            if len(self._verdicts) > 256:
                self._verdicts.pop(next(iter(self._verdicts)))
        return known

    def _check_witnesses(self, suggestion: Finding) -> bool:
        assert suggestion.patch is not None
        try:
            patched = compile_definition(Definition(
                apply_patch(self.definition.data, suggestion.patch), self.definition.path))
        except (PatchError, ValueError, TypeError):
            return True
        for (event, _, _), request in self._witnesses.items():
            result, _ = extract_event(patched.event_extraction, request,
                                      parse_body(request, patched.projection),
                                      self.options.missing_part)
            if result.value != event or event not in patched.trigger_events:
                return True
        return False

    def replay_all(self, captures: Iterable[Capture | CapturedRequest]) -> Iterator[Report]:
        for capture in captures:
            yield self.replay(capture)

    def summary(self) -> dict[str, Any]:
        """The closing `whdebug.summary/1` line: outcome counts and triggers never fired."""
        return {
            "schema": SUMMARY_SCHEMA,
            "requests": self.requests,
            "outcomes": dict(self._outcomes),
            "triggers_never_fired": [e for e in self._trigger_events if e not in self._fired],
        }


_MAX_WITNESSES = 64
_CHECKED_FIXES = ("EVT_PATH_SUGGESTION", "EVT_NO_TRIGGER", "EVT_NEAR_MISS")
"""Fixes that change how events are read or matched: a replay checks them against every
delivery that already fired."""


class _EarlierThan(DedupeIndex):
    """A read-only view of a history: only ids first recorded by captures before `capture_id`."""

    def __init__(self, history: DedupeIndex, capture_id: int) -> None:
        super().__init__()
        self._history = history
        self._capture_id = capture_id

    def lookup(self, transaction_id: str) -> str | int | None:
        source = self._history.lookup(transaction_id)
        if isinstance(source, int) and source < self._capture_id:
            return source
        return None

    def record(self, transaction_id: str, source: str | int) -> None:
        """Read-only: the history is written by `settle` alone."""

    def remember_exact(self, transaction_id: str, exact: str) -> None:
        """Read-only: the history is written by `settle` alone."""

    def exact_of(self, transaction_id: str) -> str | None:
        return self._history.exact_of(transaction_id) if self.lookup(transaction_id) else None

    def advance(self) -> None:
        """Read-only: the history is written by `settle` alone."""
