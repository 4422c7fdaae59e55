"""Edit a captured request and sign it again: `send --resign/--fresh-timestamp/--set-header`.

Pure: no I/O and no clock (the caller gives `now`). The signature headers the request
carries are recomputed over the (edited) body with the scheme they belong to (a provider
scheme recognised by its headers, else the definition's own `webhook.verification`) and the
secret the runtime resolves; every other header keeps its name, value and place. A
timestamped scheme (Slack, Stripe, Standard Webhooks/Svix) keeps the timestamp it was sent
with unless `fresh_timestamp`, which stamps `now` so the replay passes the provider
libraries' tolerance window. Karzoun's tenant webhooks carry no timestamp (PLATFORM.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from whdebug.errors import WhdebugError
from whdebug.model.definition import Definition
from whdebug.model.request import CapturedRequest, Secrets
from whdebug.tools.signing import KARZOUN_PREVIOUS, KARZOUN_SIGNATURE, sign_request

__all__ = ["Resigned", "edit_request", "parse_set_headers", "resign", "signed_schemes"]

SCHEME_HEADERS: dict[str, tuple[str, ...]] = {
    "slack": ("X-Slack-Request-Timestamp", "X-Slack-Signature"),
    "stripe": ("Stripe-Signature",),
    "standard-webhooks": ("webhook-id", "webhook-timestamp", "webhook-signature"),
    "karzoun": (KARZOUN_SIGNATURE, KARZOUN_PREVIOUS),
    "github": ("X-Hub-Signature-256", "X-Hub-Signature"),
    "shopify": ("X-Shopify-Hmac-Sha256",),
    "woocommerce": ("X-WC-Webhook-Signature",),
    "salla": ("X-Salla-Signature",),
}
"""The headers each provider scheme writes; the first of each is how it is recognised
(a request carries the scheme when it carries any of them)."""
TIMESTAMPED = ("slack", "stripe", "standard-webhooks")
_OPTIONAL = frozenset({"x-hub-signature", KARZOUN_PREVIOUS.lower()})
"""Headers re-signed only when the request already had them."""


@dataclass(frozen=True, slots=True)
class Resigned:
    """The edited request and what was signed again."""

    request: CapturedRequest
    schemes: tuple[str, ...]
    """Schemes signed again: provider names and/or `definition`."""
    headers: tuple[str, ...]
    """Header names whose values were recomputed."""
    timestamp: int | None
    """The timestamp a timestamped scheme was signed with."""
    secret_source: str | None
    secret_key: str | None
    secret_hint: str | None
    notices: tuple[str, ...] = ()


def parse_set_headers(pairs: Sequence[str]) -> list[tuple[str, str]]:
    """`--set-header K=V` (also `K:V`) arguments; a value is never echoed in an error."""
    parsed: list[tuple[str, str]] = []
    for number, pair in enumerate(pairs, 1):
        cut = min((index for index in (pair.find("="), pair.find(":")) if index > 0),
                  default=-1)
        name = pair[:cut].strip() if cut > 0 else ""
        if not name or any(char.isspace() for char in name):
            raise WhdebugError(f"--set-header: expected NAME=VALUE (argument {number})")
        parsed.append((name, pair[cut + 1:].strip()))
    return parsed


def _set(headers: list[tuple[str, str]], name: str, value: str) -> None:
    """Set `name` (case-insensitive) in place, keeping the name as sent; else append."""
    for index, (existing, _) in enumerate(headers):
        if existing.lower() == name.lower():
            headers[index] = (existing, value)
            return
    headers.append((name, value))


def edit_request(request: CapturedRequest, *, body: bytes | None = None,
                 set_headers: Sequence[tuple[str, str]] = ()) -> CapturedRequest:
    """`request` with a new body (its Content-Length updated) and headers set in place."""
    headers = list(request.headers)
    if body is not None:
        request = dataclasses.replace(request, body=body, body_size=len(body), truncated=False)
        if request.has_header("content-length"):
            _set(headers, "Content-Length", str(len(body)))
    for name, value in set_headers:
        _set(headers, name, value)
    return dataclasses.replace(request, headers=tuple(headers))


def signed_schemes(request: CapturedRequest, definition: Definition) -> list[str]:
    """The schemes whose signature headers `request` carries: provider schemes first, then
    `definition` when the definition's verification header is one no provider scheme writes."""
    found = [scheme for scheme, names in SCHEME_HEADERS.items()
             if any(request.has_header(name) for name in names)]
    if request.has_header("svix-signature") and "standard-webhooks" not in found:
        found.append("standard-webhooks")
    verification = definition.webhook.get("verification")
    header = verification.get("headerName") if isinstance(verification, dict) else None
    kind = verification.get("type") if isinstance(verification, dict) else None
    covered = {name.lower() for scheme in found for name in SCHEME_HEADERS[scheme]}
    if (isinstance(header, str) and header and kind not in (None, "none")
            and header.lower() not in covered):
        found.append("definition")
    return found


