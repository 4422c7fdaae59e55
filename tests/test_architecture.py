"""The package shows its layers: import contracts, module sizes, and few top-level modules."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from paths import REPO

PACKAGE = REPO / "whdebug"
MAX_LINES = 600
MAX_TOP_LEVEL = 8


def test_import_contracts_hold() -> None:
    """The layer, forbidden-stack and no-cycle contracts in pyproject.toml (import-linter)."""
    command = shutil.which("lint-imports")
    if command is None:
        pytest.fail("lint-imports is missing: pip install -e '.[test]'")
    result = subprocess.run([command, "--config", str(REPO / "pyproject.toml")], cwd=REPO,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("module", modules(), ids=lambda path: str(path.relative_to(REPO)))
def test_no_module_over_600_lines(module: Path) -> None:
    lines = module.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{module.relative_to(REPO)} has {lines} lines: it holds two nouns"


def test_most_modules_under_400_lines() -> None:
    sizes = [path.read_text(encoding="utf-8").count("\n") for path in modules()]
    assert sum(size < 400 for size in sizes) / len(sizes) >= 0.85


def test_few_top_level_modules() -> None:
    top = [path.name for path in PACKAGE.glob("*.py")]
    assert len(top) <= MAX_TOP_LEVEL, top


def test_every_module_says_what_it_owns() -> None:
    missing = [str(path.relative_to(REPO)) for path in modules()
               if path.stat().st_size and not path.read_text(encoding="utf-8").lstrip()
               .startswith(('"""', "#!"))]
    assert not missing, missing
