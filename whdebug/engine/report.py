"""The report of one analysed request (SPEC section 5, `whdebug.report/1`) and its finding codes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

REPORT_SCHEMA = "whdebug.report/1"
SUMMARY_SCHEMA = "whdebug.summary/1"

Severity = Literal["error", "warning", "info"]
Status = Literal["fires", "rejected", "no-event", "no-trigger", "duplicate", "challenge"]

#: Every finding code the engine and `check` can produce, with its default severity.
FINDING_CODES: dict[str, Severity] = {
    # signature
    "SIG_HEADER_MISSING": "error",
    "SIG_NO_SECRET": "error",
    "SIG_EMPTY_CREDENTIAL": "warning",
    "SIG_WRONG_SECRET_SOURCE": "error",
    "SIG_ENCODING": "error",
    "SIG_ALGORITHM": "error",
    "SIG_UNSUPPORTED_SCHEME": "error",
    "SIG_BODY_MODIFIED": "error",
    "SIG_SECRET_FORMAT": "error",
    "SIG_HEX_CASE": "error",
    "SIG_OTHER_VALUE_MATCHES": "error",
    "SIG_MISMATCH": "error",
    "SIG_NOT_CONFIGURED": "warning",
    "SIG_TIMESTAMP_STALE": "warning",
    "SIG_PING": "info",
    "SIG_HEADER_NAME": "error",
    "SIG_CHALLENGE_ORDER": "info",
    # event
    "EVT_NOT_FOUND": "error",
    "EVT_FALLBACK_USED": "info",
    "EVT_PART_MISSING": "warning",
    "EVT_NOT_STRING": "info",
    "EVT_MULTIPLE_MATCHES": "warning",
    "EVT_NO_TRIGGER": "error",
    "EVT_NEAR_MISS": "error",
    "EVT_PATH_SUGGESTION": "info",
    "EVT_AMBIGUOUS_MATCH": "warning",
    "EVT_NO_SEPARATOR": "info",
    # other
    "CHALLENGE": "info",
    "TX_DUPLICATE": "warning",
    "TX_GENERATED": "warning",
    "TX_PATH_IS_HEADER": "warning",
    "TX_NOT_FOUND": "warning",
    "REQ_WRONG_PATH": "warning",
    "REQ_NOT_JSON": "warning",
    "REQ_BODY_TRUNCATED": "error",
    "REQ_FORM_BODY": "info",
    "REQ_CONTENT_TYPE": "warning",
    "CUS_NO_CODE": "warning",
    "SYNC_NO_HANDLER": "info",
    "SYNC_BAD_RECORD_TYPE": "error",
    "SYNC_NO_CODE": "error",
    # definition (`whdebug check`)
    "DEF_PARSE": "error",
    "DEF_SCHEMA": "error",
    "DEF_NS_FORMAT": "error",
    "DEF_VERSION": "error",
    "DEF_STATUS_PUBLIC": "error",
    "DEF_TRIGGER_TYPE": "error",
    "DEF_DUPLICATE_TRIGGER": "error",
    "DEF_SECRET_NOT_SENSITIVE": "error",
    "DEF_SECRET_IN_SUBMISSION": "error",
    "DEF_VERIFICATION_NONE": "warning",
    "DEF_BAD_JSONPATH": "error",
    "DEF_LEGACY_ECOMMERCE": "warning",
    "DEF_HANDLER_WITHOUT_TRIGGER": "warning",
    "DEF_SOURCE_KEY": "error",
    "DEF_XSOURCE_UNKNOWN": "error",
    "DEF_XSOURCE_NO_FALLBACK": "warning",
    # built-in profiles (`replay --profile karzoun-tenant`)
    "SIG_PREVIOUS_SECRET": "info",
    "SIG_TOKEN_MISMATCH": "error",
    # submission readiness (`check --samples`)
    "RDY_NO_SAMPLES": "error",
    "RDY_SAMPLE_UNREADABLE": "error",
    "RDY_SAMPLE_FIRES_NOTHING": "error",
    "RDY_TRIGGER_NO_SAMPLE": "error",
    "RDY_HANDLER_NO_TRIGGER": "error",
    "RDY_HANDLER_NO_STABLE_ID": "error",
    "RDY_HANDLER_NO_SAMPLE": "warning",
    "RDY_VERIFICATION_NONE": "error",
    "RDY_VERIFICATION_FAILS": "error",
    "RDY_STAND_IN_SECRET": "info",
    # auth and action lint (`whdebug check`, engine/check_auth.py)
    "DEF_PLACEHOLDER_UNRESOLVED": "error",
    "DEF_PARAM_UNRESOLVED": "error",
    "DEF_TOKEN_NOT_MAPPED": "error",
    "DEF_REFRESH_MISSING": "warning",
    "DEF_REDIRECT_URI": "error",
    "DEF_FUNCTION_UNKNOWN": "error",
    "DEF_MAPPING_STYLE": "error",
}

#: Codes that `analyze` on a definition never produces: profiles' and readiness findings.
PROFILE_AND_READINESS_CODES = frozenset(
    code for code in FINDING_CODES if code.startswith("RDY_")
) | {"SIG_PREVIOUS_SECRET", "SIG_TOKEN_MISMATCH"}


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: Severity
    message: str
    fix: str | None = None
    step: str | None = None
    """Pipeline step the finding belongs to: request, challenge, verify, extract, dedupe,
    customer, sync, match, or definition."""
    pointer: str | None = None
    """JSON pointer into the definition that the fix applies to, when there is one."""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
        }
        if self.step is not None:
            data["step"] = self.step
        if self.pointer is not None:
            data["pointer"] = self.pointer
        return data


def finding(
    code: str,
    message: str,
    fix: str | None = None,
    *,
    step: str | None = None,
    severity: Severity | None = None,
    pointer: str | None = None,
) -> Finding:
    """A finding with the code's default severity unless one is given."""
    return Finding(code, severity or FINDING_CODES[code], message, fix, step, pointer)


