"""The TUI's pure parts: curl quoting, filters, the virtual row list, the analyzer's cache."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tui_support import FIXTURES, fixture_request, store_with

from whdebug.formats.curl import ansi_c_quote
from whdebug.model.request import CapturedRequest
from whdebug.store.store import CaptureSummary, Store
from whdebug.tui.analysis import Analyzer, RowVerdict, SharedStore
from whdebug.tui.exporting import curl_command, needs_body_file
from whdebug.tui.filters import parse_filter
from whdebug.tui.rows import CaptureRows
from whdebug.tui.widgets.capture_list import row_time
from whdebug.tui.workspace import Profile, Workspace, find_definition


class TestCurl:
    @pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
    def test_ansi_c_quoting_keeps_every_byte(self) -> None:
        data = bytes(range(1, 256)) + b"'\\\"$`!{}\r\n\t"
        script = f"printf '%s' {ansi_c_quote(data)}"
        out = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout
        assert out == data

    def test_command_drops_hop_by_hop_and_keeps_duplicates(self, tmp_path: Path) -> None:
        request = CapturedRequest(
            "POST", "/miniapps/x/webhooks", "a=1",
            headers=(("Host", "example.test"), ("Content-Length", "2"), ("X-Sig", "one"),
                     ("X-Sig", "two"), ("Connection", "close")), body=b"{}")
        command, separate = curl_command(request, "http://127.0.0.1:8787", tmp_path / "b.body")
        assert not separate and not (tmp_path / "b.body").exists()
        assert "Host:" not in command and "Content-Length" not in command
        assert "Connection" not in command
        assert command.count("X-Sig:") == 2
        assert "'http://127.0.0.1:8787/miniapps/x/webhooks?a=1'" in command
        assert "--request" not in command

    def test_large_or_nul_bodies_go_to_a_file(self, tmp_path: Path) -> None:
        assert needs_body_file(CapturedRequest("POST", "/", body=b"a\x00b"))
        assert needs_body_file(CapturedRequest("POST", "/", body=b"x" * 70_000))
        assert not needs_body_file(CapturedRequest("POST", "/", body=b"x" * 60_000))
        request = CapturedRequest("PUT", "/", body=b"a\x00b")
        body_path = tmp_path / "b.body"
        command, separate = curl_command(request, "http://h", body_path)
        assert separate and body_path.read_bytes() == b"a\x00b"
        assert f"--data-binary @{body_path}" in command and "--request PUT" in command


def summary(capture_id: int, path: str = "/miniapps/acme/webhooks") -> CaptureSummary:
    return CaptureSummary(capture_id, datetime(2025, 1, 1, tzinfo=UTC), None, "POST", path, "",
                          10, False, 200, None, None)


class TestRowTime:
    """The list's 8-cell time column: a capture of another day must not read as today's."""

    NOW = datetime(2026, 12, 4, 17, 5, 0).astimezone()

    def test_today_is_the_clock(self) -> None:
        assert row_time(self.NOW - timedelta(hours=3), self.NOW) == "14:05:00"

    def test_another_day_is_its_date(self) -> None:
        assert row_time(self.NOW - timedelta(days=1), self.NOW) == "Dec 03"
        assert row_time(self.NOW - timedelta(days=40), self.NOW) == "Oct 25"

    def test_a_year_or_more_ago_is_month_and_year(self) -> None:
        assert row_time(datetime(2025, 11, 24, 15, 59, 20, tzinfo=UTC), self.NOW) == "Nov 2025"
        assert row_time(self.NOW - timedelta(days=330), self.NOW) == "Jan 2026"

    def test_every_form_fills_the_column(self) -> None:
        for days in (0, 1, 200, 400):
            assert len(row_time(self.NOW - timedelta(days=days), self.NOW)) <= 8


class TestFilter:
    def test_terms_fields_and_negation(self) -> None:
        verdict = RowVerdict("Contact.Created", "pass", "no-trigger",
                             ("EVT_NO_TRIGGER", "EVT_NEAR_MISS"))
        row = summary(1)
        assert parse_filter("outcome:no-t code:evt_near").matches(row, verdict)
        assert parse_filter("event:contact path:/miniapps/acme").matches(row, verdict)
        assert not parse_filter("-code:EVT_").matches(row, verdict)
        assert parse_filter("contact").matches(row, verdict)
        assert not parse_filter("sig:fail").matches(row, verdict)
        assert not parse_filter("outcome:fires").matches(row, None)
        assert not parse_filter("path:/x method:post").needs_analysis
        assert parse_filter("event:x").needs_analysis
        assert not parse_filter("   ")


class TestRows:
    def test_positions_pages_arrivals_and_views(self, tmp_path: Path) -> None:
        requests = [fixture_request("github-pr-opened.http")] * 250
        path = store_with(tmp_path / "captures.db", requests)
        with Store.open(path) as store:
            rows = CaptureRows(store, page_size=100)
            rows.reload()
            assert len(rows) == 250 and rows.id_at(0) == 250 and rows.id_at(249) == 1
            assert rows.position_of(1) == 249 and rows.id_at(250) is None
            found = rows.summary_at(120)
            assert found is not None and found.id == 130
            assert len(rows.add([summary(251), summary(250)])) == 1
            assert rows.id_at(0) == 251
            rows.remove(130)
            assert rows.position_of(129) == 121 and rows.position_of(130) is None
            rows.show_only([200, 100])
            rows.extend([150, 300])
            assert [rows.id_at(p) for p in range(len(rows))] == [300, 200, 150, 100]
            rows.show_all()
            assert len(rows) == 250


class TestAnalyzer:
    def test_dedupe_history_and_generations(self, tmp_path: Path) -> None:
        first = fixture_request("github-redelivery-1.http")
        second = fixture_request("github-redelivery-2.http")
        path = store_with(tmp_path / "captures.db", [first, second])
        definition = str(FIXTURES / "definitions" / "github.json")
        workspace = Workspace(Profile(definition,
                                      {"webhookSecret": "fixture-github-webhook-secret"}))
        analyzer = Analyzer(SharedStore(Store.open(path)), workspace)
        try:
            analyzer.restart_history([1, 2])
            early = analyzer.analyse(2)  # before the history reached capture #1
            assert (early.verdict.status, early.pending) == ("fires", 1)
            assert analyzer.settle() == ([], []) and analyzer.provisional == 1
            analyzer.fill_history()
            assert analyzer.settle() == ([], [2])  # #1 had the id: analysed again
            assert analyzer.verdict(2) is None and analyzer.provisional == 0
            late = analyzer.analyse(2)
            assert (late.verdict.status, late.verdict.duplicate_of, late.pending) == (
                "duplicate", 1, 0)
            assert analyzer.analyse(1).verdict.status == "fires"
            assert analyzer.counts() == {"duplicate": 1, "fires": 1}
            workspace.bump()
            assert analyzer.verdict(2) is None and analyzer.counts() == {}
            assert analyzer.history.generation != workspace.generation  # a new one is due
            tried = analyzer.analyse(1, trial_secret="wrong")
            assert tried.trial and tried.verdict.status == "rejected"
            assert analyzer.verdict(1) is None  # a trial is never cached
        finally:
            analyzer.store.close()


def test_find_definition_needs_exactly_one(tmp_path: Path) -> None:
    assert find_definition(tmp_path) is None
    (tmp_path / "other.json").write_text('{"name": "not a miniapp"}')
    shutil.copy(FIXTURES / "definitions" / "github.json", tmp_path / "github.json")
    assert find_definition(tmp_path) == tmp_path / "github.json"
    shutil.copy(FIXTURES / "definitions" / "slack.json", tmp_path / "slack.json")
    assert find_definition(tmp_path) is None


def test_find_definition_reads_a_definition_written_as_the_docs_write_it(
        tmp_path: Path) -> None:
    # Karzoun's examples are JavaScript objects (`const slackMiniApp = {...};`, comments,
    # unquoted keys, trailing commas): saved as slack.js, the TUI started in that folder
    # found nothing to analyse with.
    (tmp_path / "helper.js").write_text("export function add(a, b) { return a + b; }\n")
    (tmp_path / "slack.js").write_text(
        "// from the docs\nconst slackMiniApp = {\n  ns: 'slack',\n  name: 'slack',\n"
        "  triggers: [],\n  webhook: { eventExtraction: { source: 'body', "
        "path: '$.event.type' }, },\n};\n")
    assert find_definition(tmp_path) == tmp_path / "slack.js"
    (tmp_path / "crm.json5").write_text("{ns: 'crm', webhook: {},}")
    assert find_definition(tmp_path) is None  # two: which one is meant is not known


def test_demo_analyses_each_capture_with_its_scenario(tmp_path: Path) -> None:
    import json
    from importlib import resources

    from whdebug.tui.demo import build_demo

    setup = build_demo(tmp_path)
    manifest = json.loads((resources.files("whdebug") / "demo" / "manifest.json").read_text())
    expected = {s["name"]: [e["status"] for e in s["expect"]] for s in manifest["scenarios"]
                if s.get("demo", True)}
    analyzer = Analyzer(SharedStore(Store.open(setup.store_path)), setup.workspace)
    try:
        analyzer.fill_history()
        found: dict[str, list[str]] = {}
        for capture_id, profile in sorted(setup.workspace.overrides.items()):
            assert profile.name is not None
            found.setdefault(profile.name, []).append(analyzer.analyse(capture_id).verdict.status)
        assert found == expected
    finally:
        analyzer.store.close()
