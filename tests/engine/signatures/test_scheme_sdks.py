"""whdebug's verdict on each provider-scheme fixture agrees with the provider's own SDK.

SIG_SCHEME_VERIFIED (the secret verifies, as the provider's libraries check it) must appear
exactly when the SDK accepts the delivery with the stored secret; SIG_SCHEME_MISMATCH,
SIG_SECRET_FORMAT and SIG_TIMESTAMP_MILLISECONDS exactly when it rejects it. For a body
changed after signing, the SDK rejects the received bytes and accepts the signed ones
whdebug recovered.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import stripe
from conftest import FIXTURES
from slack_sdk.signature import Clock, SignatureVerifier
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from whdebug.engine import analyze
from whdebug.engine.report import Report
from whdebug.formats.read import read_request_file
from whdebug.model.definition import load_definition
from whdebug.model.request import CapturedRequest
from whdebug.model.secrecy import Secrets

SCENARIOS = {
    s["name"]: s for s in json.loads((FIXTURES / "manifest.json").read_text())["scenarios"]
}


def load(name: str) -> tuple[CapturedRequest, str, Report]:
    scenario = SCENARIOS[name]
    capture = read_request_file(FIXTURES / scenario["files"][0])[0]
    definition = load_definition(FIXTURES / scenario["definition"])
    key = definition.data["webhook"]["verification"]["secretKey"]
    secrets = Secrets(scenario["credentials"], scenario["config"])
    now = datetime.fromisoformat(scenario["now"].replace("Z", "+00:00"))
    report = analyze(capture, definition, secrets, now=now)
    return capture.request, scenario["credentials"][key], report


def verified(report: Report) -> bool:
    return "SIG_SCHEME_VERIFIED" in report.codes()


def stripe_accepts(body: bytes, header: str, secret: str) -> bool:
    try:
        stripe.WebhookSignature.verify_header(body.decode(), header, secret, tolerance=None)
    except stripe.SignatureVerificationError:
        return False
    return True


STRIPE = ["stripe-as-hmac", "sig-stripe-cli-secret", "sig-stripe-api-key",
          "sig-stripe-rotation", "sig-stripe-compacted"]


@pytest.mark.parametrize("name", STRIPE)
def test_stripe_sdk_agrees(name: str) -> None:
    request, secret, report = load(name)
    header = request.header("Stripe-Signature")
    assert header is not None
    accepts = stripe_accepts(request.body, header, secret)
    if name == "sig-stripe-compacted":
        assert not accepts and verified(report) and "SIG_BODY_MODIFIED" in report.codes()
        pretty = json.dumps(json.loads(request.body), indent=2).encode() + b"\n"
        assert stripe_accepts(pretty, header, secret)
    else:
        assert accepts == verified(report), report.codes()
        assert accepts != ("SIG_SCHEME_MISMATCH" in report.codes())


def test_stripe_sdk_accepts_the_other_environments_secret() -> None:
    request, secret, report = load("sig-stripe-other-environment")
    header = request.header("Stripe-Signature")
    assert header is not None
    other = SCENARIOS["sig-stripe-other-environment"]["config"]["webhookSecret"]
    assert not stripe_accepts(request.body, header, secret)
    assert stripe_accepts(request.body, header, other)
    assert "SIG_WRONG_SECRET_SOURCE" in report.codes() and not verified(report)


def sw_accepts(request: CapturedRequest, secret: str, monkeypatch: pytest.MonkeyPatch,
               clock: bool = False) -> bool:
    if not clock:  # Standard Webhooks' check minus the clock (the fixtures are from 2025)
        monkeypatch.setattr(Webhook, "_Webhook__verify_timestamp",
                            lambda self, header: datetime.fromtimestamp(float(header), UTC))
    headers = {name: value for name, value in request.headers}
    try:
        Webhook(secret).verify(request.body, headers)
    except WebhookVerificationError:
        return False
    return True


@pytest.mark.parametrize("name", [
    "standard-webhooks-as-hmac", "sig-standard-webhooks-wrong-secret",
                                  "sig-whsec-raw-key", "sig-standard-webhooks-rotation"])
def test_standard_webhooks_sdk_agrees(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    request, secret, report = load(name)
    accepts = sw_accepts(request, secret, monkeypatch)
    assert accepts == verified(report), report.codes()
    rejected_for = {"SIG_SCHEME_MISMATCH", "SIG_SECRET_FORMAT"} & set(report.codes())
    assert accepts == (not rejected_for)


def test_standard_webhooks_sdk_rejects_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    request, secret, report = load("sig-timestamp-milliseconds")
    assert not sw_accepts(request, secret, monkeypatch, clock=True)
    # the HMAC itself is right: only the timestamp's unit makes the SDK reject it
    assert verified(report) and "SIG_TIMESTAMP_MILLISECONDS" in report.codes()


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


@pytest.mark.parametrize("name", ["slack-event", "sig-slack-verification-token"])
def test_slack_sdk_agrees(name: str) -> None:
    request, secret, report = load(name)
    timestamp = request.header("X-Slack-Request-Timestamp")
    signature = request.header("X-Slack-Signature")
    assert timestamp is not None and signature is not None
    verifier = SignatureVerifier(secret, clock=FixedClock(float(timestamp)))
    assert verifier.is_valid(request.body, timestamp, signature) == verified(report)
