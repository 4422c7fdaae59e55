"""Sample deliveries for every provider: `stripe trigger`, generalised.

The payloads are package data (`whdebug/samples/<provider>/<event>.json`, `__` for `/` in a
Shopify topic), written from each provider's documented fields and kept small, with the awkward
parts real deliveries have: ids above 2^53, escaped slashes (`\\/`), non-ASCII text. Their bytes
are never re-serialised, except by `samples_for` when a definition reads the event from a body
path the payload does not hold. `sample_request` adds the headers the provider sends, signed
when a secret is given (tools/signing.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from whdebug.errors import WhdebugError
from whdebug.model.definition import Definition
from whdebug.model.request import CapturedRequest, Secrets

PROVIDERS = ("github", "shopify", "salla", "woocommerce", "slack", "stripe",
             "standard-webhooks")
#: The signature header each provider sends, lower-case: how `samples_for` recognises one.
SIGNATURE_HEADERS = {
    "x-hub-signature-256": "github", "x-hub-signature": "github",
    "x-shopify-hmac-sha256": "shopify", "x-wc-webhook-signature": "woocommerce",
    "x-salla-signature": "salla", "x-slack-signature": "slack",
    "stripe-signature": "stripe", "webhook-signature": "standard-webhooks",
}
_SIMPLE_PATH = re.compile(r"^\$(\.[A-Za-z_][A-Za-z0-9_]*)+$")


class SampleError(WhdebugError):
    """An unknown provider or event."""


@dataclass(frozen=True, slots=True)
class Sample:
    provider: str
    event: str
    payload: bytes


def _folder(provider: str) -> Any:
    if provider not in PROVIDERS:
        raise SampleError(f"no samples for {provider!r} (known: {', '.join(PROVIDERS)})")
    return resources.files("whdebug") / "samples" / provider


def events(provider: str) -> list[str]:
    """The provider's sample events, sorted."""
    return sorted(item.name[:-5].replace("__", "/") for item in _folder(provider).iterdir()
                  if item.name.endswith(".json"))


def load_sample(provider: str, event: str) -> Sample:
    """The sample payload's exact bytes."""
    known = events(provider)
    if event not in known:
        raise SampleError(f"no {provider} sample for {event!r} (known: {', '.join(known)})")
    data = (_folder(provider) / (event.replace("/", "__") + ".json")).read_bytes()
    return Sample(provider, event, data)


def parse_reference(text: str) -> tuple[str, str]:
    """`github:pull_request.opened` -> (provider, event)."""
    provider, separator, event = text.partition(":")
    if not separator or not provider or not event:
        raise SampleError(f"expected PROVIDER:EVENT, got {text!r} (e.g. "
                          "github:pull_request.opened)")
    return provider, event


def _stable_uuid(*parts: str) -> str:
    return str(uuid.UUID(hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]))


def provider_headers(sample: Sample, now: datetime) -> list[tuple[str, str]]:
    """The headers the provider sends with this delivery (signature headers aside)."""
    event, seed = sample.event, sample.payload.decode("utf-8", "replace")
    stamp = str(int(now.timestamp()))
    delivery = _stable_uuid(sample.provider, event, stamp, seed)
    json_type = [("Content-Type", "application/json")]
    if sample.provider == "github":
        return [("User-Agent", "GitHub-Hookshot/044aadd"), *json_type,
                ("X-GitHub-Delivery", delivery), ("X-GitHub-Event", event.split(".")[0]),
                ("X-GitHub-Hook-ID", "292430182"),
                ("X-GitHub-Hook-Installation-Target-ID", "79929171"),
                ("X-GitHub-Hook-Installation-Target-Type", "repository")]
    if sample.provider == "shopify":
        return [*json_type, ("User-Agent", "Shopify-Captain-Hook"),
                ("X-Shopify-Topic", event), ("X-Shopify-Shop-Domain", "super-toys.myshopify.com"),
                ("X-Shopify-API-Version", "2025-10"), ("X-Shopify-Webhook-Id", delivery),
                ("X-Shopify-Event-Id", _stable_uuid("event", delivery)),
                ("X-Shopify-Triggered-At", now.isoformat().replace("+00:00", "Z"))]
    if sample.provider == "woocommerce":
        resource, _, action = event.partition(".")
        return [*json_type, ("User-Agent", "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)"),
                ("X-WC-Webhook-Source", "https://shop.example.de/"),
                ("X-WC-Webhook-Topic", event), ("X-WC-Webhook-Resource", resource),
                ("X-WC-Webhook-Event", action), ("X-WC-Webhook-ID", "12"),
                ("X-WC-Webhook-Delivery-ID", delivery.replace("-", ""))]
    if sample.provider == "salla":
        return [*json_type, ("X-Salla-Security-Strategy", "Signature")]
    if sample.provider == "slack":
        return [*json_type, ("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)"),
                ("X-Slack-Request-Timestamp", stamp)]
    if sample.provider == "stripe":
        return [("Content-Type", "application/json; charset=utf-8"),
                ("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")]
    return [*json_type, ("webhook-id", "msg_" + delivery.replace("-", "")[:27]),
            ("webhook-timestamp", stamp)]


