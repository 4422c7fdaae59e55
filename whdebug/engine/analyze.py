"""The one entry point: what the Karzoun runtime would do with a request, and why."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import msgspec

from whdebug.engine.forwarding import app_status_findings
from whdebug.engine.paths import Body, parse_body
from whdebug.engine.plan import Plan, compile_definition
from whdebug.engine.report import (
    EventResult,
    Finding,
    Outcome,
    Report,
    SignatureResult,
    Step,
    TransactionResult,
    TriggerResult,
    finding,
)
from whdebug.engine.signatures.digests import (
    PARALLEL_MIN_BODY,
    DigestThread,
    prefetch_runtime_digest,
)
from whdebug.engine.signatures.search import Evidence
from whdebug.engine.signatures.verify import passing_signature, verify_signature
from whdebug.engine.steps.body import unparsed_body_caveats
from whdebug.engine.steps.challenge import detect_challenge
from whdebug.engine.steps.customers import extract_customer
from whdebug.engine.steps.events import extract_event
from whdebug.engine.steps.request import ROUTING_CODES, request_findings
from whdebug.engine.steps.sync import check_sync
from whdebug.engine.steps.transactions import (
    DedupeIndex,
    extract_transaction,
    unsafe_integer_finding,
)
from whdebug.engine.steps.triggers import match_triggers, waiting_for_parts
from whdebug.model.definition import Definition
from whdebug.model.request import Capture, CapturedRequest, as_capture
from whdebug.model.secrecy import Secrets, SecretSet

_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    missing_part: str = "empty"
    """How a missing composite part joins: empty (Array.join), skip, undefined."""
    nullish: bool = False
    """Resolve the secret with `??` (keep an empty credential) instead of `||`."""
    diagnose: bool = True
    """Search for what would have matched when verification fails."""
    expected_body: tuple[str, bytes] | None = None
    """(name, bytes) the sender says it signed (`replay --expected-body FILE`)."""
    peers: tuple[CapturedRequest, ...] = ()
    """Other requests of this replay: a failing signature checks whether its secret verifies
    them (evidence for "wrong secret" against "changed body")."""
    verdict_only: bool = False
    """Only what decides the outcome (`verdict_report`): for a history's seed and for
    serve's console line, which show no findings."""


DEFAULT_OPTIONS = AnalysisOptions()


def analyze(
    capture: Capture | CapturedRequest,
    definition: Plan | Definition,
    secrets: Secrets,
    *,
    now: datetime,
    options: AnalysisOptions = DEFAULT_OPTIONS,
    dedupe: DedupeIndex | None = None,
    secret_set: SecretSet | None = None,
) -> Report:
    """Replay the capture's request through the runtime's steps; records an accepted id in
    `dedupe` under the capture's source (a bare request is of unknown source).

    Give a compiled Plan (`compile_definition`) when analysing many requests: a Definition
    is compiled again on every call. `secret_set` masks the report's headers; it is built
    from the plan and `secrets` when not given.
    """
    capture = as_capture(capture)
    request = capture.request
    plan = definition if isinstance(definition, Plan) else compile_definition(definition)
    if secret_set is None:
        secret_set = _secret_set(secrets, plan)
    if len(request.body) < PARALLEL_MIN_BODY or options.verdict_only:  # no digest thread
        return _analyze(capture, plan, secrets, now, options, dedupe, None, secret_set)
    prefetch = prefetch_runtime_digest(
        request, plan.verification, plan.auth_config, secrets, nullish=options.nullish
    )
    # The report's body_sha256, in its own thread beside the HMAC and the parse (unless the
    # reading of the file started it already: the request keeps it).
    request.start_body_digest()
    try:
        return _analyze(capture, plan, secrets, now, options, dedupe, prefetch, secret_set)
    finally:
        if prefetch is not None:
            prefetch.close()
        _ = request.body_sha256  # no digest thread outlives the analysis that started it


def _secret_set(secrets: Secrets, plan: Plan) -> SecretSet:
    """The SecretSet of `secrets` and the plan's secret auth.config values, built once per
    distinct set of values: its masks' byte forms, built on first use, took longer than the
    rest of an analysis. Keyed by the values themselves, so a changed credential gets its
    own set; a credential that is not hashable (a nested bag) gets one for this call."""
    try:
        key = (tuple(secrets.credentials.items()), tuple(secrets.config.items()),
               plan.secret_config)
        found = _SECRET_SETS.get(key)
    except TypeError:
        return SecretSet.of(secrets, plan.secret_config)
    if found is None:
        if len(_SECRET_SETS) >= 64:
            _SECRET_SETS.clear()
        found = _SECRET_SETS[key] = SecretSet.of(secrets, plan.secret_config)
    return found


