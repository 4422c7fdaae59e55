"""The Deliveries view: captures grouped into provider deliveries, retries on a timeline.

The same grouping and findings as `whdebug list --by delivery` (tools/deliveries.py): one row
per delivery, its attempts and their outcomes, what changed between attempts, and whether the
provider retries. The header's sparkline counts arrivals per minute, each bar coloured by the
outcomes of that minute (red: an attempt failed, green: all answered 2xx, grey: unknown).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from whdebug.model.definition import Definition
from whdebug.model.request import Capture
from whdebug.tui.analysis import Analyzer
from whdebug.tui.widgets.capture_list import CaptureList
from whdebug.wording import plural

if TYPE_CHECKING:
    from whdebug.tools.deliveries import Delivery

_BARS = "▁▂▃▄▅▆▇█"
SPARK_MINUTES = 60
LIMIT = 5_000
"""The newest captures the view groups (each is read whole, body included)."""


def sparkline(counts: list[int], failed: list[int], unknown: list[int]) -> Text:
    """One bar per minute, its height the arrivals, its colour their outcome."""
    top = max(counts, default=0)
    text = Text()
    for count, bad, blank in zip(counts, failed, unknown, strict=True):
        if not count:
            text.append(" ")
            continue
        bar = _BARS[min(len(_BARS) - 1, (count * len(_BARS) - 1) // max(top, 1))]
        style = "red" if bad else ("grey50" if blank == count else "green")
        text.append(bar, style=style)
    return text


def _moment(value: datetime | None) -> str:
    return value.astimezone().strftime("%m-%d %H:%M:%S") if value is not None else "—"


def _outcomes(delivery: Delivery) -> Text:
    text = Text()
    for number, attempt in enumerate(delivery.attempts):
        if number:
            text.append(" → ", style="dim")
        style = {True: "green", False: "red", None: "grey50"}[attempt.ok]
        text.append(str(attempt.status) if attempt.error is None and attempt.status
                    else ("error" if attempt.error else "—"), style=style)
    return text


def describe(delivery: Delivery) -> Text:
    """The selected delivery's timeline: every attempt, what changed, then the findings."""
    text = Text()
    text.append(f"{delivery.provider} delivery {delivery.key}", style="bold")
    text.append(f"  (by {delivery.via})\n", style="dim")
    for attempt in delivery.attempts:
        style = {True: "green", False: "red", None: "grey50"}[attempt.ok]
        text.append(f"  #{attempt.capture_id}  {_moment(attempt.received_at)}  ")
        text.append(attempt.outcome, style=style)
        if attempt.retry_reason:
            text.append(f"  [{attempt.retry_reason}]", style="dim")
        if attempt.changed:
            text.append(f"  changed: {', '.join(attempt.changed)}", style="yellow")
        text.append("\n")
    for item in delivery.findings:
        colour = {"error": "bold red", "warning": "yellow", "info": "cyan"}[item.severity]
        text.append(f"{item.code}", style=colour)
        text.append(f": {item.message}\n")
        if item.fix:
            text.append(f"  fix: {item.fix}\n", style="dim")
    return text


