"""`whdebug check`: lint a definition; with --samples, judge it ready for review."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import click

from whdebug.cli import ExitStatus
from whdebug.cli.options import (
    json_option,
    load_secrets,
    now_option,
    parse_now,
    secret_options,
    store_option,
)

if TYPE_CHECKING:
    from whdebug.engine.report import Finding
    from whdebug.model.definition import Definition
    from whdebug.model.request import Secrets


def _check_json(findings: Sequence[Finding], definition: Definition | None,
                path: str) -> str:
    import msgspec

    document = {
        "schema": "whdebug.check/1",
        "definition": {
            "ns": definition.ns if definition else None,
            "version": definition.version if definition else None,
            "path": path,
        },
        "findings": msgspec.to_builtins(findings),
        "ok": not any(item.severity == "error" for item in findings),
    }
    return json.dumps(document, separators=(",", ":"))


def _has_errors(findings: Sequence[Finding]) -> bool:
    return any(item.severity == "error" for item in findings)


@click.command()
@click.argument("definition_path", metavar="DEFINITION")
@click.option("--submission", is_flag=True,
              help="Judge it as a draft submitted to Karzoun (no filled-in secrets, ...).")
@json_option("One JSON object with every finding.")
@click.option("--samples", "samples_dir", metavar="DIR",
              help="Also replay every sample in DIR (.http, .har, .json exports, or bare JSON "
                   "payloads signed on the fly) and print a readiness table (implies "
                   "--submission).")
@click.option("--previous", "previous_path", metavar="OLD",
              help="Judge DEFINITION as an update of OLD (the approved definition): version "
                   "bump, ns, removed triggers, verification, re-authorisation; when the "
                   "event or transaction id paths changed, replay the stored captures (or "
                   "--samples) under both.")
@store_option("Captures to replay with --previous (default: $WHDEBUG_STORE or "
              ".whdebug/captures.db, when it exists).")
@secret_options
@now_option
@click.pass_context
def check(ctx: click.Context, definition_path: str, submission: bool, as_json: bool,
          samples_dir: str | None = None, previous_path: str | None = None,
          store_path: str | None = None, credentials_file: str | None = None,
          credential_pairs: tuple[str, ...] = (), config_pairs: tuple[str, ...] = (),
          now_text: str | None = None) -> None:
    """Lint a definition: schema, naming, security and cross-references.

    With --samples DIR, also replay every sample and report readiness for review: the
    triggers each sample fires, triggers and sync handlers no sample reaches, and whether
    every sample verifies (--json: schema whdebug.readiness/1). --credentials, --credential,
    --config and --now apply to the samples.

    With --previous OLD, also judge DEFINITION as an update of OLD (UPD_* findings; --json
    adds an "update" object). --samples then only supplies the deliveries to replay.

    Exit status 0 without error-level findings (with --samples: nothing blocks review), 1
    with, 2 when it cannot be read or parsed (the DEF_PARSE finding is printed, and the
    error on stderr).
    """
    secrets_given = credentials_file is not None or credential_pairs or config_pairs
    if samples_dir is None and previous_path is None and (secrets_given or now_text is not None):
        raise click.UsageError("--credentials, --credential, --config and --now need "
                               "--samples DIR or --previous OLD", ctx)
    if store_path is not None and previous_path is None:
        raise click.UsageError("--store needs --previous OLD", ctx)
    from whdebug.engine.lint.definition import parse_finding
    from whdebug.errors import DefinitionError
    from whdebug.model.definition import load_definition

    definition: Definition | None
    try:
        definition = load_definition(definition_path)
    except DefinitionError as error:
        findings = [parse_finding(error)]
        definition = None
        failure: DefinitionError | None = error
    else:
        if previous_path is not None:
            from whdebug.cli.commands.check_update import check_update

            check_update(ctx, definition, definition_path, previous_path,
                         submission=submission, samples_dir=samples_dir,
                         store_path=store_path, as_json=as_json,
                         secrets=load_secrets(credentials_file, credential_pairs,
                                              config_pairs), now=parse_now(now_text))
            return
        if samples_dir is not None:
            secrets = load_secrets(credentials_file, credential_pairs, config_pairs)
            _check_samples(ctx, definition, definition_path, samples_dir, secrets,
                           parse_now(now_text), as_json)
            return
        from whdebug.tools.reachability import lint

        findings = lint(definition, submission=submission)
        failure = None
    if as_json:
        click.echo(_check_json(findings, definition, definition_path))
    else:
        from whdebug.cli.output.report import render_check
        from whdebug.cli.output.text import stdout_console

        render_check(stdout_console(), findings, definition, path=definition_path)
    if failure is not None:
        raise failure
    ctx.exit(ExitStatus.FINDING if _has_errors(findings) else ExitStatus.SUCCESS)


def _check_samples(ctx: click.Context, definition: Definition, path: str, samples_dir: str,
                   secrets: Secrets, now: datetime, as_json: bool) -> None:
    """`check --samples`: the readiness table (or JSON); exit 1 when anything blocks review."""
    import msgspec

    from whdebug.model.secrecy import SecretSet
    from whdebug.tools.reachability import lint as lint_definition
    from whdebug.tools.readiness import assess, load_samples

    lint = lint_definition(definition, submission=True)
    samples = load_samples(samples_dir, definition, secrets, now=now)
    readiness = SecretSet.build(definition, secrets).scrub(
        assess(definition, samples, secrets, now=now, lint=lint, path=path,
               samples_dir=samples_dir))
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(readiness.document()), separators=(",", ":")))
    else:
        from whdebug.cli.output.readiness import render_readiness
        from whdebug.cli.output.text import stdout_console

        render_readiness(stdout_console(), readiness)
    ctx.exit(ExitStatus.SUCCESS if readiness.ready else ExitStatus.FINDING)
