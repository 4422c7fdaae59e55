"""The capture store's commands: `list`, `import` and `export` (`send` is in send.py)."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from whdebug.cli.options import (
    CaptureId,
    analysis_options,
    definition_option,
    json_option,
    load_secrets,
    name_masks,
    open_store,
    read_files,
    refuse_symlink,
    show_secrets_option,
    store_option,
    write_private,
)
from whdebug.errors import WhdebugError

if TYPE_CHECKING:
    from whdebug.model.request import Capture, CapturedRequest, Secrets
    from whdebug.model.secrecy import SecretSet
    from whdebug.store.analyses import FilterTerm
    from whdebug.store.base import CaptureStore
    from whdebug.store.store import CaptureSummary

_LIST_DEFAULT = 100
"""Rows the human `list` shows without --last (--json lists every capture)."""
_LIST_BATCH = 1000


def _store_flag(store: CaptureStore) -> str:
    """` --store PATH` for a suggested command, or '' when PATH is the default."""
    import shlex

    from whdebug.store.base import display_location, store_location

    default, path = store_location(None), store.path
    if isinstance(path, Path) and isinstance(default, Path):
        same = path.absolute() == default.absolute()
    else:
        same = path == default
    return "" if same else f" --store {shlex.quote(display_location(path))}"


def _summary_json(summary: CaptureSummary, masks: SecretSet) -> dict[str, Any]:
    from whdebug.formats.capture_json import format_timestamp

    return {
        "id": summary.id,
        "received_at": format_timestamp(summary.received_at),
        "client": summary.client,
        "method": summary.method,
        "path": summary.path,
        "query": masks.mask_query(summary.query),
        "body_size": summary.body_size,
        "truncated": summary.truncated,
        "response_status": summary.response_status,
        "content_type": summary.content_type,
        "user_agent": summary.user_agent,
        "forward_status": summary.forward_status,
        "forward_latency_ms": (None if summary.forward_latency is None
                               else round(summary.forward_latency * 1000, 1)),
        "edited_from": summary.edited_from,
    }


_INDEX_OUTCOMES = ("fires", "no-trigger", "no-event", "duplicate", "rejected", "challenge",
                   "none")
_NEEDS_DEFINITION = ("--event, --outcome and --code filter on analyses, which are kept per "
                     "definition and credentials: give --definition FILE (and --credentials)")


@click.command(name="list", short_help="List captures, newest first.")
@json_option("One JSON object per capture per line (every capture unless --last).")
@click.option("--last", type=click.IntRange(min=1), metavar="N",
              help=f"Only the newest N captures (default: {_LIST_DEFAULT} in the table, all "
                   "with --json).")
@click.option("--by", "group_by", type=click.Choice(["capture", "delivery"]),
              default="capture", show_default=True,
              help="delivery: one row per provider delivery (its attempts, their outcomes, "
                   "what changed, whether the provider retries).")
@definition_option("Also show each capture's event, outcome and finding codes under this "
                   "definition, from the store's analysis index (analysed once, oldest "
                   "first, and kept per definition and credentials); with --by delivery, "
                   "group unknown senders by its transaction id.")
@analysis_options
@click.option("--event", "event_filter", metavar="TEXT",
              help="Only captures whose event contains TEXT (needs --definition).")
@click.option("--outcome", "outcome_filter", type=click.Choice(_INDEX_OUTCOMES),
              help="Only captures with this outcome (needs --definition).")
@click.option("--code", "code_filter", metavar="CODE",
              help="Only captures with a finding code starting with CODE, e.g. SIG_MISMATCH "
                   "or SIG_ (needs --definition).")
@click.option("--follow", "-f", is_flag=True,
              help="Then keep printing new captures (one line each, oldest first) until "
                   "Ctrl-C; a postgresql:// store reports them as any receiver commits them.")
@store_option()
@show_secrets_option
@click.pass_context
def list_captures(ctx: click.Context, as_json: bool, last: int | None, group_by: str,
                  definition_path: str | None, credentials_file: str | None,
                  credential_pairs: tuple[str, ...], config_pairs: tuple[str, ...],
                  missing_part: str, nullish: bool, now_text: str | None,
                  event_filter: str | None, outcome_filter: str | None, code_filter: str | None,
                  follow: bool, store_path: str | None, show_secrets: bool) -> None:
    """List captures, newest first: id, time (local), method, target, size, the answer
    sent, content type and sender (user agent). Credential-looking query parameters
    (token, api_key, ...) are masked unless --show-secrets.

    With --definition, each capture also shows its event, outcome and finding codes, and
    --event/--outcome/--code filter on them (matching as the TUI's `/` filter does). Timestamps
    are judged at each capture's arrival unless --now. Without --definition these filters are
    an error: whdebug cannot know a capture's outcome without the definition.

    With --by delivery: one row per delivery, oldest first, grouped by the provider's
    delivery id (X-GitHub-Delivery, X-Shopify-Webhook-Id, webhook-id, Slack's event_id,
    ...); exit status 1 when a delivery has an error-level finding."""
    masks = name_masks(show_secrets)
    from whdebug.store.analyses import ASCII_LOWER

    filters = [(field, value.translate(ASCII_LOWER), False) for field, value in (
        ("event", event_filter), ("outcome", outcome_filter), ("code", code_filter))
        if value is not None]
    if filters and definition_path is None:
        raise WhdebugError(_NEEDS_DEFINITION)
    if follow and (group_by == "delivery" or definition_path is not None):
        raise click.UsageError("--follow prints each new capture as it arrives; it does not "
                               "go with --by delivery or --definition", ctx)
    if filters and group_by == "delivery":
        raise click.UsageError("--event, --outcome and --code filter captures, not --by "
                               "delivery", ctx)
    store = open_store(store_path)
    ctx.call_on_close(store.close)
    if group_by == "delivery":
        from whdebug.cli.commands.deliveries import list_deliveries

        ctx.exit(list_deliveries(store, last, definition_path, as_json))
        return
    if definition_path is not None:
        _list_analysed(store, definition_path, load_secrets(
            credentials_file, credential_pairs, config_pairs), missing_part, nullish,
            now_text, filters, as_json, last, masks)
        return
    newest = store.latest_id() if follow else None
    _list(store, as_json, last, masks, None if newest is None else newest + 1)
    if follow:
        _follow(store, as_json, newest, masks)


def _follow(store: CaptureStore, as_json: bool, after: int | None, masks: SecretSet) -> None:
    """New captures as they are committed: woken by the store's NOTIFY when it has one,
    else (SQLite) by polling every 0.2 s."""
    import threading

    from whdebug.cli.output.captures import capture_line

    arrived = threading.Event()
    watch = getattr(store, "watch", None)
    stop_watching = watch(arrived.set) if watch is not None else None
    interval = 5.0 if stop_watching is not None else 0.2  # NOTIFY, or a poll
    try:
        while True:
            arrived.wait(interval)
            arrived.clear()
            for row in store.since(after):
                click.echo(json.dumps(_summary_json(row, masks), separators=(",", ":"))
                           if as_json else capture_line(row, masks))
                after = row.id
    except KeyboardInterrupt:  # Ctrl-C is how --follow ends
        return
    finally:
        if stop_watching is not None:
            stop_watching()


def _list(store: CaptureStore, as_json: bool, last: int | None, masks: SecretSet,
          below: int | None) -> None:
    if as_json:
        remaining = last
        before: int | None = below
        while remaining is None or remaining > 0:
            batch = _LIST_BATCH if remaining is None else min(remaining, _LIST_BATCH)
            page = store.page(before_id=before, limit=batch)
            if not page:
                break
            click.echo("\n".join(json.dumps(_summary_json(row, masks), separators=(",", ":"))
                                 for row in page))
            before = page[-1].id
            if remaining is not None:
                remaining -= len(page)
        return
    from whdebug.cli.output.captures import render_captures, render_no_captures
    from whdebug.cli.output.text import stdout_console
    from whdebug.store.base import display_location

    console = stdout_console()
    total = store.count()
    if not total:
        render_no_captures(console, display_location(store.path))
        return
    render_captures(console, store.page(before_id=below, limit=last or _LIST_DEFAULT), total,
                    display_location(store.path),
                    _store_flag(store), masks)


def _list_analysed(store: CaptureStore, definition_path: str, secrets: Secrets, missing_part: str,
                   nullish: bool, now_text: str | None, filters: Sequence[FilterTerm],
                   as_json: bool, last: int | None, masks: SecretSet) -> None:
    """`list --definition`: bring the analysis index up to date, then answer from it."""
    from whdebug.cli.options import parse_now
    from whdebug.engine import AnalysisOptions
    from whdebug.model.definition import load_definition
    from whdebug.store import index

    keeper = index.indexed(store)  # both stores keep it (SQLite, PostgreSQL)
    definition = load_definition(definition_path)
    profile = index.IndexProfile(
        definition, secrets, AnalysisOptions(missing_part=missing_part, nullish=nullish),
        now=parse_now(now_text) if now_text else None)
    progress = _IndexProgress()
    analysis_set = index.fill(keeper, profile, progress)
    progress.finish()
    limit = last if last is not None else (None if as_json else _LIST_DEFAULT)
    ids = keeper.filter_analyses(analysis_set.id, filters, limit=limit)
    summaries = keeper.summaries(ids)
    rows = keeper.analyses_between(analysis_set.id, min(ids), max(ids)) if ids else {}
    if as_json:
        for summary in summaries:
            line = _summary_json(summary, masks)
            row = rows.get(summary.id)
            if row is not None:
                line.update(event=row.event, outcome=row.outcome, signature=row.signature,
                            codes=list(row.codes))
            click.echo(json.dumps(line, separators=(",", ":")))
        return
    from whdebug.cli.output.captures import render_analysed
    from whdebug.cli.output.text import stdout_console
    from whdebug.store.base import display_location

    matching = (len(keeper.filter_analyses(analysis_set.id, filters)) if filters
                else store.count())
    render_analysed(stdout_console(), summaries, rows, matching, display_location(store.path),
                    masks, definition.label, bool(filters))


class _IndexProgress:
    """A progress line on stderr while the index is filled, on a terminal, after 1 s."""

    def __init__(self) -> None:
        import time

        self.started = time.monotonic()
        self.shown = False
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        import time

        if self.tty and time.monotonic() - self.started > 1.0:
            click.echo(f"\rlist: analysing captures for the index: {done:,}/{total:,}",
                       err=True, nl=False)
            self.shown = True

    def finish(self) -> None:
        if self.shown:
            click.echo("", err=True)


@click.command(name="import", short_help="Store .http, .har and .json request files as captures.")
@click.argument("files", metavar="FILE...", nargs=-1, required=True)
@store_option()
@show_secrets_option
@click.pass_context
def import_files(ctx: click.Context, files: tuple[str, ...], store_path: str | None,
                 show_secrets: bool) -> None:
    """Store every request in FILE... (.http, .har, or a `whdebug export --format json`
    file) as a new capture, exactly as written; prints the new ids.

    All files are read first and stored in one transaction: if any cannot be read,
    nothing is imported. The store is created if it does not exist. An exported edit's
    "edited from" link names a capture of the store it came from, so it is not imported.
    """
    from whdebug.cli.output.text import format_size, safe
    from whdebug.store.base import display_location
    from whdebug.wording import plural

    captures: list[tuple[str, Capture]] = []
    for file in files:
        captures.extend((file, _unlinked(capture)) for capture in read_files([file]))
    if not captures:
        raise WhdebugError("nothing to import: the files hold no requests")
    store = open_store(store_path, create=True)
    ctx.call_on_close(store.close)
    new_ids = store.insert_many(capture for _, capture in captures)
    masks = name_masks(show_secrets)
    for capture_id, (file, capture) in zip(new_ids, captures, strict=True):
        request = capture.request
        click.echo(f"#{capture_id}  {safe(request.method, 16)} "
                   f"{safe(masks.mask_target(request.target))}  "
                   f"{format_size(request.size)}{'  truncated' if request.truncated else ''}"
                   f"  from {file}")
    click.echo(f"import: stored {plural(len(new_ids), 'capture', grouped=True)} in "
               f"{display_location(store.path)}", err=True)


def _unlinked(capture: Capture) -> Capture:
    """An exported edit names its original by the id it had in the store it came from, which
    is another capture (or none) here: the link is dropped, not re-pointed at a stranger."""
    if capture.source.edited_from is None:
        return capture
    return dataclasses.replace(capture,
                               source=dataclasses.replace(capture.source, edited_from=None))


def _default_base_url(request: CapturedRequest) -> str:
    """Where an exported curl sends: the Host it was sent to, else the default receiver."""
    host = (request.header("host") or "").strip()
    if not host or any(char in host for char in "/?#@ \t\\'\"") or not host.isprintable():
        return "http://127.0.0.1:8787"
    forwarded = (request.header("x-forwarded-proto") or "").split(",")[0].strip().lower()
    return f"{'https' if forwarded == 'https' else 'http'}://{host}"


def _curl_script(capture: Capture, url: str, body_file: str | None) -> bytes:
    """A bash script (or, without `body_file`, a pasteable command) for the capture."""
    from whdebug.cli.output.text import safe
    from whdebug.formats.curl import format_curl

    request, source = capture.request, capture.source
    what = (f"whdebug capture #{source.capture_id}" if source.capture_id is not None
            else "whdebug request")
    received = source.received_at
    when = f", received {received.isoformat()}" if received is not None else ""
    lines = [f"# {what}: {safe(request.method, 16)} {safe(request.target, 120)}{when}\n"]
    command = format_curl(request, url, body_file=None if body_file is None else "BODY")
    if body_file is not None:
        import shlex

        lines.insert(0, "#!/usr/bin/env bash\n")
        lines.append(f"# the body ({request.size:,} bytes, exactly) is in "
                     f"{safe(Path(body_file).name)} beside this script\n")
        reference = '@"$(dirname "$0")"/' + shlex.quote(Path(body_file).name)
        command = command.replace("--data-binary @BODY", "--data-binary " + reference, 1)
    return ("".join(lines) + command).encode("utf-8")


def _export_data(capture: Capture, format_name: str) -> bytes:
    """The capture as .http, HAR or capture JSON."""
    if format_name == "http":
        from whdebug.formats.http import format_http

        return format_http(capture.request, where=capture.source.label)
    if format_name == "har":
        from whdebug.formats.har import format_har

        return format_har([capture])
    from whdebug.formats.capture_json import capture_to_json

    return (json.dumps(capture_to_json(capture), indent=2, ensure_ascii=False)
            + "\n").encode("utf-8")


def _export_curl(capture_id: int, capture: Capture, url: str,
                 output: Path | None) -> bytes | None:
    """The curl form: the command itself, or (with -o) None once script and body are written."""
    from whdebug.formats.curl import can_inline, sends_body

    request = capture.request
    if output is None:
        if not can_inline(request):
            raise WhdebugError(f"capture #{capture_id}'s body holds NUL bytes, which a "
                               "shell argument cannot carry; use -o FILE (the body goes to "
                               "FILE.body)")
        return _curl_script(capture, url, None)
    body_path = output.with_name(output.name + ".body")
    with_body = sends_body(request)
    data = _curl_script(capture, url, str(body_path) if with_body else None)
    if with_body:
        write_private(body_path, request.body)
    write_private(output, data, 0o700)
    click.echo(f"export: wrote {output} (run: bash {output})"
               + (f" and {body_path} ({request.size:,} bytes)" if with_body else ""), err=True)
    return None


@click.command(short_help="Write a capture as .http, HAR, curl or capture JSON.")
@click.argument("capture_id", metavar="ID",
                type=CaptureId("whdebug import {} stores a request file as a capture"))
@click.option("--format", "format_name", type=click.Choice(["http", "har", "curl", "json"]),
              default="http", show_default=True,
              help="http: the raw request, body byte for byte; curl: a bash command that "
                   "re-sends it; json: every field, body in base64.")
@click.option("-o", "--output", "output_path", metavar="FILE",
              help="Write to FILE (curl: a script, the body beside it in FILE.body); "
                   "default: standard output.")
@click.option("--redact", is_flag=True,
              help="Mask signature, token, cookie and authorization header values (and "
                   "such query parameters) before writing.")
@click.option("--to", "base_url", metavar="URL",
              help="curl: where to send (default: the Host the capture was sent to). A URL "
                   "without a path gets the capture's path.")
@store_option()
@click.pass_context
def export(ctx: click.Context, capture_id: int, format_name: str, output_path: str | None,
           redact: bool, base_url: str | None, store_path: str | None) -> None:
    """Write capture ID in one of four formats; every byte of the body survives."""
    if base_url is not None and format_name != "curl":
        raise click.UsageError("--to is for --format curl", ctx)
    store = open_store(store_path)
    ctx.call_on_close(store.close)
    capture = store.get(capture_id)
    request = capture.request
    if redact:
        from dataclasses import replace

        from whdebug.model.secrecy import SecretSet
        from whdebug.tools.bundle import mask_request

        masked, _ = mask_request(request, SecretSet())
        names = [name for (name, value), (_, kept) in zip(request.headers, masked.headers,
                                                          strict=True) if value != kept]
        query = " and query parameters" if masked.query != request.query else ""
        click.echo(f"export: masked {', '.join(names) or 'no headers'}{query}", err=True)
        request = masked
        capture = replace(capture, request=masked)
    if request.truncated:
        click.echo(f"export: capture #{capture_id} is truncated: only the first "
                   f"{len(request.body):,} of {request.size:,} bytes were stored", err=True)
    output = Path(output_path) if output_path is not None else None
    if output is not None:
        refuse_symlink(output)
        if format_name == "curl":
            refuse_symlink(output.with_name(output.name + ".body"))
    if output is not None and output.is_dir():
        raise WhdebugError("-o must be a file, not a directory", str(output))
    if format_name == "curl":
        from whdebug.tools.resend import target_url

        url = target_url(base_url or _default_base_url(request), request)
        data = _export_curl(capture_id, capture, url, output)
        if data is None:
            return
    else:
        data = _export_data(capture, format_name)
    if output is None:
        stdout = sys.stdout.buffer
        stdout.write(data)
        stdout.flush()
    else:
        write_private(output, data)
        click.echo(f"export: wrote {output} ({len(data):,} bytes)", err=True)
