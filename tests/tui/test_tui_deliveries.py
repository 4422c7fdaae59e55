"""The Deliveries view: `v` groups the store's captures into provider deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from textual.widgets import DataTable
from tui_support import shown, wait_for

from whdebug.model.request import Capture, Reply, Source
from whdebug.store.store import Store
from whdebug.tools.samples import load_sample, sample_request
from whdebug.tui.app import WhdebugApp
from whdebug.tui.options import TuiOptions
from whdebug.tui.screens.deliveries import DeliveriesScreen, sparkline
from whdebug.tui.screens.main import MainScreen

SIZE = (120, 34)


def deliveries_store(path: Path) -> Path:
    """A Slack event retried twice (500, 500, 200) and a GitHub delivery answered 200."""
    start = datetime.now(UTC) - timedelta(minutes=8)
    slack = sample_request(load_sample("slack", "message"), start, "s")
    github = sample_request(load_sample("github", "push"), start, "s")
    captures = [
        Capture(slack, Source(received_at=start), Reply(500)),
        Capture(github, Source(received_at=start + timedelta(seconds=20)), Reply(200)),
        Capture(slack, Source(received_at=start + timedelta(seconds=61)), Reply(500)),
        Capture(slack, Source(received_at=start + timedelta(seconds=361)), Reply(200)),
    ]
    with Store.open(path) as store:
        store.insert_many(captures)
    return path


async def test_v_opens_the_deliveries_view_with_retries_grouped(tmp_path: Path) -> None:
    store = deliveries_store(tmp_path / "c.db")
    app = WhdebugApp(TuiOptions(store_path=store, listen=False), watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, DeliveriesScreen)
                       and app.screen.loaded)
        screen = app.screen
        assert isinstance(screen, DeliveriesScreen)
        table = screen.query_one(DataTable)
        rows = [[str(cell) for cell in table.get_row_at(n)] for n in range(table.row_count)]
        assert [(row[0], row[2], row[5]) for row in rows] == [
            ("slack", "3", "500 → 500 → 200"), ("github", "1", "200")]
        assert rows[0][1] == "Ev0PV52K21"
        header = shown(screen, "#deliveries-header")
        assert "2 deliveries · 4 attempts · 1 retried · 0 failing" in header
        detail = shown(screen, "#delivery-detail")
        assert "slack delivery Ev0PV52K21" in detail
        assert detail.count("#") >= 3 and "500" in detail
        await pilot.press("down")
        await wait_for(pilot, lambda: "github delivery" in shown(screen, "#delivery-detail"))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, DeliveriesScreen)
                       and app.screen.loaded)
        await pilot.press("down", "enter")  # the GitHub delivery: capture #2
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen)
                       and app.current is not None and app.current.capture_id == 2)


async def test_a_failing_delivery_shows_its_retry_finding(tmp_path: Path) -> None:
    start = datetime.now(UTC) - timedelta(minutes=2)
    shopify = sample_request(load_sample("shopify", "orders/create"), start, "s")
    with Store.open(tmp_path / "c.db") as store:
        store.insert(Capture(shopify, Source(received_at=start), Reply(503)))
    app = WhdebugApp(TuiOptions(store_path=tmp_path / "c.db", listen=False), watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, DeliveriesScreen)
                       and app.screen.loaded)
        detail = shown(app.screen, "#delivery-detail")
        assert "DLV_WILL_RETRY" in detail and "Shopify retries 8 times over 4 hours" in detail
        header = shown(app.screen, "#deliveries-header")
        assert "1 delivery · 1 attempt · 0 retried · 1 failing" in header


def test_sparkline_bars_are_coloured_by_outcome() -> None:
    text = sparkline([0, 1, 4, 2], [0, 0, 1, 0], [0, 0, 0, 2])
    assert text.plain == " ▂█▄"
    styles = [str(span.style) for span in text.spans]
    assert styles == ["green", "red", "grey50"]


async def test_the_view_follows_new_arrivals(tmp_path: Path) -> None:
    store = deliveries_store(tmp_path / "c.db")
    app = WhdebugApp(TuiOptions(store_path=store, listen=False), watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, DeliveriesScreen)
                       and app.screen.loaded)
        screen = app.screen
        assert isinstance(screen, DeliveriesScreen)
        assert len(screen.deliveries) == 2
        with Store.open(store) as other:  # GitHub redelivers #2 (same X-GitHub-Delivery)
            retry = other.get(2).request
            other.insert(Capture(retry, Source(received_at=datetime.now(UTC)), Reply(200)))
        await wait_for(pilot, lambda: [len(d.attempts) for d in screen.deliveries] == [3, 2],
                       timeout=8)
