"""Each provider's documented retry behaviour, and the finding it gives a failed delivery.

`POLICIES` is the table; every row names its source. `retry_findings` turns one delivery's
attempts (see `tools/deliveries.py`) into `DLV_*` findings: whether and when the provider will
try again, when it gives up, and an attempt answered later than the provider waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Protocol

from whdebug.engine.report import Finding, diagnosis


class Attempt(Protocol):
    """One attempt of a delivery (`tools.deliveries.Attempt`)."""

    @property
    def capture_id(self) -> int | None: ...

    @property
    def received_at(self) -> datetime | None: ...

    @property
    def latency(self) -> float | None: ...

    @property
    def ok(self) -> bool | None: ...

    @property
    def outcome(self) -> str: ...

    @property
    def retry_reason(self) -> str | None: ...


class Delivery(Protocol):
    """A delivery's attempts, oldest first (`tools.deliveries.Delivery`)."""

    @property
    def provider(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def attempts(self) -> Sequence[Attempt]: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """What a provider does when a delivery fails (a non-2xx answer, an error or a timeout)."""

    provider: str
    retries: bool | None
    """Whether the provider redelivers a failed delivery by itself (None: not documented)."""
    delays: tuple[float, ...]
    """Seconds from the first attempt to each retry, in order (empty: unknown or none)."""
    give_up: float | None
    """Seconds after the first attempt when the provider stops retrying (None: unknown)."""
    timeout: float | None
    """Seconds the provider waits for an answer before counting the attempt failed."""
    summary: str
    """One line a finding repeats, naming what happens when it gives up."""
    source: str


_MINUTE = 60.0
_HOUR = 3600.0
#: Svix's retries, as seconds after the first attempt (each interval follows the previous).
_SVIX = tuple(accumulate((5.0, 5 * _MINUTE, 30 * _MINUTE, 2 * _HOUR, 5 * _HOUR, 10 * _HOUR,
                          10 * _HOUR)))

#: One row per provider; the comment above each row is its source.
POLICIES: dict[str, RetryPolicy] = {
    # https://docs.github.com/en/webhooks/using-webhooks/handling-failed-webhook-deliveries
    # ("GitHub does not automatically redeliver failed deliveries") and
    # https://docs.github.com/en/webhooks/using-webhooks/best-practices-for-using-webhooks
    # ("respond within 10 seconds").
    "github": RetryPolicy(
        "github", False, (), None, 10.0,
        "GitHub does not redeliver automatically: redeliver it from the webhook's Recent "
        "Deliveries page or the REST API (POST .../deliveries/{id}/attempts)",
        "docs.github.com: handling failed webhook deliveries"),
    # https://shopify.dev/docs/apps/build/webhooks/troubleshooting-webhooks
    # ("Shopify retries 8 times over the next 4 hours"; a 5 second response timeout).
    "shopify": RetryPolicy(
        "shopify", True, (), 4 * _HOUR, 5.0,
        "Shopify retries 8 times over 4 hours, then stops (and removes a subscription "
        "that keeps failing)",
        "shopify.dev: troubleshooting webhooks"),
    # https://api.slack.com/apis/events-api#retries ("we'll retry up to 3 times: nearly
    # immediately, then after 1 minute, then after 5 minutes"; answer within 3 seconds).
    "slack": RetryPolicy(
        "slack", True, (1.0, 1.0 + _MINUTE, 1.0 + 6 * _MINUTE), 1.0 + 6 * _MINUTE, 3.0,
        "Slack retries nearly immediately, after 1 minute and after 5 minutes (with "
        "X-Slack-Retry-Num and X-Slack-Retry-Reason), then stops",
        "api.slack.com: Events API, retries"),
    # https://docs.stripe.com/webhooks#retries ("In live mode, Stripe attempts to deliver
    # ... for up to three days with an exponential back off").
    "stripe": RetryPolicy(
        "stripe", True, (), 3 * 24 * _HOUR, None,
        "Stripe retries with exponential backoff for up to 3 days in live mode (3 times "
        "over a few hours in test mode), then stops",
        "docs.stripe.com: webhooks, retries"),
    # woocommerce/includes/class-wc-webhook.php: deliver() posts with a one-minute timeout,
    # failed_delivery() disables the webhook after 5 consecutive failures
    # (woocommerce_max_webhook_delivery_failures); a failed delivery is not retried.
    "woocommerce": RetryPolicy(
        "woocommerce", False, (), None, 60.0,
        "WooCommerce does not retry a failed delivery, and disables the webhook after 5 "
        "consecutive failures",
        "woocommerce class-wc-webhook.php: deliver(), failed_delivery()"),
    # https://docs.svix.com/retries (Standard Webhooks leaves the schedule to the sender;
    # Svix, its reference sender, retries 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h after
    # the previous attempt, and waits 15 seconds for an answer).
    "standard-webhooks": RetryPolicy(
        "standard-webhooks", True, _SVIX, _SVIX[-1], 15.0,
        "the schedule is the sender's; Svix retries after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h "
        "and 10 h, then stops",
        "docs.svix.com: retries"),
    # Karzoun's MiniApp docs, tenant-webhooks.mdx: "up to 3 retry attempts on failure",
    # retryPolicy.backoffMs 5000, 30000, 120000 (each after the previous), a 10 s timeout.
    "karzoun": RetryPolicy(
        "karzoun", True, (5.0, 35.0, 155.0), 155.0, 10.0,
        "Karzoun retries up to 3 times, after 5 s, 30 s and 2 min, then stops; 5 consecutive "
        "failures pause the webhook for 5 minutes",
        "Karzoun docs: tenant webhooks, retries"),
    # The Salla reference pages (examples/salla.mdx) name no retry policy or timeout.
    "salla": RetryPolicy(
        "salla", None, (), None, None,
        "the Salla pages whdebug knows document no retry policy",
        "none documented"),
}

_STEP = "deliveries"


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _span(seconds: float) -> str:
    if seconds < 2 * _MINUTE:
        return f"{seconds:.0f} s"
    if seconds < 2 * _HOUR:
        return f"{seconds / _MINUTE:.0f} min"
    if seconds < 48 * _HOUR:
        return f"{seconds / _HOUR:.0f} h"
    return f"{seconds / (24 * _HOUR):.0f} days"


def slow_attempt(attempt: Attempt, policy: RetryPolicy | None) -> bool:
    """Whether the attempt's answer took longer than the provider waits."""
    return (policy is not None and policy.timeout is not None and attempt.latency is not None
            and attempt.latency > policy.timeout)


def retry_findings(delivery: Delivery, now: datetime) -> list[Finding]:
    """Whether and when the provider retries this delivery, and when it gives up."""
    policy = POLICIES.get(delivery.provider)
    findings = [_slow(delivery, attempt, policy) for attempt in delivery.attempts
                if slow_attempt(attempt, policy)]
    timed_out = [attempt for attempt in delivery.attempts
                 if attempt.retry_reason and "http_timeout" in attempt.retry_reason]
    if timed_out and not findings:
        waits = (f"; {delivery.provider} waits {policy.timeout:.0f} s"
                 if policy is not None and policy.timeout is not None else "")
        findings.append(diagnosis(
            "DLV_TOO_SLOW",
            f"delivery {delivery.key}: attempt #{timed_out[0].capture_id} is a retry because "
            f"the previous attempt was not answered in time (X-Slack-Retry-Reason: "
            f"http_timeout{waits})",
            "answer 2xx first and do the work afterwards (a queue or a background task)",
            step=_STEP))
    last = delivery.attempts[-1]
    if last.ok is not False and not slow_attempt(last, policy):
        return findings
    failed = "timed out" if last.ok is not False else f"failed ({last.outcome})"
    what = f"delivery {delivery.key}: the last attempt (#{last.capture_id}) {failed}"
    if policy is None or policy.retries is None:
        known = f": {policy.summary}" if policy is not None else (
            "; whdebug knows no retry policy for this sender")
        findings.append(diagnosis(
            "DLV_RETRY_UNKNOWN", f"{what}{known}",
            "check the sender's documentation for its retry schedule, and dedupe retries "
            "with webhook.transactionId", step=_STEP))
        return findings
    if not policy.retries:
        findings.append(diagnosis(
            "DLV_NO_RETRY", f"{what}: {policy.summary}",
            "fix the endpoint, then redeliver by hand", step=_STEP))
        return findings
    first = delivery.attempts[0].received_at
    if first is None:
        findings.append(diagnosis(
            "DLV_WILL_RETRY", f"{what}: {policy.summary}",
            "answer 2xx within the provider's timeout; the retry carries the same id",
            step=_STEP))
        return findings
    give_up = first + timedelta(seconds=policy.give_up) if policy.give_up is not None else None
    if (give_up is not None and now > give_up) or (
            policy.delays and len(delivery.attempts) > len(policy.delays)):
        findings.append(diagnosis(
            "DLV_GAVE_UP",
            f"{what}, and {policy.provider} has given up on it "
            f"({_span(policy.give_up or 0)} after the first attempt): {policy.summary}",
            "fix the endpoint; this event will not arrive again by itself", step=_STEP))
        return findings
    retry = len(delivery.attempts) - 1
    next_at = (first + timedelta(seconds=policy.delays[retry])
               if retry < len(policy.delays) else None)
    when = f"next around {_when(next_at)}, " if next_at is not None else ""
    until = f"until {_when(give_up)}" if give_up is not None else "for a while"
    findings.append(diagnosis(
        "DLV_WILL_RETRY",
        f"{what}: {policy.provider} will retry ({when}{until}): {policy.summary}",
        "answer 2xx within the provider's timeout; the retry carries the same id, so "
        "dedupe it with webhook.transactionId", step=_STEP))
    return findings


def _slow(delivery: Delivery, attempt: Attempt, policy: RetryPolicy | None) -> Finding:
    assert policy is not None and policy.timeout is not None and attempt.latency is not None
    return diagnosis(
        "DLV_TOO_SLOW",
        f"delivery {delivery.key}: attempt #{attempt.capture_id} was answered after "
        f"{attempt.latency:.1f} s, but {policy.provider} waits only {policy.timeout:.0f} s and "
        "counts it as failed",
        "answer 2xx first and do the work afterwards (a queue or a background task)",
        step=_STEP)
