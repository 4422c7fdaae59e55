"""Human output for the CLI: replay reports, the replay summary and `check` findings, with rich.

Every value that came from a request or a definition goes through `safe_text`, which builds a
plain `Text` (never markup) and escapes control and invisible characters, so a captured
header can neither inject terminal sequences nor hide a stray zero-width space.
Secrets never reach this module: a report holds only masked hints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from whdebug.cli.output.details import render_details
from whdebug.cli.output.marks import byte_size, grid, indented, mark, quoted, symbol
from whdebug.cli.output.text import safe_text
from whdebug.engine.plan import Plan
from whdebug.engine.report import Finding, Report
from whdebug.model.definition import Definition
from whdebug.wording import plural

_SEVERITIES = ("error", "warning", "info")
_SEVERITY_TITLES = {"error": "errors", "warning": "warnings", "info": "notes"}
_SEVERITY_STYLES = {"error": "bold red", "warning": "bold yellow", "info": "bold cyan"}
_OUTCOME_ORDER = ("fires", "challenge", "rejected", "no-event", "no-trigger", "duplicate")
_SIDE_BY_SIDE_WIDTH = 100
"""From this width on, a finding's code sits beside its message instead of above it."""


# --- one report ---------------------------------------------------------------------------


def render_report(console: Console, report: Report, *, verbose: bool = False) -> None:
    """One analysed request: header, pipeline, (details), outcome, findings with fixes."""
    console.print(_header(report, console.width))
    console.print(indented(_pipeline(console, report)))
    if verbose:
        render_details(console, report)
    console.print(_outcome(console, report))
    render_findings(console, report.findings)
    for assumption in report.assumptions:
        console.print(indented(safe_text(f"assumes: {assumption}", "dim")))


def _source_label(source: dict[str, Any]) -> str:
    if source.get("capture_id") is not None:
        return f"capture #{source['capture_id']}"
    return str(source.get("file") or "request")


def _header(report: Report, width: int | None = None) -> Text:
    """`source  METHOD target  size  ns@version`; the source on its own line when narrow."""
    request = report.request
    target = request.get("path", "")
    if request.get("query"):
        target = f"{target}?{request['query']}"
    definition = report.definition
    label = f"{definition.get('ns') or '?'}@{definition.get('version') or '?'}"
    source = safe_text(_source_label(report.source), "bold")
    line = Text.assemble(safe_text(f"{request.get('method', '?')} {target}", "bold"),
                         safe_text(f"  {byte_size(request.get('body_size'))}  {label}", "dim"))
    if width is not None and source.cell_len + 2 + line.cell_len > width:
        return Text.assemble(source, "\n  ", line)  # no field split across lines
    return Text.assemble(source, "  ", line)


def _pipeline(console: Console, report: Report) -> Table:
    table = Table.grid(padding=(0, 2), pad_edge=False)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for step in report.steps:
        table.add_row(mark(console, step.status), safe_text(step.name), safe_text(step.reason))
    return table


def _outcome(console: Console, report: Report) -> Table:
    outcome = report.outcome
    sign = symbol(console, "pass" if report.ok else "fail")
    style = "bold green" if report.ok else "bold red"
    if outcome.status == "fires":
        detail = "fires " + ", ".join(outcome.triggers)
    else:
        detail = outcome.summary
    table = grid()
    table.add_row(safe_text(f"{sign} {outcome.status}", style),
                  safe_text(f"HTTP {outcome.http_status} · {detail}", style))
    hypothetical = outcome.if_verified
    if hypothetical:
        if hypothetical.get("triggers"):
            then = "would fire " + ", ".join(hypothetical["triggers"])
        elif hypothetical.get("event") is None:
            then = "would still extract no event"
        else:
            then = f"event {hypothetical['event']!r} would still match no trigger"
            waiting = hypothetical.get("waiting")
            if isinstance(waiting, list) and waiting:
                then += ": " + "; ".join(str(item) for item in waiting)
        table.add_row(safe_text("  once verified"), safe_text(then))
    return table


