"""`whdebug send`: edit, re-sign, re-stamp and repeat against a real app on a loopback port;
re-signed requests verified with the providers' SDKs (and the engine for the rest)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import stripe
from app_support import recording_app
from cli_support import run
from paths import FIXTURES
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook

from whdebug.engine.analyze import analyze
from whdebug.formats.http import format_http
from whdebug.formats.read import read_requests
from whdebug.model.definition import load_definition
from whdebug.model.request import CapturedRequest, Secrets
from whdebug.tools.signing import sign_request

REQUESTS = FIXTURES / "requests"
DEFINITIONS = FIXTURES / "definitions"
GITHUB_SECRET = "fixture-github-webhook-secret"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
STRIPE_SECRET = "whsec_stripeTestSecretValue01"
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SIGNED_AT = datetime(2025, 11, 24, 16, 0, 0, tzinfo=UTC)
EDITED = b'{"action":"closed","number":42,"pull_request":{"node_id":"PR_edited"}}'


def _import(tmp_path: Path, request: CapturedRequest) -> str:
    """A store holding `request` as capture #1."""
    store = str(tmp_path / "captures.db")
    path = tmp_path / "request.http"
    path.write_bytes(format_http(request))
    result = run("import", str(path), "--store", store)
    assert result.exit_code == 0, result.output
    return store


def _received_request(app_received: object) -> CapturedRequest:
    received = app_received
    return CapturedRequest("POST", received.path, received.query,  # type: ignore[attr-defined]
                           tuple(received.headers), received.body)  # type: ignore[attr-defined]


def _signed(definition: str, scheme: str, secret_key: str, secret: str,
            body: bytes = b'{"type":"event_callback","event_id":"Ev1"}') -> CapturedRequest:
    defn = load_definition(DEFINITIONS / definition)
    return sign_request(body, defn, Secrets({secret_key: secret}), now=SIGNED_AT,
                        scheme=scheme).request


def test_body_file_and_resign_for_the_definitions_hmac(tmp_path: Path) -> None:
    original = read_requests([str(REQUESTS / "github-pr-opened.http")])[0].request
    store = _import(tmp_path, original)
    body_file = tmp_path / "edited.json"
    body_file.write_bytes(EDITED)
    with recording_app(status=202, body=b"accepted") as app:
        result = run("send", "1", "--to", app.url, "--store", store, "--body-file",
                     str(body_file), "--resign", "--definition", str(DEFINITIONS / "github.json"),
                     "--credential", f"webhookSecret={GITHUB_SECRET}")
        unsigned = run("send", "1", "--to", app.url, "--store", store, "--body-file",
                       str(body_file))
    assert result.exit_code == 0, result.output
    assert "send: re-signed X-Hub-Signature-256, X-Hub-Signature (github)" in result.stderr
    assert result.stdout.startswith("HTTP/1.1 202 Accepted") and "accepted" in result.stdout
    assert GITHUB_SECRET not in result.output
    definition = load_definition(DEFINITIONS / "github.json")
    secrets = Secrets({"webhookSecret": GITHUB_SECRET})
    resigned, stale = (_received_request(item) for item in app.received)
    assert resigned.body == EDITED and app.header(0, "content-length") == str(len(EDITED))
    assert analyze(resigned, definition, secrets, now=SIGNED_AT).signature.verdict == "pass"
    assert analyze(stale, definition, secrets, now=SIGNED_AT).signature.verdict == "fail"
    assert unsigned.exit_code == 0
    [kept] = read_requests([str(REQUESTS / "github-pr-opened.http")])
    assert kept.request.body != EDITED  # the capture itself is never changed


