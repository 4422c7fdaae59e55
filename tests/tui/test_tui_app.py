"""The TUI driven through Textual's pilot over stores built from the committed fixtures."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, TabbedContent
from tui_support import (
    EXPECTED,
    all_analysed,
    list_lines,
    scenario_app,
    scenario_setup,
    screen_text,
    select,
    shown,
    wait_for,
)

from whdebug.formats.http import format_http
from whdebug.store.store import Store
from whdebug.tui.analysis import RowVerdict
from whdebug.tui.app import WhdebugApp
from whdebug.tui.demo import DemoSetup
from whdebug.tui.screens.notices import ConfirmScreen, SnippetScreen

SIZE = (100, 30)


@pytest.fixture
def setup(tmp_path: Path) -> DemoSetup:
    return scenario_setup(tmp_path)


class TestPipeline:
    async def test_each_capture_shows_its_outcome_and_findings(self, setup: DemoSetup) -> None:
        app = scenario_app(setup)
        async with app.run_test(size=SIZE) as pilot:
            assert app.rows.total == len(EXPECTED)
            for position, (status, codes) in enumerate(EXPECTED):
                await select(pilot, app, position)
                outcome = shown(app, "#pipeline-outcome")
                assert status in outcome.splitlines()[0], (position, outcome)
                findings = shown(app, "#pipeline-findings")
                for code in codes:
                    assert code in findings, (position, code, findings)

    async def test_rows_show_event_signature_and_outcome_marks(self, setup: DemoSetup) -> None:
        app = scenario_app(setup)
        async with app.run_test(size=SIZE) as pilot:
            await all_analysed(pilot, app)
            assert app.analyzer is not None
            marks = [app.analyzer.verdict(app.rows.id_at(p) or 0) for p in range(len(EXPECTED))]
            assert [m.status for m in marks if m] == [status for status, _ in EXPECTED]
            assert marks[1] is not None and marks[1].event == "push."
            assert marks[2] is not None and marks[2].signature == "fail"
            lines = "\n".join(list_lines(app))
            assert "push." in lines and "pull_request.opened" in lines
            for symbol in ("✓ fires", "✗ rejected", "↺ duplicate", "⇄ challenge", "∅ no-event",
                           "? no-trigger"):
                assert symbol in lines


class TestMouse:
    async def test_clicking_a_row_and_a_tab(self, setup: DemoSetup) -> None:
        app = scenario_app(setup)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 0)
            await pilot.click("#captures", offset=(3, 3))  # line 0 is the column header
            await wait_for(pilot, lambda: app.current is not None
                           and app.current.capture_id == app.rows.id_at(2))
            assert shown(app, "#pipeline-outcome").startswith("✗ rejected")
            await pilot.click("#tabs Tab#--content-tab-signature")
            assert app.query_one(TabbedContent).active == "signature"
            assert shown(app, "#signature-verdict").startswith("✗ fail")


class TestTabs:
    async def test_tabs_show_signature_event_request_and_definition(self, setup: DemoSetup) -> None:
        app = scenario_app(setup)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 2)
            await pilot.press("2")
            assert app.query_one(TabbedContent).active == "signature"
            assert shown(app, "#signature-verdict").startswith("✗ fail")
            assert "credentials[webhookSecret]" in shown(app, "#signature-sources")

            await select(pilot, app, 1)
            await pilot.press("3")
            event = shown(app, "#event-body")
            assert "'push.'" in event and "'push'" in event and "ambiguous" in event

            await pilot.press("4")
            assert shown(app, "#request-summary").startswith("POST /miniapps/github/webhooks")
            assert shown(app, "#request-body").lstrip().startswith("{")
            await pilot.press("b")
            assert app.query_one("#request-view").body_mode == "raw"  # type: ignore[attr-defined]
            await pilot.press("b")
            assert shown(app, "#request-body").startswith("00000000  7b")

            await pilot.press("5")
            assert "github@" in shown(app, "#definition-title")
            assert '"eventExtraction"' in shown(app, "#definition-body")

    async def test_the_definition_tab_says_what_check_says(self, tmp_path: Path) -> None:
        # The TUI showed the definition's blocks, never its findings: a Slack definition whose
        # verification no real delivery passes looked as good as any other.
        from tui_support import FIXTURES, fixture_request, store_with

        from whdebug.tui.options import TuiOptions

        store = store_with(tmp_path / "c.db", [fixture_request("github-pr-opened.http")])
        slack = FIXTURES.parent / "tests" / "docs_corpus" / "slack.js"
        app = WhdebugApp(TuiOptions(store_path=store, definition_path=slack, listen=False),
                         watch=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await select(pilot, app, 0)
            await pilot.press("5")
            await wait_for(pilot, lambda: "check:" in shown(app, "#definition-title"))
            title = shown(app, "#definition-title")
            assert "check: 3 errors · 3 warnings" in title
            assert "DEF_SCHEME_UNVERIFIABLE" in title and "DEF_TRIGGER_UNREACHABLE" in title
            assert "whdebug check" in title

    async def test_enter_on_a_path_suggestion_shows_the_snippet(self, setup: DemoSetup) -> None:
        app = scenario_app(setup)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 6)
            await pilot.press("3")
            options = app.query_one("#event-suggestions", OptionList)
            await wait_for(pilot, lambda: options.option_count > 0)
            options.focus()
            options.highlighted = 0
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, SnippetScreen))
            assert isinstance(app.screen, SnippetScreen)
            assert "$.type" in app.screen.suggestion.snippet


class TestFilter:
    async def apply(self, pilot: Pilot[Any], app: WhdebugApp, text: str) -> list[int]:
        await pilot.press("slash")
        app.screen.query_one(Input).value = text
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.main.filter_scanned[1])
        await pilot.pause()
        return app.rows.ids_between(0, len(app.rows))

    async def test_filters_by_outcome_code_and_path_then_clears(self, setup: DemoSetup) -> None:
        app = scenario_app(setup)
        async with app.run_test(size=SIZE) as pilot:
            await all_analysed(pilot, app)
            analyzer = app.analyzer
            assert analyzer is not None

            def verdict(capture_id: int) -> RowVerdict:
                found = analyzer.verdict(capture_id)
                assert found is not None
                return found

            rejected = await self.apply(pilot, app, "outcome:rejected")
            assert [verdict(i).status for i in rejected] == ["rejected"]

            events = await self.apply(pilot, app, "code:EVT_")
            assert len(events) == 3
            assert all(any(c.startswith("EVT_") for c in verdict(i).codes) for i in events)

            acme = await self.apply(pilot, app, "path:/miniapps/acme")
            paths = [summary.path for summary in map(app.rows.summary, acme) if summary]
            assert paths == ["/miniapps/acme-crm/webhooks"] * 2
            assert "filter: path:/miniapps/acme" in shown(app, "#header")

            await pilot.press("slash", "ctrl+u", "enter")
            await pilot.pause()
            assert len(app.rows) == len(EXPECTED) and not app.rows.filtered


class TestTrySecret:
    async def test_typed_secret_flips_the_verdict_and_is_never_shown(
            self, setup: DemoSetup) -> None:
        app = scenario_app(setup)
        secret = "an-old-rotated-secret"
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 2)
            await pilot.press("2")
            assert shown(app, "#signature-verdict").startswith("✗ fail")
            await pilot.press("s")
            await pilot.press(*secret)
            assert secret not in screen_text(app)
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.current is not None and app.current.trial)
            assert shown(app, "#signature-verdict").startswith("✓ pass")
            await pilot.press("1")
            assert shown(app, "#pipeline-outcome").startswith("✓ fires")
            assert secret not in screen_text(app)
            credentials = [p.credentials for p in app.workspace.overrides.values()]
            assert all(secret not in c.values() for c in credentials)
            # Moving away and back analyses with the stored secrets again.
            await select(pilot, app, 1)
            await select(pilot, app, 2)
            assert shown(app, "#pipeline-outcome").startswith("✗ rejected")


class TestActions:
    async def test_export_writes_the_exact_request(self, setup: DemoSetup, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(tmp_path)
        app = scenario_app(setup)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 1)
            await pilot.press("e")
            await pilot.press("enter")
            target = tmp_path / f"capture-{app.selected_id}.http"
            await wait_for(pilot, target.exists)
            assert app.current is not None and app.current.capture is not None
            assert target.read_bytes() == format_http(app.current.capture.request)

    async def test_copy_as_curl(self, setup: DemoSetup, monkeypatch: pytest.MonkeyPatch) -> None:
        app = scenario_app(setup)
        copied: list[str] = []
        monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 0)
            await pilot.press("c")
            assert copied and copied[0].startswith("curl ")
            assert "--data-binary $'{" in copied[0]
            assert "Host:" not in copied[0]

    async def test_delete_asks_then_removes(self, setup: DemoSetup) -> None:
        app = scenario_app(setup)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 0)
            doomed = app.selected_id
            await pilot.press("x")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await wait_for(pilot, lambda: app.rows.total == len(EXPECTED) - 1)
            with Store.open(setup.store_path) as store:
                assert doomed not in store.ids()

    async def test_new_captures_from_another_process_appear_and_are_followed(
            self, setup: DemoSetup) -> None:
        app = scenario_app(setup)
        app.poll_interval = 0.1
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 0)
            with Store.open(setup.store_path) as other:
                newest = other.insert(other.get(app.rows.id_at(1) or 0))
            await wait_for(pilot, lambda: app.current is not None
                           and app.current.capture_id == newest)
            assert app.captures.cursor == 0
            assert app.rows.total == len(EXPECTED) + 1


async def test_command_palette_lists_every_action(setup: DemoSetup) -> None:
    from whdebug.tui.commands import ACTIONS

    app = scenario_app(setup)
    async with app.run_test(size=SIZE):
        for _, _, action in ACTIONS:
            name = action.split("(")[0]
            target = app if name.startswith("app.") else app.screen
            assert hasattr(target, f"action_{name.removeprefix('app.')}"), name


async def test_quitting_before_the_first_frame_leaves_no_worker_waiting(
        setup: DemoSetup) -> None:
    """An app that quits at once must not leave its background workers waiting for a first
    frame that will never come (they waited FIRST_FRAME_WAIT once per capture: 24 s here)."""
    import sys
    import threading
    import time

    app = scenario_app(setup)
    async with app.run_test(size=SIZE):
        pass

    def waiting() -> list[int]:
        frames = sys._current_frames()
        return [thread.ident for thread in threading.enumerate()
                if thread.ident in frames and _in_wait(frames[thread.ident])]

    deadline = time.monotonic() + 1.5
    while waiting() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert waiting() == []


def _in_wait(frame: object) -> bool:
    while frame is not None:
        if frame.f_code.co_name in ("wait_for_first_frame", "wait_for_selection"):  # type: ignore[attr-defined]
            return True
        frame = frame.f_back  # type: ignore[attr-defined]
    return False
