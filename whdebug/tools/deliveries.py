"""Deliveries: captures grouped by the provider's delivery identity, retries told apart.

A provider sends one delivery and, when it fails, retries it with the same identity:
`X-GitHub-Delivery`, `X-Shopify-Webhook-Id`, `X-WC-Webhook-Delivery-ID`, Standard Webhooks'
`webhook-id` (or `svix-id`), Slack's body `event_id` (retries carry `X-Slack-Retry-Num`),
Stripe's event id (`evt_...`), a Karzoun tenant event's `id`. Salla sends no delivery id, so a
Salla delivery is its `event`, `merchant`, `created_at` and `data.id`. Anything else falls
back to the definition's transaction id, else to the exact body bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from whdebug.engine.report import Finding
from whdebug.model.definition import Definition
from whdebug.model.request import Capture, CapturedRequest

#: (provider, header) pairs whose value is the delivery identity, checked in this order.
IDENTITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("github", "X-GitHub-Delivery"),
    ("shopify", "X-Shopify-Webhook-Id"),
    ("woocommerce", "X-WC-Webhook-Delivery-ID"),
    ("standard-webhooks", "webhook-id"),
    ("standard-webhooks", "svix-id"),
)
#: Headers that are expected to differ between attempts of one delivery.
ATTEMPT_HEADERS = frozenset({
    "x-slack-retry-num", "x-slack-retry-reason", "x-slack-request-timestamp",
    "x-slack-signature", "stripe-signature", "webhook-timestamp", "webhook-signature",
    "svix-timestamp", "svix-signature", "x-forwarded-for", "x-request-id", "cf-ray",
    "x-amzn-trace-id", "traceparent", "content-length",
})


@dataclass(frozen=True, slots=True)
class Identity:
    """Which delivery a capture belongs to, and how whdebug knows."""

    provider: str
    """github | shopify | woocommerce | standard-webhooks | slack | stripe | salla | karzoun |
    definition (the transaction id) | body (identical bytes)."""
    key: str
    via: str
    """Where the key was read: a header name, a body path, `transactionId` or `body sha256`."""
    retry_reason: str | None = None
    """The provider's own retry marker (Slack's X-Slack-Retry-Num/-Reason)."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One capture of a delivery."""

    capture_id: int | None
    received_at: datetime | None
    status: int | None
    """What the provider was answered: the app's status when relayed, else whdebug's."""
    latency: float | None
    """Seconds the answer took, when recorded (the forward latency)."""
    error: str | None
    retry_reason: str | None
    changed: tuple[str, ...]
    """What differs from the previous attempt: header names and `body`."""

    @property
    def ok(self) -> bool | None:
        """A 2xx answer; False for another status or an error; None when nothing was recorded."""
        if self.error is not None:
            return False
        if self.status is None:
            return None
        return 200 <= self.status < 300

    @property
    def outcome(self) -> str:
        if self.error is not None:
            return "error: " + self.error
        text = str(self.status) if self.status is not None else "no answer recorded"
        return text if self.latency is None else f"{text} in {self.latency * 1000:.0f} ms"


@dataclass(slots=True)
class Delivery:
    """Every attempt of one delivery, oldest first."""

    provider: str
    key: str
    via: str
    attempts: list[Attempt] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def first(self) -> datetime | None:
        return self.attempts[0].received_at

    @property
    def last(self) -> datetime | None:
        return self.attempts[-1].received_at


