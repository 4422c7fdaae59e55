"""Human output of `whdebug list --by delivery`: one row per delivery, then its findings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from whdebug.cli.output.text import safe
from whdebug.tools.deliveries import Attempt, Delivery

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _moment(value: datetime | None) -> str:
    return value.astimezone().strftime("%m-%d %H:%M:%S") if value is not None else "—"


def attempt_text(attempt: Attempt) -> Text:
    """`#12 200 in 30 ms` coloured by outcome, with the retry marker."""
    style = {True: "green", False: "red", None: "dim"}[attempt.ok]
    text = Text(f"#{attempt.capture_id} ", style="bold")
    text.append(safe(attempt.outcome, 60), style=style)
    if attempt.retry_reason:
        text.append(f" [{safe(attempt.retry_reason, 40)}]", style="dim")
    return text


def changes_text(delivery: Delivery) -> Text:
    """What changed between consecutive attempts: `#13: body, X-Foo`."""
    parts = [f"#{attempt.capture_id}: {', '.join(safe(name, 40) for name in attempt.changed)}"
             for attempt in delivery.attempts[1:] if attempt.changed]
    if len(delivery.attempts) < 2:
        return Text("—", style="dim")
    return Text("; ".join(parts) if parts else "nothing (same bytes)",
                style="yellow" if parts else "dim")


def render_deliveries(console: Console, deliveries: Sequence[Delivery]) -> None:
    """The table, oldest delivery first, then each delivery's retry findings."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("provider", no_wrap=True)
    table.add_column("delivery", overflow="fold", ratio=1, min_width=12)
    table.add_column("n", justify="right", no_wrap=True)
    table.add_column("first → last", style="dim")
    table.add_column("outcomes", overflow="fold", ratio=1, min_width=14)
    table.add_column("changed", overflow="fold", ratio=1, min_width=10)
    for delivery in deliveries:
        outcomes = Text("\n").join(attempt_text(attempt) for attempt in delivery.attempts)
        span = _moment(delivery.first)
        if len(delivery.attempts) > 1:
            span += "\n→ " + _moment(delivery.last)
        table.add_row(Text(delivery.provider), Text(safe(delivery.key, 80)),
                      Text(str(len(delivery.attempts))), Text(span), outcomes,
                      changes_text(delivery))
    console.print(table)
    for delivery in deliveries:
        for item in delivery.findings:
            line = Text(f"{item.severity} ", style=_SEVERITY_STYLE[item.severity])
            line.append(f"{item.code}: ", style="bold")
            line.append(safe(item.message, 400))
            if item.fix:
                line.append(f"\n  fix: {safe(item.fix, 300)}", style="dim")
            console.print(line)
