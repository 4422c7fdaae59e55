"""Human output for the CLI: replay reports, the replay summary and `check` findings, with rich.

Every value that came from a request or a definition goes through `safe_text`, which builds a
plain `Text` (never markup) and escapes control and invisible characters, so a captured
header can neither inject terminal sequences nor hide a stray zero-width space.
Secrets never reach this module: a report holds only masked hints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich import box
from rich.console import Console, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from whdebug.cli.output.text import plural, safe_text
from whdebug.engine.report import Attempt, Finding, Report
from whdebug.model.definition import Definition

_SYMBOLS = {"pass": "✓", "fail": "✗", "warn": "!", "skip": "–"}
_ASCII_SYMBOLS = {"pass": "v", "fail": "x", "warn": "!", "skip": "-"}
_STATUS_STYLES = {"pass": "green", "fail": "red", "warn": "yellow", "skip": "dim"}
_SEVERITIES = ("error", "warning", "info")
_SEVERITY_TITLES = {"error": "errors", "warning": "warnings", "info": "notes"}
_SEVERITY_STYLES = {"error": "bold red", "warning": "bold yellow", "info": "bold cyan"}
_OUTCOME_ORDER = ("fires", "challenge", "rejected", "no-event", "no-trigger", "duplicate")
_MAX_VALUE = 120
_SIDE_BY_SIDE_WIDTH = 100
"""From this width on, a finding's code sits beside its message instead of above it."""
def _quoted(value: str | None, limit: int = _MAX_VALUE) -> str:
    """A value as Python repr (empty and whitespace stay visible), cut to `limit` characters."""
    if value is None:
        return "–"
    if len(value) > limit:
        return repr(value[:limit]) + f"… ({len(value)} chars)"
    return repr(value)


def _symbol(console: Console, status: str) -> str:
    symbols = _SYMBOLS if console.encoding.lower().startswith("utf") else _ASCII_SYMBOLS
    return symbols.get(status, "?")


def _mark(console: Console, status: str) -> Text:
    """Symbol and word, so a status reads the same without colour."""
    return safe_text(f"{_symbol(console, status)} {status}", _STATUS_STYLES.get(status, ""))


def _yes_no(console: Console, value: bool) -> Text:
    return safe_text(f"{_symbol(console, 'pass' if value else 'fail')} {'yes' if value else 'no'}",
                     _STATUS_STYLES["pass" if value else "fail"])


