"""The TUI's dedupe history: provisional verdicts while it fills, settled as it grows."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from factories import NOW, SECRET, make_definition, sign
from tui_support import all_analysed, screen_text, shown, wait_for

from whdebug.model.request import Capture, CapturedRequest, Source
from whdebug.store.index import IndexFill
from whdebug.store.store import Store
from whdebug.tui.app import WhdebugApp
from whdebug.tui.options import TuiOptions

SIZE = (120, 40)


def delivery(transaction: str) -> Capture:
    raw = json.dumps({"event": "deal.won", "id": transaction}).encode()
    return Capture(CapturedRequest("POST", "/miniapps/acme/webhooks", body=raw,
                                   headers=(("X-Signature", sign(raw)),)),
                   Source(received_at=NOW))


@pytest.fixture
def app(tmp_path: Path) -> WhdebugApp:
    definition = tmp_path / "acme.json"
    definition.write_text(json.dumps(make_definition().data))
    store_path = tmp_path / "captures.db"
    with Store.open(store_path) as store:
        store.insert_many([delivery("A"), *(delivery(f"f{n}") for n in range(80)),
                           delivery("A")])
    options = TuiOptions(store_path=store_path, definition_path=definition,
                         credentials={"webhookSecret": SECRET}, listen=False, now=NOW)
    return WhdebugApp(options, watch=False)


class TestProvisionalVerdicts:
    async def test_a_redelivery_is_new_so_far_then_a_duplicate(
            self, app: WhdebugApp, monkeypatch: pytest.MonkeyPatch) -> None:
        gate = threading.Event()
        real_run = IndexFill.run

        def gated(fill: IndexFill, *args: Any, **kwargs: Any) -> Any:
            gate.wait(10)  # the analysis index's fill feeds the dedupe history
            yield from real_run(fill, *args, **kwargs)

        monkeypatch.setattr(IndexFill, "run", gated)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.current is not None and app.current.capture_id == 82)
            current = app.current
            assert current is not None and current.pending == 81
            assert "fires" in shown(app, "#pipeline-outcome").splitlines()[0]
            assert shown(app, "#step-3-name") == "dedupe"
            assert shown(app, "#step-3-reason") == (
                "transaction id 'A' is new so far (checking 81 earlier captures…)")
            assert "analysed 0/82" in screen_text(app)
            gate.set()
            await wait_for(pilot, lambda: app.current is not None and not app.current.pending)
            assert "duplicate" in shown(app, "#pipeline-outcome").splitlines()[0]
            assert shown(app, "#step-3-reason") == "duplicate of capture #1"
            await all_analysed(pilot, app)
            assert "/82" not in screen_text(app)
            assert app.analyzer is not None
            assert app.analyzer.counts() == {"fires": 81, "duplicate": 1}

    async def test_a_new_id_is_confirmed_without_analysing_again(self, app: WhdebugApp) -> None:
        async with app.run_test(size=SIZE) as pilot:
            await all_analysed(pilot, app)
            app.captures.cursor = 1  # #81, a filler
            await wait_for(pilot, lambda: app.current is not None
                           and app.current.capture_id == 81 and not app.current.pending)
            assert shown(app, "#step-3-reason") == (
                "transaction id 'f79' is new among every earlier capture")

    async def test_deleting_the_original_makes_the_redelivery_new(self, app: WhdebugApp) -> None:
        async with app.run_test(size=SIZE) as pilot:
            await all_analysed(pilot, app)
            assert app.analyzer is not None
            verdict = app.analyzer.verdict(82)
            assert verdict is not None and verdict.duplicate_of == 1
            app.captures.cursor = app.rows.position_of(1) or 0
            await wait_for(pilot, lambda: app.current is not None
                           and app.current.capture_id == 1)
            await pilot.press("x")
            await pilot.press("y")
            await wait_for(pilot, lambda: app.rows.total == 81)
            app.captures.cursor = 0
            await wait_for(pilot, lambda: app.current is not None
                           and app.current.capture_id == 82)
            assert "fires" in shown(app, "#pipeline-outcome").splitlines()[0]
            verdict = app.analyzer.verdict(82)
            assert verdict is not None and verdict.status == "fires"
