"""Human output of `whdebug bundle`: what went into the zip."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console

from whdebug.cli.output.blocks import simple_table
from whdebug.cli.output.text import safe_text


def render_bundle(console: Console, path: str, files: dict[str, bytes], masked: int,
                  blanked: Sequence[str], secrets_scanned: int,
                  unscanned: Sequence[str]) -> None:
    """What went into the zip."""
    console.print(safe_text(f"wrote {path}", "bold green"))
    table = simple_table("file", "bytes")
    for name, data in files.items():
        table.add_row(safe_text(name), safe_text(str(len(data))))
    console.print(table)
    blanked_text = ", ".join(f"auth.config.{key}" for key in blanked) or "nothing to blank"
    console.print(safe_text(f"definition redacted: {blanked_text}"))
    console.print(safe_text(f"headers masked: {masked}"))
    console.print(safe_text(f"leak scan: {secrets_scanned} secret values, none found in "
                            f"{len(files)} files"))
    for name in unscanned:
        console.print(safe_text(f"not scanned (shorter than 4 characters): {name}", "yellow"))
    console.print(safe_text("SUMMARY.md is ready to paste into your email", "dim"))