_SECRET_SETS: dict[tuple[Any, ...], SecretSet] = {}


def _evidence(options: AnalysisOptions, secret_set: SecretSet) -> Evidence:
    """What the diagnosis search may use beyond the request (one per options and secrets)."""
    key = (id(options), id(secret_set))
    hit = _EVIDENCE.get(key)
    if hit is not None and hit[0] is options and hit[1] is secret_set:
        return hit[2]
    name, expected = options.expected_body or ("--expected-body", None)
    evidence = Evidence(options.peers, expected, name, secret_set)
    if len(_EVIDENCE) >= 64:
        _EVIDENCE.clear()
    _EVIDENCE[key] = (options, secret_set, evidence)
    return evidence


_EVIDENCE: dict[tuple[int, int], tuple[AnalysisOptions, SecretSet, Evidence]] = {}


def _analyze(
    capture: Capture,
    plan: Plan,
    secrets: Secrets,
    now: datetime,
    options: AnalysisOptions,
    dedupe: DedupeIndex | None,
    prefetch: DigestThread | None,
    secret_set: SecretSet,
) -> Report:
    request, source = capture.request, capture.source
    body = parse_body(request, plan.projection)
    findings: list[Finding] = list(plan.findings)
    steps: list[Step] = []
    assumptions: list[str] = []

    if prefetch is not None:
        _ = body.kind  # parse now, while the worker thread computes the HMAC
    verdict_only = options.verdict_only
    if not verdict_only:
        findings += request_findings(request, plan, body)

    challenge, challenge_findings = detect_challenge(plan.challenge, body)
    findings += challenge_findings
    passed, known = passing_signature(
        request, plan.verification, plan.auth_config, secrets, options.nullish
    ) if prefetch is None else (None, None)
    signature_findings: list[Finding]
    if passed is not None:
        signature, signature_findings = passed, []
    else:
        signature, signature_findings = verify_signature(
            request,
            plan.verification,
            plan.auth_config,
            secrets,
            now=now,
            received_at=source.received_at,
            body=body,
            nullish=options.nullish,
            diagnose=options.diagnose and not challenge.detected,
            prefetch=prefetch,
            evidence=_evidence(options, secret_set),
            passing_tried=prefetch is None,
            known=known,
        )
    response_status = plan.response.status

    if challenge.detected:
        assumptions.append(challenge.note or "")
        ok = challenge.response_body is not None
        steps.append(
            Step(
                "challenge",
                "pass" if ok else "fail",
                f"answers {challenge.response_body!r}" if ok else "no token to answer",
            )
        )
        if signature.verdict == "fail":
            findings.append(
                finding(
                    "SIG_CHALLENGE_ORDER",
                    "if the runtime verified the signature before answering "
                    f"the challenge, this request would get 401 ({signature.reason})",
                    None,
                    step="challenge",
                )
            )
        outcome = Outcome(
            "challenge",
            200 if ok else 500,
            (),
            "challenge answered" if ok else "challenge detected but not answered",
        )
        return _report(capture, plan, challenge, signature, _NO_EVENT, TriggerResult(),
                       _NO_TX, None, None, outcome, findings, steps, assumptions, secret_set,
                       verdict_only)  # a request that ends before event extraction

    steps.append(_NOT_A_CHALLENGE)
    findings += _name_editor_newline(signature_findings, signature, capture)
    memo = plan.memo
    verify_key = ("verify", signature.verdict, signature.reason)
    verify_step = memo.get(verify_key)
    if verify_step is None:
        verify_step = _remember(memo, verify_key, _verify_step(signature))
    steps.append(verify_step)
    if signature.verdict == "fail":
        outcome = Outcome(
            "rejected",
            401,
            (),
            f"rejected with 401: {signature.reason}",
            _if_verified(request, plan, body, options),  # serve's line shows its event
        )
        return _report(capture, plan, challenge, signature, _NO_EVENT, TriggerResult(),
                       _NO_TX, None, None, outcome, findings, steps, assumptions, secret_set,
                       verdict_only)  # a request that ends before event extraction

    event, event_findings = extract_event(
        plan.event_extraction, request, body, options.missing_part
    )
    findings += event_findings
    no_event = event.value is None or bool(event_findings) and any(
        f.code == "EVT_NOT_FOUND" for f in event_findings)
    if no_event:
        steps.append(Step("extract", "fail", "no event extracted"))
    else:
        warn = bool(event_findings) and any(f.code == "EVT_PART_MISSING" for f in event_findings)
        extract_key = ("extract", warn, event.value, event.strategy)
        extract_step = memo.get(extract_key)
        if extract_step is None:
            extract_step = _remember(memo, extract_key, Step(
                "extract", "warn" if warn else "pass", f"event {event.value!r} ({event.strategy})"))
        steps.append(extract_step)
    if event.variants and event.value is not None:
        joined = _JOIN_ASSUMPTIONS.get(options.missing_part)
        if joined is None:
            joined = f"missing composite parts join as {options.missing_part!r}"
        assumptions.append(joined)

    transaction, tx_findings = extract_transaction(
        plan.transaction, event.value, request, body
    )
    findings += tx_findings
    duplicate_of, dedupe_findings = _deduplicate(
        transaction, dedupe, source.key if dedupe is not None else None, body)
    findings += dedupe_findings
    if duplicate_of is not None:
        transaction = TransactionResult(
            transaction.id, False, duplicate_of, transaction.paths, transaction.override,
            transaction.exact_id)
    if duplicate_of is not None:
        steps.append(Step("dedupe", "fail", f"duplicate of {_source_name(duplicate_of)}"))
    elif transaction.id is None:
        steps.append(Step("dedupe", "warn", "no transaction id: retries are not deduplicated"))
    else:
        steps.append(Step("dedupe", "pass", f"transaction id {transaction.id!r} is new"))

    customer = sync = None
    if not verdict_only:
        customer, customer_findings = extract_customer(plan.customer, event.value, body)
        sync, sync_findings = check_sync(plan.sync, event.value, body, plan.trigger_events)
        if customer_findings or sync_findings:
            findings += customer_findings + sync_findings

    match_key = ("match", event.value, tuple(event.variants.items()) if event.variants else None)
    matching = memo.get(match_key)
    if matching is None:
        triggers, trigger_list = match_triggers(event, plan.triggers, plan.ns, request, body)
        trigger_findings = tuple(trigger_list)
        if triggers.matched:  # then it depends on the event alone
            _remember(memo, match_key, (triggers, trigger_findings))
    else:
        triggers, trigger_findings = matching
    findings += trigger_findings
    if duplicate_of is not None:
        steps.append(Step("match", "skip", "dropped as a duplicate"))
        outcome = Outcome(
            "duplicate",
            response_status,
            (),
            f"duplicate of {_source_name(duplicate_of)}: acknowledged and dropped",
        )
    elif no_event:
        steps.append(Step("match", "fail", "no event to match"))
        outcome = Outcome("no-event", response_status, (), "no event extracted: nothing fires")
    elif triggers.matched:
        fires_key = ("fires", response_status, triggers.matched)
        fired = memo.get(fires_key)
        if fired is None:
            fired = _remember(memo, fires_key, (
                Step("match", "pass", "fires " + ", ".join(triggers.matched)),
                Outcome("fires", response_status, triggers.matched,
                        f"fires {', '.join(triggers.matched)}")))
        steps.append(fired[0])
        outcome = fired[1]
    else:
        steps.append(Step("match", "fail", f"no trigger for {event.value!r}"))
        outcome = Outcome(
            "no-trigger",
            response_status,
            (),
            f"event {event.value!r} matches no trigger: nothing fires",
        )
    return _report(
        capture,
        plan,
        challenge,
        signature,
        event,
        triggers,
        transaction,
        customer,
        sync,
        outcome,
        findings,
        steps,
        assumptions,
        secret_set,
        verdict_only,
    )


