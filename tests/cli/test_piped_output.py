"""Output without a terminal: no trailing padding, and no URL, path or code broken across
lines; in a terminal, wrapped lines stay under the text they continue."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from tests.cli_support import run
from tests.paths import FIXTURES
from whdebug.cli.output.blocks import render_findings
from whdebug.engine.report import finding

REDIRECT = str(FIXTURES / "definitions" / "auth" / "redirect-uri.json")
SYNC = (str(FIXTURES / "definitions" / "sync" / "salla-sync-broken.json"), "--samples",
        str(FIXTURES / "samples" / "sync"))


@pytest.mark.parametrize("args", [
    ("check", REDIRECT),
    ("sync", *SYNC),
    ("codes",),
    ("explain", "SIG_BODY_MODIFIED"),
    ("urls", REDIRECT, "--api-url", "https://api.example.com"),
], ids=["check", "sync", "codes", "explain", "urls"])
def test_piped_output_has_no_trailing_padding(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.exit_code in (0, 1), result.output
    padded = [line for line in result.stdout.splitlines() if line != line.rstrip(" ")]
    assert padded == []


def test_piped_output_never_breaks_a_suggested_url() -> None:
    result = run("check", REDIRECT)
    assert result.exit_code == 1
    urls = re.findall(r"https://\S+", result.stdout)
    assert any("response_type=code" in url for url in urls), result.stdout
    # every URL ends where the text around it says it ends (a quote), not at a line break
    for line in result.stdout.splitlines():
        for url in re.findall(r"\"https://[^\"\s]*$", line):
            pytest.fail(f"URL broken at the end of a line: {url}")


def test_columns_still_sets_a_width_for_pipes() -> None:
    result = run("sync", *SYNC, env={"COLUMNS": "60"})
    assert max(len(line) for line in result.stdout.splitlines()) <= 60


def test_wrapped_finding_lines_are_indented_under_their_text() -> None:
    output = io.StringIO()
    console = Console(file=output, width=50, color_system=None)
    render_findings(console, [finding(
        "SYNC_NO_HANDLER", "no sync.webhooks.handlers entry for 'customer.created': no record "
        "is written (handlers: order.created, order.updated)",
        "add sync.webhooks.handlers[\"customer.created\"] if this event carries an order",
        step="sync")], "  ")
    lines = output.getvalue().splitlines()
    assert lines[0].startswith("  note SYNC_NO_HANDLER  no sync.webhooks")
    message_column = lines[0].index("no sync")
    fix_start = next(i for i, line in enumerate(lines) if line.strip().startswith("fix:"))
    for line in lines[1:fix_start]:
        assert line[:message_column].strip() == "", line
    for line in lines[fix_start:]:
        assert line.startswith("      "), line


def test_serve_banner_never_breaks_the_url_or_the_store_path(tmp_path: Path) -> None:
    from whdebug.cli.output.serve import print_banner
    from whdebug.model.definition import parse_definition
    from whdebug.receiver.app import ReceiverSettings

    store = tmp_path / ("a-rather-long-folder-name-for-captures-" * 2) / "[captures].db"
    definition = parse_definition('{"ns": "a-namespace-long-enough-to-wrap", "version": "1.0.0"}')
    output = io.StringIO()
    print_banner(Console(file=output, width=40, color_system=None), "http://127.0.0.1:8787",
                 store, ReceiverSettings(definition=definition))
    lines = output.getvalue().splitlines()
    assert any(line.strip().startswith(
        "register  http://127.0.0.1:8787/miniapps/a-namespace-long-enough-to-wrap/webhooks")
        for line in lines)
    assert f"  store     {store}" in lines


@pytest.mark.parametrize("width", [80, 120])
def test_in_a_terminal_a_long_url_in_a_fix_is_printed_whole(width: int) -> None:
    from whdebug.cli.output.report import render_findings as render_report_findings

    url = ("https://provider.example/oauth/authorize?client_id={{client_id}}&response_type=code"
           "&redirect_uri={{redirect_uri}}&scope=read%20write")
    output = io.StringIO()
    console = Console(file=output, width=width, color_system=None, force_terminal=True)
    render_report_findings(console, [finding(
        "DEF_REDIRECT_URI", "auth_url hard-codes a redirect_uri for another ns",
        f"set auth.auth_url.url to {url}", step="definition")])
    text = output.getvalue()
    assert url in text.replace("\n", "") and url in text  # on one line, not folded


@pytest.mark.parametrize("strict", [False, True])
def test_serve_banner_says_a_failing_signature_is_answered_as_usual_unless_strict(
        tmp_path: Path, strict: bool) -> None:
    """Without --strict the receiver answers the definition's response even when a line then
    says `sig ✗ rejected`: the banner says so once, and how to answer as the runtime does."""
    from whdebug.cli.output.serve import print_banner
    from whdebug.model.definition import parse_definition
    from whdebug.receiver.app import ReceiverSettings

    definition = parse_definition('{"ns": "shop", "version": "1.0.0"}')
    output = io.StringIO()
    print_banner(Console(file=output, width=200, color_system=None), "http://127.0.0.1:8787",
                 tmp_path / "c.db", ReceiverSettings(definition=definition, strict=strict))
    answers = [line for line in output.getvalue().splitlines()
               if line.startswith("  answers   ")]
    if strict:
        assert answers == []
        assert "  strict    answers 401 when the signature does not verify" in (
            output.getvalue().splitlines())
    else:
        assert answers == ["  answers   the definition's response, also when the signature "
                           "does not verify (the runtime answers 401: add --strict to do "
                           "the same)"]
