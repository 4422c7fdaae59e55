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