def render_findings(console: Console, findings: Iterable[Finding], indent: int = 2) -> None:
    """Findings grouped by severity, errors first: code, message, pointer and fix."""
    by_severity: dict[str, list[Finding]] = {}
    for item in findings:
        by_severity.setdefault(item.severity, []).append(item)
    side_by_side = console.width >= _SIDE_BY_SIDE_WIDTH
    for severity in sorted(by_severity, key=_severity_rank):
        group = by_severity[severity]
        title = _SEVERITY_TITLES.get(severity, severity)
        style = _SEVERITY_STYLES.get(severity, "bold")
        console.print(indented(safe_text(f"{title} ({len(group)})", style), indent))
        table = grid()
        for item in group:
            lines = [safe_text(item.message)]
            if item.pointer:
                lines.append(safe_text(f"at {item.pointer}", "dim"))
            if item.fix:
                lines.append(safe_text(f"fix: {item.fix}", "green"))
            # In a terminal a word longer than a line is printed whole (elsewhere the width
            # was asked for with COLUMNS, or there is none and nothing wraps).
            unbreakable = console.is_terminal and _has_long_token(lines,
                                                                  console.width - indent - 4)
            if side_by_side and not unbreakable:
                table.add_row(safe_text(item.code, "bold"), lines[0])
                for line in lines[1:]:
                    table.add_row(Text(""), line)
                continue
            if table.row_count:
                console.print(indented(table, indent + 2))
                table = grid()
            # The code on a line of its own leaves the text the width; a URL or path longer
            # than a line is printed whole (the terminal folds it; copying keeps it intact).
            console.print(indented(safe_text(item.code, "bold"), indent + 2))
            for line in lines:
                if unbreakable and _has_long_token([line], console.width - indent - 4):
                    console.print(Text(" " * (indent + 4)) + line, soft_wrap=True)
                else:
                    console.print(indented(line, indent + 4))
        if table.row_count:
            console.print(indented(table, indent + 2))


def _has_long_token(lines: Iterable[Text], room: int) -> bool:
    """Some word (a URL, a path, a code) is longer than `room` cells: wrapping would cut it."""
    return any(len(word) > room for line in lines for word in line.plain.split())


def _severity_rank(severity: str) -> int:
    return _SEVERITIES.index(severity) if severity in _SEVERITIES else len(_SEVERITIES)


# --- replay summary -----------------------------------------------------------------------


def format_outcomes(outcomes: dict[str, int]) -> str:
    """`2 fires · 1 rejected`, in pipeline order."""
    ordered = [status for status in _OUTCOME_ORDER if status in outcomes]
    ordered += sorted(status for status in outcomes if status not in _OUTCOME_ORDER)
    return " · ".join(f"{outcomes[status]} {status}" for status in ordered)


def render_summary(console: Console, summary: dict[str, Any], plan: Plan) -> None:
    """Counts per outcome and the triggers that no request fired."""
    requests = int(summary.get("requests", 0))
    counts = format_outcomes(summary.get("outcomes", {}))
    line = safe_text(f"summary: {plural(requests, 'request')}", "bold")
    if counts:
        line.append_text(safe_text(f" — {counts}"))
    console.print(line)
    events = plan.trigger_events
    never: list[str] = list(summary.get("triggers_never_fired", []))
    if not events and plan.triggers:
        count = len(plan.triggers)
        which = "the 1 trigger cannot" if count == 1 else f"none of the {count} triggers can"
        console.print(safe_text(f"coverage: {which} fire: no trigger has a string event "
                                "(see DEF_SCHEMA at /triggers)", "yellow"))
        return
    if not events:
        console.print(safe_text("coverage: the definition has no triggers", "yellow"))
        return
    fired = len(set(events)) - len(set(never))
    if not never:
        console.print(safe_text(f"coverage: every trigger fired ({fired} of {len(set(events))})",
                                "green"))
        return
    console.print(safe_text(f"coverage: {fired} of {len(set(events))} triggers fired; never "
                            "fired:", "yellow"))
    labels = {t.event: t.label for t in plan.triggers if t.event is not None}
    table = grid()
    for event in never:
        table.add_row(safe_text(quoted(event)), safe_text(labels.get(event) or "", "dim"))
    console.print(indented(table))


def render_replay_summary(console: Console, summary: dict[str, Any], plan: Plan,
                          profile: str | None = None) -> None:
    """`replay`'s closing lines: the summary (a profile's in one line), and a note when
    nothing was replayed."""
    if not summary["requests"]:
        console.print("no captures to replay")
    if profile is None:
        render_summary(console, summary, plan)
    else:
        console.print(f"summary ({profile}): {plural(summary['requests'], 'request')} — "
                      f"{format_outcomes(summary['outcomes'])}", highlight=False)


# --- check ----------------------------------------------------------------------------------


def render_check(console: Console, findings: Sequence[Finding], definition: Definition | None,
                 *, path: str | None = None) -> None:
    """`whdebug check`: the definition, its findings grouped by severity, and a verdict line."""
    name = path or (definition.path if definition is not None else None) or "definition"
    header = Text()
    header.append_text(safe_text(f"check {name}", "bold"))
    if definition is not None:
        header.append_text(safe_text(f"  {definition.label}", "dim"))
    console.print(header)
    render_findings(console, findings)
    counts = {severity: sum(1 for f in findings if f.severity == severity)
              for severity in _SEVERITIES}
    tally = (f"{plural(counts['error'], 'error')} · {plural(counts['warning'], 'warning')} · "
             f"{plural(counts['info'], 'note')}")
    if counts["error"]:
        console.print(safe_text(f"{symbol(console, 'fail')} fails: {tally}", "bold red"))
    else:
        console.print(safe_text(f"{symbol(console, 'pass')} ok: {tally}", "bold green"))
