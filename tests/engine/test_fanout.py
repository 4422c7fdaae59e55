"""`fanout.spread`: the replay's output, in arrival order, from worker processes that take
each other's chunks when one of them is slow; the same text as one process gives."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from factories import NOW, SECRET, make_capture

from whdebug.engine import fanout
from whdebug.engine.parallel import Replayed
from whdebug.engine.session import ReplaySession
from whdebug.model.request import Capture, Secrets
from whdebug.model.secrecy import MASK

from .test_parallel import captures, session


def one_process(replay: ReplaySession, requests: list[Capture]) -> str:
    return "".join(replay.replay_line(capture)[1] + "\n" for capture in requests)


def test_a_slow_worker_s_chunks_are_taken_by_the_other(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    """Worker 0 is slow: worker 1 takes its last chunks; the text is still one process's,
    duplicates and requests that do not fire finished in order, and the summary counts all."""
    requests = captures()
    expected = one_process(session(None), requests)
    analysed = fanout._analysed
    parent = os.getpid()

    def slow_first(replay, chunk, row):  # type: ignore[no-untyped-def]
        text, results = analysed(replay, chunk, row)
        mine = tmp_path / f"worker-{os.getpid()}"
        with mine.open("a") as handle:
            handle.write(f"{chunk[0].source.file}\n")
        if requests.index(chunk[0]) // fanout.CHUNK % 2 == 0 and len(
                mine.read_text().splitlines()) == 1:
            time.sleep(1.0)  # worker 0's first chunk
        return text, results

    monkeypatch.setattr(fanout, "CHUNK", 4)  # 10 chunks, 5 each
    monkeypatch.setattr(fanout, "_analysed", slow_first)
    spread = session(None)
    blocks = list(fanout.spread(spread, requests, 2,
                                finish=lambda _, replayed: replayed.line))
    assert os.getpid() == parent
    assert "".join(text for _, text in blocks) == expected
    assert [done for done, _ in blocks] == list(range(4, 41, 4))
    reference = session(None)
    for capture in requests:
        reference.replay(capture)
    assert spread.summary() == reference.summary()
    taken = [path.read_text().splitlines() for path in tmp_path.iterdir()]
    assert len(taken) == 2
    assert sorted(sum(taken, [])) == sorted(f"f#{i}" for i in range(0, 40, 4))  # each once
    assert min(len(chunks) for chunks in taken) < 5  # worker 1 took some of worker 0's
    assert MASK in expected and SECRET not in expected


def test_rows_of_fired_requests_come_from_the_workers_and_the_others_from_finish() -> None:
    """With `row`, a fired request's row is the worker's; a duplicate or a request that does
    not fire is given to `finish` (with its report), in arrival order."""
    requests = captures()
    finished: list[tuple[int, str]] = []

    def row(capture: Capture, replayed: Replayed) -> str:
        return f"row {capture.source.file} {replayed.status} {replayed.event}"

    def finish(index: int, replayed: Replayed) -> str:
        assert replayed.report is not None
        finished.append((index, replayed.status))
        return f"finished {index} {replayed.status}"

    reference = session(None)
    expected = []
    for index, capture in enumerate(requests):
        report = reference.replay(capture)
        if report.outcome.status == "fires":
            expected.append(f"row {capture.source.file} fires {report.event.value}")
        else:
            expected.append(f"finished {index} {report.outcome.status}")
    text = "".join(block for _, block in fanout.spread(session(None), requests, 2, row=row,
                                                       finish=finish))
    assert text.splitlines() == expected
    statuses = {status for _, status in finished}
    assert statuses == {"duplicate", "rejected", "no-event"}
    assert [index for index, _ in finished] == sorted(index for index, _ in finished)


def test_a_secret_in_a_fired_request_s_event_is_masked_in_its_row() -> None:
    """The worker writes the row from the report masked as `encode_shown` masks it."""
    requests = [make_capture({"event": "contact.created", "id": f"e-{i}"}, file=f"f#{i}")
                for i in range(6)]
    requests.append(make_capture({"event": SECRET, "id": "e-s"}, file="f#s"))
    replay = ReplaySession(session(None).definition, Secrets({"webhookSecret": SECRET}),
                           now=NOW)
    text = "".join(block for _, block in fanout.spread(
        replay, requests, 2, row=lambda capture, replayed: f"{replayed.event}",
        finish=lambda _, replayed: f"{replayed.event}"))
    assert SECRET not in text and MASK in text.splitlines()[-1]


@pytest.mark.parametrize("window", [None, 2])
def test_a_chunk_of_new_fired_deliveries_is_entered_at_once(monkeypatch: pytest.MonkeyPatch,
                                                            window: int | None) -> None:
    """A chunk whose requests all fire with new ids is entered in one step: the same text,
    summary and witnesses as one process; a chunk with an id seen before, an id twice, a
    request that does not fire, or a dedupe window goes one request at a time."""
    ids = ["a0", "a1", "a2", "a3",  # new: at once
           "a4", "a1", "a5", "a6",  # an id of an earlier chunk
           "b0", "b1", "b1", "b2",  # an id twice in the chunk
           "c0", "c1", "c2", "c3",  # new, and a new event: at once, a new witness
           "d0", None, "d1", "d2",  # one without an id: at once
           "e0", "e1", "e2", "e3"]  # one does not fire
    requests = []
    for index, ident in enumerate(ids):
        body: dict[str, str] = {"event": "deal.won" if 12 <= index < 16 else "contact.created"}
        if ident is not None:
            body["id"] = ident
        options = {"signature": "0" * 64} if index == 22 else {}
        requests.append(make_capture(body, file=f"f#{index}", **options))
    entered: list[bool] = []
    at_once = fanout._enter_fired_run

    def watched(*args):  # type: ignore[no-untyped-def]
        entered.append(at_once(*args))
        return entered[-1]

    monkeypatch.setattr(fanout, "CHUNK", 4)
    monkeypatch.setattr(fanout, "_enter_fired_run", watched)
    alone = session(window)
    expected = one_process(alone, requests)
    spread = session(window)
    blocks = list(fanout.spread(spread, requests, 2, finish=lambda _, replayed: replayed.line))
    assert "".join(text for _, text in blocks) == expected
    assert spread.summary() == alone.summary() and spread.all_ok == alone.all_ok
    assert spread._witnesses.keys() == alone._witnesses.keys()
    assert [request.headers for request in spread._witnesses.values()] == [
        request.headers for request in alone._witnesses.values()]
    assert entered == ([True, False, False, True, True, False] if window is None
                       else [False] * 6)
    assert '"status":"duplicate"' in expected and '"status":"rejected"' in expected


@pytest.mark.parametrize("frozen_before", [True, False])
def test_the_heap_is_left_as_frozen_as_the_caller_had_it(frozen_before: bool) -> None:
    """`replay` freezes what it read for the whole replay; a spread ending must not unfreeze
    it (the exit's collection then scanned the whole heap again: 30 ms of a 20k replay), nor
    leave frozen a heap that was not."""
    import gc

    gc.unfreeze()
    if frozen_before:
        gc.freeze()
    try:
        text = "".join(block for _, block in fanout.spread(
            session(None), captures(), 2, finish=lambda index, replayed: replayed.line))
        assert text.count("\n") == len(captures())
        assert (gc.get_freeze_count() > 0) is frozen_before
    finally:
        gc.unfreeze()
