"""`whdebug sign`: every signature it writes verifies, in the engine and in providers' own SDKs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import stripe
from click.testing import CliRunner, Result
from conftest import FIXTURES
from factories import make_definition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.signature import Clock, SignatureVerifier
from standardwebhooks.webhooks import Webhook

from whdebug.cli import main
from whdebug.cli.commands.sign import SIGN_SCHEMES
from whdebug.engine import analyze
from whdebug.engine.report import Report
from whdebug.formats.http import format_http, parse_http
from whdebug.model.definition import Definition, load_definition
from whdebug.model.request import CapturedRequest, Secrets
from whdebug.tools.profiles import get_profile
from whdebug.tools.signing import (
    SCHEMES,
    SignedRequest,
    SigningError,
    sign_request,
)

NOW = datetime(2025, 11, 24, 16, 0, 5, tzinfo=UTC)
SECRET = "sign-test-secret-4f1c"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-key-32-bytes!!").decode()
DEFINITIONS = FIXTURES / "definitions"


def definition(name: str) -> Definition:
    return load_definition(DEFINITIONS / f"{name}.json")


def secrets_for(defn: Definition, secret: str = SECRET, **extra: str) -> Secrets:
    key = defn.webhook.get("verification", {}).get("secretKey", "webhookSecret")
    return Secrets({key: secret, **extra})


def build(payload: bytes | dict[str, Any], defn: Definition, secrets: Secrets | None = None,
          **options: Any) -> SignedRequest:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return sign_request(body, defn, secrets or secrets_for(defn), now=NOW, **options)


def replay(signed: SignedRequest, defn: Definition, secrets: Secrets | None = None) -> Report:
    """The engine's verdict on the bytes `sign` writes (through the .http format)."""
    request = parse_http(format_http(signed.request))
    return analyze(request, defn, secrets or secrets_for(defn), now=NOW)


def hmac_hex(secret: str | bytes, content: bytes, algorithm: str = "sha256") -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, content, algorithm).hexdigest()