def _grid() -> Table:
    table = Table.grid(padding=(0, 2), pad_edge=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    return table


def _indented(renderable: RenderableType, indent: int = 2) -> Padding:
    return Padding(renderable, (0, 0, 0, indent), expand=False)


def _size(size: Any) -> str:
    return f"{size:,} bytes" if isinstance(size, int) else "size unknown"


# --- one report ---------------------------------------------------------------------------


def render_report(console: Console, report: Report, *, verbose: bool = False) -> None:
    """One analysed request: header, pipeline, (details), outcome, findings with fixes."""
    console.print(_header(report, console.width))
    console.print(_indented(_pipeline(console, report)))
    if verbose:
        _render_details(console, report)
    console.print(_outcome(console, report))
    _render_findings(console, report.findings)
    for assumption in report.assumptions:
        console.print(_indented(safe_text(f"assumes: {assumption}", "dim")))


def _source_label(source: dict[str, Any]) -> str:
    if source.get("capture_id") is not None:
        return f"capture #{source['capture_id']}"
    return str(source.get("file") or "request")


def _header(report: Report, width: int | None = None) -> Text:
    """`source  METHOD target  size  ns@version`; the source on its own line when narrow."""
    request = report.request
    target = request.get("path", "")
    if request.get("query"):
        target = f"{target}?{request['query']}"
    definition = report.definition
    label = f"{definition.get('ns') or '?'}@{definition.get('version') or '?'}"
    source = safe_text(_source_label(report.source), "bold")
    line = Text.assemble(safe_text(f"{request.get('method', '?')} {target}", "bold"),
                         safe_text(f"  {_size(request.get('body_size'))}  {label}", "dim"))
    if width is not None and source.cell_len + 2 + line.cell_len > width:
        return Text.assemble(source, "\n  ", line)  # no field split across lines
    return Text.assemble(source, "  ", line)


def _pipeline(console: Console, report: Report) -> Table:
    table = Table.grid(padding=(0, 2), pad_edge=False)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for step in report.steps:
        table.add_row(_mark(console, step.status), safe_text(step.name), safe_text(step.reason))
    return table


def _outcome(console: Console, report: Report) -> Table:
    outcome = report.outcome
    symbol = _symbol(console, "pass" if report.ok else "fail")
    style = "bold green" if report.ok else "bold red"
    if outcome.status == "fires":
        detail = "fires " + ", ".join(outcome.triggers)
    else:
        detail = outcome.summary
    table = _grid()
    table.add_row(safe_text(f"{symbol} {outcome.status}", style),
                  safe_text(f"HTTP {outcome.http_status} · {detail}", style))
    hypothetical = outcome.if_verified
    if hypothetical:
        if hypothetical.get("triggers"):
            then = "would fire " + ", ".join(hypothetical["triggers"])
        elif hypothetical.get("event") is None:
            then = "would still extract no event"
        else:
            then = f"event {hypothetical['event']!r} would still match no trigger"
        table.add_row(safe_text("  once verified"), safe_text(then))
    return table


def _render_findings(console: Console, findings: Iterable[Finding], indent: int = 2) -> None:
    by_severity: dict[str, list[Finding]] = {}
    for item in findings:
        by_severity.setdefault(item.severity, []).append(item)
    side_by_side = console.width >= _SIDE_BY_SIDE_WIDTH
    for severity in sorted(by_severity, key=_severity_rank):
        group = by_severity[severity]
        title = _SEVERITY_TITLES.get(severity, severity)
        style = _SEVERITY_STYLES.get(severity, "bold")
        console.print(_indented(safe_text(f"{title} ({len(group)})", style), indent))
        table = _grid()
        for item in group:
            lines = [safe_text(item.message)]
            if item.pointer:
                lines.append(safe_text(f"at {item.pointer}", "dim"))
            if item.fix:
                lines.append(safe_text(f"fix: {item.fix}", "green"))
            if side_by_side:
                table.add_row(safe_text(item.code, "bold"), lines[0])
                for line in lines[1:]:
                    table.add_row(Text(""), line)
            else:
                # Narrow terminals: the code on a line of its own leaves the text the width.
                console.print(_indented(safe_text(item.code, "bold"), indent + 2))
                for line in lines:
                    console.print(_indented(line, indent + 4))
        if side_by_side:
            console.print(_indented(table, indent + 2))


def _severity_rank(severity: str) -> int:
    return _SEVERITIES.index(severity) if severity in _SEVERITIES else len(_SEVERITIES)


# --- verbose details ------------------------------------------------------------------------


def _render_details(console: Console, report: Report) -> None:
    _render_signature(console, report)
    _render_event(console, report)
    _render_transaction(console, report)
    _render_headers(console, report)


def _section(console: Console, title: str, detail: str = "") -> None:
    """A bold title with its detail beside it; the detail wraps under itself, not the title."""
    table = _grid()
    table.add_row(safe_text(title, "bold"), safe_text(detail))
    console.print(_indented(table))


def _render_signature(console: Console, report: Report) -> None:
    signature = report.signature
    if signature.type is None and not signature.attempts:
        _section(console, "signature", f"{signature.verdict}: {signature.reason}")
        return
    console.print(_indented(safe_text("signature", "bold")))
    facts = _grid()
    parts = [signature.type or "no type"]
    if signature.header:
        parts.append(f"header {signature.header}")
    if signature.encoding:
        parts.append(signature.encoding)
    if signature.secret_key:
        parts.append(f"secret key {signature.secret_key}")
    facts.add_row(safe_text("checks"), safe_text(" · ".join(parts)))
    secret = signature.secret
    if secret is not None:
        used = secret.resolved_from or "nothing"
        if secret.hint:
            used += f" ({secret.hint})"
        facts.add_row(safe_text("secret"), safe_text(
            f"credentials: {secret.credentials} · auth.config: {secret.auth_config} · "
            f"used: {used}"))
        if secret.nullish_outcome:
            facts.add_row(safe_text("with ??"), safe_text(secret.nullish_outcome))
    if signature.received is not None:
        facts.add_row(safe_text("received"), safe_text(signature.received))
    sources = {attempt.received_from for attempt in signature.attempts}
    shared_source = len(sources) == 1 and None not in sources
    if shared_source:
        facts.add_row(safe_text("read from"), safe_text(next(iter(sources))))
    if signature.scheme:
        facts.add_row(safe_text("scheme"), safe_text(f"looks like {signature.scheme} signing"))
    if signature.timestamp_age_seconds is not None:
        age = signature.timestamp_age_seconds
        facts.add_row(safe_text("timestamp"), safe_text(
            f"{age:.0f} s old" if age >= 0 else f"{-age:.0f} s in the future"))
    facts.add_row(safe_text("verdict"), safe_text(f"{signature.verdict}: {signature.reason}"))
    console.print(_indented(facts, 4))
    if not signature.attempts:
        return
    console.print(_indented(_attempts_table(console, signature.attempts,
                                            with_source=not shared_source), 4))
    for number, attempt in enumerate(signature.attempts, 1):
        if attempt.runtime or attempt.match:
            _render_attempt(console, number, attempt)


def _attempts_table(console: Console, attempts: Sequence[Attempt], *,
                    with_source: bool) -> Table:
    """Every variant tried; where the value was read from only when the attempts differ."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1),
                  caption="* the runtime's own attempt", caption_justify="left")
    table.add_column("#", no_wrap=True, justify="right")
    table.add_column("secret", overflow="fold")
    table.add_column("variant", overflow="fold")
    table.add_column("alg", no_wrap=True)
    table.add_column("enc", no_wrap=True)
    table.add_column("signed content" + (" / received from" if with_source else ""),
                     overflow="fold")
    table.add_column("match", no_wrap=True)
    for number, attempt in enumerate(attempts, 1):
        content = safe_text(attempt.content)
        if attempt.note:
            content.append_text(safe_text(f" ({attempt.note})", "dim"))
        if with_source:
            # In the same cell (a line of its own) so the table stays readable at 80 columns.
            content.append("\n")
            content.append_text(safe_text(f"← {attempt.received_from or 'nothing'}", "dim"))
        table.add_row(safe_text(f"{number}*" if attempt.runtime else str(number)),
                      safe_text(attempt.secret_source), safe_text(attempt.secret_variant),
                      safe_text(attempt.algorithm), safe_text(attempt.encoding), content,
                      _yes_no(console, attempt.match))
    return table


def _render_attempt(console: Console, number: int, attempt: Attempt) -> None:
    role = "runtime attempt" if attempt.runtime else "matching attempt"
    verdict = "matches" if attempt.match else "does not match"
    title = safe_text(f"{role} #{number} {verdict}: {attempt.secret_source} secret "
                      f"({attempt.secret_variant}), {attempt.algorithm}/{attempt.encoding}",
                      "bold")
    console.print(_indented(title, 4))
    table = _grid()
    if attempt.secret_hint:
        table.add_row(safe_text("secret"), safe_text(attempt.secret_hint))
    signed = attempt.signed
    if signed is not None:
        table.add_row(safe_text("signed"), safe_text(f"{signed.label} · {_size(signed.length)}"))
        more = " …" if signed.length > len(signed.head_hex.split()) else ""
        table.add_row(safe_text("hex"), safe_text(signed.head_hex + more))
        table.add_row(safe_text("text"), safe_text(signed.head_text + more))
    else:
        table.add_row(safe_text("signed"), safe_text(attempt.content))
    if attempt.received_from:
        table.add_row(safe_text("from"), safe_text(attempt.received_from))
    table.add_row(safe_text("received"), safe_text(attempt.received if attempt.received is not None
                                           else "–"))
    table.add_row(safe_text("computed"), safe_text(attempt.computed if attempt.computed is not None
                                           else "–"))
    if attempt.note:
        table.add_row(safe_text("note"), safe_text(attempt.note))
    console.print(_indented(table, 6))


def _reached(report: Report, step: str) -> bool:
    return any(item.name == step for item in report.steps)


def _render_event(console: Console, report: Report) -> None:
    event = report.event
    if not _reached(report, "extract"):
        _section(console, "event", "not extracted: the runtime stops before this step")
        return
    detail = f"{_quoted(event.value) if event.value is not None else 'nothing found'} · " \
        f"{event.strategy}"
    if event.used_fallback and event.strategy != "fallback":
        detail += " · from the fallback"
    _section(console, "event", detail)
    if event.parts:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1))
        table.add_column("#", no_wrap=True, justify="right")
        table.add_column("source", no_wrap=True)
        table.add_column("path", overflow="fold")
        table.add_column("found", no_wrap=True)
        table.add_column("value", overflow="fold")
        for number, part in enumerate(event.parts, 1):
            value = _quoted(part.value)
            if part.raw_type and part.raw_type != "string":
                value += f" (from a JSON {part.raw_type})"
            table.add_row(safe_text(number), safe_text(part.source), safe_text(part.path),
                          _yes_no(console, part.found), safe_text(value))
        console.print(_indented(table, 4))
    if event.variants:
        console.print(_indented(_variants(event.variants, event.value), 4))
    _render_triggers(console, report)


def _variants(variants: dict[str, str], value: str | None) -> Table:
    table = _grid()
    if len(set(variants.values())) == 1:
        only = next(iter(variants.values()))
        table.add_row(safe_text("variants"),
                      safe_text(f"every missing-part rule gives {_quoted(only)}"))
        return table
    for rule in ("empty", "skip", "undefined"):
        if rule in variants:
            used = "  ← extracted" if variants[rule] == value else ""
            table.add_row(safe_text(f"if {rule}"), safe_text(_quoted(variants[rule]) + used))
    return table


def _render_triggers(console: Console, report: Report) -> None:
    triggers = report.triggers
    facts = _grid()
    facts.add_row(safe_text("matched"), safe_text(", ".join(triggers.matched) or "none"))
    if triggers.ambiguous:
        facts.add_row(safe_text("ambiguous"), safe_text(
            ", ".join(triggers.ambiguous) + " (only under another missing-part rule)"))
    for miss in triggers.near_misses:
        facts.add_row(safe_text("near miss"), safe_text(f"{_quoted(miss.event)} ({miss.kind}): "
                                                f"{miss.reason}"))
    console.print(_indented(facts, 4))
    for suggestion in triggers.suggested_paths:
        console.print(_indented(safe_text(
            f"{_quoted(suggestion.event)} is at {suggestion.source} {suggestion.path}; "
            "paste into webhook:"), 4))
        # Not wrapped, so the snippet can be copied from the terminal in one piece.
        console.print(safe_text("      " + suggestion.snippet, "green"), soft_wrap=True)


def _render_transaction(console: Console, report: Report) -> None:
    transaction = report.transaction
    if not _reached(report, "dedupe"):
        return
    if transaction.duplicate_of is not None:
        state = f"duplicate of {transaction.duplicate_of}"
    elif transaction.generated:
        state = "generated by the runtime (retries not deduplicated)"
    elif transaction.id is None:
        state = "none"
    else:
        state = "new"
    detail = f"{_quoted(transaction.id)} · {state}"
    if transaction.paths:
        detail += " · paths " + ", ".join(transaction.paths)
    if transaction.override:
        detail += f" (override for {transaction.override})"
    _section(console, "transaction", detail)
    if report.customer is not None:
        customer = report.customer
        fields = ", ".join(f"{key}={_quoted(str(value), 40)}"
                           for key, value in customer.fields.items())
        detail = f"{customer.base_path} · " + (fields or "no fields")
        if customer.missing:
            detail += " · missing " + ", ".join(customer.missing)
        _section(console, "customer", detail)
    if report.sync is not None:
        sync = report.sync
        parts = [f"handler {sync.handler or 'none'}"]
        if sync.record_type:
            parts.append(f"{sync.record_type} {sync.operation or ''}".strip())
        if sync.code is not None:
            parts.append(f"code {_quoted(sync.code)}")
        _section(console, "sync", " · ".join(parts))


def _render_headers(console: Console, report: Report) -> None:
    headers = report.request.get("headers") or []
    _section(console, "headers", f"{len(headers)} (tokens and secrets masked)")
    table = _grid()
    for name, value in headers:
        table.add_row(safe_text(f"{name}:"), safe_text(value))
    console.print(_indented(table, 4))


# --- replay summary -----------------------------------------------------------------------


def format_outcomes(outcomes: dict[str, int]) -> str:
    """`2 fires · 1 rejected`, in pipeline order."""
    ordered = [status for status in _OUTCOME_ORDER if status in outcomes]
    ordered += sorted(status for status in outcomes if status not in _OUTCOME_ORDER)
    return " · ".join(f"{outcomes[status]} {status}" for status in ordered)


def render_summary(console: Console, summary: dict[str, Any], definition: Definition) -> None:
    """Counts per outcome and the triggers that no request fired."""
    requests = int(summary.get("requests", 0))
    counts = format_outcomes(summary.get("outcomes", {}))
    line = safe_text(f"summary: {plural(requests, 'request')}", "bold")
    if counts:
        line.append_text(safe_text(f" — {counts}"))
    console.print(line)
    events = definition.trigger_events
    never: list[str] = list(summary.get("triggers_never_fired", []))
    if not events:
        console.print(safe_text("coverage: the definition has no triggers", "yellow"))
        return
    fired = len(set(events)) - len(set(never))
    if not never:
        console.print(safe_text(f"coverage: every trigger fired ({fired} of {len(set(events))})",
                                "green"))
        return
    console.print(safe_text(f"coverage: {fired} of {len(set(events))} triggers fired; never "
                            "fired:", "yellow"))
    labels = {t.get("event"): t.get("label") for t in definition.triggers}
    table = _grid()
    for event in never:
        label = labels.get(event)
        table.add_row(safe_text(_quoted(event)),
                      safe_text(label if isinstance(label, str) else "", "dim"))
    console.print(_indented(table))


def render_replay_summary(console: Console, summary: dict[str, Any], definition: Definition,
                          profile: str | None = None) -> None:
    """`replay`'s closing lines: the summary (a profile's in one line), and a note when
    nothing was replayed."""
    if not summary["requests"]:
        console.print("no captures to replay")
    if profile is None:
        render_summary(console, summary, definition)
    else:
        console.print(f"summary ({profile}): {plural(summary['requests'], 'request')} — "
                      f"{format_outcomes(summary['outcomes'])}", highlight=False)


# --- check ----------------------------------------------------------------------------------


def render_check(console: Console, findings: Sequence[Finding], definition: Definition | None,
                 *, path: str | None = None) -> None:
    """`whdebug check`: the definition, its findings grouped by severity, and a verdict line."""
    name = path or (definition.path if definition is not None else None) or "definition"
    header = Text()
    header.append_text(safe_text(f"check {name}", "bold"))
    if definition is not None:
        header.append_text(safe_text(f"  {definition.label}", "dim"))
    console.print(header)
    _render_findings(console, findings)
    counts = {severity: sum(1 for f in findings if f.severity == severity)
              for severity in _SEVERITIES}
    tally = (f"{plural(counts['error'], 'error')} · {plural(counts['warning'], 'warning')} · "
             f"{plural(counts['info'], 'note')}")
    if counts["error"]:
        console.print(safe_text(f"{_symbol(console, 'fail')} fails: {tally}", "bold red"))
    else:
        console.print(safe_text(f"{_symbol(console, 'pass')} ok: {tally}", "bold green"))
