"""`whdebug tui` and the no-argument start: the TUI, or what to use without a terminal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from whdebug.cli.options import (
    analysis_options,
    definition_option,
    parse_credentials,
    parse_now,
    parse_pairs,
    profile_option,
    show_secrets_option,
    store_option,
)
from whdebug.errors import WhdebugError

NO_TUI_HINT = "use whdebug replay/serve/list"


def tui_options(options: dict[str, Any]) -> Any:
    """TuiOptions from the tui/demo flags; the credentials file is passed on to be watched."""
    from whdebug.store.base import store_location
    from whdebug.tui import TuiOptions

    now_text = options.get("now_text")
    store_path = options.get("store_path")
    definition_path = options.get("definition_path")
    profile_name = options.get("profile_name")
    if profile_name is not None:
        from whdebug.tools.profiles import get_profile

        get_profile(profile_name)  # an unknown name is an error before the TUI starts
    credentials_file = options.get("credentials_file")
    if credentials_file and not Path(credentials_file).is_file():
        raise WhdebugError("credentials file not found", credentials_file)
    return TuiOptions(
        store_path=store_location(store_path) if store_path else None,
        definition_path=Path(definition_path) if definition_path else None,
        profile=profile_name,
        credentials_path=Path(credentials_file) if credentials_file else None,
        credentials=parse_credentials(options.get("credential_pairs") or ()),
        config=parse_pairs("--config", options.get("config_pairs") or ()),
        listen=options.get("listen", True),
        port=options.get("port", 8787),
        missing_part=options.get("missing_part", "empty"),
        nullish=bool(options.get("nullish")),
        now=parse_now(now_text) if now_text else None,
        show_secrets=bool(options.get("show_secrets")),
    )


def start_tui(ctx: click.Context, **options: Any) -> None:
    """Start the TUI when there is a terminal; without one, say what to use instead.

    The options are checked first, so a bad one is reported even without a terminal.
    """
    checked = tui_options(options)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise WhdebugError(f"the TUI needs a terminal; {NO_TUI_HINT}")
    from whdebug.tui import run_tui

    ctx.exit(run_tui(checked))


@click.command()
@click.option("--listen/--no-listen", default=True, show_default=True,
              help="Run the embedded receiver.")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True,
              help="Port of the embedded receiver (0: any free port, shown in the header).")
@definition_option("The MiniApp definition to analyse the captures with (edit it while the "
                   "TUI runs: the verdicts follow). Default: the only definition (.json, .js, "
                   ".json5) in the current folder, if there is exactly one.")
@profile_option
@analysis_options
@store_option()
@show_secrets_option
@click.pass_context
def tui(ctx: click.Context, /, **options: Any) -> None:
    """The TUI: live capture list, pipeline, signature lab, event lab."""
    if options.get("definition_path") and options.get("profile_name") is not None:
        raise click.UsageError("give --definition FILE or --profile NAME, not both", ctx)
    start_tui(ctx, **options)
