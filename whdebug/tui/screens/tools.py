"""The main screen's keys that compare, edit and copy captures: `m` marks a capture, `=`
compares the marked one with the selected one, `o` opens the selected one in the edit
screen, `c` copies it as a curl command."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.binding import Binding

from whdebug.model.secrecy import SecretSet
from whdebug.tui import workers
from whdebug.tui.exporting import curl_command
from whdebug.tui.messages import SamplesSent

if TYPE_CHECKING:
    from whdebug.tui.analysis import Analysis
# The diff and edit screens are imported when a key opens them: not before the first frame.

TOOL_BINDINGS = [
    Binding("m", "mark", "Mark", show=False),
    Binding("equals_sign", "compare", "Diff", key_display="=", show=False),
    Binding("o", "edit", "Edit", show=False),
]
"""Not in the footer (an 80-column footer has no room left): `?` and ctrl+p list them."""


def copy_notice(capture_id: int, saved: Path, body_path: Path | None) -> str:
    """Where a copied curl command went: the terminal's clipboard when it accepts OSC 52
    (whdebug cannot tell), and always a file."""
    via = ("sent to the terminal clipboard with OSC 52; tmux passes it on only with "
           "`set -g set-clipboard on`" if os.environ.get("TMUX")
           else "sent to the terminal clipboard with OSC 52 (if the terminal allows it)")
    body = f" The body is in {body_path}." if body_path is not None else ""
    return f"curl command for #{capture_id} {via}. It is also saved in {saved}.{body}"


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
        screen.notify(f"Marked #{self.marked_id}: select another capture and press = to "
                      "compare them.", title="Diff")

    def action_compare(self) -> None:
        screen: Any = self
        marked, selected = self.marked_id, screen.selected_id
        analyzer = screen.shell.analyzer
        if marked is None:
            screen.notify("Mark a capture with m first, then select another and press =.",
                          severity="warning")
            return
        if selected is None or selected == marked or analyzer is None:
            screen.notify(f"Select a capture other than the marked #{marked}.",
                        severity="warning")
            return

        def compute() -> None:
            from whdebug.tools.diff import diff_requests
            from whdebug.tui.screens.compare import DiffScreen

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
        from whdebug.tui.screens.edit import EditContext, EditScreen, editable_text

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

    def action_copy_curl(self) -> None:
        screen: Any = self
        current = screen._selected_request()
        if current is None or current.capture is None:
            return
        where = screen.shell.store_path
        folder = where.parent if isinstance(where, Path) else Path.cwd()
        body_path = folder / f"capture-{current.capture_id}.body"
        try:
            text, separate = curl_command(current.capture.request, screen.shell.receiver.base_url,
                                          body_path)
        except OSError as error:
            screen.notify(f"cannot write {body_path}: {error}", severity="error")
            return
        saved = body_path.with_name(f"capture-{current.capture_id}.curl.sh")
        try:
            saved.write_text(text, encoding="utf-8")
        except OSError as error:
            screen.notify(f"cannot write {saved}: {error}", severity="error")
            return
        screen.app.copy_to_clipboard(text)  # OSC 52: the terminal (not whdebug) owns the clipboard
        screen.notify(copy_notice(current.capture_id, saved, body_path if separate else None),
                    title="Copy as curl")

    def action_send_samples(self) -> None:
        """One sample delivery per trigger of the loaded definition, signed with the secret
        the runtime resolves, posted to this TUI's receiver (`whdebug samples --for`)."""
        screen: Any = self
        workspace, receiver = screen.shell.workspace, screen.shell.receiver
        definition = workspace.default_definition
        if definition is None or not definition.webhook_path:
            screen.notify("Load a definition with a webhook first (d): samples are made one "
                          "per trigger.", severity="warning")
            return
        if not receiver.listening:
            screen.notify("The receiver is not listening: start whdebug with --listen (or "
                          "`whdebug samples --for app.json -o DIR` writes them as files).",
                          severity="warning")
            return
        url = receiver.base_url + definition.webhook_path
        secrets = workspace.default_secrets()
        screen.notify(f"Sending one sample delivery per trigger to {url}…", timeout=3)
        screen.run_worker(lambda: workers.send_samples(definition, secrets, url,
                                                       screen.post_message),
                          thread=True, group="samples", exit_on_error=False)

    def on_samples_sent(self, message: SamplesSent) -> None:
        screen: Any = self
        failed = [f"{event}: {error or status}" for event, status, error in message.results
                  if error is not None or status is None or status >= 400]
        count = len(message.results)
        text = f"Sent {count} sample deliver{'y' if count == 1 else 'ies'} to {message.url}"
        if failed:
            screen.notify(text + "; not accepted: " + "; ".join(failed), title="Samples",
                          severity="warning", timeout=10)
        else:
            screen.notify(text + ": each one is a new capture below.", title="Samples")
