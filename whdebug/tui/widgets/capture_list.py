"""The capture list: a Line API widget that draws only the rows on screen (newest first)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from whdebug.model.secrecy import SecretSet
from whdebug.store.store import CaptureSummary
from whdebug.tui.analysis import RowVerdict
from whdebug.tui.marks import OUTCOME_SYMBOLS, SIGNATURE_SYMBOLS, printable
from whdebug.tui.rows import CaptureRows

HEADER_LINES = 1
_NO_EVENT = {"rejected": "–", "challenge": "(challenge)"}


LEGEND = ("s signature · o outcome: ✓ fires ✗ rejected ∅ no event ? no trigger ↺ duplicate "
          "⇄ challenge")
"""The last line of a list too narrow for the column words."""
SIGNATURE_LEGEND = "s signature: ✓ verifies ✗ fails – not verified"
"""The legend when only the signature column is one cell."""


@dataclass(frozen=True, slots=True)
class Columns:
    time: int
    method: int
    path: int
    event: int
    outcome: int
    signature: int = 1

    @classmethod
    def fit(cls, width: int) -> Columns:
        """Column widths for a list `width` cells wide; narrow lists drop path, then method,
        and below 40 cells the mark columns shrink to one cell (explained by `LEGEND`)."""
        outcome = 12 if width >= 40 else 1
        signature = 3 if width >= 46 else 1  # the word only when the event keeps 20 cells
        method = 6 if width >= 58 else 0
        fixed = 8 + 1 + (method + 1 if method else 0) + signature + 1 + outcome + 1
        rest = max(width - fixed, 4)
        if width >= 70:
            path = rest // 2
            return cls(8, method, path, rest - path - 1, outcome, signature)
        return cls(8, method, 0, rest, outcome, signature)

    @property
    def legend(self) -> str | None:
        """The line explaining one-cell mark columns (headed `s`, `o`), when there are any."""
        if self.outcome == 1:
            return LEGEND
        return SIGNATURE_LEGEND if self.signature == 1 else None


def _fit(text: str, width: int) -> str:
    text = printable(text)
    if len(text) <= width:
        return text.ljust(width)
    return text[: max(width - 1, 0)] + "…" if width > 0 else ""


def app_answer(summary: CaptureSummary) -> str:
    """` app 500 41ms` when your app's answer was recorded (`serve --forward-to`, or an
    edited re-send), `✎#3` for a capture edited from #3; '' otherwise."""
    text = f" ✎#{summary.edited_from}" if summary.edited_from is not None else ""
    if summary.forward_status is not None:
        text += f" app {summary.forward_status}"
        if summary.forward_latency is not None:
            text += f" {summary.forward_latency * 1000:.0f}ms"
    return text


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAY_AND_MONTH_FOR = 300
"""Days back for which another day's capture shows "Dec 03"; older ones "Nov 2025"."""


def row_time(moment: datetime, now: datetime | None = None) -> str:
    """The list's time column (8 cells), in local time: "15:59:20" for a capture of today,
    "Dec 03" for another day of the last 300, "Nov 2025" before that (as `ls -l` does,
    with English month names whatever the locale). The Request tab has the whole time."""
    local = moment.astimezone()
    today = (now or datetime.now()).astimezone()
    if local.date() == today.date():
        return local.strftime("%H:%M:%S")
    month = _MONTHS[local.month - 1]
    if abs((today.date() - local.date()).days) <= _DAY_AND_MONTH_FOR:
        return f"{month} {local.day:02d}"
    return f"{month} {local.year}"


