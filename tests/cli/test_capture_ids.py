"""A capture id argument given something else (a request file, a URL, a word, 0): one line
that says what was given and where it goes instead, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import error_line, run


@pytest.fixture
def request_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    Path("delivery.http").write_bytes(b"POST /hooks HTTP/1.1\r\n\r\n{}")
    return "delivery.http"


@pytest.mark.parametrize(("command", "hint"), [
    (["replay"], "replay --file delivery.http"),
    (["send", "--to", "http://127.0.0.1:9/"], "send --file delivery.http"),
    (["export"], "import delivery.http"),
])
def test_a_request_file_where_an_id_goes(request_file: str, command: list[str],
                                         hint: str) -> None:
    result = run(*command[:1], request_file, *command[1:])
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith("whdebug: 'delivery.http' is a file, not a capture id")
    assert f"whdebug {hint}" in line


def test_a_missing_file_name_is_still_read_as_a_file(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("replay", "other.har")
    assert result.exit_code == 2
    assert "'other.har' is a file name, not a capture id" in error_line(result)
    assert "whdebug replay --file other.har" in error_line(result)


def test_a_url_where_send_wants_an_id(tmp_path: Path) -> None:
    result = run("send", "--file", "x.http", "http://127.0.0.1:8799")
    assert result.exit_code == 2
    line = error_line(result)
    assert "'http://127.0.0.1:8799' is a URL, not a capture id" in line
    assert "--to http://127.0.0.1:8799" in line


@pytest.mark.parametrize(("value", "expected"), [
    ("0", "capture ids start at 1, got 0"),
    ("-3", "capture ids start at 1, got -3"),
    ("latest", "'latest' is not a capture id (the # numbers `whdebug list` shows"),
])
def test_not_a_number_from_the_list(value: str, expected: str) -> None:
    result = run("replay", "--", value) if value.startswith("-") else run("replay", value)
    assert result.exit_code == 2
    assert expected in error_line(result)


def test_ids_still_work(tmp_path: Path) -> None:
    store = str(tmp_path / "none.db")
    result = run("replay", "7", "--store", store)
    assert result.exit_code == 2
    assert "is not a capture id" not in result.stderr and "capture ids" not in result.stderr
