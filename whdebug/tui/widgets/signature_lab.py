"""The Signature tab: verdict, secret sources, received vs computed, and every attempt tried."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import DataTable, Static

from whdebug.tui.analysis import Analysis
from whdebug.tui.marks import MUTED, SIGNATURE_SYMBOLS, STEP_STYLES, printable
from whdebug.tui.widgets.detail import DetailPane, heading, placeholder

if TYPE_CHECKING:
    from whdebug.engine.report import Attempt, SignatureResult

_VERDICT_STYLES = {"pass": STEP_STYLES["pass"], "fail": STEP_STYLES["fail"], "skipped": MUTED}
_SOURCE_STYLES = {"present": "$text-success", "empty": "$text-warning", "absent": MUTED}


def _short(value: str | None, width: int = 64) -> str:
    if value is None:
        return "—"
    return value if len(value) <= width else value[: width - 1] + "…"


def verdict_content(signature: SignatureResult, trial: bool) -> Content:
    verdict = signature.verdict
    parts: list[str | tuple[str, str]] = [
        (f"{SIGNATURE_SYMBOLS[verdict]} {verdict}", _VERDICT_STYLES[verdict] + " bold"),
    ]
    if trial:
        parts.append(("  with the typed secret (never stored)", "$text-warning"))
    parts.append("\n" + signature.reason)
    settings = [f"{name} {value}" for name, value in (
        ("type", signature.type), ("header", signature.header),
        ("encoding", signature.encoding), ("secretKey", signature.secret_key)) if value]
    if settings:
        parts.append(("\n" + " · ".join(settings), MUTED))
    if signature.scheme:
        parts.append(f"\nprovider scheme recognised: {signature.scheme}")
    if signature.timestamp_age_seconds is not None:
        parts.append(f"\ntimestamp age: {signature.timestamp_age_seconds:.0f} s")
    return Content.assemble(*parts)


def sources_content(signature: SignatureResult) -> Content:
    secret = signature.secret
    key = signature.secret_key or "secretKey"
    if secret is None:
        return Content.assemble(("No secret is needed.", MUTED))
    lines: list[Content] = []
    for label, state, source in ((f"credentials[{key}]", secret.credentials, "credentials"),
                                 (f"auth.config[{key}]", secret.auth_config, "auth.config")):
        used = "  ← used" if secret.resolved_from == source else ""
        lines.append(Content.assemble(label.ljust(28), (state, _SOURCE_STYLES.get(state, "")),
                                      (used, "bold")))
    if secret.hint:
        lines.append(Content.assemble(("secret hint: ", MUTED), secret.hint))
    if secret.nullish_outcome:
        lines.append(Content.assemble(("with ?? instead of ||: ", "$text-warning"),
                                      secret.nullish_outcome))
    lines.append(Content.assemble(("s: try another secret (masked, never stored)", MUTED)))
    return Content("\n").join(lines)


def comparison_content(attempt: Attempt | None, received: str | None) -> Content:
    """The runtime's attempt, one value per line; a long hash folds onto the next lines whole."""
    if attempt is None:
        return Content.assemble(("received  ", MUTED), _short(received, 200))
    lines = [
        Content.assemble(("received  ", MUTED), "  ", _short(attempt.received or received, 200)),
        Content.assemble(("computed  ", MUTED),
                         ("✓ " if attempt.match else "✗ ",
                          "$text-success" if attempt.match else "$text-error"),
                         _short(attempt.computed, 200)),
    ]
    if attempt.received_from:
        lines.append(Content.assemble(("from      ", MUTED), attempt.received_from))
    if attempt.signed is not None:
        signed = attempt.signed
        lines.append(Content.assemble(("signed    ", MUTED),
                                      f"{signed.label} · {signed.length} bytes"))
        lines.append(Content.assemble(("          ", MUTED), _short(repr(signed.head_text), 200)))
    return Content("\n").join(lines)


class SignatureLab(DetailPane):
    DEFAULT_CSS = """
    SignatureLab > DataTable { height: auto; max-height: 16; margin-top: 1; }
    SignatureLab > #signature-comparison { text-wrap: wrap; text-overflow: fold; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="signature-verdict")
        yield Static(id="signature-sources")
        yield Static(id="signature-comparison")
        yield Static(heading("Attempts (runtime first)"), id="signature-attempts-title")
        yield DataTable(id="signature-attempts", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("", "secret", "variant", "alg", "enc", "content", "match", "computed")

    def draw(self, analysis: Analysis | None) -> None:
        verdict = self.query_one("#signature-verdict", Static)
        table = self.query_one(DataTable)
        table.clear()
        missing = placeholder(analysis)
        parts_shown = missing is None
        for part_id in ("#signature-sources", "#signature-comparison",
                        "#signature-attempts-title"):
            self.query_one(part_id, Static).display = parts_shown
        table.display = parts_shown
        if missing is not None or analysis is None or analysis.report is None:
            verdict.update(missing or "")
            return
        signature = analysis.report.signature
        verdict.update(verdict_content(signature, analysis.trial))
        self.query_one("#signature-sources", Static).update(
            Content("\n").join([heading("Secret sources"), sources_content(signature)]))
        runtime = next((a for a in signature.attempts if a.runtime), None)
        self.query_one("#signature-comparison", Static).update(Content("\n").join(
            [heading("Received vs computed"), comparison_content(runtime, signature.received)]))
        table.display = bool(signature.attempts)
        self.query_one("#signature-attempts-title", Static).display = bool(signature.attempts)
        for attempt in signature.attempts:
            cells = ("runtime" if attempt.runtime else "", attempt.secret_source,
                     attempt.secret_variant, attempt.algorithm, attempt.encoding,
                     attempt.content, "✓" if attempt.match else "✗", _short(attempt.computed, 24))
            table.add_row(*(Text(printable(cell)) for cell in cells))
