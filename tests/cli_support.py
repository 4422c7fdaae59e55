"""Run the CLI in-process and read what it printed."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from whdebug.cli import main


def run(*args: str, env: dict[str, str] | None = None, input: bytes | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, input=input)


def error_line(result: Result) -> str:
    """The single stderr line, asserting there is exactly one."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def json_lines(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines()]
