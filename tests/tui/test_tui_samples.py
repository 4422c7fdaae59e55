"""`whdebug samples` in the TUI: one signed sample delivery per trigger, sent to the receiver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tui_support import FIXTURES, wait_for

from whdebug.tui.app import WhdebugApp
from whdebug.tui.options import TuiOptions


def _app(tmp_path: Path, *, listen: bool) -> WhdebugApp:
    options = TuiOptions(store_path=tmp_path / "captures.db",
                         definition_path=FIXTURES / "definitions" / "github.json",
                         credentials={"webhookSecret": "fixture-github-webhook-secret"},
                         listen=listen, port=0, discover_definition=False)
    return WhdebugApp(options, watch=False, poll_interval=30)


async def test_one_sample_per_trigger_arrives_signed_and_fires(tmp_path: Path) -> None:
    app = _app(tmp_path, listen=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.receiver.listening, timeout=10)
        definition = app.workspace.default_definition
        assert definition is not None
        events = {t["event"] for t in definition.triggers}
        await app.run_action("send_samples", app.screen)
        await wait_for(pilot, lambda: app.rows.total == len(events), timeout=15)
        screen: Any = app.screen
        ids = range(1, len(events) + 1)
        await wait_for(pilot, lambda: all(screen._verdict_of(i) is not None for i in ids),
                       timeout=15)
        verdicts = [screen._verdict_of(i) for i in ids]
        # signed with the secret the runtime resolves: every signature passes
        assert {verdict.signature for verdict in verdicts} == {"pass"}, verdicts
        # every trigger fires, except the fixture's own trap: its `push` trigger joins the
        # missing $.action as "push." (EVT_PART_MISSING), which is what the demo teaches
        fired = {verdict.event for verdict in verdicts if verdict.status == "fires"}
        assert fired == events - {"push"}, verdicts
        push = next(verdict for verdict in verdicts if verdict.status != "fires")
        assert push.event == "push." and "EVT_PART_MISSING" in push.codes
        notices = [str(n.message) for n in app._notifications]
        assert any(f"Sent {len(events)} sample deliveries" in text for text in notices), notices


async def test_without_a_listening_receiver_it_says_so(tmp_path: Path) -> None:
    app = _app(tmp_path, listen=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.run_action("send_samples", app.screen)
        await pilot.pause()
        notices = [str(n.message) for n in app._notifications]
        assert any("receiver is not listening" in text for text in notices), notices
        assert app.rows.total == 0
