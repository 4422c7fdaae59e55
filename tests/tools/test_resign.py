"""tools/resign.py: signature headers recomputed over an edited body, every other header kept
in place; timestamps kept or re-stamped; verified by the engine and the providers' SDKs."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
import stripe
from paths import FIXTURES
from slack_sdk.signature import Clock, SignatureVerifier
from standardwebhooks.webhooks import Webhook

from whdebug.engine.analyze import analyze
from whdebug.errors import WhdebugError
from whdebug.model.definition import Definition, load_definition
from whdebug.model.request import CapturedRequest, Secrets
from whdebug.tools.profiles import get_profile
from whdebug.tools.resign import edit_request, parse_set_headers, resign, signed_schemes
from whdebug.tools.signing import sign_request

SIGNED_AT = datetime(2025, 11, 24, 16, 0, 0, tzinfo=UTC)
LATER = SIGNED_AT + timedelta(hours=2)
EDITED = b'{"id":"evt_2","type":"edited.event","text":"caf\xc3\xa9"}'


class FixedClock(Clock):
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> float:
        return self.moment.timestamp()


def _definition(name: str) -> Definition:
    return load_definition(FIXTURES / "definitions" / f"{name}.json")


def _signed(definition_name: str, scheme: str | None, secrets: Secrets) -> CapturedRequest:
    request = sign_request(b'{"id":"evt_1","type":"original"}', _definition(definition_name),
                           secrets, now=SIGNED_AT, scheme=scheme).request
    extra = (("X-Trace", "keep-me"),)
    return dataclasses.replace(request, headers=(*request.headers, *extra))


@pytest.mark.parametrize(("definition", "scheme", "key"), [
    ("github", "github", "webhookSecret"),
    ("shopify", "shopify", "webhookSecret"),
    ("woocommerce", "woocommerce", "webhookSecret"),
    ("salla", "salla", "webhookSecret"),
    ("acme-crm", None, "webhookSecret"),
])
def test_raw_body_schemes_verify_with_the_engine(definition: str, scheme: str | None,
                                                 key: str) -> None:
    defn = _definition(definition)
    secrets = Secrets({key: "a-fixture-secret-0123"})
    original = _signed(definition, scheme, secrets)
    edited = edit_request(original, body=EDITED)
    assert analyze(edited, defn, secrets, now=SIGNED_AT).signature.verdict == "fail"
    result = resign(edited, defn, secrets, now=LATER)
    assert analyze(result.request, defn, secrets, now=SIGNED_AT).signature.verdict == "pass"
    names = [name for name, _ in result.request.headers]
    assert names == [name for name, _ in original.headers]  # same headers, same places
    assert result.request.header("X-Trace") == "keep-me"
    assert result.request.header("Content-Length") == str(len(EDITED))
    assert result.timestamp is None and "a-fixture-secret-0123" not in repr(result)


def test_slack_keeps_its_timestamp_unless_fresh() -> None:
    defn, secret = _definition("slack"), "8f742231b10e8888abcd99yyyzzz85a5"
    secrets = Secrets({"signingSecret": secret})
    edited = edit_request(_signed("slack", "slack", secrets), body=EDITED)
    kept = resign(edited, defn, secrets, now=LATER).request
    fresh = resign(edited, defn, secrets, now=LATER, fresh_timestamp=True).request
    for request, moment in ((kept, SIGNED_AT), (fresh, LATER)):
        stamp = request.header("X-Slack-Request-Timestamp")
        assert stamp == str(int(moment.timestamp()))
        verifier = SignatureVerifier(secret, clock=FixedClock(moment))
        assert verifier.is_valid(EDITED, stamp, request.header("X-Slack-Signature"))


def test_stripe_and_svix_headers_keep_their_names() -> None:
    defn, secret = _definition("payments"), "whsec_stripeTestSecretValue01"
    secrets = Secrets({"webhookSecret": secret})
    edited = edit_request(_signed("payments", "stripe", secrets), body=EDITED)
    header = resign(edited, defn, secrets, now=LATER, fresh_timestamp=True).request.header(
        "Stripe-Signature")
    assert header is not None and header.startswith(f"t={int(LATER.timestamp())},v1=")
    assert stripe.WebhookSignature.verify_header(EDITED.decode(), header, secret,
                                                 tolerance=None)
    notify, std_secret = _definition("notify"), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    std = Secrets({"signingSecret": std_secret})
    signed = _signed("notify", "standard-webhooks", std)
    svix = dataclasses.replace(signed, headers=tuple(
        (name.replace("webhook-", "svix-"), value) for name, value in signed.headers))
    result = resign(edit_request(svix, body=EDITED), notify, std, now=LATER)
    assert result.headers == ("svix-id", "svix-timestamp", "svix-signature")
    assert result.request.header("svix-id") == signed.header("webhook-id")
    assert Webhook(std_secret).sign(result.request.header("svix-id") or "", SIGNED_AT,
                                    EDITED.decode()) == result.request.header("svix-signature")


def test_karzoun_tenant_and_the_previous_secret() -> None:
    profile = get_profile("karzoun-tenant")
    secrets = Secrets({"secret": "current-secret", "previous_secret": "old-secret",
                       "token": "tok"})
    original = sign_request(b"{}", profile.definition, secrets, now=SIGNED_AT,
                            scheme="karzoun").request
    result = resign(edit_request(original, body=EDITED), profile.definition, secrets,
                    now=LATER, fresh_timestamp=True)
    assert result.schemes == ("karzoun",)
    assert result.headers == ("X-Karzoun-Signature-256", "X-Karzoun-Signature-256-Previous")
    assert any("nothing re-stamped" in notice for notice in result.notices)
    assert analyze(result.request, profile.definition, Secrets({"secret": "current-secret"}),
                   now=SIGNED_AT).signature.verdict == "pass"


def test_schemes_found_and_bad_input() -> None:
    github = _definition("github")
    bare = CapturedRequest("POST", "/x", headers=(("Stripe-Signature", "t=1,v1=00"),))
    assert signed_schemes(bare, github) == ["stripe", "definition"]
    assert signed_schemes(CapturedRequest("POST", "/x"), _definition("acme-crm")) == [
        "definition"]
    nothing = _definition("github")
    nothing.webhook["verification"] = {"type": "none"}
    with pytest.raises(WhdebugError, match="nothing to re-sign"):
        resign(CapturedRequest("POST", "/x"), nothing, Secrets(), now=LATER)
    assert parse_set_headers(["X-A=1", "X-B: two", "X-C=a=b"]) == [
        ("X-A", "1"), ("X-B", "two"), ("X-C", "a=b")]
    with pytest.raises(WhdebugError, match="argument 1"):
        parse_set_headers(["=value"])
    edited = edit_request(CapturedRequest("POST", "/x", headers=(("x-a", "1"),)),
                          set_headers=[("X-A", "2"), ("X-New", "3")])
    assert edited.headers == (("x-a", "2"), ("X-New", "3"))


def test_re_signing_keeps_the_request_s_own_event_and_says_nothing_about_choosing_one() -> None:
    """A capture carries its event (WooCommerce's topic header); re-signing its body changes
    only the signature. The note about signing for 'the first trigger whose event fits' was
    sign's, for a bare payload: here it named an event the request did not carry."""
    defn = _definition("woocommerce")
    secrets = Secrets({"webhookSecret": "a-fixture-secret-0123"})
    original = sign_request(b'{"id":7,"status":"completed"}', defn, secrets, now=SIGNED_AT,
                            event="order.updated").request
    edited = edit_request(original, body=b'{"id":7,"status":"refunded"}')
    result = resign(edited, defn, secrets, now=LATER)
    assert result.request.header("X-WC-Webhook-Topic") == "order.updated"
    report = analyze(result.request, defn, secrets, now=SIGNED_AT)
    assert report.signature.verdict == "pass" and report.event.value == "order.updated"
    assert not [notice for notice in result.notices if "event" in notice], result.notices
