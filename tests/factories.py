"""Build requests, definitions and signatures in one call, so tests read as their scenario."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from whdebug.engine import AnalysisOptions, DedupeIndex, Report, analyze
from whdebug.engine.plan import Plan
from whdebug.model.definition import Definition
from whdebug.model.request import Capture, CapturedRequest, ForwardResult, Reply, Secrets, Source

NOW = datetime(2025, 11, 24, 16, 0, 5, tzinfo=UTC)
SECRET = "test-webhook-secret"

BASE_DEFINITION: dict[str, Any] = {
    "ns": "acme",
    "version": "1.0.0",
    "status": "private",
    "auth": {"type": "apikey", "config": {"webhookSecret": ""}, "sensitiveKeys": ["webhookSecret"]},
    "triggers": [
        {"type": "miniapps:acme", "event": "contact.created"},
        {"type": "miniapps:acme", "event": "deal.won"},
    ],
    "webhook": {
        "eventExtraction": {"source": "body", "path": "$.event"},
        "transactionId": {"paths": ["$.id"]},
        "verification": {
            "type": "hmac-sha256",
            "headerName": "X-Signature",
            "secretKey": "webhookSecret",
            "encoding": "hex",
        },
    },
}


def make_definition(**webhook_overrides: Any) -> Definition:
    """The base definition with `webhook` keys replaced (None removes a key)."""
    data = copy.deepcopy(BASE_DEFINITION)
    for key, value in webhook_overrides.items():
        if key in ("triggers", "auth", "ns", "sync"):
            data[key] = value
        elif value is None:
            data["webhook"].pop(key, None)
        else:
            data["webhook"][key] = value
    return Definition(data)


def sign(
    body: bytes, secret: str | bytes = SECRET, scheme: str = "hex", algorithm: str = "sha256"
) -> str:
    """A signature as a provider computes it: hex, base64, or a prefixed github value."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, body, getattr(hashlib, algorithm)).digest()
    if scheme == "base64":
        return base64.b64encode(digest).decode()
    if scheme == "github":
        return f"{algorithm}=" + digest.hex()
    return digest.hex()


def make_request(
    body: bytes | dict[str, Any] | None = None,
    *,
    headers: list[tuple[str, str]] | None = None,
    signature: str | None = "auto",
    path: str = "/miniapps/acme/webhooks",
    method: str = "POST",
    query: str = "",
    content_type: str | None = "application/json",
    **fields: Any,
) -> CapturedRequest:
    """A request to the base definition, signed with SECRET unless told otherwise."""
    if body is None:
        body = {"event": "contact.created", "id": "evt-1"}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers: list[tuple[str, str]] = []
    if content_type:
        all_headers.append(("Content-Type", content_type))
    all_headers += headers or []
    if signature == "auto":
        all_headers.append(("X-Signature", sign(raw)))
    elif signature is not None:
        all_headers.append(("X-Signature", signature))
    return CapturedRequest(
        method=method, path=path, query=query, headers=tuple(all_headers), body=raw, **fields
    )


def make_capture(
    body: bytes | dict[str, Any] | None = None,
    *,
    capture_id: int | None = None,
    file: str | None = None,
    received_at: datetime | None = None,
    client: str | None = None,
    reply: Reply | None = None,
    forward: ForwardResult | None = None,
    **request_options: Any,
) -> Capture:
    """`make_request`'s request with where it came from and what was answered."""
    return Capture(make_request(body, **request_options),
                   Source(capture_id, file, received_at, client), reply, forward)


def run(
    request: CapturedRequest | Capture,
    definition: Definition | Plan | None = None,
    *,
    credentials: dict[str, str] | None = None,
    config: dict[str, str] | None = None,
    dedupe: DedupeIndex | None = None,
    now: datetime = NOW,
    **options: Any,
) -> Report:
    """Analyse with SECRET as the install's credential unless told otherwise."""
    secrets = Secrets(
        {"webhookSecret": SECRET} if credentials is None else credentials, config or {}
    )
    return analyze(
        request,
        definition or make_definition(),
        secrets,
        now=now,
        options=AnalysisOptions(**options),
        dedupe=dedupe,
    )