def sample_request(sample: Sample, now: datetime, secret: str | None = None,
                   path: str = "/") -> CapturedRequest:
    """The request the provider sends: its headers, and its signature when `secret` is given."""
    from whdebug.tools.signing import sign_request

    headers = provider_headers(sample, now)
    if secret is not None:
        names = {name.lower(): name for name, _ in headers}
        message_id = next((value for name, value in headers if name == "webhook-id"), None)
        signed = sign_request(sample.payload, Definition({}), Secrets({"webhookSecret": secret}),
                              now=now, scheme=sample.provider, message_id=message_id)
        wanted = {name.lower() for name in signed.signature_headers} | {
            "x-salla-security-strategy"}
        for name, value in signed.request.headers:
            if name.lower() in wanted:
                if name.lower() in names:
                    headers = [(n, value if n.lower() == name.lower() else v)
                               for n, v in headers]
                else:
                    headers.append((name, value))
    headers.append(("Content-Length", str(len(sample.payload))))
    return CapturedRequest("POST", path, headers=tuple(headers), body=sample.payload,
                           body_size=len(sample.payload))


# --- one sample per trigger of a definition -----------------------------------------------------


def guess_provider(definition: Definition) -> str | None:
    """The provider a definition is written for: its signature header, else its names."""
    verification = definition.webhook.get("verification")
    header = verification.get("headerName") if isinstance(verification, dict) else None
    if isinstance(header, str) and header.lower() in SIGNATURE_HEADERS:
        return SIGNATURE_HEADERS[header.lower()]
    names = " ".join(str(definition.data.get(key, "")) for key in ("ns", "name", "type"))
    for provider in PROVIDERS:
        if provider.split("-")[0] in names.lower():
            return provider
    return None


def _base(provider: str | None, event: str) -> Sample | None:
    """The catalogue sample for `event`, else for its first part (`push` for `push.received`),
    else one of the same resource (`order.created` for `order.refunded`), else the provider's
    first sample."""
    if provider is None:
        return None
    known = events(provider)
    for candidate in (event, *(event.split(sep)[0] for sep in (".", "/", ":"))):
        if candidate in known:
            return load_sample(provider, candidate)
    words = event_words(event)  # `reaction.added`: Slack's `reaction_added`
    for alike in (list.__eq__, words_alike):  # `order.created`: Shopify's `orders/create`
        for name in known:
            if alike(event_words(name), words):
                return load_sample(provider, name)
    for separator in (".", "/", ":"):
        head = event.split(separator)[0] + separator
        related = [name for name in known if name.startswith(head)]
        if separator in event and related:
            return load_sample(provider, related[0])
    if len(words) > 1:  # `order.paid`: one of Shopify's `orders/...`
        related = [name for name in known if len(event_words(name)) > 1
                   and words_alike(event_words(name)[:1], words[:1])]
        if related:
            return load_sample(provider, related[0])
    return load_sample(provider, known[0])


