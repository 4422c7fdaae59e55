"""The TUI at 80x24 (a default terminal, or tmux): labels, header, wrapped hashes, the event
of a rejected request, the export dialog, fix texts, and where a copied curl command went."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.geometry import Region
from textual.widgets import Static
from tui_support import (
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
from whdebug.tui.app import WhdebugApp
from whdebug.tui.demo import DemoSetup
from whdebug.tui.options import TuiOptions
from whdebug.tui.widgets.header import HeaderState, header_content

SIZE = (80, 24)
REJECTED = 2  # github-wrong-secret


@pytest.fixture
def setup(tmp_path: Path) -> DemoSetup:
    return scenario_setup(tmp_path)


def rendered(widget: Static) -> list[str]:
    return [strip.text for strip in widget.render_lines(Region(0, 0, *widget.size))]


class TestList:
    async def test_narrow_list_explains_its_mark_columns(self, setup: DemoSetup) -> None:
        app = scenario_app(setup)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 0)
            lines = list_lines(app)
            assert lines[0].split()[-2:] == ["s", "o"]  # one-cell columns...
            legend = " ".join(line.strip() for line in lines[-3:])  # ...explained below
            assert legend.startswith("s signature · o outcome")
            for words in ("✓ fires", "✗ rejected", "∅ no event", "? no trigger", "↺ duplicate",
                          "⇄ challenge"):
                assert words in legend
            assert "…" not in legend

    async def test_a_capture_of_another_day_shows_its_date(self, tmp_path: Path) -> None:
        # The time column showed only the clock: last year's capture read as today's.
        request = fixture_request("github-pr-opened.http")
        now = datetime.now(UTC)
        with Store.open(tmp_path / "c.db") as store:
            store.insert_many([
                Capture(request, Source(received_at=datetime(2025, 11, 24, 16, tzinfo=UTC))),
                Capture(request, Source(received_at=now - timedelta(days=2))),
                Capture(request, Source(received_at=now)),
            ])
        app = WhdebugApp(TuiOptions(store_path=tmp_path / "c.db", listen=False), watch=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len([line for line in list_lines(app)[1:]
                                               if line.strip()]) >= 3)
            newest, two_days, last_year = (line[:9] for line in list_lines(app)[1:4])
        assert re.fullmatch(r"\d\d:\d\d:\d\d ", newest)
        assert re.fullmatch(r"[A-Z][a-z]{2} \d\d   ", two_days)
        assert last_year == "Nov 2025 "

    async def test_wide_list_uses_words(self, setup: DemoSetup) -> None:
        app = scenario_app(setup)
        async with app.run_test(size=(160, 30)) as pilot:
            await select(pilot, app, 0)
            header = list_lines(app)[0]
            assert "sig" in header.split() and "outcome" in header.split()
            assert "signature" not in list_lines(app)[-1]


class TestHeader:
    def test_the_url_has_the_first_line_and_the_store_comes_last(self) -> None:
        state = HeaderState(title="whdebug demo", listening=True,
                            receiver_url="http://127.0.0.1:8787/miniapps/acme-crm-pro/webhooks",
                            store="/tmp/whdebug-demo-abcdef/captures.db",
                            definition="acme-crm-pro@1.0.0", total=3, analysed=3)
        first, second = header_content(state).plain.split("\n")
        assert first.rstrip().endswith("/miniapps/acme-crm-pro/webhooks")
        assert len(first) <= 80
        assert "acme-crm-pro@1.0.0" in second
        assert second.rstrip().endswith("captures.db")


class TestTabs:
    async def test_signature_hashes_wrap_instead_of_being_cut(self, setup: DemoSetup) -> None:
        app = scenario_app(setup)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, REJECTED)
            await pilot.press("2")
            await pilot.pause()
            report = app.current.report if app.current else None
            assert report is not None
            runtime = next(a for a in report.signature.attempts if a.runtime)
            assert runtime.computed and len(runtime.computed) > 40
            text = "".join(line.strip() for line in
                           rendered(app.query_one("#signature-comparison", Static)))
            assert runtime.computed in text
            assert "…" not in text

    async def test_event_tab_shows_the_would_be_event_of_a_rejected_request(
            self, setup: DemoSetup) -> None:
        app = scenario_app(setup)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, REJECTED)
            await pilot.press("3")
            text = shown(app, "#event-body")
            assert "Rejected before extraction" in text
            assert "'pull_request.opened'" in text
            assert "would fire" in text and "pull_request.opened" in text.split("would fire")[1]

    async def test_fix_texts_point_to_the_s_key(self, setup: DemoSetup) -> None:
        app = scenario_app(setup)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, REJECTED)
            findings = shown(app, "#pipeline-findings")
            assert "SIG_MISMATCH" in findings
            assert "--credential" not in findings
            assert "press s" in findings


class TestActions:
    async def test_export_enter_on_the_formats_writes_the_file(
            self, setup: DemoSetup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(tmp_path)
        app = scenario_app(setup)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 1)
            await pilot.press("e")
            await pilot.press("shift+tab")  # from the path to the formats
            await pilot.press("right", "enter")  # har, and write
            target = tmp_path / f"capture-{app.selected_id}.har"
            await wait_for(pilot, target.exists)

    async def test_copy_says_where_the_text_went(
            self, setup: DemoSetup, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
        app = scenario_app(setup)
        copied: list[str] = []
        monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 0)
            await pilot.press("c")
            assert copied and copied[0].startswith("curl ")
            messages = [n.message for n in app._notifications]
            message = messages[-1]
            assert "OSC 52" in message and "set-clipboard on" in message
            saved = next(word for word in message.split() if ".curl.sh" in word)
            assert Path(saved.rstrip(".,")).read_text() == copied[0]
