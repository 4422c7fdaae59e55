"""Build a webhook request as a provider sends it: the exact body, signed, with its event.

Pure: no I/O and no clock; timestamps come from the caller's `now`. The definition's own
`webhook.verification` is used unless a provider scheme is named, in which case the request
carries that provider's real headers (Slack `v0`, Stripe `t=,v1=`, Standard Webhooks, ...),
so `whdebug replay` shows what the runtime makes of such a delivery.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from whdebug import __version__
from whdebug.engine.paths import MISSING, js_string, lookup, parse_body
from whdebug.engine.plan import compile_definition
from whdebug.engine.signatures.digests import TYPE_ALGORITHM, compute_hmac, encode_digest
from whdebug.engine.signatures.secrets import resolve_secret, secret_hint
from whdebug.engine.steps.events import extract_event
from whdebug.errors import WhdebugError
from whdebug.formats.capture_json import decode_base64
from whdebug.model.definition import Definition
from whdebug.model.request import CapturedRequest, Secrets

SCHEMES = (
    "github",
    "shopify",
    "woocommerce",
    "salla",
    "slack",
    "stripe",
    "standard-webhooks",
    "karzoun",
)
#: Schemes that sign only the raw body, so the runtime's HMAC check can verify them.
RUNTIME_SCHEMES = ("github", "shopify", "woocommerce", "salla", "karzoun")
#: Header names whose providers put `sha256=` / `sha1=` in front of the hex digest.
PREFIXED_HEADERS = frozenset(
    {
        "x-hub-signature-256",
        "x-hub-signature",
        "x-karzoun-signature-256",
        "x-karzoun-signature-256-previous",
    }
)
KARZOUN_SIGNATURE = "X-Karzoun-Signature-256"
KARZOUN_PREVIOUS = KARZOUN_SIGNATURE + "-Previous"
KARZOUN_TOKEN = "Karzoun-token"
#: Credential keys the karzoun scheme reads besides the signing secret.
KARZOUN_TOKEN_KEY = "token"
KARZOUN_PREVIOUS_KEY = "previous_secret"
DEFAULT_SECRET_KEY = "webhookSecret"
_FORM = re.compile(rb"^[\w.%+~*-]+=[^&=]*(?:&[\w.%+~*-]+=[^&=]*)*$")


class SigningError(WhdebugError):
    """A request that cannot be built as asked (no secret, event not in the payload, ...)."""


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """The built request and what went into it (secret source and hint, never the secret)."""

    request: CapturedRequest
    scheme: str
    """`definition` (the definition's own verification) or a provider scheme name."""
    signature_headers: tuple[str, ...]
    secret_key: str | None
    secret_source: str | None
    """credentials | auth.config | None (unsigned)."""
    secret_hint: str | None
    event: str | None
    """The event the runtime extracts from the built request (None when it finds none)."""
    notices: tuple[str, ...] = ()
    """Things the user should know: an unverifiable scheme, a different extracted event, ..."""


@dataclass(slots=True)
class _Draft:
    """The request being assembled."""

    body: bytes
    headers: list[tuple[str, str]]
    query: list[tuple[str, str]]
    notices: list[str]

    def set_header(self, name: str, value: str) -> None:
        """Set `name` (case-insensitive), replacing an earlier value in place."""
        for index, (existing, _) in enumerate(self.headers):
            if existing.lower() == name.lower():
                self.headers[index] = (name, value)
                return
        self.headers.append((name, value))


def sign_request(
    payload: bytes,
    definition: Definition,
    secrets: Secrets,
    *,
    now: datetime,
    event: str | None = None,
    scheme: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    nullish: bool = False,
    missing_part: str = "empty",
    message_id: str | None = None,
    place_event: bool = True,
) -> SignedRequest:
    """The request a provider would send with `payload` as its exact body.

    `headers` are added last and replace generated headers of the same name. Without
    `place_event` (a re-signature: the request keeps its own event), no event is chosen,
    placed or checked. Raises
    SigningError when the request cannot be what was asked for.
    """
    if scheme is not None and scheme not in SCHEMES:
        raise SigningError(f"unknown scheme {scheme!r} (known: {', '.join(SCHEMES)})")
    draft = _Draft(payload, [("Content-Type", _content_type(payload))], [], [])
    draft.set_header("User-Agent", f"whdebug-sign/{__version__} ({scheme or 'definition'})")
    if not draft.headers[0][1].startswith(("application/json", "application/x-www-form")):
        draft.notices.append(
            "the payload is not JSON: body paths (eventExtraction, transactionId) find nothing"
        )
    if scheme is None:
        signed = _sign_as_definition(draft, definition, secrets, nullish)
    else:
        signed = _sign_as_scheme(draft, scheme, definition, secrets, now, nullish, message_id)
    signature_headers, key, source, hint = signed
    if place_event and event is None and event_outside_body(definition) and not (
            _event_given(payload, headers, definition, missing_part)):
        event = _first_fitting_event(draft, definition, missing_part)
    if place_event and event is not None:
        _place_event(draft, definition, event)
    draft.set_header("Content-Length", str(len(payload)))
    for name, value in headers:
        draft.set_header(name, value)
    path = definition.extra.get("webhookPath") or definition.webhook_path or "/"
    request = CapturedRequest(
        method="POST",
        path=str(path),
        query=urlencode(draft.query),
        headers=tuple(draft.headers),
        body=payload,
        body_size=len(payload),
    )
    extracted = (_check_event(request, definition, event, missing_part, draft.notices)
                 if place_event else None)
    return SignedRequest(
        request=request,
        scheme=scheme or "definition",
        signature_headers=signature_headers,
        secret_key=key,
        secret_source=source,
        secret_hint=hint,
        event=extracted,
        notices=tuple(draft.notices),
    )


def _content_type(payload: bytes) -> str:
    """What the provider would declare for this body."""
    try:
        json.loads(payload)
    except (ValueError, RecursionError):
        pass
    else:
        return "application/json"
    if _FORM.match(payload.strip()):
        return "application/x-www-form-urlencoded"
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain; charset=utf-8"


# --- secrets ------------------------------------------------------------------------------------

_Signed = tuple[tuple[str, ...], str | None, str | None, str | None]


def _secret(
    key: str, definition: Definition, secrets: Secrets, nullish: bool, notices: list[str]
) -> tuple[str, str]:
    """The secret the runtime would use for `key`, and where it came from."""
    resolution = resolve_secret(key, definition.auth_config, secrets)
    value = resolution.nullish_value if nullish else resolution.value
    if value is None:
        raise SigningError(
            f"no secret to sign with: credentials.{key} is {resolution.credentials} and "
            f"auth.config.{key} is {resolution.auth_config}; give --credential {key}=... "
            f"(the install's value) or --config {key}=..."
        )
    source = resolution.resolved_from or "credentials"
    if value == "":
        notices.append(
            f"signing with an empty secret: under ?? the runtime keeps the empty "
            f"credentials.{key}"
        )
    return value, source


def _secret_key(definition: Definition) -> str:
    verification = definition.webhook.get("verification")
    key = verification.get("secretKey") if isinstance(verification, dict) else None
    return key if isinstance(key, str) and key else DEFAULT_SECRET_KEY


# --- the definition's own verification --------------------------------------------------------


def _sign_as_definition(
    draft: _Draft, definition: Definition, secrets: Secrets, nullish: bool
) -> _Signed:
    verification = definition.webhook.get("verification")
    config = verification if isinstance(verification, dict) else {}
    kind = config.get("type")
    if not config or kind in (None, "none"):
        draft.notices.append(
            "the definition does not verify signatures (no webhook.verification or type "
            '"none"): the request is sent unsigned'
        )
        return (), None, None, None
    if kind not in ("hmac-sha256", "hmac-sha1", "header-token"):
        raise SigningError(
            f"webhook.verification.type {kind!r} is not one the runtime knows "
            "(hmac-sha256, hmac-sha1, header-token, none)"
        )
    header = config.get("headerName")
    if not isinstance(header, str) or not header:
        raise SigningError("webhook.verification.headerName is not set: nowhere to put it")
    key = config.get("secretKey")
    if not isinstance(key, str) or not key:
        raise SigningError("webhook.verification.secretKey is not set: no secret to sign with")
    secret, source = _secret(key, definition, secrets, nullish, draft.notices)
    if kind == "header-token":
        draft.set_header(header, secret)
        return (header,), key, source, secret_hint(secret)
    algorithm = TYPE_ALGORITHM[kind]
    encoding = "base64" if config.get("encoding") == "base64" else "hex"
    value = encode_digest(compute_hmac(secret.encode("utf-8"), algorithm, draft.body), encoding)
    if header.lower() in PREFIXED_HEADERS:
        value = f"{algorithm}={value}"
    draft.set_header(header, value)
    return (header,), key, source, secret_hint(secret)


# --- provider schemes --------------------------------------------------------------------------


def _hex(secret: str | bytes, algorithm: str, content: bytes) -> str:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return compute_hmac(key, algorithm, content).hex()


def _base64(secret: str | bytes, content: bytes) -> str:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return encode_digest(compute_hmac(key, "sha256", content), "base64")


def _standard_key(secret: str) -> bytes:
    """Standard Webhooks' key: the bytes base64-encoded after the `whsec_` prefix."""
    try:
        return decode_base64(secret.removeprefix("whsec_"))
    except ValueError:
        raise SigningError(
            "a Standard Webhooks secret is 'whsec_' followed by base64 (the provider shows it "
            "so); this secret is not"
        ) from None


def _sign_as_scheme(
    draft: _Draft,
    scheme: str,
    definition: Definition,
    secrets: Secrets,
    now: datetime,
    nullish: bool,
    message_id: str | None,
) -> _Signed:
    key = _secret_key(definition)
    secret, source = _secret(key, definition, secrets, nullish, draft.notices)
    body = draft.body
    timestamp = str(int(now.timestamp()))
    signed: list[tuple[str, str]]
    if scheme == "github":
        signed = [
            ("X-Hub-Signature-256", "sha256=" + _hex(secret, "sha256", body)),
            ("X-Hub-Signature", "sha1=" + _hex(secret, "sha1", body)),
        ]
    elif scheme == "shopify":
        signed = [("X-Shopify-Hmac-Sha256", _base64(secret, body))]
    elif scheme == "woocommerce":
        signed = [("X-WC-Webhook-Signature", _base64(secret, body))]
    elif scheme == "salla":
        draft.set_header("X-Salla-Security-Strategy", "Signature")
        signed = [("X-Salla-Signature", _hex(secret, "sha256", body))]
    elif scheme == "slack":
        content = b"v0:" + timestamp.encode() + b":" + body
        signed = [
            ("X-Slack-Request-Timestamp", timestamp),
            ("X-Slack-Signature", "v0=" + _hex(secret, "sha256", content)),
        ]
    elif scheme == "stripe":
        content = timestamp.encode() + b"." + body
        signed = [("Stripe-Signature", f"t={timestamp},v1={_hex(secret, 'sha256', content)}")]
    elif scheme == "standard-webhooks":
        identifier = message_id or _message_id(body, timestamp)
        content = f"{identifier}.{timestamp}.".encode() + body
        signed = [
            ("webhook-id", identifier),
            ("webhook-timestamp", timestamp),
            ("webhook-signature", "v1," + _base64(_standard_key(secret), content)),
        ]
    else:
        signed = _karzoun(draft, definition, secrets, secret, nullish)
    for name, value in signed:
        draft.set_header(name, value)
    names = tuple(name for name, _ in signed if name != KARZOUN_TOKEN)
    _scheme_notices(draft, scheme, definition, names)
    return names, key, source, secret_hint(secret)


def _karzoun(
    draft: _Draft, definition: Definition, secrets: Secrets, secret: str, nullish: bool
) -> list[tuple[str, str]]:
    """Karzoun's outbound tenant webhooks: current and (rotating) previous signature, token."""
    signed = [(KARZOUN_SIGNATURE, "sha256=" + _hex(secret, "sha256", draft.body))]
    previous = resolve_secret(KARZOUN_PREVIOUS_KEY, definition.auth_config, secrets).value
    if previous:
        signed.append((KARZOUN_PREVIOUS, "sha256=" + _hex(previous, "sha256", draft.body)))
    token = resolve_secret(KARZOUN_TOKEN_KEY, definition.auth_config, secrets)
    value = token.nullish_value if nullish else token.value
    if value is not None:
        signed.append((KARZOUN_TOKEN, value))
    return signed


def _message_id(body: bytes, timestamp: str) -> str:
    """A stable `msg_` id, so signing the same payload at the same time gives the same bytes."""
    return "msg_" + hashlib.sha256(timestamp.encode() + b"." + body).hexdigest()[:27]


def _scheme_notices(
    draft: _Draft, scheme: str, definition: Definition, names: tuple[str, ...]
) -> None:
    verification = definition.webhook.get("verification")
    header = verification.get("headerName") if isinstance(verification, dict) else None
    if scheme not in RUNTIME_SCHEMES:
        draft.notices.append(
            f"{scheme} signs more than the raw body; the runtime verifies only an HMAC of the "
            "raw body, so it rejects this delivery (replay shows SIG_UNSUPPORTED_SCHEME)"
        )
    elif isinstance(header, str) and header.lower() not in {name.lower() for name in names}:
        draft.notices.append(
            f"the definition reads the signature from {header}, but a {scheme} delivery "
            f"carries {', '.join(names)}: the runtime rejects it"
        )


# --- the event ---------------------------------------------------------------------------------


def _event_lookups(definition: Definition) -> list[dict[str, Any]]:
    """The lookups that make the event: the composite parts, or the primary lookup."""
    extraction = definition.webhook.get("eventExtraction")
    if not isinstance(extraction, dict):
        return []
    composite = extraction.get("compositeStrategy")
    if isinstance(composite, dict):
        parts = composite.get("parts", extraction.get("parts"))
        return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []
    return [extraction]


def event_outside_body(definition: Definition) -> bool:
    """The event (or a part of it) is read from a header or the query string, where a
    payload alone cannot carry it."""
    return any(item.get("source") in ("header", "query") for item in _event_lookups(definition))


def _event_given(payload: bytes, headers: Sequence[tuple[str, str]], definition: Definition,
                 missing_part: str) -> bool:
    """The headers given (a sample's, as its provider sends them, or --header) carry every
    part of the event the runtime reads outside the body: nothing to choose or place."""
    extraction = compile_definition(definition).event_extraction
    if extraction is None or not headers:
        return False
    probe = CapturedRequest(method="POST", path="/", headers=tuple(headers), body=payload)
    result, _ = extract_event(extraction, probe, parse_body(probe), missing_part)
    parts_found = all(part.found for part in result.parts) if result.parts else True
    return result.value is not None and parts_found


def _first_fitting_event(draft: _Draft, definition: Definition,
                         missing_part: str) -> str | None:
    """Without --event: the first trigger event this payload can carry (with a notice), or
    None with a notice naming what the runtime would extract instead."""
    extraction = compile_definition(definition).event_extraction
    events = list(dict.fromkeys(definition.trigger_events))
    where = event_location(definition)
    for candidate in events:
        trial = _Draft(draft.body, list(draft.headers), list(draft.query), [])
        try:
            _place_event(trial, definition, candidate)
        except SigningError:
            continue
        probe = CapturedRequest(method="POST", path="/", query=urlencode(trial.query),
                                headers=tuple(trial.headers), body=draft.body)
        result, _ = extract_event(extraction, probe, parse_body(probe), missing_part)
        if result.value == candidate:
            draft.notices.append(
                f"no --event given and the event is read from {where}: signed for the first "
                f"trigger whose event fits this payload, {candidate!r} (give --event to sign "
                "another)")
            return candidate
    listed = ", ".join(repr(event) for event in events) or "none"
    draft.notices.append(
        f"no --event given, the event is read from {where}, and no trigger's event fits this "
        f"payload (triggers: {listed}): give --event")
    return None


def event_location(definition: Definition) -> str:
    """Where eventExtraction reads the event outside the body: `header X-WC-Webhook-Topic`."""
    return " and ".join(f"{item.get('source')} {item.get('path')}"
                        for item in _event_lookups(definition)
                        if item.get("source") in ("header", "query"))



def _place_event(draft: _Draft, definition: Definition, event: str) -> None:
    """Put `event` where eventExtraction reads it; a body location must already hold it."""
    extraction = definition.webhook.get("eventExtraction")
    if not isinstance(extraction, dict):
        raise SigningError(
            f"--event {event!r}: the definition has no webhook.eventExtraction, so the runtime "
            "reads no event"
        )
    probe = CapturedRequest(
        method="POST", path="/", headers=tuple(draft.headers), body=draft.body
    )
    body = parse_body(probe)

    def body_value(path: Any) -> str | None:
        found = lookup("body", path if isinstance(path, str) else "", probe, body)
        if not found.found or found.value is None or found.value is MISSING:
            return None
        return js_string(found.value)

    composite = extraction.get("compositeStrategy")
    if isinstance(composite, dict):
        _place_composite(draft, composite, extraction, event, body_value)
        return
    source, path = extraction.get("source", "body"), extraction.get("path")
    if source in ("header", "query"):
        _put(draft, source, path, event)
        return
    held = body_value(path)
    if held == event:
        return
    fallback = extraction.get("fallback")
    if not held and isinstance(fallback, dict):
        fb_source, fb_path = fallback.get("source", "body"), fallback.get("path")
        if fb_source in ("header", "query"):
            _put(draft, fb_source, fb_path, event)
            draft.notices.append(
                f"the payload has nothing at {path}, so the runtime reads the event from the "
                f"fallback {fb_source} {fb_path}, where it was put"
            )
            return
        if body_value(fb_path) == event:
            return
    raise SigningError(_not_in_payload(event, str(path), held))


def _place_composite(
    draft: _Draft,
    composite: dict[str, Any],
    extraction: dict[str, Any],
    event: str,
    body_value: Callable[[Any], str | None],
) -> None:
    parts = composite.get("parts", extraction.get("parts"))
    if not isinstance(parts, list) or not parts:
        raise SigningError(f"--event {event!r}: compositeStrategy has no parts")
    separator = composite.get("separator")
    separator_text = "," if separator is None else js_string(separator)
    pieces = event.split(separator_text, len(parts) - 1) if separator_text else [event]
    for index, raw in enumerate(parts):
        part = raw if isinstance(raw, dict) else {}
        source, path = part.get("source", "body"), part.get("path")
        piece = pieces[index] if index < len(pieces) else None
        if source in ("header", "query"):
            if piece is not None:
                _put(draft, source, path, piece)
            continue
        held = body_value(path)
        if piece is None and held:
            raise SigningError(
                f"--event {event!r}: composite part {index + 1} is read from body {path}, "
                f"which holds {held!r} in this payload, so the event would continue with "
                f"{separator_text}{held}; remove it from the payload or include it in --event"
            )
        if piece is not None and held != piece:
            raise SigningError(
                f"--event {event!r}: composite part {index + 1} ({piece!r}) is read from body "
                f"{path}; " + _not_in_payload(piece, str(path), held, prefix=False)
            )


def _put(draft: _Draft, source: str, path: Any, value: str) -> None:
    if not isinstance(path, str) or not path:
        raise SigningError(f"eventExtraction reads a {source} without a name (path is empty)")
    if source == "header":
        draft.set_header(path, value)
    else:
        draft.query.append((path, value))


def _not_in_payload(event: str, path: str, held: str | None, *, prefix: bool = True) -> str:
    """Why the payload cannot carry `event` at `path`, and what to change."""
    if prefix:
        start = f"--event {event!r}: the event is read from body {path}, which "
    else:
        start = f"{path} "
    state = "is missing" if held is None else f"holds {held!r}"
    return (
        f"{start}{state} in this payload; sign never changes the body bytes, so put "
        f"{event!r} at {path} in the payload"
    )


def _check_event(
    request: CapturedRequest,
    definition: Definition,
    event: str | None,
    missing_part: str,
    notices: list[str],
) -> str | None:
    """The event the runtime extracts from the built request; a notice when it is not `event`."""
    extraction = compile_definition(definition).event_extraction
    if extraction is None:
        return None
    result, _ = extract_event(extraction, request, parse_body(request), missing_part)
    if event is not None and result.value != event:
        notices.append(
            f"the runtime extracts {result.value!r} from this request, not {event!r}"
            + (
                f" (a missing composite part joins as {missing_part!r})"
                if result.strategy == "composite"
                else ""
            )
        )
    return result.value