_NOT_A_CHALLENGE = Step("challenge", "skip", "not a challenge request")
_JOIN_ASSUMPTIONS = {rule: f"missing composite parts join as {rule!r}"
                     for rule in ("empty", "skip", "undefined")}
"""The assumption a composite event states, by missing-part rule (any other is written)."""
_MEMO_LIMIT = 4096


def _remember(memo: dict[Any, Any], key: Any, value: Any) -> Any:
    """`value`, kept in a plan's memo under `key` (the memo is emptied when full)."""
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = value
    return value


def _deduplicate(transaction: TransactionResult, dedupe: DedupeIndex | None,
                 source: str | int | None, body: Body) -> tuple[str | int | None, list[Finding]]:
    """The earlier request this one duplicates (recording a new id under `source`, given
    with a history), and what to say."""
    transaction_id = transaction.id
    unsafe = [unsafe_integer_finding(transaction, body=body)] if transaction.exact_id else []
    if transaction_id is None or dedupe is None:
        return None, unsafe
    assert source is not None
    duplicate_of = dedupe.lookup(transaction_id)
    if duplicate_of is None:
        dedupe.record(transaction_id, source)
        if transaction.exact_id is not None:
            dedupe.remember_exact(transaction_id, transaction.exact_id)
        return None, unsafe
    first = dedupe.exact_of(transaction_id)
    if transaction.exact_id is not None and first is not None and first != transaction.exact_id:
        return duplicate_of, [unsafe_integer_finding(transaction, first,
                                                     _source_name(duplicate_of), body)]
    findings = [finding(
        "TX_DUPLICATE",
        f"transaction id {transaction_id!r} was already processed "
        f"({_source_name(duplicate_of)}): the runtime acknowledges this delivery and "
        "drops it, so no automation fires",
        "expected for a provider retry; if these are distinct events, point "
        "transactionId.paths at an id that differs per event (add updated_at with a "
        "separator for update events)",
        step="dedupe",
    )]
    if transaction.exact_id is not None and first is None:
        findings.append(unsafe_integer_finding(transaction, None, _source_name(duplicate_of),
                                               body))
    return duplicate_of, findings


