"""Human output (rich) for the troubleshooting commands: urls, source, sync and bundle.

Every value that came from a definition, a response or a payload goes through `_text`, which
builds plain `Text` (never markup) with control and invisible characters escaped. Callers mask
secrets before anything reaches this module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from whdebug.engine.report import Finding
from whdebug.tools.endpoints import Endpoints
from whdebug.tools.sources import OptionsResult, Placeholder
from whdebug.tools.syncpreview import SamplePreview, SyncPreview

if TYPE_CHECKING:
    from whdebug.tools.provider_client import SourceCall

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_SEVERITY_STYLES = {"error": "bold red", "warning": "bold yellow", "info": "cyan"}
_SEVERITY_WORDS = {"error": "error", "warning": "warning", "info": "note"}
_MAX_OPTIONS = 50
_MAX_CELL = 70


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _text(value: object, style: str = "") -> Text:
    return Text(_UNSAFE.sub(_escape, str(value)), style=style)


def _cut(value: str, limit: int = _MAX_CELL) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _table(*columns: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def render_findings(console: Console, findings: Sequence[Finding], indent: str = "") -> None:
    """Each finding: severity and code, message, pointer, fix."""
    order = {"error": 0, "warning": 1, "info": 2}
    for item in sorted(findings, key=lambda f: order.get(f.severity, 3)):
        head = Text(indent)
        head.append_text(_text(f"{_SEVERITY_WORDS.get(item.severity, item.severity)} ",
                               _SEVERITY_STYLES.get(item.severity, "bold")))
        head.append_text(_text(item.code, "bold"))
        head.append_text(_text(f"  {item.message}"))
        console.print(head)
        if item.pointer:
            console.print(_text(f"{indent}    at {item.pointer}", "dim"))
        if item.fix:
            console.print(_text(f"{indent}    fix: {item.fix}", "green"))


def _verdict(console: Console, ok: bool, good: str, bad: str) -> None:
    console.print(_text(good, "bold green") if ok else _text(bad, "bold red"))


# --- urls ---------------------------------------------------------------------------------------


def render_urls(console: Console, endpoints: Endpoints) -> None:
    """`whdebug urls`: the two URLs, then what is wrong with the input."""
    console.print(_text(f"{endpoints.ns}@{endpoints.version or '?'}: register these with the "
                        "provider", "bold"))
    rows = [("OAuth redirect URI", endpoints.redirect_uri,
             "GET" + ("" if endpoints.uses_oauth else ", not an OAuth app")),
            ("Webhook URL       ", endpoints.webhook_url,
             "POST" + ("" if endpoints.has_webhook else ", no webhook block"))]
    for label, url, note in rows:
        line = _text(f"{label}  ")
        line.append_text(_text(url, "bold"))
        line.append_text(_text(f"  ({note})", "dim"))
        console.print(line, soft_wrap=True)  # a URL is never cut or wrapped
    if endpoints.findings:
        console.print()
        render_findings(console, endpoints.findings)
    console.print()
    _verdict(console, endpoints.ok, "ok: copy the URLs exactly (no trailing slash)",
             "check the warnings above before registering")


# --- source -------------------------------------------------------------------------------------


def render_options(console: Console, key: str, result: OptionsResult, *,
                   verbose: bool = False) -> None:
    """The dropdown a response produces, or exactly why it is empty."""
    if result.options:
        console.print(_text(f"{key}: {len(result.options)} options from {result.items} items at "
                            f"dataPath {result.data_path!r}", "bold"))
        table = _table("value", "label")
        limit = len(result.options) if verbose else _MAX_OPTIONS
        for option in result.options[:limit]:
            table.add_row(_text(_cut(option.value)),
                          _text(_cut(option.label)) if option.label else _text("(empty)", "dim"))
        console.print(table)
        if len(result.options) > limit:
            console.print(_text(f"… {len(result.options) - limit} more (-v shows all)", "dim"))
    else:
        console.print(_text(f"{key}: the dropdown is empty", "bold red"))
    if result.findings:
        console.print()
        render_findings(console, result.findings)
    console.print()
    _verdict(console, result.ok, f"ok: {len(result.options)} options",
             "the dropdown would be empty or wrong; fix the findings above"
             if not result.options else "options found, but fix the errors above")


def render_source_call(console: Console, key: str, call: SourceCall, *,
                       verbose: bool = False) -> None:
    """`source --call`: the request as sent (masked), the answer, then the options."""
    request, result = call.request, call.result
    console.print(_text(f"{request.method} {call.shown_url()}", "bold"))
    for name, value in call.shown_headers():
        console.print(_text(f"  {name}: {value}", "dim"))
    _render_placeholders(console, request.placeholders)
    for url in result.redirects:
        console.print(_text(f"  followed a same-host redirect to {url}", "dim"))
    if result.status is not None:
        style = "green" if 200 <= result.status < 300 else "red"
        console.print(_text(f"-> {result.status} {result.reason} in "
                            f"{result.elapsed * 1000:.0f} ms", f"bold {style}"))
    elif result.error:
        console.print(_text(f"-> no answer ({result.error}) after {result.elapsed:.1f} s",
                            "bold red"))
    preview = call.preview()
    if preview:
        console.print(_text("body:", "dim"))
        console.print(_text(preview))
    console.print()
    if call.findings:
        render_findings(console, call.findings)
        console.print()
    if call.options is not None:
        render_options(console, key, call.options, verbose=verbose)
    else:
        _verdict(console, False, "", f"{key}: no options: the dropdown would be empty")


def _render_placeholders(console: Console, placeholders: Sequence[Placeholder]) -> None:
    seen: set[tuple[str, str]] = set()
    for placeholder in placeholders:
        if (placeholder.text, placeholder.where) in seen:
            continue
        seen.add((placeholder.text, placeholder.where))
        origin = (f"from {placeholder.resolved_from}" if placeholder.resolved_from
                  else "NO VALUE (sent empty)")
        style = "" if placeholder.resolved_from else "red"
        console.print(_text(f"  {placeholder.text} in {placeholder.where}: {origin}", style))


# --- sync ---------------------------------------------------------------------------------------


def render_sync(console: Console, preview: SyncPreview) -> None:
    """`whdebug sync`: each sample's record, field by field, then cross-sample problems."""
    console.print(_text(f"sync preview for {preview.ns or '?'}@{preview.version or '?'}: "
                        f"{len(preview.samples)} sample"
                        f"{'' if len(preview.samples) == 1 else 's'}", "bold"))
    for sample in preview.samples:
        console.print()
        _render_sample(console, sample)
    if preview.findings:
        console.print()
        console.print(_text("across samples and the definition", "bold"))
        render_findings(console, preview.findings, "  ")
    console.print()
    written = sum(1 for s in preview.samples if s.code)
    _verdict(console, preview.ok, f"ok: {written} of {len(preview.samples)} samples write a "
             "record with an external id", "records would be missing or duplicated: fix the "
             "errors above")


