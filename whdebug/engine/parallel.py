"""A long replay spread over the machine's cores, with the same reports, byte for byte.

Two steps depend on the requests before: dedupe, and the fixes that must keep the earlier
fired requests working (witnesses). Worker processes (forked, so they share the session and
the requests already read) analyse chunks of requests without the history, as
`ReplaySession.check` does; this process then enters each result into the history in arrival
order, as `settle` does. A request whose transaction id the history already holds is analysed
again here, with the history (its report says which earlier request it duplicates); any other
report is the one the history would have given, since a new id changes nothing in it. A fired
request is remembered as a witness; the report of one that does not fire is weighed against
the witnesses before it and encoded here, as `replay_line` does.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from whdebug.engine.report import Report
from whdebug.engine.session import ReplaySession, accepted_transaction, witness_key
from whdebug.model.records import fast_init
from whdebug.model.request import Capture

MIN_REQUESTS = 2000
"""Fewer requests are replayed in this process: starting workers would cost more."""
CHUNK = 250
"""Requests per task sent to a worker."""
WORKERS_VARIABLE = "WHDEBUG_WORKERS"
"""Environment variable: the number of worker processes (1: replay in this process)."""


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """This process's heap frozen (`gc.freeze`) while workers are forked and run, so they
    never scan, and so copy, the pages they share with it; afterwards as frozen as it was: a
    caller that froze what it read for its whole run (`replay`) keeps it so, and the exit's
    collection does not scan it all again."""
    was_frozen = gc.get_freeze_count() > 0
    gc.freeze()
    try:
        yield
    finally:
        if not was_frozen:
            gc.unfreeze()


@fast_init
@dataclass(frozen=True, slots=True)
class Replayed:
    """One replayed request: its JSON line and what the one-line view shows."""

    line: str
    status: str
    event: str | None
    verdict: str
    top_code: str | None
    report: Report | None
    """The report, when asked for (`keep`) or replayed in this process."""
    row: str | None = None
    """A fired request's one-line row, when a worker wrote it (`fanout.spread`)."""


def replay_here(session: ReplaySession, capture: Capture, *, lines: bool = True) -> Replayed:
    """One capture replayed in this process (`session.replay_line`). Without `lines`, a
    fired request's report is not kept: only its row fields were masked."""
    report, line = session.replay_line(capture, lines=lines)
    return _replayed(report, line, keep=lines or report.outcome.status != "fires")


def _replayed(report: Report, line: str, keep: bool = True) -> Replayed:
    return Replayed(line, report.outcome.status, report.event.value, report.signature.verdict,
                    report.findings[0].code if report.findings else None,
                    report if keep else None)


def worker_count(requests: int) -> int:
    """Worker processes for a replay of `requests` (1 means none: replay here)."""
    given = os.environ.get(WORKERS_VARIABLE, "").strip()
    if given.isdigit() and int(given) >= 1:
        wanted = int(given)
    elif requests < MIN_REQUESTS:
        return 1
    else:
        wanted = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    if wanted > 1 and "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(wanted, 8))


def replay_many(session: ReplaySession, captures: Sequence[Capture], *,
                keep_fired: bool = True, workers: int | None = None,
                lines: bool = True) -> Iterator[Replayed]:
    """Each capture's result in arrival order, as `session.replay_line` gives it; counted in
    the session's summary. A fired request's report is kept only when `keep_fired`; without
    `lines`, its line is "" (`session.encode_shown`: the one-row view)."""
    count = worker_count(len(captures)) if workers is None else workers
    if count <= 1:
        for capture in captures:
            yield replay_here(session, capture, lines=lines)
        return
    global _SESSION, _CAPTURES, _KEEP_FIRED, _LINES
    _SESSION, _CAPTURES, _KEEP_FIRED, _LINES = session, captures, keep_fired, lines
    chunks = [(start, min(start + CHUNK, len(captures)))
              for start in range(0, len(captures), CHUNK)]
    context = multiprocessing.get_context("fork")
    with context.Pool(count) as pool:
        index = 0
        for results in pool.imap(_analyse_chunk, chunks):
            for transaction_id, fired, checked in results:
                capture = captures[index]
                index += 1
                if transaction_id is not None:
                    if session.dedupe.lookup(transaction_id) is not None:
                        yield replay_here(session, capture, lines=lines)
                        continue
                    session.dedupe.record(transaction_id, capture.source.key)
                session.dedupe.advance()
                if fired is not None:  # its line is final; the request is a witness
                    fields, witness, triggers, ok = fired
                    session.witness(capture.request, witness)
                    replayed = Replayed(*fields)
                    session.count(replayed.status, triggers, ok)
                else:  # weighed against the fired requests before it, then encoded, here
                    assert checked is not None
                    report = session.keep_witnesses_working(capture.request, checked)
                    report, line = session.encode(report)
                    replayed = _replayed(report, line)
                    session.count(report.outcome.status, report.outcome.triggers, report.ok)
                yield replayed
    _SESSION, _CAPTURES = None, ()


_SESSION: ReplaySession | None = None
_CAPTURES: Sequence[Capture] = ()
_KEEP_FIRED = True
_LINES = True

_Fields = tuple[str, str, "str | None", str, "str | None", "Report | None"]
"""A Replayed's fields: a plain tuple pickles several times faster than the dataclass."""
_Fired = tuple[_Fields, "tuple[str, str, bool]", "tuple[str, ...]", bool]
"""A fired request: its Replayed fields, witness key, triggers and whether it is ok."""
_Result = tuple["str | None", "_Fired | None", "Report | None"]
"""A request's accepted transaction id, and either what it fired or its report to finish
(the witness step and encoding happen in arrival order, in the parent)."""


def _analyse_chunk(bounds: tuple[int, int]) -> list[_Result]:
    """In a worker: the chunk's reports without the history (`ReplaySession.check`)."""
    session = _SESSION
    assert session is not None
    results: list[_Result] = []
    for capture in _CAPTURES[bounds[0]:bounds[1]]:
        report = session.check(capture)
        transaction_id = accepted_transaction(report)
        if report.outcome.status != "fires":
            results.append((transaction_id, None, report))
            continue
        witness = witness_key(report)
        report, line = session.encode(report) if _LINES else session.encode_shown(report)
        fields: _Fields = (line, report.outcome.status, report.event.value,
                           report.signature.verdict,
                           report.findings[0].code if report.findings else None,
                           report if _KEEP_FIRED else None)
        results.append((transaction_id, (fields, witness, report.outcome.triggers, report.ok),
                        None))
    return results
