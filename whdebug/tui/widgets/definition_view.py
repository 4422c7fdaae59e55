"""The Definition tab: what `whdebug check` finds in the definition (errors and warnings, each
with its fix), then the webhook, triggers and sync.webhooks blocks, syntax highlighted."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Static

from whdebug.model.definition import Definition
from whdebug.tui.analysis import Analysis
from whdebug.tui.marks import MUTED
from whdebug.tui.widgets.detail import DetailPane, syntax_theme
from whdebug.tui.workspace import DefinitionSlot

if TYPE_CHECKING:  # the engine is imported after the first frame (tests/tui/test_tui_index.py)
    from whdebug.engine.report import Finding

_SHOWN_CHARS = 64 * 1024


def definition_blocks(definition: Definition) -> dict[str, Any]:
    blocks: dict[str, Any] = {"webhook": definition.webhook, "triggers": definition.triggers}
    if definition.sync_handlers:
        blocks["sync"] = {"webhooks": {"handlers": definition.sync_handlers}}
    return blocks


class DefinitionView(DetailPane):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.slot: DefinitionSlot | None = None
        self._checked: tuple[Definition, list[Finding]] | None = None
        """The last definition linted and its findings (a few ms; redone when it changes)."""

    def compose(self) -> ComposeResult:
        yield Static(id="definition-title")
        yield Static(id="definition-body")

    def show_slot(self, slot: DefinitionSlot | None, *, visible: bool) -> None:
        self.slot = slot
        self.show(self.analysis, visible=visible)

    def draw(self, analysis: Analysis | None) -> None:
        title = self.query_one("#definition-title", Static)
        body = self.query_one("#definition-body", Static)
        slot = self.slot
        definition = slot.definition if slot is not None else None
        if slot is None or definition is None:
            message = slot.error if slot is not None and slot.error else (
                "No definition loaded: press d to load one.")
            title.update(Content.assemble((message, "$text-error" if slot else MUTED)))
            body.update("")
            return
        facts = [f"{definition.label}", slot.path, definition.syntax]
        parts: list[str | tuple[str, str]] = [(" · ".join(facts), "bold")]
        if slot.error:
            parts.append((f"\n{slot.error}\n(showing the last version that parsed)", "$text-error"))
        if slot.builtin:
            parts.append(("\nA built-in profile (--profile): no definition file to edit.",
                          MUTED))
        else:
            parts.append(("\nEdits to this file are picked up at once.", MUTED))
        parts += self._check_parts(definition, slot.path)
        title.update(Content.assemble(*parts))
        text = json.dumps(definition_blocks(definition), indent=2, ensure_ascii=False)
        if len(text) > _SHOWN_CHARS:
            text = text[:_SHOWN_CHARS] + "\n…"
        from rich.syntax import Syntax  # pygments: loaded when first shown

        body.update(Syntax(text, "json", theme=syntax_theme(self.app.current_theme.dark),
                           word_wrap=True,
                           background_color="default"))

    def _check_parts(self, definition: Definition, path: str) -> list[str | tuple[str, str]]:
        """`check`'s verdict and each error and warning with its fix."""
        from whdebug.tools.reachability import lint
        from whdebug.wording import plural

        if self._checked is None or self._checked[0] is not definition:
            try:
                found = lint(definition)
            except Exception as error:  # a definition the lint cannot read says so here
                return [(f"\ncheck could not run: {type(error).__name__}: {error}",
                         "$text-error")]
            self._checked = (definition, found)
        shown = sorted((item for item in self._checked[1]
                        if item.severity in ("error", "warning")),
                       key=lambda item: item.severity != "error")
        errors = sum(1 for item in shown if item.severity == "error")
        parts: list[str | tuple[str, str]] = [
            (f"\n\ncheck: {plural(errors, 'error')} · {plural(len(shown) - errors, 'warning')}",
             "bold"),
            (f"  (whdebug check {path} prints the notes too)" if shown else "", MUTED)]
        for item in shown:
            mark, style = (("✗", "$text-error") if item.severity == "error"
                           else ("!", "$text-warning"))
            parts += [(f"\n{mark} {item.code}", f"bold {style}"), f"  {item.message}"]
            if item.fix:
                parts.append((f"\n  fix: {item.fix}", MUTED))
        return parts
