"""`whdebug serve --definition`: console-line analysis in a second process, off the request path.

When the answer does not depend on the analysis (no `--strict`, no challenge handling), the
receiver stores and answers each request, then hands its capture id here. A child process
reads the committed row back from the store and replays it through the run's ReplaySession,
then reports the line to the serve sink, so the receiver's own process spends its time
receiving. Before its first batch the child seeds the session with every capture that was in
the store before the run (oldest first), so a redelivery of an earlier capture is a duplicate
here as in `whdebug replay --all`. Wrong-path and truncated captures get a line without a
verdict, but enter the history all the same, as they do in a replay.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from whdebug.engine import AnalysisOptions
from whdebug.engine.plan import Plan
from whdebug.engine.session import ReplaySession
from whdebug.model.definition import Definition
from whdebug.model.request import Secrets
from whdebug.receiver.app import CaptureEvent
from whdebug.receiver.sink import ServeSink
from whdebug.store.base import StoreLocation
from whdebug.store.writer import describe_error

STOP_TIMEOUT = 15.0
"""Seconds the child may take, after Ctrl-C, to print the lines of captures already received."""


def defers(definition: Plan | None, strict: bool) -> bool:
    """Can this configuration answer without analysing first (so analysis may be deferred)?"""
    return definition is not None and not strict and definition.challenge is None


class Analyst:
    """The parent's handle: `submit` capture events, `close` to print the rest and stop."""

    def __init__(self, store_path: StoreLocation, definition: Definition, secrets: Secrets,
                 options: AnalysisOptions, analysis_now: datetime | None,
                 sink: ServeSink, before_run: int | None = None) -> None:
        """`sink` is pickled to the child process, which reports each capture's line to it;
        captures up to id `before_run` (the store before this run) seed its history."""
        context = multiprocessing.get_context("spawn")
        self._queue: Any = context.Queue()
        self._process = context.Process(
            target=_run, name="whdebug-analyst", daemon=True,
            args=(self._queue, str(store_path), definition.data, definition.path,
                  dict(secrets.credentials), dict(secrets.config), options, analysis_now,
                  sink, before_run))
        self._pending: list[int] = []
        self._scheduled = False

    def start(self) -> None:
        self._process.start()

    def submit(self, event: CaptureEvent) -> None:
        """Queue one stored capture by id (the child reads the row back); a burst goes to the
        child as one message per loop turn."""
        if event.capture_id is None:
            return
        self._pending.append(event.capture_id)
        if self._scheduled:
            return
        try:
            asyncio.get_running_loop().call_soon(self._flush)
        except RuntimeError:  # no running loop (a direct call): send at once
            self._flush()
            return
        self._scheduled = True

    def _flush(self) -> None:
        batch, self._pending, self._scheduled = self._pending, [], False
        if batch:
            self._queue.put(batch)

    def close(self) -> None:
        """Send what is pending, let the child print it, and stop the child."""
        self._flush()
        self._queue.put(None)
        self._queue.close()
        self._process.join(STOP_TIMEOUT)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(1)


def _run(queue: Any, store_path: str, data: dict[str, Any], path: str | None,
         credentials: dict[str, Any], config: dict[str, Any], options: AnalysisOptions,
         analysis_now: datetime | None, sink: ServeSink, before_run: int | None) -> None:
    """The child: seed the history, then analyse each capture it is sent, in order."""
    from whdebug.store.base import open_store, store_location

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us once it has drained
    session = analyst_session(Definition(data, path), Secrets(credentials, config), options,
                              analysis_now)
    store = open_store(store_location(store_path), create=False)
    try:
        seed_history(session, store, before_run)
        while True:
            batch = queue.get()
            if batch is None:
                return
            sink.lines([complete(capture_id, store, session) for capture_id in batch])
    finally:
        store.close()


def analyst_session(definition: Definition, secrets: Secrets, options: AnalysisOptions,
                    analysis_now: datetime | None) -> ReplaySession:
    """The run's session: timestamps judged at `--now`, else at each capture's arrival."""
    return ReplaySession(definition, secrets, options=options,
                         now=lambda capture: analysis_now or capture.source.received_at
                         or datetime.now(UTC))


def seed_history(session: ReplaySession, store: Any, before_run: int | None) -> None:
    """Seed the session with the captures up to id `before_run`, oldest first."""
    if before_run is None:
        return
    for capture_id in store.ids():
        if capture_id > before_run:
            return
        try:
            session.seed(store.get(capture_id))
        except Exception:  # an unreadable capture is left out of the history
            continue


def complete(capture_id: int, store: Any, session: ReplaySession) -> CaptureEvent:
    """The console line's event for the next stored capture, with its verdict (never raises)."""
    try:
        capture = store.get(capture_id)
    except Exception as error:
        return CaptureEvent(capture_id, datetime.now(UTC), "?", "?", "", 0, False, None,
                            error=f"capture not readable: {describe_error(error)}")
    request, reply = capture.request, capture.reply
    expected = session.plan.webhook_path
    wrong_path = expected is not None and (
        request.method.upper() != "POST" or request.path.rstrip("/") != expected)
    event = CaptureEvent(
        capture_id, capture.source.received_at or datetime.now(UTC), request.method,
        request.path, request.query, request.size, request.truncated,
        reply.status if reply is not None else None,
        wrong_path=wrong_path, expected_path=expected)
    if wrong_path or request.truncated:
        try:
            session.seed(capture)
        except Exception:  # the line has no verdict to lose
            pass
        return event
    try:
        report = session.replay(capture)
    except Exception as error:  # a line without a verdict, never a dead analyst
        return replace(event, error=f"analysis failed: {describe_error(error)}")
    return replace(
        event, event=report.event.value, signature=report.signature.verdict,
        outcome=report.outcome.status, triggers=report.outcome.triggers,
        duplicate_of=report.transaction.duplicate_of)
