"""The Event tab: parts with values, missing-part variants, near misses and path suggestions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from whdebug.tui.analysis import Analysis
from whdebug.tui.marks import MUTED
from whdebug.tui.widgets.detail import DetailPane, heading, placeholder

if TYPE_CHECKING:
    from whdebug.engine.report import EventResult, PathSuggestion, Report

_VARIANTS_NOTE = ("empty: JavaScript Array.join (whdebug's default); skip: parts left out; "
                  "undefined: a template string. Change with --missing-part.")


def _quoted(value: str | None) -> str:
    return "(none)" if value is None else repr(value)


def event_content(report: Report, missing_part: str, trigger_events: list[str]) -> Content:
    lines = _event_lines(report.event, missing_part, trigger_events)
    matched = report.triggers.matched
    lines.append(heading("Triggers"))
    lines.append(Content.assemble(("matched    ", MUTED),
                                  ", ".join(matched) if matched else "none"))
    if report.triggers.ambiguous:
        lines.append(Content.assemble(("ambiguous  ", "$text-warning"),
                                      ", ".join(report.triggers.ambiguous)))
    if report.triggers.near_misses:
        lines.append(heading("Near misses"))
        for miss in report.triggers.near_misses:
            lines.append(Content.assemble((f"{miss.event:<24}", "bold"),
                                          (f" {miss.kind}: ", "$text-warning"), miss.reason))
    return Content("\n").join(lines)


def rejected_content(analysis: Analysis, report: Report, missing_part: str) -> Content:
    """A rejected request: the event the runtime would extract once the signature passes."""
    lines = [Content.assemble(("Rejected before extraction ", "bold"),
                              (f"({report.signature.reason}). Once the signature passes:",
                               MUTED))]
    definition, capture = analysis.definition, analysis.capture
    if definition is not None and capture is not None:
        from whdebug.engine.paths import parse_body
        from whdebug.engine.plan import compile_definition
        from whdebug.engine.steps.events import extract_event

        event, _ = extract_event(compile_definition(definition).event_extraction,
                                 capture.request, parse_body(capture.request), missing_part)
        lines += _event_lines(event, missing_part, definition.trigger_events)
    hypothetical = report.outcome.if_verified or {}
    fired = hypothetical.get("triggers") or []
    lines.append(heading("Triggers (once verified)"))
    lines.append(Content.assemble(("would fire ", MUTED), ", ".join(fired) if fired else "none"))
    return Content("\n").join(lines)


def _event_lines(event: EventResult, missing_part: str,
                 trigger_events: list[str]) -> list[Content]:
    lines = [Content.assemble(("event  ", MUTED), (_quoted(event.value), "bold"),
                              (f"  ({event.strategy}"
                               + (", fallback used" if event.used_fallback else "") + ")",
                               MUTED))]
    if event.parts:
        lines.append(heading("Parts"))
        for part in event.parts:
            found = ("✓ " + _quoted(part.value), "$text-success") if part.found else (
                "✗ missing", "$text-error")
            lines.append(Content.assemble(f"{part.source:<7}", (f"{part.path:<24} ", "bold"),
                                          found))
    if event.variants:
        lines.append(heading("If a part is missing"))
        triggers = set(trigger_events)
        for name, value in event.variants.items():
            lines.append(Content.assemble(
                f"{name:<10}", (f"{value!r:<20}", "bold"),
                (" ← used" if name == missing_part else "", "bold"),
                (" = a trigger" if value in triggers else "", "$text-success")))
        lines.append(Content.assemble((_VARIANTS_NOTE, MUTED)))
    return lines


class EventLab(DetailPane):
    DEFAULT_CSS = """
    EventLab > OptionList { height: auto; max-height: 10; margin-top: 1; }
    """

    class SnippetRequested(Message):
        """Enter on a path suggestion: show the definition snippet to paste."""

        def __init__(self, suggestion: PathSuggestion) -> None:
            super().__init__()
            self.suggestion = suggestion

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.missing_part = "empty"
        self._suggestions: list[PathSuggestion] = []

    def compose(self) -> ComposeResult:
        yield Static(id="event-body")
        yield Static(heading("Path suggestions (Enter: show the snippet)"),
                     id="event-suggestions-title")
        yield OptionList(id="event-suggestions")

    def draw(self, analysis: Analysis | None) -> None:
        body = self.query_one("#event-body", Static)
        options = self.query_one(OptionList)
        options.clear_options()
        missing = placeholder(analysis)
        report = analysis.report if analysis is not None else None
        self._suggestions = list(report.triggers.suggested_paths) if report else []
        shown = bool(self._suggestions)
        self.query_one("#event-suggestions-title", Static).display = shown
        options.display = shown
        if missing is not None or report is None or analysis is None:
            body.update(missing or "")
            return
        if report.outcome.status == "rejected":
            body.update(rejected_content(analysis, report, self.missing_part))
            return
        if report.outcome.status == "challenge":
            body.update(Content.assemble(("No event: ", "bold"), "a challenge has no event"))
            return
        triggers = analysis.definition.trigger_events if analysis.definition else []
        body.update(event_content(report, self.missing_part, triggers))
        options.add_options(
            Option(f"{s.event!r}  at {s.source} {s.path}", id=str(index))
            for index, s in enumerate(self._suggestions))

    @on(OptionList.OptionSelected, "#event-suggestions")
    def _suggestion_chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        index = int(event.option.id or 0)
        if 0 <= index < len(self._suggestions):
            self.post_message(self.SnippetRequested(self._suggestions[index]))
