"""One sequence of captures, one dedupe verdict per capture, whichever face looks at it.

The store holds a delivery, an unrelated one, a wrongly signed delivery whose id is reused
later, 60 fillers, then (the live part) redeliveries of the first two, the correctly signed
reuse of the rejected id, and its redelivery. A look-back of 50 captures would call the first
two redeliveries new; every face must say "duplicate of the original", as `replay --all` does.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_support import json_lines, run
from factories import NOW, SECRET, make_definition, sign
from tui_support import all_analysed, list_lines, screen_text, select

from whdebug.model.request import Capture, CapturedRequest, Source
from whdebug.store.store import Store
from whdebug.tui.app import WhdebugApp
from whdebug.tui.options import TuiOptions

ROOT = Path(__file__).resolve().parent.parent
FILLERS = 60
PATH = "/miniapps/acme/webhooks"
Verdicts = dict[int, int | str | None]


def body(transaction: str, event: str = "deal.won") -> bytes:
    return json.dumps({"event": event, "id": transaction}).encode()


def delivery(transaction: str, *, secret: str = SECRET) -> Capture:
    raw = body(transaction)
    return Capture(CapturedRequest("POST", PATH, headers=(("Content-Type", "application/json"),
                                                          ("X-Signature", sign(raw, secret))),
                                   body=raw), Source(received_at=NOW))


EARLIER = [delivery("A"), delivery("B"), delivery("W", secret="not-the-secret"),
           *(delivery(f"filler-{n}") for n in range(FILLERS))]
"""Captures #1..#63: in the store before `serve` starts."""
LIVE = ["A", "B", "W", "W"]
"""Captures #64..#67, sent to `serve`."""
EXPECTED: Verdicts = {64: 1, 65: 2, 66: None, 67: 66}
"""The live captures' verdicts: duplicate of which capture, or None (new)."""


@pytest.fixture
def definition_path(tmp_path: Path) -> Path:
    path = tmp_path / "acme.json"
    path.write_text(json.dumps(make_definition().data))
    return path


def seeded_store(tmp_path: Path) -> Path:
    store_path = tmp_path / "captures.db"
    with Store.open(store_path) as store:
        assert store.insert_many(EARLIER) == list(range(1, len(EARLIER) + 1))
    return store_path


def replay_verdicts(store_path: Path, definition_path: Path) -> tuple[Verdicts, dict[int, str]]:
    """`whdebug replay --all --json`: every capture's duplicate_of, and its outcome."""
    result = run("replay", "--all", "--json", "--store", str(store_path),
                 "--definition", str(definition_path), "--credential", f"webhookSecret={SECRET}",
                 "--now", NOW.isoformat())
    assert result.exit_code == 1, result.output  # duplicates and a rejection: not all fire
    reports = json_lines(result)[:-1]
    verdicts = {r["source"]["capture_id"]: r["transaction"]["duplicate_of"] for r in reports}
    outcomes = {r["source"]["capture_id"]: r["outcome"]["status"] for r in reports}
    return verdicts, outcomes


@pytest.fixture
def serve(tmp_path: Path, definition_path: Path) -> Iterator[Any]:
    """Start a real `whdebug serve` on 127.0.0.1:0; yields a function (strict) -> lines."""
    processes: list[tuple[subprocess.Popen[str], threading.Thread]] = []

    def start(store_path: Path, *extra: str) -> tuple[str, queue.Queue[str]]:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "300"}
        process = subprocess.Popen(
            [sys.executable, "-m", "whdebug", "serve", "--port", "0", "--store",
             str(store_path), "--definition", str(definition_path),
             "--credential", f"webhookSecret={SECRET}", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        reader = threading.Thread(target=lambda: [lines.put(line) for line in stdout],
                                  daemon=True)
        reader.start()
        processes.append((process, reader))
        first = lines.get(timeout=30)
        found = re.search(r"listening on (http://\S+)", first)
        assert found, first
        return found.group(1), lines

    yield start
    for process, reader in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(10)
        assert process.stdout is not None
        process.stdout.close()


def serve_verdicts(lines: queue.Queue[str], count: int) -> Verdicts:
    """The console lines of `count` captures: each one's duplicate_of."""
    verdicts: Verdicts = {}
    while len(verdicts) < count:
        line = lines.get(timeout=60)
        found = re.search(r"#(\d+)\s*$", line)
        if found is None or " -> " not in line:
            continue
        duplicate = re.search(r"duplicate of #(\d+)", line)
        verdicts[int(found.group(1))] = int(duplicate.group(1)) if duplicate else None
    return verdicts


def post_live(url: str) -> list[int]:
    ids = []
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:
        for transaction in LIVE:
            raw = body(transaction)
            response = client.post(PATH, content=raw, headers={
                "Content-Type": "application/json", "X-Signature": sign(raw)})
            assert response.status_code == 200
            ids.append(int(response.headers["x-whdebug-capture-id"]))
    return ids


@pytest.mark.parametrize("mode", [(), ("--strict",)], ids=["analyst", "strict-inline"])
def test_serve_gives_the_replay_verdicts(tmp_path: Path, definition_path: Path, serve: Any,
                                         mode: tuple[str, ...]) -> None:
    store_path = seeded_store(tmp_path)
    url, lines = serve(store_path, *mode)
    assert post_live(url) == sorted(EXPECTED)
    served = serve_verdicts(lines, len(LIVE))
    assert served == EXPECTED
    replayed, outcomes = replay_verdicts(store_path, definition_path)
    assert {i: replayed[i] for i in EXPECTED} == served
    assert outcomes[3] == "rejected" and outcomes[66] == "fires"  # W was never accepted


async def test_the_tui_list_gives_the_replay_verdicts(tmp_path: Path, definition_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("whdebug.tui.app.FREEZE_AFTER", None)  # this process's collector
    store_path = seeded_store(tmp_path)
    with Store.open(store_path) as store:
        store.insert_many(delivery(t) for t in LIVE)
    replayed, _ = replay_verdicts(store_path, definition_path)
    assert {i: replayed[i] for i in EXPECTED} == EXPECTED
    assert all(replayed[i] is None for i in range(1, len(EARLIER) + 1))

    options = TuiOptions(store_path=store_path, definition_path=definition_path,
                         credentials={"webhookSecret": SECRET}, listen=False, now=NOW)
    app = WhdebugApp(options, watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await all_analysed(pilot, app)
        verdicts = {capture_id: app.captures.verdict_of(capture_id)
                    for capture_id in app.rows.ids_between(0, app.rows.total)}
        duplicates = {i for i, v in verdicts.items() if v is not None and v.status == "duplicate"}
        assert duplicates == {i for i, original in replayed.items() if original is not None}
        assert {i: v.duplicate_of if v else "none" for i, v in verdicts.items()} == replayed
        rows = list_lines(app)[1:5]  # newest first: #67, #66, #65, #64
        assert ["duplicate" in row for row in rows] == [True, False, True, True]
        await select(pilot, app, 3)  # #64, the redelivery of #1
        assert "duplicate of capture #1" in screen_text(app)
