"""The diff screen: the marked capture against the selected one (`m`, then `=`), or an
edited request against its original: request line, headers, body changes, runtime steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from whdebug.model.secrecy import SecretSet
from whdebug.tui.marks import printable

if TYPE_CHECKING:
    from whdebug.tools.diff import RequestDiff

VALUE_WIDTH = 160
_STYLES = {"same": "dim", "changed": "yellow", "only-a": "red", "only-b": "green",
           "moved": "cyan", "added": "green", "removed": "red", "type": "yellow",
           "number-format": "cyan", "escape": "cyan", "key-order": "cyan", "layout": "cyan"}


def _clip(text: str, limit: int = VALUE_WIDTH, style: str = "") -> Text:
    """Request-controlled text, never markup, bounded."""
    text = printable(text)
    return Text(text if len(text) <= limit else text[:limit - 1] + "…", style=style)


def diff_tables(diff: RequestDiff, masks: SecretSet) -> list[Text | Table]:
    """The diff as rich renderables, every value masked."""
    verdict = "the same request" if diff.same else "the requests differ"
    parts: list[Text | Table] = [Text.assemble((f"{diff.a_label} vs {diff.b_label}", "bold"),
                                               f": {verdict}")]
    for part, x, y in diff.request_line:
        if part == "query":
            x, y = masks.mask_query(x), masks.mask_query(y)
        parts.append(Text.assemble(f"{part}: ", _clip(x), " → ", _clip(y), style="yellow"))
    headers = Table(title="Headers", title_justify="left", box=box.SIMPLE_HEAD, expand=True)
    headers.add_column(Text(diff.a_label), ratio=1, overflow="fold")
    headers.add_column(Text(diff.b_label), ratio=1, overflow="fold")
    for row in diff.headers:
        cells = [Text.assemble(_clip(p[0], 60), ": ", _clip(masks.mask_header(*p)),
                               style=_STYLES[row.status]) if p is not None else Text("")
                 for p in (row.a, row.b)]
        headers.add_row(*cells)
    parts.append(headers)
    if diff.body_kind == "same":
        parts.append(Text(f"Body: the same ({diff.a_size:,} bytes)", style="dim"))
    elif diff.body_kind == "json":
        body = Table(title=f"Body (JSON): {diff.body_change_count} change(s)",
                     title_justify="left", box=box.SIMPLE_HEAD, expand=True)
        for index, column in enumerate(("path", "change", diff.a_label, diff.b_label)):
            body.add_column(Text(column), overflow="fold", ratio=None if index == 1 else 1)
        for change in diff.body_changes[:200]:
            body.add_row(_clip(change.path, 80), Text(change.kind, style=_STYLES[change.kind]),
                         _clip(masks.mask(change.a)) if change.a is not None else Text("—"),
                         _clip(masks.mask(change.b)) if change.b is not None else Text("—"))
            if change.note:
                body.add_row(Text(""), Text(""), Text(change.note, style="dim"), Text(""))
        parts.append(body)
    else:
        body = Table(title=f"Body (bytes): {diff.hunk_count} changed span(s)"
                           + (f"; {diff.body_note}" if diff.body_note else ""),
                     title_justify="left", box=box.SIMPLE_HEAD, expand=True)
        body.add_column("offset", no_wrap=True)
        body.add_column(Text(diff.a_label), ratio=1, overflow="fold")
        body.add_column(Text(diff.b_label), ratio=1, overflow="fold")
        for hunk in diff.hunks[:50]:
            body.add_row(Text(f"@{hunk.a_start}/{hunk.b_start}"),
                         _clip(masks.mask(hunk.a.decode("latin-1")), 80, "red"),
                         _clip(masks.mask(hunk.b.decode("latin-1")), 80, "green"))
        parts.append(body)
    if diff.pipeline:
        title = "Runtime: the same steps" if diff.pipeline_same else "Runtime: the steps differ"
        steps = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, expand=True)
        steps.add_column("step", no_wrap=True)
        steps.add_column(Text(diff.a_label), ratio=1, overflow="fold")
        steps.add_column(Text(diff.b_label), ratio=1, overflow="fold")
        for step in diff.pipeline:
            a = step.a + (f": {step.a_reason}" if step.a_reason and not step.same else "")
            b = step.b + (f": {step.b_reason}" if step.b_reason and not step.same else "")
            steps.add_row(Text(step.name, style="" if step.same else "bold yellow"),
                          _clip(masks.mask(a), 300), _clip(masks.mask(b), 300))
        if diff.findings_only_a or diff.findings_only_b:
            steps.add_row(Text("findings", style="bold yellow"),
                          Text(", ".join(diff.findings_only_a) or "—"),
                          Text(", ".join(diff.findings_only_b) or "—"))
        parts.append(steps)
    return parts


class DiffScreen(Screen[None]):
    """Two requests side by side; Escape goes back."""

    BINDINGS = [Binding("escape", "dismiss_screen", "Back"), Binding("q", "dismiss_screen",
                                                                     "Back", show=False)]
    DEFAULT_CSS = """
    DiffScreen VerticalScroll { padding: 0 1; }
    DiffScreen Static { width: 1fr; height: auto; margin-bottom: 1; }
    """

    def __init__(self, diff: RequestDiff, masks: SecretSet) -> None:
        super().__init__(id="diff-screen")
        self.diff = diff
        self.masks = masks

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="diff-view"):
            for part in diff_tables(self.diff, self.masks):
                yield Static(part)
        yield Footer(compact=True)

    def action_dismiss_screen(self) -> None:
        self.dismiss(None)