@dataclass(frozen=True, slots=True)
class SignedContent:
    """What was fed to the HMAC, described without repeating the whole body."""

    label: str
    length: int
    head_hex: str
    head_text: str

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "length": self.length,
            "head_hex": self.head_hex,
            "head_text": self.head_text,
        }


@dataclass(frozen=True, slots=True)
class Attempt:
    secret_source: str
    algorithm: str
    encoding: str
    content: str
    match: bool
    runtime: bool = False
    """True for the runtime's own attempt (always the first one)."""
    secret_variant: str = "as-is"
    secret_hint: str | None = None
    received_from: str | None = None
    received: str | None = None
    computed: str | None = None
    signed: SignedContent | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "secret_source": self.secret_source,
            "algorithm": self.algorithm,
            "encoding": self.encoding,
            "content": self.content,
            "match": self.match,
            "runtime": self.runtime,
            "secret_variant": self.secret_variant,
            "secret_hint": self.secret_hint,
            "received_from": self.received_from,
            "received": self.received,
            "computed": self.computed,
            "signed": self.signed.to_json() if self.signed else None,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class SecretStatus:
    resolved_from: str | None
    credentials: str
    auth_config: str
    hint: str | None = None
    nullish_outcome: str | None = None
    """What differs if the runtime used `??` instead of `||` (None when nothing does)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "resolved_from": self.resolved_from,
            "credentials": self.credentials,
            "auth_config": self.auth_config,
            "hint": self.hint,
            "nullish_outcome": self.nullish_outcome,
        }


@dataclass(frozen=True, slots=True)
class SignatureResult:
    type: str | None
    header: str | None
    encoding: str | None
    secret_key: str | None
    received: str | None
    secret: SecretStatus | None
    verdict: Literal["pass", "fail", "skipped"]
    reason: str
    attempts: tuple[Attempt, ...] = ()
    scheme: str | None = None
    """A provider signing scheme recognised in the headers (slack, stripe, ...)."""
    timestamp_age_seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "header": self.header,
            "encoding": self.encoding,
            "secret_key": self.secret_key,
            "received": self.received,
            "secret": self.secret.to_json() if self.secret else None,
            "verdict": self.verdict,
            "reason": self.reason,
            "attempts": [attempt.to_json() for attempt in self.attempts],
            "scheme": self.scheme,
            "timestamp_age_seconds": self.timestamp_age_seconds,
        }


@dataclass(frozen=True, slots=True)
class EventPart:
    source: str
    path: str
    found: bool
    value: str | None
    raw_type: str | None = None
    """JSON type of the value before JavaScript stringification."""

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "path": self.path, "found": self.found, "value": self.value}


@dataclass(frozen=True, slots=True)
class EventResult:
    value: str | None
    strategy: str
    """simple | fallback | composite | none"""
    used_fallback: bool
    parts: tuple[EventPart, ...]
    variants: dict[str, str] | None = None
    """Composite only: the value under each missing-part rule (empty, skip, undefined)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "strategy": self.strategy,
            "used_fallback": self.used_fallback,
            "parts": [part.to_json() for part in self.parts],
            "variants": self.variants,
        }


@dataclass(frozen=True, slots=True)
class NearMiss:
    event: str
    reason: str
    kind: str
    """case | separator | whitespace | spelling"""

    def to_json(self) -> dict[str, Any]:
        return {"event": self.event, "reason": self.reason, "kind": self.kind}


@dataclass(frozen=True, slots=True)
class PathSuggestion:
    event: str
    source: str
    path: str
    snippet: str

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "source": self.source,
            "path": self.path,
            "snippet": self.snippet,
        }


