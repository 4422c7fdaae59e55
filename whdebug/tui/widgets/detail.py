"""The base of the right-hand tabs: shows one analysis, drawn only while its tab is visible."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.content import Content
from textual.css.query import NoMatches
from textual.widgets import TabbedContent

from whdebug.tui.analysis import Analysis
from whdebug.tui.marks import MUTED


class DetailPane(VerticalScroll):
    DEFAULT_CSS = """
    DetailPane {
        height: 1fr;
        padding: 0 1;
        & > Static { width: 1fr; height: auto; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.analysis: Analysis | None = None
        self._dirty = True

    def on_mount(self) -> None:
        # A hidden tab's pane is mounted after the first frame (DetailTabs): if its tab was
        # chosen before that, draw it now.
        tabs = next((a for a in self.ancestors if isinstance(a, TabbedContent)), None)
        if tabs is not None and self.parent is not None and tabs.active == self.parent.id:
            self.reveal()

    def show(self, analysis: Analysis | None, *, visible: bool) -> None:
        """Take a new analysis; draw it now only when the tab is visible."""
        self.analysis = analysis
        self._dirty = True
        if visible:
            self.reveal()

    def reveal(self) -> None:
        """The tab became visible: draw what changed while it was hidden."""
        if self._dirty and self.is_mounted:
            self._dirty = False
            try:
                self.draw(self.analysis)
            except NoMatches:  # mounted, its children not yet (early in the first paint)
                self._dirty = True
                self.call_after_refresh(self.reveal)

    def draw(self, analysis: Analysis | None) -> None:
        raise NotImplementedError


def placeholder(analysis: Analysis | None) -> Content | None:
    """What to show instead of a report (nothing selected, no definition, unreadable capture)."""
    if analysis is None:
        return Content.assemble(
            ("No capture selected.", "bold"),
            ("\n\nWaiting for webhooks: point the provider (or your tunnel) at the URL in the "
             "header, or send one yourself:\n  curl --data-binary @payload.json -H "
             "'Content-Type: application/json' <that URL>\nSaved requests: whdebug import "
             "FILE.http|.har. Select a capture to see its pipeline.", MUTED))
    if analysis.report is None:
        return Content.assemble(("No report: ", "bold"), analysis.problem or "not analysed")
    return None


def syntax_theme(dark: bool) -> str:
    """A Pygments theme made of ANSI colours, which the Textual theme maps for light or dark."""
    return "ansi_dark" if dark else "ansi_light"


def heading(text: str) -> Content:
    return Content.assemble(("\n" + text, "bold underline"))
