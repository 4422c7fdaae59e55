"""The Request tab: request line, headers, and the body as pretty JSON, raw text or hex.

Only the first 64 KiB of a body is drawn (16 KiB as hex), so a 25 MiB body stays responsive.
"""

from __future__ import annotations

import json

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import DataTable, Static

from whdebug.model.request import Capture, CapturedRequest
from whdebug.model.secrecy import SecretSet
from whdebug.tui.analysis import Analysis
from whdebug.tui.marks import MUTED, printable
from whdebug.tui.widgets.detail import DetailPane, heading, syntax_theme

BODY_MODES = ("pretty", "raw", "hex")
SHOWN_BYTES = 64 * 1024
SHOWN_HEX_BYTES = 16 * 1024
PRETTY_LIMIT = 2 * 1024 * 1024
"""Bodies above this are not parsed for pretty-printing."""
_MODE_LABELS = {"pretty": "pretty JSON", "raw": "raw text", "hex": "hex"}


def hexdump(data: bytes) -> str:
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset: offset + 16]
        hex_part = " ".join(f"{byte:02x}" for byte in chunk)
        text_part = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in chunk)
        lines.append(f"{offset:08x}  {hex_part:<47}  |{text_part}|")
    return "\n".join(lines)


def _printable(text: str) -> str:
    """Text with control characters (except newline and tab) shown as \\xNN."""
    return "".join(
        char if char in "\n\t" or char.isprintable() else f"\\x{ord(char):02x}" for char in text)


def looks_binary(data: bytes) -> bool:
    sample = data[:4096]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start < len(sample) - 4  # a character cut at the sample's end is fine
    return False


def render_body(request: CapturedRequest, mode: str, *, dark: bool = True
                ) -> tuple[object, str | None]:
    """The body renderable for a mode, and a note (truncation, fallbacks)."""
    body = request.body
    notes: list[str] = []
    if request.truncated:
        notes.append(f"capture truncated: {len(body):,} of {request.size:,} bytes stored")
    if not body:
        return Text("(empty body)", style="dim"), "; ".join(notes) or None
    if mode == "pretty":
        if len(body) > PRETTY_LIMIT:
            notes.append(f"too large to pretty-print ({len(body):,} bytes): raw text shown")
            mode = "raw"
        else:
            try:
                try:  # strict: json.loads(bytes) would take UTF-8-encoded surrogates
                    body.decode("utf-8")
                    document = json.loads(body)
                except UnicodeDecodeError as error:  # Node reads bad bytes as U+FFFD
                    document = json.loads(body.decode("utf-8", "replace"))
                    notes.append(f"not UTF-8 at byte {error.start}: shown as Node reads it, "
                                 "with U+FFFD")
                # a lone surrogate ("\\ud800") stays that escape: it has no UTF-8 to draw
                pretty = json.dumps(document, indent=2, ensure_ascii=False).encode(
                    "utf-8", "backslashreplace").decode("utf-8")
            except ValueError:
                notes.append("not JSON: raw text shown")
                mode = "raw"
            except RecursionError:
                notes.append("nested too deeply to pretty-print: raw text shown")
                mode = "raw"
            else:
                if len(pretty) > SHOWN_BYTES:
                    notes.append(f"first {SHOWN_BYTES // 1024} KiB of "
                                 f"{len(pretty):,} characters shown")
                    pretty = pretty[:SHOWN_BYTES]
                syntax = Syntax(pretty, "json", theme=syntax_theme(dark), word_wrap=True,
                                background_color="default")
                return syntax, "; ".join(notes) or None
    if mode == "raw" and looks_binary(body):
        notes.append("binary body: hex shown")
        mode = "hex"
    if mode == "hex":
        shown = body[:SHOWN_HEX_BYTES]
        if len(body) > len(shown):
            notes.append(f"first {len(shown) // 1024} KiB of {len(body):,} bytes shown")
        return Text(hexdump(shown)), "; ".join(notes) or None
    shown = body[:SHOWN_BYTES]
    if len(body) > len(shown):
        notes.append(f"first {SHOWN_BYTES // 1024} KiB of {len(body):,} bytes shown")
    return Text(_printable(shown.decode("utf-8", errors="replace"))), "; ".join(notes) or None


def request_summary(capture: Capture, analysis: Analysis) -> Content:
    request, source, reply = capture.request, capture.source, capture.reply
    # The report's copy of the query masks credential-looking parameters, as its headers do.
    report = analysis.report
    query = report.request["query"] if report is not None else SecretSet().mask_query(
        request.query)
    target = f"{request.path}?{query}" if query else request.path
    lines = [Content.assemble((f"{request.method} {target} HTTP/{request.http_version}",
                               "bold"))]
    facts = [source.label]
    if source.received_at is not None:
        facts.append("received " + source.received_at.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    if source.client:
        facts.append(f"from {source.client}")
    if reply is not None and reply.status is not None:
        facts.append(f"answered {reply.status}")
    lines.append(Content.assemble((" · ".join(facts), MUTED)))
    lines.append(Content.assemble(
        (f"body {request.size:,} bytes · {request.content_type or 'no content-type'} · "
         f"sha256 {request.body_sha256[:16]}…", MUTED)))
    return Content("\n").join(lines)


class RequestView(DetailPane):
    DEFAULT_CSS = """
    RequestView > DataTable { height: auto; max-height: 14; margin-top: 1; }
    RequestView > #request-body { margin-top: 0; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.body_mode = "pretty"

    def compose(self) -> ComposeResult:
        yield Static(id="request-summary")
        yield DataTable(id="request-headers", cursor_type="row", zebra_stripes=True)
        yield Static(id="request-body-title")
        yield Static(id="request-body")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("header", "value")

    def cycle_body_mode(self) -> str:
        self.body_mode = BODY_MODES[(BODY_MODES.index(self.body_mode) + 1) % len(BODY_MODES)]
        self._dirty = True
        self.reveal()
        return self.body_mode

    def draw(self, analysis: Analysis | None) -> None:
        table = self.query_one(DataTable)
        table.clear()
        capture = analysis.capture if analysis is not None else None
        summary = self.query_one("#request-summary", Static)
        title = self.query_one("#request-body-title", Static)
        body = self.query_one("#request-body", Static)
        table.display = capture is not None
        if capture is None or analysis is None:
            summary.update(Content.assemble(
                ("No capture selected." if analysis is None else analysis.problem or "", MUTED)))
            title.update("")
            body.update("")
            return
        request = capture.request
        summary.update(request_summary(capture, analysis))
        # The report's copy masks token, cookie and secret-bearing headers: never on screen.
        report = analysis.report
        headers = report.request["headers"] if report is not None else request.headers
        for name, value in headers:
            table.add_row(Text(printable(name)), Text(printable(value[:500])))
        renderable, note = render_body(request, self.body_mode,
                                       dark=self.app.current_theme.dark)
        modes = " / ".join(_MODE_LABELS[m] for m in BODY_MODES if m != self.body_mode)
        title.update(Content.assemble(heading(f"Body · {_MODE_LABELS[self.body_mode]}"),
                                      (f"   b: {modes}", MUTED),
                                      (f"\n{note}" if note else "", "$text-warning")))
        body.update(renderable)  # type: ignore[arg-type]
