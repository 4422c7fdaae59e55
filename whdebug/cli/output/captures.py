"""Human output of the capture-store commands: the `list` table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from whdebug.cli.output.text import format_size, safe
from whdebug.model.secrecy import SecretSet
from whdebug.store.analyses import AnalysisRow
from whdebug.store.store import CaptureSummary
from whdebug.wording import plural


def _status_cell(status: int | None) -> tuple[str, str]:
    if status is None:
        return "—", "dim"
    return str(status), "green" if status < 400 else "red"


def app_cell(status: int | None, latency: float | None) -> Text:
    """What the app behind --forward-to answered and how fast: `201 · 12 ms`."""
    shown, style = _status_cell(status)
    text = Text(shown, style=style)
    if latency is not None:
        text.append(f" · {latency * 1000:.0f} ms", style="dim")
    return text


def render_no_captures(console: Console, store_path: object) -> None:
    """What an empty store's `list` says, with how to fill it."""
    console.print(Text(f"no captures yet in {store_path}. Point a provider (or curl "
                       "--data-binary @payload.json) at `whdebug serve`, or `whdebug "
                       "import FILE`."))


def render_captures(console: Console, rows: Sequence[CaptureSummary], total: int,
                    store_path: object, store_flag: str, masks: SecretSet) -> None:
    """`whdebug list`: one row per capture, newest first, then where they are and what next."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("#", justify="right", style="bold", no_wrap=True)
    table.add_column("received", no_wrap=True, style="dim")
    table.add_column("method", no_wrap=True, min_width=6)
    table.add_column("target", overflow="fold", ratio=1)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("status", justify="right", no_wrap=True)
    forwarded = any(row.forward_status is not None or row.forward_latency is not None
                    for row in rows)
    if forwarded:
        table.add_column("app", justify="right", no_wrap=True)
    # The target matters most: the other text columns appear only when there is room.
    extra = [(title, width) for title, width in (("content type", 100), ("sender", 125))
             if console.width >= width]
    for title, _ in extra:
        table.add_column(title, overflow="ellipsis", no_wrap=True, max_width=28)
    for row in rows:
        size = Text(format_size(row.body_size))
        if row.truncated:
            size.append(" truncated", style="bold yellow")
        status, style = _status_cell(row.response_status)
        cells = [
            Text(str(row.id)),
            Text(row.received_at.astimezone().strftime("%m-%d %H:%M:%S")),
            Text(safe(row.method, 16)),
            Text(safe(masks.mask_target(row.target))),
            size,
            Text(status, style=style),
        ]
        if forwarded:
            cells.append(app_cell(row.forward_status, row.forward_latency))
        if row.edited_from is not None:
            cells[3].append(f"  (edited from #{row.edited_from})", style="dim")
        values = {"content type": row.content_type, "sender": row.user_agent}
        cells.extend(Text(safe(values[title] or "—", 60)) for title, _ in extra)
        table.add_row(*cells)
    console.print(table)
    shown = len(rows)
    note = f"{plural(total, 'capture', grouped=True)} in {store_path} (times are local)"
    if shown < total:
        note += f"; newest {shown:,} shown (--last N for more)"
    console.print(Text(note, style="dim"))
    console.print(Text(f"explain one: whdebug replay ID --definition FILE{store_flag}",
                       style="dim"))


def capture_line(row: CaptureSummary, masks: SecretSet) -> str:
    """One capture on one line, as `list --follow` prints new arrivals."""
    status = "—" if row.response_status is None else str(row.response_status)
    truncated = " truncated" if row.truncated else ""
    return (f"#{row.id}  {row.received_at.astimezone().strftime('%m-%d %H:%M:%S')}  "
            f"{safe(row.method, 16)} {safe(masks.mask_target(row.target))}  "
            f"{format_size(row.body_size)}{truncated}  {status}")


def render_analysed(console: Console, rows: Sequence[CaptureSummary],
                    verdicts: Mapping[int, AnalysisRow], matching: int, store_path: object,
                    masks: SecretSet, label: str, filtered: bool) -> None:
    """`whdebug list --definition`: captures with their event, outcome and finding codes."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("#", justify="right", style="bold", no_wrap=True)
    table.add_column("received", no_wrap=True, style="dim")
    table.add_column("method", no_wrap=True, min_width=6)
    table.add_column("target", overflow="fold", ratio=1)
    table.add_column("event", overflow="fold")
    table.add_column("sig", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("codes", overflow="fold")
    for row in rows:
        verdict = verdicts.get(row.id)
        cells = [Text(str(row.id)),
                 Text(row.received_at.astimezone().strftime("%m-%d %H:%M:%S")),
                 Text(safe(row.method, 16)), Text(safe(masks.mask_target(row.target)))]
        if verdict is None:
            cells += [Text("—"), Text("—"), Text("—"), Text("")]
        else:
            event = (Text(safe(masks.mask(verdict.event), 80)) if verdict.event is not None
                     else Text(f"({safe(masks.mask(verdict.if_event), 80)})", style="dim")
                     if verdict.if_event is not None else Text("—"))
            cells += [event,
                      Text(verdict.signature), Text(verdict.outcome),
                      Text(" ".join(verdict.codes))]
        table.add_row(*cells)
    console.print(table)
    what = "matching " if filtered else ""
    note = (f"{plural(matching, what + 'capture', grouped=True)} under {safe(label, 80)} "
            f"in {store_path} (times are local)")
    if len(rows) < matching:
        note += f"; newest {len(rows):,} shown (--last N for more)"
    console.print(Text(note, style="dim"))

