"""The Pipeline tab: the runtime's steps with pass/fail and a reason, then findings with fixes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Container
from textual.content import Content
from textual.widgets import Static

from whdebug.tui.analysis import Analysis
from whdebug.tui.marks import (
    CODE_STYLE,
    MUTED,
    OUTCOME_STYLES,
    SEVERITY_STYLES,
    SEVERITY_SYMBOLS,
    STEP_STYLES,
    STEP_SYMBOLS,
    outcome_label,
)
from whdebug.tui.widgets.detail import DetailPane, heading, placeholder

if TYPE_CHECKING:
    from whdebug.engine.report import Report

STEP_NAMES = ("challenge", "verify", "extract", "dedupe", "match")


def outcome_line(report: Report, trial: bool) -> Content:
    status = report.outcome.status
    parts: list[str | tuple[str, str] | Content] = [
        (outcome_label(status), OUTCOME_STYLES.get(status, "")),
        (f"  HTTP {report.outcome.http_status}", MUTED),
    ]
    if trial:
        parts.append(("  (with the typed secret, not stored)", "$text-warning"))
    parts.append("\n" + report.outcome.summary)
    return Content.assemble(*parts)


def dedupe_scope(pending: int) -> str:
    """What a "new" transaction id was checked against: every earlier capture, or, while the
    background history has not reached this capture yet, the ones checked so far."""
    if pending:
        return f" so far (checking {pending:,} earlier capture{'' if pending == 1 else 's'}…)"
    return " among every earlier capture"


def step_rows(report: Report, pending: int = 0) -> list[tuple[str, str, str]]:
    """(status, name, reason) for every pipeline step; steps the runtime never reached: skip."""
    rows: list[tuple[str, str, str]] = [
        (s.status, s.name, s.reason + dedupe_scope(pending)
         if s.name == "dedupe" and s.status == "pass" else s.reason) for s in report.steps]
    seen = {step.name for step in report.steps}
    rows += [("skip", name, "not reached") for name in STEP_NAMES if name not in seen]
    return rows


_CREDENTIAL_FLAG = re.compile(r"--credential [\w.-]+=(?:\.\.\.|VALUE)")


def for_tui(fix: str) -> str:
    """A fix as the TUI offers it: a secret is tried with the s key, not --credential."""
    return _CREDENTIAL_FLAG.sub("press s to try a secret", fix)


def findings_content(report: Report) -> Content:
    if not report.findings:
        return Content.assemble(("No findings.", MUTED))
    blocks: list[Content] = []
    for item in report.findings:
        lines = [Content.assemble(
            (SEVERITY_SYMBOLS[item.severity], SEVERITY_STYLES[item.severity]), " ",
            (item.code, CODE_STYLE), (f"  {item.severity}", MUTED)), Content(item.message)]
        if item.fix:
            lines.append(Content.assemble(("fix: ", "$text-success bold"), for_tui(item.fix)))
        blocks.append(Content("\n").join(lines))
    return Content("\n\n").join(blocks)


class PipelineView(DetailPane):
    DEFAULT_CSS = """
    PipelineView > #pipeline-steps {
        layout: grid;
        grid-size: 3;
        grid-columns: 2 11 1fr;
        grid-rows: auto;
        height: auto;
    }
    PipelineView > #pipeline-steps > Static { height: auto; }
    PipelineView .step-name { text-style: bold; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="pipeline-outcome")
        yield Static(heading("Steps"), id="pipeline-steps-title")
        # The step rows are mounted with the first report (_mount_steps): the first frame
        # has none to show, and is drawn sooner without two dozen hidden widgets.
        yield Container(id="pipeline-steps")
        yield Static(id="pipeline-findings")

    def _mount_steps(self) -> None:
        """Mount the step rows' widgets, once."""
        steps = self.query_one("#pipeline-steps", Container)
        if not steps.children:
            steps.mount_all(
                Static(id=f"step-{index}-{part}", classes="step-name" if part == "name" else "")
                for index in range(len(STEP_NAMES) + 3) for part in ("mark", "name", "reason"))

    def draw(self, analysis: Analysis | None) -> None:
        outcome = self.query_one("#pipeline-outcome", Static)
        findings = self.query_one("#pipeline-findings", Static)
        missing = placeholder(analysis)
        report = analysis.report if analysis is not None else None
        self.query_one("#pipeline-steps-title").display = report is not None
        rows = step_rows(report, analysis.pending) if (
            analysis is not None and report is not None) else []
        slots = len(STEP_NAMES) + 3
        if not rows and not self.query_one("#pipeline-steps", Container).children:
            slots = 0  # no step rows mounted, none to show
        else:
            self._mount_steps()
        for index in range(slots):
            status, name, reason = rows[index] if index < len(rows) else ("", "", "")
            shown = index < len(rows)
            mark = self.query_one(f"#step-{index}-mark", Static)
            mark.update(Content.assemble((STEP_SYMBOLS.get(status, ""),
                                          STEP_STYLES.get(status, ""))))
            self.query_one(f"#step-{index}-name", Static).update(name)
            self.query_one(f"#step-{index}-reason", Static).update(
                Content.assemble((reason, MUTED if status == "skip" else "")))
            for part in ("mark", "name", "reason"):
                self.query_one(f"#step-{index}-{part}").display = shown
        if missing is not None or analysis is None or report is None:
            outcome.update(missing or "")
            findings.update("")
            return
        outcome.update(outcome_line(report, analysis.trial))
        parts = [heading(f"Findings ({len(report.findings)})"), findings_content(report)]
        notes = [note for note in report.assumptions if note]
        if notes:
            parts.append(heading("Assumptions"))
            parts.append(Content("\n").join(Content(f"· {note}") for note in notes))
        findings.update(Content("\n").join(parts))
