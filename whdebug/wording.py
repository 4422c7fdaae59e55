"""Wording shared by every layer's messages: plurals (sizes are the CLI's, in cli/output/text)."""

from __future__ import annotations


def plural(count: int, noun: str, *, grouped: bool = False) -> str:
    """`1 request`, `3 requests`; `grouped` writes thousands as `1,234`."""
    number = f"{count:,}" if grouped else str(count)
    return f"{number} {noun}" if count == 1 else f"{number} {noun}s"
