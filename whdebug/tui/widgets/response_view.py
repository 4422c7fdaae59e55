"""The Response tab: what your app answered (`serve --forward-to`, or an edited re-send):
status, latency, headers and the start of the body, secrets masked."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Static

from whdebug.model.request import ForwardResult
from whdebug.model.secrecy import SecretSet
from whdebug.tui.analysis import Analysis
from whdebug.tui.marks import MUTED
from whdebug.tui.widgets.detail import DetailPane, heading, placeholder

SHOWN_BODY = 64 * 1024
"""Bytes of the app's answer shown."""


def answer_content(forward: ForwardResult | None, masks: SecretSet, *,
                   runtime_status: int | None = None, edited_from: int | None = None
                   ) -> Content:
    """The app's answer as text; what to do when there is none."""
    parts: list[Content] = []
    if edited_from is not None:
        parts.append(Content.assemble((f"Edited from capture #{edited_from}.", MUTED)))
    if forward is None:
        parts.append(Content.assemble(
            ("No answer from your app recorded.", "bold"),
            ("\n\nRun `whdebug serve --forward-to URL` (each capture is relayed and the answer "
             "kept here), press r to re-send this capture, or o to edit, re-sign and send it.",
             MUTED)))
        return Content("\n").join(parts)
    if forward.status is None:
        parts.append(Content.assemble(("Relaying failed: ", "$text-error bold"),
                                      forward.error or "no answer"))
        return Content("\n").join(parts)
    style = "$text-success bold" if forward.status < 400 else "$text-error bold"
    line = [(f"HTTP {forward.status}", style)]
    if forward.latency is not None:
        line.append((f"  in {forward.latency * 1000:.0f} ms", MUTED))
    if runtime_status is not None and runtime_status != forward.status:
        line.append((f"  (the runtime answers {runtime_status})", "$text-warning"))
    parts.append(Content.assemble(*line))
    if forward.headers:
        parts.append(heading("Headers"))
        parts += [Content(f"{name}: {value}")
                  for name, value in masks.mask_headers(forward.headers)]
    body = forward.body or b""
    parts.append(heading(f"Body ({len(body):,} bytes)"))
    if body:
        text = masks.mask(body[:SHOWN_BODY].decode("utf-8", errors="replace"))
        parts.append(Content(text))
        if len(body) > SHOWN_BODY:
            parts.append(Content.assemble((f"… {len(body) - SHOWN_BODY:,} more bytes", MUTED)))
    return Content("\n").join(parts)


class ResponseView(DetailPane):
    """The selected capture's recorded answer from your app."""

    def compose(self) -> ComposeResult:
        yield Static(id="response-text")

    def masks(self, analysis: Analysis) -> SecretSet:
        """Credential-looking headers by name (unless --show-secrets) and known secrets."""
        workspace = getattr(self.app, "workspace", None)
        options = getattr(self.app, "options", None)
        show = bool(getattr(options, "show_secrets", False))
        secrets = workspace.default_secrets() if workspace is not None else None
        return SecretSet.build(analysis.definition, secrets).showing_names(show)

    def draw(self, analysis: Analysis | None) -> None:
        static = self.query_one("#response-text", Static)
        empty = placeholder(analysis)
        if empty is not None and (analysis is None or analysis.capture is None):
            static.update(empty)
            return
        assert analysis is not None and analysis.capture is not None
        capture = analysis.capture
        runtime = analysis.report.outcome.http_status if analysis.report is not None else None
        static.update(answer_content(capture.forward, self.masks(analysis),
                                     runtime_status=runtime,
                                     edited_from=capture.source.edited_from))
