"""The right-hand tabs: one pane per view of the selected capture, labels fitted to the width."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.lazy import Lazy
from textual.widgets import TabbedContent, TabPane

from whdebug.tui.analysis import Analysis
from whdebug.tui.widgets.definition_view import DefinitionView
from whdebug.tui.widgets.detail import DetailPane
from whdebug.tui.widgets.event_lab import EventLab
from whdebug.tui.widgets.pipeline import PipelineView
from whdebug.tui.widgets.request_view import RequestView
from whdebug.tui.widgets.response_view import ResponseView
from whdebug.tui.widgets.signature_lab import SignatureLab
from whdebug.tui.workspace import DefinitionSlot

LABELS = {"pipeline": ("Pipeline", "Pipeline"), "signature": ("Signature", "Sig"),
          "event": ("Event", "Event"), "request": ("Request", "Req"),
          "definition": ("Definition", "Def"), "response": ("Response", "Resp")}
"""Each tab's label, and its short form for narrow terminals (so all six stay visible)."""


class DetailTabs:
    """The TabbedContent and its panes; the app composes it and hands it each analysis."""

    def __init__(self) -> None:
        self.tabs = TabbedContent(id="tabs", initial="pipeline")
        self.request_view = RequestView(id="request-view")
        self.definition_view = DefinitionView(id="definition-view")
        self.event_lab = EventLab(id="event-view")
        self.pipeline = PipelineView(id="pipeline-view")
        self.panes: dict[str, DetailPane] = {
            "pipeline": self.pipeline,
            "signature": SignatureLab(id="signature-view"),
            "event": self.event_lab,
            "request": self.request_view,
            "definition": self.definition_view,
            "response": ResponseView(id="response-view"),
        }

    def compose(self) -> ComposeResult:
        with self.tabs:
            for pane_id, pane in self.panes.items():
                with TabPane(LABELS[pane_id][0], id=pane_id):
                    # Hidden tabs are built after the first frame (it shows the list sooner).
                    yield pane if pane_id == "pipeline" else Lazy(pane)

    @property
    def active(self) -> str:
        return self.tabs.active

    @active.setter
    def active(self, name: str) -> None:
        self.tabs.active = name

    def fit(self, narrow: bool) -> None:
        """Short labels in a narrow terminal, full ones otherwise."""
        for pane_id, labels in LABELS.items():
            tab = self.tabs.get_tab(pane_id)
            label = labels[1] if narrow else labels[0]
            if str(tab.label) != label:
                tab.label = label

    def show(self, analysis: Analysis | None, slot: DefinitionSlot | None) -> None:
        """Hand every pane the analysis; only the visible tab draws now."""
        active = self.tabs.active
        for pane_id, pane in self.panes.items():
            if pane is not self.definition_view:
                pane.show(analysis, visible=pane_id == active)
        self.definition_view.analysis = analysis
        self.definition_view.show_slot(slot, visible=active == "definition")

    def show_pipeline(self, analysis: Analysis) -> None:
        """Only the pipeline changed (the dedupe history moved on)."""
        self.pipeline.show(analysis, visible=self.tabs.active == "pipeline")

    def reveal(self, pane_id: str) -> None:
        """A tab became visible: draw what changed while it was hidden."""
        pane = self.panes.get(pane_id)
        if pane is not None:
            pane.reveal()
