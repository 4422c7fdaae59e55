"""Provider signing schemes the runtime cannot verify (Slack, Stripe, Standard Webhooks)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass

from whdebug.model.request import CapturedRequest

SCHEME_HEADERS = {
    "x-slack-signature": ("Slack", "'v0=<hex>' over 'v0:{timestamp}:{body}'"),
    "stripe-signature": ("Stripe", "'t=<timestamp>,v1=<hex>' over '{timestamp}.{body}'"),
    "webhook-signature": ("Standard Webhooks",
                          "'v1,<base64>' over '{id}.{timestamp}.{body}', keyed with the "
                          "base64-decoded whsec_ secret"),
    "svix-signature": ("Svix", "'v1,<base64>' over '{id}.{timestamp}.{body}', keyed with the "
                       "base64-decoded whsec_ secret"),
}
"""The signature headers of the schemes that sign more than the raw body (PLATFORM.md
section 9), lower-cased: who sends them and what."""

_SIGNATURE_WORDS = ("signature", "hmac", "-sig", "sig-", "token", "hub-")


def signature_like_headers(request: CapturedRequest) -> list[str]:
    """Names of headers that look like they carry a signature or token, in arrival order."""
    names: list[str] = []
    for name, _ in request.headers:
        lowered = name.lower()
        if lowered in ("authorization",) or any(word in lowered for word in _SIGNATURE_WORDS):
            if name not in names:
                names.append(name)
    return names


@dataclass(frozen=True, slots=True)
class Scheme:
    """A provider signing scheme recognised from the request headers."""

    name: str
    title: str
    label: str
    """How the signed content is built, e.g. 'stripe {timestamp}.{body}'."""
    frame: Callable[[bytes], bytes]
    """The bytes the provider signs around a body (a body variant goes through it too)."""
    candidates: tuple[tuple[str, str], ...]
    """(label, signature value) pairs found in the scheme's headers, in header order."""
    timestamp: str | None
    keys: Callable[[str], list[tuple[str, bytes]]]
    """The HMAC keys a secret string may give, the provider libraries' derivation first."""
    derivation: str = "the secret string as-is"
    """How the provider's libraries turn the secret into the HMAC key."""
    description: str = ""
    secret_help: str = ""
    """Where the right secret is found, and the usual wrong ones."""


def _as_is(secret: str) -> list[tuple[str, bytes]]:
    return [("as-is", secret.encode())]


def standard_webhooks_keys(secret: str) -> list[tuple[str, bytes]]:
    """The base64-decoded part after `whsec_` (the libraries' key), then the raw strings."""
    stripped = secret.removeprefix("whsec_")
    variants: list[tuple[str, bytes]] = []
    try:
        decoded = base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if decoded:
        name = "whsec-base64-decoded" if secret.startswith("whsec_") else "base64-decoded"
        variants.append((name, decoded))
    variants.append(("as-is", secret.encode()))
    if stripped != secret:
        variants.append(("whsec-stripped", stripped.encode()))
    return variants


def detect_scheme(request: CapturedRequest) -> Scheme | None:
    """Slack v0, Stripe t=/v1= and Standard Webhooks/Svix, from their headers and the shape
    of the values in them: a header of that name holding something else (a definition that
    verifies X-Slack-Signature as a plain HMAC of the body, as `whdebug sign` writes it) is
    no sign of the scheme."""
    slack = request.header("x-slack-signature")
    slack_items = [v[3:] for v in split_values(slack) if v.startswith("v0=")] if slack else []
    if slack_items:
        timestamp = request.header("x-slack-request-timestamp") or ""
        items = slack_items
        return Scheme(
            "slack",
            "Slack (v0)",
            "slack v0:{timestamp}:{body}",
            lambda body: b"v0:" + timestamp.encode() + b":" + body,
            _numbered("X-Slack-Signature v0", items),
            timestamp or None,
            _as_is,
            description="Slack signs 'v0:{timestamp}:{body}' and sends 'v0=<hex>'",
            secret_help="the Signing Secret under Basic Information > App Credentials (32 hex "
            "characters), not the deprecated Verification Token, the Client Secret or a "
            "xoxb-/xoxp- token",
        )
    stripe = request.header("stripe-signature")
    fields = [item.split("=", 1) for item in stripe.split(",") if "=" in item] if stripe else []
    if any(key.strip() in ("t", "v1", "v0") for key, _ in fields):
        timestamp = next((v.strip() for k, v in fields if k.strip() == "t"), "")
        items = [v.strip() for k, v in fields if k.strip() == "v1"]
        return Scheme(
            "stripe",
            "Stripe",
            "stripe {timestamp}.{body}",
            lambda body: timestamp.encode() + b"." + body,
            _numbered("Stripe-Signature v1", items),
            timestamp or None,
            _as_is,
            description="Stripe signs '{t}.{body}' and sends 't=<ts>,v1=<hex>'",
            secret_help="the endpoint's signing secret (whsec_...) from the Dashboard's webhook "
            "page; `stripe listen` prints its own whsec_ secret, test and live mode endpoints "
            "have different secrets, and an sk_/rk_ API key is not a signing secret",
        )
    for prefix in ("webhook", "svix"):
        signature = request.header(f"{prefix}-signature")
        if signature is None or not any(item.startswith(("v1,", "v1a,"))
                                        for item in signature.split()):
            continue
        message_id = request.header(f"{prefix}-id") or ""
        timestamp = request.header(f"{prefix}-timestamp") or ""
        items = [
            item.split(",", 1)[1] for item in signature.split() if item.startswith("v1,")
        ]
        head = message_id.encode() + b"." + timestamp.encode() + b"."
        return Scheme(
            "standard-webhooks",
            "Standard Webhooks" if prefix == "webhook" else "Svix (Standard Webhooks)",
            "standard-webhooks {id}.{timestamp}.{body}",
            _prefixed(head),
            _numbered(f"{prefix}-signature v1", items),
            timestamp or None,
            standard_webhooks_keys,
            derivation="the base64-decoded part after whsec_",
            description="Standard Webhooks signs '{id}.{timestamp}.{body}' with the "
            "base64-decoded whsec_ secret and sends 'v1,<base64>'",
            secret_help="the endpoint's signing secret (whsec_...) from the sender's webhook "
            "settings, whole, with its whsec_ prefix",
        )
    return None


def _prefixed(head: bytes) -> Callable[[bytes], bytes]:
    return lambda body: head + body


def _numbered(label: str, items: list[str]) -> tuple[tuple[str, str], ...]:
    if len(items) == 1:
        return ((label, items[0]),)
    return tuple((f"{label} ({i} of {len(items)})", v) for i, v in enumerate(items, 1))


def split_values(value: str) -> list[str]:
    return [item.strip() for item in re.split(r"[,\s]+", value) if item.strip()]
