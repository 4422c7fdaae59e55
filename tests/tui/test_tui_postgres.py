"""The TUI over a shared PostgreSQL store: another receiver's captures arrive by NOTIFY."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

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


async def test_filters_and_counts_come_from_the_shared_index(pg_url: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             ) -> None:
    """One person's `list --definition` fills the index in the shared database; another's TUI
    finds every verdict there and answers `/` filters and counts in SQL."""
    import json
    from datetime import timedelta

    from cli_support import json_lines, run
    from factories import BASE_DEFINITION, NOW, SECRET, make_capture
    from textual.widgets import Input

    from whdebug.store.index import IndexFill
    from whdebug.tui import filters

    count = 40
    with PostgresStore.open(pg_url) as shared:
        shared.insert_many(make_capture({"event": "contact.created" if n % 2 else "deal.won",
                                         "id": f"t{n}"},
                                        signature="0" * 64 if n % 5 == 0 else "auto",
                                        received_at=NOW + timedelta(seconds=n))
                           for n in range(count))
    definition, credentials = tmp_path / "definition.json", tmp_path / "credentials.json"
    definition.write_text(json.dumps(BASE_DEFINITION))
    credentials.write_text(json.dumps({"webhookSecret": SECRET}))
    cli = run("list", "--store", pg_url, "--definition", str(definition), "--credentials",
              str(credentials), "--code", "SIG_MISMATCH", "--json")
    assert cli.exit_code == 0, cli.output
    expected = [row["id"] for row in json_lines(cli)]
    assert expected == [n + 1 for n in range(count - 1, -1, -1) if n % 5 == 0]

    def no_analysis(*args: object, **kwargs: object) -> object:
        raise AssertionError("the shared index held every verdict: nothing is analysed again")

    monkeypatch.setattr(IndexFill, "_analyse", no_analysis)
    monkeypatch.setattr(filters, "scan", no_analysis)
    app = WhdebugApp(TuiOptions(store_path=pg_url, definition_path=definition,
                                credentials_path=credentials, listen=False), watch=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: app.index_state is not None
                       and app.index_state.indexed == count, timeout=20)
        assert app.index_state is not None
        assert app.index_state.counts == {"fires": 32, "rejected": 8}
        await pilot.press("slash")
        app.screen.query_one(Input).value = "code:sig_mismatch"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.main.filter_scanned[1] and len(app.rows) > 0)
        await pilot.pause()
        assert app.rows.ids_between(0, len(app.rows)) == expected
