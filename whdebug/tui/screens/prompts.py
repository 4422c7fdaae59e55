"""One-line prompts: try a secret (masked), filter captures, re-send URL, load definition."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.suggester import Suggester
from textual.widgets import Input, Static

from whdebug.tui.screens.dialog import Dialog


class PathSuggester(Suggester):
    """Completes file system paths (directories end with '/')."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        typed = Path(value).expanduser()
        folder, stem = (typed, "") if value.endswith("/") else (typed.parent, typed.name)
        try:
            names = sorted(entry.name + ("/" if entry.is_dir() else "")
                           for entry in folder.iterdir() if entry.name.startswith(stem)
                           and not entry.name.startswith("."))
        except OSError:
            return None
        preferred = [n for n in names if n.endswith((".json", ".js", ".json5", "/"))] or names
        if not preferred:
            return None
        return value + preferred[0][len(stem):]


class Prompt(Dialog[str]):
    """A titled input; Enter dismisses with the text, Escape with None."""

    def __init__(self, title: str, hint: str, *, value: str = "", password: bool = False,
                 placeholder: str = "", suggester: Suggester | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.title_text = title
        self.hint = hint
        self.value = value
        self.password = password
        self.placeholder = placeholder
        self.suggester = suggester

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.title_text, id="dialog-title", markup=False)
            yield Input(self.value, placeholder=self.placeholder, password=self.password,
                        suggester=self.suggester, id="prompt-input")
            yield Static(self.hint, classes="hint", markup=False)

    @on(Input.Submitted, "#prompt-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)


def secret_prompt(secret_key: str) -> Prompt:
    return Prompt(
        f"Try a secret as credentials[{secret_key}]",
        "The capture is analysed with it at once. It is never stored, logged or shown. "
        "Enter: try it · Escape: cancel", password=True, placeholder="secret",
        id="secret-prompt")


FILTER_HINT = (
    "Terms are ANDed: event:push outcome:rejected path:/miniapps code:SIG_ sig:fail "
    "method:post; a bare word matches any field; -term negates. Empty: show all.")


def filter_prompt(current: str) -> Prompt:
    return Prompt("Filter captures", FILTER_HINT, value=current,
                  placeholder="outcome:rejected code:SIG_", id="filter-prompt")


def resend_prompt(url: str) -> Prompt:
    return Prompt("Re-send this capture (exact body and headers) to", "A URL without a path "
                  "gets the capture's own path and query. Enter: send · Escape: cancel",
                  value=url, placeholder="http://localhost:3000/webhooks", id="resend-prompt")


def definition_prompt(current: str) -> Prompt:
    return Prompt("Load a MiniApp definition (JSON, JSON5 or a JS object literal)",
                  "→ accepts the suggested completion. The file is watched: edits re-analyse "
                  "at once.",
                  value=current, placeholder="./miniapp.json", suggester=PathSuggester(),
                  id="definition-prompt")
