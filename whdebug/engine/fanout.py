"""A long replay of requests read from files, spread over worker processes that read them.

`parallel.replay_many` forks workers that share the requests this process already read. Here
the requests may not be read yet (`formats.har.HarEntries`: a HAR file's entries, each read
when asked for), so reading them is spread too. Each worker owns every `workers`-th chunk of
requests, reads all of them first and says whether each one read (a bad entry: this process
reads that entry itself and raises its RequestFileError, the first one in the file, before
any report is out), then analyses them in order without the history, as
`ReplaySession.check` does; done with its own, it takes the chunks the others have not taken
yet, last first, so a worker the machine slows down holds no one up. A chunk comes back as
one string, the lines of its fired requests (JSON lines, or rows), and a small result per
request. This process takes the chunks in arrival order, enters each result into the
history as `parallel.replay_many` does, and writes the chunk's string as it is, with the
lines of the requests it finishes put in: a duplicate (analysed again, with the history) and
a request that does not fire (weighed against the fired ones, then encoded). So the output
is the one `ReplaySession.replay_line` gives, byte for byte. A request is read here only
when this process needs it: one of those, or a new witness.
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.connection
import pickle
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from typing import Any

from whdebug.engine.parallel import Replayed, frozen_heap, replay_here
from whdebug.engine.session import ReplaySession, accepted_transaction, witness_key
from whdebug.errors import WhdebugError
from whdebug.model.request import Capture

CHUNK = 250
"""Requests per chunk."""

Row = Callable[[Capture, Replayed], str]
"""How a face shows a fired request in one line (the worker writes it)."""
Finish = Callable[[int, Replayed], str]
"""How a face shows a request finished in this process (given its index): its line."""


def spread(session: ReplaySession, captures: Sequence[Capture], workers: int, *,
           finish: Finish, row: Row | None = None) -> Iterator[tuple[int, str]]:
    """The output of the replay, in arrival order, as blocks of whole lines ("\n" after
    each), with the number of requests done so far; counted in the session's summary.

    A fired request's line is the worker's: its JSON line, or with `row` its row. Any other
    request (one that does not fire, or a duplicate) is finished here (`replay_here`, or
    weighed against the witnesses and encoded) and `finish(index, replayed)` gives its line.
    Without `row`, the lines are the reports' JSON lines; with it, fired requests' reports
    are not encoded (`encode_shown`)."""
    lines = row is None
    chunks = [(start, min(start + CHUNK, len(captures)))
              for start in range(0, len(captures), CHUNK)]
    context = multiprocessing.get_context("fork")
    pipes: list[Connection] = []
    processes = []
    sys.stdout.flush()  # nothing buffered here is written again by a worker's exit
    sys.stderr.flush()
    with frozen_heap():
        claims = _Claims(context, len(chunks))
        _keep_freed_memory()  # here too: each chunk's message and text
        try:
            for index in range(workers):
                receiver, sender = context.Pipe(duplex=False)
                _widen(receiver)
                process = context.Process(
                    target=_work, args=(session, captures, chunks, index, workers, claims, row,
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
            for start, end, text, results in _in_order(pipes, chunks):
                yield end, _enter(session, captures, start, text, results, lines, finish)
        finally:
            for process in processes:
                if process.is_alive():
                    process.terminate()
                process.join()
            for pipe in pipes:
                pipe.close()


def _in_order(pipes: list[Connection], chunks: list[tuple[int, int]]) -> Iterator[
        tuple[int, int, str, list[_Result]]]:
    """Each chunk's bounds, text and results, in order, from whichever worker analysed it:
    a pipe is read when the next chunk is not in yet (so no worker waits on a full pipe while
    this process waits for another)."""
    waiting: dict[int, tuple[str, list[_Result]]] = {}
    live = list(pipes)
    for number, (start, end) in enumerate(chunks):
        while number not in waiting:
            if not live:
                raise RuntimeError(f"no replay worker sent chunk {number}")
            for pipe in multiprocessing.connection.wait(live):
                assert isinstance(pipe, Connection)
                try:
                    taken, text, results = _receive(pipe)
                except EOFError:  # that worker is done
                    live.remove(pipe)
                    continue
                waiting[taken] = (text, results)
        text, results = waiting.pop(number)
        yield start, end, text, results


class _Claims:
    """Which chunks a worker has taken (shared by the workers): each worker takes its own in
    order, then the others' not taken yet, last first, so none stands idle while the others
    still have chunks to do (a loaded machine gives the workers unequal shares)."""

    def __init__(self, context: Any, count: int) -> None:
        self._taken = context.RawArray("b", count)
        self._lock = context.Lock()

    def take(self, number: int) -> bool:
        """Take chunk `number`: False when a worker already has it."""
        with self._lock:
            if self._taken[number]:
                return False
            self._taken[number] = 1
            return True


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


def _send(pipe: Connection, message: Any) -> None:
    """A message to the parent, pickled by the plain pickler: multiprocessing's
    ForkingPickler (`Connection.send`) took three times as long for a chunk's text and
    results (1.5 ms against 0.5 ms for 250 requests), and the messages hold nothing it
    alone can reduce (no connection, socket or lock)."""
    pipe.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def _receive(pipe: Connection) -> Any:
    message = pickle.loads(pipe.recv_bytes())
    if isinstance(message, _Failure):
        raise RuntimeError(f"a replay worker failed:\n{message.text}")
    return message


class _Failure:
    """A worker's unexpected exception, as text (this process raises it)."""

    def __init__(self, text: str) -> None:
        self.text = text