def _sent_timestamp(request: CapturedRequest, scheme: str) -> int | None:
    value: str | None = None
    if scheme == "slack":
        value = request.header("x-slack-request-timestamp")
    elif scheme == "stripe":
        stripe = request.header("stripe-signature") or ""
        value = next((item.split("=", 1)[1] for item in stripe.split(",")
                      if item.strip().startswith("t=")), None)
    elif scheme == "standard-webhooks":
        value = request.header("webhook-timestamp") or request.header("svix-timestamp")
    try:
        return int(value.strip()) if value is not None else None
    except ValueError:
        return None


def resign(request: CapturedRequest, definition: Definition, secrets: Secrets, *,
           now: datetime, fresh_timestamp: bool = False) -> Resigned:
    """`request` with its signature headers computed again over its body.

    Raises WhdebugError when the request carries no signature the definition or a provider
    scheme explains, or when the secret cannot be resolved (`SigningError`).
    """
    schemes = signed_schemes(request, definition)
    if not schemes:
        raise WhdebugError("nothing to re-sign: the request carries no signature header a "
                           "provider scheme writes and the definition verifies none")
    headers = list(request.headers)
    written: list[str] = []
    notices: list[str] = []
    stamp: int | None = None
    hint = source = key = None
    for scheme in schemes:
        moment = now
        if scheme in TIMESTAMPED:
            sent = _sent_timestamp(request, scheme)
            if not fresh_timestamp and sent is not None:
                moment = datetime.fromtimestamp(sent, UTC)
            stamp = int(moment.timestamp())
        message_id = (request.header("webhook-id") or request.header("svix-id")
                      if scheme == "standard-webhooks" else None)
        signed = sign_request(request.body, definition, secrets, now=moment,
                              scheme=None if scheme == "definition" else scheme,
                              message_id=message_id, place_event=False)
        key, source, hint = signed.secret_key, signed.secret_source, signed.secret_hint
        names = (signed.signature_headers if scheme == "definition"
                 else SCHEME_HEADERS[scheme])
        svix = scheme == "standard-webhooks" and request.has_header("svix-signature")
        for name in names:
            value = signed.request.header(name)
            if value is None or (name.lower() in _OPTIONAL and not request.has_header(name)):
                continue
            target = name.replace("webhook-", "svix-") if svix else name
            _set(headers, target, value)
            written.append(target)
        notices.extend(notice for notice in signed.notices if "signs more than" not in notice
                       and "not JSON" not in notice)
    if fresh_timestamp and stamp is None:
        notices.append("--fresh-timestamp: no timestamped scheme (Slack, Stripe, Standard "
                       "Webhooks) in this request, nothing re-stamped")
    result = dataclasses.replace(request, headers=tuple(headers))
    return Resigned(result, tuple(schemes), tuple(written), stamp, source, key, hint,
                    tuple(notices))
