"""The sample catalogue: awkward payloads, provider headers, signatures the SDKs accept."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
import stripe
from slack_sdk.signature import Clock, SignatureVerifier
from standardwebhooks.webhooks import Webhook

from whdebug.model.definition import Definition
from whdebug.tools.samples import (
    PROVIDERS,
    SampleError,
    events,
    guess_provider,
    load_sample,
    sample_request,
    samples_for,
)

NOW = datetime(2026, 11, 24, 16, 0, 0, tzinfo=UTC)
SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-secret-32-byte").decode()


class FixedClock(Clock):
    def now(self) -> float:
        return NOW.timestamp()


def every_sample() -> list[tuple[str, str]]:
    return [(provider, event) for provider in PROVIDERS for event in events(provider)]


@pytest.mark.parametrize(("provider", "event"), every_sample())
def test_every_sample_is_small_json_with_its_event(provider: str, event: str) -> None:
    payload = load_sample(provider, event).payload
    assert len(payload) < 2048
    document = json.loads(payload)
    assert isinstance(document, dict)
    if provider in ("salla", "standard-webhooks"):
        assert event in (document.get("event"), document.get("type"))
    if provider == "stripe":
        assert document["type"] == event and document["object"] == "event"
    if provider == "slack" and event != "url_verification":
        assert document["event"]["type"] == event
    assert not payload.endswith(b"\n")


def test_the_catalogue_carries_the_awkward_parts_for_every_provider() -> None:
    for provider in PROVIDERS:
        payloads = [load_sample(provider, event).payload for event in events(provider)]
        assert len(payloads) >= 3, provider
        joined = b"".join(payloads)
        assert b"\\/" in joined, provider
        assert not joined.isascii(), provider
        if provider != "slack":  # Slack's ids are strings
            assert any(_big_integer(json.loads(payload)) for payload in payloads), provider


def _big_integer(value: object) -> bool:
    if isinstance(value, dict):
        return any(_big_integer(item) for item in value.values())
    if isinstance(value, list):
        return any(_big_integer(item) for item in value)
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53


def test_slack_signature_passes_slack_sdk() -> None:
    request = sample_request(load_sample("slack", "message"), NOW, SECRET)
    verifier = SignatureVerifier(SECRET, clock=FixedClock())
    timestamp = request.header("X-Slack-Request-Timestamp")
    assert verifier.is_valid(request.body, timestamp, request.header("X-Slack-Signature"))
    assert [name for name, _ in request.headers].count("X-Slack-Request-Timestamp") == 1


def test_stripe_signature_passes_the_stripe_sdk() -> None:
    request = sample_request(load_sample("stripe", "payment_intent.succeeded"), NOW, SECRET)
    header = request.header("Stripe-Signature")
    assert header is not None
    assert stripe.WebhookSignature.verify_header(request.body.decode(), header, SECRET,
                                                 tolerance=None)


def test_standard_webhooks_signature_passes_its_sdk() -> None:
    request = sample_request(load_sample("standard-webhooks", "invoice.paid"), NOW, SECRET)
    headers = dict(request.headers)
    assert headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    expected = Webhook(SECRET).sign(headers["webhook-id"], NOW, request.body.decode())
    assert headers["webhook-signature"] == expected
    assert [name for name, _ in request.headers].count("webhook-id") == 1


@pytest.mark.parametrize(("provider", "event", "header", "digest"), [
    ("github", "push", "X-Hub-Signature-256", lambda d: "sha256=" + d.hexdigest()),
    ("shopify", "orders/create", "X-Shopify-Hmac-Sha256",
     lambda d: base64.b64encode(d.digest()).decode()),
    ("woocommerce", "order.created", "X-WC-Webhook-Signature",
     lambda d: base64.b64encode(d.digest()).decode()),
    ("salla", "order.created", "X-Salla-Signature", lambda d: d.hexdigest()),
])
def test_raw_body_schemes_sign_the_exact_bytes(provider: str, event: str, header: str,
                                               digest: object) -> None:
    request = sample_request(load_sample(provider, event), NOW, SECRET)
    mac = hmac.new(SECRET.encode(), request.body, hashlib.sha256)
    assert callable(digest)
    assert request.header(header) == digest(mac)
    assert request.header("Content-Length") == str(len(request.body))


def test_unsigned_requests_still_carry_the_provider_headers() -> None:
    github = sample_request(load_sample("github", "pull_request.opened"), NOW)
    assert github.header("X-GitHub-Event") == "pull_request"
    assert github.header("X-Hub-Signature-256") is None
    woo = sample_request(load_sample("woocommerce", "order.created"), NOW)
    assert woo.header("X-WC-Webhook-Topic") == "order.created"
    assert woo.header("X-WC-Webhook-Delivery-ID")
    shopify = sample_request(load_sample("shopify", "orders/create"), NOW)
    assert shopify.header("X-Shopify-Topic") == "orders/create"


def test_unknown_provider_and_event_are_sample_errors() -> None:
    with pytest.raises(SampleError, match="no samples for 'paypal'"):
        load_sample("paypal", "x")
    with pytest.raises(SampleError, match="known: app_mention, message"):
        load_sample("slack", "nope")


def test_samples_for_a_body_event_writes_the_event_into_the_payload() -> None:
    definition = Definition({
        "ns": "shop", "triggers": [{"type": "miniapps:shop", "event": "order.created"},
                                   {"type": "miniapps:shop", "event": "order.refunded"}],
        "webhook": {"eventExtraction": {"source": "body", "path": "$.event"},
                    "verification": {"type": "hmac-sha256", "headerName": "X-Salla-Signature",
                                     "secretKey": "webhookSecret"}}})
    assert guess_provider(definition) == "salla"
    created, refunded = samples_for(definition)
    assert created.payload == load_sample("salla", "order.created").payload
    assert created.notes == ()
    assert json.loads(refunded.payload)["event"] == "order.refunded"
    assert refunded.notes == ("event written into the payload at $.event",)
    assert refunded.based_on == "salla:order.created"
    assert "9007199254740993" in refunded.payload.decode()  # the big id survives


def test_a_trigger_written_with_other_separators_is_based_on_its_delivery() -> None:
    # The Slack example's reaction.added trigger got an app_mention payload (the first
    # sample), though whdebug has Slack's reaction_added delivery.
    from paths import REPO

    from whdebug.model.definition import load_definition

    definition = load_definition(REPO / "tests" / "docs_corpus" / "slack.js")
    based_on = {item.event: item.based_on for item in samples_for(definition)}
    assert based_on["reaction.added"] == "slack:reaction_added"
    assert based_on["message.posted"] == "slack:message"


def test_shopify_triggers_named_as_the_ecommerce_guide_names_them_get_their_topics() -> None:
    # order.created used to get the first sample, app/uninstalled (a shop, no order)
    definition = Definition({
        "ns": "shop", "triggers": [{"type": "miniapps:shop", "event": "order.created"},
                                   {"type": "miniapps:shop", "event": "order.updated"},
                                   {"type": "miniapps:shop", "event": "order.paid"}],
        "webhook": {"eventExtraction": {"source": "header", "path": "X-Shopify-Topic"},
                    "verification": {"type": "hmac-sha256",
                                     "headerName": "X-Shopify-Hmac-Sha256",
                                     "secretKey": "webhookSecret", "encoding": "base64"}}})
    based_on = {item.event: item.based_on for item in samples_for(definition)}
    assert based_on == {"order.created": "shopify:orders/create",
                        "order.updated": "shopify:orders/updated",
                        "order.paid": "shopify:orders/create"}  # an order, at least
