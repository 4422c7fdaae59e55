"""Snapshots of the main screen (pytest-textual-snapshot; update with --snapshot-update).

Fixed size, fixed clock (each scenario's `now`, fixed arrival times, UTC display), a seeded
store, no receiver and no blinking cursor in view, so the SVGs are the same on every run.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from tui_support import all_analysed, scenario_app, scenario_setup, select

from whdebug.tui.app import WhdebugApp

SIZE = (100, 30)


@pytest.fixture
def snapshot_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WhdebugApp]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.chdir(tmp_path)
    app = scenario_app(scenario_setup(tmp_path))
    app.animation_level = "none"  # the tab underline would otherwise still be sliding
    yield app
    monkeypatch.undo()
    time.tzset()


def showing(app: WhdebugApp, position: int,
            tab: str = "1") -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await all_analysed(pilot, app)
        await select(pilot, app, position)
        await pilot.press(tab)
        await pilot.pause()

    return run_before


class TestMainScreen:
    def test_passing_capture(self, snap_compare: Any, snapshot_app: WhdebugApp) -> None:
        assert snap_compare(snapshot_app, terminal_size=SIZE,
                            run_before=showing(snapshot_app, 0))

    def test_failing_capture(self, snap_compare: Any, snapshot_app: WhdebugApp) -> None:
        assert snap_compare(snapshot_app, terminal_size=SIZE,
                            run_before=showing(snapshot_app, 2))

    def test_failing_capture_signature_lab(self, snap_compare: Any,
                                           snapshot_app: WhdebugApp) -> None:
        assert snap_compare(snapshot_app, terminal_size=SIZE,
                            run_before=showing(snapshot_app, 2, "2"))
