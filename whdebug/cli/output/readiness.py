"""Human output for `whdebug check --samples`: the readiness table, coverage and blockers."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from whdebug.cli.output.marks import indented, mark, symbol, yes_no
from whdebug.cli.output.report import render_findings
from whdebug.cli.output.text import safe_text
from whdebug.tools.readiness import NAMED_EVENT, Readiness, SampleResult
from whdebug.tools.signing import event_location, event_outside_body
from whdebug.wording import plural

_SEVERITIES = ("error", "warning", "info")


def render_readiness(console: Console, readiness: Readiness) -> None:
    """The readiness table, then triggers, samples, handlers, findings and the verdict."""
    definition = readiness.definition
    header = Text()
    header.append_text(safe_text(f"readiness {readiness.path}", "bold"))
    header.append_text(safe_text(
        f"  {definition.label} · {plural(len(readiness.samples), 'sample')} in "
        f"{readiness.samples_dir}", "dim"))
    console.print(header)
    console.print(indented(_summary_table(console, readiness)))
    console.print()
    console.print(indented(_triggers_table(readiness)))
    if readiness.samples:
        console.print()
        console.print(indented(_samples_table(console, readiness)))
    if readiness.handlers:
        console.print()
        console.print(indented(_handlers_table(console, readiness)))
    console.print()
    findings = [*readiness.lint, *readiness.findings]
    findings.sort(key=lambda item: _SEVERITIES.index(item.severity)
                  if item.severity in _SEVERITIES else len(_SEVERITIES))
    render_findings(console, findings)
    blockers = len(readiness.blockers)
    if readiness.ready:
        console.print(safe_text(f"{symbol(console, 'pass')} ready for review: nothing blocks it",
                                "bold green"))
    else:
        console.print(safe_text(f"{symbol(console, 'fail')} not ready for review: "
                                f"{plural(blockers, 'blocker')} (the errors above)", "bold red"))


def _table(title: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1),
                  title=title, title_justify="left", title_style="bold")
    return table


def _summary_table(console: Console, readiness: Readiness) -> Table:
    table = _table("readiness")
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for name, status, detail in _rows(readiness):
        table.add_row(safe_text(name), mark(console, status), safe_text(detail))
    return table


def _unreachable(readiness: Readiness) -> list[str]:
    """The trigger events DEF_TRIGGER_UNREACHABLE names (every one for a missing separator)."""
    from whdebug.tools.reachability import named_trigger

    definition = readiness.definition
    every = [trigger["event"] for trigger in definition.triggers
             if isinstance(trigger, dict) and isinstance(trigger.get("event"), str)]
    events: list[str] = []
    for item in readiness.lint:
        if item.code == "DEF_TRIGGER_UNREACHABLE":
            event = named_trigger(definition, item)
            events += [name for name in ([event] if event is not None else every)
                       if name not in events]
    return events


def _rows(readiness: Readiness) -> list[tuple[str, str, str]]:
    codes = {item.code for item in readiness.findings}
    lint = readiness.lint
    counts = {severity: sum(1 for item in lint if item.severity == severity)
              for severity in _SEVERITIES}
    lint_status = "fail" if counts["error"] else "warn" if counts["warning"] else "pass"
    rows = [("definition lint", lint_status,
             f"{plural(counts['error'], 'error')} · {plural(counts['warning'], 'warning')} · "
             f"{plural(counts['info'], 'note')} (judged as a submission)")]

    verification = readiness.verification
    checked = len(verification.passing) + len(verification.failing)
    if not verification.configured:
        rows.append(("verification", "fail", "not configured"))
    else:
        where = f"{verification.type} in {verification.header}"
        status = "fail" if verification.failing else "pass" if checked else "warn"
        detail = (f"{where}; {len(verification.passing)} of {checked} samples verify"
                  if checked else f"{where}; not checked: no sample to verify")
        if verification.failing:
            detail += "; rejected: " + ", ".join(verification.failing)
        if "RDY_STAND_IN_SECRET" in codes:
            detail += " (bare payloads with a stand-in secret)"
        rows.append(("verification", status, detail))

    triggers = readiness.triggers
    never = readiness.triggers_not_fired
    if not triggers:
        rows.append(("triggers", "fail", "the definition has no triggers"))
    else:
        detail = f"{len(triggers) - len(never)} of {len(triggers)} fired by a sample"
        if never:
            detail += "; never: " + ", ".join(never)
        unreached = _unreachable(readiness)
        if unreached:  # a sample fires it only because it holds what the provider never sends
            detail += ("; the provider's deliveries, as whdebug samples them, do not fire: "
                       + ", ".join(unreached) + " (DEF_TRIGGER_UNREACHABLE)")
        rows.append(("triggers", "fail" if never else "warn" if unreached else "pass", detail))

    samples = readiness.samples
    nothing = readiness.samples_firing_nothing
    if not samples:
        rows.append(("samples", "fail", "no samples in the folder"))
    else:
        fired = sum(1 for result in samples if result.fired)
        detail = f"{fired} of {len(samples)} fire a trigger"
        if nothing:
            detail += "; nothing: " + ", ".join(nothing)
        rows.append(("samples", "fail" if nothing else "pass", detail))

    handlers = readiness.handlers
    if not handlers:
        rows.append(("sync handlers", "skip", "none in the definition"))
    else:
        blocked = {"RDY_HANDLER_NO_TRIGGER", "RDY_HANDLER_NO_STABLE_ID"} & codes
        unchecked = [handler.event for handler in handlers if handler.stable is None
                     and handler.has_trigger]
        status = "fail" if blocked else "warn" if unchecked else "pass"
        if status == "pass":
            detail = f"{plural(len(handlers), 'handler')}, each with a trigger and a stable id"
        else:
            parts = []
            orphans = [handler.event for handler in handlers if not handler.has_trigger]
            unstable = [handler.event for handler in handlers if handler.stable is False]
            if orphans:
                parts.append("no trigger: " + ", ".join(orphans))
            if unstable:
                parts.append("no stable id: " + ", ".join(unstable))
            if unchecked:
                parts.append("no sample: " + ", ".join(unchecked))
            detail = "; ".join(parts)
        rows.append(("sync handlers", status, detail))
    return rows


def _triggers_table(readiness: Readiness) -> Table:
    table = _table("triggers")
    table.add_column("event", overflow="fold")
    table.add_column("label", overflow="fold")
    table.add_column("fired by", overflow="fold")
    for coverage in readiness.triggers:
        fired_by = (safe_text(", ".join(coverage.samples)) if coverage.samples
                    else safe_text("no sample", "red"))
        table.add_row(safe_text(coverage.event), safe_text(coverage.label or "", "dim"), fired_by)
    return table


def _samples_table(console: Console, readiness: Readiness) -> Table:
    signed = any(result.sample.kind == "payload" for result in readiness.samples)
    table = _table("samples")
    if signed:
        table.caption = "* a bare payload, signed on the fly as `whdebug sign` does"
        if event_outside_body(readiness.definition):
            table.caption += (f"; the event is read from {event_location(readiness.definition)}"
                              ", which a bare payload lacks: it is taken from the file name "
                              f"({NAMED_EVENT})")
        table.caption_justify = "left"
    table.add_column("sample", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("verify", no_wrap=True)
    table.add_column("outcome", overflow="fold")
    for result in readiness.samples:
        table.add_row(*_sample_row(console, result))
    return table


def _sample_row(console: Console, result: SampleResult) -> tuple[Text, ...]:
    sample, report = result.sample, result.report
    kind = safe_text(sample.kind + ("*" if sample.kind == "payload" else ""))
    if report is None:
        return (safe_text(sample.name), kind, mark(console, "skip"),
                safe_text(f"unreadable: {sample.error}", "red"))
    verdict = report.signature.verdict
    status = {"pass": "pass", "fail": "fail"}.get(verdict, "skip")
    if result.fired:
        outcome = safe_text("fires " + ", ".join(result.fired), "green")
    elif report.ok:
        outcome = safe_text(report.outcome.summary)
    else:
        outcome = safe_text(report.outcome.summary, "red")
    return safe_text(sample.name), kind, mark(console, status), outcome


def _handlers_table(console: Console, readiness: Readiness) -> Table:
    table = _table("sync handlers")
    table.add_column("handler", overflow="fold")
    table.add_column("trigger", no_wrap=True)
    table.add_column("stable id", no_wrap=True)
    table.add_column("external id per sample", overflow="fold")
    for handler in readiness.handlers:
        if handler.stable is None:
            stable = safe_text("– no sample", "yellow")
        else:
            stable = mark(console, "pass" if handler.stable else "fail")
        ids = ", ".join(f"{code if code is not None else 'none'} ({name})"
                        for name, code in handler.codes.items())
        table.add_row(safe_text(handler.event), yes_no(console, handler.has_trigger),
                      stable, safe_text(ids or "–"))
    return table
