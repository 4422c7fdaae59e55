"""Human output of `whdebug diff`: request line, headers side by side, body changes, steps."""

from __future__ import annotations

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from whdebug.cli.output.text import safe
from whdebug.model.secrecy import SecretSet
from whdebug.tools.diff import ByteHunk, RequestDiff
from whdebug.wording import plural

VALUE_WIDTH = 120
"""Characters of a header or body value shown."""
HUNK_BYTES = 64
"""Bytes of each side of a byte hunk shown."""
JSON_HUNKS = 8
"""A JSON body's byte spans are shown when there are at most this many (--json has all)."""
_HEADER_STYLE = {"same": "dim", "changed": "yellow", "only-a": "red", "only-b": "green",
                 "moved": "cyan"}
_KIND_STYLE = {"added": "green", "removed": "red", "changed": "yellow", "type": "yellow",
               "number-format": "cyan", "escape": "cyan", "key-order": "cyan",
               "layout": "cyan"}


def _cell(text: str | None, masks: SecretSet, style: str = "") -> Text:
    if text is None:
        return Text("—", style="dim")
    return Text(safe(masks.mask(text), VALUE_WIDTH), style=style)


def _bytes(data: bytes, masks: SecretSet) -> str:
    """A byte span as readable text: printable ASCII as is, the rest escaped."""
    head = data[:HUNK_BYTES]
    text = "".join(chr(byte) if 0x20 <= byte < 0x7f else
                   {0x0a: "\\n", 0x0d: "\\r", 0x09: "\\t"}.get(byte, f"\\x{byte:02x}")
                   for byte in head)
    text = masks.mask(text)
    if len(data) > HUNK_BYTES:
        text += f"… (+{len(data) - HUNK_BYTES:,} bytes)"
    return text or "∅"


def diff_renderables(diff: RequestDiff, masks: SecretSet) -> list[RenderableType]:
    """The diff's parts as rich renderables (the CLI prints them; the TUI shows them)."""
    parts: list[RenderableType] = []
    verdict = ("the same request" if diff.same else "the requests differ")
    parts.append(Text.assemble((f"{safe(diff.a_label, 60)}", "bold"), " vs ",
                               (f"{safe(diff.b_label, 60)}", "bold"), f": {verdict}"))
    for part, x, y in diff.request_line:
        shown_x = masks.mask_query(x) if part == "query" else x
        shown_y = masks.mask_query(y) if part == "query" else y
        parts.append(Text(f"{part}: {safe(shown_x, 200)} → {safe(shown_y, 200)}",
                          style="yellow"))
    parts.append(_headers_table(diff, masks))
    parts.append(_body_part(diff, masks))
    if diff.pipeline:
        parts.append(_pipeline_table(diff))
    return parts


def render_diff(console: Console, diff: RequestDiff, masks: SecretSet) -> None:
    """`whdebug diff`: every part, one after the other."""
    for part in diff_renderables(diff, masks):
        console.print(part)
        console.print()


def _headers_table(diff: RequestDiff, masks: SecretSet) -> Table:
    table = Table(title="headers", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("", no_wrap=True, width=1)
    table.add_column(safe(diff.a_label, 40), overflow="fold", ratio=1)
    table.add_column(safe(diff.b_label, 40), overflow="fold", ratio=1)
    marks = {"same": " ", "changed": "~", "only-a": "-", "only-b": "+", "moved": "↕"}
    for row in diff.headers:
        style = _HEADER_STYLE[row.status]
        cells = []
        for pair in (row.a, row.b):
            if pair is None:
                cells.append(Text("", style="dim"))
            else:
                value = masks.mask_header(pair[0], pair[1])
                cells.append(Text(f"{safe(pair[0], 60)}: {safe(value, VALUE_WIDTH)}",
                                  style=style))
        table.add_row(Text(marks[row.status], style=style), *cells)
    return table


def _body_part(diff: RequestDiff, masks: SecretSet) -> RenderableType:
    sizes = f"{diff.a_size:,} → {diff.b_size:,} bytes"
    if diff.body_kind == "same":
        return Text(f"body: the same ({diff.a_size:,} bytes)", style="dim")
    if diff.body_kind == "json":
        note = f" ({diff.body_note})" if diff.body_note else ""
        table = Table(title=f"body (JSON, {sizes}): "
                            f"{plural(diff.body_change_count, 'change', grouped=True)}{note}",
                      title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("path", overflow="fold", max_width=40)
        table.add_column("change", no_wrap=True)
        table.add_column(safe(diff.a_label, 30), overflow="fold", ratio=1)
        table.add_column(safe(diff.b_label, 30), overflow="fold", ratio=1)
        for change in diff.body_changes:
            style = _KIND_STYLE[change.kind]
            table.add_row(Text(safe(change.path, 200)), Text(change.kind, style=style),
                          _cell(change.a, masks), _cell(change.b, masks))
            if change.note:
                table.add_row("", "", Text(change.note, style="dim"), "")
        if diff.body_change_count > len(diff.body_changes):
            table.add_row("…", f"{diff.body_change_count - len(diff.body_changes):,} more",
                          "", "")
        if diff.hunk_count > JSON_HUNKS:  # re-indentation: the byte spans say nothing more
            return table
        return Group(table, _hunks(diff, masks, heading="bytes"))
    heading = f"body (bytes, {sizes})"
    if diff.body_note:
        heading += f": {diff.body_note}"
    return _hunks(diff, masks, heading=heading)


def _hunks(diff: RequestDiff, masks: SecretSet, *, heading: str) -> Table:
    table = Table(title=f"{heading}: {plural(diff.hunk_count, 'changed span', grouped=True)}",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("offset", justify="right", no_wrap=True)
    table.add_column(safe(diff.a_label, 30), overflow="fold", ratio=1)
    table.add_column(safe(diff.b_label, 30), overflow="fold", ratio=1)
    for hunk in diff.hunks[:20]:
        table.add_row(_offsets(hunk), Text(_bytes(hunk.a, masks), style="red"),
                      Text(_bytes(hunk.b, masks), style="green"))
    if diff.hunk_count > 20:
        table.add_row("…", f"{diff.hunk_count - 20:,} more (--json has {len(diff.hunks)})", "")
    return table


def _offsets(hunk: ByteHunk) -> str:
    if hunk.a_start == hunk.b_start:
        return f"@{hunk.a_start}"
    return f"@{hunk.a_start}/{hunk.b_start}"


def _pipeline_table(diff: RequestDiff) -> Table:
    verdict = "the same steps" if diff.pipeline_same else "the steps differ"
    table = Table(title=f"runtime: {verdict}", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    table.add_column("step", no_wrap=True)
    table.add_column(safe(diff.a_label, 30), overflow="fold", ratio=1)
    table.add_column(safe(diff.b_label, 30), overflow="fold", ratio=1)
    for row in diff.pipeline:
        style = "" if row.same else "bold yellow"
        a = row.a + (f": {row.a_reason}" if row.a_reason and not row.same else "")
        b = row.b + (f": {row.b_reason}" if row.b_reason and not row.same else "")
        table.add_row(Text(row.name, style=style), Text(safe(a, 300)), Text(safe(b, 300)))
    if diff.findings_only_a or diff.findings_only_b:
        table.add_row(Text("findings", style="bold yellow"),
                      Text(", ".join(diff.findings_only_a) or "—"),
                      Text(", ".join(diff.findings_only_b) or "—"))
    return table