class CaptureList(ScrollView, can_focus=True):
    """Rows come from `CaptureRows`; verdicts from a lookup, filled in as analyses finish."""

    COMPONENT_CLASSES = {
        "capture-list--header",
        "capture-list--cursor",
        "capture-list--muted",
        "capture-list--fires",
        "capture-list--rejected",
        "capture-list--no-event",
        "capture-list--no-trigger",
        "capture-list--duplicate",
        "capture-list--challenge",
        "capture-list--pass",
        "capture-list--fail",
    }
    DEFAULT_CSS = """
    CaptureList {
        overflow-x: hidden;
        background: $surface;
        & > .capture-list--header { color: $text-muted; text-style: bold; }
        & > .capture-list--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        &:focus > .capture-list--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .capture-list--muted { color: $text-muted; }
        & > .capture-list--fires { color: $text-success; text-style: bold; }
        & > .capture-list--rejected { color: $text-error; text-style: bold; }
        & > .capture-list--no-event { color: $text-warning; text-style: bold; }
        & > .capture-list--no-trigger { color: $text-warning; text-style: bold; }
        & > .capture-list--duplicate { color: $text-secondary; text-style: bold; }
        & > .capture-list--challenge { color: $text-accent; text-style: bold; }
        & > .capture-list--pass { color: $text-success; }
        & > .capture-list--fail { color: $text-error; }
    }
    """
    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,g", "first", "Newest", show=False),
        Binding("end,G", "last", "Oldest", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class Highlighted(Message):
        """The cursor moved to a capture (None: the list is empty)."""

        def __init__(self, capture_list: CaptureList, capture_id: int | None) -> None:
            super().__init__()
            self.capture_list = capture_list
            self.capture_id = capture_id

        @property
        def control(self) -> CaptureList:
            return self.capture_list

    class RowsShown(Message):
        """These captures are on screen; those without a verdict should be analysed."""

        def __init__(self, capture_ids: list[int]) -> None:
            super().__init__()
            self.capture_ids = capture_ids

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, CaptureList.RowsShown)

    def __init__(self, rows: CaptureRows, verdict_of: Callable[[int], RowVerdict | None],
                 *, masks: SecretSet | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows = rows
        self.masks = masks if masks is not None else SecretSet()
        """Credential-looking query parameters are masked in the path column."""
        self.verdict_of = verdict_of
        self._highlighted: int | None = None

    # -- state -----------------------------------------------------------------------------

    @property
    def capture_id(self) -> int | None:
        return self.rows.id_at(self.cursor)

    def reset(self) -> None:
        """The rows changed wholesale (reload, filter): re-measure and repaint."""
        self._update_size()
        self.cursor = min(self.cursor, max(len(self.rows) - 1, 0))
        self.refresh()
        self.call_after_refresh(self._announce_rows)

    def rows_added(self, count: int, *, follow: bool) -> None:
        """New captures went on top: follow them, or keep the cursor on the same capture."""
        self._update_size()
        if follow:
            self.cursor = 0
            self.scroll_to(y=0, animate=False)
        elif self._highlighted is not None:
            position = self.rows.position_of(self._highlighted)
            if position is not None and position != self.cursor:
                self.set_reactive(CaptureList.cursor, position)
                self.scroll_to(y=self.scroll_y + count, animate=False)
        self.refresh()
        self.call_after_refresh(self._announce_rows)

    def select(self, capture_id: int) -> bool:
        position = self.rows.position_of(capture_id)
        if position is None:
            return False
        self.cursor = position
        return True

    def _legend_lines(self, width: int) -> list[str]:
        """The legend, wrapped to the list's width (at most three lines), when narrow."""
        legend = Columns.fit(width).legend
        return textwrap.wrap(legend, max(width, 10))[:3] if legend else []

    def _chrome_lines(self) -> int:
        """Lines that are not rows: the column header, and the legend when narrow."""
        return HEADER_LINES + len(self._legend_lines(self.scrollable_content_region.width))

    def _update_size(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width,
                                 len(self.rows) + self._chrome_lines())

    def on_resize(self, event: events.Resize) -> None:
        self._update_size()
        self._scroll_to_cursor()
        self.call_after_refresh(self._announce_rows)

    def on_mount(self) -> None:
        self._update_size()

    def watch_cursor(self, old: int, new: int) -> None:
        clamped = max(0, min(new, len(self.rows) - 1))
        if clamped != new:
            self.set_reactive(CaptureList.cursor, clamped)
        self._scroll_to_cursor()
        self.refresh()
        capture_id = self.capture_id
        if capture_id != self._highlighted or capture_id is None:
            self._highlighted = capture_id
            self.post_message(self.Highlighted(self, capture_id))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self._announce_rows()

    def _visible_span(self) -> tuple[int, int]:
        first = round(self.scroll_y)
        return first, first + max(self.scrollable_content_region.height - self._chrome_lines(),
                                  1)

    def visible_ids(self) -> list[int]:
        return self.rows.ids_between(*self._visible_span())

    def _announce_rows(self) -> None:
        ids = self.visible_ids()
        if any(self.verdict_of(capture_id) is None for capture_id in ids):
            self.post_message(self.RowsShown(ids))

    def _scroll_to_cursor(self) -> None:
        first, stop = self._visible_span()
        if self.cursor < first:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= stop:
            self.scroll_to(y=self.cursor - (stop - first) + 1, animate=False)

    # -- actions ---------------------------------------------------------------------------

    def action_cursor_up(self) -> None:
        if self.cursor > 0:
            self.cursor -= 1

    def action_cursor_down(self) -> None:
        if self.cursor < len(self.rows) - 1:
            self.cursor += 1

    def action_page_up(self) -> None:
        page = max(self.scrollable_content_region.height - self._chrome_lines() - 1, 1)
        self.cursor = max(self.cursor - page, 0)

    def action_page_down(self) -> None:
        page = max(self.scrollable_content_region.height - self._chrome_lines() - 1, 1)
        self.cursor = min(self.cursor + page, max(len(self.rows) - 1, 0))

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = max(len(self.rows) - 1, 0)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < HEADER_LINES:
            return
        if offset.y >= self.scrollable_content_region.height - (self._chrome_lines()
                                                                 - HEADER_LINES):
            return  # the legend line
        position = round(self.scroll_y) + offset.y - HEADER_LINES
        if 0 <= position < len(self.rows):
            self.cursor = position

    # -- drawing ---------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y < HEADER_LINES:
            return self._header_strip(width, base)
        legend = self._legend_lines(width)
        first_legend = self.scrollable_content_region.height - len(legend)
        if legend and y >= first_legend:
            style = base + self.get_component_rich_style("capture-list--header")
            line = _fit(legend[y - first_legend], width)
            return Strip([Segment(line, style)]).adjust_cell_length(width, base)
        position = round(self.scroll_y) + y - HEADER_LINES
        summary = self.rows.summary_at(position)
        if summary is None:
            return Strip.blank(width, base)
        style = base
        if position == self.cursor:
            style = base + self.get_component_rich_style("capture-list--cursor")
        return self._row_strip(summary, width, style, position == self.cursor)

    def _header_strip(self, width: int, base: Style) -> Strip:
        columns = Columns.fit(width)
        parts = [_fit("time", columns.time)]
        if columns.method:
            parts.append(_fit("method", columns.method))
        if columns.path:
            parts.append(_fit("path", columns.path))
        parts.append(_fit("event", columns.event))
        parts.append(_fit("sig" if columns.signature > 1 else "s", columns.signature))
        parts.append(_fit("outcome" if columns.outcome > 1 else "o", columns.outcome))
        style = base + self.get_component_rich_style("capture-list--header")
        return Strip([Segment(" ".join(parts), style)]).adjust_cell_length(width, base)

    def _row_strip(self, summary: CaptureSummary, width: int, style: Style,
                   cursor: bool) -> Strip:
        columns = Columns.fit(width)
        verdict = self.verdict_of(summary.id)
        muted = self._accent(style, "muted", cursor)
        segments = [Segment(_fit(row_time(summary.received_at), columns.time) + " ", muted)]
        if columns.method:
            segments.append(Segment(_fit(summary.method, columns.method) + " ", style))
        if columns.path:
            target = self.masks.mask_target(summary.target)
            segments.append(Segment(_fit(target, columns.path) + " ", style))
        if verdict is None:
            event, event_style = "…", muted
            signature, status = "·", "none"
        else:
            event = verdict.event if verdict.event is not None else (
                verdict.note or _NO_EVENT.get(verdict.status, "∅"))
            event_style = style if verdict.event is not None else muted
            signature, status = SIGNATURE_SYMBOLS.get(verdict.signature, "·"), verdict.status
        event += app_answer(summary)
        segments.append(Segment(_fit(event, columns.event) + " ", event_style))
        signature_class = {"✓": "pass", "✗": "fail"}.get(signature, "muted")
        segments.append(Segment(_fit(signature, columns.signature) + " ",
                                self._accent(style, signature_class, cursor)))
        symbol = OUTCOME_SYMBOLS.get(status, "·")
        label = f"{symbol} {status}" if columns.outcome > 1 and status != "none" else symbol
        outcome_class = status if status in OUTCOME_SYMBOLS and status != "none" else "muted"
        segments.append(Segment(_fit(label, columns.outcome),
                                self._accent(style, outcome_class, cursor)))
        return Strip(segments).adjust_cell_length(width, style)

    def _accent(self, style: Style, name: str, cursor: bool) -> Style:
        accent = self.get_component_rich_style(f"capture-list--{name}", partial=True)
        if cursor:
            # On the cursor row keep the cursor's colours and only embolden the mark.
            return style + Style(bold=accent.bold)
        return style + Style(color=accent.color, bold=accent.bold)
