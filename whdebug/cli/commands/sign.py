"""`whdebug sign`: build the correctly signed request a provider would send."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from whdebug.cli import ExitStatus, one_line
from whdebug.cli.options import (
    analysis_options,
    definition_option,
    load_secrets,
    parse_now,
    profile_option,
    refuse_symlink,
    write_private,
)
from whdebug.errors import WhdebugError

if TYPE_CHECKING:
    from whdebug.model.request import CapturedRequest

SIGN_SCHEMES = ("github", "shopify", "woocommerce", "salla", "slack", "stripe",
                "standard-webhooks", "karzoun")
"""`whdebug.tools.signing.SCHEMES`, repeated so `--help` does not import the engine."""


def _parse_headers(pairs: Sequence[str]) -> list[tuple[str, str]]:
    """`--header NAME:VALUE` arguments; the value is never echoed (it may be a token)."""
    headers: list[tuple[str, str]] = []
    for number, pair in enumerate(pairs, 1):
        name, separator, value = pair.partition(":")
        if not separator or not name.strip() or any(c.isspace() for c in name.strip()):
            raise WhdebugError(f"--header: expected NAME:VALUE (argument {number})")
        headers.append((name.strip(), value.strip()))
    return headers


def _read_payload(path: str) -> bytes:
    """The payload's exact bytes; `-` reads standard input."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise WhdebugError("payload file not found", path) from None
    except IsADirectoryError:
        raise WhdebugError("payload path is a directory", path) from None
    except OSError as error:
        raise WhdebugError(f"cannot read payload: {error.strerror}", path) from None


def _send(url: str, request: CapturedRequest) -> ExitStatus:
    """POST the exact body and headers to `url` as `whdebug send` does (no header of httpx's
    own, no proxy from the environment, a token in the URL masked in errors); print the
    answer; SUCCESS for a 2xx status."""
    from urllib.parse import urlsplit

    from whdebug.tools.resend import resend

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise WhdebugError(f"--send: expected an http:// or https:// URL, got {url!r}")
    answer = resend(request, url)
    click.echo(f"HTTP {answer.status} {answer.reason}".rstrip())
    if answer.body:
        click.echo(answer.body.decode("utf-8", "replace"))
    return ExitStatus.SUCCESS if answer.ok else ExitStatus.FINDING


@click.command(short_help="Build a correctly signed .http request from a definition.")
@click.argument("payload_path", metavar="[PAYLOAD]", required=False)
@click.option("--sample", "sample_ref", metavar="PROVIDER:EVENT",
              help="Sign a built-in sample (see `whdebug samples`) with the headers its "
                   "provider sends, instead of PAYLOAD.")
@definition_option("The MiniApp definition whose verification and event extraction to use.")
@profile_option
@analysis_options
@click.option("--event", metavar="EVENT",
              help="Put EVENT where eventExtraction reads it (a header or query part; a body "
                   "path must already hold it in PAYLOAD).")
@click.option("--header", "header_pairs", metavar="NAME:VALUE", multiple=True,
              help="Add or replace a header (repeatable).")
@click.option("--scheme", type=click.Choice(SIGN_SCHEMES),
              help="Sign as this provider really does, instead of per the definition.")
@click.option("-o", "--output", "output_path", metavar="FILE",
              help="Write the .http request to FILE (default: standard output).")
@click.option("--send", "send_url", metavar="URL",
              help="POST the request to URL and print the status and body.")
