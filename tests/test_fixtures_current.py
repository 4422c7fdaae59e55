"""The committed fixtures are exactly what fixtures/generate.py writes today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import FIXTURES, ROOT


def test_generated_fixtures_are_committed(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(FIXTURES / "generate.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    generated = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()}
    assert generated, "the generator wrote nothing"
    for relative in sorted(generated):
        if relative.parts[0] == "demo":
            committed = ROOT / "whdebug" / relative
        else:
            committed = FIXTURES / relative
        assert committed.exists(), f"{committed} is not committed: run fixtures/generate.py"
        assert committed.read_bytes() == (tmp_path / relative).read_bytes(), (
            f"{committed} is stale: run python fixtures/generate.py")
    committed_requests = {p.name for p in (FIXTURES / "requests").iterdir()}
    generated_requests = {p.name for p in (tmp_path / "requests").iterdir()}
    assert committed_requests == generated_requests
