"""TUI responsiveness on a 100,000-capture store (SPEC 8; not a test).

    python bench/tui.py [--captures 100000] [--store PATH] [--keep] [--skip-browse]

Builds (or reuses, with --store) a store of ~2 KB GitHub-style captures (one in ten signed
with another secret), then prints:

1. the analysis index filled through the command a user runs (`whdebug list --definition
   ... --last 1`), with the engine's worker processes and in one process: captures analysed
   per second, end to end, beside `whdebug replay ID... --json` analysing the oldest 20,000
   of the same captures without the index (the anchor);
2. first paint in a fresh process, from before importing the app to the first frame drawn
   with rows and the newest row's verdict (from the index), beside a bare Textual app's first
   frame in a fresh process, and their ratio (target < 0.5 s, bar 1.5 s); and to the app
   being idle after it (the pilot's pause: the hidden tabs mounted after the first frame);
3. `/` filters over every capture (event, outcome, finding code): from Enter to the matching
   rows drawn, beside the bare SQL query answering the same question (target < 1 s);
4. RSS after load, and after jumping to the oldest capture (target < 200 MB);
5. time from moving the cursor to the selected capture's analysis being drawn, for a
   neighbouring row and for a far row nothing has analysed yet (target < 100 ms).

Figures are wall-clock on whatever else the machine runs: on a shared machine, run it twice
and read the ratios, which share the noise.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from whdebug.model.request import Capture, CapturedRequest, Source  # noqa: E402
from whdebug.store.store import Store  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = ROOT / "fixtures" / "definitions" / "github.json"
SECRET = "bench-secret-value"
START = datetime(2025, 11, 1, tzinfo=UTC)


def github_request(index: int, size: int = 2048) -> Capture:
    action = ("opened", "closed", "synchronize")[index % 3]
    document = {
        "action": action,
        "number": index,
        "pull_request": {"id": index, "node_id": f"PR_bench{index}", "title": "x" * 40,
                         "updated_at": (START + timedelta(seconds=index)).isoformat(),
                         "body": ""},
        "repository": {"id": 9001, "full_name": "acme/shop"},
    }
    padding = size - len(json.dumps(document, separators=(",", ":")))
    document["pull_request"]["body"] = "b" * max(padding, 0)  # type: ignore[index]
    body = json.dumps(document, separators=(",", ":")).encode()
    secret = SECRET if index % 10 else "some-other-secret"
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = (
        ("Content-Type", "application/json"),
        ("User-Agent", "GitHub-Hookshot/bench"),
        ("X-GitHub-Event", "pull_request"),
        ("X-GitHub-Delivery", f"d-{index}"),
        ("X-Hub-Signature-256", signature),
    )
    request = CapturedRequest("POST", "/miniapps/github/webhooks", headers=headers, body=body)
    return Capture(request, Source(received_at=START + timedelta(seconds=index),
                                   client="127.0.0.1"))


def build_store(path: Path, count: int) -> None:
    started = time.perf_counter()
    with Store.open(path) as store:
        existing = store.count()
        for first in range(existing, count, 5000):
            store.insert_many(github_request(i) for i in range(first, min(first + 5000, count)))
    print(f"store: {count:,} captures at {path} "
          f"(built in {time.perf_counter() - started:.1f} s)" if existing < count else
          f"store: reusing {existing:,} captures at {path}")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def wait_until(pilot: object, condition: object, timeout: float = 10.0) -> float:
    """Seconds until condition() holds, pausing the pilot between checks."""
    started = time.perf_counter()
    while not condition():  # type: ignore[operator]
        if time.perf_counter() - started > timeout:
            raise TimeoutError("condition not met")
        await pilot.pause(0.01)  # type: ignore[attr-defined]
    return time.perf_counter() - started


FILTERS = (
    ("code:SIG_MISMATCH", "SELECT count(*) FROM analysis_codes WHERE set_id = ? "
                          "AND code = 'SIG_MISMATCH'"),
    ("outcome:rejected", "SELECT count(*) FROM analyses WHERE set_id = ? AND outcome = "
                         "'rejected'"),
    ("event:pull_request.closed", "SELECT count(*) FROM analyses WHERE set_id = ? AND "
                                  "event = 'pull_request.closed'"),
)


REPLAY_ANCHOR = 20_000
"""Captures the anchor replays (`whdebug replay --store --last N --json`)."""


def fill_index(store_path: Path) -> dict[str, float]:
    """`whdebug list --definition` fills the index for every capture (end to end): with two
    of the engine's worker processes (WHDEBUG_WORKERS=2), then again in one process (the
    default) after emptying the index; beside `whdebug replay ID...` of the oldest N
    captures, the same analyses of the same captures without the index (the anchor)."""
    credentials = store_path.parent / "bench-credentials.json"
    credentials.write_text(json.dumps({"webhookSecret": SECRET}))
    command = [sys.executable, "-m", "whdebug", "list", "--store", str(store_path),
               "--definition", str(DEFINITION), "--credentials", str(credentials),
               "--last", "1", "--json"]
    environment = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    results: dict[str, float] = {}
    for label, workers in (("workers", "2"), ("one_process", "1")):
        _empty_index(store_path)
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True,
                       env={**environment, "WHDEBUG_WORKERS": workers})
        results[f"fill_{label}_s"] = time.perf_counter() - started
    results["analysed"] = _rows(store_path)
    started = time.perf_counter()  # again: everything is in the index now
    subprocess.run(command, check=True, capture_output=True, env=environment)
    results["indexed_list_s"] = time.perf_counter() - started
    anchor = min(REPLAY_ANCHOR, int(results["analysed"]) or REPLAY_ANCHOR)
    # By id, oldest first: `--last N` would also seed the dedupe history with every capture
    # before them, which the fill does not count.
    replay = [sys.executable, "-m", "whdebug", "replay", "--store", str(store_path),
              "--definition", str(DEFINITION), "--credentials", str(credentials), "--json",
              *(str(i) for i in range(1, anchor + 1))]
    started = time.perf_counter()
    subprocess.run(replay, capture_output=True, env=environment)  # exit 1: some reject
    results["replay_rate"] = anchor / (time.perf_counter() - started)
    results["replay_count"] = anchor
    return results


def _empty_index(store_path: Path) -> None:
    connection = sqlite3.connect(store_path)
    try:
        connection.execute("DELETE FROM analysis_codes")
        connection.execute("DELETE FROM analyses")
        connection.commit()
    except sqlite3.OperationalError:  # a store from before the index: no table yet
        pass
    finally:
        connection.close()


def _rows(store_path: Path) -> int:
    connection = sqlite3.connect(store_path)
    try:
        return int(connection.execute("SELECT count(*) FROM analyses").fetchone()[0])
    except sqlite3.OperationalError:  # a store from before the index: no table yet
        return 0
    finally:
        connection.close()


FIRST_PAINT_CHILD = """
import time, sys, asyncio
started = time.perf_counter()
sys.path.insert(0, {root!r})
bare = {bare!r}
frame = []
if bare:
    from textual.app import App
    from textual.widgets import Static

    class Bare(App):
        def compose(self):
            yield Static("captures")

        def on_mount(self):
            self.call_after_refresh(lambda: frame.append(time.perf_counter()))

    app = Bare()
