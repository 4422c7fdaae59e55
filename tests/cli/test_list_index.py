"""`whdebug list --definition ... --event/--outcome/--code`: answered from the analysis index."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from cli_support import error_line, json_lines, run
from factories import BASE_DEFINITION, NOW, SECRET, make_capture

from whdebug.store.store import Store


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, str]:
    captures = [
        make_capture({"event": "contact.created", "id": "a"}, received_at=NOW),
        make_capture({"event": "deal.won", "id": "b"}, signature="0" * 64,
                     received_at=NOW + timedelta(seconds=1)),
        make_capture({"event": "contact.created", "id": "a"},
                     received_at=NOW + timedelta(seconds=2)),
        make_capture({"event": "deal.lost", "id": "c"}, received_at=NOW + timedelta(seconds=3)),
        make_capture({"event": "contact.created", "id": "d"}, signature="1" * 64,
                     received_at=NOW + timedelta(seconds=4)),
    ]
    store = tmp_path / "captures.db"
    with Store.open(store) as opened:
        opened.insert_many(captures)
    definition = tmp_path / "definition.json"
    definition.write_text(json.dumps(BASE_DEFINITION))
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"webhookSecret": SECRET}))
    return {"store": str(store), "definition": str(definition),
            "credentials": str(credentials)}


def _list(setup: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    return run("list", "--store", setup["store"], "--definition", setup["definition"],
               "--credentials", setup["credentials"], *args)


def test_outcome_and_code_filters_answer_from_the_index(setup: dict[str, str]) -> None:
    result = _list(setup, "--outcome", "rejected", "--code", "SIG_MISMATCH", "--json")
    assert result.exit_code == 0, result.output
    rows = json_lines(result)
    assert [row["id"] for row in rows] == [5, 2]
    assert all(row["outcome"] == "rejected" and "SIG_MISMATCH" in row["codes"]
               for row in rows)
    connection = sqlite3.connect(setup["store"])
    stored = connection.execute("SELECT count(*) FROM analyses").fetchone()[0]
    connection.close()
    assert stored == 5  # every capture analysed once, into the index


def test_event_filter_and_dedupe_in_arrival_order(setup: dict[str, str]) -> None:
    result = _list(setup, "--event", "contact", "--json")
    assert result.exit_code == 0, result.output
    assert [(row["id"], row["outcome"]) for row in json_lines(result)] == [
        (3, "duplicate"), (1, "fires")]  # #5 is rejected: it carries no event
    duplicates = json_lines(_list(setup, "--outcome", "duplicate", "--json"))
    assert [row["id"] for row in duplicates] == [3]
    assert "TX_DUPLICATE" in duplicates[0]["codes"]


def test_table_shows_outcomes_and_how_many_match(setup: dict[str, str]) -> None:
    result = run("list", "--store", setup["store"], "--definition", setup["definition"],
                 "--credentials", setup["credentials"], "--code", "evt_no",
                 env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "deal.lost" in result.stdout and "no-trigger" in result.stdout
    assert "1 matching capture under acme@1.0.0" in result.stdout
    assert "contact.created" not in result.stdout


def test_filters_without_a_definition_are_a_one_line_error(setup: dict[str, str]) -> None:
    result = run("list", "--store", setup["store"], "--outcome", "rejected")
    assert result.exit_code == 2
    assert error_line(result).startswith("whdebug: --event, --outcome and --code filter on "
                                         "analyses")
    assert "--definition FILE" in result.stderr
    assert result.stdout == ""


def _on_postgres(setup: dict[str, str], pg_url: str) -> dict[str, str]:
    from whdebug.store.postgres import PostgresStore

    with Store.open(Path(setup["store"])) as lite, PostgresStore.open(pg_url) as shared:
        shared.insert_many(lite.get(capture_id) for capture_id in lite.ids())
    return {**setup, "store": pg_url}


@pytest.mark.parametrize("args", [("--outcome", "rejected", "--code", "SIG_MISMATCH"),
                                  ("--event", "contact"), ("--outcome", "duplicate"),
                                  ("--code", "evt_"), ()])
def test_postgres_answers_as_sqlite_does(setup: dict[str, str], pg_url: str,
                                         args: tuple[str, ...]) -> None:
    expected = _list(setup, *args, "--json")
    result = _list(_on_postgres(setup, pg_url), *args, "--json")
    assert expected.exit_code == 0 and result.exit_code == 0, result.output
    assert json_lines(result) == json_lines(expected) != []


def test_postgres_table_and_two_runs_at_once(setup: dict[str, str], pg_url: str) -> None:
    import os
    import subprocess
    import sys

    import psycopg

    shared = _on_postgres(setup, pg_url.replace("postgres@", "postgres:hunter2-pw@"))
    command = [sys.executable, "-m", "whdebug", "list", "--store", shared["store"],
               "--definition", setup["definition"], "--credentials", setup["credentials"],
               "--outcome", "rejected", "--json"]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, "COLUMNS": "160"}) for _ in range(2)]
    outputs = [process.communicate(timeout=60) for process in runs]
    assert [process.returncode for process in runs] == [0, 0], outputs
    assert [[json.loads(line)["id"] for line in out.splitlines()] for out, _ in outputs] == [
        [5, 2], [5, 2]]
    with psycopg.connect(pg_url) as connection:
        assert connection.execute("SELECT count(*), count(DISTINCT capture_id) "
                                  "FROM whdebug_analyses").fetchone() == (5, 5)
    table = run("list", "--store", shared["store"], "--definition", setup["definition"],
                "--credentials", setup["credentials"], "--code", "evt_no",
                env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "1 matching capture under acme@1.0.0 in postgresql://postgres:***@" in table.stdout
    assert "hunter2-pw" not in table.stdout + table.stderr


def test_event_filter_folds_ascii_case_only_as_the_tui_does(tmp_path: Path) -> None:
    """`--event ÉVÉNEMENT` finds the capture whose event is written that way: the value is
    folded as the index's SQL folds events (ASCII letters only), not by Python's lower(),
    which made it `événement` and matched nothing."""
    store = tmp_path / "captures.db"
    with Store.open(store) as opened:
        opened.insert_many([
            make_capture({"event": "ÉVÉNEMENT", "id": "a"}, received_at=NOW),
            make_capture({"event": "événement", "id": "b"},
                         received_at=NOW + timedelta(seconds=1))])
    definition = tmp_path / "definition.json"
    definition.write_text(json.dumps(BASE_DEFINITION))
    setup = {"store": str(store), "definition": str(definition),
             "credentials": str(tmp_path / "credentials.json")}
    Path(setup["credentials"]).write_text(json.dumps({"webhookSecret": SECRET}))
    for value, expected in (("ÉVÉNEMENT", [1]), ("événement", [2]), ("vÉnEMENT", [1])):
        result = _list(setup, "--event", value, "--json")
        assert result.exit_code == 0, result.output
        assert [row["id"] for row in json_lines(result)] == expected, value
