"""Every output path masks every secret: each test plants one where the output would show it.

The secret is the install's webhook secret (`--credential webhookSecret=...`). It is planted
as the delivery id (shown in the dedupe step), as the action (shown in the event), at the
start of the body (shown in the signed-content preview, cut after 32 bytes) and in a header,
so a path that forgets to mask prints it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import httpx
import pytest
from cli_support import run, serving

from whdebug.model.secrecy import MASK

SECRET = "zq-Secret-7f9a-Never"
DEFINITION = {
    "ns": "github", "version": "1.0.0", "status": "private",
    "auth": {"type": "apikey", "config": {"webhookSecret": ""},
             "sensitiveKeys": ["webhookSecret"]},
    "triggers": [{"type": "miniapps:github", "event": "pull_request.opened",
                  "label": "PR opened"}],
    "webhook": {
        "eventExtraction": {"source": "header", "path": "X-GitHub-Event", "compositeStrategy": {
            "separator": ".", "parts": [{"source": "header", "path": "X-GitHub-Event"},
                                        {"source": "body", "path": "$.action"}]}},
        "transactionId": {"paths": ["$.delivery"]},
        "verification": {"type": "hmac-sha256", "headerName": "X-Hub-Signature-256",
                         "secretKey": "webhookSecret"},
    },
}
# The secret starts at byte 14, so the 32-byte preview cuts it in the middle.
BODY = json.dumps({"delivery": SECRET, "action": SECRET, "number": 7}).encode()


def leaked(text: str) -> list[str]:
    """The secret, or any 8-character piece of it, found in `text`."""
    pieces = {SECRET[i:i + 8] for i in range(len(SECRET) - 7)}
    return sorted(piece for piece in pieces if piece in text)


def signed_request(tmp_path: Path, *, key: str = SECRET, name: str = "leaky.http") -> str:
    signature = hmac.new(key.encode(), BODY, hashlib.sha256).hexdigest()
    head = ("POST /miniapps/github/webhooks HTTP/1.1\r\nContent-Type: application/json\r\n"
            f"X-GitHub-Event: pull_request\r\nX-Hub-Signature-256: sha256={signature}\r\n"
            f"X-Note: forwarded for {SECRET}\r\n\r\n")
    path = tmp_path / name
    path.write_bytes(head.encode() + BODY)
    return str(path)


@pytest.fixture
def definition(tmp_path: Path) -> str:
    path = tmp_path / "app.json"
    path.write_text(json.dumps(DEFINITION))
    return str(path)


class TestReplay:
    @pytest.mark.parametrize("mode", [[], ["-v"], ["--json"]])
    @pytest.mark.parametrize(("key", "code"), [(SECRET, 1), ("another-key-1234", 1)])
    def test_planted_secret_is_masked(self, tmp_path: Path, definition: str, mode: list[str],
                                      key: str, code: int) -> None:
        result = run("replay", "--definition", definition, "--file",
                     signed_request(tmp_path, key=key), "--credential",
                     f"webhookSecret={SECRET}", "--now", "2025-11-24T16:00:05Z", *mode)
        assert result.exit_code == code, result.output  # the event never matches a trigger
        assert MASK in result.stdout
        assert leaked(result.stdout + result.stderr) == []

    def test_verbose_preview_masks_a_secret_cut_by_the_preview(self, tmp_path: Path,
                                                               definition: str) -> None:
        result = run("replay", "--definition", definition, "--file",
                     signed_request(tmp_path, key="another-key-1234"), "--credential",
                     f"webhookSecret={SECRET}", "--json")
        [report, _] = [json.loads(line) for line in result.stdout.splitlines()]
        previews = [a["signed"] for a in report["signature"]["attempts"] if a.get("signed")]
        assert previews and all(MASK in p["head_text"] for p in previews)
        assert all(MASK in p["head_hex"] for p in previews)
        assert SECRET.encode()[:8].hex(" ") not in result.stdout


class TestReadiness:
    @pytest.mark.parametrize("mode", [[], ["--json"]])
    def test_sample_outcomes_are_masked(self, tmp_path: Path, definition: str,
                                        mode: list[str]) -> None:
        samples = tmp_path / "samples"
        samples.mkdir()
        (samples / "opened.http").write_bytes(Path(signed_request(tmp_path)).read_bytes())
        result = run("check", definition, "--samples", str(samples), "--credential",
                     f"webhookSecret={SECRET}", *mode)
        assert result.exit_code == 1, result.output  # the sample fires nothing
        assert MASK in result.stdout
        assert leaked(result.stdout + result.stderr) == []


class TestFiles:
    @pytest.mark.parametrize("format_name", ["http", "har", "curl", "json"])
    def test_export_redact_masks_secret_headers_and_query(self, tmp_path: Path,
                                                          format_name: str) -> None:
        store = tmp_path / "captures.db"
        request = tmp_path / "token.http"
        request.write_bytes(b"POST /hook?token=" + SECRET.encode() + b"&page=2 HTTP/1.1\r\n"
                            b"X-Batch-Token: " + SECRET.encode() + b"\r\n"
                            b"Content-Type: application/json\r\n\r\n{}")
        assert run("import", str(request), "--store", str(store)).exit_code == 0
        output = tmp_path / f"out.{format_name}"
        result = run("export", "1", "--format", format_name, "--redact", "-o", str(output),
                     "--store", str(store))
        assert result.exit_code == 0, result.output
        written = output.read_bytes().decode("utf-8", "replace")
        assert "page=2" in written
        assert leaked(written + result.output) == []

    def test_sign_prints_no_secret(self, tmp_path: Path, definition: str) -> None:
        payload = tmp_path / "payload.json"
        payload.write_text(json.dumps({"action": "opened", "delivery": "d-1"}))
        output = tmp_path / "signed.http"
        result = run("sign", str(payload), "--definition", definition, "--event",
                     "pull_request.opened", "--credential", f"webhookSecret={SECRET}",
                     "-o", str(output))
        assert result.exit_code == 0, result.output
        assert output.exists()
        assert leaked(result.output) == []
        assert leaked(output.read_text()) == []  # the signature, never the key


class TestServeConsole:
    def test_console_lines_mask_the_event(self, tmp_path: Path, definition: str) -> None:
        with serving("--store", str(tmp_path / "c.db"), "--definition", definition,
                     "--credential", f"webhookSecret={SECRET}", timeout=15) as serve:
            raw = Path(signed_request(tmp_path)).read_bytes()
            headers = dict(line.split(": ", 1) for line in
                           raw.split(b"\r\n\r\n")[0].decode().split("\r\n")[1:])
            answer = httpx.post(f"http://127.0.0.1:{serve.port}/miniapps/github/webhooks?token="
                                f"{SECRET}", content=BODY, headers=headers)
            assert answer.status_code == 200
            serve.wait_for("#1")
        output = serve.output
        assert "#1" in output, output
        assert MASK in output
        assert leaked(output) == [], output
