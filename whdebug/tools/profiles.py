"""Built-in profiles: deliveries no MiniApp definition describes, such as Karzoun's own webhooks.

A profile is a definition built in code plus the checks the definition format cannot express.
`karzoun-tenant` verifies Karzoun's outbound workspace webhooks as the user's own server
receives them: `X-Karzoun-Signature-256: sha256=<hex>` over the raw body (and the
`-Previous` header during a 24-hour secret rotation), a static `Karzoun-token` header, and
the event at `$.event` of a versioned envelope. Credentials: `secret` (and `token`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from cryptography.hazmat.primitives import constant_time

from whdebug.engine.analyze import DEFAULT_OPTIONS, AnalysisOptions, analyze
from whdebug.engine.paths import Body, js_string, lookup, parse_body
from whdebug.engine.plan import compile_definition
from whdebug.engine.report import Finding, Outcome, Report, Step, finding
from whdebug.engine.signatures.digests import compute_hmac, strip_runtime_prefix
from whdebug.engine.signatures.secrets import resolve_secret
from whdebug.engine.steps.events import extract_event
from whdebug.engine.steps.transactions import DedupeIndex
from whdebug.errors import WhdebugError
from whdebug.model.definition import Definition
from whdebug.model.request import Capture, CapturedRequest, Secrets, as_capture
from whdebug.model.secrecy import SecretSet
from whdebug.tools.signing import (
    KARZOUN_PREVIOUS,
    KARZOUN_SIGNATURE,
    KARZOUN_TOKEN,
    KARZOUN_TOKEN_KEY,
)

KARZOUN_TENANT = "karzoun-tenant"
SECRET_KEY = "secret"
#: Where a tenant's server receives the webhooks in whdebug's own requests (any path works).
KARZOUN_TENANT_PATH = "/karzoun/webhooks"


@dataclass(frozen=True, slots=True)
class Profile:
    """A named, built-in way to verify one kind of delivery without a definition file."""

    name: str
    title: str
    definition: Definition
    scheme: str
    """The `whdebug sign --scheme` that produces such deliveries."""
    credentials: tuple[str, ...]
    """Credential keys the profile reads, for help texts."""


def _karzoun_tenant_definition() -> Definition:
    data: dict[str, Any] = {
        "ns": KARZOUN_TENANT,
        "version": "1.0.0",
        "status": "private",
        "name": "Karzoun tenant webhooks (outbound deliveries to your own server)",
        "auth": {
            "type": "apikey",
            "config": {SECRET_KEY: "", KARZOUN_TOKEN_KEY: ""},
            "sensitiveKeys": [SECRET_KEY, KARZOUN_TOKEN_KEY],
        },
        "triggers": [],
        "webhook": {
            "eventExtraction": {"source": "body", "path": "$.event"},
            "transactionId": {"paths": ["$.id"]},
            "verification": {
                "type": "hmac-sha256",
                "headerName": KARZOUN_SIGNATURE,
                "secretKey": SECRET_KEY,
                "encoding": "hex",
            },
        },
    }
    return Definition(
        data, path=f"<profile {KARZOUN_TENANT}>", extra={"webhookPath": KARZOUN_TENANT_PATH}
    )


PROFILES: dict[str, Profile] = {
    KARZOUN_TENANT: Profile(
        KARZOUN_TENANT,
        "Karzoun tenant webhooks",
        _karzoun_tenant_definition(),
        "karzoun",
        (SECRET_KEY, KARZOUN_TOKEN_KEY),
    ),
}


def get_profile(name: str) -> Profile:
    """The built-in profile called `name`."""
    profile = PROFILES.get(name)
    if profile is None:
        raise WhdebugError(f"unknown profile {name!r} (known: {', '.join(PROFILES)})")
    return profile


def analyze_profile(
    capture: Capture | CapturedRequest,
    profile: Profile,
    secrets: Secrets,
    *,
    now: datetime,
    options: AnalysisOptions = DEFAULT_OPTIONS,
    dedupe: DedupeIndex | None = None,
    show_secrets: bool = False,
) -> Report:
    """Analyse the capture as a delivery of `profile`; the report says which secret and token
    matched (`show_secrets`: credential-looking headers and parameters unmasked).

    The profile accepts every event: a verified delivery with an event "fires" that event.
    """
    capture = as_capture(capture)
    request = capture.request
    base = profile.definition
    body = parse_body(request)
    secret = resolve_secret(SECRET_KEY, base.auth_config, secrets)
    key = secret.nullish_value if options.nullish else secret.value
    matched = _matching_header(request, key) if key is not None else None
    token_state, token_finding = _check_token(request, base, secrets)
    event, _ = extract_event(compile_definition(base).event_extraction, request, body)
    definition = _definition_for(base, matched, event.value)
    report = analyze(
        capture,
        definition,
        secrets,
        now=now,
        options=options,
        dedupe=dedupe if token_finding is None else None,
        secret_set=SecretSet.build(definition, secrets).showing_names() if show_secrets else None,
    )
    findings = [item for item in report.findings if item.code != "REQ_WRONG_PATH"]
    steps = list(report.steps)
    signature = report.signature
    outcome = report.outcome
    if matched == "previous":
        findings.append(
            finding(
                "SIG_PREVIOUS_SECRET",
                f"your secret matches {KARZOUN_PREVIOUS}, not {KARZOUN_SIGNATURE}: Karzoun is "
                "rotating the webhook secret and still signs with the previous one for 24 hours",
                "copy the new secret from Karzoun's webhook settings into your server before the "
                "24-hour rotation window ends",
                step="verify",
            )
        )
        reason = f"matches {KARZOUN_PREVIOUS} with your secret: the previous secret of a rotation"
        signature = msgspec.structs.replace(signature, reason=reason)
        steps = [
            msgspec.structs.replace(step, reason=reason) if step.name == "verify" else step
            for step in steps
        ]
    elif matched == "current":
        reason = f"matches {KARZOUN_SIGNATURE} with your secret: the current secret"
        signature = msgspec.structs.replace(signature, reason=reason)
        steps = [
            msgspec.structs.replace(step, reason=reason) if step.name == "verify" else step
            for step in steps
        ]
    steps = [
        msgspec.structs.replace(step, reason=f"{step.reason} (the profile accepts every event)")
        if step.name == "match" and step.status == "pass"
        else step
        for step in steps
    ]
    verify_index = next((i for i, step in enumerate(steps) if step.name == "verify"), len(steps))
    steps.insert(verify_index + 1, _token_step(token_state))
    if token_finding is not None:
        findings.append(token_finding)
        if outcome.status != "rejected":
            outcome = Outcome(
                "rejected",
                401,
                (),
                f"rejected: {KARZOUN_TOKEN} does not match your token",
                {
                    "event": event.value,
                    "triggers": list(outcome.triggers),
                    "status": outcome.status,
                },
            )
            steps = steps[: verify_index + 2]
    findings.sort(key=_severity_rank)
    return msgspec.structs.replace(
        report,
        signature=signature,
        outcome=outcome,
        findings=tuple(findings),
        steps=tuple(steps),
        profile={
            "name": profile.name,
            "secret_matched": matched,
            "token": token_state,
            "envelope_version": _envelope_version(request, body),
        },
    )


def _matching_header(request: CapturedRequest, secret: str) -> str | None:
    """`current` or `previous`: which Karzoun signature header the secret reproduces."""
    computed = compute_hmac(secret.encode("utf-8"), "sha256", request.body).hex().encode()
    for label, header in (("current", KARZOUN_SIGNATURE), ("previous", KARZOUN_PREVIOUS)):
        for value in request.header_values(header):
            received = strip_runtime_prefix(value.strip()).encode("latin-1", "replace")
            if constant_time.bytes_eq(received, computed):
                return label
    return None


def _definition_for(base: Definition, matched: str | None, event: str | None) -> Definition:
    """The profile definition reading the matching header, with a trigger for any event."""
    data = dict(base.data)
    webhook = dict(data["webhook"])
    if matched == "previous":
        webhook["verification"] = {**webhook["verification"], "headerName": KARZOUN_PREVIOUS}
    data["webhook"] = webhook
    if event:
        data["triggers"] = [{"type": f"miniapps:{base.ns}", "event": event, "label": event}]
    return Definition(data, path=base.path, syntax=base.syntax, extra=base.extra)


def _check_token(
    request: CapturedRequest, definition: Definition, secrets: Secrets
) -> tuple[str, Finding | None]:
    """match | mismatch | missing | not-checked, and the finding when it blocks."""
    expected = resolve_secret(KARZOUN_TOKEN_KEY, definition.auth_config, secrets).value
    received = request.header(KARZOUN_TOKEN)
    if expected is None:
        return "not-checked", None
    if received is None:
        return "missing", finding(
            "SIG_TOKEN_MISMATCH",
            f"the request has no {KARZOUN_TOKEN} header, but you gave a token to check",
            f"check that the delivery comes from Karzoun; Karzoun sends {KARZOUN_TOKEN} on every "
            "tenant webhook",
            step="verify",
        )
    if constant_time.bytes_eq(
        received.encode("latin-1", "replace"), expected.encode("latin-1", "replace")
    ):
        return "match", None
    return "mismatch", finding(
        "SIG_TOKEN_MISMATCH",
        f"{KARZOUN_TOKEN} does not equal your token ({len(received)} chars received, "
        f"{len(expected)} expected)",
        f"copy the token from Karzoun's webhook settings (--credential {KARZOUN_TOKEN_KEY}=...)",
        step="verify",
    )


def _token_step(state: str) -> Step:
    if state == "match":
        return Step("token", "pass", f"{KARZOUN_TOKEN} equals your token")
    if state == "mismatch":
        return Step("token", "fail", f"{KARZOUN_TOKEN} differs from your token")
    if state == "missing":
        return Step("token", "fail", f"no {KARZOUN_TOKEN} header")
    return Step("token", "skip", f"not checked (give --credential {KARZOUN_TOKEN_KEY}=...)")


def _envelope_version(request: CapturedRequest, body: Body) -> str | None:
    found = lookup("body", "$.version", request, body)
    return js_string(found.value) if found.found and found.value is not None else None


_RANK = {"error": 0, "warning": 1, "info": 2}


def _severity_rank(item: Finding) -> int:
    return _RANK.get(item.severity, 3)
