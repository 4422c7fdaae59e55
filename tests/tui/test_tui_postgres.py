"""The TUI over a shared PostgreSQL store: another receiver's captures arrive by NOTIFY."""

from __future__ import annotations

import time
from pathlib import Path

from tui_support import EXPECTED, scenario_setup, wait_for

from whdebug.store.postgres import PostgresStore
from whdebug.store.store import Store
from whdebug.tui.app import WhdebugApp
from whdebug.tui.options import TuiOptions


async def test_captures_from_another_receiver_appear_by_notify(pg_url: str,
                                                               tmp_path: Path) -> None:
    setup = scenario_setup(tmp_path)
    with Store.open(setup.store_path) as lite, PostgresStore.open(pg_url) as shared:
        shared.insert_many(lite.get(capture_id) for capture_id in lite.ids())
    app = WhdebugApp(TuiOptions(store_path=pg_url, listen=False), workspace=setup.workspace,
                     watch=False)
    app.poll_interval = 3600  # polling cannot be what shows the new capture
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.rows.total == len(EXPECTED))
        await pilot.pause(0.3)  # the listener is connected (it runs one catch-up poll)
        with PostgresStore.open(pg_url) as other_receiver:
            started = time.monotonic()
            newest = other_receiver.insert(other_receiver.get(1))
        await wait_for(pilot, lambda: app.rows.latest_id == newest, timeout=3.0)
        elapsed = time.monotonic() - started
    assert app.rows.total == len(EXPECTED) + 1
    print(f"notify to row: {elapsed * 1000:.0f} ms")
    assert elapsed < 1.0, f"the new capture took {elapsed:.3f}s to appear"
