"""The TUI tests share their process's garbage collector: no app freezes the heap (see
whdebug.tui.app.FREEZE_AFTER), except in the test that checks it does."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_heap_freeze(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("whdebug.tui.app.FREEZE_AFTER", None)
