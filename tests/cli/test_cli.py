"""The `whdebug` command line: exit codes, one-line errors, JSON lines, secrets never shown."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_support import error_line, json_lines, run

import whdebug
from whdebug.cli import COMMANDS, ExitStatus

SECRET = "s3cr3t-Value-never-shown-7f9a"
NOW = "2025-11-24T16:00:05Z"

TRIGGER_FIELDS = {"img": "https://example.com/x.png", "icon": "bolt", "isCustom": False}


def make_definition(**webhook_overrides: Any) -> dict[str, Any]:
    """A GitHub-like definition: composite event header + $.action, hmac-sha256 in hex."""
    webhook: dict[str, Any] = {
        "eventExtraction": {
            "source": "header",
            "path": "X-GitHub-Event",
            "compositeStrategy": {
                "separator": ".",
                "parts": [
                    {"source": "header", "path": "X-GitHub-Event"},
                    {"source": "body", "path": "$.action"},
                ],
            },
        },
        "transactionId": {"paths": ["$.delivery"], "fallback": "generate"},
        "verification": {
            "type": "hmac-sha256",
            "headerName": "X-Hub-Signature-256",
            "secretKey": "webhookSecret",
            "encoding": "hex",
        },
    }
    webhook.update(webhook_overrides)
    return {
        "ns": "github",
        "version": "1.0.0",
        "status": "private",
        "auth": {
            "type": "apikey",
            "config": {"webhookSecret": ""},
            "sensitiveKeys": ["webhookSecret"],
        },
        "triggers": [
            {"type": "miniapps:github", "event": "pull_request.opened", "label": "PR opened",
             "description": "A pull request was opened", **TRIGGER_FIELDS},
            {"type": "miniapps:github", "event": "issues.opened", "label": "Issue opened",
             "description": "An issue was opened", **TRIGGER_FIELDS},
        ],
        "webhook": webhook,
    }


def write_definition(tmp_path: Path, document: dict[str, Any] | None = None,
                     name: str = "app.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document or make_definition(), indent=2), encoding="utf-8")
    return str(path)


def write_request(tmp_path: Path, name: str, body: bytes, *, secret: str = SECRET,
                  event: str = "pull_request",
                  extra_headers: tuple[tuple[str, str], ...] = ()) -> str:
    """A .http file signed the way GitHub signs: sha256=<hex HMAC of the raw body>."""
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = [
        ("Host", "example.com"),
        ("Content-Type", "application/json"),
        ("X-GitHub-Event", event),
        ("X-Hub-Signature-256", f"sha256={signature}"),
        *extra_headers,
        ("Content-Length", str(len(body))),
    ]
    head = "POST /miniapps/github/webhooks HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    path = tmp_path / name
    path.write_bytes(head.encode("latin-1") + body)
    return str(path)


def opened_body(delivery: str = "d-1") -> bytes:
    return json.dumps({"delivery": delivery, "action": "opened", "number": 7}).encode()


@pytest.fixture
def definition(tmp_path: Path) -> str:
    return write_definition(tmp_path)


@pytest.fixture
def opened(tmp_path: Path) -> str:
    return write_request(tmp_path, "opened.http", opened_body())


@pytest.fixture
def wrong_secret(tmp_path: Path) -> str:
    return write_request(tmp_path, "wrong.http", opened_body("d-2"), secret="not-the-secret")


class TestReplayOutcome:
    def test_signed_request_fires_and_exits_0(self, definition: str, opened: str) -> None:
        result = run("replay", "--definition", definition, "--file", opened,
                     "--credential", f"webhookSecret={SECRET}", "--now", NOW)
        assert result.exit_code == 0, result.output
        assert "fires" in result.stdout
        assert "pull_request.opened" in result.stdout
        assert result.stderr == ""

    def test_wrong_secret_exits_1_with_the_finding_and_its_fix(
            self, definition: str, wrong_secret: str) -> None:
        result = run("replay", "--definition", definition, "--file", wrong_secret,
                     "--credential", f"webhookSecret={SECRET}")
        assert result.exit_code == 1
        assert "SIG_MISMATCH" in result.stdout
        assert "fix:" in result.stdout
        assert "rejected" in result.stdout

    def test_one_failure_among_passes_exits_1(self, definition: str, opened: str,
                                              wrong_secret: str) -> None:
        result = run("replay", "--definition", definition, "--file", opened, "--file",
                     wrong_secret, "--credential", f"webhookSecret={SECRET}")
        assert result.exit_code == 1

    def test_pipeline_steps_are_readable_without_colour(self, definition: str,
                                                        opened: str) -> None:
        result = run("replay", "--definition", definition, "--file", opened,
                     "--credential", f"webhookSecret={SECRET}")
        for step in ("challenge", "verify", "extract", "dedupe", "match"):
            assert re.search(rf"(pass|skip|warn|fail)\s+{step}\b", result.stdout), step
        assert "\x1b" not in result.stdout

    def test_human_output_ends_with_coverage(self, definition: str, opened: str) -> None:
        result = run("replay", "--definition", definition, "--file", opened,
                     "--credential", f"webhookSecret={SECRET}")
        tail = result.stdout[result.stdout.index("summary:"):]
        assert "1 request" in tail
        assert "issues.opened" in tail
        assert "pull_request.opened" not in tail

    def test_same_signed_file_twice_is_a_duplicate(self, definition: str, opened: str) -> None:
        result = run("replay", "--definition", definition, "--file", opened, "--file", opened,
                     "--credential", f"webhookSecret={SECRET}", "--json")
        assert result.exit_code == 1
        first, second, summary = json_lines(result)
        assert first["outcome"]["status"] == "fires"
        assert second["outcome"]["status"] == "duplicate"
        assert "TX_DUPLICATE" in [f["code"] for f in second["findings"]]
        assert summary["outcomes"] == {"fires": 1, "duplicate": 1}

    def test_dedupe_window_zero_forgets_every_id(self, definition: str, opened: str) -> None:
        result = run("replay", "--definition", definition, "--file", opened, "--file", opened,
                     "--credential", f"webhookSecret={SECRET}", "--json",
                     "--dedupe-window", "0")
        assert result.exit_code == 0
        assert [line.get("outcome", {}).get("status") for line in json_lines(result)[:2]] == [
            "fires", "fires"]

    def test_missing_part_flag_changes_the_event(self, tmp_path: Path, definition: str) -> None:
        body = json.dumps({"delivery": "d-9"}).encode()
        path = write_request(tmp_path, "push.http", body, event="issues")
        results = {rule: json_lines(run("replay", "--definition", definition, "--file", path,
                                        "--credential", f"webhookSecret={SECRET}", "--json",
                                        "--missing-part", rule))[0]["event"]["value"]
                   for rule in ("empty", "skip", "undefined")}
        assert results == {"empty": "issues.", "skip": "issues", "undefined": "issues.undefined"}


class TestReplayJson:
    def test_one_report_per_line_then_the_summary(self, definition: str, opened: str,
                                                  wrong_secret: str, tmp_path: Path) -> None:
        other = write_request(tmp_path, "other.http", opened_body("d-3"))
        result = run("replay", "--definition", definition, "--file", opened, "--file",
                     wrong_secret, "--file", other, "--credential",
                     f"webhookSecret={SECRET}", "--json", "--now", NOW)
        assert result.exit_code == 1
        lines = json_lines(result)
        assert len(lines) == 4
        assert [line["schema"] for line in lines] == ["whdebug.report/1"] * 3 + [
            "whdebug.summary/1"]
        assert [line["source"]["file"] for line in lines[:3]] == [opened, wrong_secret, other]
        summary = lines[-1]
        assert summary["requests"] == 3
        assert summary["outcomes"] == {"fires": 2, "rejected": 1}
        assert summary["triggers_never_fired"] == ["issues.opened"]
        assert lines[0]["signature"]["verdict"] == "pass"
        assert lines[1]["signature"]["verdict"] == "fail"

    def test_credentials_file_and_config(self, tmp_path: Path, definition: str,
                                         opened: str) -> None:
        creds = tmp_path / "creds.json"
        creds.write_text(json.dumps({"webhookSecret": SECRET}))
        result = run("replay", "--definition", definition, "--file", opened,
                     "--credentials", str(creds), "--json")
        assert result.exit_code == 0
        assert json_lines(result)[0]["signature"]["secret"]["resolved_from"] == "credentials"
        result = run("replay", "--definition", definition, "--file", opened,
                     "--config", f"webhookSecret={SECRET}", "--json")
        assert result.exit_code == 0
        assert json_lines(result)[0]["signature"]["secret"]["resolved_from"] == "auth.config"

    def test_credential_flag_wins_over_the_file(self, tmp_path: Path, definition: str,
                                                opened: str) -> None:
        creds = tmp_path / "creds.json"
        creds.write_text(json.dumps({"webhookSecret": "old-secret"}))
        result = run("replay", "--definition", definition, "--file", opened, "--credentials",
                     str(creds), "--credential", f"webhookSecret={SECRET}", "--json")
        assert result.exit_code == 0


class TestSecretsNeverShown:
    @pytest.mark.parametrize("mode", [[], ["-v"], ["--json"]])
    def test_hmac_secret_absent_for_pass_and_fail(self, mode: list[str], definition: str,
                                                  opened: str, wrong_secret: str) -> None:
        for file, code, verdict in ((opened, 0, "pass"), (wrong_secret, 1, "fail")):
            result = run("replay", "--definition", definition, "--file", file,
                         "--credential", f"webhookSecret={SECRET}", *mode)
            assert result.exit_code == code, result.output
            if mode == ["--json"]:
                assert json.loads(result.stdout.splitlines()[0])["signature"]["verdict"] == verdict
            assert SECRET not in result.output
            assert SECRET not in result.stderr

    @pytest.mark.parametrize("mode", [[], ["-v"], ["--json"]])
    def test_header_token_equal_to_the_secret_is_masked(self, mode: list[str],
                                                        tmp_path: Path) -> None:
        definition = write_definition(tmp_path, make_definition(verification={
            "type": "header-token", "headerName": "X-Token", "secretKey": "webhookSecret"}))
        good = write_request(tmp_path, "good.http", opened_body(),
                             extra_headers=(("X-Token", SECRET),))
        bad = write_request(tmp_path, "bad.http", opened_body("d-2"),
                            extra_headers=(("X-Token", SECRET + "x"),))
        for file, code in ((good, 0), (bad, 1)):
            result = run("replay", "--definition", definition, "--file", file,
                         "--credential", f"webhookSecret={SECRET}", *mode)
            assert result.exit_code == code, result.output
            assert SECRET not in result.output

    def test_malformed_credential_does_not_echo_the_value(self, definition: str,
                                                          opened: str) -> None:
        result = run("replay", "--definition", definition, "--file", opened,
                     "--credential", SECRET)
        assert result.exit_code == 2
        assert SECRET not in result.output


class TestReplayErrors:
    def test_missing_definition_file(self, tmp_path: Path, opened: str) -> None:
        missing = str(tmp_path / "nope.json")
        result = run("replay", "--definition", missing, "--file", opened)
        assert result.exit_code == 2
        assert error_line(result) == f"whdebug: definition file not found ({missing})"
        assert result.stdout == ""

    def test_malformed_definition_names_file_line_and_column(self, tmp_path: Path,
                                                             opened: str) -> None:
        path = tmp_path / "app.json"
        path.write_text('{\n  "ns": "github"\n  "version": "1.0.0"\n}\n')
        result = run("replay", "--definition", str(path), "--file", opened)
        assert result.exit_code == 2
        assert error_line(result).startswith(f"whdebug: {path}:3:3: ")

    def test_missing_request_file(self, tmp_path: Path, definition: str) -> None:
        missing = str(tmp_path / "gone.http")
        result = run("replay", "--definition", definition, "--file", missing)
        assert result.exit_code == 2
        assert error_line(result) == f"whdebug: request file not found ({missing})"

    def test_definition_error_comes_before_the_request_file_error(self,
                                                                  tmp_path: Path) -> None:
        """The files are read in a thread beside the definition's loading: a bad file still
        reports after a bad definition, as one line."""
        missing, gone = str(tmp_path / "nope.json"), str(tmp_path / "gone.http")
        result = run("replay", "--definition", missing, "--file", gone)
        assert result.exit_code == 2
        assert error_line(result) == f"whdebug: definition file not found ({missing})"

    def test_request_file_error_after_other_files_read(self, tmp_path: Path, definition: str,
                                                       opened: str) -> None:
        broken = tmp_path / "broken.http"
        broken.write_bytes(b"not a request line\r\n\r\n")
        result = run("replay", "--definition", definition, "--file", opened, "--file",
                     str(broken), "--json")
        assert result.exit_code == 2
        assert error_line(result).startswith(f"whdebug: {broken}:1: expected ")
        assert result.stdout == ""

    @pytest.mark.parametrize("flag", ["--credential", "--config"])
    @pytest.mark.parametrize("value", ["no-equals-sign", "=value-without-key"])
    def test_malformed_key_value(self, flag: str, value: str, definition: str,
                                 opened: str) -> None:
        result = run("replay", "--definition", definition, "--file", opened, flag, value)
        assert result.exit_code == 2
        assert error_line(result).startswith(f"whdebug: {flag}: expected KEY=VALUE")

    @pytest.mark.parametrize("value", ["yesterday", "2025-13-01T00:00:00Z", ""])
    def test_bad_now(self, value: str, definition: str, opened: str) -> None:
        result = run("replay", "--definition", definition, "--file", opened, "--now", value)
        assert result.exit_code == 2
        assert error_line(result) == f"whdebug: --now: not an ISO 8601 time ({value})"

    @pytest.mark.parametrize("value", ["2025-11-24T16:00:05Z", "2025-11-24T16:00:05+02:00",
                                       "2025-11-24T16:00:05", "2025-11-24"])
    def test_good_now(self, value: str, definition: str, opened: str) -> None:
        result = run("replay", "--definition", definition, "--file", opened, "--now", value,
                     "--credential", f"webhookSecret={SECRET}")
        assert result.exit_code == 0, result.output

    @pytest.mark.parametrize(("content", "expected"), [
        ("[1, 2]", "credentials file must hold a JSON object"),
        ("{\n  'a': 1}", ":2:3: credentials file is not valid JSON"),
    ])
    def test_bad_credentials_file(self, tmp_path: Path, content: str, expected: str,
                                  definition: str, opened: str) -> None:
        creds = tmp_path / "creds.json"
        creds.write_text(content)
        result = run("replay", "--definition", definition, "--file", opened,
                     "--credentials", str(creds))
        assert result.exit_code == 2
        line = error_line(result)
        assert line.startswith("whdebug: ")
        assert expected in line
        assert str(creds) in line

    def test_missing_credentials_file(self, tmp_path: Path, definition: str,
                                      opened: str) -> None:
        missing = str(tmp_path / "creds.json")
        result = run("replay", "--definition", definition, "--file", opened,
                     "--credentials", missing)
        assert result.exit_code == 2
        assert error_line(result) == f"whdebug: credentials file not found ({missing})"

    def test_nothing_to_replay_is_a_usage_error(self, definition: str) -> None:
        result = run("replay", "--definition", definition)
        assert result.exit_code == 2
        assert error_line(result).startswith("whdebug: nothing to replay")

    @pytest.mark.parametrize("args", [["replay", "--bogus"], ["nosuch"],
                                      ["replay", "--file", "x.http"],
                                      ["replay", "--missing-part", "maybe"]])
    def test_usage_errors_are_one_line(self, args: list[str]) -> None:
        result = run(*args)
        assert result.exit_code == 2
        assert error_line(result).startswith("whdebug: ")

    def test_unexpected_exception_is_one_line(self, monkeypatch: pytest.MonkeyPatch,
                                              definition: str, opened: str) -> None:
        import whdebug.engine.session

        def explode(*args: object, **kwargs: object) -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr(whdebug.engine.session, "analyze", explode)
        result = run("replay", "--definition", definition, "--file", opened)
        assert result.exit_code == 2
        assert error_line(result) == "whdebug: internal error: RuntimeError: boom"
        result = run("replay", "--definition", definition, "--file", opened,
                     env={"WHDEBUG_DEBUG": "1"})
        assert isinstance(result.exception, RuntimeError)

    def test_ctrl_c_is_one_line_and_exit_130(self, monkeypatch: pytest.MonkeyPatch,
                                             definition: str, opened: str) -> None:
        import whdebug.engine.session

        def interrupt(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(whdebug.engine.session, "analyze", interrupt)
        result = run("replay", "--definition", definition, "--file", opened)
        assert result.exit_code == ExitStatus.INTERRUPTED == 130
        assert result.stderr.splitlines()[-1] == "whdebug: interrupted"


class TestReplayStore:
    @pytest.fixture
    def store_path(self, tmp_path: Path, opened: str, wrong_secret: str) -> str:
        from whdebug.formats.read import read_request_file
        from whdebug.store.store import Store

        path = tmp_path / "captures.db"
        with Store.open(path) as store:
            for file in (opened, wrong_secret, opened):
                store.insert(read_request_file(file)[0])
        return str(path)

    def test_all_captures_oldest_first_share_one_dedupe_index(self, definition: str,
                                                              store_path: str) -> None:
        result = run("replay", "--definition", definition, "--store", store_path, "--all",
                     "--credential", f"webhookSecret={SECRET}", "--json")
        assert result.exit_code == 1
        *reports, summary = json_lines(result)
        assert [r["source"]["capture_id"] for r in reports] == [1, 2, 3]
        assert [r["outcome"]["status"] for r in reports] == ["fires", "rejected", "duplicate"]
        assert summary["requests"] == 3

    def test_ids_and_last(self, definition: str, store_path: str) -> None:
        result = run("replay", "--definition", definition, "--store", store_path, "3", "1",
                     "--credential", f"webhookSecret={SECRET}", "--json")
        assert [r["source"].get("capture_id") for r in json_lines(result)[:-1]] == [1, 3]
        result = run("replay", "--definition", definition, "--store", store_path, "--last",
                     "1", "--credential", f"webhookSecret={SECRET}")
        assert result.exit_code == 1  # #3 redelivers #1, which the store still remembers
        assert "capture #3" in result.stdout
        assert "duplicate of capture #1" in result.stdout

    def test_unknown_capture_id(self, definition: str, store_path: str) -> None:
        result = run("replay", "--definition", definition, "--store", store_path, "99")
        assert result.exit_code == 2
        assert error_line(result) == f"whdebug: no capture #99 ({store_path})"

    def test_missing_store_is_not_created(self, tmp_path: Path, definition: str) -> None:
        path = tmp_path / "none.db"
        result = run("replay", "--definition", definition, "--store", str(path), "--all")
        assert result.exit_code == 2
        assert error_line(result).startswith("whdebug: ")
        assert not path.exists()


class TestVerbose:
    def test_attempts_signed_content_and_event_parts(self, definition: str,
                                                     wrong_secret: str, opened: str) -> None:
        result = run("replay", "--definition", definition, "--file", wrong_secret,
                     "--file", opened, "--credential", f"webhookSecret={SECRET}", "-v")
        out = result.stdout
        assert "runtime attempt #1 does not match" in out
        assert "runtime attempt #1 matches" in out
        assert "7b 22" in out  # the first body bytes, in hex
        assert "X-GitHub-Event" in out
        assert "'pull_request'" in out  # the header part's value

    def test_control_characters_from_a_request_are_escaped(self, tmp_path: Path,
                                                           definition: str) -> None:
        path = write_request(tmp_path, "evil.http", opened_body(),
                             extra_headers=(("X-Evil", "\x1b[2J\x1b]0;pwned\x07"),))
        result = run("replay", "--definition", definition, "--file", path, "-v",
                     "--credential", f"webhookSecret={SECRET}")
        assert "\x1b" not in result.stdout
        assert "\\x1b[2J" in result.stdout

    def test_path_suggestion_snippet_is_printed_whole(self, tmp_path: Path) -> None:
        document = make_definition(eventExtraction={"source": "body", "path": "$.event"})
        definition = write_definition(tmp_path, document)
        body = json.dumps({"delivery": "d-7", "kind": "issues.opened"}).encode()
        path = write_request(tmp_path, "elsewhere.http", body)
        result = run("replay", "--definition", definition, "--file", path, "-v",
                     "--credential", f"webhookSecret={SECRET}")
        assert result.exit_code == 1
        assert ('{"eventExtraction": {"source": "body", "path": "$.event", "fallback": '
                '{"source": "body", "path": "$.kind"}}}') in result.stdout


class TestCheck:
    def test_clean_definition_exits_0(self, definition: str) -> None:
        result = run("check", definition)
        assert result.exit_code == 0, result.output
        assert "github@1.0.0" in result.stdout

    def test_error_finding_exits_1(self, tmp_path: Path) -> None:
        document = make_definition()
        document["ns"] = "Git_Hub"
        path = write_definition(tmp_path, document)
        result = run("check", path)
        assert result.exit_code == 1
        assert "DEF_NS_FORMAT" in result.stdout
        assert "fix:" in result.stdout

    def test_json(self, tmp_path: Path) -> None:
        document = make_definition()
        document["ns"] = "Git_Hub"
        path = write_definition(tmp_path, document)
        result = run("check", path, "--json")
        assert result.exit_code == 1
        (report,) = json_lines(result)
        assert report["schema"] == "whdebug.check/1"
        assert report["definition"] == {"ns": "Git_Hub", "version": "1.0.0", "path": path}
        assert report["ok"] is False
        assert "DEF_NS_FORMAT" in [f["code"] for f in report["findings"]]

    @pytest.mark.parametrize("as_json", [False, True])
    def test_parse_error_prints_def_parse_and_exits_2(self, tmp_path: Path,
                                                      as_json: bool) -> None:
        path = tmp_path / "app.json"
        path.write_text('{\n  "ns": "github"\n  "version": "1.0.0"\n}\n')
        result = run("check", str(path), *(["--json"] if as_json else []))
        assert result.exit_code == 2
        assert error_line(result).startswith(f"whdebug: {path}:3:3: ")
        assert "DEF_PARSE" in result.stdout
        if as_json:
            (report,) = json_lines(result)
            assert report["ok"] is False
            assert report["findings"][0]["code"] == "DEF_PARSE"

    def test_missing_definition(self, tmp_path: Path) -> None:
        missing = str(tmp_path / "nope.json")
        result = run("check", missing)
        assert result.exit_code == 2
        assert error_line(result) == f"whdebug: definition file not found ({missing})"


class TestDemo:
    def test_bundled_demo_replays_as_text_and_exits_0(self) -> None:
        result = run("demo")
        assert result.exit_code == 0, result.output
        last = result.stdout.strip().splitlines()[-1]
        assert re.match(r"demo: \d+ requests in \d+ scenarios", last)

    def test_manifest_format(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        root = tmp_path / "demo"
        (root / "definitions").mkdir(parents=True)
        (root / "requests").mkdir()
        write_definition(root / "definitions", name="github.json")
        write_request(root / "requests", "a.http", opened_body())
        write_request(root / "requests", "b.http", opened_body("d-2"), secret="wrong")
        scenario = {"name": "two", "description": "one passes, one fails",
                    "definition": "definitions/github.json",
                    "files": ["requests/a.http", "requests/b.http"],
                    "credentials": {"webhookSecret": SECRET}, "config": {}, "now": NOW}
        hidden = {**scenario, "name": "hidden", "demo": False}
        (root / "manifest.json").write_text(json.dumps({"scenarios": [scenario, hidden]}))
        monkeypatch.setattr("whdebug.cli.commands.demo._demo_root", lambda: root)
        result = run("demo")
        assert result.exit_code == 0, result.output
        assert "demo 1/1: two — one passes, one fails" in result.stdout
        assert "requests/a.http" in result.stdout
        assert "hidden" not in result.stdout
        assert SECRET not in result.stdout
        assert result.stdout.strip().splitlines()[-1] == (
            "demo: 2 requests in 1 scenarios — 1 fires · 1 rejected")

    def test_missing_manifest(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("whdebug.cli.commands.demo._demo_root", lambda: tmp_path)
        result = run("demo")
        assert result.exit_code == 2
        assert error_line(result).startswith("whdebug: the bundled demo data is missing")


class TestEntryPoints:
    @pytest.mark.parametrize("args", [[], ["tui"], ["tui", "--no-listen"]])
    def test_tui_without_a_terminal(self, args: list[str]) -> None:
        result = run(*args)
        assert result.exit_code == 2
        assert error_line(result) == (
            "whdebug: the TUI needs a terminal; use whdebug replay/serve/list")

    def test_version(self) -> None:
        result = run("--version")
        assert result.exit_code == 0
        assert result.stdout.strip() == f"whdebug {whdebug.__version__}"

    def test_help_lists_commands(self) -> None:
        result = run("--help")
        assert result.exit_code == 0
        listed = [line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines()
                  if line.strip()]
        assert listed == sorted(COMMANDS)
        for name in COMMANDS:
            assert run(name, "--help").exit_code == 0, name

    def test_exit_statuses(self) -> None:
        assert [int(status) for status in ExitStatus] == [0, 1, 2, 130, 141]

    def test_python_dash_m(self) -> None:
        completed = subprocess.run([sys.executable, "-m", "whdebug", "--version"],
                                   capture_output=True, text=True, timeout=60, check=False)
        assert completed.returncode == 0
        assert completed.stdout.strip() == f"whdebug {whdebug.__version__}"
        nothing = subprocess.run([sys.executable, "-m", "whdebug", "replay"],
                                 capture_output=True, text=True, timeout=60, check=False)
        assert nothing.returncode == 2
        assert nothing.stderr.count("\n") == 1
        assert nothing.stderr.startswith("whdebug: ")
        assert "Traceback" not in nothing.stderr


class TestRender:
    """output/report.py directly, on a captured Console."""

    @pytest.mark.parametrize("width", [80, 100, 120])
    def test_lines_fit_the_width(self, width: int, definition: str, opened: str,
                                 wrong_secret: str) -> None:
        from datetime import UTC, datetime
        from io import StringIO

        from rich.console import Console

        from whdebug.cli.output.report import render_report, render_summary
        from whdebug.engine import DedupeIndex, analyze
        from whdebug.engine.plan import compile_definition
        from whdebug.engine.report import summarize
        from whdebug.formats.read import read_request_file
        from whdebug.model.definition import load_definition
        from whdebug.model.request import Secrets

        loaded = load_definition(definition)
        secrets = Secrets(credentials={"webhookSecret": SECRET})
        dedupe = DedupeIndex()
        reports = [analyze(read_request_file(path)[0], loaded, secrets,
                           now=datetime(2025, 11, 24, tzinfo=UTC), dedupe=dedupe)
                   for path in (opened, wrong_secret, opened)]
        out = StringIO()
        console = Console(file=out, width=width, color_system=None)
        for report in reports:
            render_report(console, report, verbose=True)
        render_summary(console, summarize(reports, loaded.trigger_events),
                       compile_definition(loaded))
        text = out.getvalue()
        assert max(len(line) for line in text.splitlines()) <= width
        assert SECRET not in text
        for mark in ("✓ pass", "✗ fail", "– skip"):
            assert mark in text
        assert "TX_DUPLICATE" in text
        assert "summary: 3 requests — 1 fires · 1 rejected · 1 duplicate" in text

    def test_check_verdict_line(self, tmp_path: Path) -> None:
        from io import StringIO

        from rich.console import Console

        from whdebug.cli.output.report import render_check
        from whdebug.engine.report import finding

        out = StringIO()
        console = Console(file=out, width=100, color_system=None)
        render_check(console, [finding("DEF_VERSION", "version 1 is not semver", "set 1.0.0",
                                       pointer="/version")], None, path="app.json")
        text = out.getvalue()
        assert "DEF_VERSION" in text
        assert "fix: set 1.0.0" in text
        assert text.splitlines()[-1] == "✗ fails: 1 error · 0 warnings · 0 notes"
