"""`replay --file N.har` spread over worker processes that read the HAR's entries themselves
(engine/fanout.py): the same bytes on stdout as one process gives, and a bad entry is the
same one-line error before any report is out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_support import error_line, run
from factories import SECRET, make_capture, make_definition

from whdebug.engine import fanout
from whdebug.formats.har import format_har


def write_har(tmp_path: Path, count: int = 120) -> tuple[Path, str]:
    """Deliveries with redeliveries near and far (also across chunks), wrong signatures,
    events no trigger takes, no event, and a body holding the secret (scrubbed)."""
    captures = []
    for i in range(count):
        body: dict[str, object] = {"event": "contact.created" if i % 5 else "deal.won",
                                   "id": f"evt-{(i - (i % 4 == 0)) % 37}"}
        options: dict[str, object] = {}
        if i % 7 == 3:
            options["signature"] = "0" * 64
        if i % 11 == 4:
            body = {"event": "contact.created", "id": f"x-{i}", "note": SECRET}
        if i % 13 == 8:
            body = {"id": f"n-{i}"}
        if i % 17 == 9:
            body = {"event": "contact.deleted", "id": f"d-{i}"}
        captures.append(make_capture(
            body, received_at=datetime(2025, 11, 24, 15, 59, i % 60, tzinfo=UTC), **options))
    har = tmp_path / "many.har"
    har.write_bytes(format_har(captures))
    definition = tmp_path / "acme.json"
    definition.write_text(json.dumps(make_definition().data))
    return har, str(definition)


def replay(har: Path, definition: str, workers: str, *extra: str):  # type: ignore[no-untyped-def]
    return run("replay", "--definition", definition, "--file", str(har), "--credential",
               f"webhookSecret={SECRET}", "--now", "2025-11-24T16:00:05Z", *extra,
               env={"WHDEBUG_WORKERS": workers})


@pytest.mark.parametrize("mode", [["--json"], [], ["--dedupe-window", "5", "--json"]])
def test_workers_print_the_bytes_of_one_process(tmp_path: Path, mode: list[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "CHUNK", 7)  # many chunks, two workers taking turns
    har, definition = write_har(tmp_path)
    alone = replay(har, definition, "1", *mode)
    spread = replay(har, definition, "2", *mode)
    assert alone.exit_code == spread.exit_code == 1, spread.output
    assert spread.stdout == alone.stdout
    assert SECRET not in spread.stdout
    if "--json" in mode:
        reports = [json.loads(line) for line in spread.stdout.splitlines()]
        statuses = {report["outcome"]["status"] for report in reports[:-1]}
        assert statuses == {"fires", "duplicate", "rejected", "no-event", "no-trigger"}
        assert reports[-1]["requests"] == 120
    else:
        assert spread.stdout.splitlines()[0].split()[:2] == ["time", "method"]  # rows
        assert "summary: 120 requests" in spread.stdout


@pytest.mark.parametrize("bad", [[95], [30, 95]])
def test_a_bad_entry_is_the_first_error_and_no_report_is_out(
        tmp_path: Path, bad: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers read their chunks before any report is printed: the first bad entry of
    the file is said in one line, as one process says it."""
    monkeypatch.setattr(fanout, "CHUNK", 10)
    har, definition = write_har(tmp_path)
    document = json.loads(har.read_text())
    for index in bad:
        document["log"]["entries"][index]["request"]["postData"]["text"] = "%%%not base64"
    har.write_text(json.dumps(document))
    alone = replay(har, definition, "1", "--json")
    spread = replay(har, definition, "2", "--json")
    assert alone.exit_code == spread.exit_code == 2
    assert spread.stdout == "" and alone.stdout == ""
    assert error_line(spread) == error_line(alone)
    assert f"$.log.entries[{bad[0]}].request.postData.text" in error_line(spread)
    assert "invalid base64" in error_line(spread)


def test_rows_reach_a_stdout_that_cannot_encode_the_cut_mark(tmp_path: Path) -> None:
    """A path longer than its column is cut with "…"; on an ASCII stdout the rows are still
    written (click's replacement), not a crash."""
    import os
    import subprocess
    import sys

    captures = [make_capture({"event": "contact.created", "id": f"evt-{i}"},
                             path="/miniapps/acme/webhooks/" + "x" * 40,
                             received_at=datetime(2025, 11, 24, 15, 59, i % 60, tzinfo=UTC))
                for i in range(45)]
    har = tmp_path / "long.har"
    har.write_bytes(format_har(captures))
    definition = tmp_path / "acme.json"
    definition.write_text(json.dumps(make_definition().data))
    result = subprocess.run(
        [sys.executable, "-m", "whdebug", "replay", "--definition", str(definition), "--file",
         str(har), "--credential", f"webhookSecret={SECRET}", "--now",
         "2025-11-24T16:00:05Z"], capture_output=True, check=False,
        env={**os.environ, "PYTHONIOENCODING": "ascii", "WHDEBUG_WORKERS": "1"})
    assert result.returncode == 0, result.stderr  # they fire (REQ_WRONG_PATH aside)
    rows = result.stdout.decode("ascii").splitlines()[1:46]
    assert len(rows) == 45 and all("REQ_WRONG_PATH" in row for row in rows)
    assert rows[0].split()[2] == "/miniapps/acme/webhooks/xxxxxxx?"  # 31 and the mark
    assert b"Traceback" not in result.stderr


def test_several_files_are_spread_as_one_replay(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Two HAR files and a .http file between them: the workers read entries across the
    files; the reports and their dedupe (a redelivery in the second file) are one process's."""
    monkeypatch.setattr(fanout, "CHUNK", 9)
    har, definition = write_har(tmp_path)
    document = json.loads(har.read_text())
    entries = document["log"]["entries"]
    first, second = tmp_path / "first.har", tmp_path / "second.har"
    first.write_text(json.dumps({"log": {**document["log"], "entries": entries[:50]}}))
    second.write_text(json.dumps({"log": {**document["log"], "entries": entries[50:]}}))
    http = tmp_path / "one.http"
    http.write_bytes(b"POST /miniapps/acme/webhooks HTTP/1.1\r\nContent-Type: application/json"
                     b"\r\n\r\n{\"event\": \"contact.created\", \"id\": \"evt-3\"}")
    files = ["--file", str(first), "--file", str(http), "--file", str(second)]
    outputs = []
    for workers in ("1", "2"):
        result = run("replay", "--definition", definition, *files, "--credential",
                     f"webhookSecret={SECRET}", "--now", "2025-11-24T16:00:05Z", "--json",
                     env={"WHDEBUG_WORKERS": workers})
        assert result.exit_code == 1, result.output
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    reports = [json.loads(line) for line in outputs[1].splitlines()]
    assert reports[-1]["requests"] == 121
    assert reports[50]["source"]["file"] == str(http)
    assert reports[51]["source"]["file"] == str(second)
