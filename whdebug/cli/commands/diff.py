"""`whdebug diff A B`: two requests side by side, and the runtime's steps for each."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from whdebug.cli import ExitStatus
from whdebug.cli.options import (
    analysis_options,
    definition_and_analyzer,
    definition_option,
    json_option,
    load_secrets,
    name_masks,
    open_store,
    parse_now,
    profile_option,
    read_files,
    show_secrets_option,
    store_option,
)
from whdebug.errors import WhdebugError

if TYPE_CHECKING:
    from whdebug.engine.report import Report
    from whdebug.model.request import Capture
    from whdebug.model.secrecy import SecretSet
    from whdebug.store.base import CaptureStore

_ENTRY = re.compile(r"^(?P<file>.+)#(?P<number>[1-9]\d*)$")


def resolve_operand(operand: str, store_path: str | None,
                    stores: dict[str, CaptureStore]) -> Capture:
    """A capture id (digits that name no file) or a request file, `FILE#N` for the Nth."""
    if operand.isdigit() and not Path(operand).exists():
        store = stores.get("store")
        if store is None:
            store = stores["store"] = open_store(store_path)
        return store.get(int(operand))
    match = _ENTRY.match(operand)
    name, number = operand, None
    if match is not None and not Path(operand).exists():
        name, number = match["file"], int(match["number"])
    captures = read_files([name])
    if not captures:
        raise WhdebugError("holds no request", name)
    if number is None:
        if len(captures) > 1:
            raise WhdebugError(f"holds {len(captures)} requests; name one as {name}#N", name)
        return captures[0]
    if number > len(captures):
        raise WhdebugError(f"has {len(captures)} requests, not {number}", name)
    return captures[number - 1]


@click.command(short_help="Compare two requests: headers, body, and the runtime's steps.")
@click.argument("first", metavar="A")
@click.argument("second", metavar="B")
@definition_option("Also run both through this definition and compare the steps.")
@profile_option
@analysis_options
@store_option()
@json_option("One whdebug.diff/1 JSON document.")
@show_secrets_option
@click.pass_context
def diff(ctx: click.Context, first: str, second: str, definition_path: str | None,
         profile_name: str | None, credentials_file: str | None,
         credential_pairs: tuple[str, ...], config_pairs: tuple[str, ...], missing_part: str,
         nullish: bool, now_text: str | None, store_path: str | None, as_json: bool,
         show_secrets: bool) -> None:
    """Compare requests A and B (capture ids, or .http/.har/.json files; FILE#N for the
    Nth request of a file).

    Headers side by side in order; JSON bodies path by path (added, removed and changed
    values, key order, number formatting, escapes such as \\/ and \\u0026); other bodies
    byte by byte with offsets. With --definition (or --profile) both run through the
    runtime's steps and the steps are compared. Exit status 0 when the requests are the
    same, 1 when they differ, 2 on bad input.
    """
    if definition_path is not None and profile_name is not None:
        raise click.UsageError("give --definition FILE or --profile NAME, not both", ctx)
    from whdebug.tools.diff import diff_json, diff_requests

    stores: dict[str, CaptureStore] = {}
    try:
        a = resolve_operand(first, store_path, stores)
        b = resolve_operand(second, store_path, stores)
    finally:
        for store in stores.values():
            ctx.call_on_close(store.close)
    masks = name_masks(show_secrets)
    reports = None
    if definition_path is not None or profile_name is not None:
        reports, masks = _reports(a, b, definition_path, profile_name, credentials_file,
                                  credential_pairs, config_pairs, missing_part, nullish,
                                  now_text, show_secrets)
    label_a, label_b = _labels(a, b)
    result = diff_requests(a.request, b.request, a_label=label_a, b_label=label_b,
                           reports=reports)
    if as_json:
        document = diff_json(result)
        document = _mask_document(document, masks)
        click.echo(json.dumps(document, ensure_ascii=False))
    else:
        from whdebug.cli.output.diff import render_diff
        from whdebug.cli.output.text import stdout_console

        render_diff(stdout_console(), result, masks)
    ctx.exit(ExitStatus.SUCCESS if result.same else ExitStatus.FINDING)


def _labels(a: Capture, b: Capture) -> tuple[str, str]:
    """`#3` or a file's name (its path when both have the same name)."""
    label_a, label_b = a.source.label, b.source.label
    if a.source.capture_id is None and a.source.file:
        label_a = Path(a.source.file).name
    if b.source.capture_id is None and b.source.file:
        label_b = Path(b.source.file).name
    if label_a == label_b:
        return a.source.label, b.source.label + ("" if a.source.label != b.source.label
                                                 else " (again)")
    return label_a, label_b


def _mask_document(document: dict[str, Any], masks: SecretSet) -> dict[str, Any]:
    """Credential-looking headers and query parameters, and every known secret, masked."""
    for row in document["headers"]:
        for side in ("a", "b"):
            header = row[side]
            if header is not None:
                header["value"] = masks.mask_header(header["name"], header["value"])
    for row in document["request_line"]:
        if row["part"] == "query":
            row["a"], row["b"] = masks.mask_query(row["a"]), masks.mask_query(row["b"])
    scrubbed = masks.scrub(document)
    assert isinstance(scrubbed, dict)
    return scrubbed


def _reports(a: Capture, b: Capture, definition_path: str | None, profile_name: str | None,
             credentials_file: str | None, credential_pairs: tuple[str, ...],
             config_pairs: tuple[str, ...], missing_part: str, nullish: bool,
             now_text: str | None, show_secrets: bool) -> tuple[tuple[Report, Report], SecretSet]:
    """Both requests through the engine (each on its own: no dedupe history)."""

    from whdebug.engine import AnalysisOptions
    from whdebug.engine.session import ReplaySession

    now = parse_now(now_text)
    secrets = load_secrets(credentials_file, credential_pairs, config_pairs)
    definition, analyzer = definition_and_analyzer(definition_path, profile_name, secrets,
                                                   show_secrets)
    options = AnalysisOptions(missing_part=missing_part, nullish=nullish,
                              peers=(a.request, b.request))
    session = ReplaySession(definition, secrets, now=now, options=options, analyzer=analyzer)
    masks = session.secret_set.showing_names(show_secrets)
    session.secret_set = masks
    return (session.check(a), session.check(b)), masks
