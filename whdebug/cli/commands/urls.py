"""`whdebug urls`: the OAuth redirect URI and webhook URL to register with the provider."""

from __future__ import annotations

import json

import click

from whdebug.cli import ExitStatus
from whdebug.cli.options import json_option


@click.command(short_help="Print the OAuth redirect URI and webhook URL to register.")
@click.argument("definition_path", metavar="DEFINITION")
@click.option("--api-url", required=True, metavar="URL", envvar="WHDEBUG_API_URL",
              show_envvar=True,
              help="Karzoun's SAAS_API_URL (the API origin, e.g. https://api.example.com).")
@json_option("One JSON object (whdebug.urls/1).")
@click.pass_context
def urls(ctx: click.Context, definition_path: str, api_url: str, as_json: bool) -> None:
    """Print what to register with the provider: the OAuth redirect URI
    {SAAS_API_URL}/miniapps/{ns}/oauth2 and the webhook URL {SAAS_API_URL}/miniapps/{ns}/webhooks.

    Checks the ns (lowercase kebab-case) and flags a trailing slash or a path already in
    --api-url. Exit status 0 when both are clean, 1 when something is flagged, 2 on bad input.
    """
    import msgspec

    from whdebug.model.definition import load_definition
    from whdebug.tools.endpoints import build_endpoints

    endpoints = build_endpoints(load_definition(definition_path), api_url)
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(endpoints), separators=(",", ":")))
    else:
        from whdebug.cli.output.text import stdout_console
        from whdebug.cli.output.urls import render_urls

        render_urls(stdout_console(), endpoints)
    ctx.exit(ExitStatus.SUCCESS if endpoints.ok else ExitStatus.FINDING)
