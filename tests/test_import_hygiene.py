"""The engine, store and formats run without the TUI or server stack."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def imported_by(statement: str) -> set[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                            text=True)
    return set(json.loads(result.stdout))


@pytest.mark.parametrize(("statement", "present", "forbidden"), [
    ("import whdebug.engine, whdebug.engine.lint.definition",
     "whdebug.engine.analyze", ("textual", "starlette", "uvicorn", "rich", "click", "sqlite3",
                                "whdebug.store.store", "whdebug.cli")),
    ("import whdebug.store.store, whdebug.formats.http, whdebug.formats.har, "
     "whdebug.formats.capture_json",
     "whdebug.store.store", ("textual", "starlette", "uvicorn", "rich", "click", "whdebug.engine")),
])
def test_core_imports_stay_light(statement: str, present: str, forbidden: tuple[str, ...]) -> None:
    modules = imported_by(statement)
    assert present in modules
    for name in forbidden:
        assert name not in modules, f"{statement} pulled in {name}"
