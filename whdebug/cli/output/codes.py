"""Human output of `whdebug codes` and `whdebug explain`, and the Markdown of docs/codes.md."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from whdebug.cli.output.marks import indented
from whdebug.cli.output.text import safe_text
from whdebug.engine.codes import DOCS_SITE, CodeInfo

_SEVERITY_STYLES = {"error": "red", "warning": "yellow", "info": "cyan"}


def render_codes(console: Console, infos: Sequence[CodeInfo]) -> None:
    """Every code under its group: code, severity, one line."""
    group = None
    table: Table | None = None
    for info in infos:
        if info.group != group:
            if table is not None:
                console.print(indented(table))
            group = info.group
            console.print(safe_text(f"{group} ({info.commands})", "bold"))
            table = Table.grid(padding=(0, 2), pad_edge=False)
            table.add_column(no_wrap=True)
            table.add_column(no_wrap=True)
            table.add_column(overflow="fold")
        assert table is not None
        table.add_row(safe_text(info.code, "bold"),
                      safe_text(info.severity, _SEVERITY_STYLES.get(info.severity, "")),
                      safe_text(info.summary))
    if table is not None:
        console.print(indented(table))
    console.print(safe_text("`whdebug explain CODE` says what a code means and how to fix it.",
                            "dim"))


def render_explanation(console: Console, info: CodeInfo) -> None:
    """One code: severity, where it comes from, meaning, runtime, fix, docs page."""
    head = Text()
    head.append_text(safe_text(info.code, "bold"))
    head.append_text(safe_text(f"  {info.severity}",
                               _SEVERITY_STYLES.get(info.severity, "")))
    head.append_text(safe_text(f"  {info.group} · {info.commands}", "dim"))
    console.print(head)
    for label, text in (("means", info.summary), ("runtime", info.runtime),
                        ("fix", info.fix)):
        if text:
            console.print(indented(safe_text(f"{label}: {text}")))
    if info.docs:
        console.print(indented(safe_text(f"docs: {info.docs} ({DOCS_SITE})")))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def codes_markdown(infos: Sequence[CodeInfo]) -> str:
    """docs/codes.md: every code by group, with its meaning, runtime behaviour, fix and page."""
    lines = [
        "# Finding codes",
        "",
        "Every code whdebug reports, with its default severity. Generated from the registry",
        "(`whdebug/engine/report.py` for severities, `whdebug/engine/codes.toml` for the",
        "text) by `whdebug codes --markdown > docs/codes.md`; a test fails when this file is",
        "out of date. `whdebug explain CODE` prints one entry; `whdebug codes --json` all.",
        "",
        f"Docs pages are paths of the {DOCS_SITE}.",
    ]
    group = None
    for info in infos:
        if info.group != group:
            group = info.group
            lines += ["", f"## {group} ({info.commands})", "",
                      "| code | severity | meaning |", "|---|---|---|"]
        lines.append(f"| `{info.code}` | {info.severity} | {_cell(info.summary)} |")
    lines += ["", "## Details", ""]
    for info in infos:
        lines += [f"### {info.code}", "", f"{info.severity} · {info.group} · {info.commands}",
                  ""]
        for label, text in (("Means", info.summary), ("Runtime", info.runtime),
                            ("Fix", info.fix)):
            if text:
                lines.append(f"- **{label}:** {text}")
        if info.docs:
            lines.append(f"- **Docs:** `{info.docs}`")
        lines.append("")
    return "\n".join(lines)
