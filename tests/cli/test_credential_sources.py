"""`--credential KEY=@FILE` and `KEY=-`: a secret that never appears on the command line."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from cli_support import error_line, run

SECRET = "file-borne-Secret-8e21"
DEFINITION = {
    "ns": "github", "version": "1.0.0", "status": "private",
    "auth": {"type": "apikey", "config": {"webhookSecret": ""},
             "sensitiveKeys": ["webhookSecret"]},
    "triggers": [{"type": "miniapps:github", "event": "push", "label": "Push"}],
    "webhook": {
        "eventExtraction": {"source": "header", "path": "X-GitHub-Event"},
        "verification": {"type": "hmac-sha256", "headerName": "X-Hub-Signature-256",
                         "secretKey": "webhookSecret"},
    },
}
BODY = b'{"ref":"refs/heads/main"}'


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    definition = tmp_path / "app.json"
    definition.write_text(json.dumps(DEFINITION))
    signature = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    request = tmp_path / "push.http"
    request.write_bytes(b"POST /miniapps/github/webhooks HTTP/1.1\r\nX-GitHub-Event: push\r\n"
                        b"X-Hub-Signature-256: sha256=" + signature.encode() +
                        b"\r\nContent-Type: application/json\r\n\r\n" + BODY)
    return str(definition), str(request)


def verdict(result: object) -> str:
    report = json.loads(result.stdout.splitlines()[0])  # type: ignore[attr-defined]
    return str(report["signature"]["verdict"])


@pytest.mark.parametrize("ending", ["", "\n", "\r\n"])
def test_value_from_a_file(tmp_path: Path, files: tuple[str, str], ending: str) -> None:
    definition, request = files
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET + ending, newline="")
    result = run("replay", "--definition", definition, "--file", request, "--json",
                 "--credential", f"webhookSecret=@{secret_file}")
    assert result.exit_code == 0, result.output
    assert verdict(result) == "pass"
    assert SECRET not in result.output


def test_value_from_standard_input(files: tuple[str, str]) -> None:
    definition, request = files
    result = run("replay", "--definition", definition, "--file", request, "--json",
                 "--credential", "webhookSecret=-", input=(SECRET + "\n").encode())
    assert result.exit_code == 0, result.output
    assert verdict(result) == "pass"


def test_a_wrong_file_value_fails_verification(tmp_path: Path, files: tuple[str, str]) -> None:
    definition, request = files
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("not-the-secret\n")
    result = run("replay", "--definition", definition, "--file", request, "--json",
                 "--credential", f"webhookSecret=@{secret_file}")
    assert result.exit_code == 1
    assert verdict(result) == "fail"


@pytest.mark.parametrize(("args", "message"), [
    (["--credential", "webhookSecret=@/nonexistent/secret.txt"],
     "whdebug: --credential webhookSecret file not found (/nonexistent/secret.txt)"),
    (["--credential", "webhookSecret=@"],
     "whdebug: --credential webhookSecret=@FILE: no file name after @"),
    (["--credential", "a=-", "--credential", "b=-"],
     "whdebug: --credential: only one KEY=- can read standard input (a, b)"),
])
def test_bad_sources_are_one_line(files: tuple[str, str], args: list[str],
                                  message: str) -> None:
    definition, request = files
    result = run("replay", "--definition", definition, "--file", request, *args)
    assert result.exit_code == 2, result.output
    assert error_line(result) == message


def test_empty_standard_input_is_refused(files: tuple[str, str]) -> None:
    definition, request = files
    result = run("replay", "--definition", definition, "--file", request,
                 "--credential", "webhookSecret=-", input=b"\n")
    assert result.exit_code == 2
    assert error_line(result) == ("whdebug: --credential webhookSecret=-: the value is empty "
                                  "(standard input)")


def test_sign_reads_the_secret_from_a_file(tmp_path: Path, files: tuple[str, str]) -> None:
    definition, _ = files
    payload = tmp_path / "payload.json"
    payload.write_bytes(BODY)
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET + "\n")
    result = run("sign", str(payload), "--definition", definition, "--event", "push",
                 "--credential", f"webhookSecret=@{secret_file}")
    assert result.exit_code == 0, result.output
    expected = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert f"X-Hub-Signature-256: sha256={expected}" in result.stdout


def test_help_says_ps_shows_values() -> None:
    result = run("replay", "--help")
    assert "KEY=@FILE" in result.output and "`ps`" in result.output