_Fired = tuple[tuple[str, str, bool], tuple[str, ...], bool]
"""A fired request: its witness key, triggers and whether it is ok."""
_Result = tuple["str | None", "str | int", int, "_Fired | None", Any]
"""A request's accepted transaction id, its source key, where its line ends in the chunk's
text, and either what it fired or its report to finish here."""


def _work(session: ReplaySession, captures: Sequence[Capture], chunks: list[tuple[int, int]],
          worker: int, workers: int, claims: _Claims, row: Row | None,
          pipe: Connection) -> None:
    """In a worker: read its own chunks (every `workers`-th from `worker`; send the first
    unreadable index, or None), then send each chunk it takes (its number, text and
    results): its own in order, then any the others have not taken, last first."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its workers itself
    gc.disable()  # reading builds many objects and no cycles: nothing for the collector
    try:
        own = list(range(worker, len(chunks), workers))
        read: dict[int, list[Capture]] = {}
        for number in own:
            start, end = chunks[number]
            chunk = []
            for index in range(start, end):
                try:
                    chunk.append(captures[index])
                except WhdebugError:
                    _send(pipe, index)
                    return
            read[number] = chunk
        gc.enable()
        gc.freeze()  # what was read stays until its chunk is done: never scan it
        _send(pipe, None)
        for number in own:
            chunk = read.pop(number)
            if claims.take(number):
                _send(pipe, (number, *_analysed(session, chunk, row)))
        for number in range(len(chunks) - 1, -1, -1):
            if number % workers != worker and claims.take(number):
                try:  # its owner read it already: a bad entry is said by the owner
                    chunk = [captures[index] for index in range(*chunks[number])]
                except WhdebugError:
                    return
                _send(pipe, (number, *_analysed(session, chunk, row)))
    except BaseException:  # noqa: BLE001 - said to the parent, which raises it
        _send(pipe, _Failure(traceback.format_exc()))
    finally:
        pipe.close()


def _keep_freed_memory() -> None:
    """glibc: a chunk's text and its pickle (hundreds of KiB each) come from the heap and go
    back to it, instead of being mapped and unmapped each time (page faults every chunk: a
    third of a worker's system time). Set in this process too, so the workers inherit it."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(_M_TRIM_THRESHOLD, 256 << 20)
    except (ImportError, OSError, AttributeError):
        pass  # not glibc: the default works too


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def _analysed(session: ReplaySession, chunk: list[Capture],
              row: Row | None) -> tuple[str, list[_Result]]:
    """A chunk's text (its fired requests' lines, one string, each "\n" ended) and results."""
    out: list[str] = []
    results: list[_Result] = []
    size = 0  # where the last line so far ends in the text
    check = session.check
    for capture in chunk:
        report = check(capture)
        transaction_id = accepted_transaction(report)
        key = capture.source.key
        if report.outcome.status != "fires":
            results.append((transaction_id, key, size, None, report))
            continue
        witness = witness_key(report)
        if row is None:
            report, line = session.encode(report)
        else:
            report, _ = session.encode_shown(report)
            line = row(capture, Replayed(
                "", report.outcome.status, report.event.value, report.signature.verdict,
                report.findings[0].code if report.findings else None, None))
        out.append(line)
        size += len(line) + 1
        results.append((transaction_id, key, size,
                         (witness, report.outcome.triggers, report.ok), None))
    if not out:
        return "", results
    out.append("")  # the last line's end
    return "\n".join(out), results


def _enter(session: ReplaySession, captures: Sequence[Capture], start: int, text: str,
           results: list[_Result], lines: bool, finish: Finish) -> str:
    """A chunk's results entered into the history in arrival order (`parallel.replay_many`):
    its output, the worker's lines with those of the requests finished here put in."""
    if _enter_fired_run(session, captures, start, results):
        return text
    dedupe, count = session.dedupe, session.count
    lookup, record, advance = dedupe.lookup, dedupe.record, dedupe.advance
    wants_witness = session.wants_witness
    parts: list[str] = []
    position = 0  # in `text`: the start of the worker's lines not yet in `parts`
    line_start = 0
    for index, (transaction_id, key, end, fired, checked) in enumerate(results, start):
        begin, line_start = line_start, end  # this request's line in `text` ("" unless fired)
        if transaction_id is not None:
            if lookup(transaction_id) is not None:  # analysed again, with the history
                parts.append(text[position:begin])
                position = end
                parts.append(finish(index, replay_here(session, captures[index],
                                                       lines=lines)) + "\n")
                continue
            record(transaction_id, key)
        advance()
        if fired is not None:  # its line is final; the request may be a new witness
            witness, triggers, ok = fired
            if wants_witness(witness):
                session.witness(captures[index].request, witness)
            count("fires", triggers, ok)
        else:  # weighed against the fired requests before it, then encoded, here
            parts.append(text[position:begin])
            position = end
            report = session.keep_witnesses_working(captures[index].request, checked)
            report, line = session.encode(report)
            count(report.outcome.status, report.outcome.triggers, report.ok)
            parts.append(finish(index, Replayed(
                line, report.outcome.status, report.event.value, report.signature.verdict,
                report.findings[0].code if report.findings else None, report)) + "\n")
    if not parts:
        return text
    parts.append(text[position:])
    return "".join(parts)


def _enter_fired_run(session: ReplaySession, captures: Sequence[Capture], start: int,
                     results: list[_Result]) -> bool:
    """`_enter` for a chunk whose requests all fired with new transaction ids (none seen
    before, none twice in the chunk) and no dedupe window, in one step: the history records
    them all, the first request of each witness key not yet known is remembered, and the
    summary counts them; False, and nothing entered, for any other chunk."""
    if not results or any(fired is None for _, _, _, fired, _ in results):
        return False
    if not session.dedupe.record_new_run(
            [(transaction_id, key) for transaction_id, key, _, _, _ in results]):
        return False
    keys: set[tuple[str, str, bool]] = set()
    triggers: set[tuple[str, ...]] = set()
    all_ok = True
    for index, (_, _, _, fired, _) in enumerate(results, start):
        assert fired is not None
        witness, fired_triggers, ok = fired
        if witness not in keys:  # a key's first request in the chunk (`_enter`'s order)
            keys.add(witness)
            if session.wants_witness(witness):
                session.witness(captures[index].request, witness)
        triggers.add(fired_triggers)
        all_ok = all_ok and ok
    session.count_many("fires", len(results), triggers, all_ok)
    return True
