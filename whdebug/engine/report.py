"""The one finding-code registry, and the report of one analysed request (SPEC section 5,
`whdebug.report/1`) with the result types it is made of.

Result types are frozen dataclasses or msgspec Structs whose fields are their JSON keys, in
order; `report_json` and `msgspec.to_builtins` turn them into JSON-ready builtins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from whdebug.engine.patches import PatchOp
from whdebug.model.records import fast_init

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
    "SIG_SCHEME_VERIFIED": "info",
    "SIG_SCHEME_MISMATCH": "error",
    "SIG_SECRET_KIND": "error",
    "SIG_SIGNATURE_PREFIX": "error",
    "SIG_HEADER_EMPTY": "error",
    "SIG_ROTATED_SECRET": "warning",
    "SIG_TIMESTAMP_MILLISECONDS": "warning",
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
    # an id beyond 2**53: JSON.parse rounds it; an error once two different ids collide
    "TX_UNSAFE_INTEGER": "warning",
    "TX_GENERATED": "warning",
    "TX_PATH_IS_HEADER": "warning",
    "TX_NOT_FOUND": "warning",
    # the request never reaches the MiniApp: these lead the report
    "REQ_WRONG_PATH": "error",
    # not POST: the runtime takes webhook deliveries as POST only
    "REQ_WRONG_METHOD": "error",
    "REQ_NOT_JSON": "warning",
    "REQ_BODY_TRUNCATED": "error",
    # a Content-Length that is not the body's size (hand-edited .http files)
    "REQ_LENGTH_MISMATCH": "warning",
    "REQ_FORM_BODY": "info",
    "REQ_CONTENT_TYPE": "warning",
    "REQ_BODY_NOT_UTF8": "warning",
    "REQ_LONE_SURROGATE": "warning",
    "REQ_BODY_TOO_DEEP": "warning",
    "CUS_NO_CODE": "warning",
    "SYNC_NO_HANDLER": "info",
    "SYNC_BAD_RECORD_TYPE": "error",
    "SYNC_NO_CODE": "error",
    # the app behind `serve --forward-to` (engine/forwarding.py)
    "APP_STATUS_DIFFERS": "warning",
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
    # the document schema (`whdebug check`, engine/lint/document.py; docs/lint.md)
    "DEF_ASSET_NOT_HTTPS": "error",
    "DEF_CATEGORY_UNKNOWN": "error",
    "DEF_AUTH_MISSING": "error",
    "DEF_WEBHOOK_ABSENT": "info",
    "DEF_SECRET_NO_PRODUCER": "error",
    "DEF_REQUEST_INCOMPLETE": "error",
    "DEF_TRIGGER_UNREACHABLE": "warning",
    "DEF_TX_NOT_PER_DELIVERY": "warning",
    "DEF_TX_PATHS_NOT_JOINED": "info",
    "DEF_SCHEME_UNVERIFIABLE": "error",
}

#: Codes of the troubleshooting commands (urls, source, sync); never in a webhook report.
TROUBLESHOOTING_CODES: dict[str, Severity] = {
    # whdebug urls
    "URL_API_TRAILING_SLASH": "warning",
    "URL_API_PATH": "warning",
    "URL_API_QUERY": "warning",
    "URL_API_NOT_HTTPS": "warning",
    "URL_NOT_USED": "info",
    # whdebug source (offline and --call)
    "SRC_NOT_JSON": "error",
    "SRC_ERROR_BODY": "error",
    "SRC_DATAPATH_MISSING": "error",
    "SRC_NOT_ARRAY": "error",
    "SRC_EMPTY": "warning",
    "SRC_ITEM_NOT_OBJECT": "error",
    "SRC_VALUE_MISSING": "error",
    "SRC_LABEL_MISSING": "warning",
    "SRC_DUPLICATE_VALUE": "warning",
    "SRC_DUPLICATE_LABEL": "info",
    "SRC_PLACEHOLDER_EMPTY": "error",
    "SRC_UNAUTHORIZED": "error",
    "SRC_HTTP_STATUS": "error",
    "SRC_REDIRECT_BLOCKED": "error",
    "SRC_REDIRECT_INVALID": "error",
    "SRC_TIMEOUT": "error",
    "SRC_CONNECTION": "error",
    # whdebug sync
    "SYNC_UNSTABLE_CODE": "error",
    "SYNC_TRANSFORM_UNKNOWN": "warning",
    "SYNC_COMPUTE_NOT_EVALUATED": "info",
    "SYNC_FIELD_EMPTY": "info",
    "SYNC_NO_HANDLERS": "error",
    "SYNC_UNSAFE_INTEGER": "warning",
    # whdebug list --by delivery (tools/retries.py: each provider's retry policy)
    "DLV_WILL_RETRY": "info",
    "DLV_NO_RETRY": "warning",
    "DLV_GAVE_UP": "error",
    "DLV_TOO_SLOW": "warning",
    "DLV_RETRY_UNKNOWN": "info",
}

#: Codes of `check NEW --previous OLD` (tools/update.py): an update judged against the
#: approved definition; never in a webhook report.
UPDATE_CODES: dict[str, Severity] = {
    "UPD_VERSION_NOT_BUMPED": "error",
    "UPD_VERSION_NOT_SEMVER": "error",
    "UPD_VERSION_NOT_MAJOR": "warning",
    "UPD_NS_CHANGED": "error",
    "UPD_TRIGGER_REMOVED": "error",
    "UPD_VERIFICATION_CHANGED": "error",
    "UPD_REAUTH_REQUIRED": "warning",
    "UPD_OUTCOME_CHANGED": "error",
    "UPD_TRANSACTION_ID_CHANGED": "warning",
    "UPD_NOT_REPLAYED": "warning",
    "UPD_REPLAY_SAME": "info",
}

#: Codes that `analyze` on a definition never produces: profiles' and readiness findings.
PROFILE_AND_READINESS_CODES = frozenset(
    code for code in FINDING_CODES if code.startswith("RDY_")
) | {"SIG_PREVIOUS_SECRET", "SIG_TOKEN_MISMATCH"}


class Finding(msgspec.Struct, frozen=True, omit_defaults=True):
    """One problem and its fix; `step` and `pointer` appear in JSON only when set."""

    code: str
    severity: Severity
    message: str
    fix: str | None
    step: str | None = None
    """Pipeline step the finding belongs to: request, challenge, verify, extract, dedupe,
    customer, sync, match, definition, or the troubleshooting command's own step."""
    pointer: str | None = None
    """JSON pointer into the definition that the fix applies to, when there is one."""
    patch: tuple[PatchOp, ...] | None = None
    """The fix as RFC 6902 JSON Patch operations on the definition, when it is mechanical
    (`"patch"` in JSON only when set); applied, it removes the finding and adds no error."""