def hmac_b64(secret: str | bytes, content: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


SALLA_ORDER = {"event": "order.created", "data": {"id": 7, "customer": {"id": 1}}}


class TestDefinitionScheme:
    """Signing per the definition's own webhook.verification."""

    @pytest.mark.parametrize(("name", "payload", "event"), [
        ("salla", SALLA_ORDER, None),
        ("github", {"action": "opened", "pull_request": {"node_id": "PR_1"}},
         "pull_request.opened"),
        ("shopify", {"id": 1, "updated_at": "2025-11-24"}, "orders/create"),
        ("woocommerce", {"id": 5, "date_modified_gmt": "x", "billing": {"email": "a@b"}},
         "order.created"),
        ("acme-crm", {"event": "deal.won", "delivery_id": "d1"}, None),
        ("batch-events", {"events": [{"type": "ticket.created"}], "batch_id": "b1"}, None),
    ])
    def test_engine_accepts_and_fires(self, name: str, payload: dict[str, Any],
                                      event: str | None) -> None:
        defn = definition(name)
        signed = build(payload, defn, event=event)
        report = replay(signed, defn)
        assert report.signature.verdict == "pass", report.signature.reason
        assert report.outcome.status == "fires"
        assert signed.scheme == "definition"
        assert signed.notices == ()

    def test_github_style_header_gets_the_sha256_prefix(self) -> None:
        body = b'{"action":"opened"}'
        signed = build(body, definition("github"), event="pull_request.opened")
        assert signed.request.header("X-Hub-Signature-256") == "sha256=" + hmac_hex(SECRET, body)

    def test_sha1_on_x_hub_signature_gets_the_sha1_prefix(self) -> None:
        defn = make_definition(verification={"type": "hmac-sha1", "headerName": "X-Hub-Signature",
                                             "secretKey": "webhookSecret"})
        body = b'{"event":"deal.won"}'
        signed = build(body, defn)
        assert signed.request.header("X-Hub-Signature") == "sha1=" + hmac_hex(SECRET, body, "sha1")
        assert replay(signed, defn).signature.verdict == "pass"

    def test_other_headers_get_no_prefix(self) -> None:
        body = json.dumps(SALLA_ORDER).encode()
        signed = build(body, definition("salla"))
        assert signed.request.header("X-Salla-Signature") == hmac_hex(SECRET, body)

    def test_base64_encoding(self) -> None:
        body = b'{"id":1}'
        signed = build(body, definition("shopify"), event="orders/create")
        assert signed.request.header("X-Shopify-Hmac-Sha256") == hmac_b64(SECRET, body)

    def test_header_token_carries_the_secret(self) -> None:
        signed = build({"events": []}, definition("batch-events"))
        assert signed.request.header("X-Batch-Token") == SECRET

    @pytest.mark.parametrize("verification", [None, {"type": "none"}])
    def test_no_verification_sends_unsigned_with_a_notice(self, verification: Any) -> None:
        defn = make_definition(verification=verification)  # None removes the block
        signed = build({"event": "deal.won", "id": "1"}, defn, Secrets())
        assert signed.signature_headers == ()
        assert signed.secret_source is None
        assert "unsigned" in signed.notices[0]
        assert analyze(signed.request, defn, Secrets(), now=NOW).outcome.status == "fires"

    @pytest.mark.parametrize(("verification", "message"), [
        ({"type": "hmac-md5", "headerName": "X", "secretKey": "k"}, "not one the runtime knows"),
        ({"type": "hmac-sha256", "secretKey": "webhookSecret"}, "headerName is not set"),
        ({"type": "hmac-sha256", "headerName": "X-Signature"}, "secretKey is not set"),
    ])
    def test_unusable_verification_is_an_error(self, verification: dict[str, str],
                                               message: str) -> None:
        with pytest.raises(SigningError, match=message):
            build({"event": "deal.won"}, make_definition(verification=verification))

    def test_body_bytes_are_untouched(self) -> None:
        body = b'\xef\xbb\xbf{ "event" : "deal.won",\r\n  "id": 1 }\n\n'
        signed = build(body, make_definition())
        assert signed.request.body == body
        assert format_http(signed.request).endswith(b"\r\n\r\n" + body)
        assert replay(signed, make_definition()).signature.verdict == "pass"

    def test_path_content_type_and_length(self) -> None:
        signed = build(SALLA_ORDER, definition("salla"))
        request = signed.request
        assert (request.method, request.path) == ("POST", "/miniapps/salla/webhooks")
        assert request.content_type == "application/json"
        assert request.header("Content-Length") == str(len(request.body))

    @pytest.mark.parametrize(("body", "content_type"), [
        (b'{"a": 1}', "application/json"),
        (b"payload=%7B%22type%22%3A%22x%22%7D&token=abc", "application/x-www-form-urlencoded"),
        (b"<xml>hello</xml>", "text/plain; charset=utf-8"),
        (b"\xff\xfe\x00binary", "application/octet-stream"),
    ])
    def test_content_type_follows_the_body(self, body: bytes, content_type: str) -> None:
        signed = build(body, make_definition(eventExtraction={"source": "header",
                                                              "path": "X-Event"}))
        assert signed.request.content_type == content_type
        assert ("not JSON" in " ".join(signed.notices)) == (
            content_type not in ("application/json", "application/x-www-form-urlencoded"))

    def test_given_headers_replace_generated_ones(self) -> None:
        signed = build(SALLA_ORDER, definition("salla"),
                       headers=[("content-type", "application/json; charset=utf-8"),
                                ("X-Extra", "1")])
        assert signed.request.header_values("Content-Type") == ["application/json; charset=utf-8"]
        assert signed.request.header("X-Extra") == "1"

    def test_same_input_gives_the_same_bytes(self) -> None:
        first = build(SALLA_ORDER, definition("salla"))
        second = build(SALLA_ORDER, definition("salla"))
        assert format_http(first.request) == format_http(second.request)


class TestSecretResolution:
    """The secret is resolved as the runtime resolves it."""

    def test_credentials_win_over_auth_config(self) -> None:
        signed = build(SALLA_ORDER, definition("salla"),
                       Secrets({"webhookSecret": "from-credentials"},
                               {"webhookSecret": "from-config"}))
        assert signed.secret_source == "credentials"
        body = json.dumps(SALLA_ORDER).encode()
        assert signed.request.header("X-Salla-Signature") == hmac_hex("from-credentials", body)

    def test_auth_config_when_no_credential(self) -> None:
        signed = build(SALLA_ORDER, definition("salla"), Secrets({}, {"webhookSecret": "cfg"}))
        assert signed.secret_source == "auth.config"

    def test_empty_credential_falls_through_to_config(self) -> None:
        secrets = Secrets({"webhookSecret": ""}, {"webhookSecret": "cfg"})
        signed = build(SALLA_ORDER, definition("salla"), secrets)
        assert signed.secret_source == "auth.config"
        assert replay(signed, definition("salla"), secrets).signature.verdict == "pass"

    def test_nullish_keeps_the_empty_credential(self) -> None:
        secrets = Secrets({"webhookSecret": ""}, {"webhookSecret": "cfg"})
        signed = build(SALLA_ORDER, definition("salla"), secrets, nullish=True)
        body = json.dumps(SALLA_ORDER).encode()
        assert signed.request.header("X-Salla-Signature") == hmac_hex("", body)
        assert any("empty secret" in notice for notice in signed.notices)

    def test_no_secret_is_an_error_naming_both_sources(self) -> None:
        with pytest.raises(SigningError) as caught:
            build(SALLA_ORDER, definition("salla"), Secrets())
        message = str(caught.value)
        assert "credentials.webhookSecret is absent" in message
        assert "auth.config.webhookSecret is empty" in message
        assert "--credential webhookSecret=" in message

    def test_hint_never_holds_the_secret(self) -> None:
        signed = build(SALLA_ORDER, definition("salla"))
        assert signed.secret_hint is not None and SECRET not in signed.secret_hint


class TestEventPlacement:
    def test_header_event(self) -> None:
        signed = build({"id": 1}, definition("shopify"), event="orders/create")
        assert signed.request.header("X-Shopify-Topic") == "orders/create"
        assert signed.event == "orders/create"

    def test_query_event(self) -> None:
        defn = make_definition(eventExtraction={"source": "query", "path": "topic"})
        signed = build({"id": "1"}, defn, event="deal.won")
        assert signed.request.query == "topic=deal.won"
        assert replay(signed, defn).outcome.status == "fires"

    def test_composite_header_and_body(self) -> None:
        signed = build({"action": "closed"}, definition("github"), event="pull_request.closed")
        assert signed.request.header("X-GitHub-Event") == "pull_request"
        assert signed.event == "pull_request.closed"

    def test_composite_body_part_must_match(self) -> None:
        with pytest.raises(SigningError, match=r"composite part 2 \('closed'\).*holds 'opened'"):
            build({"action": "opened"}, definition("github"), event="pull_request.closed")

    def test_composite_body_part_must_not_add_to_the_event(self) -> None:
        with pytest.raises(SigningError, match="continue with .opened"):
            build({"action": "opened"}, definition("github"), event="pull_request")

    def test_composite_missing_part_gives_a_notice(self) -> None:
        signed = build({"ref": "main"}, definition("github"), event="push")
        assert signed.event == "push."
        assert any("extracts 'push.'" in notice for notice in signed.notices)

    def test_composite_query_part(self) -> None:
        defn = make_definition(eventExtraction={"compositeStrategy": {"separator": ":", "parts": [
            {"source": "query", "path": "kind"}, {"source": "header", "path": "X-Action"}]}},
            triggers=[{"type": "miniapps:acme", "event": "deal:won"}])
        signed = build({"id": "1"}, defn, event="deal:won")
        assert signed.request.query == "kind=deal"
        assert signed.request.header("X-Action") == "won"
        assert replay(signed, defn).outcome.status == "fires"

    def test_body_event_already_in_the_payload(self) -> None:
        signed = build(SALLA_ORDER, definition("salla"), event="order.created")
        assert signed.event == "order.created"

    def test_body_event_missing_from_the_payload(self) -> None:
        with pytest.raises(SigningError, match=r"read from body \$\.event, which is missing"):
            build({"data": {}}, definition("salla"), event="order.created")

    def test_body_event_different_in_the_payload(self) -> None:
        with pytest.raises(SigningError, match="holds 'order.created'.*sign never changes"):
            build(SALLA_ORDER, definition("salla"), event="order.updated")

    def test_fallback_header_when_the_body_has_no_event(self) -> None:
        defn = definition("acme-crm")
        signed = build({"delivery_id": "d1"}, defn, event="contact.created")
        assert signed.request.header("X-Acme-Event") == "contact.created"
        assert any("fallback" in notice for notice in signed.notices)
        assert replay(signed, defn).outcome.status == "fires"

    def test_no_event_extraction(self) -> None:
        defn = make_definition(eventExtraction=None)
        with pytest.raises(SigningError, match="no webhook.eventExtraction"):
            build({"id": 1}, defn, event="deal.won")

    def test_without_event_reports_what_the_runtime_extracts(self) -> None:
        assert build(SALLA_ORDER, definition("salla")).event == "order.created"
        # The topic header cannot come from a payload: the first trigger's event, said so.
        shopify = build({"id": 1}, definition("shopify"))
        assert shopify.event == "orders/create"
        assert any("no --event given" in notice for notice in shopify.notices)


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


class TestProviderSchemes:
    """`--scheme`: headers as each provider really sends them."""

    def test_scheme_list_matches_the_cli(self) -> None:
        assert SIGN_SCHEMES == SCHEMES

    @pytest.mark.parametrize(("scheme", "name", "event"), [
        ("github", "github", "pull_request.opened"),
        ("shopify", "shopify", "orders/create"),
        ("woocommerce", "woocommerce", "order.created"),
        ("salla", "salla", None),
    ])
    def test_raw_body_schemes_pass_the_engine(self, scheme: str, name: str,
                                              event: str | None) -> None:
        payload = {"event": "order.created", "action": "opened", "id": 3,
                   "pull_request": {"node_id": "n"}, "data": {"id": 3}}
        defn = definition(name)
        signed = build(payload, defn, scheme=scheme, event=event)
        report = replay(signed, defn)
        assert report.signature.verdict == "pass"
        assert report.outcome.status == "fires"
        assert signed.scheme == scheme

    def test_github_sends_both_signatures(self) -> None:
        body = b'{"zen":"x"}'
        signed = build(body, definition("github"), scheme="github")
        assert signed.request.header("X-Hub-Signature") == "sha1=" + hmac_hex(SECRET, body, "sha1")
        assert signed.request.header("X-Hub-Signature-256") == "sha256=" + hmac_hex(SECRET, body)

    def test_scheme_on_a_definition_reading_another_header(self) -> None:
        defn = definition("salla")
        signed = build(SALLA_ORDER, defn, scheme="shopify")
        assert any("reads the signature from X-Salla-Signature" in n for n in signed.notices)
        report = replay(signed, defn)
        assert report.signature.verdict == "fail"
        assert "SIG_HEADER_NAME" in report.codes()

    def test_slack(self) -> None:
        defn = definition("slack")
        body = b'{"type":"event_callback","event":{"type":"app_mention"}}'
        signed = build(body, defn, scheme="slack")
        timestamp = signed.request.header("X-Slack-Request-Timestamp")
        signature = signed.request.header("X-Slack-Signature")
        assert timestamp == str(int(NOW.timestamp()))
        verifier = SignatureVerifier(SECRET, clock=FixedClock(NOW.timestamp()))
        assert verifier.is_valid(body, timestamp, signature)
        assert not verifier.is_valid(body + b" ", timestamp, signature)
        self.assert_engine_knows_the_scheme(signed, defn, "slack")

    def test_stripe(self) -> None:
        defn = definition("payments")
        body = b'{"id":"evt_1","type":"charge.succeeded"}'
        signed = build(body, defn, secrets_for(defn, "whsec_stripeTestSecret"), scheme="stripe")
        header = signed.request.header("Stripe-Signature")
        assert header is not None and header.startswith(f"t={int(NOW.timestamp())},v1=")
        assert stripe.WebhookSignature.verify_header(
            body.decode(), header, "whsec_stripeTestSecret", tolerance=None)
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.WebhookSignature.verify_header(
                body.decode() + " ", header, "whsec_stripeTestSecret", tolerance=None)
        self.assert_engine_knows_the_scheme(signed, defn, "stripe",
                                            secrets_for(defn, "whsec_stripeTestSecret"))

    def test_standard_webhooks(self) -> None:
        defn = definition("notify")
        body = b'{"type":"message.delivered","data":{"id":"m1"}}'
        secrets = secrets_for(defn, STANDARD_SECRET)
        signed = build(body, defn, secrets, scheme="standard-webhooks")
        request = signed.request
        message_id = request.header("webhook-id")
        assert message_id is not None and message_id.startswith("msg_")
        assert request.header("webhook-timestamp") == str(int(NOW.timestamp()))
        expected = Webhook(STANDARD_SECRET).sign(message_id, NOW.replace(microsecond=0),
                                                 body.decode())
        assert request.header("webhook-signature") == expected
        self.assert_engine_knows_the_scheme(signed, defn, "standard-webhooks", secrets)

    def test_standard_webhooks_message_id_is_stable_and_overridable(self) -> None:
        defn = definition("notify")
        secrets = secrets_for(defn, STANDARD_SECRET)
        first = build(b"{}", defn, secrets, scheme="standard-webhooks")
        again = build(b"{}", defn, secrets, scheme="standard-webhooks")
        given_id = build(b"{}", defn, secrets, scheme="standard-webhooks", message_id="msg_x")
        assert first.request.header("webhook-id") == again.request.header("webhook-id")
        assert given_id.request.header("webhook-id") == "msg_x"
        assert Webhook(STANDARD_SECRET).sign("msg_x", NOW.replace(microsecond=0), "{}") == \
            given_id.request.header("webhook-signature")

    def test_standard_webhooks_needs_a_base64_secret(self) -> None:
        defn = definition("notify")
        with pytest.raises(SigningError, match="whsec_"):
            build(b"{}", defn, secrets_for(defn, "whsec_not base64!"), scheme="standard-webhooks")

    def test_karzoun(self) -> None:
        profile = get_profile("karzoun-tenant")
        body = b'{"version":1,"id":"e1","event":"contact.created"}'
        secrets = Secrets({"secret": "current", "previous_secret": "old", "token": "tok"})
        signed = build(body, profile.definition, secrets, scheme="karzoun")
        request = signed.request
        assert request.header("X-Karzoun-Signature-256") == "sha256=" + hmac_hex("current", body)
        assert request.header("X-Karzoun-Signature-256-Previous") == "sha256=" + hmac_hex(
            "old", body)
        assert request.header("Karzoun-token") == "tok"
        assert request.path == "/karzoun/webhooks"
        assert signed.signature_headers == ("X-Karzoun-Signature-256",
                                            "X-Karzoun-Signature-256-Previous")
        report = replay(signed, profile.definition, Secrets({"secret": "current"}))
        assert report.signature.verdict == "pass"

    def test_karzoun_without_token_or_rotation(self) -> None:
        profile = get_profile("karzoun-tenant")
        signed = build(b"{}", profile.definition, Secrets({"secret": "s"}), scheme="karzoun")
        assert signed.request.header("Karzoun-token") is None
        assert signed.request.header("X-Karzoun-Signature-256-Previous") is None

    def test_timestamps_come_from_now(self) -> None:
        later = NOW + timedelta(hours=1)
        signed = sign_request(b"{}", definition("slack"), secrets_for(definition("slack")),
                              now=later, scheme="slack")
        assert signed.request.header("X-Slack-Request-Timestamp") == str(int(later.timestamp()))

    def test_unknown_scheme(self) -> None:
        with pytest.raises(SigningError, match="unknown scheme 'paypal'"):
            build(b"{}", definition("salla"), scheme="paypal")

    @staticmethod
    def assert_engine_knows_the_scheme(signed: SignedRequest, defn: Definition, scheme: str,
                                       secrets: Secrets | None = None) -> None:
        """The runtime cannot pass these, but the engine proves the secret is right."""
        assert any("signs more than the raw body" in notice for notice in signed.notices)
        report = replay(signed, defn, secrets)
        assert report.signature.verdict == "fail"
        assert report.signature.scheme == scheme
        assert "SIG_UNSUPPORTED_SCHEME" in report.codes()
        assert "SIG_MISMATCH" not in report.codes()
        assert any(attempt.match for attempt in report.signature.attempts)


# --- the round trip: any payload, any runtime-verifiable scheme -------------------------------


def _hmac_definition(encoding: str, kind: str = "hmac-sha256") -> Definition:
    return make_definition(verification={"type": kind, "headerName": "X-Signature",
                                         "secretKey": "webhookSecret", "encoding": encoding})


ROUND_TRIP: dict[str, tuple[Definition, str | None]] = {
    "github": (definition("github"), "github"),
    "shopify": (definition("shopify"), "shopify"),
    "woocommerce": (definition("woocommerce"), "woocommerce"),
    "salla": (definition("salla"), "salla"),
    "karzoun": (get_profile("karzoun-tenant").definition, "karzoun"),
    "definition-hex": (_hmac_definition("hex"), None),
    "definition-base64": (_hmac_definition("base64"), None),
    "definition-sha1": (_hmac_definition("hex", "hmac-sha1"), None),
    "definition-github-header": (definition("github"), None),
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.binary(min_size=1, max_size=300), name=st.sampled_from(sorted(ROUND_TRIP)),
       secret=st.text(min_size=1, max_size=40), data=st.data())
def test_sign_then_replay_passes_and_one_flipped_byte_fails(
        payload: bytes, name: str, secret: str, data: st.DataObject) -> None:
    defn, scheme = ROUND_TRIP[name]
    secrets = secrets_for(defn, secret)
    signed = sign_request(payload, defn, secrets, now=NOW, scheme=scheme)
    request = parse_http(format_http(signed.request))
    assert request.body == payload
    assert analyze(request, defn, secrets, now=NOW).signature.verdict == "pass"

    index = data.draw(st.integers(0, len(payload) - 1), label="index")
    byte = data.draw(st.integers(0, 255).filter(lambda value: value != payload[index]),
                     label="byte")
    flipped = CapturedRequest(request.method, request.path, request.query, request.headers,
                              payload[:index] + bytes([byte]) + payload[index + 1:])
    report = analyze(flipped, defn, secrets, now=NOW)
    assert report.signature.verdict == "fail"
    assert {"SIG_MISMATCH", "SIG_BODY_MODIFIED"} & set(report.codes()), report.codes()


# --- the command ----------------------------------------------------------------------------


def run(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


@pytest.fixture
def payload_file(tmp_path: Path) -> str:
    path = tmp_path / "order.json"
    path.write_bytes(json.dumps(SALLA_ORDER, indent=2).encode() + b"\n")
    return str(path)


SALLA = str(DEFINITIONS / "salla.json")


class TestSignCommand:
    def test_stdout_is_the_http_request_and_replay_accepts_it(
            self, payload_file: str, tmp_path: Path) -> None:
        result = run("sign", payload_file, "--definition", SALLA,
                     "--credential", f"webhookSecret={SECRET}")
        assert result.exit_code == 0, result.stderr
        request = parse_http(result.stdout_bytes)
        assert request.body == Path(payload_file).read_bytes()
        assert "X-Salla-Signature per the definition's verification" in result.stderr
        assert "credentials.webhookSecret" in result.stderr
        assert SECRET not in result.stderr
        saved = tmp_path / "saved.http"
        saved.write_bytes(result.stdout_bytes)
        replayed = run("replay", "--file", str(saved), "--definition", SALLA,
                       "--credential", f"webhookSecret={SECRET}", "--json")
        assert replayed.exit_code == 0
        assert json.loads(replayed.stdout.splitlines()[0])["outcome"]["status"] == "fires"

    def test_output_file(self, payload_file: str, tmp_path: Path) -> None:
        out = tmp_path / "out.http"
        result = run("sign", payload_file, "--definition", SALLA, "--config",
                     f"webhookSecret={SECRET}", "-o", str(out))
        assert result.exit_code == 0
        assert result.stdout == ""
        assert f"wrote {out}" in result.stderr
        assert parse_http(out.read_bytes()).header("X-Salla-Signature")

    def test_stdin_payload_and_header_event(self) -> None:
        result = run("sign", "-", "--definition", str(DEFINITIONS / "shopify.json"),
                     "--credential", f"webhookSecret={SECRET}", "--event", "orders/create",
                     "--header", "X-Shopify-Shop-Domain: shop.example", input=b'{"id":1}')
        assert result.exit_code == 0, result.stderr
        request = parse_http(result.stdout_bytes)
        assert request.body == b'{"id":1}'
        assert request.header("X-Shopify-Topic") == "orders/create"
        assert request.header("X-Shopify-Shop-Domain") == "shop.example"

    def test_scheme_with_now_and_notice(self, payload_file: str) -> None:
        result = run("sign", payload_file, "--definition", str(DEFINITIONS / "slack.json"),
                     "--credential", f"signingSecret={SECRET}", "--scheme", "slack",
                     "--now", "2025-11-24T16:00:00Z")
        assert result.exit_code == 0
        request = parse_http(result.stdout_bytes)
        assert request.header("X-Slack-Request-Timestamp") == "1764000000"
        assert "note: slack signs more than the raw body" in result.stderr

    def test_profile(self, tmp_path: Path) -> None:
        payload = tmp_path / "kz.json"
        payload.write_bytes(b'{"version":1,"id":"e1","event":"contact.created"}')
        result = run("sign", str(payload), "--profile", "karzoun-tenant",
                     "--credential", "secret=kz-secret", "--credential", "token=kz-token")
        assert result.exit_code == 0, result.stderr
        request = parse_http(result.stdout_bytes)
        assert request.header("X-Karzoun-Signature-256") == "sha256=" + hmac_hex(
            "kz-secret", payload.read_bytes())
        assert request.header("Karzoun-token") == "kz-token"

    @pytest.mark.parametrize(("args", "message"), [
        ([], "give --definition FILE or --profile NAME"),
        (["--definition", SALLA, "--profile", "karzoun-tenant"], "give --definition"),
        (["--definition", SALLA, "-o", "x", "--send", "http://127.0.0.1:9"], "not both"),
        (["--definition", SALLA, "--credential", "webhookSecret=x", "--header", "nocolon"],
         "--header: expected NAME:VALUE"),
        (["--definition", SALLA], "no secret to sign with"),
        (["--definition", SALLA, "--credential", "webhookSecret=x", "--event",
          "order.updated"], "sign never changes the body bytes"),
        (["--profile", "nope"], "unknown profile 'nope'"),
        (["--definition", SALLA, "--scheme", "paypal"], "Invalid value for '--scheme'"),
        (["--definition", SALLA, "--credential", "webhookSecret=x", "--send", "ftp://x"],
         "expected an http:// or https:// URL"),
    ])
    def test_errors_are_one_line(self, payload_file: str, args: list[str], message: str) -> None:
        result = run("sign", payload_file, *args)
        assert result.exit_code == 2
        lines = [line for line in result.stderr.splitlines() if line.startswith("whdebug:")]
        assert len(lines) == 1 and message in lines[0], result.stderr
        assert result.stdout == ""

    def test_missing_payload(self, tmp_path: Path) -> None:
        result = run("sign", str(tmp_path / "none.json"), "--definition", SALLA,
                     "--credential", "webhookSecret=x")
        assert result.exit_code == 2
        assert result.stderr.strip() == f"whdebug: payload file not found ({tmp_path}/none.json)"


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Receiver.received.append((self.path, dict(self.headers), body))
        answer = b'{"ok": true}'
        self.send_response(202 if self.headers.get("X-Salla-Signature") else 401)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Receiver.received = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class TestSend:
    def test_send_posts_the_exact_bytes_to_the_webhook_path(
            self, payload_file: str, receiver: str) -> None:
        result = run("sign", payload_file, "--definition", SALLA,
                     "--credential", f"webhookSecret={SECRET}", "--send", receiver)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.splitlines() == ["HTTP 202 Accepted", '{"ok": true}']
        path, headers, body = _Receiver.received[0]
        assert path == "/miniapps/salla/webhooks"
        assert body == Path(payload_file).read_bytes()
        assert headers["X-Salla-Signature"] == hmac_hex(SECRET, body)

    def test_send_adds_no_header_of_its_own(self, payload_file: str, receiver: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
        # What arrives is the signed request: no httpx defaults (Accept, Accept-Encoding,
        # Connection) and no proxy taken from the environment.
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
        result = run("sign", payload_file, "--definition", SALLA,
                     "--credential", f"webhookSecret={SECRET}", "--send", receiver)
        assert result.exit_code == 0, result.stderr
        _, headers, _ = _Receiver.received[0]
        written = run("sign", payload_file, "--definition", SALLA,
                      "--credential", f"webhookSecret={SECRET}").stdout
        signed_names = {line.split(":", 1)[0].lower()
                        for line in written.split("\n\n", 1)[0].splitlines()[1:]}
        assert {name.lower() for name in headers} == signed_names | {"host"}

    def test_a_refused_send_masks_a_token_in_the_url(self, payload_file: str) -> None:
        server = HTTPServer(("127.0.0.1", 0), _Receiver)
        port = server.server_address[1]
        server.server_close()
        result = run("sign", payload_file, "--definition", SALLA, "--credential",
                     "webhookSecret=x", "--send",
                     f"http://127.0.0.1:{port}/hooks?token=planted-url-token-1234")
        assert result.exit_code == 2
        assert "planted-url-token-1234" not in result.output
        assert "connection refused" in result.stderr.splitlines()[-1]

    def test_send_keeps_a_given_path_and_adds_the_query(self, receiver: str,
                                                        tmp_path: Path) -> None:
        payload = tmp_path / "p.json"
        payload.write_bytes(b'{"id": "1"}')
        defn = tmp_path / "d.json"
        defn.write_text(json.dumps({**make_definition(
            eventExtraction={"source": "query", "path": "topic"}).data}))
        result = run("sign", str(payload), "--definition", str(defn), "--credential",
                     f"webhookSecret={SECRET}", "--event", "deal.won", "--send",
                     f"{receiver}/hooks?a=1")
        assert result.exit_code == 1  # the test receiver wants X-Salla-Signature
        assert result.stdout.startswith("HTTP 401")
        assert _Receiver.received[0][0] == "/hooks?a=1&topic=deal.won"

    def test_connection_refused_is_one_line(self, payload_file: str) -> None:
        server = HTTPServer(("127.0.0.1", 0), _Receiver)
        port = server.server_address[1]
        server.server_close()
        result = run("sign", payload_file, "--definition", SALLA, "--credential",
                     "webhookSecret=x", "--send", f"http://127.0.0.1:{port}")
        assert result.exit_code == 2
        assert result.stderr.splitlines()[-1].startswith(
            f"whdebug: cannot send to http://127.0.0.1:{port}/miniapps/salla/webhooks")