@click.pass_context
def sign(ctx: click.Context, payload_path: str | None, sample_ref: str | None,
         definition_path: str | None,
         profile_name: str | None, credentials_file: str | None,
         credential_pairs: tuple[str, ...], config_pairs: tuple[str, ...], missing_part: str,
         nullish: bool, now_text: str | None, event: str | None,
         header_pairs: tuple[str, ...], scheme: str | None, output_path: str | None,
         send_url: str | None) -> None:
    """Build the request a provider would send with PAYLOAD as its exact body.

    The signature follows the definition's webhook.verification (or --scheme), with the
    secret resolved as the runtime does (credentials, then auth.config). PAYLOAD is a file
    or - for standard input. Writes the .http request to standard output unless -o or
    --send is given; notes go to standard error.

    With --sample PROVIDER:EVENT (e.g. github:pull_request.opened) the body and the
    provider's headers come from `whdebug samples`: with --send URL, one command triggers
    a realistic signed delivery, like `stripe trigger`.
    """
    if (payload_path is None) == (sample_ref is None):
        raise click.UsageError("give PAYLOAD or --sample PROVIDER:EVENT (one of them)", ctx)
    if (definition_path is None) == (profile_name is None):
        raise click.UsageError("give --definition FILE or --profile NAME (one of them)", ctx)
    if output_path is not None and send_url is not None:
        raise click.UsageError("give -o FILE or --send URL, not both", ctx)
    if output_path is not None:
        refuse_symlink(output_path)
    if payload_path == "-" and any(pair.partition("=")[2] == "-" for pair in credential_pairs):
        raise click.UsageError("PAYLOAD - and --credential KEY=- both read standard input; "
                               "use --credential KEY=@FILE", ctx)
    from whdebug.formats.http import format_http
    from whdebug.model.definition import load_definition
    from whdebug.tools.signing import event_outside_body, sign_request

    now = parse_now(now_text)
    secrets = load_secrets(credentials_file, credential_pairs, config_pairs)
    headers = _parse_headers(header_pairs)
    if profile_name is not None:
        from whdebug.tools.profiles import get_profile

        profile = get_profile(profile_name)
        definition = profile.definition
        scheme = scheme or profile.scheme
    else:
        assert definition_path is not None
        definition = load_definition(definition_path)
    message_id = None
    if sample_ref is not None:
        from whdebug.tools.samples import load_sample, parse_reference, provider_headers

        sample = load_sample(*parse_reference(sample_ref))
        payload = sample.payload
        sent = [(name, value) for name, value in provider_headers(sample, now)
                if name.lower() != "content-type"]
        message_id = next((value for name, value in sent if name == "webhook-id"), None)
        given = {name.lower() for name, _ in headers}
        headers = [pair for pair in sent if pair[0].lower() not in given] + headers
        click.echo(f"sign: sample {sample.provider}:{sample.event} "
                   f"({len(payload):,} bytes)", err=True)
    else:
        assert payload_path is not None
        payload = _read_payload(payload_path)
    signed = sign_request(payload, definition, secrets, now=now, event=event, scheme=scheme,
                          headers=headers, nullish=nullish, missing_part=missing_part,
                          message_id=message_id)
    unsubscribed = (event is None and event_outside_body(definition)
                    and signed.event not in definition.trigger_events)
    # A bare payload needs the event it stands for; a sample carries the provider's own
    # headers, and what they are read as (even an event no trigger takes) is the point.
    if unsubscribed and sample_ref is None:
        raise WhdebugError(
            f"--event is required: {one_line(signed.notices[-1])}; without it the runtime "
            f"would extract {signed.event!r} from the request")
    data = format_http(signed.request)  # before any note: a request it cannot write is one line
    if signed.signature_headers:
        how = ("per the definition's verification" if signed.scheme == "definition"
               else f"as {signed.scheme} signs")
        click.echo(f"sign: {', '.join(signed.signature_headers)} {how}, secret from "
                   f"{signed.secret_source}.{signed.secret_key} ({signed.secret_hint})",
                   err=True)
    click.echo(f"sign: event {signed.event!r}" if signed.event is not None
               else "sign: the runtime extracts no event from this request", err=True)
    notices = list(signed.notices)
    if unsubscribed and notices:  # a sample's, as the refusal above is a payload's
        notices[-1] = (f"no trigger takes {signed.event!r}, what this {sample_ref} delivery is "
                       "read as, so it fires nothing; `whdebug check` names a trigger it "
                       "comes close to")
    for notice in notices:
        click.echo(f"note: {one_line(notice)}", err=True)
    if send_url is not None:
        ctx.exit(_send(send_url, signed.request))
    if output_path is not None:
        write_private(output_path, data)
        click.echo(f"sign: wrote {output_path} ({len(data)} bytes)", err=True)
    else:
        stdout = sys.stdout.buffer
        stdout.write(data)
        stdout.flush()