def finding(
    code: str,
    message: str,
    fix: str | None = None,
    *,
    step: str | None = None,
    severity: Severity | None = None,
    pointer: str | None = None,
    patch: tuple[PatchOp, ...] | None = None,
) -> Finding:
    """A finding with the code's default severity unless one is given."""
    default = FINDING_CODES.get(code) or TROUBLESHOOTING_CODES.get(code) or UPDATE_CODES[code]
    return Finding(code, severity or default, message, fix, step, pointer, patch or None)


def diagnosis(code: str, message: str, fix: str | None = None, *, step: str,
              severity: Severity | None = None, pointer: str | None = None,
              patch: tuple[PatchOp, ...] | None = None) -> Finding:
    """A finding of a troubleshooting command (`finding` with its step required)."""
    return finding(code, message, fix, step=step, severity=severity, pointer=pointer,
                   patch=patch)


class SignedContent(msgspec.Struct, frozen=True):
    """What was fed to the HMAC, described without repeating the whole body."""

    label: str
    length: int
    head_hex: str
    head_text: str


class Attempt(msgspec.Struct, frozen=True):
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


class SecretStatus(msgspec.Struct, frozen=True):
    resolved_from: str | None
    credentials: str
    auth_config: str
    hint: str | None = None
    nullish_outcome: str | None = None
    """What the other rule would do when it differs (None when nothing does): `??` under
    whdebug's default `||`, and `||` under --nullish."""


