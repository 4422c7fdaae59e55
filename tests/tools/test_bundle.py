"""`whdebug bundle`: a support request's files, every secret masked or the bundle refused."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from paths import REPO

from whdebug.cli import main
from whdebug.formats.http import parse_http
from whdebug.formats.read import read_request_file
from whdebug.model.definition import load_definition
from whdebug.model.request import CapturedRequest, Secrets
from whdebug.model.secrecy import NamedSecret, SecretSet
from whdebug.store.store import Store
from whdebug.tools.bundle import mask_request

ROOT = REPO / "fixtures"
SALLA = ROOT / "definitions" / "salla.json"
CREATED = ROOT / "requests" / "salla-order-created.http"
UPDATED = ROOT / "requests" / "salla-order-updated.http"
PARTNER_SECRET = "fixture-salla-partner-secret"
PLANTED = "planted-install-token-5d41402a"
CLIENT_SECRET = "salla-client-secret-0c9e1f"
NOW = "2025-11-24T16:00:05Z"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["bundle", "--now", NOW, *args])


def planted_request(tmp_path: Path, *, in_body: bool = False) -> Path:
    """The Salla order with the planted token in headers (and, if asked, in the body)."""
    request = read_request_file(CREATED)[0].request
    headers = (*request.headers, ("X-Trace-Context", f"t={PLANTED}"),
               ("X-Install-Token", PLANTED))
    body = request.body
    if in_body:
        body = body.replace(b'"event":"order.created"',
                            f'"event":"order.created","token":"{PLANTED}"'.encode())
    path = tmp_path / "planted.http"
    lines = [f"POST {request.target} HTTP/1.1"] + [f"{n}: {v}" for n, v in headers]
    path.write_bytes(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return path


def zip_files(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


class TestBundle:
    def test_planted_header_secret_is_masked_in_every_file(self, tmp_path: Path) -> None:
        output = tmp_path / "support.zip"
        result = run("--definition", str(SALLA), str(planted_request(tmp_path)), str(UPDATED),
                     "-o", str(output), "--config", f"webhookSecret={PARTNER_SECRET}",
                     "--credential", f"installToken={PLANTED}")
        assert result.exit_code == 0, result.output
        files = zip_files(output)
        assert list(files) == [
            "SUMMARY.md", "definition.redacted.json", "check.json",
            "samples/01-planted.http", "reports/01-planted.json",
            "samples/02-salla-order-updated.http", "reports/02-salla-order-updated.json"]
        for name, data in files.items():
            for secret in (PLANTED, PARTNER_SECRET):
                assert secret.encode() not in data, (name, secret)
        sample = parse_http(files["samples/01-planted.http"])
        assert sample.header("X-Trace-Context") == "[masked]"  # masked for its value
        assert sample.header("X-Install-Token") == "[masked]"  # masked for its name
        assert sample.header("X-Salla-Signature") == "[masked]"
        assert sample.header("Authorization") == "[masked]"
        assert sample.header("Content-Type") == "application/json"
        assert sample.body == read_request_file(CREATED)[0].request.body  # the body stays exact
        report = json.loads(files["reports/01-planted.json"])
        assert report["schema"] == "whdebug.report/1"
        assert report["source"] == {"capture_id": None, "file": "samples/01-planted.http"}
        assert report["event"]["value"] == "order.created"
        assert report["outcome"]["status"] == "fires"
        assert report["signature"]["received"] == "[masked]"
        assert all(a["computed"] in (None, "[masked]") for a in report["signature"]["attempts"])
        assert ["X-Install-Token", "[masked]"] in report["request"]["headers"]

    def test_summary_is_ready_for_an_email(self, tmp_path: Path) -> None:
        output = tmp_path / "support.zip"
        run("--definition", str(SALLA), str(CREATED), str(UPDATED), "-o", str(output),
            "--config", f"webhookSecret={PARTNER_SECRET}")
        summary = zip_files(output)["SUMMARY.md"].decode()
        assert summary.startswith("# Support request: MiniApp `salla` version `3.1.0`")
        assert "To: developers@karzoun.chat" in summary
        assert ("| 1 | `samples/01-salla-order-created.http` | POST `/miniapps/salla/webhooks` | "
                "`order.created` | fires | `order.created` |") in summary
        assert "- expected event name: `order.updated` (simple extraction)" in summary
        assert "for the 1 secret value it was given" in summary
        assert "Subject: MiniApp salla 3.1.0: 2 sample webhooks, outcome fires" in summary

    def test_rejected_request_still_names_its_event(self, tmp_path: Path) -> None:
        output = tmp_path / "support.zip"
        result = run("--definition", str(SALLA), str(CREATED), "-o", str(output),
                     "--config", "webhookSecret=not-the-right-secret")
        assert result.exit_code == 0
        summary = zip_files(output)["SUMMARY.md"].decode()
        assert "`order.created` | rejected |" in summary
        assert "(extracted once the signature passes)" in summary
        assert "- once verified: fires (order.created)" in summary

    def test_definition_secrets_are_blanked(self, tmp_path: Path) -> None:
        data = json.loads(SALLA.read_text())
        data["auth"]["config"].update(client_secret=CLIENT_SECRET, webhookSecret=PARTNER_SECRET)
        definition = tmp_path / "salla.json"
        definition.write_text(json.dumps(data, indent=2))
        output = tmp_path / "support.zip"
        result = run("--definition", str(definition), str(CREATED), "-o", str(output))
        assert result.exit_code == 0, result.output
        files = zip_files(output)
        redacted = json.loads(files["definition.redacted.json"])
        assert redacted["auth"]["config"] == {"client_id": "", "client_secret": "",
                                              "webhookSecret": ""}
        assert "auth.config.client_secret, auth.config.webhookSecret" in result.output
        for data_bytes in files.values():
            assert CLIENT_SECRET.encode() not in data_bytes
            assert PARTNER_SECRET.encode() not in data_bytes

    def test_capture_ids_come_from_the_store(self, tmp_path: Path) -> None:
        store_path = tmp_path / "captures.db"
        with Store.open(store_path) as store:
            capture_id = store.insert(read_request_file(UPDATED)[0])
        output = tmp_path / "support.zip"
        result = run("--definition", str(SALLA), str(capture_id), "--store", str(store_path),
                     "-o", str(output), "--config", f"webhookSecret={PARTNER_SECRET}")
        assert result.exit_code == 0, result.output
        files = zip_files(output)
        assert "samples/01-capture-1.http" in files
        assert json.loads(files["reports/01-capture-1.json"])["source"]["capture_id"] == 1

    def test_missing_capture_is_bad_input(self, tmp_path: Path) -> None:
        store_path = tmp_path / "captures.db"
        Store.open(store_path).close()
        result = run("--definition", str(SALLA), "9", "--store", str(store_path),
                     "-o", str(tmp_path / "x.zip"))
        assert result.exit_code == 2
        assert result.output.startswith("whdebug: no capture #9")


class TestRefusal:
    def test_secret_in_the_body_refuses_and_names_the_file(self, tmp_path: Path) -> None:
        output = tmp_path / "support.zip"
        result = run("--definition", str(SALLA), str(UPDATED),
                     str(planted_request(tmp_path, in_body=True)), "-o", str(output),
                     "--config", f"webhookSecret={PARTNER_SECRET}",
                     "--credential", f"installToken={PLANTED}")
        assert result.exit_code == 2
        line = result.output.strip()
        assert len(line.splitlines()) == 1
        assert line.startswith(f"whdebug: refusing to write {output}: samples/02-planted.http "
                               "(line 10) would contain the value of credential \"installToken\"")
        assert PLANTED not in result.output
        assert not output.exists()
        assert not list(tmp_path.glob(".whdebug-bundle-*"))

    def test_definition_secret_in_a_sample_body(self, tmp_path: Path) -> None:
        data = json.loads(SALLA.read_text())
        data["auth"]["config"]["client_secret"] = CLIENT_SECRET
        definition = tmp_path / "salla.json"
        definition.write_text(json.dumps(data))
        leaky = tmp_path / "leaky.http"
        leaky.write_bytes(b"POST /miniapps/salla/webhooks HTTP/1.1\r\nContent-Type: "
                          b"application/json\r\n\r\n" + json.dumps(
                              {"event": "order.created", "note": CLIENT_SECRET}).encode())
        result = run("--definition", str(definition), str(leaky), "-o", str(tmp_path / "s.zip"))
        assert result.exit_code == 2
        assert "samples/01-leaky.http" in result.output
        assert "auth.config.client_secret of the definition" in result.output


class TestHelpers:
    def test_known_secrets_are_named_never_shown(self) -> None:
        definition = load_definition(SALLA)
        named = SecretSet.build(definition, Secrets(credentials={"a": "value-1", "n": 3},
                                                    config={"webhookSecret": "value-2"})).named
        assert [s.name for s in named] == ['credential "a"', '--config "webhookSecret"']

    def test_leaks_are_found_json_escaped_and_url_encoded(self) -> None:
        secret = NamedSecret("credential \"x\"", 'p@ss/w"rd')
        files = {"a.json": b'{"v": "p@ss/w\\"rd"}', "b.http": b"GET /?t=p%40ss%2Fw%22rd",
                 "c.txt": b"nothing"}
        leaks = SecretSet([secret]).find_leaks(files)
        assert [(leak.file, leak.line) for leak in leaks] == [("a.json", 1), ("b.http", 1)]

    def test_short_secrets_are_not_scanned(self) -> None:
        assert SecretSet([NamedSecret("x", "abc")]).find_leaks({"a": b"abc"}) == []

    @pytest.mark.parametrize(("query", "expected"), [
        ("token=abc&page=2", "token=masked&page=2"),
        ("page=2", "page=2"),
        ("sig=1&x=value-1", "sig=masked&x=masked"),
    ])
    def test_query_values(self, query: str, expected: str) -> None:
        request = CapturedRequest("POST", "/hook", query=query)
        masked, _ = mask_request(request, SecretSet([NamedSecret("x", "value-1")]))
        assert masked.query == expected
