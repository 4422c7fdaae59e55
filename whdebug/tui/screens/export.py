"""The export dialog: a format (http, har, curl, json) and a file path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, RadioButton, RadioSet, Static

from whdebug.tui.screens.dialog import Dialog
from whdebug.tui.screens.prompts import PathSuggester

FORMATS = ("http", "har", "curl", "json")
EXTENSIONS = {"http": ".http", "har": ".har", "curl": ".sh", "json": ".json"}


@dataclass(frozen=True, slots=True)
class ExportChoice:
    format: str
    path: Path


class FormatChoice(RadioSet):
    """The formats; Enter picks the highlighted one and writes the file at once."""

    BINDINGS = [Binding("enter", "pick_and_write", "Write", show=False)]

    class Picked(Message):
        def __init__(self, index: int | None) -> None:
            super().__init__()
            self.index = index

    def action_pick_and_write(self) -> None:
        highlighted = getattr(self, "_selected", None)
        self.post_message(self.Picked(highlighted if isinstance(highlighted, int) else None))


class ExportScreen(Dialog[ExportChoice]):
    DEFAULT_CSS = """
    ExportScreen RadioSet { layout: horizontal; width: 1fr; margin-bottom: 1; }
    """

    def __init__(self, capture_id: int, directory: Path) -> None:
        super().__init__(id="export-screen")
        self.capture_id = capture_id
        self.directory = directory
        self.format = "http"

    def _default_path(self, format_name: str) -> str:
        return str(self.directory / f"capture-{self.capture_id}{EXTENSIONS[format_name]}")

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(f"Export capture #{self.capture_id}", id="dialog-title")
            with FormatChoice(id="export-format"):
                for index, name in enumerate(FORMATS):
                    yield RadioButton(name, value=index == 0, id=f"format-{name}")
            yield Input(self._default_path("http"), suggester=PathSuggester(),
                        id="export-path")
            yield Static("←/→ in the formats picks one · Enter writes the file (bodies "
                         "exactly as received) · Escape: cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    @on(RadioSet.Changed, "#export-format")
    def _format_changed(self, event: RadioSet.Changed) -> None:
        self._choose(FORMATS[event.index])

    def _choose(self, name: str) -> None:
        path_input = self.query_one("#export-path", Input)
        if path_input.value == self._default_path(self.format):
            path_input.value = self._default_path(name)
        self.format = name

    def _write(self) -> None:
        value = self.query_one("#export-path", Input).value.strip()
        if value:
            self.dismiss(ExportChoice(self.format, Path(value).expanduser()))

    @on(Input.Submitted, "#export-path")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._write()

    @on(FormatChoice.Picked)
    def _picked(self, event: FormatChoice.Picked) -> None:
        event.stop()
        if event.index is not None:
            self._choose(FORMATS[event.index])
        self._write()
