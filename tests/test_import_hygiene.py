"""The engine, store and formats run without the TUI or server stack; the receiver without
rich; `whdebug --help` without any of them."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

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
    ("import whdebug.receiver.server, whdebug.receiver.analyst",
     "whdebug.receiver.server", ("textual", "whdebug.cli", "whdebug.tui")),
    # `whdebug --help` loads every command module, and nothing heavy.
    ("from click.testing import CliRunner; from whdebug.cli import main; "
     "CliRunner().invoke(main, ['--help'])",
     "whdebug.cli.commands.replay", ("rich", "textual", "starlette", "uvicorn",
                                     "whdebug.engine", "whdebug.store.store")),
])
def test_core_imports_stay_light(statement: str, present: str, forbidden: tuple[str, ...]) -> None:
    modules = imported_by(statement)
    assert present in modules
    for name in forbidden:
        assert name not in modules, f"{statement} pulled in {name}"


def imported_names(package: Path) -> set[str]:
    """Every module a package's files import (top level or inside functions), statically."""
    names: set[str] = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    return names


def test_the_receiver_leaves_rendering_to_the_cli() -> None:
    """httpx pulls rich into sys.modules for its own CLI, so this reads the imports."""
    receiver = Path(__file__).parent.parent / "whdebug" / "receiver"
    forbidden = ("rich", "textual", "click", "whdebug.cli", "whdebug.tui")
    imported = imported_names(receiver)
    assert "whdebug.receiver.app" in imported
    assert sorted(name for name in imported if name.split(".")[0] in forbidden
                  or name.startswith(forbidden[3:])) == []
