"""Deliveries: captures grouped by each provider's delivery identity; retry findings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from factories import make_definition

from whdebug.model.request import Capture, CapturedRequest, ForwardResult, Reply, Source
from whdebug.tools.deliveries import (
    arrivals_per_minute,
    definition_transaction,
    delivery_json,
    group_deliveries,
    identify,
)
from whdebug.tools.retries import POLICIES
from whdebug.tools.samples import PROVIDERS, events, load_sample, sample_request

T0 = datetime(2026, 11, 24, 16, 0, 0, tzinfo=UTC)


def capture(headers: list[tuple[str, str]], body: bytes | dict[str, object] = b"{}", *,
            at: float = 0.0, status: int | None = 200, number: int = 1,
            latency: float | None = None) -> Capture:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = CapturedRequest("POST", "/hook", headers=tuple(headers), body=data)
    forward = (ForwardResult(status=status, latency=latency) if latency is not None
               else None)
    return Capture(request, Source(number, None, T0 + timedelta(seconds=at)),
                   Reply(status), forward)


SLACK_BODY = {"type": "event_callback", "event_id": "Ev0PV52K21", "event": {"type": "message"}}

IDENTITIES = [
    ("github", [("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")], b"{}",
     "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ("shopify", [("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")], b"{}",
     "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
    ("woocommerce", [("X-WC-Webhook-Delivery-ID", "3c1e0b4f9a")], b"{}", "3c1e0b4f9a"),
    ("standard-webhooks", [("webhook-id", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")], b"{}",
     "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"),
    ("standard-webhooks", [("svix-id", "msg_svix")], b"{}", "msg_svix"),
    ("slack", [("X-Slack-Signature", "v0=00")], SLACK_BODY, "Ev0PV52K21"),
    ("stripe", [("Stripe-Signature", "t=1,v1=00")],
     {"id": "evt_1QxY", "object": "event", "type": "invoice.paid"}, "evt_1QxY"),
    ("karzoun", [], {"id": "550e8400", "event": "core:customer.update",
                     "metadata": {"attemptNumber": 2}}, "550e8400"),
    ("salla", [("X-Salla-Signature", "00")],
     {"event": "order.created", "merchant": 1305146709, "created_at": "Mon Nov 24",
      "data": {"id": 9007199254740993}},
     "order.created/1305146709/Mon Nov 24/9007199254740993"),
]


@pytest.mark.parametrize(("provider", "headers", "body", "key"), IDENTITIES,
                         ids=[f"{row[0]}-{number}" for number, row in enumerate(IDENTITIES)])
def test_each_provider_groups_its_retries(provider: str, headers: list[tuple[str, str]],
                                          body: bytes | dict[str, object], key: str) -> None:
    first = capture(headers, body, at=0, status=500, number=1)
    other = capture([], {"unrelated": True}, at=5, number=2)
    retry = capture(headers, body, at=60, status=200, number=3)
    deliveries = group_deliveries([first, other, retry], now=T0 + timedelta(minutes=2))
    assert [(d.provider, d.key, [a.capture_id for a in d.attempts]) for d in deliveries] == [
        (provider, key, [1, 3]), ("body", other.request.body_sha256[:16], [2])]
    assert [attempt.ok for attempt in deliveries[0].attempts] == [False, True]


def test_slack_retry_headers_are_the_attempts_marker_not_a_change() -> None:
    first = capture([("X-Slack-Signature", "v0=aa"), ("X-Slack-Request-Timestamp", "1")],
                    SLACK_BODY, status=500)
    retry = capture([("X-Slack-Signature", "v0=bb"), ("X-Slack-Request-Timestamp", "61"),
                     ("X-Slack-Retry-Num", "1"), ("X-Slack-Retry-Reason", "http_error")],
                    SLACK_BODY, at=61, number=2, status=500)
    (delivery,) = group_deliveries([first, retry], now=T0 + timedelta(seconds=90))
    assert delivery.attempts[1].retry_reason == "retry 1 (http_error)"
    assert delivery.attempts[1].changed == ()
    assert [item.code for item in delivery.findings] == ["DLV_WILL_RETRY"]
    assert "slack will retry" in delivery.findings[0].message


def test_changes_between_attempts_name_headers_and_body() -> None:
    first = capture([("X-GitHub-Delivery", "d1"), ("X-Env", "a")], b'{"a":1}', status=502)
    retry = capture([("X-GitHub-Delivery", "d1"), ("X-Env", "b")], b'{"a": 1}', at=30,
                    number=2, status=502)
    (delivery,) = group_deliveries([first, retry], now=T0 + timedelta(minutes=1))
    assert delivery.attempts[1].changed == ("X-Env", "body")
    record = delivery_json(delivery)
    assert record["attempts"] == 2
    assert record["outcomes"][1]["changed"] == ["X-Env", "body"]
    assert record["first_at"] == "2026-11-24T16:00:00.000000Z"
    assert [item["code"] for item in record["findings"]] == ["DLV_NO_RETRY"]
    assert "does not redeliver automatically" in record["findings"][0]["message"]


def test_shopify_gives_up_after_four_hours() -> None:
    failed = capture([("X-Shopify-Webhook-Id", "w1")], status=500)
    (pending,) = group_deliveries([failed], now=T0 + timedelta(hours=1))
    assert [item.code for item in pending.findings] == ["DLV_WILL_RETRY"]
    (gone,) = group_deliveries([failed], now=T0 + timedelta(hours=5))
    assert [(item.code, item.severity) for item in gone.findings] == [("DLV_GAVE_UP", "error")]
    assert "4 h after the first attempt" in gone.findings[0].message


def test_slack_gives_up_after_three_retries() -> None:
    attempts = [capture([("X-Slack-Signature", "v0=0")], SLACK_BODY, at=at, status=500,
                        number=number) for number, at in enumerate((0, 1, 61, 361), 1)]
    (delivery,) = group_deliveries(attempts, now=T0 + timedelta(seconds=362))
    assert [item.code for item in delivery.findings] == ["DLV_GAVE_UP"]


def test_woocommerce_does_not_retry_and_counts_toward_disabling() -> None:
    (delivery,) = group_deliveries([capture([("X-WC-Webhook-Delivery-ID", "x")], status=500)],
                                   now=T0)
    assert [item.code for item in delivery.findings] == ["DLV_NO_RETRY"]
    assert "disables the webhook after 5 consecutive failures" in delivery.findings[0].message


def test_an_answer_slower_than_the_provider_waits_is_flagged() -> None:
    slow = capture([("X-Slack-Signature", "v0=0")], SLACK_BODY, status=200, latency=4.2)
    (delivery,) = group_deliveries([slow], now=T0 + timedelta(seconds=5))
    assert [item.code for item in delivery.findings] == ["DLV_TOO_SLOW", "DLV_WILL_RETRY"]
    assert "after 4.2 s, but slack waits only 3 s" in delivery.findings[0].message
    fast = capture([("X-Slack-Signature", "v0=0")], SLACK_BODY, status=200, latency=0.2)
    (quick,) = group_deliveries([fast], now=T0 + timedelta(seconds=5))
    assert quick.findings == []


def test_unknown_senders_fall_back_to_the_definition_transaction_id() -> None:
    definition = make_definition()
    one = capture([], {"id": "tx-1", "event": "deal.won", "n": 1}, status=500)
    two = capture([], {"id": "tx-1", "event": "deal.won", "n": 2}, at=10, number=2)
    transaction = definition_transaction(definition)
    assert identify(one.request, transaction).via == "transactionId"
    (delivery,) = group_deliveries([one, two], transaction=transaction, now=T0)
    assert (delivery.provider, delivery.key, len(delivery.attempts)) == ("definition", "tx-1", 2)
    assert len(group_deliveries([one, two], now=T0)) == 2  # without it: the body bytes


def test_arrivals_per_minute_split_failed() -> None:
    rows = [capture([("X-GitHub-Delivery", f"d{n}")], at=at, status=status, number=n)
            for n, (at, status) in enumerate(((0, 200), (30, 500), (130, 200)), 1)]
    rows.append(capture([("X-GitHub-Delivery", "d4")], at=140, status=None, number=4))
    counts, failed, unknown = arrivals_per_minute(group_deliveries(rows), minutes=4)
    assert counts == [0, 2, 0, 2]
    assert failed == [0, 1, 0, 0]
    assert unknown == [0, 0, 0, 1]


def test_every_documented_provider_has_a_policy_with_a_source() -> None:
    assert {"github", "shopify", "slack", "stripe", "woocommerce"} <= POLICIES.keys()
    assert POLICIES["github"].retries is False
    assert POLICIES["shopify"].give_up == 4 * 3600
    assert POLICIES["slack"].timeout == 3.0
    assert POLICIES["stripe"].give_up == 3 * 24 * 3600
    assert all(policy.source for policy in POLICIES.values())


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_sample_request_is_grouped_as_its_provider(provider: str) -> None:
    for event in events(provider):
        request = sample_request(load_sample(provider, event), T0, secret="whsec_" + "QUJD" * 8)
        identity = identify(request)
        if provider == "slack" and event == "url_verification":
            assert identity.provider == "body"  # a handshake, not a delivery
        else:
            assert identity.provider == provider, (event, identity)


def test_a_slack_retry_for_http_timeout_says_the_answer_was_too_slow() -> None:
    first = capture([("X-Slack-Signature", "v0=aa")], SLACK_BODY, status=200)
    retry = capture([("X-Slack-Signature", "v0=bb"), ("X-Slack-Retry-Num", "1"),
                     ("X-Slack-Retry-Reason", "http_timeout")], SLACK_BODY, at=2, number=2)
    (delivery,) = group_deliveries([first, retry], now=T0 + timedelta(seconds=5))
    assert [item.code for item in delivery.findings] == ["DLV_TOO_SLOW"]
    assert "attempt #2 is a retry" in delivery.findings[0].message
    assert "slack waits 3 s" in delivery.findings[0].message
    (alone,) = group_deliveries([first], now=T0 + timedelta(seconds=5))
    assert alone.findings == []


def test_will_retry_names_the_next_attempt_from_the_schedule() -> None:
    attempts = [capture([("webhook-id", "msg_1")], at=at, status=503, number=number)
                for number, at in enumerate((0, 5), 1)]
    (delivery,) = group_deliveries(attempts, now=T0 + timedelta(seconds=10))
    (item,) = delivery.findings
    next_at = (T0 + timedelta(seconds=305)).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert item.code == "DLV_WILL_RETRY"
    assert f"next around {next_at}" in item.message
    assert "Svix retries after 5 s, 5 min, 30 min" in item.message


def test_salla_documents_no_retry_policy_so_whdebug_says_it_does_not_know() -> None:
    body = {"event": "order.created", "merchant": 1, "created_at": "x", "data": {"id": 2}}
    (delivery,) = group_deliveries([capture([("X-Salla-Signature", "00")], body, status=500)],
                                   now=T0)
    assert [item.code for item in delivery.findings] == ["DLV_RETRY_UNKNOWN"]
    assert "document no retry policy" in delivery.findings[0].message
    (unknown,) = group_deliveries([capture([], b"x", status=500)], now=T0)
    assert [item.code for item in unknown.findings] == ["DLV_RETRY_UNKNOWN"]
    assert "knows no retry policy for this sender" in unknown.findings[0].message
