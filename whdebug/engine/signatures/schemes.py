"""Provider signing schemes the runtime cannot verify (Slack, Stripe, Standard Webhooks)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass

from whdebug.model.request import CapturedRequest

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
    contents: tuple[tuple[str, bytes], ...]
    """(label, signed bytes) pairs the provider may have signed."""
    candidates: tuple[tuple[str, str], ...]
    """(label, signature value) pairs found in the scheme's headers."""
    timestamp: str | None
    secret_transform: Callable[[str], list[tuple[str, bytes]]] | None = None
    description: str = ""


def standard_webhooks_keys(secret: str) -> list[tuple[str, bytes]]:
    stripped = secret.removeprefix("whsec_")
    variants: list[tuple[str, bytes]] = []
    try:
        variants.append(("whsec-base64-decoded", base64.b64decode(stripped, validate=True)))
    except (binascii.Error, ValueError):
        pass
    return variants


def detect_scheme(request: CapturedRequest) -> Scheme | None:
    """Slack v0, Stripe t=/v1= and Standard Webhooks/Svix, from their headers."""
    body = request.body
    slack = request.header("x-slack-signature")
    if slack is not None:
        timestamp = request.header("x-slack-request-timestamp") or ""
        values = tuple(
            ("X-Slack-Signature v0", v[3:]) for v in split_values(slack) if v.startswith("v0=")
        )
        return Scheme(
            "slack",
            "Slack (v0)",
            (("slack v0:{timestamp}:{body}", b"v0:" + timestamp.encode() + b":" + body),),
            values,
            timestamp or None,
            description="Slack signs 'v0:{timestamp}:{body}' and sends 'v0=<hex>'",
        )
    stripe = request.header("stripe-signature")
    if stripe is not None:
        fields = [item.split("=", 1) for item in stripe.split(",") if "=" in item]
        timestamp = next((v.strip() for k, v in fields if k.strip() == "t"), "")
        values = tuple(
            (f"Stripe-Signature {k.strip()}", v.strip())
            for k, v in fields
            if k.strip() in ("v1", "v0")
        )
        return Scheme(
            "stripe",
            "Stripe",
            (("stripe {timestamp}.{body}", timestamp.encode() + b"." + body),),
            values,
            timestamp or None,
            description="Stripe signs '{t}.{body}' and sends 't=<ts>,v1=<hex>'",
        )
    for prefix in ("webhook", "svix"):
        signature = request.header(f"{prefix}-signature")
        if signature is None:
            continue
        message_id = request.header(f"{prefix}-id") or ""
        timestamp = request.header(f"{prefix}-timestamp") or ""
        values = tuple(
            (f"{prefix}-signature v1", item.split(",", 1)[1])
            for item in signature.split()
            if item.startswith("v1,") and "," in item
        )
        signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
        return Scheme(
            "standard-webhooks",
            "Standard Webhooks" if prefix == "webhook" else "Svix (Standard Webhooks)",
            (("standard-webhooks {id}.{timestamp}.{body}", signed),),
            values,
            timestamp or None,
            standard_webhooks_keys,
            description="Standard Webhooks signs '{id}.{timestamp}.{body}' with the base64-decoded "
            "whsec_ secret and sends 'v1,<base64>'",
        )
    return None


def split_values(value: str) -> list[str]:
    return [item.strip() for item in re.split(r"[,\s]+", value) if item.strip()]