_NO_EVENT = EventResult(None, "none", False, ())
_NO_TX = TransactionResult(None, False, None)


def _if_verified(
    request: CapturedRequest, plan: Plan, body: Body, options: AnalysisOptions
) -> dict[str, Any]:
    """What the runtime would do once verification passes (findings are not kept)."""
    event, _ = extract_event(plan.event_extraction, request, body, options.missing_part)
    triggers, _ = match_triggers(event, plan.triggers, plan.ns, request, body)
    found: dict[str, Any] = {
        "event": event.value,
        "triggers": list(triggers.matched),
        "status": "fires"
        if triggers.matched
        else ("no-event" if event.value is None else "no-trigger"),
    }
    if not triggers.matched:  # a trigger that needs a composite part the request lacks
        waiting = waiting_for_parts(event, list(plan.trigger_events))
        if waiting:
            found["waiting"] = waiting
    return found


def response_of(definition: Plan | Definition) -> tuple[int, Any]:
    """The status and body of `webhook.response` (default 200 {"ok": true})."""
    plan = definition if isinstance(definition, Plan) else compile_definition(definition)
    return plan.response.status, plan.response.body


def _verify_step(signature: SignatureResult) -> Step:
    if signature.verdict == "skipped":
        return Step("verify", "skip", signature.reason)
    return Step("verify", "pass" if signature.verdict == "pass" else "fail", signature.reason)


def _source_name(source: str | int) -> str:
    return f"capture #{source}" if isinstance(source, int) else str(source)


def _name_editor_newline(findings: list[Finding], signature: SignatureResult,
                         capture: Capture) -> list[Finding]:
    """SIG_BODY_MODIFIED for a request file whose body matches without its final line break:
    that line break is most likely the editor's, added when the file was saved."""
    name, body = capture.source.file, capture.request.body
    if not body.endswith(b"\n") or capture.source.capture_id is not None or not name or (
            not name.lower().endswith((".http", ".rest"))):
        return findings
    newline = "CRLF" if body.endswith(b"\r\n") else "LF"
    unsigned = body[: -2 if newline == "CRLF" else -1]
    head = unsigned[:32].hex(" ")
    if not any(a.match and a.signed is not None and a.signed.length == len(unsigned)
               and a.signed.head_hex == head for a in signature.attempts):
        return findings
    return [msgspec.structs.replace(
        item,
        message=f"a trailing newline was added after signing: the signature matches the body "
        f"without its final {newline} line break: {name} ends the body with a newline that "
        "was not signed. In a hand-written file it is the editor's, added when the file was "
        "saved (a .http body is every byte after the blank line); otherwise the sender "
        "appended it",
        fix=f"delete the final line break of {name} (turn off the editor's \"insert final "
        "newline\" for .http files), or put a `###` line after the body",
    ) if item.code == "SIG_BODY_MODIFIED" else item for item in findings]