class DeliveriesScreen(Screen[int | None]):
    """Every delivery in the store; enter shows its latest attempt in the capture list,
    escape goes back."""

    DEFAULT_CSS = """
    DeliveriesScreen #deliveries-header { height: 3; padding: 0 1; background: $panel; }
    DeliveriesScreen DataTable { height: 1fr; }
    DeliveriesScreen #delivery-detail { height: auto; max-height: 14; padding: 0 1;
                                        border-top: solid $primary; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("v", "back", "Captures", show=False),
        Binding("enter", "open", "Show capture"),
        Binding("R", "refresh", "Refresh"),
    ]

    def __init__(self, load: Callable[[], list[Capture]],
                 definition: Definition | None = None,
                 now: Callable[[], datetime] | None = None,
                 version: Callable[[], object] | None = None,
                 poll_interval: float = 2.0) -> None:
        super().__init__(id="deliveries-screen")
        self._load = load
        self._version = version
        """The store's newest capture id: the view re-reads when it changes."""
        self._seen: object = None
        self._poll_interval = poll_interval
        self._definition = definition
        self._now = now or (lambda: datetime.now(UTC))
        self.deliveries: list[Delivery] = []
        self.loaded = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("loading deliveries…", id="deliveries-header")
            yield DataTable(id="deliveries-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="delivery-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("provider", "delivery", "attempts", "first", "last", "outcomes",
                          "changed")
        self.action_refresh()
        if self._version is not None:
            self.set_interval(self._poll_interval, self._poll)

    @work(thread=True, exclusive=True, group="deliveries-poll")
    def _poll(self) -> None:
        assert self._version is not None
        if self._version() != self._seen and self.loaded:
            self.app.call_from_thread(self.action_refresh)

    def action_back(self) -> None:
        self.dismiss(None)

    def action_open(self) -> None:
        """Back to the captures, with the highlighted delivery's latest attempt selected."""
        row = self.query_one(DataTable).cursor_row
        if 0 <= row < len(self.deliveries):
            self.dismiss(self.deliveries[row].attempts[-1].capture_id)

    def action_refresh(self) -> None:
        self._read()

    @work(thread=True, exclusive=True, group="deliveries")
    def _read(self) -> None:
        from whdebug.tools.deliveries import definition_transaction, group_deliveries

        if self._version is not None:
            self._seen = self._version()
        transaction = None
        if self._definition is not None:
            transaction = definition_transaction(self._definition)
        deliveries = group_deliveries(self._load(), transaction=transaction, now=self._now())
        self.app.call_from_thread(self._show, deliveries)

    def _show(self, deliveries: list[Delivery]) -> None:
        self.deliveries = deliveries
        attempts = sum(len(delivery.attempts) for delivery in deliveries)
        retried = sum(len(delivery.attempts) > 1 for delivery in deliveries)
        failing = sum(d.attempts[-1].ok is False or any(f.severity != "info"
                                                          for f in d.findings)
                      for d in deliveries)
        from whdebug.tools.deliveries import arrivals_per_minute

        counts, failed, unknown = arrivals_per_minute(deliveries, SPARK_MINUTES)
        header = Text()
        header.append("Deliveries ", style="bold")
        noun = "delivery" if len(deliveries) == 1 else "deliveries"
        header.append(f"{len(deliveries)} {noun} · {plural(attempts, 'attempt')}"
                      f" · {retried} retried · {failing} failing\n")
        header.append(f"arrivals per minute, last {SPARK_MINUTES} min: ", style="dim")
        header.append_text(sparkline(counts, failed, unknown))
        self.query_one("#deliveries-header", Static).update(header)
        table = self.query_one(DataTable)
        table.clear()
        for number, delivery in enumerate(deliveries):
            changed = sorted({name for attempt in delivery.attempts for name in attempt.changed})
            key = delivery.key if len(delivery.key) <= 30 else delivery.key[:29] + "…"
            table.add_row(delivery.provider, key, str(len(delivery.attempts)),
                          _moment(delivery.first), _moment(delivery.last), _outcomes(delivery),
                          ", ".join(changed) or "—", key=str(number))
        self.loaded = True
        if deliveries:
            table.move_cursor(row=0)
            self._detail(0)
        else:
            self.query_one("#delivery-detail", Static).update(
                "no captures yet: deliveries appear here as they arrive")

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._detail(int(event.row_key.value))

    def _detail(self, number: int) -> None:
        if 0 <= number < len(self.deliveries):
            self.query_one("#delivery-detail", Static).update(describe(self.deliveries[number]))


def open_deliveries(screen: Screen[None], analyzer: Analyzer | None,
                    definition: Definition | None,
                    position_of: Callable[[int], int | None]) -> None:
    """`v` on the main screen: the Deliveries view over the newest LIMIT captures; enter
    selects the chosen delivery's latest attempt in the capture list."""
    if analyzer is None:
        screen.notify("no capture store is open", severity="warning")
        return
    store = analyzer.store

    def chosen(capture_id: int | None) -> None:
        position = None if capture_id is None else position_of(capture_id)
        if position is not None:
            screen.query_one(CaptureList).cursor = position

    screen.app.push_screen(DeliveriesScreen(
        lambda: [store.get(number) for number in store.ids()[-LIMIT:]], definition,
        version=lambda: store.ids()[-1:]), chosen)
