"""The PostgreSQL capture store against a real server (see tests/pg_support.py)."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pg_support import store_as_before_version_6

from whdebug.errors import StoreError
from whdebug.model.request import Capture, CapturedRequest, ForwardResult, Reply, Source
from whdebug.store.base import open_store, parse_age, store_location
from whdebug.store.postgres import SCHEMA_VERSION, PostgresStore
from whdebug.store.store import Store

T0 = datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)


def make_request(*, body: bytes = b'{"action":"opened"}',
                 headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),
                                                         ("User-Agent", "GitHub-Hookshot/1")),
                 received_at: datetime = T0) -> Capture:
    return Capture(CapturedRequest("POST", "/miniapps/github/webhooks", "", headers, body),
                   Source(None, None, received_at, "127.0.0.1:50000"))

ODD = Capture(
    CapturedRequest(
        method="POST", path="/hooks/%00caf\xe9/x", query="a=1&a=2&b=%FF\xff",
        headers=(("Host", "x"), ("X-Dup", "one"), ("x-dup", "two\xff\x01"),
                 ("X-Empty", ""), ("Content-Type", "application/json; charset=latin-1"),
                 ("Authorization", "Bearer tok\xe9n")),
        body=bytes(range(256)) + b"\x00\r\n\xff", http_version="1.1", body_size=9999,
        truncated=True),
    Source(None, None, T0, "10.0.0.1:1234"),
    Reply(202, b"accepted\x00"), ForwardResult(502, b"\xfe", error="refused"))


def test_capture_read_back_is_byte_identical_to_sqlite(pg_url: str, tmp_path: Path) -> None:
    captures = [ODD, make_request(), make_request(body=b"", headers=())]
    with PostgresStore.open(pg_url) as pg, Store.open(tmp_path / "c.db") as lite:
        pg_ids, lite_ids = pg.insert_many(captures), lite.insert_many(captures)
        assert pg_ids == lite_ids == [1, 2, 3]
        for capture_id in pg_ids:
            assert pg.get(capture_id) == lite.get(capture_id)
        assert pg.captures_between(1, 3) == lite.captures_between(1, 3)
        got = pg.get(1)
        assert got.request.body == ODD.request.body
        assert [(n.encode("latin-1"), v.encode("latin-1")) for n, v in got.request.headers] == \
            [(n.encode("latin-1"), v.encode("latin-1")) for n, v in ODD.request.headers]
        assert pg.page(limit=10) == lite.page(limit=10)
        assert pg.since(1) == lite.since(1)
        assert pg.ids(2) == lite.ids(2) == [2, 3]
        assert pg.count() == 3 and pg.latest_id() == 3
        pg.set_response(2, 500, b"boom")
        pg.set_forward(2, None, None, "timed out")
        assert pg.get(2).reply == Reply(500, b"boom")
        assert pg.forward_error(2) == "timed out"
        assert pg.captures_between(1, 3) == [pg.get(1), pg.get(2), pg.get(3)]
        pg.delete(2)
        assert pg.ids() == [1, 3]
        with pytest.raises(StoreError, match="no capture #2"):
            pg.get(2)
        assert pg.captures_between(1, 9) == [pg.get(1), pg.get(3)]


def test_prune_keeps_recent_and_the_newest_n(pg_url: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    ages = [30, 20, 10, 8, 1, 0]
    captures = [make_request(received_at=now - timedelta(days=days)) for days in ages]
    for location in (pg_url, tmp_path / "c.db"):
        with open_store(location) as store:
            store.insert_many(captures)
            assert store.prune(parse_age("7d"), keep_last=5) == 1
            assert store.ids() == [2, 3, 4, 5, 6]
            assert store.prune(timedelta(days=7)) == 3
            assert store.ids() == [5, 6]


def test_migrations_race_once(pg_url: str) -> None:
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            PostgresStore.open(pg_url).close()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    import psycopg

    with psycopg.connect(pg_url) as connection:
        rows = connection.execute("SELECT version FROM whdebug_migrations").fetchall()
        salts = connection.execute("SELECT salt FROM whdebug_analysis_key").fetchall()
    assert rows == [(version,) for version in range(1, SCHEMA_VERSION + 1)]
    assert len(salts) == 1 and len(salts[0][0]) == 32  # the index's key, made once


def test_ids_follow_commit_order_across_writers(pg_url: str) -> None:
    """Four writers insert batches at once; every id is unique, and a reader that polls
    `since` never sees an id appear below one it already saw."""
    stop = threading.Event()
    seen: list[int] = []
    late: list[int] = []

    def follow() -> None:
        with PostgresStore.open(pg_url) as reader:
            while True:
                stopping = stop.is_set()  # every writer has committed: one last poll
                for summary in reader.since(max(seen, default=0)):
                    seen.append(summary.id)
                if stopping:
                    break
            # ids below the highest already seen that showed up later would be missed
            late.extend(set(reader.ids()) - set(seen))

    results: list[list[int]] = []

    def write() -> None:
        with PostgresStore.open(pg_url) as writer:
            for _ in range(15):
                results.append(writer.insert_many([make_request() for _ in range(3)]))

    follower = threading.Thread(target=follow)
    follower.start()
    writers = [threading.Thread(target=write) for _ in range(4)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    follower.join()
    every = [capture_id for batch in results for capture_id in batch]
    assert len(every) == len(set(every)) == 180
    assert sorted(every) == list(range(1, 181))
    assert late == []
    assert seen == sorted(seen)


def test_unreachable_store_is_one_line(tmp_path: Path) -> None:
    url = f"postgresql://postgres@/nowhere?host={tmp_path}"
    with pytest.raises(StoreError) as caught:
        open_store(store_location(url))
    assert "cannot reach the PostgreSQL capture store" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_store_location_keeps_urls_and_masks_passwords() -> None:
    from whdebug.store.base import display_location

    url = "postgresql://team:s3cret@db.example:5432/captures"
    assert store_location(url) == url
    assert store_location(None, {"WHDEBUG_STORE": url}) == url
    assert store_location("x/captures.db") == Path("x/captures.db")
    assert "s3cret" not in display_location(url)
    assert display_location(url) == "postgresql://team:***@db.example:5432/captures"


def test_without_a_server_ci_fails_where_a_laptop_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    import pg_support

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: PostgreSQL tests must not skip"):
        pg_support._skip(pg_support.SKIP_REASON)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y postgresql"):
        pg_support._skip(pg_support.SKIP_REASON)


def test_a_newer_schema_is_refused_with_one_line(pg_url: str) -> None:
    import psycopg

    PostgresStore.open(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute("INSERT INTO whdebug_migrations (version) VALUES (%s)",
                           (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer than this whdebug understands") as caught:
        PostgresStore.open(pg_url)
    assert "\n" not in str(caught.value)


class _LostAnswer:
    """The store's session for an insert batch (one statement, its own transaction), with
    the connection failing around it: after the commit landed (`after=True`: the answer is
    lost) or before the statement arrived (nothing is written)."""

    def __init__(self, store: PostgresStore, *, after: bool) -> None:
        self.store, self.after, self.real = store, after, store._session

    def __call__(self, write: bool = False, batch: bool = False) -> Any:
        from contextlib import contextmanager

        @contextmanager
        def session() -> Any:
            if not batch:
                with self.real(write) as connection:
                    yield connection
                return
            with self.real(write, batch) as connection:
                if not self.after:  # the server ends the session before the batch arrives
                    import psycopg

                    with psycopg.connect(self.store.url, autocommit=True) as other:
                        other.execute("SELECT pg_terminate_backend(%s)",
                                      (connection.info.backend_pid,))
                yield connection
            if self.after:
                self.store._drop()
                raise StoreError("PostgreSQL capture store unavailable: server closed the "
                                 "connection unexpectedly")

        return session()


def test_a_commit_whose_answer_was_lost_is_not_reported_failed(pg_url: str) -> None:
    """The COMMIT landed but its answer did not arrive: the rows are there, so the batch is
    committed (its requests are answered 2xx) and a provider's retry stores no second copy."""
    with PostgresStore.open(pg_url) as store:
        store._session = _LostAnswer(store, after=True)  # type: ignore[method-assign]
        ids = store.insert_many([make_request(), make_request(body=b"{}")])
        del store._session
        assert ids == [1, 2] and store.ids() == [1, 2]


