"""`whdebug demo`: the TUI on bundled example webhooks, or their text replay without one."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from whdebug.cli import ExitStatus
from whdebug.cli.options import parse_now, verbose_option
from whdebug.errors import WhdebugError

if TYPE_CHECKING:
    from rich.console import Console

    from whdebug.model.request import Capture

_MANIFEST = "whdebug/demo/manifest.json"


def _demo_root() -> Any:
    """The bundled demo data (an importlib.resources Traversable)."""
    from importlib import resources

    return resources.files("whdebug") / "demo"


def _demo_scenarios(root: Any) -> list[dict[str, Any]]:
    manifest = root / "manifest.json"
    if not manifest.is_file():
        raise WhdebugError("the bundled demo data is missing", _MANIFEST)
    try:
        data = json.loads(manifest.read_text("utf-8"))
    except (ValueError, OSError) as error:
        raise WhdebugError(f"the demo manifest cannot be read: {error}", _MANIFEST) from None
    scenarios = data.get("scenarios") if isinstance(data, dict) else data
    if not isinstance(scenarios, list) or not all(
            isinstance(item, dict) and isinstance(item.get("definition"), str)
            and isinstance(item.get("files", []), list) for item in scenarios):
        raise WhdebugError("the demo manifest is not a list of scenarios", _MANIFEST)
    return scenarios


def _demo_requests(root: Any, files: list[str]) -> list[Capture]:
    from importlib import resources

    from whdebug.formats.read import from_file, read_request_file

    captures: list[Capture] = []
    for name in files:
        with resources.as_file(root / name) as path:
            captures.extend(from_file(capture, name) for capture in read_request_file(path))
    return captures


@click.command(short_help="The TUI on bundled example webhooks.")
@verbose_option("Without a terminal: show every detail of each report.")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True,
              help="Port of the demo's receiver.")
@click.option("--listen/--no-listen", default=True, show_default=True,
              help="Run the demo's receiver.")
@click.pass_context
def demo(ctx: click.Context, verbose: bool, port: int, listen: bool) -> None:
    """Open the TUI on the bundled example webhooks (text replay without a terminal)."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        from whdebug.cli.commands.tui import tui_options
        from whdebug.tui import run_demo

        ctx.exit(run_demo(tui_options({"port": port, "listen": listen})))
    from rich.text import Text

    from whdebug.cli.output.report import format_outcomes
    from whdebug.cli.output.text import stdout_console

    root = _demo_root()
    scenarios = [item for item in _demo_scenarios(root) if item.get("demo", True) is not False]
    console = stdout_console()
    totals: dict[str, int] = {}
    count = 0
    for number, scenario in enumerate(scenarios, 1):
        summary = _replay_scenario(console, root, scenario, f"{number}/{len(scenarios)}",
                                   verbose)
        count += summary["requests"]
        for status, n in summary["outcomes"].items():
            totals[status] = totals.get(status, 0) + n
    # One line even when longer than the terminal, so scripts can read the count.
    console.print(Text(f"demo: {count} requests in {len(scenarios)} scenarios — "
                       f"{format_outcomes(totals)}", style="bold"), soft_wrap=True)
    ctx.exit(ExitStatus.SUCCESS)


def _replay_scenario(console: Console, root: Any, scenario: dict[str, Any], position: str,
                     verbose: bool) -> dict[str, Any]:
    """Print the scenario's title, each request's report and its summary; return the summary."""
    from rich.text import Text

    from whdebug.cli.output.report import render_report, render_summary
    from whdebug.engine.session import ReplaySession
    from whdebug.model.definition import parse_definition
    from whdebug.model.secrecy import Secrets

    definition_name = scenario["definition"]
    definition = parse_definition((root / definition_name).read_text("utf-8"), definition_name)
    requests = _demo_requests(root, scenario.get("files", []))
    secrets = Secrets(credentials=dict(scenario.get("credentials") or {}),
                      config=dict(scenario.get("config") or {}))
    now = parse_now(scenario.get("now"))
    title = f"── demo {position}: {scenario.get('name') or definition_name}"
    if scenario.get("description"):
        title += f" — {scenario['description']}"
    console.print(Text(title, style="bold"))
    session = ReplaySession(definition, secrets, now=now)
    for request in requests:
        render_report(console, session.replay(request), verbose=verbose)
        console.print()
    summary = session.summary()
    render_summary(console, summary, session.plan)
    console.print()
    return summary
