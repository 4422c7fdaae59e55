"""Human output of `whdebug source`: a dropdown's options, the request sent and its answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console

from whdebug.cli.output.blocks import cut, render_findings, render_verdict, simple_table
from whdebug.cli.output.text import safe_text
from whdebug.tools.sources import OptionsResult, Placeholder

if TYPE_CHECKING:
    from whdebug.tools.provider_client import SourceCall

_MAX_OPTIONS = 50


def render_options(console: Console, key: str, result: OptionsResult, *,
                   verbose: bool = False) -> None:
    """The dropdown a response produces, or exactly why it is empty."""
    if result.options:
        console.print(safe_text(f"{key}: {len(result.options)} options from {result.items} "
                                f"items at dataPath {result.data_path!r}", "bold"))
        table = simple_table("value", "label")
        limit = len(result.options) if verbose else _MAX_OPTIONS
        for option in result.options[:limit]:
            label = option.label
            table.add_row(safe_text(cut(option.value)),
                          safe_text(cut(label)) if label else safe_text("(empty)", "dim"))
        console.print(table)
        if len(result.options) > limit:
            console.print(safe_text(f"… {len(result.options) - limit} more (-v shows all)", "dim"))
    else:
        console.print(safe_text(f"{key}: the dropdown is empty", "bold red"))
    if result.findings:
        console.print()
        render_findings(console, result.findings)
    console.print()
    render_verdict(console, result.ok, f"ok: {len(result.options)} options",
             "the dropdown would be empty or wrong; fix the findings above"
             if not result.options else "options found, but fix the errors above")


def render_source_call(console: Console, key: str, call: SourceCall, *,
                       verbose: bool = False) -> None:
    """`source --call`: the request as sent (masked), the answer, then the options."""
    request, result = call.request, call.result
    console.print(safe_text(f"{request.method} {call.shown_url()}", "bold"))
    for name, value in call.shown_headers():
        console.print(safe_text(f"  {name}: {value}", "dim"))
    _render_placeholders(console, request.placeholders)
    for url in result.redirects:
        console.print(safe_text(f"  followed a same-host redirect to {url}", "dim"))
    if result.status is not None:
        style = "green" if 200 <= result.status < 300 else "red"
        console.print(safe_text(f"-> {result.status} {result.reason} in "
                                f"{result.elapsed * 1000:.0f} ms", f"bold {style}"))
    elif result.error:
        console.print(safe_text(f"-> no answer ({result.error}) after {result.elapsed:.1f} s",
                                "bold red"))
    preview = call.preview()
    if preview:
        console.print(safe_text("body:", "dim"))
        console.print(safe_text(preview))
    console.print()
    if call.findings:
        render_findings(console, call.findings)
        console.print()
    if call.options is not None:
        render_options(console, key, call.options, verbose=verbose)
    else:
        render_verdict(console, False, "", f"{key}: no options: the dropdown would be empty")


def _render_placeholders(console: Console, placeholders: Sequence[Placeholder]) -> None:
    seen: set[tuple[str, str]] = set()
    for placeholder in placeholders:
        if (placeholder.text, placeholder.where) in seen:
            continue
        seen.add((placeholder.text, placeholder.where))
        origin = (f"from {placeholder.resolved_from}" if placeholder.resolved_from
                  else "NO VALUE (sent empty)")
        style = "" if placeholder.resolved_from else "red"
        console.print(safe_text(f"  {placeholder.text} in {placeholder.where}: {origin}", style))
