"""The footer keys not covered elsewhere: re-send, load definition, follow; light theme at 80x24."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from paths import REPO
from textual.widgets import Input
from tui_support import EXPECTED, scenario_app, scenario_setup, screen_text, select, shown, wait_for

from whdebug.model.request import Secrets
from whdebug.receiver.app import ReceiverSettings
from whdebug.receiver.server import ServerSettings, running_receiver
from whdebug.store.store import Store
from whdebug.tui.demo import DemoSetup
from whdebug.tui.screens.notices import ResendResultScreen

SIZE = (100, 30)


@pytest.fixture
def setup(tmp_path: Path) -> DemoSetup:
    return scenario_setup(tmp_path)


async def test_resend_delivers_the_exact_bytes_to_a_receiver(setup: DemoSetup,
                                                             tmp_path: Path) -> None:
    other_store = tmp_path / "other.db"
    app = scenario_app(setup)
    async with running_receiver(other_store, ReceiverSettings(secrets=Secrets()),
                                ServerSettings(port=0)) as target:
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 0)
            assert app.current is not None and app.current.capture is not None
            sent = app.current.capture.request
            await pilot.press("r")
            prompt = app.screen.query_one(Input)
            prompt.value = f"http://127.0.0.1:{target.port}"
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ResendResultScreen), timeout=10)
            assert "HTTP 200" in screen_text(app)
    with Store.open(other_store) as store:
        received = store.get(store.ids()[-1]).request
    assert received.body == sent.body
    assert received.path == sent.path


async def test_load_definition_replaces_the_verdicts(setup: DemoSetup, tmp_path: Path) -> None:
    definition = json.loads((REPO / "fixtures" / "definitions"
                             / "github.json").read_text())
    definition["triggers"] = [{"type": "miniapps:github", "event": "push."}]
    path = tmp_path / "push-only.json"
    path.write_text(json.dumps(definition))
    app = scenario_app(setup)
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, app, 1)  # github push: no-trigger under the fixture definition
        assert shown(app, "#pipeline-outcome").startswith("? no-trigger")
        await pilot.press("d")
        app.screen.query_one(Input).value = str(path)
        await pilot.press("enter")
        await wait_for(pilot, lambda: shown(app, "#pipeline-outcome").startswith("✓ fires"))
        assert "push." in shown(app, "#pipeline-outcome")


async def test_follow_toggles_and_jumps_to_the_newest(setup: DemoSetup) -> None:
    app = scenario_app(setup)
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, app, 3)
        await pilot.press("f")
        await wait_for(pilot, lambda: app.captures.cursor == 0)
        assert app.current is not None and app.current.capture_id == app.rows.id_at(0)


async def test_light_theme_at_80_by_24(setup: DemoSetup) -> None:
    app = scenario_app(setup)
    async with app.run_test(size=(80, 24)) as pilot:
        app.theme = "textual-light"
        await select(pilot, app, 2)
        await pilot.pause()
        text = screen_text(app)
        assert "rejected" in shown(app, "#pipeline-outcome")
        for key in ("Filter", "Export", "Quit"):
            assert key in text
        assert len(EXPECTED) == app.rows.total


async def test_request_tab_masks_a_header_token(tmp_path: Path) -> None:
    setup = scenario_setup(tmp_path, names=("batch-token",))
    app = scenario_app(setup)
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, app, 0)
        await pilot.press("4")
        await pilot.pause()
        text = screen_text(app)
        assert "X-Batch-Token" in text
        assert "fixture-batch-token-7f3a" not in text
