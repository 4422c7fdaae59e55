"""`whdebug source`: an RPC source's dropdown options, from a saved response or a live call."""

from __future__ import annotations

import json
from typing import Any

import click

from whdebug.cli import ExitStatus
from whdebug.cli.options import (
    json_option,
    load_secrets,
    parse_pairs,
    secret_options,
    verbose_option,
)
from whdebug.errors import WhdebugError, read_input


def _read_response(path: str) -> Any:
    """A saved JSON response; errors never quote its content (it may hold tokens)."""
    data = read_input(path, "response")
    try:
        return json.loads(data)
    except json.JSONDecodeError as error:
        raise WhdebugError(f"{path}:{error.lineno}:{error.colno}: the response is not JSON "
                           f"({error.msg}); save the provider's raw JSON body") from None
    except UnicodeDecodeError:
        raise WhdebugError("the response file is not UTF-8 JSON", path) from None


@click.command(short_help="Test an RPC source: its dropdown options, offline or live.")
@click.argument("definition_path", metavar="DEFINITION")
@click.argument("source_key", metavar="RPC_KEY")
@click.option("--response", "response_path", metavar="FILE",
              help="A saved JSON response of the source (offline).")
@click.option("--call", "call", is_flag=True, help="Send the source's request to the provider.")
@secret_options
@click.option("--param", "param_pairs", metavar="KEY=VALUE", multiple=True,
              help="A form field or system value for {{key}} (repeatable).")
@click.option("--timeout", type=click.FloatRange(0.1, 120), default=10.0, show_default=True,
              help="Seconds to wait for the provider.")
@json_option("One JSON object (whdebug.source/1).")
@verbose_option("List every option.")
@click.pass_context
def source(ctx: click.Context, definition_path: str, source_key: str,
           response_path: str | None, call: bool, credentials_file: str | None,
           credential_pairs: tuple[str, ...], config_pairs: tuple[str, ...],
           param_pairs: tuple[str, ...], timeout: float, as_json: bool, verbose: bool) -> None:
    """Show the options an RPC source's dropdown gets, or exactly why it is empty.

    --response FILE applies dataPath, valueField and labelField to a saved response.
    --call resolves [[key]] (from the credentials) and {{key}} (from --config and --param) in
    the URL, headers and query, sends the request (no redirect to another host) and reads
    the answer; secrets are masked in all output.
    Exit status 0 when there are options and no error, 1 otherwise, 2 on bad input.
    """
    if (response_path is None) == (not call):
        raise click.UsageError("give exactly one of --response FILE or --call", ctx)
    import msgspec

    from whdebug.cli.output.text import stdout_console
    from whdebug.model.definition import load_definition
    from whdebug.tools.sources import SOURCE_SCHEMA, extract_options, find_source

    definition = load_definition(definition_path)
    pointer, spec = find_source(definition, source_key)
    document: dict[str, Any] = {"schema": SOURCE_SCHEMA, "source": source_key,
                                "pointer": pointer}
    if response_path is not None:
        options = extract_options(spec, _read_response(response_path), pointer=pointer)
        ok = options.ok
        document.update(mode="response", options=msgspec.to_builtins(options), ok=ok)
        if not as_json:
            from whdebug.cli.output.source import render_options

            render_options(stdout_console(), source_key, options, verbose=verbose)
    else:
        from whdebug.tools.provider_client import call_source
        from whdebug.tools.sources import resolve_source_request

        if not isinstance(spec.get("url"), str) or not spec["url"].strip():
            raise WhdebugError(f'source "{source_key}" has no "url" to call', definition_path)
        secrets = load_secrets(credentials_file, credential_pairs, config_pairs)
        request = resolve_source_request(definition, spec, credentials=secrets.credentials,
                                         config=secrets.config,
                                         params=parse_pairs("--param", param_pairs))
        result = call_source(definition, spec, pointer, request, timeout=timeout)
        ok = (result.options is not None and result.options.ok
              and not any(f.severity == "error" for f in result.findings))
        document.update(mode="call", **msgspec.to_builtins(result.document()),
                        findings=msgspec.to_builtins(result.findings),
                        options=msgspec.to_builtins(result.options), ok=ok)
        if not as_json:
            from whdebug.cli.output.source import render_source_call

            render_source_call(stdout_console(), source_key, result, verbose=verbose)
    if as_json:
        click.echo(json.dumps(document, separators=(",", ":")))
    ctx.exit(ExitStatus.SUCCESS if ok else ExitStatus.FINDING)
