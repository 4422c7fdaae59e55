"""A long replay of requests read from files, spread over worker processes that read them.

`parallel.replay_many` forks workers that share the requests this process already read. Here
the requests may not be read yet (`formats.har.HarEntries`: a HAR file's entries, each read
when asked for), so reading them is spread too. Each worker takes every `workers`-th chunk of
requests, reads all of its chunks first and says whether each one read (a bad entry: this
process reads that entry itself and raises its RequestFileError, the first one in the file,
before any report is out), then analyses its chunks in order without the history, as
`ReplaySession.check` does. This process takes the chunks back in arrival order and enters each
result into the history as `parallel.replay_many` does, so the reports are the ones
`ReplaySession.replay_line` gives, byte for byte. A request is read here only when this
process needs it: a duplicate (analysed again, with the history), a request that does not fire
(weighed against the fired ones), or a new witness.
"""

from __future__ import annotations

import gc
import multiprocessing
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from typing import Any

from whdebug.engine.parallel import Replayed, replay_here
from whdebug.engine.session import ReplaySession, accepted_transaction, witness_key
from whdebug.errors import WhdebugError
from whdebug.model.request import Capture

CHUNK = 250
"""Requests per chunk."""

Row = Callable[[Capture, Replayed], str]
"""How a face shows a fired request in one line (the worker writes it)."""


def spread(session: ReplaySession, captures: Sequence[Capture], workers: int, *,
           lines: bool = True, row: Row | None = None) -> Iterator[tuple[int, Replayed]]:
    """(index, result) of each capture, in arrival order, as `replay_here` gives it; counted
    in the session's summary. Without `lines` a fired request's line is "" (`encode_shown`);
    with `row`, a fired request's result carries its row (`Replayed.row`)."""
    chunks = [(start, min(start + CHUNK, len(captures)))
              for start in range(0, len(captures), CHUNK)]
    context = multiprocessing.get_context("fork")
    pipes: list[Connection] = []
    processes = []
    sys.stdout.flush()  # nothing buffered here is written again by a worker's exit
    sys.stderr.flush()
    gc.freeze()  # forked workers then never scan (and so copy) this process's heap
    try:
        for index in range(workers):
            receiver, sender = context.Pipe(duplex=False)
            _widen(receiver)
            process = context.Process(
                target=_work, args=(session, captures, chunks[index::workers], lines, row,
                                    sender), daemon=True)
            process.start()
            sender.close()
            pipes.append(receiver)
            processes.append(process)
        failed = [_receive(pipe) for pipe in pipes]
        bad = [index for index in failed if index is not None]
        if bad:
            captures[min(bad)]  # raises that entry's RequestFileError here
            raise RuntimeError(f"request {min(bad)} could not be read in a worker")
        for number, (start, _) in enumerate(chunks):
            results = _receive(pipes[number % workers])
            yield from _enter(session, captures, start, results, lines)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()
        for pipe in pipes:
            pipe.close()
        gc.unfreeze()


def _widen(pipe: Connection) -> None:
    """A pipe that holds a whole chunk's results (Linux: 1 MiB when allowed), so a worker
    goes on to its next chunk instead of waiting for this process to read."""
    try:
        import fcntl
    except ImportError:  # not Unix
        return
    setter = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setter is not None:
        try:
            fcntl.fcntl(pipe.fileno(), setter, 1 << 20)
        except OSError:
            pass  # the system's limit is lower: the default size works too


def _receive(pipe: Connection) -> Any:
    message = pipe.recv()
    if isinstance(message, _Failure):
        raise RuntimeError(f"a replay worker failed:\n{message.text}")
    return message


class _Failure:
    """A worker's unexpected exception, as text (this process raises it)."""

    def __init__(self, text: str) -> None:
        self.text = text


_Fields = tuple[str, str, "str | None", str, "str | None", "str | None"]
"""A fired request's Replayed fields: line, status, event, verdict, top code, row."""
_Result = tuple["str | None", "str | int", "tuple[_Fields, tuple[str, str, bool], " 
                "tuple[str, ...], bool] | None", Any]
"""A request's accepted transaction id, its source key, and either what it fired (its fields,
witness key, triggers and whether it is ok) or its report to finish here."""


def _work(session: ReplaySession, captures: Sequence[Capture], chunks: list[tuple[int, int]],
          lines: bool, row: Row | None, pipe: Connection) -> None:
    """In a worker: read every chunk (send the first unreadable index, or None), then send
    each chunk's results."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its workers itself
    gc.disable()  # reading builds many objects and no cycles: nothing for the collector
    try:
        read: list[list[Capture]] = []
        for start, end in chunks:
            chunk = []
            for index in range(start, end):
                try:
                    chunk.append(captures[index])
                except WhdebugError:
                    pipe.send(index)
                    return
            read.append(chunk)
        gc.enable()
        gc.freeze()  # what was read stays until its chunk is done: never scan it
        pipe.send(None)
        for number in range(len(read)):
            chunk, read[number] = read[number], []
            pipe.send([_analyse(session, capture, lines, row) for capture in chunk])
    except BaseException:  # noqa: BLE001 - said to the parent, which raises it
        pipe.send(_Failure(traceback.format_exc()))
    finally:
        pipe.close()


def _analyse(session: ReplaySession, capture: Capture, lines: bool, row: Row | None) -> _Result:
    report = session.check(capture)
    transaction_id = accepted_transaction(report)
    key = capture.source.key
    if report.outcome.status != "fires":
        return transaction_id, key, None, report
    witness = witness_key(report)
    report, line = session.encode(report) if lines else session.encode_shown(report)
    replayed = Replayed(line, report.outcome.status, report.event.value,
                        report.signature.verdict,
                        report.findings[0].code if report.findings else None, None)
    shown = row(capture, replayed) if row is not None else None
    fields = (line, replayed.status, replayed.event, replayed.verdict, replayed.top_code, shown)
    return transaction_id, key, (fields, witness, report.outcome.triggers, report.ok), None


def _enter(session: ReplaySession, captures: Sequence[Capture], start: int,
           results: list[_Result], lines: bool) -> Iterator[tuple[int, Replayed]]:
    """A chunk's results entered into the history in arrival order (`parallel.replay_many`)."""
    for index, (transaction_id, key, fired, checked) in enumerate(results, start):
        if transaction_id is not None:
            if session.dedupe.lookup(transaction_id) is not None:
                yield index, replay_here(session, captures[index], lines=lines)
                continue
            session.dedupe.record(transaction_id, key)
        session.dedupe.advance()
        if fired is not None:  # its line is final; the request may be a new witness
            (line, status, event, verdict, top_code, shown), witness, triggers, ok = fired
            if session.wants_witness(witness):
                session.witness(captures[index].request, witness)
            session.count(status, triggers, ok)
            yield index, Replayed(line, status, event, verdict, top_code, None, shown)
        else:  # weighed against the fired requests before it, then encoded, here
            report = session.keep_witnesses_working(captures[index].request, checked)
            report, line = session.encode(report)
            session.count(report.outcome.status, report.outcome.triggers, report.ok)
            yield index, Replayed(line, report.outcome.status, report.event.value,
                                  report.signature.verdict,
                                  report.findings[0].code if report.findings else None, report)