def test_a_commit_that_never_landed_still_fails(pg_url: str) -> None:
    with PostgresStore.open(pg_url) as store:
        store._session = _LostAnswer(store, after=False)  # type: ignore[method-assign]
        with pytest.raises(StoreError):
            store.insert_many([make_request()])
        del store._session
        assert store.ids() == []


def test_a_killed_test_run_stops_its_throwaway_cluster(tmp_path: Path) -> None:
    """SIGTERM (a CI timeout) skips pytest's teardown; the cluster is stopped and removed
    anyway (by its reaper process), and the run still dies of the signal."""
    import signal
    import subprocess
    import sys
    import time

    from paths import REPO

    (tmp_path / "test_hold.py").write_text(
        "import time\n\n"
        "def test_hold(pg_cluster):\n"
        "    print('ROOT', pg_cluster.root, flush=True)\n"
        "    time.sleep(60)\n")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["pg_support"]\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO)])}
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:randomly", "-p", "no:cacheprovider",
         str(tmp_path / "test_hold.py")], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    assert run.stdout is not None
    root = None
    deadline = time.monotonic() + 60
    while root is None and time.monotonic() < deadline:
        line = run.stdout.readline()
        if line.startswith("ROOT "):
            root = Path(line.split(" ", 1)[1].strip())
    assert root is not None and (root / "data" / "postmaster.pid").exists()
    run.send_signal(signal.SIGTERM)
    try:
        assert run.wait(timeout=30) == -signal.SIGTERM
    finally:
        run.stdout.close()
    deadline = time.monotonic() + 30  # the reaper stops it once the run is gone
    while root.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not root.exists()


