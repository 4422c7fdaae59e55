"""Human output of `check NEW --previous OLD`: the findings, the deliveries whose outcome
changes, and the verdict."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from whdebug.cli.output.blocks import simple_table
from whdebug.cli.output.marks import indented, symbol
from whdebug.cli.output.report import render_findings
from whdebug.cli.output.text import safe_text
from whdebug.engine.report import Finding
from whdebug.model.definition import Definition
from whdebug.tools.update import UpdateComparison, Verdict
from whdebug.wording import plural


def _verdict(verdict: Verdict) -> str:
    fired = f" → {', '.join(verdict.triggers)}" if verdict.triggers else ""
    status = f"{verdict.status} (if verified: {verdict.event})" if verdict.once_verified else (
        f"{verdict.status} ({verdict.event})" if verdict.event is not None else verdict.status)
    return f"{status}{fired}"


def render_update(console: Console, findings: Sequence[Finding], definition: Definition,
                  comparison: UpdateComparison, *, path: str, previous_path: str) -> None:
    """`check NEW --previous OLD`: header, findings, changed deliveries, verdict."""
    header = Text()
    header.append_text(safe_text(f"check {path}", "bold"))
    header.append_text(safe_text(f"  {definition.label}", "dim"))
    header.append_text(safe_text(f"  update of {previous_path}  {comparison.previous.label}",
                                 "dim"))
    console.print(header)
    render_findings(console, findings)
    if comparison.changes:
        console.print(indented(safe_text(
            f"deliveries that change ({len(comparison.changes)} of "
            f"{comparison.deliveries}, from {comparison.source})", "bold")))
        table = simple_table("delivery", f"under {comparison.previous.label}",
                             f"under {definition.label}")
        for change in comparison.changes:
            style = "" if change.outcome_changed else "dim"
            table.add_row(safe_text(change.delivery, style),
                          safe_text(_verdict(change.before), style),
                          safe_text(_verdict(change.after), style))
        console.print(indented(table, 4))
    counts = {severity: sum(1 for f in findings if f.severity == severity)
              for severity in ("error", "warning", "info")}
    tally = (f"{plural(counts['error'], 'error')} · {plural(counts['warning'], 'warning')} · "
             f"{plural(counts['info'], 'note')}")
    if counts["error"]:
        console.print(safe_text(f"{symbol(console, 'fail')} breaks existing installs or "
                                f"fails the lint: {tally}", "bold red"))
    else:
        console.print(safe_text(f"{symbol(console, 'pass')} ok as an update of "
                                f"{comparison.previous.label}: {tally}", "bold green"))
