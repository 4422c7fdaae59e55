"""Save an SVG screenshot of the demo (for the README): `python -m whdebug.tui.screenshot OUT.svg`.

The demo runs headless without its receiver; the cursor rests on a capture whose pipeline
explains a failure, so the picture shows what whdebug is for.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--size", default="100x30", help="WIDTHxHEIGHT (default 100x30)")
    parser.add_argument("--row", type=int, default=1, help="list position to select")
    parser.add_argument("--tab", default="1", help="1 Pipeline, 2 Signature, 3 Event, ...")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.lower().split("x"))
    os.environ.setdefault("TZ", "UTC")
    time.tzset()
    asyncio.run(_shoot(args.output.resolve(), width, height, args.row, args.tab))
    print(args.output)


if __name__ == "__main__":
    main()
