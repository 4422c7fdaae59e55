"""Human output of `whdebug sync`: the record each sample writes, field by field."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from rich.console import Console
from rich.table import Table

from whdebug.cli.output.blocks import cut, render_findings, render_verdict
from whdebug.cli.output.marks import indented
from whdebug.cli.output.text import safe_text
from whdebug.tools.readiness import NAMED_EVENT
from whdebug.tools.syncpreview import SamplePreview, SyncPreview
from whdebug.wording import plural


def render_sync(console: Console, preview: SyncPreview, by_name: Collection[str] = (),
                location: str = "") -> None:
    """`whdebug sync`: each sample's record, field by field, then cross-sample problems.
    `by_name`: the samples whose event their file name gave (the event is read at
    `location`, outside the body)."""
    named = preview.definition
    console.print(safe_text(f"sync preview for {named.ns or '?'}@{named.version or '?'}: "
                            f"{plural(len(preview.samples), 'sample')}", "bold"))
    for sample in preview.samples:
        console.print()
        _render_sample(console, sample, location if sample.sample in by_name else None)
    if preview.findings:
        console.print()
        console.print(safe_text("across samples and the definition", "bold"))
        render_findings(console, preview.findings, "  ")
    console.print()
    written = sum(1 for s in preview.samples if s.code)
    render_verdict(console, preview.ok, f"ok: {written} of {len(preview.samples)} samples write a "
             "record with an external id", "records would be missing or duplicated: fix the "
             "errors above")


def _render_sample(console: Console, sample: SamplePreview, named_at: str | None) -> None:
    head = safe_text(f"{sample.sample}", "bold")
    head.append_text(safe_text(f"  event {json.dumps(sample.event) if sample.event else '(none)'}"))
    if named_at is not None:  # a bare payload cannot carry a header or query event
        head.append_text(safe_text(f" (from the file name, {NAMED_EVENT}: the event is read "
                                   f"from {named_at}, which a bare payload lacks)", "dim"))
    console.print(head)
    if sample.handler is None:
        console.print(indented(safe_text("no handler: nothing is written", "dim")))
    else:
        shape = ("recordType + mapping" if sample.shape == "record"
                 else "resource + dataPath" if sample.shape == "resource" else "unknown shape")
        code = json.dumps(sample.code) if sample.code else "NONE"
        console.print(indented(safe_text(
            f"handler {json.dumps(sample.handler)} ({shape}): writes {sample.kind or '?'} "
            f"({sample.operation or 'no operation'}), external id {code}")))
        if sample.fields:
            table = Table.grid(padding=(0, 2))
            table.add_column(no_wrap=True)
            table.add_column(overflow="fold", max_width=30)
            table.add_column(overflow="fold")
            for item in sample.fields:
                if item.found:
                    value = safe_text(cut(_show(item.value), 60))
                else:
                    value = safe_text("(not evaluated)" if item.transform == "compute"
                                      else "(nothing)", "yellow")
                source = item.spec if item.transform in (None, "coalesce", "compute") \
                    else f"{item.transform}({item.spec})"
                how = f"<- {source}" + (f": {item.note}" if item.note else "")
                table.add_row(safe_text(f"  {item.name}"), value, safe_text(how, "dim"))
            console.print(table)
    if sample.findings:
        render_findings(console, sample.findings, "  ")


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
