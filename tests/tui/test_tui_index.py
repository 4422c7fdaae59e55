"""The TUI answers `/` filters and its counts from the store's analysis index (SQL)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_support import json_lines, run
from factories import BASE_DEFINITION, NOW, SECRET, make_capture
from paths import REPO
from textual.widgets import Input
from tui_support import screen_text, wait_for

from whdebug.store.index import IndexFill
from whdebug.store.store import Store
from whdebug.tui import filters
from whdebug.tui.app import WhdebugApp
from whdebug.tui.options import TuiOptions

SIZE = (140, 40)
COUNT = 60


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    captures = [make_capture({"event": "contact.created" if n % 2 else "deal.won",
                              "id": f"t{n}"},
                             signature="0" * 64 if n % 5 == 0 else "auto",
                             received_at=NOW + timedelta(seconds=n))
                for n in range(COUNT)]
    store = tmp_path / "captures.db"
    with Store.open(store) as opened:
        opened.insert_many(captures)
    definition = tmp_path / "definition.json"
    definition.write_text(json.dumps(BASE_DEFINITION))
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"webhookSecret": SECRET}))
    return {"store": store, "definition": definition, "credentials": credentials}


def _app(setup: dict[str, Path], store: Path | str | None = None) -> WhdebugApp:
    options = TuiOptions(store_path=store or setup["store"],
                         definition_path=setup["definition"],
                         credentials_path=setup["credentials"], listen=False)
    return WhdebugApp(options, watch=False)


def _location(kind: str, setup: dict[str, Path], request: pytest.FixtureRequest) -> str:
    """The setup's store, or a copy of its captures in a shared PostgreSQL database."""
    if kind == "sqlite":
        return str(setup["store"])
    from whdebug.store.postgres import PostgresStore

    url: str = request.getfixturevalue("pg_url")
    with Store.open(setup["store"]) as lite, PostgresStore.open(url) as shared:
        shared.insert_many(lite.get(capture_id) for capture_id in lite.ids())
    return url


