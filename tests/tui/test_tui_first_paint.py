"""What the first frame leaves for later: the pipeline's step rows, and the ids read in a thread."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_support import run
from factories import BASE_DEFINITION, NOW, SECRET, make_capture
from textual.widgets import Static
from tui_support import shown, wait_for

from whdebug.errors import StoreError
from whdebug.store.store import Store
from whdebug.tui.app import WhdebugApp
from whdebug.tui.options import TuiOptions
from whdebug.tui.rows import CaptureRows

SIZE = (140, 40)


def deliveries(tmp_path: Path, count: int, wrong: int) -> tuple[Path, Path]:
    """(store, definition): captures #1..#count of deal.won, #wrong signed wrongly."""
    store = tmp_path / "captures.db"
    with Store.open(store) as opened:
        opened.insert_many(
            make_capture({"event": "deal.won", "id": f"t{n}"},
                         signature="0" * 64 if n == wrong else "auto",
                         received_at=NOW + timedelta(seconds=n))
            for n in range(1, count + 1))
    definition = tmp_path / "definition.json"
    definition.write_text(json.dumps(BASE_DEFINITION))
    return store, definition


@pytest.fixture
def app(tmp_path: Path) -> WhdebugApp:
    """Three captures: #1 fires, #2 has a wrong signature (rejected), #3 fires."""
    store, definition = deliveries(tmp_path, 3, wrong=2)
    options = TuiOptions(store_path=store, definition_path=definition,
                         credentials={"webhookSecret": SECRET}, listen=False)
    return WhdebugApp(options, watch=False)


def steps(app: WhdebugApp) -> list[tuple[str, str]]:
    """(name, reason) of every step row shown in the Pipeline tab."""
    shown_rows = []
    for index in range(8):
        name = app.query_one(f"#step-{index}-name", Static)
        if name.display:
            shown_rows.append((shown(app, f"#step-{index}-name"),
                               shown(app, f"#step-{index}-reason")))
    return shown_rows


async def test_the_step_rows_are_mounted_with_the_first_report_and_follow_the_selection(
        app: WhdebugApp, monkeypatch: pytest.MonkeyPatch) -> None:
    at_first_frame: list[int] = []
    real_first_frame = app._first_frame

    def first_frame() -> None:
        at_first_frame.append(len(app.query("#pipeline-steps > Static")))
        real_first_frame()

    monkeypatch.setattr(app, "_first_frame", first_frame)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.current is not None and app.current.capture_id == 3)
        await pilot.pause()
        assert at_first_frame == [0]  # no report yet: no step rows built for the first frame
        fired = steps(app)
        assert [name for name, _ in fired] == [
            "challenge", "verify", "extract", "dedupe", "match"]
        assert "not reached" not in [reason for _, reason in fired]
        assert "fires" in shown(app, "#pipeline-outcome").splitlines()[0]

        app.captures.cursor = 1  # #2: the signature fails, the later steps are not reached
        await wait_for(pilot, lambda: app.current is not None and app.current.capture_id == 2)
        await pilot.pause()
        rejected = steps(app)
        assert rejected[1][0] == "verify" and "not reached" not in rejected[1][1]
        assert [reason for _, reason in rejected[2:]] == ["not reached"] * 3
        assert "rejected" in shown(app, "#pipeline-outcome").splitlines()[0]

        app.captures.cursor = 0  # back to #3: the same rows as the first time
        await wait_for(pilot, lambda: app.current is not None and app.current.capture_id == 3)
        await pilot.pause()
        assert steps(app) == fired
        assert len(app.query("#pipeline-steps > Static")) == 24  # mounted once


