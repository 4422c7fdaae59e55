"""`replay -v`: a report's details: signature attempts, event parts, triggers, transaction, headers.

Every value goes through `safe_text` (plain, escaped); a report holds only masked hints.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table

from whdebug.cli.output.marks import byte_size, grid, indented, quoted, yes_no
from whdebug.cli.output.text import safe_text
from whdebug.engine.report import Attempt, Report


def render_details(console: Console, report: Report) -> None:
    """Signature, event, transaction and headers, each as far as the analysis got."""
    _render_signature(console, report)
    _render_event(console, report)
    _render_transaction(console, report)
    _render_headers(console, report)


def _section(console: Console, title: str, detail: str = "") -> None:
    """A bold title with its detail beside it; the detail wraps under itself, not the title."""
    table = grid()
    table.add_row(safe_text(title, "bold"), safe_text(detail))
    console.print(indented(table))


def _render_signature(console: Console, report: Report) -> None:
    signature = report.signature
    if signature.type is None and not signature.attempts:
        _section(console, "signature", f"{signature.verdict}: {signature.reason}")
        return
    console.print(indented(safe_text("signature", "bold")))
    facts = grid()
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
            facts.add_row(safe_text("other rule"), safe_text(secret.nullish_outcome))
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
    console.print(indented(facts, 4))
    if not signature.attempts:
        return
    console.print(indented(_attempts_table(console, signature.attempts,
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
                      yes_no(console, attempt.match))
    return table


def _render_attempt(console: Console, number: int, attempt: Attempt) -> None:
    role = "runtime attempt" if attempt.runtime else "matching attempt"
    verdict = "matches" if attempt.match else "does not match"
    title = safe_text(f"{role} #{number} {verdict}: {attempt.secret_source} secret "
                      f"({attempt.secret_variant}), {attempt.algorithm}/{attempt.encoding}",
                      "bold")
    console.print(indented(title, 4))
    table = grid()
    if attempt.secret_hint:
        table.add_row(safe_text("secret"), safe_text(attempt.secret_hint))
    signed = attempt.signed
    if signed is not None:
        table.add_row(safe_text("signed"),
                      safe_text(f"{signed.label} · {byte_size(signed.length)}"))
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
    console.print(indented(table, 6))


def _reached(report: Report, step: str) -> bool:
    return any(item.name == step for item in report.steps)


def _render_event(console: Console, report: Report) -> None:
    event = report.event
    if not _reached(report, "extract"):
        _section(console, "event", "not extracted: the runtime stops before this step")
        return
    detail = f"{quoted(event.value) if event.value is not None else 'nothing found'} · " \
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
            value = quoted(part.value)
            if part.raw_type and part.raw_type != "string":
                value += f" (from a JSON {part.raw_type})"
            table.add_row(safe_text(number), safe_text(part.source), safe_text(part.path),
                          yes_no(console, part.found), safe_text(value))
        console.print(indented(table, 4))
    if event.variants:
        console.print(indented(_variants(event.variants, event.value), 4))
    _render_triggers(console, report)


def _variants(variants: dict[str, str], value: str | None) -> Table:
    table = grid()
    if len(set(variants.values())) == 1:
        only = next(iter(variants.values()))
        table.add_row(safe_text("variants"),
                      safe_text(f"every missing-part rule gives {quoted(only)}"))
        return table
    for rule in ("empty", "skip", "undefined"):
        if rule in variants:
            used = "  ← extracted" if variants[rule] == value else ""
            table.add_row(safe_text(f"if {rule}"), safe_text(quoted(variants[rule]) + used))
    return table


def _render_triggers(console: Console, report: Report) -> None:
    triggers = report.triggers
    facts = grid()
    facts.add_row(safe_text("matched"), safe_text(", ".join(triggers.matched) or "none"))
    if triggers.ambiguous:
        facts.add_row(safe_text("ambiguous"), safe_text(
            ", ".join(triggers.ambiguous) + " (only under another missing-part rule)"))
    for miss in triggers.near_misses:
        facts.add_row(safe_text("near miss"), safe_text(f"{quoted(miss.event)} ({miss.kind}): "
                                                f"{miss.reason}"))
    console.print(indented(facts, 4))
    for suggestion in triggers.suggested_paths:
        console.print(indented(safe_text(
            f"{quoted(suggestion.event)} is at {suggestion.source} {suggestion.path}; "
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
    detail = f"{quoted(transaction.id)} · {state}"
    if transaction.paths:
        detail += " · paths " + ", ".join(transaction.paths)
    if transaction.override:
        detail += f" (override for {transaction.override})"
    _section(console, "transaction", detail)
    if report.customer is not None:
        customer = report.customer
        fields = ", ".join(f"{key}={quoted(str(value), 40)}"
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
            parts.append(f"code {quoted(sync.code)}")
        _section(console, "sync", " · ".join(parts))


def _render_headers(console: Console, report: Report) -> None:
    headers = report.request.get("headers") or []
    _section(console, "headers",
             f"{len(headers)} (tokens and secrets masked unless --show-secrets)")
    table = grid()
    for name, value in headers:
        table.add_row(safe_text(f"{name}:"), safe_text(value))
    console.print(indented(table, 4))
