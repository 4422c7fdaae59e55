"""TUI responsiveness on a 100,000-capture store (SPEC 8; not a test).

    python bench/tui.py [--captures 100000] [--store PATH] [--keep]

Builds (or reuses, with --store) a store of ~2 KB GitHub-style captures, then runs the app
headless and prints:

1. time to first paint: from before importing the app to the first rendered frame with
   rows (target < 1.5 s);
2. RSS after load, and after jumping to the oldest capture (target < 200 MB);
3. time from moving the cursor to the selected capture's analysis being drawn, for a
   neighbouring row and for a far row nothing has analysed yet (target < 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import shutil
import statistics
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


async def measure(store_path: Path) -> dict[str, float | list[float]]:
    started = time.perf_counter()
    from whdebug.tui.app import WhdebugApp
    from whdebug.tui.options import TuiOptions

    options = TuiOptions(store_path=store_path, definition_path=DEFINITION,
                         credentials={"webhookSecret": SECRET}, listen=False)
    app = WhdebugApp(options, watch=False)
    results: dict[str, float | list[float]] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        results["first_paint_s"] = time.perf_counter() - started
        results["rss_after_load_mb"] = rss_mb()
        await wait_until(pilot, lambda: app.current is not None)

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
    args = parser.parse_args()
    directory = None
    if args.store is None:
        directory = Path(tempfile.mkdtemp(prefix="whdebug-bench-tui-"))
        args.store = directory / "captures.db"
    try:
        build_store(args.store, args.captures)
        results = asyncio.run(measure(args.store))
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

    print(f"first paint:            {results['first_paint_s']:.2f} s   (target < 1.5 s)")
    print(f"RSS after load:         {results['rss_after_load_mb']:.0f} MB  (target < 200 MB)")
    print(f"RSS after scrolling:    {results['rss_after_scrolling_mb']:.0f} MB")
    print(f"select next capture:    {summary(results['select_neighbour_ms'])}  (target < 100 ms)")
    print(f"select far capture:     {summary(results['select_far_ms'])}")
    print(f"  of which analysis:    {summary(results['select_far_analysis_ms'])}")
    print(f"jump to oldest capture: {results['jump_to_oldest_ms']:.0f} ms")


if __name__ == "__main__":
    main()
