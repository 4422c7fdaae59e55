"""The Definition tab: the webhook, triggers and sync.webhooks blocks, syntax highlighted."""

from __future__ import annotations

import json
from typing import Any

from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Static

from whdebug.model.definition import Definition
from whdebug.tui.analysis import Analysis
from whdebug.tui.marks import MUTED
from whdebug.tui.widgets.detail import DetailPane, syntax_theme
from whdebug.tui.workspace import DefinitionSlot

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
        title.update(Content.assemble(*parts))
        text = json.dumps(definition_blocks(definition), indent=2, ensure_ascii=False)
        if len(text) > _SHOWN_CHARS:
            text = text[:_SHOWN_CHARS] + "\n…"
        from rich.syntax import Syntax  # pygments: loaded when first shown

        body.update(Syntax(text, "json", theme=syntax_theme(self.app.current_theme.dark),
                           word_wrap=True,
                           background_color="default"))
