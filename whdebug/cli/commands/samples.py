"""`whdebug samples`: realistic provider payloads, one event at a time or one per trigger."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from whdebug.cli.options import (
    json_option,
    parse_credentials,
    parse_now,
    refuse_symlink,
    write_private,
)
from whdebug.errors import WhdebugError
from whdebug.wording import plural


def _list(provider: str | None, as_json: bool) -> None:
    from whdebug.tools.samples import PROVIDERS, events

    providers = [provider] if provider is not None else list(PROVIDERS)
    listing = {name: events(name) for name in providers}
    if as_json:
        click.echo(json.dumps(listing, indent=2))
        return
    for name, names in listing.items():
        click.echo(f"{name}: {', '.join(names)}")
    click.echo("write one: whdebug samples PROVIDER EVENT [--http] [-o FILE]", err=True)


def _write(data: bytes, output_path: str | None, what: str) -> None:
    if output_path is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    write_private(output_path, data)
    click.echo(f"samples: wrote {what} to {output_path} ({len(data):,} bytes)", err=True)


def _for_definition(definition_path: str, output_path: str | None, as_json: bool) -> None:
    from whdebug.model.definition import load_definition
    from whdebug.tools.reachability import named_trigger, trigger_findings
    from whdebug.tools.samples import guess_provider, samples_for

    if output_path is None:
        raise WhdebugError("--for needs -o DIR: the folder to write one sample per trigger in")
    definition = load_definition(definition_path)
    found = samples_for(definition)
    if not found:
        raise WhdebugError("the definition has no triggers with an event", definition_path)
    folder = Path(output_path)
    refuse_symlink(folder)
    if folder.exists() and not folder.is_dir():
        raise WhdebugError("-o must be a folder for --for", output_path)
    folder.mkdir(parents=True, exist_ok=True)
    for item in found:
        target = folder / item.file_name
        refuse_symlink(target)
        write_private(target, item.payload)
    # A sample fires because whdebug wrote its event in; the provider's own delivery may not.
    unreachable = trigger_findings(definition)
    by_event: dict[str, str] = {}
    for finding in unreachable:
        event = named_trigger(definition, finding)
        if event is not None:
            by_event.setdefault(event, finding.message)
    if as_json:
        click.echo(json.dumps([{"event": item.event, "file": item.file_name,
                                "based_on": item.based_on, "notes": list(item.notes),
                                **({"warning": by_event[item.event]}
                                   if item.event in by_event else {})}
                               for item in found], indent=2, ensure_ascii=False))
    else:
        provider = guess_provider(definition)
        click.echo(f"samples: {provider or 'unknown provider'}: wrote "
                   f"{plural(len(found), 'sample')} to {folder}", err=True)
        for item in found:
            notes = f"  ({'; '.join(item.notes)})" if item.notes else ""
            click.echo(f"{item.file_name}  from {item.based_on}{notes}")
        for finding in unreachable:
            shown = ("check --samples shows it: one of the samples written here is dropped as "
                     "a duplicate" if finding.code == "DEF_TX_NOT_PER_DELIVERY"
                     else "a sample written here fires all the same")
            click.echo(f"warning: {finding.message}; {shown}. Fix: {finding.fix}", err=True)
    click.echo(f"next: whdebug check {definition_path} --samples {folder}", err=True)


@click.command(short_help="Write realistic provider payloads (like `stripe trigger`).")
@click.argument("provider", required=False)
@click.argument("event", required=False)
@click.option("--http", "as_http", is_flag=True,
              help="Write the whole request (.http): the provider's headers, then the body.")
@click.option("--secret", "secret", metavar="VALUE",
              help="--http: sign as the provider does with this secret (@FILE reads a file, "
                   "- standard input).")
@click.option("--now", "now_text", metavar="TIME",
              help="--http: the delivery time for timestamps and ids (ISO 8601; default now).")
@click.option("--for", "definition_path", metavar="FILE",
              help="Write one sample per trigger of this definition into -o DIR, named as "
                   "`check --samples` reads them.")
@click.option("-o", "--output", "output_path", metavar="FILE",
              help="Write to FILE (with --for: the folder DIR); default: standard output.")
@json_option("List providers and events (or --for's files) as JSON.")
@click.pass_context
def samples(ctx: click.Context, provider: str | None, event: str | None, as_http: bool,
            secret: str | None, now_text: str | None, definition_path: str | None,
            output_path: str | None, as_json: bool) -> None:
    """List the sample providers and events, or write one sample.

    `whdebug samples` lists them; `whdebug samples github pull_request.opened` writes the
    payload's exact bytes (--http: the request with the provider's headers, signed with
    --secret); `whdebug samples --for app.json -o samples/` writes one payload per trigger,
    ready for `whdebug check app.json --samples samples/`.
    """
    from whdebug.tools.samples import load_sample, sample_request

    if definition_path is not None:
        if provider is not None or as_http or secret is not None:
            raise click.UsageError("--for takes no PROVIDER, EVENT, --http or --secret", ctx)
        _for_definition(definition_path, output_path, as_json)
        return
    if event is None:
        if output_path is not None or as_http or secret is not None:
            raise click.UsageError("give PROVIDER and EVENT to write a sample", ctx)
        _list(provider, as_json)
        return
    if secret is not None and not as_http:
        raise click.UsageError("--secret signs the --http request; add --http", ctx)
    if output_path is not None:
        refuse_symlink(output_path)
    assert provider is not None
    sample = load_sample(provider, event)
    if not as_http:
        _write(sample.payload, output_path, f"{provider} {event}")
        return
    from whdebug.formats.http import format_http

    key = None if secret is None else parse_credentials([f"secret={secret}"])["secret"]
    request = sample_request(sample, parse_now(now_text), key)
    if key is None:
        click.echo(f"samples: unsigned; --secret VALUE signs it as {provider} does", err=True)
    _write(format_http(request), output_path,
           f"{provider} {event} request{' (signed)' if key is not None else ''}")
