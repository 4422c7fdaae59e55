"""`whdebug bundle`: zip what a support request needs, refusing if a secret would leak."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from whdebug.cli.options import (
    definition_option,
    load_secrets,
    now_option,
    parse_now,
    refuse_symlink,
    secret_options,
    store_option,
)
from whdebug.errors import WhdebugError

if TYPE_CHECKING:
    from whdebug.model.request import Capture
    from whdebug.store.base import CaptureStore


def _bundle_requests(ctx: click.Context, inputs: Sequence[str],
                     store_path: str | None) -> list[Capture]:
    """Capture ids (read from the store) and request files, in the order given."""
    from whdebug.formats.read import read_request_file

    store: CaptureStore | None = None
    requests: list[Capture] = []
    for item in inputs:
        if item.isdigit() and not Path(item).exists():
            if store is None:
                from whdebug.store.base import open_store, store_location

                store = open_store(store_location(store_path), create=False)
                ctx.call_on_close(store.close)
            requests.append(store.get(int(item)))
        else:
            requests.extend(read_request_file(item))
    return requests


@click.command(short_help="Zip what a support request needs; refuses if a secret would leak.")
@click.argument("inputs", metavar="CAPTURE_OR_FILE...", nargs=-1, required=True)
@definition_option("The MiniApp definition (it is redacted in the bundle).", required=True)
@click.option("-o", "--output", "output_path", metavar="ZIP", required=True,
              help="The zip file to write.")
@store_option("Capture store for capture ids (default: $WHDEBUG_STORE or "
              ".whdebug/captures.db).")
@secret_options
@now_option
@click.pass_context
def bundle(ctx: click.Context, inputs: tuple[str, ...], definition_path: str,
           output_path: str, store_path: str | None, credentials_file: str | None,
           credential_pairs: tuple[str, ...], config_pairs: tuple[str, ...],
           now_text: str | None) -> None:
    """Build a support bundle: ns and version, the redacted definition, each sample request
    as .http with signature, token, cookie and authorization headers masked, whdebug's report
    and expected event for each, and SUMMARY.md ready to paste into an email.

    Every file is scanned for each secret value given (credentials, config, sensitive
    auth.config values) before anything is written; if one would leak, nothing is written
    and the command exits 2 naming the file.
    """
    from whdebug.cli.output.bundle import render_bundle
    from whdebug.cli.output.text import stdout_console
    from whdebug.model.definition import load_definition
    from whdebug.tools.bundle import build_bundle, write_zip

    output = Path(output_path)
    refuse_symlink(output)
    if output.is_dir():
        raise WhdebugError("-o must be a file, not a directory", output_path)
    now = parse_now(now_text)
    secrets = load_secrets(credentials_file, credential_pairs, config_pairs)
    definition = load_definition(definition_path)
    text = Path(definition_path).read_text(encoding="utf-8")
    result = build_bundle(definition, text, _bundle_requests(ctx, inputs, store_path), secrets,
                          now=now)
    leaks = result.secrets.find_leaks(result.files)
    if leaks:
        first = leaks[0]
        others = sorted({leak.file for leak in leaks} - {first.file})
        more = f"; also in {', '.join(others)}" if others else ""
        raise WhdebugError(
            f"refusing to write {output_path}: {first.file} (line {first.line}) would contain "
            f"the value of {first.secret}{more}; remove or replace it in that sample (the body "
            "is kept exactly), then run bundle again")
    write_zip(output, result.files, now)
    render_bundle(stdout_console(), output_path, result.files, result.masked_headers,
                  result.blanked, len(result.secrets), result.unscanned)
