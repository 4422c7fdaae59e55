"""The capture store's commands: `list`, `import` and `export` (`send` is in send.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from whdebug.cli.options import (
    json_option,
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
    from whdebug.model.request import Capture, CapturedRequest
    from whdebug.model.secrecy import SecretSet
    from whdebug.store.store import CaptureSummary, Store

_LIST_DEFAULT = 100
"""Rows the human `list` shows without --last (--json lists every capture)."""
_LIST_BATCH = 1000


def _store_flag(store: Store) -> str:
    """` --store PATH` for a suggested command, or '' when PATH is the default."""
    import shlex

    from whdebug.store.store import default_store_path

    default = default_store_path().absolute()
    return "" if store.path.absolute() == default else f" --store {shlex.quote(str(store.path))}"


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


@click.command(name="list", short_help="List captures, newest first.")
@json_option("One JSON object per capture per line (every capture unless --last).")
@click.option("--last", type=click.IntRange(min=1), metavar="N",
              help=f"Only the newest N captures (default: {_LIST_DEFAULT} in the table, all "
                   "with --json).")
@store_option()
@show_secrets_option
@click.pass_context
def list_captures(ctx: click.Context, as_json: bool, last: int | None,
                  store_path: str | None, show_secrets: bool) -> None:
    """List captures, newest first: id, time (local), method, target, size, the answer
    sent, content type and sender (user agent). Credential-looking query parameters
    (token, api_key, ...) are masked unless --show-secrets."""
    masks = name_masks(show_secrets)
    store = open_store(store_path)
    ctx.call_on_close(store.close)
    if as_json:
        remaining = last
        before: int | None = None
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

    console = stdout_console()
    total = store.count()
    if not total:
        render_no_captures(console, store.path)
        return
    render_captures(console, store.page(limit=last or _LIST_DEFAULT), total, store.path,
                    _store_flag(store), masks)


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
    nothing is imported. The store is created if it does not exist.
    """
    from whdebug.cli.output.text import format_size, safe
    from whdebug.wording import plural

    captures: list[tuple[str, Capture]] = []
    for file in files:
        captures.extend((file, capture) for capture in read_files([file]))
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
               f"{store.path}", err=True)


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
@click.argument("capture_id", metavar="ID", type=click.IntRange(min=1))
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
