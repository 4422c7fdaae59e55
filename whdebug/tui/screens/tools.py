"""The main screen's keys that compare and edit captures: `m` marks a capture, `v` compares
the marked one with the selected one, `o` opens the selected one in the edit screen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.binding import Binding

from whdebug.model.secrecy import SecretSet
from whdebug.tools.diff import diff_requests
from whdebug.tui.screens.compare import DiffScreen
from whdebug.tui.screens.edit import EditContext, EditScreen, editable_text

if TYPE_CHECKING:
    from whdebug.tui.analysis import Analysis

TOOL_BINDINGS = [
    Binding("m", "mark", "Mark", show=False),
    Binding("v", "compare", "Diff", show=False),
    Binding("o", "edit", "Edit", show=False),
]
"""Not in the footer (an 80-column footer has no room left): `?` and ctrl+p list them."""


class CaptureTools:
    """Mixed into MainScreen, which provides shell, selected_id, notify, app, run_worker."""

    marked_id: int | None = None

    def screen_masks(self, analysis: Analysis | None = None) -> SecretSet:
        """Credential-looking headers (unless --show-secrets) and every secret known."""
        screen: Any = self
        workspace = screen.shell.workspace
        definition = analysis.definition if analysis is not None else None
        masks: SecretSet = SecretSet.build(definition, workspace.default_secrets())
        return masks.showing_names(screen.shell.options.show_secrets)

    def action_mark(self) -> None:
        screen: Any = self
        if screen.selected_id is None:
            screen.notify("Select a capture first.", severity="warning")
            return
        self.marked_id = screen.selected_id
        screen.notify(f"Marked #{self.marked_id}: select another capture and press v to "
                      "compare them.", title="Diff")

    def action_compare(self) -> None:
        screen: Any = self
        marked, selected = self.marked_id, screen.selected_id
        analyzer = screen.shell.analyzer
        if marked is None:
            screen.notify("Mark a capture with m first, then select another and press v.",
                          severity="warning")
            return
        if selected is None or selected == marked or analyzer is None:
            screen.notify(f"Select a capture other than the marked #{marked}.",
                        severity="warning")
            return

        def compute() -> None:
            first, second = analyzer.analyse(marked), analyzer.analyse(selected)
            if first.capture is None or second.capture is None:
                problem = first.problem or second.problem or "capture not found"
                screen.app.call_from_thread(screen.notify, problem, severity="error")
                return
            reports = None
            if first.report is not None and second.report is not None:
                reports = (first.report, second.report)
            diff = diff_requests(first.capture.request, second.capture.request,
                                 a_label=f"#{marked}", b_label=f"#{selected}",
                                 reports=reports)
            masks = self.screen_masks(second)
            screen.app.call_from_thread(screen.app.push_screen, DiffScreen(diff, masks))

        screen.run_worker(compute, thread=True, exclusive=True, group="diff",
                        exit_on_error=False)

    def action_edit(self) -> None:
        screen: Any = self
        current = screen._selected_request()
        if current is None or current.capture is None:
            return
        masks = self.screen_masks(current)
        if editable_text(current.capture.request, masks) is None:
            screen.notify("This body is not UTF-8 text; export it (e) and send it with "
                        "`whdebug send --body-file`.", severity="warning")
            return
        default = getattr(self, "_resend_url", None) or screen.shell.receiver.base_url
        context = EditContext(screen.shell.workspace, screen.shell.store, masks, default)
        screen.app.push_screen(EditScreen(current, context))