def _sleep_forever() -> None:
    import time

    time.sleep(60)


def test_a_forked_worker_killed_with_sigterm_leaves_the_cluster_running(
        pg_cluster: Any) -> None:
    """Terminating a process forked by a test (a worker pool) only ends that process: the
    session's cluster keeps running."""
    import multiprocessing
    import signal

    import psycopg

    child = multiprocessing.get_context("fork").Process(target=_sleep_forever)
    child.start()
    child.terminate()
    child.join(timeout=20)
    assert child.exitcode == -signal.SIGTERM
    with psycopg.connect(pg_cluster.url(), autocommit=True) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)


def test_a_failed_batch_is_not_mistaken_for_an_equal_capture_stored_before(pg_url: str) -> None:
    """A batch whose statement never ran is not reported stored because a capture equal to
    it in every byte (a second import of one file) was committed before it was sent."""
    with PostgresStore.open(pg_url) as store:
        assert store.insert_many([make_request()]) == [1]
        store._session = _LostAnswer(store, after=False)  # type: ignore[method-assign]
        with pytest.raises(StoreError):
            store.insert_many([make_request()])
        del store._session
        assert store.ids() == [1]


def test_the_writer_commits_postgres_batches_on_its_event_loop(pg_url: str) -> None:
    """The receiver's inserts on PostgreSQL go through the store's AsyncConnection on the
    event loop, never through the writer thread, and every capture gets its own row."""
    import asyncio

    from whdebug.store.writer import CaptureWriter

    store = PostgresStore.open(pg_url)
    on_thread: list[int] = []
    real = store.insert_many
    store.insert_many = lambda captures: on_thread.append(1) or real(captures)  # type: ignore[method-assign]
    writer = CaptureWriter(store, close_store=True)

    async def main() -> list[int]:
        ids = await asyncio.gather(*(writer.insert(make_request(body=b"%d" % i))
                                     for i in range(20)))
        assert store._async is not None
        await writer.aclose()
        return list(ids)

    ids = asyncio.run(main())
    assert sorted(ids) == list(range(1, 21)) and on_thread == []
    with PostgresStore.open(pg_url) as check:
        assert [check.get(i).request.body for i in ids] == [b"%d" % i for i in range(20)]


