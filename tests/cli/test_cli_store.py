"""`whdebug serve`, `list`, `import`, `export`, `send`, and replay's dedupe against the store."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_support import error_line, json_lines, run
from click.testing import Result
from paths import REPO

from whdebug.formats.curl import ansi_c_quote, format_curl
from whdebug.formats.http import format_http, parse_http
from whdebug.formats.read import read_request_file
from whdebug.model.request import Capture, CapturedRequest, forwardable_headers
from whdebug.receiver.app import ReceiverSettings
from whdebug.receiver.server import RunningServer, ServerSettings, start_in_loop
from whdebug.store.store import Store

ROOT = REPO
FIXTURES = ROOT / "fixtures"
REQUESTS = FIXTURES / "requests"
GITHUB = str(FIXTURES / "definitions" / "github.json")
GITHUB_SECRET = "webhookSecret=fixture-github-webhook-secret"
HTTP_FIXTURES = sorted(REQUESTS.glob("*.http"))
STOP_TIMEOUT = 10.0

ODD_BODY = (b"\xff\xfe not UTF-8 \xc3\x28, a 'quote' and \"double\" \\ back $HOME `id` !! "
            b"%s %%\r\nCRLF line\nLF line\ttab  trailing spaces  \r\n\x01\x1b[31m\x7f\x80")


def lowered(headers: list[tuple[str, str]] | tuple[tuple[str, str], ...]
            ) -> list[tuple[str, str]]:
    """Headers as uvicorn presents them (names lowercased), order and duplicates kept."""
    return [(name.lower(), value) for name, value in headers]


def odd_request(**fields: Any) -> CapturedRequest:
    """A request whose bytes trip naive quoting: duplicates, an empty value, a query, odd body."""
    request = CapturedRequest(
        method="POST",
        path="/miniapps/acme/webhooks",
        query="a=1&a=2&b=%20x&c=",
        headers=(("Content-Type", "application/octet-stream"), ("X-Dup", "one"),
                 ("X-Dup", "two"), ("X-Empty", ""), ("X-Quote", "it's \"fine\" $PATH"),
                 ("X-Signature", "sha256=abc123")),
        body=ODD_BODY,
    )
    return replace(request, **fields)


@dataclass
class LiveReceiver:
    """A whdebug receiver on a free loopback port, served from a background thread."""

    url: str
    store_path: Path

    def captures(self) -> list[CapturedRequest]:
        with Store.open(self.store_path, create=False) as store:
            return [store.get(capture_id).request for capture_id in store.ids()]


@pytest.fixture
def live_receiver(tmp_path: Path) -> Iterator[LiveReceiver]:
    store_path = tmp_path / "live.db"
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server_settings = ServerSettings(host="127.0.0.1", port=0, timeout_graceful_shutdown=1)
    running: RunningServer = asyncio.run_coroutine_threadsafe(
        start_in_loop(store_path, ReceiverSettings(), server_settings), loop).result(10)
    try:
        yield LiveReceiver(running.url, store_path)
    finally:
        asyncio.run_coroutine_threadsafe(running.stop(timeout=5), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.fixture
def store_path(tmp_path: Path) -> str:
    return str(tmp_path / "captures.db")


def store_with(path: str, *requests: CapturedRequest | Capture) -> list[int]:
    with Store.open(path) as store:
        return store.insert_many(requests)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestImportAndList:
    def test_imported_fixtures_are_listed_newest_first(self, store_path: str) -> None:
        result = run("import", *map(str, HTTP_FIXTURES), "--store", store_path)
        assert result.exit_code == 0, result.stderr
        printed = [line.split()[0] for line in result.stdout.splitlines()]
        assert printed == [f"#{n}" for n in range(1, len(HTTP_FIXTURES) + 1)]
        assert result.stdout.splitlines()[0].endswith(f"from {HTTP_FIXTURES[0]}")

        result = run("list", "--json", "--store", store_path)
        assert result.exit_code == 0, result.stderr
        rows = json_lines(result)
        assert [row["id"] for row in rows] == list(range(len(HTTP_FIXTURES), 0, -1))
        for row, file in zip(reversed(rows), HTTP_FIXTURES, strict=True):
            source = read_request_file(file)[0].request
            assert {"id", "received_at", "method", "path", "body_size", "truncated",
                    "response_status"} <= row.keys()
            assert (row["method"], row["path"], row["query"]) == (
                source.method, source.path, source.query)
            assert row["body_size"] == len(source.body)
            assert row["truncated"] is False
            assert row["received_at"].endswith("Z")

        last_two = json_lines(run("list", "--json", "--last", "2", "--store", store_path))
        assert [row["id"] for row in last_two] == [len(HTTP_FIXTURES), len(HTTP_FIXTURES) - 1]

    def test_human_table_shows_target_size_and_truncation(self, store_path: str) -> None:
        truncated = str(REQUESTS / "acme-truncated.json")
        assert run("import", str(HTTP_FIXTURES[0]), truncated, "--store", store_path
                   ).exit_code == 0
        result = run("list", "--store", store_path, env={"COLUMNS": "120"})
        assert result.exit_code == 0, result.stderr
        lines = result.stdout.splitlines()
        first = read_request_file(HTTP_FIXTURES[0])[0].request
        row_1 = next(line for line in lines if line.lstrip().startswith("1 "))
        row_2 = next(line for line in lines if line.lstrip().startswith("2 "))
        assert first.target in row_1 and first.method in row_1
        assert "truncated" in row_2 and "truncated" not in row_1
        assert lines.index(row_2) < lines.index(row_1)  # newest first
        assert "2 captures in" in result.stdout

    def test_missing_store_is_an_error_and_is_not_created(self, tmp_path: Path) -> None:
        path = tmp_path / "typo.db"
        for args in (["list"], ["list", "--json"], ["export", "1"], ["send", "1", "--to",
                                                                      "http://127.0.0.1:9"]):
            result = run(*args, "--store", str(path))
            assert result.exit_code == 2
            assert error_line(result).startswith("whdebug: capture store not found")
            assert not path.exists()

    def test_one_bad_file_imports_nothing(self, store_path: str, tmp_path: Path) -> None:
        bad = tmp_path / "bad.http"
        bad.write_bytes(b"not a request line at all\r\n\r\n")
        result = run("import", str(HTTP_FIXTURES[0]), str(bad), "--store", store_path)
        assert result.exit_code == 2
        assert error_line(result).startswith(f"whdebug: {bad}:1:")
        assert result.stdout == ""
        assert not Path(store_path).exists()
        store_with(store_path)
        result = run("import", str(HTTP_FIXTURES[0]), str(tmp_path / "none.http"),
                     "--store", store_path)
        assert result.exit_code == 2
        assert Store.open(store_path).count() == 0

    def test_har_and_json_exports_import_back_exactly(self, store_path: str,
                                                      tmp_path: Path) -> None:
        store_with(store_path, odd_request())
        for name in ("har", "json"):
            out = tmp_path / f"capture.{name}"
            result = run("export", "1", "--format", name, "-o", str(out), "--store", store_path)
            assert result.exit_code == 0, result.stderr
            assert run("import", str(out), "--store", store_path).exit_code == 0
        with Store.open(store_path) as store:
            original, *copies = (store.get(n).request for n in store.ids())
        assert len(copies) == 2
        for copy in copies:
            assert copy.body == original.body
            assert copy.headers == original.headers
            assert (copy.method, copy.path, copy.query) == (
                original.method, original.path, original.query)


class TestExport:
    @pytest.mark.parametrize("file", HTTP_FIXTURES, ids=lambda path: path.stem)
    def test_http_export_reproduces_the_source_file(self, file: Path, store_path: str) -> None:
        assert run("import", str(file), "--store", store_path).exit_code == 0
        result = run("export", "1", "--format", "http", "--store", store_path)
        assert result.exit_code == 0, result.stderr
        exported, source = parse_http(result.stdout_bytes), parse_http(file.read_bytes())
        assert exported.body == source.body
        assert exported.headers == source.headers
        assert result.stdout_bytes == file.read_bytes()  # the fixtures are CRLF .http files

    def test_redact_masks_the_signature_and_keeps_the_body(self, store_path: str) -> None:
        file = REQUESTS / "github-pr-opened.http"
        assert run("import", str(file), "--store", store_path).exit_code == 0
        result = run("export", "1", "--redact", "--store", store_path)
        assert result.exit_code == 0, result.stderr
        exported, source = parse_http(result.stdout_bytes), parse_http(file.read_bytes())
        assert exported.header("X-Hub-Signature-256") == "[masked]"
        assert exported.header("X-Hub-Signature") == "[masked]"
        assert source.header("X-Hub-Signature-256") not in result.stdout
        assert exported.header("X-GitHub-Event") == "pull_request"
        assert exported.body == source.body
        assert "X-Hub-Signature-256" in result.stderr

    def test_json_export_carries_the_body_in_base64(self, store_path: str,
                                                    tmp_path: Path) -> None:
        import base64

        store_with(store_path, odd_request())
        out = tmp_path / "c.json"
        result = run("export", "1", "--format", "json", "-o", str(out), "--store", store_path)
        assert result.exit_code == 0, result.stderr
        document = json.loads(out.read_text("utf-8"))
        assert base64.b64decode(document["body_base64"]) == ODD_BODY
        assert document["id"] == 1
        assert out.stat().st_mode & 0o077 == 0  # captures hold signatures: owner only

    @pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
    @pytest.mark.parametrize("data", [ODD_BODY, b"", b"@/etc/passwd", bytes(range(1, 256)),
                                      "caf\u00e9 \u2603".encode()])
    def test_ansi_c_quoting_decodes_to_the_same_bytes(self, data: bytes) -> None:
        decoded = subprocess.run(["bash", "-c", f"printf %s {ansi_c_quote(data)}"],
                                 capture_output=True, check=True, timeout=10).stdout
        assert decoded == data

    @pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
    def test_curl_command_quotes_every_argument(self, store_path: str) -> None:
        store_with(store_path, odd_request())
        result = run("export", "1", "--format", "curl", "--to", "http://127.0.0.1:9",
                     "--store", store_path)
        assert result.exit_code == 0, result.stderr
        # Print every argument NUL-separated instead of running curl.
        script = "curl() { printf '%s\\0' \"$@\"; }\n" + result.stdout
        words = subprocess.run(["bash", "-c", script], capture_output=True, check=True,
                               timeout=10).stdout.split(b"\0")[:-1]
        assert words[words.index(b"--data-binary") + 1] == ODD_BODY
        sent = [words[n + 1] for n, word in enumerate(words) if word == b"--header"]
        assert b"X-Dup: one" in sent and b"X-Dup: two" in sent
        assert b"X-Empty;" in sent  # curl drops `Name:`; `Name;` sends an empty value
        assert b"X-Quote: it's \"fine\" $PATH" in sent
        assert words[-1] == b"http://127.0.0.1:9/miniapps/acme/webhooks?a=1&a=2&b=%20x&c="

    @pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None,
                        reason="needs curl and bash")
    @pytest.mark.parametrize("to_file", [False, True], ids=["inline", "body-file"])
    def test_curl_export_delivers_the_exact_bytes(self, live_receiver: LiveReceiver,
                                                  store_path: str, tmp_path: Path,
                                                  to_file: bool) -> None:
        body = ODD_BODY + (b"\x00NUL inside" if to_file else b"")
        original = odd_request(body=body, headers=(*odd_request().headers,
                                                   ("User-Agent", "Provider-Hookshot/1")))
        store_with(store_path, original)
        args = ["export", "1", "--format", "curl", "--to", live_receiver.url,
                "--store", store_path]
        if to_file:
            script = tmp_path / "scripts" / "again.sh"
            script.parent.mkdir()
            result = run(*args, "-o", str(script))
            assert result.exit_code == 0, result.stderr
            assert (tmp_path / "scripts" / "again.sh.body").read_bytes() == body
            command = ["bash", str(script)]
        else:
            result = run(*args)
            assert result.exit_code == 0, result.stderr
            command = ["bash", "-c", result.stdout]
        answer = subprocess.run(command, capture_output=True, check=True, timeout=20,
                                cwd=ROOT)  # elsewhere: the script finds its body beside it
        assert answer.stdout.startswith(b"HTTP/1.1 200")
        [received] = live_receiver.captures()
        assert received.body == body
        assert (received.method, received.path, received.query) == (
            original.method, original.path, original.query)
        assert lowered(forwardable_headers(received)) == lowered(original.headers)

    def test_nul_body_needs_a_file_for_curl(self, store_path: str) -> None:
        store_with(store_path, odd_request(body=b"a\x00b"))
        result = run("export", "1", "--format", "curl", "--store", store_path)
        assert result.exit_code == 2
        assert "NUL" in error_line(result) and "-o FILE" in error_line(result)

    def test_curl_suppresses_headers_the_capture_did_not_have(self) -> None:
        request = CapturedRequest("POST", "/h", headers=(("X-A", "1"),), body=b"{}")
        command = format_curl(request, "http://127.0.0.1:9/h")
        for header in ("'User-Agent:'", "'Accept:'", "'Content-Type:'", "'Expect:'"):
            assert f"--header {header}" in command
        get = CapturedRequest("GET", "/h", headers=(("Accept", "*/*"),))
        command = format_curl(get, "http://127.0.0.1:9/h[1]")
        assert "--data" not in command and "--request" not in command
        assert "--globoff" in command and "'Accept:'" not in command


class TestSend:
    def test_sends_the_exact_bytes_and_headers(self, live_receiver: LiveReceiver,
                                               store_path: str) -> None:
        original = odd_request(headers=(*odd_request().headers, ("Connection", "close, X-Hop"),
                                        ("X-Hop", "per-connection"), ("Host", "provider.example"),
                                        ("Content-Length", str(len(ODD_BODY))),
                                        ("Keep-Alive", "timeout=5"), ("Proxy-Authorization", "x")))
        store_with(store_path, original)
        result = run("send", "1", "--to", live_receiver.url, "--store", store_path)
        assert result.exit_code == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == "HTTP/1.1 200 OK"
        assert "content-type: application/json" in lines
        assert lines[-1] == '{"ok":true}'
        assert result.stderr.startswith("send: #1 POST ")
        [received] = live_receiver.captures()
        assert received.body == ODD_BODY
        assert received.query == original.query and received.path == original.path
        expected = [(name, value) for name, value in odd_request().headers]
        assert lowered(forwardable_headers(received)) == lowered(expected)
        names = [name.lower() for name, _ in received.headers]
        assert names.count("host") == 1 and names.count("content-length") == 1
        assert not {"x-hop", "keep-alive", "proxy-authorization", "connection"} & set(names)

    def test_a_non_2xx_answer_exits_1(self, tmp_path: Path, store_path: str) -> None:
        async def scenario() -> tuple[Result, Result]:
            from whdebug.model.definition import load_definition
            from whdebug.model.request import Secrets

            settings = ReceiverSettings(definition=load_definition(GITHUB), strict=True,
                                        secrets=Secrets({"webhookSecret": "other"}))
            running = await start_in_loop(tmp_path / "strict.db", settings,
                                          ServerSettings(host="127.0.0.1", port=0))
            try:
                sent = await asyncio.to_thread(run, "send", "1", "--to", running.url,
                                               "--store", store_path)
                from_file = await asyncio.to_thread(
                    run, "send", "--file", str(REQUESTS / "github-pr-opened.http"),
                    "--to", running.url)
            finally:
                await running.stop()
            return sent, from_file

        store_with(store_path, read_request_file(REQUESTS / "github-pr-opened.http")[0])
        for result in asyncio.run(scenario()):
            assert result.exit_code == 1, result.stderr
            assert result.stdout.startswith("HTTP/1.1 401 Unauthorized")

    def test_refused_connection_is_one_line(self, store_path: str) -> None:
        store_with(store_path, odd_request())
        port = free_port()
        result = run("send", "1", "--to", f"http://127.0.0.1:{port}", "--store", store_path)
        assert result.exit_code == 2
        assert error_line(result) == (
            f"whdebug: cannot send to http://127.0.0.1:{port}/miniapps/acme/webhooks"
            "?a=1&a=2&b=%20x&c=: connection refused (is anything listening there?)")

    @pytest.mark.parametrize(("args", "message"), [
        (["send", "--to", "http://127.0.0.1:9"], "give a capture ID or --file F"),
        (["send", "1", "--to", "ftp://x"], "expected an http:// or https:// URL"),
        (["send", "2", "--to", "http://127.0.0.1:9"], "whdebug: capture #2 was truncated"),
    ])
    def test_bad_input(self, store_path: str, args: list[str], message: str) -> None:
        store_with(store_path, odd_request(),
                   odd_request(body=b"12", body_size=1_000_000, truncated=True))
        result = run(*args, "--store", store_path)
        assert result.exit_code == 2
        assert message in error_line(result)


class TestServe:
    def test_port_in_use_is_one_line(self, store_path: str) -> None:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            result = run("serve", "--port", str(port), "--store", store_path)
        assert result.exit_code == 2
        assert error_line(result) == (
            f"whdebug: port {port} is already in use (127.0.0.1:{port})")

    @pytest.mark.parametrize(("args", "message"), [
        (["--strict"], "--strict needs --definition"),
        (["--forward-to", "localhost:3000"], "--forward-to: expected an http"),
        (["--definition", "missing.json"], "missing.json"),
        (["--port", "70000"], "--port"),
    ])
    def test_bad_options(self, store_path: str, args: list[str], message: str) -> None:
        result = run("serve", *args, "--store", store_path)
        assert result.exit_code == 2
        assert message in error_line(result)

    def test_serve_capture_then_replay_explains_it(self, tmp_path: Path) -> None:
        """The issue's "done when": serve, POST real bytes, see the line, stop, replay."""
        store = str(tmp_path / "captures.db")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8",
               "NO_COLOR": "1", "COLUMNS": "200"}
        process = subprocess.Popen(
            [sys.executable, "-m", "whdebug", "serve", "--port", "0", "--store", store,
             "--definition", GITHUB, "--credential", GITHUB_SECRET],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
            env=env)
        lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or ()],
                         daemon=True).start()

        def next_line(containing: str) -> str:
            while True:
                line = lines.get(timeout=STOP_TIMEOUT)
                if containing in line:
                    return line

        try:
            banner = next_line("listening on ")
            url = banner.split("listening on ")[1].strip()
            assert url.startswith("http://127.0.0.1:")
            fixture = parse_http((REQUESTS / "github-pr-opened.http").read_bytes())
            headers = [(name, value) for name, value in fixture.headers
                       if name.lower() not in ("host", "content-length")]
            response = httpx.post(url + fixture.path, content=fixture.body, headers=headers,
                                  timeout=STOP_TIMEOUT)
            assert response.status_code == 200
            line = next_line("#1")
            assert "POST /miniapps/github/webhooks" in line
            assert "pull_request.opened" in line and "sig ✓" in line and "fires" in line
        finally:
            process.send_signal(signal.SIGINT)
            try:
                _, stderr = process.communicate(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                raise
        assert process.returncode == 0, stderr
        assert "whdebug replay --last 1 --definition" in stderr

        result = run("replay", "--last", "1", "--definition", GITHUB, "--credential",
                     GITHUB_SECRET, "--store", store, "--json")
        assert result.exit_code == 0, result.stderr
        report, summary = json_lines(result)
        assert report["source"]["capture_id"] == 1
        assert report["outcome"]["status"] == "fires"
        assert report["event"]["value"] == "pull_request.opened"
        with Store.open(store, create=False) as opened:
            assert opened.get(1).request.body == fixture.body


class TestReplayDedupesAgainstTheStore:
    @pytest.fixture
    def redelivered(self, store_path: str) -> str:
        store_with(store_path, *(read_request_file(REQUESTS / f"github-{name}.http")[0]
                                 for name in ("push", "redelivery-1", "ping", "redelivery-2")))
        return store_path

    def replay(self, store: str, *args: str) -> list[dict[str, Any]]:
        result = run("replay", "--definition", GITHUB, "--credential", GITHUB_SECRET,
                     "--store", store, "--json", *args)
        assert result.exit_code in (0, 1), result.stderr
        return json_lines(result)[:-1]

    @pytest.mark.parametrize("args", [["--last", "1"], ["4"], ["3", "4"]])
    def test_a_redelivery_is_a_duplicate_of_the_earlier_capture(self, redelivered: str,
                                                                args: list[str]) -> None:
        report = self.replay(redelivered, *args)[-1]
        assert report["source"]["capture_id"] == 4
        assert report["outcome"]["status"] == "duplicate"
        assert report["transaction"]["duplicate_of"] == 2
        assert "TX_DUPLICATE" in [item["code"] for item in report["findings"]]

    def test_each_capture_replays_as_in_a_full_replay(self, redelivered: str) -> None:
        everything = self.replay(redelivered, "--all")
        for number, expected in enumerate(everything, 1):
            [alone] = self.replay(redelivered, str(number))
            assert alone == expected

    def test_the_dedupe_window_bounds_the_history(self, redelivered: str) -> None:
        assert self.replay(redelivered, "4", "--dedupe-window", "2"
                           )[0]["outcome"]["status"] == "duplicate"
        assert self.replay(redelivered, "4", "--dedupe-window", "1"
                           )[0]["outcome"]["status"] == "fires"

    def test_only_accepted_earlier_captures_count(self, store_path: str) -> None:
        first = read_request_file(REQUESTS / "github-redelivery-1.http")[0].request
        forged = replace(first, headers=tuple(
            (name, "sha256=" + "0" * 64 if name == "X-Hub-Signature-256" else value)
            for name, value in first.headers))
        store_with(store_path, forged, read_request_file(REQUESTS / "github-redelivery-2.http")[0])
        [report] = self.replay(store_path, "--last", "1")
        assert report["outcome"]["status"] == "fires"
        assert report["transaction"]["duplicate_of"] is None


def test_export_http_matches_format_http(store_path: str) -> None:
    store_with(store_path, odd_request())
    result = run("export", "1", "--store", store_path)
    assert result.exit_code == 0, result.stderr
    with Store.open(store_path) as store:
        assert result.stdout_bytes == format_http(store.get(1).request)
