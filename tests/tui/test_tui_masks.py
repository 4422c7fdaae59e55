"""The TUI capture list masks credential-looking query parameters (`--show-secrets` shows them)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from textual.widgets import DataTable, TabbedContent
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
HEADER_TOKEN = "hdr-Plant-31bb"
SIZE = (160, 24)


@pytest.fixture
def setup(tmp_path: Path) -> DemoSetup:
    setup = scenario_setup(tmp_path, ("github-pr-opened",))
    request = fixture_request("github-pr-opened.http", path="/h", query=f"token={TOKEN}")
    request = dataclasses.replace(
        request, headers=(*request.headers, ("X-Batch-Token", HEADER_TOKEN)))
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


@pytest.mark.parametrize("show", [False, True])
async def test_request_pane_masks_the_query_and_header_tokens(setup: DemoSetup,
                                                              show: bool) -> None:
    app = scenario_app(setup, show_secrets=show)
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, app, 0)
        app.query_one(TabbedContent).active = "request"
        await wait_for(pilot, lambda: "/h?token=" in shown(app, "#request-summary"))
        summary = shown(app, "#request-summary")
        table = app.query_one("#request-headers", DataTable)
        headers = {str(table.get_row_at(row)[0]): str(table.get_row_at(row)[1])
                   for row in range(table.row_count)}
        signature = headers["X-Hub-Signature-256"]
        assert signature.startswith("sha256=") and len(signature) == 71  # never masked
        if show:
            assert f"/h?token={TOKEN}" in summary
            assert headers["X-Batch-Token"] == HEADER_TOKEN
        else:
            assert "/h?token=masked" in summary and TOKEN not in summary
            assert headers["X-Batch-Token"] == "[masked]"
