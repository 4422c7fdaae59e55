"""Shared pytest setup: paths to the committed fixtures, and hypothesis profiles."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# CI replays the same examples on every run (a fixed seed, no example database); locally each
# run explores new ones. `--hypothesis-profile NAME` still overrides the choice.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev")
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# Output without a terminal is never wrapped unless COLUMNS says a width (cli/output/text.py).
# pytest-xdist's workers inherit COLUMNS=80 and LINES=24, so the tests start from no width,
# wherever they run; a test that needs one passes COLUMNS itself.
for _variable in ("COLUMNS", "LINES"):
    os.environ.pop(_variable, None)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "tui"))
pytest_plugins = ["pg_support"]


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(autouse=True)
def _apps_keep_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests share their process's garbage collector: no TUI app freezes the heap (see
    whdebug.tui.app.FREEZE_AFTER), except in the test that checks it does. The TUI tests
    import the app module when collected, so it is there before they run."""
    module = sys.modules.get("whdebug.tui.app")
    if module is not None:
        monkeypatch.setattr(module, "FREEZE_AFTER", None)
