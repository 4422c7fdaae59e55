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
import contextlib
import ctypes
import json
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from datetime import UTC, datetime
from typing import Any, BinaryIO

from whdebug.engine import AnalysisOptions
from whdebug.engine.plan import Plan
from whdebug.engine.session import ReplaySession
from whdebug.model.definition import Definition
from whdebug.model.request import Secrets
from whdebug.receiver.app import CaptureEvent, event_if_verified, undiagnosed
from whdebug.receiver.sink import ServeSink
from whdebug.store.base import StoreLocation
from whdebug.store.writer import describe_error

STOP_TIMEOUT = 15.0
"""Seconds the child may take, after Ctrl-C, to print the lines of captures already received."""


def defers(definition: Plan | None, strict: bool) -> bool:
    """Can this configuration answer without analysing first (so analysis may be deferred)?"""
    return definition is not None and not strict and definition.challenge is None


FLUSH_DELAY = 0.005
"""Seconds of capture ids gathered into one message to the child. Once per loop turn, the
hand-over (waking the feeder thread, which then takes the GIL from the loop) cost the
loop about 3% of its time under load; a line appears at most this much later."""


class Analyst:
    """The parent's handle: `submit` capture events, `close` to print the rest and stop.

    The child is a plain `python` subprocess fed pickled frames on its standard input (no
    multiprocessing, so no semaphores and no resource-tracker process). It cannot outlive
    serve: on Linux the kernel kills it when serve dies (PR_SET_PDEATHSIG), and everywhere
    it stops when its standard input reaches end of file, which is what happens when serve
    dies, however it dies. It ignores Ctrl-C and SIGTERM sent to the process group: serve
    stops it once it has printed the lines of the captures already received.
    """

    def __init__(self, store_path: StoreLocation, definition: Definition, secrets: Secrets,
                 options: AnalysisOptions, analysis_now: datetime | None,
                 sink: ServeSink, before_run: int | None = None) -> None:
        """`sink` is pickled to the child process, which reports each capture's line to it;
        captures up to id `before_run` (the store before this run) seed its history."""
        self._setup = (str(store_path), definition.data, definition.path,
                       dict(secrets.credentials), dict(secrets.config), options, analysis_now,
                       sink, before_run)
        self._process: subprocess.Popen[bytes] | None = None
        self._outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._feeder: threading.Thread | None = None
        self._pending: list[int] = []
        self._scheduled = False

    def start(self) -> None:
        """Start the child (call from the thread that lives as long as serve: the kernel's
        parent-death signal follows the thread that started it)."""
        bootstrap = ("import json, sys; sys.path[:0] = json.loads(sys.argv[1]); "
                     "from whdebug.receiver.analyst import main; main(int(sys.argv[2]))")
        self._process = subprocess.Popen(
            [sys.executable, "-c", bootstrap, json.dumps(sys.path), str(os.getpid())],
            stdin=subprocess.PIPE, close_fds=True)
        self._outbox.put(self._setup)
        self._feeder = threading.Thread(target=self._feed, name="whdebug-analyst-feeder",
                                        daemon=True)
        self._feeder.start()

    def _feed(self) -> None:
        """Write queued frames to the child (a thread, so a slow child never blocks the
        event loop); None closes its input."""
        process = self._process
        assert process is not None and process.stdin is not None
        stream = process.stdin
        try:
            while (item := self._outbox.get()) is not None:
                data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
                stream.write(_FRAME.pack(len(data)) + data)
                stream.flush()
            stream.write(_FRAME.pack(0))  # the stop frame: print the rest, then exit
            stream.flush()
        except (BrokenPipeError, OSError):  # the child is gone: nothing left to print
            pass
        finally:
            with contextlib.suppress(OSError):
                stream.close()

    def submit(self, event: CaptureEvent) -> None:
        """Queue one stored capture by id (the child reads the row back); the ids of
        FLUSH_DELAY seconds go to the child as one message."""
        if event.capture_id is None:
            return
        self._pending.append(event.capture_id)
        if self._scheduled:
            return
        try:
            asyncio.get_running_loop().call_later(FLUSH_DELAY, self._flush)
        except RuntimeError:  # no running loop (a direct call): send at once
            self._flush()
            return
        self._scheduled = True

    def _flush(self) -> None:
        batch, self._pending, self._scheduled = self._pending, [], False
        if batch:
            self._outbox.put(batch)

    def close(self) -> None:
        """Send what is pending, let the child print it, and stop the child."""
        self._flush()
        self._outbox.put(None)
        process = self._process
        if process is None:
            return
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(1)
        if self._feeder is not None:
            self._feeder.join(1)


_FRAME = struct.Struct("!I")
"""Each frame: its length (0: stop), then a pickle."""