def test_slack_keeps_its_timestamp_or_gets_a_fresh_one(tmp_path: Path) -> None:
    store = _import(tmp_path, _signed("slack.json", "slack", "signingSecret", SLACK_SECRET))
    args = ["--resign", "--definition", str(DEFINITIONS / "slack.json"), "--credential",
            f"signingSecret={SLACK_SECRET}", "--set-header", "X-Slack-Retry-Num=1"]
    body_file = tmp_path / "b.json"
    body_file.write_bytes(b'{"type":"event_callback","event_id":"Ev2"}')
    with recording_app() as app:
        kept = run("send", "1", "--to", app.url, "--store", store, "--body-file",
                   str(body_file), *args)
        fresh = run("send", "1", "--to", app.url, "--store", store, "--body-file",
                    str(body_file), "--fresh-timestamp", *args)
    assert kept.exit_code == 0 and fresh.exit_code == 0, kept.output + fresh.output
    old = str(int(SIGNED_AT.timestamp()))
    assert app.header(0, "x-slack-request-timestamp") == old
    assert app.header(0, "x-slack-retry-num") == "1"
    stamp = app.header(1, "x-slack-request-timestamp")
    assert stamp is not None and abs(int(stamp) - time.time()) < 60
    verifier = SignatureVerifier(SLACK_SECRET)  # the real clock: 5 minutes' tolerance
    assert verifier.is_valid(app.received[1].body, stamp, app.header(1, "x-slack-signature"))
    assert not verifier.is_valid(app.received[0].body, old, app.header(0, "x-slack-signature"))
    assert SLACK_SECRET not in kept.output + fresh.output


def test_stripe_and_standard_webhooks_fresh_timestamps_verify_with_their_sdks(
        tmp_path: Path) -> None:
    stripe_store = _import(tmp_path, _signed("payments.json", "stripe", "webhookSecret",
                                             STRIPE_SECRET, b'{"id":"evt_1","type":"a.b"}'))
    (tmp_path / "std").mkdir()
    std_store = _import(tmp_path / "std", _signed("notify.json", "standard-webhooks",
                                                  "signingSecret", STANDARD_SECRET,
                                                  b'{"type":"message.delivered"}'))
    with recording_app() as app:
        paid = run("send", "1", "--to", app.url, "--store", stripe_store, "--fresh-timestamp",
                   "--definition", str(DEFINITIONS / "payments.json"), "--credential",
                   f"webhookSecret={STRIPE_SECRET}")
        notified = run("send", "1", "--to", app.url, "--store", std_store,
                       "--fresh-timestamp", "--definition", str(DEFINITIONS / "notify.json"),
                       "--credential", f"signingSecret={STANDARD_SECRET}", "--json")
    assert paid.exit_code == 0 and notified.exit_code == 0, paid.output + notified.output
    header = app.header(0, "stripe-signature")
    assert header is not None
    assert stripe.WebhookSignature.verify_header(app.received[0].body.decode(), header,
                                                 STRIPE_SECRET, tolerance=300)
    headers = {name: value for name, value in app.received[1].headers}
    Webhook(STANDARD_SECRET).verify(app.received[1].body, headers)  # raises when it fails
    document = json.loads(notified.stdout)
    assert document["resigned"]["schemes"] == ["standard-webhooks"]
    assert document["resigned"]["headers"] == ["webhook-id", "webhook-timestamp",
                                               "webhook-signature"]
    assert STANDARD_SECRET not in notified.stdout and STRIPE_SECRET not in paid.output


def test_repeat_reports_whether_the_answers_differ(tmp_path: Path) -> None:
    store = _import(tmp_path, read_requests([str(REQUESTS / "github-push.http")])[0].request)
    with recording_app(statuses=[200, 409, 200]) as flaky:
        differ = run("send", "1", "--to", flaky.url, "--store", store, "--repeat", "3")
    assert differ.exit_code == 1, differ.output
    assert len(flaky.received) == 3
    assert "repeat: answer 2 differs from the first: status 200 then 409" in differ.stdout
    assert "the 3 answers differ" in differ.stdout
    with recording_app(delay=0.2) as steady:
        same = run("send", "1", "--to", steady.url, "--store", store, "--repeat", "2", "--json")
    assert same.exit_code == 0, same.output
    document = json.loads(same.stdout)
    assert document["schema"] == "whdebug.send/1" and document["same_answers"] is True
    assert [answer["status"] for answer in document["answers"]] == [200, 200]
    assert all(answer["latency_ms"] >= 200 for answer in document["answers"])
    assert document["answers"][0]["body_preview"] == '{"ok":true}'