def _render_sample(console: Console, sample: SamplePreview) -> None:
    head = _text(f"{sample.sample}", "bold")
    head.append_text(_text(f"  event {json.dumps(sample.event) if sample.event else '(none)'}"))
    console.print(head)
    if sample.handler is None:
        console.print(_text("  no handler: nothing is written", "dim"))
    else:
        shape = ("recordType + mapping" if sample.shape == "record"
                 else "resource + dataPath" if sample.shape == "resource" else "unknown shape")
        console.print(_text(f"  handler {json.dumps(sample.handler)} ({shape}): writes "
                            f"{sample.kind or '?'} ({sample.operation or 'no operation'}), "
                            f"external id {json.dumps(sample.code) if sample.code else 'NONE'}"),
                      soft_wrap=True)
        if sample.fields:
            table = Table.grid(padding=(0, 2))
            table.add_column(no_wrap=True)
            table.add_column(overflow="fold", max_width=30)
            table.add_column(overflow="fold")
            for item in sample.fields:
                if item.found:
                    value = _text(_cut(_show(item.value), 60))
                else:
                    value = _text("(not evaluated)" if item.transform == "compute"
                                  else "(nothing)", "yellow")
                source = item.spec if item.transform in (None, "coalesce", "compute") \
                    else f"{item.transform}({item.spec})"
                how = f"<- {source}" + (f": {item.note}" if item.note else "")
                table.add_row(_text(f"  {item.name}"), value, _text(how, "dim"))
            console.print(table)
    if sample.findings:
        render_findings(console, sample.findings, "  ")


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)


# --- bundle -------------------------------------------------------------------------------------


def render_bundle(console: Console, path: str, files: dict[str, bytes], masked: int,
                  blanked: Sequence[str], secrets_scanned: int,
                  unscanned: Sequence[str]) -> None:
    """What went into the zip."""
    console.print(_text(f"wrote {path}", "bold green"))
    table = _table("file", "bytes")
    for name, data in files.items():
        table.add_row(_text(name), _text(str(len(data))))
    console.print(table)
    blanked_text = ", ".join(f"auth.config.{key}" for key in blanked) or "nothing to blank"
    console.print(_text(f"definition redacted: {blanked_text}"))
    console.print(_text(f"headers masked: {masked}"))
    console.print(_text(f"leak scan: {secrets_scanned} secret values, none found in "
                        f"{len(files)} files"))
    for name in unscanned:
        console.print(_text(f"not scanned (shorter than 4 characters): {name}", "yellow"))
    console.print(_text("SUMMARY.md is ready to paste into your email", "dim"))
