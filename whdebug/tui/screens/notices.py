"""Screens that show something and wait: confirm a deletion, a snippet, a re-send answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Static

from whdebug.model.secrecy import SecretSet
from whdebug.tui.screens.dialog import Dialog
from whdebug.tui.widgets.detail import syntax_theme

if TYPE_CHECKING:
    from whdebug.engine.report import PathSuggestion
    from whdebug.tools.resend import Answer

_SHOWN_BODY = 16 * 1024
"""Bytes of a re-send's answer shown (the start of its body)."""


class ConfirmScreen(Dialog[bool]):
    DEFAULT_CSS = """
    ConfirmScreen Horizontal { height: auto; margin-top: 1; }
    ConfirmScreen Button { margin-right: 2; }
    """
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n", "answer(False)", "No")]

    def __init__(self, question: str, *, yes: str = "Delete") -> None:
        super().__init__(id="confirm-screen")
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, id="dialog-title", markup=False)
            with Horizontal():
                yield Button(f"{self.yes} (y)", variant="error", id="confirm-yes")
                yield Button("Keep (n)", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")


class SnippetScreen(Dialog[None]):
    """The definition change a path suggestion proposes; `c` copies it."""

    BINDINGS = [Binding("c", "copy", "Copy snippet"), Binding("enter", "cancel", "Close")]

    def __init__(self, suggestion: PathSuggestion) -> None:
        super().__init__(id="snippet-screen")
        self.suggestion = suggestion

    def compose(self) -> ComposeResult:
        suggestion = self.suggestion
        with Vertical(id="dialog"):
            yield Static(Content(f"{suggestion.event!r} is at {suggestion.source} "
                                 f"{suggestion.path}: paste into webhook"), id="dialog-title")
            from rich.syntax import Syntax  # pygments: loaded when first shown

            yield Static(Syntax(suggestion.snippet, "json",
                                theme=syntax_theme(self.app.current_theme.dark),
                                background_color="default", word_wrap=True))
            yield Static("c: copy to the clipboard · Enter or Escape: close", classes="hint")

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.suggestion.snippet)
        self.app.notify("Snippet copied to the clipboard.")


class ResendResultScreen(Dialog[None]):
    """What the target answered to a re-send (the start of its body), or why it failed."""

    BINDINGS = [Binding("enter", "cancel", "Close")]
    DEFAULT_CSS = """
    ResendResultScreen VerticalScroll { height: auto; max-height: 20; }
    """

    def __init__(self, url: str, answer: Answer | None, error: str | None = None,
                 masks: SecretSet | None = None) -> None:
        super().__init__(id="resend-result")
        self.masks = masks if masks is not None else SecretSet()
        self.url = self.masks.mask_target(answer.url if answer is not None else url)
        self.answer = answer
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Content(f"Re-sent to {self.url}"), id="dialog-title")
            with VerticalScroll():
                yield Static(self._answer())
            yield Static("Enter or Escape: close", classes="hint")

    def _answer(self) -> Content:
        answer = self.answer
        if answer is None:
            return Content.assemble(("failed: ", "$text-error bold"), self.error or "no answer")
        style = "$text-success bold" if answer.status < 400 else "$text-error bold"
        lines = [Content.assemble((f"HTTP {answer.status} {answer.reason}", style),
                                  (f"  in {answer.elapsed * 1000:.0f} ms", "$text-muted"))]
        lines += [Content(f"{name}: {value}")
                  for name, value in self.masks.mask_headers(answer.headers)]
        if answer.body:
            lines.append(Content(""))
            lines.append(Content(self.masks.mask(
                answer.body[:_SHOWN_BODY].decode("utf-8", errors="replace"))))
        return Content("\n").join(lines)
