"""Credential-looking query parameters and headers are masked by every face, by default.

Each test plants a token the run knows nothing about (not a --credential, not in the
definition) where the output would show it: as `?token=` in the target and as an
`X-Batch-Token` header, which the definition does not configure. `--show-secrets` shows them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
from cli_support import http_server, run, serving

from whdebug.model.secrecy import MASK

QUERY_TOKEN = "qtok-Planted-5e1d"
HEADER_TOKEN = "htok-Planted-9c2b"
SIGNATURE = "sha256=0123456789abcdef"
DEFINITION = {
    "ns": "github", "version": "1.0.0", "status": "private",
    "auth": {"type": "apikey", "config": {"webhookSecret": ""},
             "sensitiveKeys": ["webhookSecret"]},
    "triggers": [{"type": "miniapps:github", "event": "pull_request.opened",
                  "label": "PR opened"}],
    "webhook": {
        "eventExtraction": {"source": "header", "path": "X-GitHub-Event"},
        "verification": {"type": "hmac-sha256", "headerName": "X-Hub-Signature-256",
                         "secretKey": "webhookSecret"},
    },
}
REQUEST = (f"POST /miniapps/github/webhooks?token={QUERY_TOKEN}&page=2 HTTP/1.1\r\n"
           f"X-GitHub-Event: pull_request\r\nX-Batch-Token: {HEADER_TOKEN}\r\n"
           f"X-Hub-Signature-256: {SIGNATURE}\r\nContent-Type: application/json\r\n\r\n"
           '{"action":"opened"}').encode()


def planted(text: str) -> list[str]:
    return [token for token in (QUERY_TOKEN, HEADER_TOKEN) if token in text]


@pytest.fixture
def definition(tmp_path: Path) -> str:
    path = tmp_path / "app.json"
    path.write_text(json.dumps(DEFINITION))
    return str(path)


@pytest.fixture
def request_file(tmp_path: Path) -> str:
    path = tmp_path / "batch.http"
    path.write_bytes(REQUEST)
    return str(path)


@pytest.fixture
def store(tmp_path: Path, request_file: str) -> str:
    path = str(tmp_path / "captures.db")
    result = run("import", request_file, "--store", path)
    assert result.exit_code == 0, result.output
    assert planted(result.output) == []
    assert "token=masked&page=2" in result.stdout
    return path


class _Answer(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Set-Cookie", f"session={HEADER_TOKEN}")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def app_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 that answers 200 with a session cookie."""
    with http_server(_Answer) as url:
        yield url


class TestReplay:
    @pytest.mark.parametrize("mode", [[], ["-v"], ["--json"]])
    def test_query_and_header_tokens_are_masked(self, definition: str, store: str,
                                                request_file: str, mode: list[str]) -> None:
        for source in (["1", "--store", store], ["--file", request_file]):
            result = run("replay", *source, "--definition", definition, *mode,
                         env={"COLUMNS": "200"})
            assert result.exit_code == 1, result.output  # no secret: rejected
            assert planted(result.output) == [], result.output
            assert "token=masked&page=2" in result.stdout
            assert SIGNATURE in result.stdout or mode == []  # signatures stay visible

    def test_json_report_masks_and_keeps_the_signature(self, definition: str,
                                                       store: str) -> None:
        result = run("replay", "1", "--store", store, "--definition", definition, "--json")
        report = json.loads(result.stdout.splitlines()[0])
        assert report["request"]["query"] == "token=masked&page=2"
        headers = dict(report["request"]["headers"])
        assert headers["X-Batch-Token"] == MASK
        assert headers["X-Hub-Signature-256"] == SIGNATURE

    @pytest.mark.parametrize("mode", [["-v"], ["--json"]])
    def test_show_secrets_shows_them(self, definition: str, store: str,
                                     mode: list[str]) -> None:
        result = run("replay", "1", "--store", store, "--definition", definition, *mode,
                     "--show-secrets", env={"COLUMNS": "200"})
        assert result.exit_code == 1, result.output
        assert planted(result.stdout) == [QUERY_TOKEN, HEADER_TOKEN]

    def test_show_secrets_keeps_known_secrets_masked(self, definition: str, store: str,
                                                     tmp_path: Path) -> None:
        result = run("replay", "1", "--store", store, "--definition", definition, "--json",
                     "--show-secrets", "--credential", f"webhookSecret={HEADER_TOKEN}")
        assert QUERY_TOKEN in result.stdout
        assert HEADER_TOKEN not in result.stdout

    def test_profile_replay_masks_and_shows(self, tmp_path: Path) -> None:
        request = tmp_path / "karzoun.http"
        request.write_bytes(REQUEST.replace(b"/miniapps/github/webhooks", b"/hook"))
        args = ["replay", "--file", str(request), "--profile", "karzoun-tenant",
                "--credential", "secret=s3cr3t-value", "--json"]
        masked = run(*args)
        assert masked.exit_code in (0, 1), masked.output
        assert planted(masked.stdout) == []
        shown = run(*args, "--show-secrets")
        assert planted(shown.stdout) == [QUERY_TOKEN, HEADER_TOKEN]


