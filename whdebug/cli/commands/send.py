"""`whdebug send`: re-send a capture (edited and signed again if asked) and show the answer."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from whdebug.cli import ExitStatus
from whdebug.cli.options import (
    CaptureId,
    definition_option,
    json_option,
    load_secrets,
    name_masks,
    now_option,
    open_store,
    parse_now,
    profile_option,
    read_files,
    secret_options,
    show_secrets_option,
    store_option,
)
from whdebug.errors import WhdebugError, read_input

if TYPE_CHECKING:
    from whdebug.model.definition import Definition
    from whdebug.model.request import Capture, CapturedRequest, Secrets
    from whdebug.model.secrecy import SecretSet
    from whdebug.tools.resend import Answer
    from whdebug.tools.resign import Resigned

SEND_SCHEMA = "whdebug.send/1"


@click.command(short_help="Re-send a capture (edited, signed again) and show the app's answer.")
@click.argument("capture_id", metavar="[ID]", required=False,
                type=CaptureId("whdebug send --file {} --to URL sends a request file",
                               url_flag="--to"))
@click.option("--to", "url", metavar="URL", required=True,
              help="Where to send. A URL without a path gets the capture's path; the "
                   "capture's query string is appended.")
@click.option("--file", "file_path", metavar="F",
              help="Send the request(s) in a .http, .har or .json file instead of a capture.")
@click.option("--body-file", metavar="F",
              help="Send F's exact bytes as the body instead of the captured one.")
@click.option("--set-header", "set_header_pairs", metavar="K=V", multiple=True,
              help="Set header K to V (repeatable): replaced in place, else added.")
@click.option("--resign", is_flag=True,
              help="Sign the (edited) body again: the signature headers it carries, with their "
                   "scheme (or the definition's verification) and the secret the runtime "
                   "resolves. Needs --definition or --profile and the secret.")
@click.option("--fresh-timestamp", is_flag=True,
              help="Also stamp Slack, Stripe and Standard Webhooks signatures with the current "
                   "time (--now), so they pass the provider's tolerance window (implies "
                   "--resign).")
@click.option("--repeat", type=click.IntRange(min=1, max=1000), default=1, metavar="N",
              help="Send N times and report whether the answers differ (idempotency).")
@definition_option("The MiniApp definition whose verification --resign uses.")
@profile_option
@secret_options
@now_option
@store_option()
@json_option("One whdebug.send/1 JSON document per request sent.")
@show_secrets_option
@click.pass_context
def send(ctx: click.Context, capture_id: int | None, url: str, file_path: str | None,
         body_file: str | None, set_header_pairs: tuple[str, ...], resign: bool,
         fresh_timestamp: bool, repeat: int, definition_path: str | None,
         profile_name: str | None, credentials_file: str | None,
         credential_pairs: tuple[str, ...], config_pairs: tuple[str, ...],
         now_text: str | None, store_path: str | None, as_json: bool,
         show_secrets: bool) -> None:
    """Send capture ID (or --file F) to URL: the same method, the exact body bytes and the
    original headers, minus hop-by-hop ones (Host and Content-Length are recomputed).

    --body-file and --set-header edit the request first; --resign signs it again. Prints
    the answer's status line, headers, up to 64 KiB of its body and the latency;
    credential-looking headers and query parameters and every secret given are masked
    unless --show-secrets (known secrets stay masked). Exit status 0 when every answer is
    2xx (and with --repeat, the same each time), 1 otherwise, 2 when nothing answered or on
    bad input.
    """
    if (capture_id is None) == (file_path is None):
        raise click.UsageError("give a capture ID or --file F (one of them)", ctx)
    resign = resign or fresh_timestamp
    if resign and (definition_path is None) == (profile_name is None):
        raise click.UsageError("--resign needs --definition FILE or --profile NAME (one of "
                               "them)", ctx)
    from whdebug.tools.resend import answer_differences, resend_all, target_url
    from whdebug.tools.resign import edit_request, parse_set_headers

    set_headers = parse_set_headers(set_header_pairs)
    body = read_input(body_file, "--body-file") if body_file is not None else None
    definition, secrets, masks = _context(definition_path, profile_name, credentials_file,
                                          credential_pairs, config_pairs, show_secrets)
    now = parse_now(now_text)
    if file_path is not None:
        captures = read_files([file_path])
    else:
        store = open_store(store_path)
        ctx.call_on_close(store.close)
        captures = [store.get(capture_id or 0)]
    prepared: list[tuple[Capture, CapturedRequest, Resigned | None]] = []
    for capture in captures:
        request, source = capture.request, capture.source
        if request.truncated and body is None:
            what = (f"capture #{source.capture_id}" if source.capture_id is not None
                    else source.label)
            raise WhdebugError(f"{what} was truncated: only {len(request.body):,} of "
                               f"{request.size:,} bytes were stored, so it cannot be re-sent "
                               "(give --body-file F)")
        edited = edit_request(request, body=body, set_headers=set_headers)
        signed = None
        if resign:
            from whdebug.tools.resign import resign as sign_again

            assert definition is not None and secrets is not None
            signed = sign_again(edited, definition, secrets, now=now,
                                fresh_timestamp=fresh_timestamp)
            edited = signed.request
        target_url(url, edited, masks)  # a bad URL fails before anything is sent
        prepared.append((capture, edited, signed))
    all_ok = True
    for number, (capture, request, signed) in enumerate(prepared):
        if number and not as_json:
            click.echo()
        if signed is not None and not as_json:
            _echo_resigned(signed)
        answers = resend_all(request, url, repeat, masks=masks)
        differences = [(index + 2, answer_differences(answers[0], other))
                       for index, other in enumerate(answers[1:])]
        differences = [(index, found) for index, found in differences if found]
        all_ok = all_ok and all(answer.ok for answer in answers) and not differences
        if as_json:
            click.echo(json.dumps(_document(capture, request, signed, answers, differences,
                                            masks), ensure_ascii=False))
            continue
        _echo_answers(capture, request, answers, differences, masks)
    ctx.exit(ExitStatus.SUCCESS if all_ok else ExitStatus.FINDING)


def _context(definition_path: str | None, profile_name: str | None,
             credentials_file: str | None, credential_pairs: tuple[str, ...],
             config_pairs: tuple[str, ...], show_secrets: bool
             ) -> tuple[Definition | None, Secrets | None, SecretSet]:
    """The definition and secrets (when given) and the masks of everything printed."""
    from whdebug.model.secrecy import SecretSet

    secrets = load_secrets(credentials_file, credential_pairs, config_pairs)
    definition = None
    if profile_name is not None:
        from whdebug.tools.profiles import get_profile

        definition = get_profile(profile_name).definition
    elif definition_path is not None:
        from whdebug.model.definition import load_definition

        definition = load_definition(definition_path)
    if definition is None and not (secrets.credentials or secrets.config):
        return None, None, name_masks(show_secrets)
    masks = SecretSet.build(definition, secrets).showing_names(show_secrets)
    return definition, secrets, masks


def _echo_resigned(signed: Resigned) -> None:
    how = ", ".join(signed.schemes)
    stamp = f" at timestamp {signed.timestamp}" if signed.timestamp is not None else ""
    secret = (f", secret from {signed.secret_source}.{signed.secret_key} ({signed.secret_hint})"
              if signed.secret_key else "")
    click.echo(f"send: re-signed {', '.join(signed.headers) or 'nothing'} ({how}){stamp}"
               f"{secret}", err=True)
    for notice in signed.notices:
        click.echo(f"note: {' '.join(notice.split())}", err=True)


def _echo_answers(capture: Capture, request: CapturedRequest, answers: list[Answer],
                  differences: list[tuple[int, list[str]]], masks: SecretSet) -> None:
    from whdebug.cli.output.send import format_answer
    from whdebug.cli.output.text import safe
    from whdebug.tools.resend import forwardable_headers
    from whdebug.wording import plural

    first = answers[0]
    headers = plural(len(forwardable_headers(request)), "header", grouped=True)
    click.echo(f"send: {capture.source.label} {safe(request.method, 16)} "
               f"{safe(masks.mask_target(first.url))} ({request.size:,} bytes, {headers}) -> "
               f"{first.status} in {first.elapsed * 1000:.0f} ms", err=True)
    click.echo(format_answer(first, masks))
    if len(answers) == 1:
        return
    for index, answer in enumerate(answers[1:], 2):
        click.echo(f"send: #{index} of {len(answers)}: {answer.status} in "
                   f"{answer.elapsed * 1000:.0f} ms", err=True)
    if differences:
        for index, found in differences:
            click.echo(f"repeat: answer {index} differs from the first: {'; '.join(found)}")
        click.echo(f"repeat: the {len(answers)} answers differ: the app is not idempotent for "
                   "this delivery (a provider's retry gets another answer)")
    else:
        click.echo(f"repeat: the {len(answers)} answers are the same (status, body and stable "
                   "headers)")


def _document(capture: Capture, request: CapturedRequest, signed: Resigned | None,
              answers: list[Answer], differences: list[tuple[int, list[str]]],
              masks: SecretSet) -> dict[str, Any]:
    from whdebug.cli.output.send import answer_json
    from whdebug.tools.resend import forwardable_headers

    document: dict[str, Any] = {
        "schema": SEND_SCHEMA,
        "source": capture.source.label,
        "url": masks.mask_target(answers[0].url),
        "request": {
            "method": request.method,
            "headers": [[name, value] for name, value
                        in masks.mask_headers(forwardable_headers(request))],
            "body_size": len(request.body),
            "body_sha256": request.body_sha256,
        },
        "resigned": None if signed is None else {
            "schemes": list(signed.schemes),
            "headers": list(signed.headers),
            "timestamp": signed.timestamp,
            "secret_source": signed.secret_source,
            "secret_key": signed.secret_key,
            "notices": list(signed.notices),
        },
        "answers": [answer_json(answer, masks) for answer in answers],
        "same_answers": not differences,
        "differences": [{"answer": index, "what": found} for index, found in differences],
    }
    scrubbed = masks.scrub(document)
    assert isinstance(scrubbed, dict)
    return scrubbed