def test_answers_are_masked_and_previewed_up_to_64_kib(tmp_path: Path) -> None:
    store = _import(tmp_path, read_requests([str(REQUESTS / "github-pr-opened.http")])[0].request)
    leak = f'{{"echo":"{GITHUB_SECRET}"}}'.encode()
    args = ["--definition", str(DEFINITIONS / "github.json"), "--credential",
            f"webhookSecret={GITHUB_SECRET}", "--set-header", "Authorization=Bearer tok-4242"]
    with recording_app(body=leak, headers={"x-api-key": "key-9999"}) as app:
        human = run("send", "1", "--to", app.url, "--store", store, *args)
        as_json = run("send", "1", "--to", app.url, "--store", store, "--json", *args)
    assert app.header(0, "authorization") == "Bearer tok-4242"
    for result in (human, as_json):
        assert result.exit_code == 0, result.output
        for secret in (GITHUB_SECRET, "tok-4242", "key-9999"):
            assert secret not in result.output
    assert '"echo"' in human.stdout
    big = b"x" * (70 * 1024)
    with recording_app(body=big, headers={"content-type": "text/plain"}) as app:
        result = run("send", "1", "--to", app.url, "--store", store)
    assert result.exit_code == 0
    assert "x" * (64 * 1024) in result.stdout and "x" * (64 * 1024 + 1) not in result.stdout
    assert f"… ({6 * 1024:,} more bytes)" in result.stdout


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    store = _import(tmp_path, read_requests([str(REQUESTS / "github-unsigned.http")])[0].request)
    cases = [
        (["--resign"], "--resign needs --definition FILE or --profile NAME"),
        (["--set-header", "no separator"], "--set-header: expected NAME=VALUE"),
        (["--body-file", str(tmp_path / "missing.json")], "--body-file file not found"),
        (["--resign", "--definition", str(DEFINITIONS / "acme-crm.json"), "--set-header",
          "X-Other=1"], "no secret to sign with"),
    ]
    for extra, message in cases:  # nothing is sent: port 9 refuses
        result = run("send", "1", "--to", "http://127.0.0.1:9", "--store", store, *extra)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("whdebug: ") and len(result.stderr.splitlines()) == 1
        assert message in result.stderr


def test_serve_forward_to_records_the_answer_list_shows_it_and_replay_compares(
        tmp_path: Path) -> None:
    import asyncio

    import httpx

    from whdebug.receiver.app import ReceiverSettings
    from whdebug.receiver.server import ServerSettings, running_receiver
    from whdebug.store.store import Store

    store = tmp_path / "serve.db"
    request = read_requests([str(REQUESTS / "github-pr-opened.http")])[0].request

    async def deliver(url: str) -> None:
        settings = ReceiverSettings(forward_to=f"{url}/app")
        async with running_receiver(store, settings, ServerSettings(port=0)) as running:
            async with httpx.AsyncClient() as client:
                await client.post(f"{running.url}{request.path}", content=request.body,
                                  headers=[(k, v) for k, v in request.headers
                                           if k.lower() not in ("host", "content-length")])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with Store.open(store) as opened:
                    if opened.get(1).forward is not None:
                        return
                await asyncio.sleep(0.05)

    with recording_app(status=500, body=b'{"error":"db down"}', delay=0.05) as app:
        asyncio.run(deliver(app.url))
    assert app.received[0].body == request.body
    listed = run("list", "--json", "--store", str(store))
    assert listed.exit_code == 0, listed.output
    row = json.loads(listed.stdout.splitlines()[0])
    assert row["forward_status"] == 500 and row["forward_latency_ms"] >= 50
    table = run("list", "--store", str(store))
    assert "app" in table.stdout and "500 ·" in table.stdout
    replayed = run("replay", "1", "--store", str(store), "--definition",
                   str(DEFINITIONS / "github.json"), "--credential",
                   f"webhookSecret={GITHUB_SECRET}", "--json")
    report = json.loads(replayed.stdout.splitlines()[0])
    differs = [f for f in report["findings"] if f["code"] == "APP_STATUS_DIFFERS"]
    assert differs and "your app answered 500" in differs[0]["message"]
    assert "does not retry" in differs[0]["message"]
