"""`whdebug serve`: run the receiver alone, one console line per capture."""

from __future__ import annotations

import shlex

import click

from whdebug.cli.options import (
    analysis_options,
    definition_option,
    load_secrets,
    parse_now,
    show_secrets_option,
    store_option,
)


@click.command(short_help="Run the receiver only: capture every request, one line each.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback exposes captures and secrets.")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True,
              help="Port to listen on (0: any free port, shown in the banner).")
@store_option()
@click.option("--max-body", type=click.IntRange(min=0), default=26_214_400, show_default=True,
              metavar="BYTES", help="Larger bodies are answered 413 and stored truncated.")
@click.option("--max-inflight", type=click.IntRange(min=0), default=134_217_728,
              show_default=True, metavar="BYTES",
              help="Request body bytes held in memory at once, over all requests (the "
                   "process peaks near 2.5 times this); a request beyond it is answered 503 "
                   "(its headers are stored).")
@click.option("--forward-to", metavar="URL",
              help="Relay each capture's exact bytes to URL (your app) and record its answer.")
@click.option("--strict", is_flag=True,
              help="Answer 401 when the signature does not verify, as the runtime does.")
@definition_option("The MiniApp definition: answers challenges, explains each capture.")
@analysis_options
@show_secrets_option
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, store_path: str | None, max_body: int,
          max_inflight: int, forward_to: str | None, strict: bool, definition_path: str | None,
          credentials_file: str | None, credential_pairs: tuple[str, ...],
          config_pairs: tuple[str, ...], missing_part: str, nullish: bool,
          now_text: str | None, show_secrets: bool) -> None:
    """Receive webhooks on HOST:PORT and store every request's exact bytes.

    Prints one line per capture: time, method, path, size and the answer sent; with
    --definition also the event, the signature verdict and what the runtime would do.
    Secrets and credential-looking query parameters are masked (--show-secrets: the
    parameters as received). Header names are stored exactly as sent. A client gets 10 s to
    send its request head and may not stall its body for 30 s; connections are capped below
    the open-file limit. Stop with Ctrl-C or SIGTERM (both exit 0 once the captures are
    stored), then explain a capture with `whdebug replay --last 1 --definition FILE`.
    """
    if strict and definition_path is None:
        raise click.UsageError("--strict needs --definition FILE (to verify signatures)", ctx)
    if forward_to is not None:
        from urllib.parse import urlsplit

        parts = urlsplit(forward_to)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise click.UsageError(f"--forward-to: expected an http:// or https:// URL, got "
                                   f"{forward_to!r}", ctx)
    from whdebug.cli.output.serve import ConsoleSink
    from whdebug.engine import AnalysisOptions
    from whdebug.model.definition import load_definition
    from whdebug.model.secrecy import SecretSet
    from whdebug.receiver.app import ReceiverSettings
    from whdebug.receiver.server import ServerSettings
    from whdebug.receiver.server import serve as run_server
    from whdebug.store.base import display_location, store_location

    definition = load_definition(definition_path) if definition_path is not None else None
    settings = ReceiverSettings(
        definition=definition,
        secrets=load_secrets(credentials_file, credential_pairs, config_pairs),
        strict=strict,
        max_body=max_body,
        max_inflight=max_inflight,
        forward_to=forward_to,
        options=AnalysisOptions(missing_part=missing_part, nullish=nullish),
        analysis_now=parse_now(now_text) if now_text else None,
    )
    path = store_location(store_path)
    sink = ConsoleSink(secrets=SecretSet.build(definition, settings.secrets)
                       .showing_names(show_secrets))
    run_server(path, settings, ServerSettings(host=host, port=port), sink)
    store = "" if store_path is None else f" --store {shlex.quote(display_location(path))}"
    if definition_path is not None:
        # The file's path is no secret; the values given inline are: named, never shown.
        if credentials_file:
            store += f" --credentials {shlex.quote(credentials_file)}"
        inline = [flag for flag, given in (("--credential", credential_pairs),
                                            ("--config", config_pairs)) if given]
        secret_flags = f" (plus your {' and '.join(inline)} flags)" if inline else ""
        click.echo(f"receiver stopped. Explain the newest capture: whdebug replay --last 1 "
                   f"--definition {shlex.quote(definition_path)}{store}{secret_flags}",
                   err=True)
    else:
        click.echo(f"receiver stopped. See the captures: whdebug list{store}", err=True)
