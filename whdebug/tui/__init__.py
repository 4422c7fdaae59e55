"""The Textual TUI: `run_tui` for `whdebug` / `whdebug tui`, `run_demo` for `whdebug demo`.

Textual is imported only when one of them runs, so importing this package stays cheap.
"""

from __future__ import annotations

from whdebug.tui.options import TuiOptions

__all__ = ["TuiOptions", "run_demo", "run_tui"]


def run_tui(options: TuiOptions) -> int:
    """Run the TUI until the user quits; the exit status (0)."""
    from whdebug.tui.app import WhdebugApp

    result = WhdebugApp(options).run()
    return result if isinstance(result, int) else 0


def run_demo(options: TuiOptions | None = None) -> int:
    """Run the TUI on the bundled demo in a temporary directory, removed at exit."""
    import signal
    import tempfile
    from dataclasses import replace
    from pathlib import Path

    from whdebug.tui.app import WhdebugApp
    from whdebug.tui.demo import build_demo, remove_demo

    directory = Path(tempfile.mkdtemp(prefix="whdebug-demo-"))
    try:
        setup = build_demo(directory)
        demo_options = replace(options or TuiOptions(), store_path=setup.store_path,
                               title="whdebug demo")
        setup.workspace.missing_part = demo_options.missing_part
        setup.workspace.nullish = demo_options.nullish
        notice = (f"Demo: {setup.captures} captures from {setup.scenarios} scenarios. "
                  f"Definitions are copies in {directory}/definitions: edit one and watch "
                  "the verdicts change.")
        app = WhdebugApp(demo_options, workspace=setup.workspace, notice=notice)
        # A closed terminal or `kill` ends the app normally, so the directory is removed.
        for name in ("SIGHUP", "SIGTERM"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), lambda *_: app.exit())
        result = app.run()
    finally:
        remove_demo(directory)
    return result if isinstance(result, int) else 0
