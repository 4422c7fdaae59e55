"""Schema 2: the app's answer headers and latency (`serve --forward-to`) and the capture an
edited request came from; a version-1 store is migrated with its rows kept."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
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
