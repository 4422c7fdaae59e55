"""Save an SVG screenshot of the demo (for the README): `python -m whdebug.tui.screenshot OUT.svg`.

The demo runs headless without its receiver; the cursor rests on a capture whose pipeline
explains a failure, so the picture shows what whdebug is for. `--deliveries` shows the
Deliveries view instead, over a store of sample deliveries (whdebug samples) with retries.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path


async def _shoot(output: Path, width: int, height: int, position: int, tab: str) -> None:
    from whdebug.tui.app import WhdebugApp
    from whdebug.tui.demo import build_demo, remove_demo
    from whdebug.tui.options import TuiOptions

    directory = Path(tempfile.mkdtemp(prefix="whdebug-demo-"))
    try:
        setup = build_demo(directory)
        options = TuiOptions(store_path=setup.store_path, listen=False, title="whdebug demo")
        app = WhdebugApp(options, workspace=setup.workspace, watch=False)
        app.animation_level = "none"
        async with app.run_test(size=(width, height)) as pilot:
            analyzer = app.analyzer
            deadline = time.monotonic() + 10
            while analyzer is not None and analyzer.analysed() < app.rows.total:
                if time.monotonic() > deadline:
                    break
                await pilot.pause(0.05)
            app.captures.cursor = position
            await pilot.pause(0.3)
            await pilot.press(tab)
            await pilot.pause(0.3)
            app.save_screenshot(filename=output.name, path=str(output.parent or Path(".")))
    finally:
        remove_demo(directory)


def _deliveries_store(path: Path) -> None:
    """Sample deliveries over half an hour: retries that fail, then succeed, and some that don't."""
    from datetime import UTC, datetime, timedelta

    from whdebug.model.request import Capture, ForwardResult, Reply, Source
    from whdebug.store.store import Store
    from whdebug.tools.samples import load_sample, sample_request

    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    plan = [  # (provider, event, [(minute, status, seconds to answer)])
        ("github", "pull_request.opened", [(1, 200, 0.08)]),
        ("shopify", "orders/create", [(3, 500, 0.2), (4, 500, 0.2), (9, 503, 0.1)]),
        ("slack", "message", [(6, 200, 4.2), (6, 200, 0.1)]),
        ("stripe", "payment_intent.succeeded", [(12, 200, 0.05)]),
        ("woocommerce", "order.created", [(15, 502, 0.3)]),
        ("salla", "order.created", [(18, 200, 0.1)]),
        ("standard-webhooks", "invoice.paid", [(21, 503, 0.1), (21, 503, 0.1), (26, 200, 0.1)]),
        ("github", "push", [(24, 200, 0.06)]),
        ("shopify", "customers/create", [(28, 200, 0.09)]),
    ]
    captures = []
    for provider, event, attempts in plan:
        sample = load_sample(provider, event)
        request = sample_request(sample, start + timedelta(minutes=attempts[0][0]),
                                 "whsec_" + "QUJD" * 8)
        for number, (minute, status, latency) in enumerate(attempts):
            headers = request.headers
            if provider == "slack" and number:
                headers = (*headers, ("X-Slack-Retry-Num", str(number)),
                           ("X-Slack-Retry-Reason", "http_timeout"))
            retry = request.__class__(request.method, request.path, headers=headers,
                                      body=request.body)
            at = start + timedelta(minutes=minute, seconds=7 * number)
            captures.append((at, Capture(retry, Source(received_at=at), Reply(200),
                                         ForwardResult(status, latency=latency))))
    with Store.open(path) as store:
        store.insert_many(capture for _, capture in sorted(captures, key=lambda x: x[0]))


async def _shoot_deliveries(output: Path, width: int, height: int) -> None:
    from whdebug.tui.app import WhdebugApp
    from whdebug.tui.options import TuiOptions
    from whdebug.tui.screens.deliveries import DeliveriesScreen

    with tempfile.TemporaryDirectory(prefix="whdebug-deliveries-") as directory:
        store_path = Path(directory) / "captures.db"
        _deliveries_store(store_path)
        app = WhdebugApp(TuiOptions(store_path=store_path, listen=False, title="whdebug"),
                         watch=False)
        app.animation_level = "none"
        async with app.run_test(size=(width, height)) as pilot:
            await pilot.press("v")
            deadline = time.monotonic() + 10
            while not (isinstance(app.screen, DeliveriesScreen) and app.screen.loaded):
                if time.monotonic() > deadline:
                    break
                await pilot.pause(0.05)
            await pilot.press("down")
            await pilot.pause(0.3)
            app.save_screenshot(filename=output.name, path=str(output.parent or Path(".")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--size", default="100x30", help="WIDTHxHEIGHT (default 100x30)")
    parser.add_argument("--row", type=int, default=1, help="list position to select")
    parser.add_argument("--tab", default="1", help="1 Pipeline, 2 Signature, 3 Event, ...")
    parser.add_argument("--deliveries", action="store_true",
                        help="the Deliveries view over sample deliveries with retries")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.lower().split("x"))
    os.environ.setdefault("TZ", "UTC")
    time.tzset()
    if args.deliveries:
        asyncio.run(_shoot_deliveries(args.output.resolve(), width, height))
    else:
        asyncio.run(_shoot(args.output.resolve(), width, height, args.row, args.tab))
    print(args.output)


if __name__ == "__main__":
    main()
