"""A request file from standard input (`--file -`) or a pipe (`<(...)`, /dev/stdin, a named
pipe): its kind comes from its content, so `whdebug sign ... | whdebug replay --file -` works."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from cli_support import error_line, run

from tests.paths import FIXTURES

GITHUB = str(FIXTURES / "definitions" / "github.json")
SECRET = "webhookSecret=pipe-secret-123"


def _signed(tmp_path: Path) -> bytes:
    payload = tmp_path / "push.json"
    payload.write_text(json.dumps({"action": "opened", "pull_request": {"node_id": "PR_1"}}))
    signed = run("sign", str(payload), "--definition", GITHUB, "--credential", SECRET,
                 "--event", "pull_request.opened")
    assert signed.exit_code == 0, signed.output
    return signed.stdout_bytes


def test_sign_piped_into_replay_fires(tmp_path: Path) -> None:
    result = run("replay", "--file", "-", "--definition", GITHUB, "--credential", SECRET,
                 "--json", input=_signed(tmp_path))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.splitlines()[0])
    assert report["outcome"]["status"] == "fires"
    assert report["source"]["file"] == "<stdin>"


@pytest.mark.parametrize("kind", ["har", "capture"])
def test_a_har_or_capture_export_on_standard_input_is_read_by_its_content(
        tmp_path: Path, kind: str) -> None:
    request = tmp_path / "signed.http"
    request.write_bytes(_signed(tmp_path))
    store = str(tmp_path / "c.db")
    assert run("import", str(request), "--store", store).exit_code == 0
    exported = run("export", "1", "--format", "har" if kind == "har" else "json",
                   "--store", store)
    assert exported.exit_code == 0, exported.output
    result = run("replay", "--file", "-", "--definition", GITHUB, "--credential", SECRET,
                 "--json", input=exported.stdout_bytes)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[0])["outcome"]["status"] == "fires"


def test_a_named_pipe_is_read_by_its_content(tmp_path: Path) -> None:
    """What `--file <(whdebug sign ...)` gives: a path with no extension that is a pipe."""
    pipe = tmp_path / "request"
    os.mkfifo(pipe)
    data = _signed(tmp_path)
    writer = threading.Thread(target=pipe.write_bytes, args=(data,), daemon=True)
    writer.start()
    result = run("replay", "--file", str(pipe), "--definition", GITHUB, "--credential", SECRET)
    writer.join(10)
    assert result.exit_code == 0, result.output
    assert "fires" in result.stdout


def test_standard_input_holding_no_request_is_one_line(tmp_path: Path) -> None:
    result = run("replay", "--file", "-", "--definition", GITHUB, input=b"hello\n")
    assert result.exit_code == 2
    assert error_line(result) == ("whdebug: not JSON, nor a .http, .har or capture export "
                                  "(<stdin>)")


def test_a_regular_file_of_unknown_type_is_still_refused(tmp_path: Path) -> None:
    odd = tmp_path / "request.txt"
    odd.write_bytes(_signed(tmp_path))
    result = run("replay", "--file", str(odd), "--definition", GITHUB)
    assert result.exit_code == 2
    assert "unknown request file type '.txt'" in error_line(result)


def test_the_file_and_a_credential_cannot_both_read_standard_input(tmp_path: Path) -> None:
    result = run("replay", "--file", "-", "--definition", GITHUB,
                 "--credential", "webhookSecret=-", input=_signed(tmp_path))
    assert result.exit_code == 2
    assert "both read standard input" in error_line(result)


def test_check_reads_a_definition_from_standard_input() -> None:
    """`cat app.js | whdebug check -`, as linters read `-`."""
    text = (FIXTURES / "definitions" / "github.json").read_bytes()
    piped = run("check", "-", "--json", input=text)
    named = run("check", GITHUB, "--json")
    assert piped.exit_code == named.exit_code == 0, piped.output
    assert json.loads(piped.stdout)["findings"] == json.loads(named.stdout)["findings"]


def test_the_definition_and_the_request_cannot_both_read_standard_input(tmp_path: Path) -> None:
    result = run("replay", "--file", "-", "--definition", "-", input=_signed(tmp_path))
    assert result.exit_code == 2
    assert "standard input" in error_line(result) and "already read" in error_line(result)


def test_a_definition_on_standard_input_that_is_not_text_names_stdin() -> None:
    result = run("check", "-", input=b"garbage\x00\xff")
    assert result.exit_code == 2
    assert error_line(result) == "whdebug: definition file is not UTF-8 text (<stdin>)"