def _json_body(request: CapturedRequest) -> dict[str, Any] | None:
    if not request.body.lstrip().startswith(b"{"):
        return None
    try:
        value = json.loads(request.body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        return str(value) if str(value) else None
    return None


def identify(request: CapturedRequest,
             transaction: Callable[[CapturedRequest], str | None] | None = None) -> Identity:
    """The delivery identity of one request (see the module docstring for the order)."""
    for provider, name in IDENTITY_HEADERS:
        value = (request.header(name) or "").strip()
        if value:
            return Identity(provider, value, name)
    body = _json_body(request)
    if body is not None:
        found = _body_identity(request, body)
        if found is not None:
            return found
    if transaction is not None:
        found_id = transaction(request)
        if found_id:
            return Identity("definition", found_id, "transactionId")
    return Identity("body", request.body_sha256[:16], "body sha256")


def _body_identity(request: CapturedRequest, body: dict[str, Any]) -> Identity | None:
    event_id = _text(body.get("event_id"))
    if event_id and (request.has_header("x-slack-signature") or body.get("type") ==
                     "event_callback"):
        number = request.header("X-Slack-Retry-Num")
        reason = request.header("X-Slack-Retry-Reason")
        retry = f"retry {number}" + (f" ({reason})" if reason else "") if number else None
        return Identity("slack", event_id, "$.event_id", retry)
    body_id = _text(body.get("id"))
    if body_id and body_id.startswith("evt_") and body.get("object") == "event":
        return Identity("stripe", body_id, "$.id")
    metadata = body.get("metadata")
    if body_id and isinstance(metadata, dict) and "attemptNumber" in metadata:
        number = _text(metadata.get("attemptNumber"))
        return Identity("karzoun", body_id, "$.id", f"attempt {number}" if number else None)
    data = body.get("data")
    if (request.has_header("x-salla-signature") or "merchant" in body) and _text(
            body.get("event")) and isinstance(data, dict):
        parts = [_text(body.get("event")), _text(body.get("merchant")),
                 _text(body.get("created_at")), _text(data.get("id"))]
        return Identity("salla", "/".join(part or "-" for part in parts),
                        "$.event, $.merchant, $.created_at, $.data.id")
    return None


def _changed(before: CapturedRequest, after: CapturedRequest) -> tuple[str, ...]:
    """Header names whose values differ (beyond the per-attempt ones), then `body`."""
    names: dict[str, str] = {}
    for name, _ in (*before.headers, *after.headers):
        names.setdefault(name.lower(), name)
    changed = [shown for lower, shown in names.items() if lower not in ATTEMPT_HEADERS
               and before.header_values(lower) != after.header_values(lower)]
    if before.body != after.body:
        changed.append("body")
    return tuple(changed)


def attempt_of(capture: Capture, identity: Identity,
               previous: CapturedRequest | None) -> Attempt:
    forward, reply = capture.forward, capture.reply
    status = reply.status if reply is not None else None
    latency = error = None
    if forward is not None:
        status = forward.status if forward.status is not None else status
        latency, error = forward.latency, forward.error
    return Attempt(capture.source.capture_id, capture.source.received_at, status, latency,
                   error, identity.retry_reason,
                   _changed(previous, capture.request) if previous is not None else ())


def group_deliveries(
    captures: Iterable[Capture],
    *,
    transaction: Callable[[CapturedRequest], str | None] | None = None,
    now: datetime | None = None,
) -> list[Delivery]:
    """Captures (in arrival order) grouped into deliveries, ordered by first arrival; with
    `now`, each delivery carries its retry findings (tools/retries.py)."""
    from whdebug.tools.retries import retry_findings

    deliveries: dict[tuple[str, str], Delivery] = {}
    previous: dict[tuple[str, str], CapturedRequest] = {}
    for capture in captures:
        identity = identify(capture.request, transaction)
        key = (identity.provider, identity.key)
        delivery = deliveries.get(key)
        if delivery is None:
            delivery = deliveries[key] = Delivery(identity.provider, identity.key, identity.via)
        delivery.attempts.append(attempt_of(capture, identity, previous.get(key)))
        previous[key] = capture.request
    result = list(deliveries.values())
    if now is not None:
        for delivery in result:
            delivery.findings = retry_findings(delivery, now)
    return result


def definition_transaction(definition: Definition) -> Callable[[CapturedRequest], str | None]:
    """The definition's transaction id of a request, read as the runtime reads it (whether or
    not the signature verifies); None when it finds none or would generate one."""
    from whdebug.engine.paths import parse_body
    from whdebug.engine.plan import compile_definition
    from whdebug.engine.steps.events import extract_event
    from whdebug.engine.steps.transactions import extract_transaction

    plan = compile_definition(definition)

    def transaction(request: CapturedRequest) -> str | None:
        body = parse_body(request, plan.projection)
        event = (extract_event(plan.event_extraction, request, body, "empty")[0].value
                 if plan.event_extraction is not None else None)
        result, _ = extract_transaction(plan.transaction, event, request, body)
        return None if result.generated else result.id

    return transaction


def arrivals_per_minute(deliveries: Iterable[Delivery],
                        minutes: int = 60) -> tuple[list[int], list[int], list[int]]:
    """Arrivals per clock minute over the `minutes` minutes up to the newest arrival's:
    (all, failed, outcome not recorded), oldest minute first."""
    moments = [(attempt.received_at, attempt.ok) for delivery in deliveries
               for attempt in delivery.attempts if attempt.received_at is not None]
    counts, failed, unknown = [0] * minutes, [0] * minutes, [0] * minutes
    if not moments:
        return counts, failed, unknown

    def minute(moment: datetime) -> int:
        return int(moment.timestamp() // 60)

    newest = max(minute(moment) for moment, _ in moments)
    for moment, ok in moments:
        age = newest - minute(moment)
        if 0 <= age < minutes:
            counts[minutes - 1 - age] += 1
            failed[minutes - 1 - age] += ok is False
            unknown[minutes - 1 - age] += ok is None
    return counts, failed, unknown


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    """One delivery as JSON-ready builtins (the `list --by delivery --json` line)."""
    import msgspec

    from whdebug.formats.capture_json import format_timestamp

    def moment(value: datetime | None) -> str | None:
        return format_timestamp(value) if value is not None else None

    return {
        "provider": delivery.provider,
        "delivery": delivery.key,
        "via": delivery.via,
        "attempts": len(delivery.attempts),
        "first_at": moment(delivery.first),
        "last_at": moment(delivery.last),
        "outcomes": [{
            "id": attempt.capture_id,
            "received_at": moment(attempt.received_at),
            "status": attempt.status,
            "latency_ms": None if attempt.latency is None else round(attempt.latency * 1000),
            "error": attempt.error,
            "ok": attempt.ok,
            "retry": attempt.retry_reason,
            "changed": list(attempt.changed),
        } for attempt in delivery.attempts],
        "findings": msgspec.to_builtins(delivery.findings),
    }
