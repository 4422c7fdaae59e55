"""`whdebug sync`: preview the record each sync handler writes for sample payloads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from whdebug.cli import ExitStatus
from whdebug.cli.options import json_option
from whdebug.errors import WhdebugError

if TYPE_CHECKING:
    from whdebug.model.definition import Definition
    from whdebug.model.request import Capture


def _sample_requests(paths: Sequence[str], definition: Definition
                     ) -> tuple[list[Capture], set[str]]:
    """Every sample in the given files and directories (.http, .har, .json), sorted by name,
    and the names of those whose event their file name gave (bare payloads)."""
    from whdebug.formats.read import from_file, sample_paths
    from whdebug.tools.syncpreview import read_sample

    requests: list[Capture] = []
    named: set[str] = set()
    for path, name in sample_paths(paths):
        try:
            data = path.read_bytes()
        except OSError as error:
            raise WhdebugError(f"cannot read sample: {error.strerror}", name) from None
        found_requests, by_name = read_sample(data, name, definition)
        if len(found_requests) > 1:
            found_requests = [from_file(capture, f"{name}#{n}")
                              for n, capture in enumerate(found_requests, 1)]
        if by_name:
            named.add(name)
        requests.extend(found_requests)
    return requests, named


@click.command(short_help="Preview the record each sync handler writes for sample payloads.")
@click.argument("definition_path", metavar="DEFINITION")
@click.option("--samples", "sample_paths", metavar="DIR|FILE", multiple=True, required=True,
              help="Sample payloads: .http, .har, .json capture exports or bare JSON "
                   "(a directory: every such file in it; repeatable).")
@json_option("One JSON object (whdebug.sync/1).")
@click.pass_context
def sync(ctx: click.Context, definition_path: str, sample_paths: tuple[str, ...],
         as_json: bool) -> None:
    """For each sample, pick the sync.webhooks.handlers entry for its event and show the
    record the runtime would write: each mapped field, its value and the transforms applied.

    Flags a recordType other than order/abandonedCart, an empty or unstable mapping.code,
    handlers without a trigger and a legacy-only webhook.ecommerce block. Exit status 0 when
    nothing is wrong, 1 otherwise, 2 on bad input.
    """
    import msgspec

    from whdebug.model.definition import load_definition
    from whdebug.tools.syncpreview import preview_sync

    definition = load_definition(definition_path)
    requests, named = _sample_requests(sample_paths, definition)
    preview = preview_sync(definition, requests)
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(preview), separators=(",", ":")))
    else:
        from whdebug.cli.output.sync import render_sync
        from whdebug.cli.output.text import stdout_console
        from whdebug.tools.signing import event_location

        render_sync(stdout_console(), preview, named, event_location(definition))
    ctx.exit(ExitStatus.SUCCESS if preview.ok else ExitStatus.FINDING)
