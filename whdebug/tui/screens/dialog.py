"""The shared frame of the modal screens: a titled box, Escape to cancel."""

from __future__ import annotations

from typing import TypeVar

from textual.binding import Binding
from textual.screen import ModalScreen

ResultType = TypeVar("ResultType")

DIALOG_CSS = """
Dialog {
    align: center middle;
    & > #dialog {
        width: 80%;
        max-width: 100;
        min-width: 40;
        height: auto;
        max-height: 90%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    & #dialog-title { text-style: bold; margin-bottom: 1; }
    & .hint { color: $text-muted; margin-top: 1; }
    & .error { color: $error; }
    & Input { margin: 0; }
}
"""


class Dialog(ModalScreen[ResultType]):
    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)
