"""The two header lines: where to point the provider, receiver state, store, definition, counts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from textual.content import Content
from textual.widgets import Static

from whdebug.tui.marks import MUTED, OUTCOME_ORDER, OUTCOME_STYLES, OUTCOME_SYMBOLS
from whdebug.wording import plural


@dataclass(frozen=True, slots=True)
class HeaderState:
    title: str = "whdebug"
    receiver_url: str | None = None
    """http://127.0.0.1:8787/miniapps/{ns}/webhooks, or None when not listening."""
    listening: bool = False
    receiver_error: str | None = None
    store: str = ""
    definition: str | None = None
    """ns@version of the selected capture's definition."""
    total: int = 0
    analysed: int = 0
    counts: tuple[tuple[str, int], ...] = ()
    following: bool = True
    filter_text: str | None = None
    checking: tuple[int, int] | None = None
    """(checked, total) while the dedupe history (or the analysis index) is still being
    filled, else None."""
    checking_label: str = "dedupe: checked"


def header_content(state: HeaderState) -> Content:
    if state.listening:
        receiver: tuple[str, str] = ("● listening", "$text-success bold")
    elif state.receiver_error:
        receiver = (f"✗ {state.receiver_error}", "$text-error bold")
    else:
        receiver = ("○ not listening", MUTED)
    # The URL to register has the first line to itself; the store path comes last, so a
    # narrow terminal cuts the store path, never the URL.
    first: list[str | tuple[str, str]] = [(f" {state.title} ", "reverse bold"), " ", receiver]
    if state.receiver_url:
        first += ["  ", (state.receiver_url, "bold underline")]
    counts = Counter(dict(state.counts))
    second: list[str | tuple[str, str]] = [
        " ", (state.definition or "no definition", "bold" if state.definition else MUTED),
        ("  ", ""), (plural(state.total, "capture", grouped=True), "bold")]
    if state.analysed < state.total:
        second.append((f" ({state.analysed:,} analysed)", MUTED))
    for status in OUTCOME_ORDER:
        if counts.get(status):
            second += ["  ", (f"{OUTCOME_SYMBOLS[status]}{counts[status]}",
                              OUTCOME_STYLES[status])]
    if state.checking is not None:  # the background fill, oldest first: how far it is
        checked, total = state.checking
        percent = checked * 100 // total if total else 100
        second += ["  ", (f"{state.checking_label} {checked:,}/{total:,} ({percent}%)",
                          "$text-warning")]
    if state.filter_text:
        second += ["  ", ("filter: " + state.filter_text, "$text-accent")]
    second += ["  ", ("following" if state.following else "paused", MUTED)]
    second += ["  ", ("store " + state.store, MUTED)]
    return Content.assemble(*first, "\n", *second)


class WhdebugHeader(Static):
    DEFAULT_CSS = """
    WhdebugHeader {
        height: 2;
        background: $panel;
        color: $foreground;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state: HeaderState | None = None

    def set_state(self, state: HeaderState) -> None:
        if state != self.state:
            self.state = state
            self.update(header_content(state))
