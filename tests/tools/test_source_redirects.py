"""`source --call` on a provider whose redirect cannot be followed: a finding, not a crash."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from cli_support import http_server, run

TOKEN = "xoxb-planted-token-4242"
LOCATIONS = {
    "/port": "http://127.0.0.1:99999/x",
    "/ipv6": "http://[::1/x",
    "/scheme": "mailto:someone@example.test",
    "/secret": f"http://127.0.0.1:70000/cb?access_token={TOKEN}",
}


class _Redirects(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.send_response(302)
        self.send_header("Location", LOCATIONS[self.path.split("?")[0]])
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 answering 302 with a Location from LOCATIONS."""
    with http_server(_Redirects) as url:
        yield url


def definition(tmp_path: Path, url: str) -> str:
    data = {
        "ns": "acme", "version": "1.0.0", "status": "private",
        "auth": {"type": "apikey", "config": {}},
        "source": {"rpc_items": {"url": url,
                                 "headers": {"Authorization": "Bearer [[accessToken]]"},
                                 "dataPath": "items", "valueField": "id",
                                 "labelField": "name"}},
    }
    path = tmp_path / "app.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize(("path", "why"), [("/port", "Port out of range"),
                                           ("/ipv6", "Invalid IPv6 URL"),
                                           ("/scheme", "not an http(s) URL")])
@pytest.mark.parametrize("mode", [[], ["--json"]])
def test_bad_redirect_is_a_finding(tmp_path: Path, provider: str, path: str, why: str,
                                   mode: list[str]) -> None:
    result = run("source", definition(tmp_path, provider + path), "rpc_items", "--call",
                 "--credential", f"accessToken={TOKEN}", *mode)
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output
    assert "SRC_REDIRECT_INVALID" in result.output
    assert why in result.output
    assert TOKEN not in result.output
    if mode:
        document = json.loads(result.stdout)
        [finding] = [f for f in document["findings"] if f["code"] == "SRC_REDIRECT_INVALID"]
        assert finding["severity"] == "error" and finding["pointer"] == "/source/rpc_items/url"
        assert document["response"]["status"] == 302


def test_the_location_is_shown_masked(tmp_path: Path, provider: str) -> None:
    result = run("source", definition(tmp_path, provider + "/secret"), "rpc_items", "--call",
                 "--credential", "accessToken=unrelated-value", "--json")
    assert result.exit_code == 1, result.output
    assert "access_token=masked" in result.stdout
    assert TOKEN not in result.output