@pytest.mark.parametrize("landed", [True, False])
def test_an_async_batch_whose_answer_was_lost(pg_url: str, monkeypatch: pytest.MonkeyPatch,
                                              landed: bool) -> None:
    """On the loop as on the thread: a batch that committed although its answer was lost is
    reported stored with its ids; one that never ran raises StoreError and stores nothing."""
    import asyncio

    import psycopg

    from whdebug.store import postgres

    real_send = postgres.send_batch

    async def send_batch(*args: Any) -> list[int]:
        if landed:
            await real_send(*args)
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    with PostgresStore.open(pg_url) as store:
        assert store.insert_many([make_request()]) == [1]  # an equal capture stored before
        monkeypatch.setattr(postgres, "send_batch", send_batch)
        batch = [make_request(), make_request(body=b"{}")]
        if landed:
            assert asyncio.run(store.insert_many_async(batch)) == [2, 3]
        else:
            with pytest.raises(StoreError, match="unavailable"):
                asyncio.run(store.insert_many_async(batch))
        monkeypatch.undo()
        assert store.ids() == ([1, 2, 3] if landed else [1])


def test_a_version_3_database_compresses_new_bodies_with_lz4_and_reads_all_back_exactly(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Schema version 4 stores bodies with lz4 (cheaper for the server than pglz); bodies
    stored before it keep pglz; every body reads back byte for byte."""
    import os

    import psycopg

    from whdebug.store import pg_schema

    def bodies(seed: bytes) -> list[bytes]:  # compressible, incompressible, at the threshold
        return [b'{"a":"' + seed * 3000 + b'"}', os.urandom(9000), os.urandom(700).hex().encode()
                + seed * 700]

    monkeypatch.setattr(pg_schema, "MIGRATIONS", pg_schema.MIGRATIONS[:3])
    monkeypatch.setattr(pg_schema, "SCHEMA_VERSION", 3)
    old = bodies(b"o")
    PostgresStore.open(pg_url).close()
    assert store_as_before_version_6(pg_url, [make_request(body=body) for body in old]) == [
        1, 2, 3]
    monkeypatch.undo()
    new = bodies(b"n")
    with PostgresStore.open(pg_url) as store:
        assert store.insert_many([make_request(body=body) for body in new]) == [4, 5, 6]
        assert [store.get(i).request.body for i in range(1, 7)] == old + new
    with psycopg.connect(pg_url) as connection:
        assert connection.execute("SELECT max(version) FROM whdebug_migrations").fetchone() == (
            SCHEMA_VERSION,) and SCHEMA_VERSION >= 4
        methods = dict(connection.execute(  # bodies in their capture's row since version 6
            "SELECT capture_id, pg_column_compression(body) FROM whdebug_bodies UNION ALL "
            "SELECT id, pg_column_compression(body) FROM whdebug_captures "
            "WHERE body IS NOT NULL").fetchall())
    assert methods[1] == methods[3] == "pglz" and methods[4] == methods[6] == "lz4"
    assert methods[2] is None and methods[5] is None  # random bytes are stored uncompressed


def _orphan_bodies(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM whdebug_bodies AS b WHERE NOT EXISTS "
            "(SELECT 1 FROM whdebug_captures AS c WHERE c.id = b.capture_id)").fetchone()
    return int(row[0])


def test_a_version_4_database_drops_the_body_foreign_key_and_deletes_still_take_bodies(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Schema version 5 drops the bodies' foreign key (a check per stored body); captures
    stored before read back the same, and `delete` and `prune` still remove the bodies of
    the captures they remove, as the key's ON DELETE CASCADE did."""
    import psycopg

    from whdebug.store import pg_schema

    monkeypatch.setattr(pg_schema, "MIGRATIONS", pg_schema.MIGRATIONS[:4])
    monkeypatch.setattr(pg_schema, "SCHEMA_VERSION", 4)
    now = datetime.now(UTC)
    old = [make_request(body=b"old %d" % i, received_at=now - timedelta(days=(10, 9, 8, 1)[i]))
           for i in range(4)]
    PostgresStore.open(pg_url).close()
    assert store_as_before_version_6(pg_url, old) == [1, 2, 3, 4]
    foreign_keys = ("SELECT count(*) FROM pg_constraint WHERE "
                    "conrelid = 'whdebug_bodies'::regclass AND contype = 'f'")
    with psycopg.connect(pg_url) as connection:
        assert connection.execute(foreign_keys).fetchone() == (1,)
    monkeypatch.undo()
    with PostgresStore.open(pg_url) as store:
        with psycopg.connect(pg_url) as connection:
            assert connection.execute(foreign_keys).fetchone() == (0,)
            assert connection.execute("SELECT max(version) FROM whdebug_migrations"
                                      ).fetchone() == (SCHEMA_VERSION,)
        assert store.insert_many([make_request(body=b"new", received_at=now)]) == [5]
        assert [store.get(i).request.body for i in range(1, 6)] == [
            b"old 0", b"old 1", b"old 2", b"old 3", b"new"]
        store.delete(2)
        assert _orphan_bodies(pg_url) == 0
        assert store.prune(timedelta(days=7)) == 2  # captures 1 and 3 (10 and 8 days old)
        assert store.ids() == [4, 5]
        assert _orphan_bodies(pg_url) == 0
        with psycopg.connect(pg_url) as connection:  # a new body is in its capture's row
            assert connection.execute("SELECT capture_id FROM whdebug_bodies ORDER BY 1"
                                      ).fetchall() == [(4,)]
            assert connection.execute("SELECT id FROM whdebug_captures WHERE body IS NOT NULL"
                                      ).fetchall() == [(5,)]
        assert [store.get(i).request.body for i in (4, 5)] == [b"old 3", b"new"]
        assert store.captures_between(1, 9) == [store.get(4), store.get(5)]


def test_batches_committed_on_the_event_loop_read_back_as_sqlite_does(
        pg_url: str, tmp_path: Path) -> None:
    """The loop's batches are encoded by whdebug itself (pg_wire.py, binary parameters):
    every column reads back equal to SQLite's, for prepared (small) and unprepared (large)
    batches, and for a prepared statement used a second time."""
    import asyncio

    from whdebug.store.pg_wire import PREPARED_ROWS

    full = Capture(ODD.request, Source(None, None, T0 - timedelta(days=9000), None,
                                       edited_from=7),
                   Reply(201, b""), ForwardResult(201, b"ok\x00", (("X-A", "1"), ("x-a", "\xff")),
                                                  0.125, "caf\xe9 refused"))
    naive = make_request(received_at=datetime(2031, 2, 3, 4, 5, 6, 999999))
    captures = [ODD, full, naive, make_request(body=b"", headers=())]
    big = [make_request(body=b"%d" % i, received_at=T0 + timedelta(microseconds=i))
           for i in range(PREPARED_ROWS + 3)]

    async def main(store: PostgresStore) -> list[int]:
        ids = await store.insert_many_async(captures)
        ids += await store.insert_many_async(big)
        ids += await store.insert_many_async(captures)
        await store.close_async()
        return ids

    with PostgresStore.open(pg_url) as pg, Store.open(tmp_path / "c.db") as lite:
        ids = asyncio.run(main(pg))
        assert ids == list(range(1, 2 * len(captures) + len(big) + 1))
        assert lite.insert_many(captures + big + captures) == ids
        assert pg.captures_between(1, len(ids)) == lite.captures_between(1, len(ids))
        assert pg.get(2).forward == full.forward and pg.get(2).source.edited_from == 7
        assert pg.get(3).source.received_at == datetime(2031, 2, 3, 4, 5, 6, 999999, tzinfo=UTC)