def _read_frame(stream: BinaryIO) -> tuple[bool, Any]:
    """(True, the next object), or (False, None) at the stop frame or end of file."""
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        return False, None
    (size,) = _FRAME.unpack(head)
    if size == 0:
        return False, None
    data = stream.read(size)
    if len(data) < size:
        return False, None
    return True, pickle.loads(data)


def _die_with_parent(parent: int) -> None:
    """Ask the kernel to kill this process when serve dies (Linux), and stop now if it
    already has."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the end of stdin still stops us
            pass
    if os.getppid() != parent:
        os._exit(0)


_PR_SET_PDEATHSIG = 1


ANALYST_NICENESS = 10
"""The analyst's scheduling priority below serve's (POSIX nice): its lines wait for idle CPU."""


def main(parent: int) -> None:
    """The child's entry point: read the setup frame, then batches of capture ids."""
    _die_with_parent(parent)
    # The parent stops us once it has drained; a signal to the whole group must not.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Lines may lag, answers may not: on a busy machine the receiver gets the CPU first.
    with contextlib.suppress(OSError, AttributeError):
        os.nice(ANALYST_NICENESS)
    stream = sys.stdin.buffer
    ok, setup = _read_frame(stream)
    if ok:
        _run(stream, *setup)


def _run(stream: BinaryIO, store_path: str, data: dict[str, Any], path: str | None,
         credentials: dict[str, Any], config: dict[str, Any], options: AnalysisOptions,
         analysis_now: datetime | None, sink: ServeSink, before_run: int | None) -> None:
    """The child: seed the history, then analyse each capture it is sent, in order."""
    from whdebug.store.base import open_store, store_location

    session = analyst_session(Definition(data, path), Secrets(credentials, config), options,
                              analysis_now)
    store = open_store(store_location(store_path), create=False)
    try:
        seed_history(session, store, before_run)
        while True:
            ok, batch = _read_frame(stream)
            if not ok:
                return
            read = _read_batch(store, batch)
            sink.lines([complete(capture_id, store, session, read.get(capture_id))
                        for capture_id in batch])
    finally:
        store.close()


def analyst_session(definition: Definition, secrets: Secrets, options: AnalysisOptions,
                    analysis_now: datetime | None) -> ReplaySession:
    """The run's session: timestamps judged at `--now`, else at each capture's arrival.

    Without the diagnosis of a failed signature (which scheme, secret or body would have
    matched): the line shows only the verdict, and the search took about 1.1 ms per
    capture against 50 us for the rest of the analysis, so a sender with the wrong secret
    left the lines further behind with every request."""
    return ReplaySession(definition, secrets, options=undiagnosed(options),
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


def _read_batch(store: Any, batch: list[int]) -> dict[int, Any]:
    """The batch's captures by id, read in one query when their ids are close together
    (they usually follow each other); {} when that fails (each is then read alone)."""
    if len(batch) < 2:
        return {}
    first, last = min(batch), max(batch)
    if last - first >= 2 * len(batch):
        return {}
    try:
        return {capture.source.capture_id: capture
                for capture in store.captures_between(first, last)}
    except Exception:  # each capture's own read says what is wrong with it
        return {}


def complete(capture_id: int, store: Any, session: ReplaySession,
             capture: Any = None) -> CaptureEvent:
    """The console line's event for the next stored capture (read here unless given), with
    its verdict (never raises)."""
    try:
        if capture is None:
            capture = store.get(capture_id)
    except Exception as error:
        return CaptureEvent(capture_id, datetime.now(UTC), "?", "?", "", 0, False, None,
                            error=f"capture not readable: {describe_error(error)}")
    request, reply = capture.request, capture.reply
    expected = session.plan.webhook_path
    wrong_path = expected is not None and (
        request.method.upper() != "POST" or request.path.rstrip("/") != expected)

    def line(**verdict: Any) -> CaptureEvent:  # built once, with its verdict (no `replace`)
        return CaptureEvent(
            capture_id, capture.source.received_at or datetime.now(UTC), request.method,
            request.path, request.query, request.size, request.truncated,
            reply.status if reply is not None else None,
            wrong_path=wrong_path, expected_path=expected, **verdict)

    if wrong_path or request.truncated:
        try:
            session.seed(capture)
        except Exception:  # the line has no verdict to lose
            pass
        return line()
    try:
        # The line shows the event, the signature verdict, the outcome, the triggers and the
        # duplicate: the verdicts alone, without the findings and the request section that
        # are most of a full analysis (and its JSON encoding) and that the line never shows.
        report = session.replay_verdict(capture)
    except Exception as error:  # a line without a verdict, never a dead analyst
        return line(error=f"analysis failed: {describe_error(error)}")
    return line(event=report.event.value, signature=report.signature.verdict,
                event_if_verified=event_if_verified(report),
                outcome=report.outcome.status, triggers=report.outcome.triggers,
                duplicate_of=report.transaction.duplicate_of)