def _report(
    capture: Capture,
    plan: Plan,
    challenge: Any,
    signature: SignatureResult,
    event: EventResult,
    triggers: TriggerResult,
    transaction: TransactionResult,
    customer: Any,
    sync: Any,
    outcome: Outcome,
    findings: list[Finding],
    steps: list[Step],
    assumptions: list[str],
    secret_set: SecretSet,
    verdict_only: bool = False,
) -> Report:
    request, source = capture.request, capture.source
    if verdict_only:
        return verdict_report(capture, plan, challenge, _masked_previews(signature, secret_set),
                              event, triggers, transaction, outcome, steps, assumptions)
    if findings:
        findings = unparsed_body_caveats(findings)
    if capture.forward is not None:
        findings += app_status_findings(capture.forward, outcome)
    if len(findings) > 1:
        findings.sort(key=lambda f: (f.code not in ROUTING_CODES,
                                     _SEVERITY_ORDER.get(f.severity, 3)))
    if findings and findings[0].code in ROUTING_CODES:
        outcome = replace(outcome, summary="never reaches this MiniApp "
                          f"({request.method} {request.path}); as a delivery: {outcome.summary}")
    signature = _masked_previews(signature, secret_set)
    token_header = signature.header if signature.type == "header-token" else None
    masked = secret_set.masked_pairs(request.headers, (token_header,) if token_header else ())
    return Report(
        source={"capture_id": source.capture_id, "file": source.file},
        request={
            "method": request.method,
            "path": request.path,
            "query": secret_set.mask_query(request.query) if request.query else "",
            "headers": masked,
            "content_type": request.content_type,
            "body_size": request.size,
            "body_sha256": request.body_sha256,
        },
        definition=_definition_section(plan),
        challenge=challenge,
        signature=signature,
        event=event,
        triggers=triggers,
        transaction=transaction,
        customer=customer,
        sync=sync,
        outcome=outcome,
        findings=tuple(findings),
        steps=tuple(steps),
        assumptions=tuple(filter(None, assumptions)),
    )


def verdict_report(capture: Capture, plan: Plan, challenge: Any, signature: SignatureResult,
                   event: EventResult, triggers: TriggerResult,
                   transaction: TransactionResult, outcome: Outcome, steps: list[Step],
                   assumptions: list[str]) -> Report:
    """The report of `AnalysisOptions.verdict_only`: the verdicts of every step and the
    outcome as the full analysis gives them, but no findings, no customer or sync section,
    and of the request only its method, path and size (no headers or query: nothing that
    needs masking, no body digest). About a third less work per request."""
    request = capture.request
    return Report(
        source={"capture_id": capture.source.capture_id, "file": capture.source.file},
        request={"method": request.method, "path": request.path, "body_size": request.size},
        definition=_definition_section(plan),
        challenge=challenge, signature=signature, event=event, triggers=triggers,
        transaction=transaction, customer=None, sync=None, outcome=outcome, findings=(),
        steps=tuple(steps), assumptions=tuple(filter(None, assumptions)))


def _definition_section(plan: Plan) -> dict[str, Any]:
    """The report's `definition`: one dict per plan."""
    section: dict[str, Any] | None = plan.memo.get("definition")
    if section is None:
        section = _remember(plan.memo, "definition", {"ns": plan.ns, "version": plan.version})
    return section


def _masked_previews(signature: SignatureResult, secret_set: SecretSet) -> SignatureResult:
    """The attempts' signed-content previews with any secret in them masked, also one the
    32-byte cut leaves half shown."""
    if not secret_set.values:
        return signature
    for attempt in signature.attempts:
        if attempt.signed:
            break
    else:
        return signature
    attempts = []
    changed = False
    for attempt in signature.attempts:
        signed = attempt.signed
        masked = secret_set.mask_head(bytes.fromhex(signed.head_hex)) if signed else None
        if signed is not None and masked is not None:
            attempt = msgspec.structs.replace(attempt, signed=msgspec.structs.replace(
                signed, head_hex=masked[0], head_text=masked[1]))
            changed = True
        attempts.append(attempt)
    return msgspec.structs.replace(signature, attempts=tuple(attempts)) if changed else (
        signature)
