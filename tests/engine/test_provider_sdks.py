"""The fixtures' Slack, Stripe and Standard Webhooks signatures verify with the providers' SDKs.

This proves the fixtures are signed the way those providers really sign, so the engine's
SIG_UNSUPPORTED_SCHEME verdict is about real deliveries, not about our own idea of them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import stripe
from conftest import FIXTURES
from slack_sdk.signature import Clock, SignatureVerifier
from standardwebhooks.webhooks import Webhook

from whdebug.formats.read import read_request_file

SCENARIOS = {
    s["name"]: s for s in json.loads((FIXTURES / "manifest.json").read_text())["scenarios"]
}


def load(name: str) -> tuple[Any, dict[str, str]]:
    scenario = SCENARIOS[name]
    request = read_request_file(FIXTURES / scenario["files"][0])[0].request
    return request, scenario["credentials"]


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def test_slack_sdk_accepts_the_slack_fixture() -> None:
    request, credentials = load("slack-event")
    timestamp = request.header("X-Slack-Request-Timestamp")
    verifier = SignatureVerifier(credentials["signingSecret"], clock=FixedClock(float(timestamp)))
    assert verifier.is_valid(request.body, timestamp, request.header("X-Slack-Signature"))
    assert not verifier.is_valid(
        request.body + b" ", timestamp, request.header("X-Slack-Signature")
    )


def test_stripe_sdk_accepts_the_stripe_fixture() -> None:
    request, credentials = load("stripe-as-hmac")
    header = request.header("Stripe-Signature")
    assert stripe.WebhookSignature.verify_header(
        request.body.decode(), header, credentials["webhookSecret"], tolerance=None
    )


def test_standard_webhooks_sdk_signs_the_fixture_identically() -> None:
    request, credentials = load("standard-webhooks-as-hmac")
    webhook = Webhook(credentials["signingSecret"])
    timestamp = datetime.fromtimestamp(int(request.header("webhook-timestamp")), UTC)
    expected = webhook.sign(request.header("webhook-id"), timestamp, request.body.decode())
    assert expected == request.header("webhook-signature")