def event_words(event: str) -> list[str]:
    """An event's words, whatever separates them."""
    return [word for word in re.split(r"[\s._/:,\-]+", event.lower()) if word]


def inflected(one: str, other: str) -> bool:
    """One word written as the other with a plural s or a past-tense d/ed (`order` for
    `orders`, `created` for Shopify's `create`)."""
    short, long = sorted((one, other), key=len)
    return long in (short + "s", short + "d", short + "ed")


def words_alike(ours: list[str], theirs: list[str]) -> bool:
    """The same words, each as written or `inflected`."""
    return len(ours) == len(theirs) > 0 and all(
        mine == delivered or inflected(mine, delivered)
        for mine, delivered in zip(ours, theirs, strict=True))


def _body_parts(definition: Definition, event: str) -> list[tuple[str, str]]:
    """(body path, value) pairs the payload must hold for the runtime to extract `event`."""
    extraction = definition.webhook.get("eventExtraction")
    if not isinstance(extraction, dict):
        return []
    composite = extraction.get("compositeStrategy")
    if isinstance(composite, dict):
        parts = composite.get("parts", extraction.get("parts"))
        separator = composite.get("separator")
        separator = "," if separator is None else str(separator)
        if not isinstance(parts, list) or not parts:
            return []
        pieces = event.split(separator, len(parts) - 1) if separator else [event]
        return [(str(part.get("path")), piece) for part, piece in zip(parts, pieces, strict=False)
                if isinstance(part, dict) and part.get("source", "body") == "body"]
    if extraction.get("source", "body") == "body" and isinstance(extraction.get("path"), str):
        return [(extraction["path"], event)]
    return []


def holds(document: Any, path: str) -> Any:
    """The value at a plain `$.a.b` path of a JSON document (None: not there)."""
    for key in path.split(".")[1:]:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def _put(document: dict[str, Any], path: str, value: str) -> None:
    keys = path.split(".")[1:]
    for key in keys[:-1]:
        child = document.get(key)
        if not isinstance(child, dict):
            child = document[key] = {}
        document = child
    document[keys[-1]] = value


@dataclass(frozen=True, slots=True)
class TriggerSample:
    event: str
    file_name: str
    payload: bytes
    based_on: str
    """`github:pull_request.opened`, or `generic` when whdebug has no sample."""
    notes: tuple[str, ...] = ()


def samples_for(definition: Definition) -> list[TriggerSample]:
    """One payload per trigger event, named `<event>.json` (`__` for `/`) as `check --samples`
    reads it: the event goes where eventExtraction reads it (a header part is set by `check`
    from the file name; a body part is written into the payload)."""
    provider = guess_provider(definition)
    result: list[TriggerSample] = []
    seen: set[str] = set()
    for trigger in definition.triggers:
        event = trigger.get("event") if isinstance(trigger, dict) else None
        if not isinstance(event, str) or not event or event in seen:
            continue
        seen.add(event)
        base = _base(provider, event)
        payload = base.payload if base is not None else b"{}"
        notes: list[str] = []
        parts = _body_parts(definition, event)
        if any(_holds_text(payload, path) != value for path, value in parts):
            document = json.loads(payload)
            for path, value in parts:
                if not _SIMPLE_PATH.match(path):
                    notes.append(f"cannot write {value!r} at {path}: not a plain $.a.b path")
                    continue
                _put(document, path, value)
            payload = json.dumps(document, ensure_ascii=False,
                                 separators=(",", ":")).encode("utf-8")
            notes.append("event written into the payload at " +
                         ", ".join(path for path, _ in parts))
        based_on = f"{base.provider}:{base.event}" if base is not None else "generic"
        result.append(TriggerSample(event, event.replace("/", "__") + ".json", payload,
                                    based_on, tuple(notes)))
    return result


def _holds_text(payload: bytes, path: str) -> Any:
    try:
        document = json.loads(payload)
    except ValueError:
        return None
    value = holds(document, path) if _SIMPLE_PATH.match(path) else None
    return value if isinstance(value, str) else None
