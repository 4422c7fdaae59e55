"""The SQLite capture store."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whdebug.errors import StoreError
from whdebug.model.request import Capture, CapturedRequest, ForwardResult, Reply, Source
from whdebug.store.store import (
    APPLICATION_ID,
    COUNT_SQL,
    PAGE_SQL,
    SCHEMA_VERSION,
    SINCE_SQL,
    CaptureSummary,
    Store,
    default_store_path,
)

T0 = datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)


_SOURCE = ("capture_id", "received_at", "client")


def make_request(**overrides: Any) -> Capture:
    """A capture; `capture_id`, `received_at` and `client` go to its source."""
    source: dict[str, Any] = {"received_at": T0, "client": "127.0.0.1:50000"}
    source.update((key, overrides.pop(key)) for key in _SOURCE if key in overrides)
    fields: dict[str, Any] = {
        "method": "POST",
        "path": "/miniapps/github/webhooks",
        "headers": (
            ("Host", "127.0.0.1:8787"),
            ("Content-Type", "application/json"),
            ("User-Agent", "GitHub-Hookshot/1"),
        ),
        "body": b'{"action":"opened"}',
    }
    fields.update(overrides)
    return Capture(CapturedRequest(**fields), Source(**source))


def pragma(path: Path, name: str) -> Any:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(f"PRAGMA {name}").fetchone()[0]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "captures.db") as opened:
        yield opened


def fill(store: Store, count: int) -> list[int]:
    return store.insert_many(
        make_request(path=f"/n/{n}", received_at=T0 + timedelta(seconds=n)) for n in range(count)
    )


class TestOpen:
    def test_creates_private_directory_and_file(self, tmp_path: Path) -> None:
        path = tmp_path / "new" / ".whdebug" / "captures.db"
        previous = os.umask(0)
        try:
            Store.open(path).close()
        finally:
            os.umask(previous)
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_existing_directory_is_left_alone(self, tmp_path: Path) -> None:
        tmp_path.chmod(0o755)
        Store.open(tmp_path / "c.db").close()
        assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755

    def test_wal_version_and_application_id(self, tmp_path: Path) -> None:
        path = tmp_path / "c.db"
        Store.open(path).close()
        assert pragma(path, "journal_mode") == "wal"
        assert pragma(path, "user_version") == SCHEMA_VERSION == 5
        assert pragma(path, "application_id") == APPLICATION_ID

    def test_reopen_keeps_rows(self, tmp_path: Path) -> None:
        path = tmp_path / "c.db"
        with Store.open(path) as first:
            first.insert(make_request())
        with Store.open(path, create=False) as second:
            assert second.count() == 1

    def test_empty_file_is_initialised(self, tmp_path: Path) -> None:
        path = tmp_path / "c.db"
        path.write_bytes(b"")
        with Store.open(path) as opened:
            assert opened.count() == 0

    def test_missing_without_create(self, tmp_path: Path) -> None:
        with pytest.raises(StoreError, match="not found"):
            Store.open(tmp_path / "c.db", create=False)
        assert not (tmp_path / "c.db").exists()

    @pytest.mark.parametrize("size", [5, 4096, 65536])
    def test_random_bytes(self, tmp_path: Path, size: int) -> None:
        path = tmp_path / "c.db"
        path.write_bytes(os.urandom(size))
        with pytest.raises(StoreError, match="not a whdebug capture store") as caught:
            Store.open(path)
        assert caught.value.where == str(path)

    def test_other_sqlite_database(self, tmp_path: Path) -> None:
        path = tmp_path / "c.db"
        with closing(sqlite3.connect(path)) as connection:
            connection.execute("CREATE TABLE notes (text TEXT)")
            connection.commit()
        with pytest.raises(StoreError, match="not a whdebug capture store"):
            Store.open(path)

    def test_other_database_with_a_user_version(self, tmp_path: Path) -> None:
        path = tmp_path / "c.db"
        with closing(sqlite3.connect(path)) as connection:
            connection.execute("CREATE TABLE captures (id INTEGER)")
            connection.execute("PRAGMA user_version = 1")
            connection.commit()
        with pytest.raises(StoreError, match="not a whdebug capture store"):
            Store.open(path)

    def test_newer_schema(self, tmp_path: Path) -> None:
        path = tmp_path / "c.db"
        Store.open(path).close()
        with closing(sqlite3.connect(path)) as connection:
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
            connection.commit()
        with pytest.raises(StoreError, match="newer than this whdebug"):
            Store.open(path)

    def test_directory_path(self, tmp_path: Path) -> None:
        with pytest.raises(StoreError, match="directory"):
            Store.open(tmp_path)

    def test_durability_full(self, tmp_path: Path) -> None:
        with Store.open(tmp_path / "c.db", durability="full") as opened:
            assert opened.insert(make_request()) == 1

    def test_closed_store(self, tmp_path: Path) -> None:
        opened = Store.open(tmp_path / "c.db")
        opened.close()
        opened.close()
        with pytest.raises(StoreError, match="closed"):
            opened.count()


class TestLocking:
    def test_write_lock_held_elsewhere(self, tmp_path: Path) -> None:
        path = tmp_path / "c.db"
        with Store.open(path, timeout=0.05) as opened:
            with closing(sqlite3.connect(path, isolation_level=None)) as other:
                other.execute("BEGIN IMMEDIATE")
                with pytest.raises(StoreError, match="locked by another process"):
                    opened.insert(make_request())
                assert opened.count() == 0  # WAL: reading still works while locked
                other.execute("ROLLBACK")
            assert opened.insert(make_request()) == 1


class TestInsertAndGet:
    def test_exact_bytes(self, store: Store) -> None:
        body = b"\x00\xff\r\n\r\n\xc3("
        headers = (("A", "1"), ("a", "2"), ("A", "\xff\x00 raw"), ("Host", "h"))
        capture_id = store.insert(make_request(body=body, headers=headers, query="x=%20"))
        got = store.get(capture_id)
        assert got.request.body == body
        assert got.request.headers == headers
        assert (got.request.method, got.request.path, got.request.query) == (
            "POST", "/miniapps/github/webhooks", "x=%20")
        assert got.source.capture_id == capture_id
        assert got.source.client == "127.0.0.1:50000"

    def test_empty_body_is_bytes(self, store: Store) -> None:
        got = store.get(store.insert(make_request(body=b"")))
        assert got.request.body == b""
        assert got.reply is None

    def test_truncated_and_size(self, store: Store) -> None:
        got = store.get(store.insert(make_request(body=b"", body_size=30_000_000, truncated=True)))
        assert got.request.truncated is True
        assert got.request.body_size == 30_000_000
        summary = store.page(limit=1)[0]
        assert (summary.truncated, summary.body_size) == (True, 30_000_000)

    def test_received_at_microseconds(self, store: Store) -> None:
        moment = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
        got = store.get(store.insert(make_request(received_at=moment)))
        assert got.source.received_at == moment

    def test_naive_received_at_is_utc(self, store: Store) -> None:
        naive = datetime(2024, 1, 2, 3, 4, 5, 600)
        got = store.get(store.insert(make_request(received_at=naive))).source.received_at
        assert got == naive.replace(tzinfo=UTC)

    def test_missing_received_at_is_now(self, store: Store) -> None:
        before = datetime.now(UTC)
        got = store.get(store.insert(make_request(received_at=None))).source.received_at
        assert got is not None and before <= got <= datetime.now(UTC)

    def test_insert_many_ids_unique_and_increasing(self, store: Store) -> None:
        first = fill(store, 5)
        second = fill(store, 3)
        ids = first + second
        assert ids == sorted(set(ids))
        assert len(ids) == 8
        assert store.insert_many([]) == []

    def test_each_id_gets_its_own_body_after_deletes(self, store: Store) -> None:
        fill(store, 3)
        store.delete(3)
        bodies = [f"body {n}".encode() for n in range(4)]
        ids = store.insert_many([make_request(body=body) for body in bodies])
        assert ids == [4, 5, 6, 7]  # a deleted id is never given again
        assert [store.get(capture_id).request.body for capture_id in ids] == bodies

    def test_insert_many_is_one_transaction(self, store: Store) -> None:
        bad = make_request(method=None)  # NOT NULL violation on the second row
        with pytest.raises(StoreError):
            store.insert_many([make_request(), bad])
        assert store.count() == 0

    def test_receipts_and_forwarded_or_edited_captures_read_back_whole(
            self, store: Store) -> None:
        """A batch of fresh receipts binds only their columns; a batch with one forwarded or
        edited capture binds every column. Both read back exactly as they went in."""
        def fresh(n: int) -> Capture:
            return replace(make_request(path=f"/r/{n}", received_at=T0 + timedelta(seconds=n),
                                        truncated=bool(n % 2), body_size=n + 100),
                           reply=Reply(202, b"accepted"))

        forwarded = replace(fresh(7), forward=ForwardResult(
            201, b"created", headers=(("X-B", "2"),), latency=0.25))
        edited = replace(fresh(8), source=replace(fresh(8).source, edited_from=1))
        batches = [[fresh(1), fresh(2)], [fresh(3), forwarded], [edited, fresh(9)]]
        for batch in batches:
            ids = store.insert_many(batch)
            for capture_id, capture in zip(ids, batch, strict=True):
                got = store.get(capture_id)
                assert got.request == capture.request and got.reply == capture.reply
                assert got.forward == capture.forward
                assert (got.source.received_at, got.source.client, got.source.edited_from) == (
                    capture.source.received_at, capture.source.client,
                    capture.source.edited_from)

    def test_capture_id_on_input_is_ignored(self, store: Store) -> None:
        assert store.insert(make_request(capture_id=99)) == 1

    def test_get_missing(self, store: Store) -> None:
        with pytest.raises(StoreError, match="no capture #4"):
            store.get(4)

    def test_response_and_forward(self, store: Store) -> None:
        capture_id = store.insert(make_request())
        store.set_response(capture_id, 401, b'{"error":"signature"}')
        store.set_forward(capture_id, 502, b"bad gateway\xff", None)
        got = store.get(capture_id)
        assert got.reply == Reply(401, b'{"error":"signature"}')
        assert got.forward == ForwardResult(502, b"bad gateway\xff")
        assert store.forward_error(capture_id) is None
        store.set_forward(capture_id, None, None, "connection refused")
        assert store.forward_error(capture_id) == "connection refused"
        assert store.get(capture_id).forward == ForwardResult(error="connection refused")
        assert store.page()[0].response_status == 401
        with pytest.raises(StoreError, match="no capture #9"):
            store.set_response(9, 200, b"")

    @settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=50)
    @given(
        body=st.binary(max_size=500),
        headers=st.lists(
            st.tuples(
                st.text(st.characters(codec="latin-1"), min_size=1, max_size=10),
                st.text(st.characters(codec="latin-1"), max_size=20),
            ),
            max_size=6,
        ),
    )
    def test_any_bytes_survive(
        self, store: Store, body: bytes, headers: list[tuple[str, str]]
    ) -> None:
        got = store.get(store.insert(make_request(body=body, headers=tuple(headers))))
        assert got.request.body == body
        assert got.request.headers == tuple(headers)


class TestListing:
    def test_page_newest_first(self, store: Store) -> None:
        ids = fill(store, 5)
        page = store.page(limit=3)
        assert [s.id for s in page] == ids[::-1][:3]
        assert isinstance(page[0], CaptureSummary)
        assert page[0].path == "/n/4"
        assert page[0].received_at == T0 + timedelta(seconds=4)
        assert page[0].content_type == "application/json"
        assert page[0].user_agent == "GitHub-Hookshot/1"
        assert page[0].client == "127.0.0.1:50000"

    def test_paging_backwards_visits_every_row_once(self, store: Store) -> None:
        ids = fill(store, 23)
        seen: list[int] = []
        before: int | None = None
        while batch := store.page(before_id=before, limit=5):
            seen.extend(s.id for s in batch)
            before = batch[-1].id
        assert seen == ids[::-1]

    def test_since(self, store: Store) -> None:
        ids = fill(store, 4)
        assert [s.id for s in store.since(ids[1])] == ids[2:]
        assert [s.id for s in store.since(None, limit=2)] == ids[:2]
        assert store.since(ids[-1]) == []

    def test_count_latest_ids(self, store: Store) -> None:
        assert (store.count(), store.latest_id(), store.ids()) == (0, None, [])
        ids = fill(store, 6)
        assert store.count() == 6
        assert store.latest_id() == ids[-1]
        assert store.ids() == ids
        assert store.ids(last=2) == ids[-2:]

    def test_ids_with_and_without_gaps(self, store: Store) -> None:
        """Without gaps the ids are the span min..max (no list read); with any gap, every
        id that is left, read from the store."""
        ids = fill(store, 8)
        statements: list[str] = []
        assert store._connection is not None
        store._connection.set_trace_callback(statements.append)
        assert store.ids() == ids == list(range(ids[0], ids[-1] + 1))
        store.delete(ids[0])  # the span still has no gap
        store.delete(ids[-1])
        assert store.ids() == ids[1:-1]
        assert not any("group_concat" in sql for sql in statements)
        store.delete(ids[3])
        store.delete(ids[4])
        assert store.ids() == [ids[1], ids[2], ids[5], ids[6]]
        assert any("group_concat" in sql for sql in statements)
        store.delete(ids[1])
        assert store.ids() == [ids[2], ids[5], ids[6]]
        for capture_id in (ids[2], ids[5], ids[6]):
            store.delete(capture_id)
        assert store.ids() == []

    def test_delete(self, store: Store) -> None:
        ids = fill(store, 3)
        store.delete(ids[-1])
        assert store.ids() == ids[:-1]
        with pytest.raises(StoreError):
            store.get(ids[-1])
        with pytest.raises(StoreError, match="no capture"):
            store.delete(ids[-1])
        assert store.insert(make_request()) > ids[-1]  # ids are never reused

    def test_page_and_since_use_the_primary_key(self, store: Store) -> None:
        fill(store, 50)
        with closing(sqlite3.connect(store.path)) as connection:
            for sql in (PAGE_SQL, SINCE_SQL):
                plan = " | ".join(
                    row[3] for row in connection.execute("EXPLAIN QUERY PLAN " + sql, (10, 5))
                )
                assert "USING INTEGER PRIMARY KEY" in plan
                assert "TEMP B-TREE" not in plan
            # The count reads the capture_ids row and the highest id: no scan of captures.
            plan = str(connection.execute("EXPLAIN QUERY PLAN " + COUNT_SQL).fetchall())
            assert "SEARCH captures" in plan and "SCAN captures" not in plan

    def test_the_count_follows_inserts_deletions_and_prunes(self, store: Store) -> None:
        """The count without a scan (ids given out less ids removed) is count(*) after every
        kind of change, including deleting the newest capture and pruning everything."""
        def scanned() -> int:
            with closing(sqlite3.connect(store.path)) as connection:
                return int(connection.execute("SELECT count(*) FROM captures").fetchone()[0])

        assert store.count() == scanned() == 0
        fill(store, 6)
        for change in (lambda: store.delete(6), lambda: store.delete(2),
                       lambda: store.insert_many([make_request(), make_request()]),
                       lambda: store.delete(8), lambda: store.prune(timedelta(0), keep_last=2),
                       lambda: store.insert(make_request()),
                       lambda: store.prune(timedelta(0))):
            change()
            assert store.count() == scanned(), change
            assert len(store.ids()) == scanned()
        assert store.count() == 0 and store.insert(make_request()) == 10
        assert store.count() == 1 == scanned()

    def test_summaries_skip_bodies(self, store: Store) -> None:
        assert "body" not in PAGE_SQL.replace("body_size", "")


class TestDefaultPath:
    def test_environment(self) -> None:
        assert default_store_path({"WHDEBUG_STORE": "/x/y.db"}) == Path("/x/y.db")

    def test_default(self) -> None:
        assert default_store_path({}) == Path.cwd() / ".whdebug" / "captures.db"


CHILD = """
import sys
from whdebug.model.request import Reply, Capture, CapturedRequest, ForwardResult, Source
from whdebug.store.store import Store
store = Store.open(sys.argv[1])
while True:
    capture_id = store.insert(CapturedRequest(method="POST", path="/", body=b"x" * 3000))
    print(capture_id, flush=True)