else:
    from pathlib import Path
    from whdebug.tui.app import WhdebugApp
    from whdebug.tui.options import TuiOptions

    app = WhdebugApp(TuiOptions(store_path=Path({store!r}), definition_path=Path({definition!r}),
                                credentials={{"webhookSecret": {secret!r}}}, listen=False),
                     watch=False)
    first_frame = app._first_frame

    def drawn():  # the first frame is drawn: were the newest row's verdict in it?
        known = app.analyzer.verdict(app.rows.id_at(0)) is not None
        frame.append(time.perf_counter() if known else None)
        first_frame()

    app._first_frame = drawn

async def main():
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        if not bare:
            while app.analyzer.verdict(app.rows.id_at(0)) is None:
                await pilot.pause(0.005)
        idle = time.perf_counter()
        painted = frame[0] if frame and frame[0] is not None else idle
        print(painted - started, idle - started)

asyncio.run(main())
"""


def first_paint(store_path: Path, *, bare: bool) -> tuple[float, float]:
    """Seconds to the first frame (with rows and the newest row's verdict), and to the app
    being idle after it (the pilot's pause; lazily mounted parts and workers done), in a
    fresh process; medians of 3."""
    code = FIRST_PAINT_CHILD.format(root=str(ROOT), bare=bare, store=str(store_path),
                                    definition=str(DEFINITION), secret=SECRET)
    frames, idles = [], []
    for _ in range(3):
        result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True)
        frame, idle = result.stdout.strip().splitlines()[-1].split()
        frames.append(float(frame))
        idles.append(float(idle))
    return statistics.median(frames), statistics.median(idles)


def bare_queries(store_path: Path) -> dict[str, float]:
    """The SQL answering each filter's question, alone (the floor a filter can reach)."""
    connection = sqlite3.connect(store_path)
    (set_id,) = connection.execute(
        "SELECT id FROM analysis_sets ORDER BY used_at DESC LIMIT 1").fetchone()
    times = {}
    for text, sql in FILTERS:
        started = time.perf_counter()
        connection.execute(sql, (set_id,)).fetchone()
        times[text] = time.perf_counter() - started
    connection.close()
    return times


async def measure(store_path: Path, browse: bool = True) -> dict[str, float | list[float]]:
    from textual.widgets import Input

    from whdebug.tui.app import WhdebugApp
    from whdebug.tui.options import TuiOptions

    options = TuiOptions(store_path=store_path, definition_path=DEFINITION,
                         credentials={"webhookSecret": SECRET}, listen=False)
    app = WhdebugApp(options, watch=False)
    results: dict[str, float | list[float]] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        results["rss_after_load_mb"] = rss_mb()
        await wait_until(pilot, lambda: app.current is not None)
        await wait_until(pilot, lambda: app.analyzer is not None
                         and app.analyzer.history.complete, timeout=120)
        for text, _ in FILTERS:
            await pilot.press("slash")
            app.screen.query_one(Input).value = text
            pressed = time.perf_counter()
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.main.filter_scanned[1] and len(app.rows) > 0)
            results[f"filter {text}"] = time.perf_counter() - pressed
            results[f"matches {text}"] = float(len(app.rows))
        await pilot.press("slash", "ctrl+u", "enter")
        await pilot.pause()
        if not browse:
            return results

        neighbour: list[float] = []
        for _ in range(20):
            before = app.shown_at
            pressed = time.perf_counter()
            await pilot.press("down")
            await wait_until(pilot, lambda b=before: app.shown_at != b)
            assert app.shown_at is not None
            neighbour.append(app.shown_at - pressed)
        results["select_neighbour_ms"] = [t * 1000 for t in neighbour]

        far: list[float] = []
        engine: list[float] = []
        for step in range(10):
            target = 5_000 + step * 7_919
            before = app.shown_at
            pressed = time.perf_counter()
            app.captures.cursor = target
            await wait_until(pilot, lambda b=before: app.shown_at != b)
            assert app.shown_at is not None and app.current is not None
            far.append(app.shown_at - pressed)
            engine.append(app.current.elapsed)
        results["select_far_ms"] = [t * 1000 for t in far]
        results["select_far_analysis_ms"] = [t * 1000 for t in engine]

        pressed = time.perf_counter()
        await pilot.press("end")
        await wait_until(pilot, lambda: app.current is not None
                         and app.current.capture_id == app.rows.id_at(len(app.rows) - 1))
        results["jump_to_oldest_ms"] = (time.perf_counter() - pressed) * 1000
        for _ in range(30):
            await pilot.press("pageup")
        await pilot.pause(0.2)
        results["rss_after_scrolling_mb"] = rss_mb()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", type=int, default=100_000)
    parser.add_argument("--store", type=Path, help="build or reuse the store here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary store")
    parser.add_argument("--skip-browse", action="store_true",
                        help="measure index, first paint and filters only")
    args = parser.parse_args()
    directory = None
    if args.store is None:
        directory = Path(tempfile.mkdtemp(prefix="whdebug-bench-tui-"))
        args.store = directory / "captures.db"
    try:
        build_store(args.store, args.captures)
        index = fill_index(args.store)
        paint = first_paint(args.store, bare=False)
        bare_paint = first_paint(args.store, bare=True)
        queries = bare_queries(args.store)
        results = asyncio.run(measure(args.store, not args.skip_browse))
    finally:
        if directory is not None and not args.keep:
            shutil.rmtree(directory, ignore_errors=True)

    def summary(values: float | list[float]) -> str:
        if isinstance(values, list):
            ordered = sorted(values)
            p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
            return (f"median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, "
                    f"max {ordered[-1]:.1f} ms")
        return f"{values:.3f}"

    analysed = int(index["analysed"])
    for label, name in (("one_process", "in one process"), ("workers", "with 2 workers")):
        took = index[f"fill_{label}_s"]
        print(f"index fill {name:<22} {analysed:,} analysed in {took:.1f} s "
              f"({analysed / took:,.0f} captures/s; {analysed / took / index['replay_rate']:.2f}x "
              f"the replay anchor)")
    print(f"replay anchor (whdebug replay ID... --json, the oldest {index['replay_count']:,.0f}): "
          f"{index['replay_rate']:,.0f} captures/s; the list once indexed: "
          f"{index['indexed_list_s']:.2f} s")
    print(f"first paint (first frame): {paint[0]:.2f} s   (target < 0.5 s, bar 1.5 s); bare "
          f"Textual app {bare_paint[0]:.2f} s; ratio {paint[0] / bare_paint[0]:.2f}x")
    print(f"  idle after it:         {paint[1]:.2f} s   (hidden tabs mounted, workers "
          f"started); bare Textual app {bare_paint[1]:.2f} s")
    for text, _ in FILTERS:
        took = float(results[f"filter {text}"])  # type: ignore[arg-type]
        print(f"filter {text:<26} {took * 1000:6.0f} ms  ({results[f'matches {text}']:,.0f} "
              f"matches; target < 1 s); bare SQL {queries[text] * 1000:.1f} ms")
    print(f"RSS after load:         {results['rss_after_load_mb']:.0f} MB  (target < 200 MB)")
    if args.skip_browse:
        return
    print(f"RSS after scrolling:    {results['rss_after_scrolling_mb']:.0f} MB")
    print(f"select next capture:    {summary(results['select_neighbour_ms'])}  (target < 100 ms)")
    print(f"select far capture:     {summary(results['select_far_ms'])}")
    print(f"  of which analysis:    {summary(results['select_far_analysis_ms'])}")
    print(f"jump to oldest capture: {results['jump_to_oldest_ms']:.0f} ms")


if __name__ == "__main__":
    main()
