"""The small pieces report-like views are built from: status marks, grids, quoted values."""

from __future__ import annotations

from typing import Any

from rich.console import Console, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from whdebug.cli.output.text import safe_text

_SYMBOLS = {"pass": "✓", "fail": "✗", "warn": "!", "skip": "–"}
_ASCII_SYMBOLS = {"pass": "v", "fail": "x", "warn": "!", "skip": "-"}
_STATUS_STYLES = {"pass": "green", "fail": "red", "warn": "yellow", "skip": "dim"}
_MAX_VALUE = 120


def quoted(value: str | None, limit: int = _MAX_VALUE) -> str:
    """A value as Python repr (empty and whitespace stay visible), cut to `limit` characters."""
    if value is None:
        return "–"
    if len(value) > limit:
        return repr(value[:limit]) + f"… ({len(value)} chars)"
    return repr(value)


def symbol(console: Console, status: str) -> str:
    """The status's symbol (✓ ✗ ! –), in ASCII when the console cannot encode them."""
    symbols = _SYMBOLS if console.encoding.lower().startswith("utf") else _ASCII_SYMBOLS
    return symbols.get(status, "?")


def mark(console: Console, status: str) -> Text:
    """Symbol and word, so a status reads the same without colour."""
    return safe_text(f"{symbol(console, status)} {status}", _STATUS_STYLES.get(status, ""))


def yes_no(console: Console, value: bool) -> Text:
    """`✓ yes` or `✗ no`, coloured."""
    return safe_text(f"{symbol(console, 'pass' if value else 'fail')} {'yes' if value else 'no'}",
                     _STATUS_STYLES["pass" if value else "fail"])


def grid() -> Table:
    """Two borderless columns: a label that never wraps, and text that folds."""
    table = Table.grid(padding=(0, 2), pad_edge=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    return table


def indented(renderable: RenderableType, indent: int = 2) -> Padding:
    """`renderable` shifted right by `indent` cells."""
    return Padding(renderable, (0, 0, 0, indent), expand=False)


def byte_size(size: Any) -> str:
    """`1,234 bytes`, or `size unknown` when the report has none."""
    return f"{size:,} bytes" if isinstance(size, int) else "size unknown"
