"""A request that never reaches the MiniApp (wrong method, wrong path) says so first."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import run as cli
from factories import BASE_DEFINITION, SECRET, make_request, run

from whdebug.cli.output.serve import capture_segments
from whdebug.receiver.app import CaptureEvent


def test_get_on_the_webhook_path_is_a_wrong_method_not_a_wrong_path() -> None:
    report = run(make_request(b"", method="GET", signature=None, content_type=None))
    codes = report.codes()
    assert codes[0] == "REQ_WRONG_METHOD", codes
    assert "REQ_WRONG_PATH" not in codes
    found = report.findings[0]
    assert "GET" in found.message and "POST" in found.message
    assert "path" not in found.message.split(":")[0]


def test_a_har_favicon_request_leads_with_its_path(tmp_path: Path) -> None:
    definition = tmp_path / "acme.json"
    definition.write_text(json.dumps(BASE_DEFINITION))
    har = tmp_path / "browser.har"
    entry = {"request": {"method": "GET", "url": "http://127.0.0.1:8787/favicon.ico",
                         "httpVersion": "HTTP/1.1", "headers": [
                             {"name": "Accept", "value": "image/avif,image/webp,*/*"}],
                         "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0}}
    har.write_text(json.dumps({"log": {"version": "1.2", "entries": [entry]}}))
    result = cli("replay", "--definition", str(definition), "--file", str(har),
                 "--credential", f"webhookSecret={SECRET}", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout.splitlines()[0])
    codes = [f["code"] for f in report["findings"]]
    assert codes[:2] == ["REQ_WRONG_PATH", "REQ_WRONG_METHOD"], codes
    assert "SIG_HEADER_MISSING" not in codes[:2]
    assert report["outcome"]["summary"].startswith("never reaches this MiniApp")
    text = cli("replay", "--definition", str(definition), "--file", str(har),
               "--credential", f"webhookSecret={SECRET}")
    lines = text.stdout
    assert lines.index("REQ_WRONG_PATH") < lines.index("SIG_HEADER_MISSING"), lines


def test_serve_line_names_the_method_on_the_right_path() -> None:
    from datetime import UTC, datetime

    event = CaptureEvent(1, datetime(2025, 1, 1, tzinfo=UTC), "GET",
                         "/miniapps/acme/webhooks", "", 0, False, 200, wrong_path=True,
                         expected_path="/miniapps/acme/webhooks")
    line = "".join(text for text, _ in capture_segments(event))
    assert "wrong method" in line and "wrong path" not in line
    moved = CaptureEvent(2, datetime(2025, 1, 1, tzinfo=UTC), "POST", "/elsewhere", "", 0,
                         False, 200, wrong_path=True, expected_path="/miniapps/acme/webhooks")
    assert "wrong path" in "".join(text for text, _ in capture_segments(moved))