def test_reload_takes_the_ids_read_in_a_thread(tmp_path: Path) -> None:
    path = tmp_path / "captures.db"
    with Store.open(path) as store:
        store.insert_many(make_capture({"n": n}) for n in range(5))
        rows = CaptureRows(store)
        read_on: list[str] = []
        real_ids = store.ids

        def ids(last: int | None = None) -> list[int]:
            read_on.append(threading.current_thread().name)
            return real_ids(last)

        store.ids = ids  # type: ignore[method-assign]
        rows.preload()
        rows.reload()
        assert read_on == ["whdebug-read-ids"]
        assert [rows.id_at(p) for p in range(len(rows))] == [5, 4, 3, 2, 1]
        rows.reload()  # later reloads read on the caller's thread, again
        assert read_on == ["whdebug-read-ids", threading.current_thread().name]


def test_reload_raises_what_reading_in_the_thread_raised(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "captures.db")
    store.close()
    rows = CaptureRows(store)
    rows.preload()
    with pytest.raises(StoreError, match="closed"):
        rows.reload()


@pytest.fixture
def indexed(tmp_path: Path) -> WhdebugApp:
    """Six captures (#3 signed wrongly) whose verdicts `whdebug list` put in the index."""
    store, definition = deliveries(tmp_path, 6, wrong=3)
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"webhookSecret": SECRET}))
    cli = run("list", "--store", str(store), "--definition", str(definition),
              "--credentials", str(credentials), "--json")
    assert cli.exit_code == 0, cli.output
    options = TuiOptions(store_path=store, definition_path=definition,
                         credentials_path=credentials, listen=False)
    return WhdebugApp(options, watch=False)


@pytest.mark.parametrize("thread_fails", [False, True])
async def test_the_first_frames_verdicts_are_read_beside_the_ids(
        indexed: WhdebugApp, thread_fails: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The index's verdicts for the first screenful are read in the thread reading the ids;
    if that fails, on the UI thread as before. Either way the first frame has them."""
    from whdebug.tui import app as app_module
    from whdebug.tui import workers

    def nothing(*args: Any, **kwargs: Any) -> None:
        """No worker reads a verdict: only what the app read before its first frame shows."""

    monkeypatch.setattr(workers, "compute_verdicts", nothing)
    monkeypatch.setattr(workers, "fill_index", nothing)
    # the fixture's own app reads its first verdicts in its own thread: let it finish first,
    # or it may call the patched function below and count as one more read
    indexed.rows.reload()
    real = app_module.first_verdicts
    read_on: list[str] = []

    def first_verdicts(*args: Any) -> Any:
        read_on.append(threading.current_thread().name)
        if thread_fails and len(read_on) == 1:
            raise RuntimeError("planted")
        return real(*args)

    monkeypatch.setattr(app_module, "first_verdicts", first_verdicts)
    app = WhdebugApp(indexed.options, watch=False)  # built after the patch: it reads at once
    at_first_frame: list[list[str | None]] = []
    real_first_frame = app._first_frame

    def first_frame() -> None:
        assert app.analyzer is not None
        at_first_frame.append([getattr(app.analyzer.verdict(i), "status", None)
                               for i in range(6, 0, -1)])
        real_first_frame()

    monkeypatch.setattr(app, "_first_frame", first_frame)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: bool(at_first_frame))
    assert at_first_frame == [["fires", "fires", "fires", "rejected", "fires", "fires"]]
    ui = threading.main_thread().name
    assert read_on == (["whdebug-read-ids", ui] if thread_fails else ["whdebug-read-ids"])


async def test_the_heap_built_at_start_up_is_frozen_once_started(
        indexed: WhdebugApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """Full collections over a started app's heap took 60-100 ms with 100,000 captures and
    landed on keystrokes: what exists once it has started is frozen (gc.freeze)."""
    import gc

    from whdebug.tui import app as app_module

    monkeypatch.setattr(app_module, "FREEZE_AFTER", 0.05)
    gc.unfreeze()
    app = WhdebugApp(indexed.options, watch=False)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: gc.get_freeze_count() > 0)
            assert app.painted.is_set()
    finally:
        gc.unfreeze()