@dataclass(frozen=True, slots=True)
class TriggerResult:
    matched: tuple[str, ...] = ()
    ambiguous: tuple[str, ...] = ()
    near_misses: tuple[NearMiss, ...] = ()
    suggested_paths: tuple[PathSuggestion, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "matched": list(self.matched),
            "ambiguous": list(self.ambiguous),
            "near_misses": [miss.to_json() for miss in self.near_misses],
            "suggested_paths": [path.to_json() for path in self.suggested_paths],
        }


@dataclass(frozen=True, slots=True)
class TransactionResult:
    id: str | None
    generated: bool
    duplicate_of: str | int | None
    paths: tuple[str, ...] = ()
    override: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "generated": self.generated,
            "duplicate_of": self.duplicate_of,
            "paths": list(self.paths),
            "override": self.override,
        }


@dataclass(frozen=True, slots=True)
class CustomerResult:
    base_path: str
    found: bool
    fields: dict[str, Any]
    missing: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "base_path": self.base_path,
            "found": self.found,
            "fields": self.fields,
            "missing": list(self.missing),
        }


@dataclass(frozen=True, slots=True)
class SyncResult:
    handler: str | None
    shape: str | None
    """record (recordType + mapping) | resource (resource + dataPath) | None"""
    record_type: str | None
    operation: str | None
    code: str | None
    fields: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "handler": self.handler,
            "shape": self.shape,
            "record_type": self.record_type,
            "operation": self.operation,
            "code": self.code,
            "fields": self.fields,
        }


@dataclass(frozen=True, slots=True)
class ChallengeResult:
    detected: bool
    response_body: str | None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"detected": self.detected, "response_body": self.response_body, "note": self.note}


@dataclass(frozen=True, slots=True)
class Step:
    """One row of the pipeline: challenge, verify, extract, dedupe, match."""

    name: str
    status: Literal["pass", "fail", "warn", "skip"]
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    http_status: int
    triggers: tuple[str, ...]
    summary: str
    if_verified: dict[str, Any] | None = None
    """For a rejected request: the event and triggers once the signature passes."""

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "http_status": self.http_status,
            "triggers": list(self.triggers),
            "summary": self.summary,
            "if_verified": self.if_verified,
        }


@dataclass(frozen=True, slots=True)
class Report:
    source: dict[str, Any]
    request: dict[str, Any]
    definition: dict[str, Any]
    challenge: ChallengeResult
    signature: SignatureResult
    event: EventResult
    triggers: TriggerResult
    transaction: TransactionResult
    customer: CustomerResult | None
    sync: SyncResult | None
    outcome: Outcome
    findings: tuple[Finding, ...]
    steps: tuple[Step, ...] = ()
    assumptions: tuple[str, ...] = field(default=())
    body: bytes = field(default=b"", repr=False, compare=False)
    """The analysed body, kept so its SHA-256 is computed only when a report is serialised."""
    profile: dict[str, Any] | None = None
    """What a built-in profile checked beyond the definition (`"profile"` in JSON when set)."""

    @property
    def body_sha256(self) -> str:
        cached = self.request.get("body_sha256")
        if cached is None:
            cached = hashlib.sha256(self.body).hexdigest()
            self.request["body_sha256"] = cached
        return str(cached)

    @property
    def ok(self) -> bool:
        """Accepted and fired a trigger, or a correctly answered challenge (exit status 0)."""
        if self.outcome.status == "fires":
            return True
        if self.outcome.status == "challenge":
            return not any(f.code == "CHALLENGE" and f.severity == "error" for f in self.findings)
        return any(f.code == "SIG_PING" for f in self.findings)

    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": REPORT_SCHEMA,
            "source": self.source,
            "request": {**self.request, "body_sha256": self.body_sha256},
            "definition": self.definition,
            "challenge": self.challenge.to_json(),
            "signature": self.signature.to_json(),
            "event": self.event.to_json(),
            "triggers": self.triggers.to_json(),
            "transaction": self.transaction.to_json(),
            "customer": self.customer.to_json() if self.customer else None,
            "sync": self.sync.to_json() if self.sync else None,
            "outcome": self.outcome.to_json(),
            "findings": [f.to_json() for f in self.findings],
            "steps": [step.to_json() for step in self.steps],
            "assumptions": list(self.assumptions),
        } | ({"profile": self.profile} if self.profile is not None else {})


def summarize(reports: list[Report], trigger_events: list[str]) -> dict[str, Any]:
    """The closing `whdebug.summary/1` line of a replay."""
    outcomes: dict[str, int] = {}
    fired: set[str] = set()
    for report in reports:
        outcomes[report.outcome.status] = outcomes.get(report.outcome.status, 0) + 1
        fired.update(report.outcome.triggers)
    never = [event for event in trigger_events if event not in fired]
    return {
        "schema": SUMMARY_SCHEMA,
        "requests": len(reports),
        "outcomes": outcomes,
        "triggers_never_fired": never,
    }