"""


def test_sigkill_loses_no_committed_row(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    committed = [int(child.stdout.readline()) for _ in range(200)]
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    with Store.open(path) as reopened:
        assert set(committed) <= set(reopened.ids())
        assert reopened.get(committed[-1]).request.body == b"x" * 3000
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_received_at_is_spelled_the_same_from_any_zone() -> None:
    """The receiver's UTC clock takes a shortcut; every zone gives the one spelling."""
    from datetime import timezone

    from whdebug.store.columns import format_timestamp

    spelled = "2024-01-02T01:04:05.000000Z"
    for moment in (datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC),
                   datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
                   datetime(2024, 1, 2, 1, 4, 5)):
        assert format_timestamp(moment) == spelled
    assert format_timestamp(datetime(1, 1, 1, 0, 0, 0, 7, tzinfo=UTC)) == (
        "0001-01-01T00:00:00.000007Z")


def test_stored_header_json_is_what_json_dumps_writes(tmp_path: Path) -> None:
    """The headers column keeps one spelling whichever encoder wrote it: printable ASCII
    goes through msgspec, anything else through json.dumps (non-ASCII escaped)."""
    from whdebug.store.columns import encode_headers as _encode_headers

    texts = ["", "plain", 'q"uote', "back\\slash", "sl/ash", "tab\there", "\x00\x1f\x7f",
             "é latin-1 ÿ", "\u2028", "\ud800 lone surrogate", "x" * 300,
             *(f"<{chr(code)}>" for code in range(0x180))]
    for text in texts:
        for pairs in (((text, "v"),), (("Name", text),), (("A", "1"), (text, text))):
            expected = json.dumps([[n, v] for n, v in pairs], separators=(",", ":"))
            assert _encode_headers(pairs) == expected.encode("ascii"), text
            assert _encode_headers(iter(pairs)) == expected.encode("ascii"), text
    headers = (("X-Odd", "é\x7f"), ("Host", "h"))
    with Store.open(tmp_path / "c.db") as store:
        new_id = store.insert(CapturedRequest("POST", "/", headers=headers, body=b"{}"))
        assert store.get(new_id).request.headers == headers
