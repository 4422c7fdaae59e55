"""The TUI capture list masks credential-looking query parameters (`--show-secrets` shows them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import TabbedContent
from tui_support import (
    all_analysed,
    fixture_request,
    list_lines,
    scenario_app,
    scenario_setup,
    select,
    shown,
    wait_for,
)

from whdebug.model.request import Capture, Source
from whdebug.store.store import Store
from whdebug.tui.demo import DemoSetup

TOKEN = "tk-Plant-77aa"
SIZE = (160, 24)


@pytest.fixture
def setup(tmp_path: Path) -> DemoSetup:
    setup = scenario_setup(tmp_path, ("github-pr-opened",))
    request = fixture_request("github-pr-opened.http", path="/h", query=f"token={TOKEN}")
    with Store.open(setup.store_path) as store:
        store.insert_many([Capture(request, Source())])
    return setup


@pytest.mark.parametrize("show", [False, True])
async def test_list_masks_a_query_token(setup: DemoSetup, show: bool) -> None:
    app = scenario_app(setup, show_secrets=show)
    async with app.run_test(size=SIZE) as pilot:
        await all_analysed(pilot, app)
        lines = "\n".join(list_lines(app))
        assert "/h?token=" in lines, lines
        if show:
            assert TOKEN in lines
        else:
            assert TOKEN not in lines
            assert "/h?token=masked" in lines


async def test_request_pane_masks_the_query_token(setup: DemoSetup) -> None:
    app = scenario_app(setup)
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, app, 0)
        app.query_one(TabbedContent).active = "request"
        await wait_for(pilot, lambda: "/h?token=" in shown(app, "#request-summary"))
        summary = shown(app, "#request-summary")
        assert "/h?token=masked" in summary
        assert TOKEN not in summary
