"""`whdebug replay --expected-body FILE`, and the other replayed files as evidence."""

from __future__ import annotations

from pathlib import Path

from cli_support import error_line, json_lines, run
from conftest import FIXTURES

DEFINITION = str(FIXTURES / "definitions" / "acme-crm.json")
REWRITTEN = str(FIXTURES / "requests" / "sig-numbers-rewritten.http")
SIGNED = FIXTURES / "signed-bodies" / "sig-numbers-rewritten.json"
GOOD = str(FIXTURES / "requests" / "acme-contact-created.http")
SECRET = "webhookSecret=fixture-acme-webhook-secret"


def findings(line: dict) -> dict[str, str]:
    return {f["code"]: f["message"] for f in line["findings"]}


def test_expected_body_that_verifies_names_the_change() -> None:
    result = run("replay", "--file", REWRITTEN, "--definition", DEFINITION,
                 "--credential", SECRET, "--expected-body", str(SIGNED), "--json")
    assert result.exit_code == 1, result.output
    report = json_lines(result)[0]
    codes = findings(report)
    assert "SIG_MISMATCH" not in codes
    assert f"verifies over --expected-body {SIGNED}" in codes["SIG_BODY_MODIFIED"]
    assert "first difference at byte" in codes["SIG_BODY_MODIFIED"]
    assert report["signature"]["search"]["combinations"] > 1


def test_expected_body_that_does_not_verify_is_evidence(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_bytes(b'{"event":"deal.won"}')
    result = run("replay", "--file", REWRITTEN, "--definition", DEFINITION,
                 "--credential", SECRET, "--expected-body", str(other), "--json")
    assert result.exit_code == 1, result.output
    report = json_lines(result)[0]
    message = findings(report)["SIG_MISMATCH"]
    assert "or the body was changed after signing" in message
    assert f"does not verify over --expected-body {other} either" in message
    assert any("does not verify over" in e for e in report["signature"]["search"]["evidence"])


def test_missing_expected_body_is_bad_input(tmp_path: Path) -> None:
    result = run("replay", "--file", REWRITTEN, "--definition", DEFINITION,
                 "--credential", SECRET, "--expected-body", str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith("whdebug: ") and "--expected-body" in line and "nope.json" in line


def test_other_replayed_files_show_whether_the_secret_is_right() -> None:
    result = run("replay", "--file", GOOD, "--file", REWRITTEN, "--definition", DEFINITION,
                 "--credential", SECRET, "--json")
    assert result.exit_code == 1, result.output
    lines = json_lines(result)
    assert lines[0]["signature"]["verdict"] == "pass"
    message = findings(lines[1])["SIG_MISMATCH"]
    assert "verifies 1 of 1 other captures from this provider" in message
    assert "Content-Length says" in message

