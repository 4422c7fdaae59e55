"""Building blocks of the troubleshooting views (urls, source, sync): findings, verdicts, tables."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table

from whdebug.cli.output.text import safe_text
from whdebug.engine.report import Finding

_SEVERITY_STYLES = {"error": "bold red", "warning": "bold yellow", "info": "cyan"}
_SEVERITY_WORDS = {"error": "error", "warning": "warning", "info": "note"}
MAX_CELL = 70


def cut(value: str, limit: int = MAX_CELL) -> str:
    """`value`, or its first `limit - 1` characters and an ellipsis."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def simple_table(*columns: str) -> Table:
    """A table with a rule under its header and folding columns."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def render_findings(console: Console, findings: Sequence[Finding], indent: str = "") -> None:
    """Each finding, errors first: severity and code, message, pointer, fix; a wrapped line
    continues under the text it belongs to, never at the left margin."""
    order = {"error": 0, "warning": 1, "info": 2}
    for item in sorted(findings, key=lambda f: order.get(f.severity, 3)):
        head = Table.grid(padding=(0, 2, 0, 0), pad_edge=False)
        head.add_column(no_wrap=True)
        head.add_column()
        label = safe_text(f"{_SEVERITY_WORDS.get(item.severity, item.severity)} ",
                          _SEVERITY_STYLES.get(item.severity, "bold"))
        label.append_text(safe_text(item.code, "bold"))
        head.add_row(label, safe_text(item.message))
        console.print(Padding(head, (0, 0, 0, len(indent)), expand=False))
        for line in ([safe_text(f"at {item.pointer}", "dim")] if item.pointer else []) + (
                [safe_text(f"fix: {item.fix}", "green")] if item.fix else []):
            console.print(Padding(line, (0, 0, 0, len(indent) + 4), expand=False))


def render_verdict(console: Console, ok: bool, good: str, bad: str) -> None:
    """The closing line: `good` in green when `ok`, else `bad` in red."""
    console.print(safe_text(good, "bold green") if ok else safe_text(bad, "bold red"))
