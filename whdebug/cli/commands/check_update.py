"""`whdebug check NEW --previous OLD`: judge a definition as an update of the approved one."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from whdebug.cli import ExitStatus

if TYPE_CHECKING:
    from whdebug.model.definition import Definition
    from whdebug.model.request import Capture, Secrets


def _previous(path: str) -> Definition:
    from whdebug.errors import DefinitionError, WhdebugError
    from whdebug.model.definition import load_definition

    try:
        return load_definition(path)
    except DefinitionError as error:
        raise WhdebugError(f"--previous: {error}") from None


def _deliveries(ctx: click.Context, definition: Definition, samples_dir: str | None,
                store_path: str | None, secrets: Secrets, now: datetime,
                ) -> tuple[Iterable[tuple[str, Capture]] | None, str | None, Secrets]:
    """The deliveries to replay under both definitions, where they came from, and the secrets
    to replay them with (bare sample payloads are signed as for the previous definition)."""
    from whdebug.cli.options import open_store
    from whdebug.store.base import display_location, store_exists, store_location
    from whdebug.tools.readiness import load_samples, signing_secrets

    if samples_dir is not None:
        samples = load_samples(samples_dir, definition, secrets, now=now)
        found = [(sample.name, sample.capture) for sample in samples
                 if sample.capture is not None]
        return found, f"the samples in {samples_dir}", signing_secrets(definition, secrets)[0]
    if store_path is None and not store_exists(store_location(None)):
        return None, None, secrets
    store = open_store(store_path)
    ctx.call_on_close(store.close)
    captures = ((f"capture #{capture_id}", store.get(capture_id))
                for capture_id in sorted(store.ids()))
    return captures, f"the store {display_location(store.path)}", secrets


def check_update(ctx: click.Context, definition: Definition, path: str, previous_path: str,
                 *, submission: bool, samples_dir: str | None, store_path: str | None,
                 as_json: bool, secrets: Secrets, now: datetime) -> None:
    """Lint `definition`, compare it with the one at `previous_path`, print, exit."""
    import msgspec

    from whdebug.model.secrecy import SecretSet, config_secrets
    from whdebug.tools.reachability import lint as lint_definition
    from whdebug.tools.update import compare_update

    previous = _previous(previous_path)
    lint = lint_definition(definition, submission=submission)
    deliveries, source, replay_secrets = _deliveries(ctx, previous, samples_dir, store_path,
                                                     secrets, now)
    comparison = compare_update(previous, definition, deliveries, replay_secrets, now=now,
                                source=source)
    scrub = SecretSet.of(replay_secrets,
                         (*config_secrets(definition), *config_secrets(previous))).scrub
    findings = scrub([*lint, *comparison.findings])
    if as_json:
        document = {
            "schema": "whdebug.check/1",
            "definition": {"ns": definition.ns, "version": definition.version, "path": path},
            "findings": msgspec.to_builtins(findings),
            "ok": not any(item.severity == "error" for item in findings),
            "update": scrub(comparison.document()),
        }
        click.echo(json.dumps(document, separators=(",", ":")))
    else:
        from whdebug.cli.output.text import stdout_console
        from whdebug.cli.output.update import render_update

        render_update(stdout_console(), findings, definition, comparison, path=path,
                      previous_path=str(Path(previous_path)))
    failed = any(item.severity == "error" for item in findings)
    ctx.exit(ExitStatus.FINDING if failed else ExitStatus.SUCCESS)
