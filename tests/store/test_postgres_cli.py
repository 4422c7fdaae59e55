"""The commands on a `--store postgresql://...` store, and `prune` on both stores."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_support import error_line, json_lines, run
from paths import FIXTURES

from whdebug.model.request import Capture, CapturedRequest, Source
from whdebug.store.base import open_store
from whdebug.store.postgres import PostgresStore

REQUEST = FIXTURES / "requests" / "github-pr-opened.http"


def test_import_list_export_and_replay_on_a_url(pg_url: str, tmp_path: Path) -> None:
    imported = run("import", str(REQUEST), "--store", pg_url)
    assert imported.exit_code == 0, imported.stderr
    assert imported.stdout.startswith("#1  POST ")
    listed = run("list", "--json", env={"WHDEBUG_STORE": pg_url})
    assert listed.exit_code == 0, listed.stderr
    assert [row["id"] for row in json_lines(listed)] == [1]
    exported = tmp_path / "one.http"
    result = run("export", "1", "--format", "http", "-o", str(exported), "--store", pg_url)
    assert result.exit_code == 0, result.stderr
    with PostgresStore.open(pg_url) as store:
        body = store.get(1).request.body
    assert body and exported.read_bytes().endswith(body)
    replayed = run("replay", "--last", "1", "--json", "--store", pg_url, "--definition",
                   str(FIXTURES / "definitions" / "github.json"),
                   "--credential", "webhookSecret=wrong-on-purpose")
    assert replayed.exit_code in (0, 1), replayed.stderr
    report = json.loads(replayed.stdout.splitlines()[0])
    assert report["request"]["method"] == "POST"


def test_a_password_in_the_url_is_never_printed(pg_url: str) -> None:
    url = pg_url.replace("postgres@", "postgres:hunter2-pw@")  # trust auth ignores it
    imported = run("import", str(REQUEST), "--store", url)
    assert imported.exit_code == 0, imported.stderr
    assert "hunter2-pw" not in imported.stdout + imported.stderr
    assert "postgres:***@" in imported.stderr
    pruned = run("prune", "--older-than", "1d", "--store", url)
    assert pruned.exit_code == 0 and "hunter2-pw" not in pruned.stdout + pruned.stderr


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_prune_older_than_keep_last(kind: str, tmp_path: Path,
                                    request: pytest.FixtureRequest) -> None:
    location = request.getfixturevalue("pg_url") if kind == "postgresql" else str(
        tmp_path / "c.db")
    now = datetime.now(UTC)
    with open_store(Path(location) if kind == "sqlite" else location) as store:
        store.insert_many(Capture(CapturedRequest("POST", "/h", body=b"%d" % days),
                                  Source(received_at=now - timedelta(days=days)))
                          for days in (40, 9, 8, 3, 0))
    result = run("prune", "--older-than", "7d", "--keep-last", "4", "--store", location)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("prune: deleted 1 capture older than 7d; 4 captures left")
    result = run("prune", "--older-than", "7d", "--store", location)
    assert result.stdout.startswith("prune: deleted 2 captures older than 7d; 2 captures left")
    with open_store(Path(location) if kind == "sqlite" else location) as store:
        assert [store.get(i).request.body for i in store.ids()] == [b"3", b"0"]


def test_prune_refuses_a_bad_age_and_a_missing_store(tmp_path: Path) -> None:
    bad = run("prune", "--older-than", "a week", "--store", str(tmp_path / "c.db"))
    assert bad.exit_code == 2
    assert error_line(bad).startswith("whdebug: --older-than wants a number and a unit")
    missing = run("prune", "--older-than", "7d", "--store", str(tmp_path / "none.db"))
    assert missing.exit_code == 2
    assert error_line(missing).startswith("whdebug: capture store not found")
    assert not (tmp_path / "none.db").exists()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_list_follow_prints_captures_another_process_commits(
        kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    import os
    import select
    import signal
    import subprocess
    import sys
    import time

    location = request.getfixturevalue("pg_url") if kind == "postgresql" else str(
        tmp_path / "c.db")
    where = Path(location) if kind == "sqlite" else location
    with open_store(where) as store:
        store.insert(CapturedRequest("POST", "/old", body=b"old"))
    follower = subprocess.Popen(
        [sys.executable, "-m", "whdebug", "list", "--json", "--follow", "--store", location],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert follower.stdout is not None and follower.stderr is not None
    try:
        first = json.loads(follower.stdout.readline())
        assert (first["id"], first["path"]) == (1, "/old")
        time.sleep(1.0)  # the listener is connected (or the poll loop running)
        with open_store(where) as other:
            started = time.monotonic()
            new_id = other.insert(CapturedRequest("POST", "/new", "token=abc", body=b"new"))
        ready, _, _ = select.select([follower.stdout], [], [], 5)
        assert ready, "list --follow printed nothing"
        line = json.loads(follower.stdout.readline())
        elapsed = time.monotonic() - started
        assert (line["id"], line["path"]) == (new_id, "/new")
        assert "abc" not in line["query"]
        assert elapsed < 1.0, f"{elapsed:.3f}s to show a new capture"
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=10) == 0
        assert follower.stderr.read() == b""
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
        follower.stdout.close()
        follower.stderr.close()