class SearchSummary(msgspec.Struct, frozen=True):
    """How much the diagnosis search tried, and the evidence when nothing matched."""

    combinations: int
    """HMACs computed (each distinct secret form x algorithm x signed content)."""
    body_variants: int
    """Edited bodies tried (edits.py: byte edits, their pairs, re-serialisations)."""
    evidence: tuple[str, ...] = ()


class SignatureResult(msgspec.Struct, frozen=True):
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
    search: SearchSummary | None = None
    """Set when verification failed and the diagnosis search ran."""


@fast_init
@dataclass(frozen=True, slots=True)
class EventPart:
    source: str
    path: str
    found: bool
    value: str | None
    raw_type: str | None = None
    """JSON type of the value before JavaScript stringification."""


@fast_init
@dataclass(frozen=True, slots=True)
class EventResult:
    value: str | None
    strategy: str
    """simple | fallback | composite | none"""
    used_fallback: bool
    parts: tuple[EventPart, ...]
    variants: dict[str, str] | None = None
    """Composite only: the value under each missing-part rule (empty, skip, undefined)."""


@fast_init
@dataclass(frozen=True, slots=True)
class NearMiss:
    event: str
    reason: str
    kind: str
    """case | separator | whitespace | spelling"""


@fast_init
@dataclass(frozen=True, slots=True)
class PathSuggestion:
    event: str
    source: str
    path: str
    snippet: str


@fast_init
@dataclass(frozen=True, slots=True)
class TriggerResult:
    matched: tuple[str, ...] = ()
    ambiguous: tuple[str, ...] = ()
    near_misses: tuple[NearMiss, ...] = ()
    suggested_paths: tuple[PathSuggestion, ...] = ()


class TransactionResult(msgspec.Struct, frozen=True):
    id: str | None
    generated: bool
    duplicate_of: str | int | None
    paths: tuple[str, ...] = ()
    override: str | None = None
    exact_id: str | None = None
    """The id with every digit of the payload, when JavaScript reads it differently (an
    integer beyond 2**53); `"exact_id"` in JSON only when set."""


@fast_init
@dataclass(frozen=True, slots=True)
class CustomerResult:
    base_path: str
    found: bool
    fields: dict[str, Any]
    missing: tuple[str, ...]


@fast_init
@dataclass(frozen=True, slots=True)
class SyncResult:
    handler: str | None
    shape: str | None
    """record (recordType + mapping) | resource (resource + dataPath) | None"""
    record_type: str | None
    operation: str | None
    code: str | None
    fields: dict[str, Any]


@fast_init
@dataclass(frozen=True, slots=True)
class ChallengeResult:
    detected: bool
    response_body: str | None
    note: str | None = None


class Step(msgspec.Struct, frozen=True):
    """One row of the pipeline: challenge, verify, extract, dedupe, match (a Struct: a
    replay builds and encodes several per request)."""

    name: str
    status: Literal["pass", "fail", "warn", "skip"]
    reason: str


@fast_init
@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    http_status: int
    triggers: tuple[str, ...]
    summary: str
    if_verified: dict[str, Any] | None = None
    """For a rejected request: the event and triggers once the signature passes."""


class Report(msgspec.Struct, frozen=True, omit_defaults=True, tag_field="schema",
             tag=REPORT_SCHEMA):
    """What the runtime would do with one request and why (`whdebug.report/1` as encoded)."""

    source: dict[str, Any]
    request: dict[str, Any]
    """method, path, query, headers (masked), content_type, body_size, body_sha256."""
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
    steps: tuple[Step, ...]
    assumptions: tuple[str, ...]
    profile: dict[str, Any] | None = None
    """What a built-in profile checked beyond the definition (`"profile"` in JSON when set)."""

    @property
    def body_sha256(self) -> str:
        return str(self.request["body_sha256"])

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


def report_json(report: Report) -> dict[str, Any]:
    """The report as JSON-ready builtins (`whdebug.report/1`)."""
    document: dict[str, Any] = msgspec.to_builtins(report)
    for part in document["event"]["parts"]:
        del part["raw_type"]  # shown by the text view only; JSON has the stringified value
    if document["transaction"].get("exact_id") is None:
        document["transaction"].pop("exact_id", None)
    return document


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
