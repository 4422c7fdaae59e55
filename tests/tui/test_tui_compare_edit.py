"""The TUI's diff (m, then v), edit-re-sign-send (o, ctrl+s, ctrl+r) and Response tab, with a
real app on a loopback port."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from app_support import recording_app
from textual.widgets import Input, TextArea
from tui_support import scenario_app, scenario_setup, screen_text, select, wait_for

from whdebug.engine.analyze import analyze
from whdebug.model.definition import load_definition
from whdebug.model.request import Capture, CapturedRequest, ForwardResult, Secrets, Source
from whdebug.store.store import Store
from whdebug.tui.screens.compare import DiffScreen
from whdebug.tui.screens.edit import EditScreen

SIZE = (140, 45)
GITHUB_SECRET = "fixture-github-webhook-secret"


async def test_mark_select_and_compare_shows_the_diff_screen(tmp_path: Path) -> None:
    setup = scenario_setup(tmp_path, ("github-reserialized", "github-pr-opened"))
    app = scenario_app(setup)
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, app, 1)  # github-pr-opened (older, below)
        await pilot.press("equals_sign")
        await pilot.pause()
        assert not isinstance(app.screen, DiffScreen)  # nothing marked yet
        await pilot.press("m")
        await select(pilot, app, 0)  # github-reserialized
        await pilot.press("equals_sign")
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen), timeout=10)
        await pilot.pause()
        text = screen_text(app)
        screen = app.screen
        assert isinstance(screen, DiffScreen) and not screen.diff.pipeline_same
        screen.query_one("#diff-view").scroll_end(animate=False)
        await pilot.pause()
        text += screen_text(app)
        assert "#1 vs #2: the requests differ" in text
        assert "layout" in text and "pretty (2 spaces)" in text
        assert "Runtime: the steps differ" in text and "SIG_BODY_MODIFIED" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DiffScreen))


async def test_edit_analyse_resign_send_and_store_linked(tmp_path: Path) -> None:
    setup = scenario_setup(tmp_path, ("github-pr-opened",))
    app = scenario_app(setup)
    with recording_app(status=202, body=b'{"queued":true}', delay=0.05) as target:
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 0)
            original_id = app.selected_id
            assert original_id is not None
            await pilot.press("o")
            await wait_for(pilot, lambda: isinstance(app.screen, EditScreen))
            screen = app.screen
            assert isinstance(screen, EditScreen)
            area = screen.query_one(TextArea)
            assert '"action":"opened"' in area.text
            area.text = area.text.replace('"action":"opened"', '"action":"closed"')
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: screen.report is not None, timeout=10)
            await pilot.pause()
            text = screen_text(app)
            assert "$.action" in text and '"closed"' in text
            assert "Runtime: the steps differ" in text  # the old signature no longer matches
            await pilot.press("ctrl+r")
            prompt = app.screen.query_one(Input)
            prompt.value = target.url
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen.stored_id is not None, timeout=10)
            await pilot.pause()
            assert "HTTP 202" in screen_text(app)
            stored_id = screen.stored_id
    assert len(target.received) == 1
    received = target.received[0]
    assert b'"action":"closed"' in received.body
    definition = load_definition(FIXTURE_DEFINITION)
    sent = CapturedRequest("POST", received.path, received.query, tuple(received.headers),
                           received.body)
    report = analyze(sent, definition, Secrets({"webhookSecret": GITHUB_SECRET}),
                     now=datetime.now(UTC))
    assert report.signature.verdict == "pass"  # signed again over the edited body
    with Store.open(setup.store_path) as store:
        edited = store.get(stored_id or 0)
        original = store.get(original_id)
    assert edited.source.edited_from == original_id
    assert edited.request.body == received.body
    assert edited.forward is not None and edited.forward.status == 202
    assert edited.forward.latency is not None and edited.forward.latency >= 0.05
    assert b'"action":"opened"' in original.request.body  # never replaced


FIXTURE_DEFINITION = Path(__file__).parent.parent.parent / "fixtures" / "definitions" / \
    "github.json"


async def test_response_tab_shows_the_apps_answer_masked(tmp_path: Path) -> None:
    setup = scenario_setup(tmp_path, ("github-pr-opened",))
    with Store.open(setup.store_path) as store:
        base = store.get(store.ids()[0])
        store.insert(Capture(base.request, Source(received_at=base.source.received_at),
                             None, ForwardResult(500, f'{{"e":"{GITHUB_SECRET}"}}'.encode(),
                                                 (("Set-Cookie", "session=abc123"),
                                                  ("X-Trace", "t-1")), 0.042)))
    app = scenario_app(setup)
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, app, 0)
        await pilot.press("6")
        await pilot.pause()
        text = screen_text(app)
        assert "HTTP 500" in text and "in 42 ms" in text
        assert "X-Trace: t-1" in text
        assert "abc123" not in text and GITHUB_SECRET not in text


async def test_the_list_shows_the_apps_status_latency_and_the_edit_link(tmp_path: Path) -> None:
    from tui_support import all_analysed, list_lines

    setup = scenario_setup(tmp_path, ("github-pr-opened",))
    with Store.open(setup.store_path) as store:
        first = store.ids()[0]
        store.set_forward(first, 503, b"", None, (), 0.123)
        base = store.get(first)
        store.insert(Capture(base.request, Source(received_at=base.source.received_at,
                                                  edited_from=first)))
    app = scenario_app(setup)
    async with app.run_test(size=(220, 40)) as pilot:
        await all_analysed(pilot, app)
        await wait_for(pilot, lambda: "fires" in list_lines(app)[2])
        lines = list_lines(app)
        assert f"pull_request.opened ✎#{first}" in lines[1], lines
        assert "pull_request.opened app 503 123ms" in lines[2], lines


async def test_the_resend_answer_is_masked(tmp_path: Path) -> None:
    from whdebug.tui.screens.notices import ResendResultScreen

    setup = scenario_setup(tmp_path, ("github-pr-opened",))
    app = scenario_app(setup)
    leak = f'{{"echo":"{GITHUB_SECRET}"}}'.encode()
    with recording_app(body=leak, headers={"set-cookie": "session=abc123"}) as target:
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 0)
            await pilot.press("r")
            app.screen.query_one(Input).value = target.url
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ResendResultScreen),
                           timeout=10)
            text = screen_text(app)
    assert "HTTP 200" in text and '"echo"' in text
    assert GITHUB_SECRET not in text and "abc123" not in text


async def test_ctrl_o_hands_the_request_to_the_editor_and_analyses_the_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib

    setup = scenario_setup(tmp_path, ("github-pr-opened",))
    app = scenario_app(setup)
    monkeypatch.setenv("VISUAL", "sed -i s/opened/reopened/")
    async with app.run_test(size=SIZE) as pilot:
        monkeypatch.setattr(app, "suspend", contextlib.nullcontext)  # headless: no terminal
        await select(pilot, app, 0)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, EditScreen))
        screen = app.screen
        assert isinstance(screen, EditScreen)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: screen.report is not None, timeout=10)
        assert '"action":"reopened"' in screen.query_one(TextArea).text
        assert b'"action":"reopened"' in screen.edited.body
        assert screen.edited.header("Content-Length") == str(len(screen.edited.body))
        await pilot.press("escape")  # from the text area, back to the list
        await wait_for(pilot, lambda: not isinstance(app.screen, EditScreen))
