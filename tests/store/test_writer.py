"""The capture writer: where a batch commits (the loop when that is cheap, else its thread)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from whdebug.model.request import CapturedRequest
from whdebug.store.store import Store
from whdebug.store.writer import CaptureWriter

REQUEST = CapturedRequest("POST", "/hook", headers=(("X-A", "1"),), body=b'{"a":1}')


def _committing_threads(store: Store) -> list[str]:
    threads: list[str] = []
    insert_many = store.insert_many

    def recorded(captures):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return insert_many(captures)

    store.insert_many = recorded  # type: ignore[method-assign]

    async def main() -> list[int]:
        writer = CaptureWriter(store, close_store=False)
        ids = [await writer.insert(REQUEST) for _ in range(3)]
        await writer.aclose()
        return ids

    assert asyncio.run(main()) == [1, 2, 3]
    return threads


@pytest.mark.parametrize(("durability", "where"), [
    ("normal", "MainThread"),  # WAL + NORMAL: a commit is a write, cheap on the loop
    ("full", "whdebug-capture-writer"),  # an fsync per commit never blocks the loop
])
def test_where_a_batch_commits(tmp_path: Path, durability: str, where: str) -> None:
    with Store.open(tmp_path / "c.db", durability=durability) as store:  # type: ignore[arg-type]
        threads = _committing_threads(store)
        assert set(threads) == {where}, threads
        assert store.ids() == [1, 2, 3]


def test_wal_checkpoints_leave_the_loop_for_their_own_thread(tmp_path: Path) -> None:
    """Commits on the loop never checkpoint (wal_autocheckpoint is 0 while the writer runs);
    the checkpoint thread copies the WAL into the database file meanwhile; the store's own
    setting is back after close, and every row is there."""
    import os
    import sqlite3
    import time
    from contextlib import closing

    path = tmp_path / "c.db"
    big = CapturedRequest("POST", "/hook", headers=(("X-A", "1"),), body=b"x" * 50_000)
    with Store.open(path) as store:
        connection = store._connection
        assert connection is not None
        (default,) = connection.execute("PRAGMA wal_autocheckpoint").fetchone()
        threads: list[str] = []

        async def main() -> int:
            writer = CaptureWriter(store, close_store=False)
            for _ in range(40):
                await asyncio.gather(*(writer.insert(big) for _ in range(10)))
            (during,) = connection.execute("PRAGMA wal_autocheckpoint").fetchone()
            threads.extend(thread.name for thread in threading.enumerate())
            deadline = time.monotonic() + 10
            while os.path.getsize(path) < 15_000_000 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # the last checkpoint may still be running
            await writer.aclose()
            return int(during)

        assert asyncio.run(main()) == 0
        assert "whdebug-wal-checkpoint" in threads
        assert os.path.getsize(path) >= 15_000_000  # 400 x 50 kB copied out of the WAL
        assert connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == default
        assert store.count() == 400 and store.get(400).request.body == big.body
    with closing(sqlite3.connect(path)) as check:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_the_wal_starts_over_under_a_steady_load(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop commits while each passive checkpoint runs, so the WAL was never all copied
    back when a write began and it grew by the whole load. Now the loop copies the rest
    itself when a checkpoint left too much, and its next commit rewinds the WAL. Every row
    is still there."""
    import os
    import sqlite3
    from contextlib import closing

    from whdebug.store import writer as writer_module

    monkeypatch.setattr(writer_module, "CHECKPOINT_COMMITS", 2)
    monkeypatch.setattr(writer_module, "REWIND_FRAMES", 16)
    path = tmp_path / "c.db"
    wal = Path(f"{path}-wal")
    big = CapturedRequest("POST", "/hook", headers=(("X-A", "1"),), body=b"x" * 20_000)
    sizes: list[int] = []
    rewinds: set[int] = set()
    with Store.open(path) as store:

        async def main() -> None:
            writer = CaptureWriter(store, close_store=False)
            for _ in range(500):  # 100 MB of bodies, with no pause between batches
                await asyncio.gather(*(writer.insert(big) for _ in range(10)))
                with wal.open("rb") as header:  # its checkpoint sequence: +1 per rewind
                    rewinds.add(int.from_bytes(header.read(16)[12:16], "big"))
                sizes.append(wal.stat().st_size)
            await writer.aclose()

        asyncio.run(main())
        assert store.count() == 5000 and store.get(5000).request.body == big.body
    # Without the rewind the loop's WAL started over once, at the start, and grew to 66 to
    # 143 MB: the whole load, and more. With it: 21 to 135 rewinds, at most 45 MB.
    assert len(rewinds) >= 5, f"the WAL started over {len(rewinds)} times"
    assert max(sizes) < 60_000_000, f"the WAL grew to {max(sizes):,} bytes"
    with closing(sqlite3.connect(path)) as check:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert os.path.getsize(path) >= 100_000_000


