"""Build TUI apps over stores made from the committed fixtures, and read what they show."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from paths import REPO
from rich.syntax import Syntax
from rich.text import Text
from textual.content import Content
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Static

from whdebug.formats.read import read_request_file
from whdebug.model.request import Capture, CapturedRequest, Source
from whdebug.store.store import Store
from whdebug.tui.app import WhdebugApp
from whdebug.tui.demo import DemoSetup, build_scenarios
from whdebug.tui.options import TuiOptions

FIXTURES = REPO / "fixtures"
NOW = datetime(2025, 11, 24, 16, 0, 5, tzinfo=UTC)

# Top of the list first (newest); github-redelivery holds two captures, -2 above -1.
SCENARIOS = (
    "github-pr-opened",
    "github-push-missing-part",
    "github-wrong-secret",
    "github-redelivery",
    "slack-challenge",
    "acme-event-elsewhere",
    "acme-event-case",
)
EXPECTED = [  # (outcome, finding codes that must be listed) by list position
    ("fires", []),
    ("no-trigger", ["EVT_PART_MISSING", "EVT_AMBIGUOUS_MATCH"]),
    ("rejected", ["SIG_MISMATCH"]),
    ("duplicate", ["TX_DUPLICATE"]),
    ("fires", []),
    ("challenge", ["CHALLENGE"]),
    ("no-event", ["EVT_NOT_FOUND", "EVT_PATH_SUGGESTION"]),
    ("no-trigger", ["EVT_NO_TRIGGER", "EVT_NEAR_MISS"]),
]


def scenario_setup(directory: Path, names: tuple[str, ...] = SCENARIOS) -> DemoSetup:
    return build_scenarios(FIXTURES, directory, names=names)


def scenario_app(setup: DemoSetup, **options: Any) -> WhdebugApp:
    tui_options = TuiOptions(store_path=setup.store_path, listen=False, **options)
    return WhdebugApp(tui_options, workspace=setup.workspace, watch=False)


def fixture_request(name: str, **changes: Any) -> CapturedRequest:
    request = read_request_file(FIXTURES / "requests" / name)[0].request
    return dataclasses.replace(request, **changes)


def store_with(path: Path, requests: list[CapturedRequest]) -> Path:
    """A store holding these requests, arriving one second apart before NOW."""
    stamped = [Capture(request, Source(received_at=NOW - timedelta(seconds=len(requests) - index)))
               for index, request in enumerate(requests)]
    with Store.open(path) as store:
        store.insert_many(stamped)
    return path


def text_of(widget: Widget) -> str:
    """The plain text a Static shows (Content, str, rich Text or Syntax)."""
    assert isinstance(widget, Static)
    content = widget.content
    if isinstance(content, Content | Text):
        return content.plain
    if isinstance(content, Syntax):
        return content.code
    return str(content)


def screen_text(app: WhdebugApp) -> str:
    """Everything on screen as text (from the SVG screenshot, tags stripped)."""
    svg = app.export_screenshot()
    body = svg[svg.index("<g class"):] if "<g class" in svg else svg
    return html.unescape(re.sub(r"<[^>]+>", "", body)).replace("\xa0", " ")


def list_lines(app: WhdebugApp) -> list[str]:
    """The capture list's rows as drawn (header line first)."""
    captures = app.captures
    return [captures.render_line(y).text for y in range(captures.size.height)]


def shown(app: WhdebugApp, selector: str) -> str:
    return text_of(app.query_one(selector))


async def wait_for(pilot: Pilot[Any], condition: Callable[[], object],
                   timeout: float = 5.0) -> None:
    """Pause the app until `condition()` is true (bounded; fails the test on timeout)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for a condition")
        await pilot.pause(0.02)


async def select(pilot: Pilot[Any], app: WhdebugApp, position: int) -> None:
    """Move the cursor to a list position and wait until its final analysis is drawn."""
    app.captures.cursor = position
    wanted = app.rows.id_at(position)
    await wait_for(pilot, lambda: app.current is not None
                   and app.current.capture_id == wanted and not app.current.trial
                   and not app.current.pending)


async def all_analysed(pilot: Pilot[Any], app: WhdebugApp) -> None:
    """Every row has its final verdict: analysed, and the dedupe history complete."""
    assert app.analyzer is not None
    analyzer = app.analyzer
    await wait_for(pilot, lambda: analyzer.history.complete and not analyzer.provisional
                   and analyzer.analysed() >= app.rows.total)
    await asyncio.sleep(0)