class TestList:
    @pytest.mark.parametrize("mode", [[], ["--json"]])
    def test_query_token_is_masked(self, store: str, mode: list[str]) -> None:
        result = run("list", "--store", store, *mode, env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert planted(result.output) == []
        assert "token=masked&page=2" in result.stdout

    @pytest.mark.parametrize("mode", [[], ["--json"]])
    def test_show_secrets_shows_it(self, store: str, mode: list[str]) -> None:
        result = run("list", "--store", store, *mode, "--show-secrets", env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert planted(result.stdout) == [QUERY_TOKEN]


class TestSend:
    def test_stderr_and_answer_are_masked(self, store: str, app_server: str) -> None:
        result = run("send", "1", "--to", app_server, "--store", store)
        assert result.exit_code == 0, result.output
        assert "token=masked&page=2" in result.stderr
        assert "Set-Cookie: " + MASK in result.stdout
        assert planted(result.output) == []

    def test_show_secrets_shows_them(self, store: str, app_server: str) -> None:
        result = run("send", "1", "--to", app_server, "--store", store, "--show-secrets")
        assert result.exit_code == 0, result.output
        assert QUERY_TOKEN in result.stderr
        assert HEADER_TOKEN in result.stdout

    def test_connection_error_is_masked(self, store: str) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        result = run("send", "1", "--to", f"http://127.0.0.1:{port}", "--store", store)
        assert result.exit_code == 2, result.output
        assert "token=masked" in result.stderr
        assert planted(result.output) == []


def _serve(tmp_path: Path, definition: str, forward: str, *extra: str) -> str:
    """Run `serve --forward-to`, post the planted request, return its console output."""
    with serving("--store", str(tmp_path / "serve.db"), "--definition", definition,
                 "--forward-to", f"{forward}/app?api_key={QUERY_TOKEN}", *extra) as serve:
        head, _, body = REQUEST.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
        answer = httpx.post(f"http://127.0.0.1:{serve.port}/miniapps/github/webhooks?token="
                            f"{QUERY_TOKEN}&page=2", content=body, headers=headers)
        assert answer.status_code == 200
        serve.wait_for("forwarded to")
    return serve.output


class TestServe:
    def test_console_and_forward_lines_are_masked(self, tmp_path: Path, definition: str,
                                                  app_server: str) -> None:
        output = _serve(tmp_path, definition, app_server)
        assert "forwarded to" in output, output
        assert "token=masked&page=2" in output
        assert "api_key=masked" in output
        assert planted(output) == [], output

    def test_show_secrets_shows_them(self, tmp_path: Path, definition: str,
                                     app_server: str) -> None:
        output = _serve(tmp_path, definition, app_server, "--show-secrets")
        assert "forwarded to" in output, output
        assert f"token={QUERY_TOKEN}" in output
        assert f"api_key={QUERY_TOKEN}" in output