async def _filter(pilot: Any, app: WhdebugApp, text: str) -> list[int]:
    await pilot.press("slash")
    app.screen.query_one(Input).value = text
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.main.filter_scanned[1] and len(app.rows) > 0)
    await pilot.pause()
    return app.rows.ids_between(0, len(app.rows))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_filter_by_code_reads_the_index_the_cli_filled(
        kind: str, setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    """On PostgreSQL the index is shared: one person's `list` fills it, another's TUI reads
    every verdict from it."""
    store = _location(kind, setup, request)
    cli = run("list", "--store", store, "--definition", str(setup["definition"]),
              "--credentials", str(setup["credentials"]), "--code", "SIG_MISMATCH", "--json")
    assert cli.exit_code == 0, cli.output
    expected = [row["id"] for row in json_lines(cli)]
    assert expected == [n + 1 for n in range(COUNT - 1, -1, -1) if n % 5 == 0]

    def no_analysis(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the index held every verdict: nothing is analysed again")

    # The TUI finds the CLI's index (same definition and credentials): the fill only reads
    # it, and the filter never pages through captures analysing them.
    monkeypatch.setattr(IndexFill, "_analyse_run", no_analysis)
    monkeypatch.setattr(filters, "scan", no_analysis)
    app = _app(setup, store)
    async with app.run_test(size=SIZE) as pilot:
        assert app.analyzer is not None
        history = app.analyzer.history
        await wait_for(pilot, lambda: history.complete and app.index_state is not None
                       and app.index_state.indexed == COUNT)
        assert app.index_state is not None
        assert app.index_state.counts == {"fires": 48, "rejected": 12}
        assert "60 captures✓48✗12" in screen_text(app)  # the counts, from SQL
        matches = await _filter(pilot, app, "code:sig_mismatch")
        assert matches == expected
        assert "filter: code:sig_mismatch" in screen_text(app)
        both = await _filter(pilot, app, "-outcome:rejected event:deal")
        assert both == [n + 1 for n in range(COUNT - 1, -1, -1) if n % 2 == 0 and n % 5]


async def test_the_tui_fills_the_index_and_a_trigger_edit_keeps_rejected_rows(
        setup: dict[str, Path]) -> None:
    app = _app(setup)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.index_state is not None
                       and app.index_state.indexed == COUNT, timeout=20)
        first = app.index_state
        assert first is not None and first.fill is not None and first.fill.computed == COUNT
        data = dict(BASE_DEFINITION)
        data["triggers"] = [{"type": "miniapps:acme", "event": "deal.won"}]
        setup["definition"].write_text(json.dumps(data))
        app.reload()
        await wait_for(pilot, lambda: app.index_state is not first
                       and app.index_state is not None
                       and app.index_state.indexed == COUNT, timeout=20)
        second = app.index_state
        assert second is not None and second.fill is not None
        assert second.fill.computed == COUNT - 12  # the 12 rejected rows were carried over
        assert second.counts == {"fires": 24, "no-trigger": 24, "rejected": 12}
        matches = await _filter(pilot, app, "outcome:fires")
        assert len(matches) == 24 and all((i - 1) % 2 == 0 for i in matches)
    connection = sqlite3.connect(setup["store"])
    sets = connection.execute("SELECT count(*) FROM analysis_sets").fetchone()[0]
    connection.close()
    assert sets == 2


async def test_list_verdicts_from_the_index_equal_a_replay_session(
        setup: dict[str, Path]) -> None:
    from whdebug.model.definition import load_definition
    from whdebug.model.request import Secrets
    from whdebug.store.index import IndexProfile, row_of
    from whdebug.tui.indexing import verdict_of

    with Store.open(setup["store"]) as store:  # two redeliveries: dedupe in arrival order
        store.insert_many([make_capture({"event": "deal.won", "id": "t2"},
                                        received_at=NOW + timedelta(seconds=COUNT)),
                           make_capture({"event": "deal.won", "id": "t10"}, signature="0" * 64,
                                        received_at=NOW + timedelta(seconds=COUNT + 1))])
        session = IndexProfile(load_definition(str(setup["definition"])),
                               Secrets({"webhookSecret": SECRET}, {})).session()
        expected = {i: verdict_of(row_of(i, session.replay(store.get(i))))
                    for i in store.ids()}
    assert expected[COUNT + 1].status == "duplicate" and expected[COUNT + 1].duplicate_of == 3
    app = _app(setup)
    async with app.run_test(size=SIZE) as pilot:
        analyzer = app.analyzer
        assert analyzer is not None
        await wait_for(pilot, lambda: app.index_state is not None
                       and app.index_state.indexed == COUNT + 2 and analyzer.history.complete
                       and not analyzer.provisional, timeout=20)
        shown = {i: analyzer.verdict(i) for i in expected}
    assert shown == expected


async def test_the_fill_runs_oldest_first_with_its_progress_in_the_header(
        setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from whdebug.tui import indexing

    monkeypatch.setattr(indexing, "FILL_BATCH", 20)
    gate = threading.Event()
    real_run = IndexFill.run

    def gated(fill: IndexFill, *args: Any, **kwargs: Any) -> Any:
        for number, rows in enumerate(real_run(fill, *args, **kwargs)):
            if number == 1:
                gate.wait(10)  # the fill stops after its first batch until the test says
            yield rows

    monkeypatch.setattr(IndexFill, "run", gated)
    app = _app(setup)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.index_state is not None
                       and app.index_state.frontier == 20)
        state, analyzer = app.index_state, app.analyzer
        assert state is not None and analyzer is not None
        assert "analysed 20/60 (33%)" in screen_text(app)
        assert state.counts == {"fires": 16, "rejected": 4}  # captures #1..#20 only
        # The oldest captures have their verdicts from the fill; the list stays usable.
        assert all(analyzer.verdict(i) is not None for i in range(1, 21))
        await wait_for(pilot, lambda: app.current is not None and app.current.capture_id == 60)
        await pilot.press("down", "down")
        await wait_for(pilot, lambda: app.current is not None and app.current.capture_id == 58)
        assert "analysed 20/60" in screen_text(app)
        gate.set()
        await wait_for(pilot, lambda: analyzer.history.complete and state.indexed == COUNT)
        await pilot.pause()
        text = screen_text(app)
        assert "/60 (" not in text and "60 captures✓48✗12" in text


async def test_the_first_frame_shows_the_verdicts_the_index_holds(
        setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from whdebug.tui import workers

    cli = run("list", "--store", str(setup["store"]), "--definition", str(setup["definition"]),
              "--credentials", str(setup["credentials"]), "--json")
    assert cli.exit_code == 0, cli.output
    frames: list[str] = []

    def nothing(*args: Any, **kwargs: Any) -> None:
        """No worker computes or reads a verdict: only what the app read before its first
        frame can show."""

    monkeypatch.setattr(workers, "compute_verdicts", nothing)
    monkeypatch.setattr(workers, "fill_index", nothing)
    app = _app(setup)
    real_first_frame = app._first_frame

    def first_frame() -> None:
        frames.append(screen_text(app))
        real_first_frame()

    monkeypatch.setattr(app, "_first_frame", first_frame)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: bool(frames))
        analyzer = app.analyzer
        assert analyzer is not None
        # The newest rows (#60 down) as drawn in the first frame: #56 and #51 are rejected.
        assert [analyzer.verdict(i) is not None for i in (60, 56, 51)] == [True] * 3
        verdict = analyzer.verdict(56)
        assert verdict is not None and verdict.status == "rejected"
        assert "SIG_MISMATCH" in frames[0] or "✗" in frames[0]


FIRST_FRAME_CHILD = """
import asyncio, json, sys
from pathlib import Path
from whdebug.tui.app import WhdebugApp
from whdebug.tui.options import TuiOptions

store, definition, credentials = sys.argv[1:4]
app = WhdebugApp(TuiOptions(store_path=Path(store), definition_path=Path(definition),
                            credentials_path=Path(credentials), listen=False), watch=False)
first_frame, seen = app._first_frame, {}

def drawn():
    seen["engine"] = sorted(m for m in sys.modules if m.startswith("whdebug.engine"))
    seen["dialogs"] = sorted(m for m in sys.modules if m in (
        "whdebug.tui.screens.export", "whdebug.tui.screens.notices",
        "whdebug.tui.screens.prompts"))
    seen["verdict"] = str(app.analyzer.verdict(app.rows.id_at(0)))
    first_frame()

app._first_frame = drawn

async def main():
    async with app.run_test(size=(140, 40)) as pilot:
        while "verdict" not in seen or app.index_state is None:
            await pilot.pause(0.01)
        seen["after"] = "whdebug.engine.analyze" in sys.modules
    print(json.dumps(seen))

asyncio.run(main())
"""


def test_the_first_frame_is_drawn_before_the_engine_is_imported(
        setup: dict[str, Path]) -> None:
    """A fresh `whdebug tui` over an indexed store draws its first frame, with the newest
    row's verdict read from the index, before it imports the analysis engine (or a dialog)."""
    cli = run("list", "--store", str(setup["store"]), "--definition", str(setup["definition"]),
              "--credentials", str(setup["credentials"]), "--json")
    assert cli.exit_code == 0, cli.output
    child = subprocess.run(
        [sys.executable, "-c", FIRST_FRAME_CHILD, str(setup["store"]),
         str(setup["definition"]), str(setup["credentials"])],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)
    assert child.returncode == 0, child.stderr
    seen = json.loads(child.stdout.strip().splitlines()[-1])
    assert seen["engine"] == []
    assert seen["dialogs"] == []  # imported when one opens (the keys' tests open them)
    assert "status='fires'" in seen["verdict"]  # #60 passes (#55, #50... are rejected)
    assert seen["after"] is True


@pytest.mark.parametrize("change", ["credentials", "definition", "options"])
async def test_the_first_frame_reads_no_verdict_of_another_profile(
        change: str, setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The index holds verdicts for the setup's profile; a TUI started with other
    credentials, another definition or other options draws none of them in its first frame,
    then fills its own set (rejected everywhere with the wrong secret)."""
    from whdebug.tui import workers

    cli = run("list", "--store", str(setup["store"]), "--definition", str(setup["definition"]),
              "--credentials", str(setup["credentials"]), "--json")
    assert cli.exit_code == 0, cli.output
    if change == "credentials":
        setup["credentials"].write_text(json.dumps({"webhookSecret": "another-secret"}))
    elif change == "definition":
        data = json.loads(setup["definition"].read_text())
        data["triggers"] = data["triggers"][:1]
        setup["definition"].write_text(json.dumps(data))
    verdicts: list[object] = []
    real_fill = workers.fill_index

    def held_fill(*args: Any, **kwargs: Any) -> None:
        """The fill starts only once the first frame was checked."""
        while not verdicts:
            time.sleep(0.01)
        real_fill(*args, **kwargs)

    monkeypatch.setattr(workers, "fill_index", held_fill)
    monkeypatch.setattr(workers, "compute_verdicts", lambda *args, **kwargs: None)
    app = _app(setup)
    if change == "options":
        app.workspace.missing_part = "skip"
    real_first_frame = app._first_frame

    def first_frame() -> None:
        analyzer = app.analyzer
        assert analyzer is not None
        verdicts.append([analyzer.verdict(i) for i in (60, 56, 51)])
        real_first_frame()

    monkeypatch.setattr(app, "_first_frame", first_frame)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: bool(verdicts))
        assert verdicts[0] == [None, None, None]
        analyzer, state = app.analyzer, app.index_state
        assert analyzer is not None and state is not None
        await wait_for(pilot, lambda: analyzer.history.complete and state.indexed == COUNT,
                       timeout=60)
        verdict = analyzer.verdict(60)
        assert verdict is not None
        assert verdict.status == ("rejected" if change == "credentials" else "fires")


def test_row_verdicts_are_not_tracked_by_the_garbage_collector() -> None:
    """The list keeps one verdict per capture (100,000 in a large store): as tracked objects
    they made each full collection about 100 ms, which landed on keystrokes (selection p95
    over 100 ms in bench/tui.py). A verdict holds only strings, numbers and a tuple of
    strings, so it can be in no reference cycle."""
    import gc

    from whdebug.store.analyses import AnalysisRow
    from whdebug.tui.indexing import verdict_of

    row = AnalysisRow(7, "order.created", "rejected", "fail", ("SIG_MISMATCH",))
    verdict = verdict_of(row)
    assert (verdict.event, verdict.signature, verdict.status, verdict.codes) == (
        "order.created", "fail", "rejected", ("SIG_MISMATCH",))
    assert not gc.is_tracked(verdict)
