"""Schema 2: the app's answer headers and latency (`serve --forward-to`) and the capture an
edited request came from; a version-1 store is migrated with its rows kept."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

from whdebug.model.request import Capture, CapturedRequest, Source
from whdebug.store.store import APPLICATION_ID, MIGRATIONS, Store

REQUEST = CapturedRequest("POST", "/hook", headers=(("X-A", "1"),), body=b'{"a":1}')


def test_forward_headers_latency_and_edited_from_round_trip(tmp_path: Path) -> None:
    with Store.open(tmp_path / "c.db") as store:
        first = store.insert(REQUEST)
        store.set_forward(first, 409, b"dup", None, (("Content-Type", "text/plain"),
                                                     ("X-Dup", "a"), ("X-Dup", "b")), 0.25)
        edited = store.insert(Capture(REQUEST, Source(edited_from=first)))
        capture = store.get(first)
        assert capture.forward is not None
        assert (capture.forward.status, capture.forward.body, capture.forward.latency) == (
            409, b"dup", 0.25)
        assert capture.forward.headers == (("Content-Type", "text/plain"), ("X-Dup", "a"),
                                           ("X-Dup", "b"))
        assert store.get(edited).source.edited_from == first
        summaries = {row.id: row for row in store.page()}
        assert (summaries[first].forward_status, summaries[first].forward_latency) == (409, 0.25)
        assert summaries[edited].edited_from == first and summaries[first].edited_from is None


def test_a_version_1_store_is_migrated_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as connection:
        MIGRATIONS[0](connection)
        connection.execute(
            "INSERT INTO captures (received_at, method, path, body_size, headers, "
            "forward_status) VALUES ('2025-01-01T00:00:00.000000Z', 'POST', '/old', 2, '[]', 200)")
        connection.execute("INSERT INTO bodies (capture_id, body) VALUES (1, x'7b7d')")
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute("PRAGMA user_version = 1")
        connection.commit()
    with Store.open(path, create=False) as store:
        capture = store.get(1)
        assert capture.request.body == b"{}" and capture.request.path == "/old"
        assert capture.forward is not None and capture.forward.status == 200
        assert capture.forward.latency is None and capture.forward.headers is None
        store.set_forward(1, 201, b"", None, (), 0.5)
        assert store.get(1).forward.latency == 0.5  # type: ignore[union-attr]


def test_export_and_import_keep_the_apps_answer_and_the_edit_link(tmp_path: Path) -> None:
    from whdebug.formats.capture_json import capture_from_json, capture_to_json
    from whdebug.model.request import ForwardResult

    capture = Capture(REQUEST, Source(capture_id=4, edited_from=2),
                      forward=ForwardResult(409, b"dup", (("X-A", "1"), ("X-A", "2")), 0.0125))
    document = capture_to_json(capture)
    assert document["forward_headers"] == [["X-A", "1"], ["X-A", "2"]]
    assert (document["forward_latency_ms"], document["edited_from"]) == (12.5, 2)
    again = capture_from_json(document)
    assert again.forward == capture.forward and again.source.edited_from == 2
    failed = capture_from_json(capture_to_json(Capture(REQUEST, forward=ForwardResult(
        error="ConnectError: refused"))))
    assert failed.forward == ForwardResult(error="ConnectError: refused")
    plain = capture_to_json(Capture(REQUEST))
    assert not {"forward_headers", "forward_latency_ms", "forward_error",
                "edited_from"} & plain.keys()


def test_import_drops_an_edited_from_link_of_another_store(tmp_path: Path) -> None:
    """An exported edit names its original by the old store's id; imported elsewhere, that id
    is another capture (or none), so the link is dropped rather than pointing at a stranger."""
    from cli_support import run

    old = tmp_path / "old.db"
    with Store.open(old) as store:
        first = store.insert(REQUEST)
        edited = store.insert(Capture(REQUEST, Source(edited_from=first)))
    exported = tmp_path / "edit.json"
    assert run("export", str(edited), "--format", "json", "-o", str(exported),
               "--store", str(old)).exit_code == 0
    assert json.loads(exported.read_text())["edited_from"] == first
    new = tmp_path / "new.db"
    with Store.open(new) as store:
        for _ in range(3):
            store.insert(REQUEST)
    result = run("import", str(exported), "--store", str(new))
    assert result.exit_code == 0, result.output
    with Store.open(new) as store:
        assert store.get(4).source.edited_from is None
    listing = run("list", "--store", str(new))
    assert listing.exit_code == 0 and "edited from" not in listing.output


def test_a_version_3_store_loses_autoincrement_but_never_gives_an_id_twice(
        tmp_path: Path) -> None:
    """Schema 4 rebuilds `captures` without AUTOINCREMENT (whose sqlite_sequence page was
    rewritten by every commit): rows, ids and bodies are kept, and an id deleted before the
    migration (the newest one, which only sqlite_sequence remembered) is not given again."""
    path = tmp_path / "v3.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        for migrate in MIGRATIONS[:3]:
            migrate(connection)
        for number in range(1, 5):
            connection.execute(
                "INSERT INTO captures (received_at, method, path, body_size, headers, "
                "forward_status, forward_latency, edited_from) VALUES (?, 'POST', ?, 2, "
                "'[[\"X-A\",\"1\"]]', 201, 0.5, ?)",
                (f"2025-01-0{number}T00:00:00.000000Z", f"/old{number}", number - 1 or None))
            connection.execute("INSERT INTO bodies (capture_id, body) VALUES (?, ?)",
                               (number, f"body {number}".encode()))
        connection.execute("DELETE FROM bodies WHERE capture_id IN (2, 4)")
        connection.execute("DELETE FROM captures WHERE id IN (2, 4)")
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute("PRAGMA user_version = 3")
    with Store.open(path, create=False) as store:
        assert store.ids() == [1, 3] and store.count() == 2
        old = store.get(3)
        assert (old.request.path, old.request.body, old.request.headers) == (
            "/old3", b"body 3", (("X-A", "1"),))
        assert old.source.edited_from == 2 and old.forward is not None
        assert (old.forward.status, old.forward.latency) == (201, 0.5)
        assert store.insert_many([REQUEST, REQUEST]) == [5, 6]  # 4 was given before
        store.delete(6)
        assert store.insert(REQUEST) == 7
        assert store.prune(timedelta(0)) == 4 and store.count() == 0
        assert store.insert(REQUEST) == 8
        assert [store.get(number).request.body for number in store.ids()] == [REQUEST.body]
    with closing(sqlite3.connect(path)) as connection:
        (schema,) = connection.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'captures'").fetchone()
        assert "AUTOINCREMENT" not in schema.upper()
        assert connection.execute("SELECT count(*) FROM sqlite_sequence "
                                  "WHERE name = 'captures'").fetchone() == (0,)
        assert connection.execute("PRAGMA user_version").fetchone() == (5,)
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # Schema 5: no index for inserts to keep up (the count comes from capture_ids).
        assert connection.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND "
                                  "tbl_name = 'captures'").fetchall() == []