def test_a_burst_that_ends_with_a_rewind_pending_is_still_copied_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checkpointer leaves the rest of the WAL to the next commit; when none comes (the
    burst is over) it copies the rest itself after REWIND_WAIT, so the database file holds
    every row without waiting for the store to close. Before, it waited for a commit
    forever, and under load the file stayed short of the rows."""
    import os
    import time

    from whdebug.store import writer as writer_module

    monkeypatch.setattr(writer_module, "CHECKPOINT_COMMITS", 2)
    monkeypatch.setattr(writer_module, "REWIND_FRAMES", 16)
    monkeypatch.setattr(writer_module, "REWIND_WAIT", 0.2)
    path = tmp_path / "c.db"
    big = CapturedRequest("POST", "/hook", headers=(("X-A", "1"),), body=b"x" * 50_000)
    with Store.open(path) as store:

        async def main() -> tuple[bool, int]:
            writer = CaptureWriter(store, close_store=False)
            for _ in range(40):
                await asyncio.gather(*(writer.insert(big) for _ in range(10)))
            checkpointer = writer._checkpointer
            assert checkpointer is not None
            deadline = time.monotonic() + 10
            while (os.path.getsize(path) < 20_000_000 or checkpointer.rewind) and (
                    time.monotonic() < deadline):
                await asyncio.sleep(0.05)
            pending, size = checkpointer.rewind, os.path.getsize(path)
            await writer.aclose()
            return pending, size

        pending, size = asyncio.run(main())
    assert size >= 20_000_000, f"{size:,} bytes copied out of 20 MB of rows"
    assert not pending


def test_a_reader_holding_the_wal_does_not_make_every_commit_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a reader's snapshot holds frames, the WAL cannot start over; the loop still
    tries only once per request of the checkpointer thread, not before every commit (each
    try flushes the disk twice on the event loop)."""
    import sqlite3
    from contextlib import closing

    from whdebug.store import writer as writer_module

    monkeypatch.setattr(writer_module, "CHECKPOINT_COMMITS", 4)
    monkeypatch.setattr(writer_module, "REWIND_FRAMES", 16)
    tries: list[int] = []
    rewind = writer_module._rewind
    monkeypatch.setattr(writer_module, "_rewind",
                        lambda connection: (tries.append(1), rewind(connection))[1])
    path = tmp_path / "c.db"
    big = CapturedRequest("POST", "/hook", headers=(("X-A", "1"),), body=b"x" * 20_000)
    with Store.open(path) as store, closing(sqlite3.connect(path)) as reader:

        async def main() -> None:
            writer = CaptureWriter(store, close_store=False)
            await writer.insert(big)
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM bodies").fetchone()  # holds a snapshot
            for _ in range(200):
                await asyncio.gather(*(writer.insert(big) for _ in range(10)))
            reader.execute("COMMIT")
            await writer.aclose()

        asyncio.run(main())
        assert store.count() == 2001
    assert 0 < len(tries) <= 200 // 4, f"{len(tries)} checkpoints on the loop in 200 commits"


def test_insert_then_calls_back_after_the_commit_and_may_insert_again(tmp_path: Path) -> None:
    """`insert_then` (the receiver's direct path) gets (id, None) once the row is durable; a
    callback may submit the next insert at once, and one that raises strands no other."""
    results: list[tuple[int | None, str | None]] = []
    with Store.open(tmp_path / "c.db") as store:

        async def main() -> None:
            writer = CaptureWriter(store, close_store=False)
            done = asyncio.get_running_loop().create_future()

            def first(new_id: int | None, error: BaseException | None) -> None:
                assert store.get(new_id or 0).request.body == REQUEST.body  # committed
                results.append((new_id, None if error is None else str(error)))
                writer.insert_then(REQUEST, second)
                raise RuntimeError("a buggy callback")

            def second(new_id: int | None, error: BaseException | None) -> None:
                results.append((new_id, None if error is None else str(error)))
                done.set_result(None)

            writer.insert_then(REQUEST, first)
            writer.insert_then(REQUEST, lambda new_id, error: results.append((new_id, None)))
            await asyncio.wait_for(done, 5)
            await writer.aclose()
            writer_closed: list[BaseException | None] = []
            with pytest.raises(Exception, match="closed"):
                writer.insert_then(REQUEST, lambda new_id, error: writer_closed.append(error))

        asyncio.run(main())
        assert results == [(1, None), (2, None), (3, None)]
        assert store.ids() == [1, 2, 3]
