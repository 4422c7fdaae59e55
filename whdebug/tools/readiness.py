"""Submission readiness: replay a folder of samples and list what blocks review of a definition.

`whdebug check D --samples DIR` builds a `Readiness` from the definition lint and one report per
sample (.http, .har, .json exports, or bare JSON payloads signed on the fly with `sign`),
replayed in file-name order through one ReplaySession, as a reviewer firing them would:
which samples fire which triggers, triggers no sample fires, samples that fire nothing, sync
handlers without a trigger or without a stable id, and whether every sample verifies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from whdebug.engine.analyze import DEFAULT_OPTIONS, AnalysisOptions, analyze
from whdebug.engine.plan import Plan, compile_definition
from whdebug.engine.report import Finding, Report, finding
from whdebug.engine.session import ReplaySession
from whdebug.engine.signatures.secrets import resolve_secret
from whdebug.engine.steps.transactions import DedupeIndex
from whdebug.errors import WhdebugError
from whdebug.formats.read import REQUEST_SUFFIXES, numbered, parse_file
from whdebug.model.definition import Definition
from whdebug.model.request import Capture, Secrets, Source
from whdebug.model.secrecy import SecretSet
from whdebug.tools.signing import SigningError, event_location, event_outside_body, sign_request

READINESS_SCHEMA = "whdebug.readiness/1"
#: Signs and verifies bare payloads when no secret was given: they test events, not secrets.
STAND_IN_SECRET = "whdebug-stand-in-secret"
_SIGNED_TYPES = ("hmac-sha256", "hmac-sha1", "header-token")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


@dataclass(frozen=True, slots=True)
class Sample:
    """One sample capture, or why it could not be read."""

    name: str
    """The file name relative to the samples folder (`file.har#2` for a HAR's second entry)."""
    kind: str
    """http | har | capture | payload (a bare JSON body signed on the fly); json for a .json
    file that could not be read."""
    capture: Capture | None
    error: str | None = None
    notices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SampleResult:
    sample: Sample
    report: Report | None

    @property
    def fired(self) -> tuple[str, ...]:
        return self.report.outcome.triggers if self.report is not None else ()

    def row(self) -> SampleRow:
        """The sample as `check --samples --json` lists it."""
        report = self.report
        return SampleRow(
            self.sample.name, self.sample.kind, self.sample.kind == "payload", self.sample.error,
            self.sample.notices, report.event.value if report else None,
            report.signature.verdict if report else None,
            report.outcome.status if report else None,
            report.outcome.summary if report else None, self.fired,
            report.findings if report else ())


@dataclass(frozen=True, slots=True)
class SampleRow:
    name: str
    kind: str
    signed_on_the_fly: bool
    error: str | None
    notices: tuple[str, ...]
    event: str | None
    verdict: str | None
    outcome: str | None
    summary: str | None
    triggers: tuple[str, ...]
    findings: tuple[Finding, ...]


@dataclass(frozen=True, slots=True)
class TriggerCoverage:
    event: str
    label: str | None
    samples: tuple[str, ...]



@dataclass(frozen=True, slots=True)
class HandlerCheck:
    """One sync handler: its trigger, the samples that reach it and the ids they yield."""

    event: str
    has_trigger: bool
    samples: tuple[str, ...]
    codes: dict[str, str | None]
    """The external id (or None) of every sample that reaches the handler, by sample name."""
    stable: bool | None
    """Every sample yields a stable id; None when no sample reaches the handler."""



@dataclass(frozen=True, slots=True)
class Verification:
    configured: bool
    type: str | None
    header: str | None
    passing: tuple[str, ...]
    failing: tuple[str, ...]



@dataclass(frozen=True, slots=True)
class Readiness:
    """Everything `check --samples` reports; `ready` is False when anything blocks review."""

    definition: Definition
    path: str
    samples_dir: str
    lint: tuple[Finding, ...]
    samples: tuple[SampleResult, ...]
    triggers: tuple[TriggerCoverage, ...]
    handlers: tuple[HandlerCheck, ...]
    verification: Verification
    findings: tuple[Finding, ...]
    """The readiness findings (RDY_*), blockers first."""

    @property
    def blockers(self) -> list[Finding]:
        return [item for item in (*self.lint, *self.findings) if item.severity == "error"]

    @property
    def ready(self) -> bool:
        return not self.blockers

    @property
    def triggers_not_fired(self) -> list[str]:
        return [coverage.event for coverage in self.triggers if not coverage.samples]

    @property
    def samples_firing_nothing(self) -> list[str]:
        return [
            result.sample.name
            for result in self.samples
            if not result.fired and not (result.report is not None and result.report.ok)
        ]

    def document(self) -> ReadinessDocument:
        """Everything as `check --samples --json` prints it (`whdebug.readiness/1`)."""
        lint_ok = not any(item.severity == "error" for item in self.lint)
        return ReadinessDocument(
            self.ready, len(self.blockers),
            DefinitionFile(self.definition.ns, self.definition.version, self.path),
            self.samples_dir, LintSummary(lint_ok, self.lint), self.verification,
            self.triggers, self.triggers_not_fired,
            tuple(result.row() for result in self.samples), self.samples_firing_nothing,
            self.handlers, self.findings)


@dataclass(frozen=True, slots=True)
class DefinitionFile:
    ns: str | None
    version: str | None
    path: str


@dataclass(frozen=True, slots=True)
class LintSummary:
    ok: bool
    findings: tuple[Finding, ...]


class ReadinessDocument(msgspec.Struct, frozen=True, tag_field="schema", tag=READINESS_SCHEMA):
    """`whdebug.readiness/1`: the fields are its JSON keys, in order."""

    ready: bool
    blockers: int
    definition: DefinitionFile
    samples_dir: str
    lint: LintSummary
    verification: Verification
    triggers: tuple[TriggerCoverage, ...]
    triggers_not_fired: list[str]
    samples: tuple[SampleRow, ...]
    samples_firing_nothing: list[str]
    handlers: tuple[HandlerCheck, ...]
    findings: tuple[Finding, ...]


# --- loading ------------------------------------------------------------------------------------


def sample_files(directory: str | Path) -> list[Path]:
    """The sample files in `directory` (not recursive), by name; other files are ignored."""
    folder = Path(directory)
    if not folder.exists():
        raise WhdebugError("samples folder not found", str(directory))
    if not folder.is_dir():
        raise WhdebugError("--samples must be a folder", str(directory))
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file()
        and not path.name.startswith(".")
        and path.suffix.lower() in REQUEST_SUFFIXES
    )


def load_samples(
    directory: str | Path,
    definition: Definition,
    secrets: Secrets,
    *,
    now: datetime,
) -> list[Sample]:
    """Every sample in `directory`; bare JSON payloads are signed as the provider would."""
    samples: list[Sample] = []
    for path in sample_files(directory):
        samples += _load(path, definition, secrets, now)
    return samples


def _load(path: Path, definition: Definition, secrets: Secrets, now: datetime) -> list[Sample]:
    name = path.name
    try:
        found = parse_file(path.read_bytes(), name, payloads=True)
    except OSError as error:
        return [Sample(name, path.suffix.lower().lstrip("."), None,
                       f"cannot read: {error.strerror}")]
    except WhdebugError as error:
        kind = {".http": "http", ".rest": "http", ".har": "har"}.get(path.suffix.lower(), "json")
        return [Sample(name, kind, None, error.message if kind == "json" else str(error))]
    if found.payload is not None:
        return [_sign_payload(name, found.payload, definition, secrets, now)]
    return [Sample(capture.source.file or name, found.kind, capture)
            for capture in numbered(found)]


def signing_secrets(definition: Definition, secrets: Secrets) -> tuple[Secrets, bool]:
    """The secrets to sign bare payloads with, and whether a stand-in secret was needed."""
    verification = definition.webhook.get("verification")
    key = verification.get("secretKey") if isinstance(verification, dict) else None
    if not isinstance(key, str) or not key:
        return secrets, False
    if resolve_secret(key, definition.auth_config, secrets).value is not None:
        return secrets, False
    credentials = {**secrets.credentials, key: STAND_IN_SECRET}
    return Secrets(credentials, secrets.config), True


NAMED_EVENT = "<event>[--<label>].json, __ for /"
"""How a bare payload's file name names its event, when the definition reads the event
outside the body (`event_from_name`)."""


def event_from_name(name: str) -> str:
    """The event a bare payload's file name stands for: `<event>[--<label>].json`, `__` for `/`."""
    stem = name.rsplit(".", 1)[0] if name.lower().endswith(".json") else name
    return stem.split("--", 1)[0].replace("__", "/")


def _sign_payload(
    name: str, payload: bytes, definition: Definition, secrets: Secrets, now: datetime
) -> Sample:
    """A bare payload signed with the definition's scheme; the file name gives a header event."""
    signing, _ = signing_secrets(definition, secrets)
    event = event_from_name(name) if event_outside_body(definition) else None
    try:
        signed = sign_request(payload, definition, signing, now=now, event=event)
        if not signed.event and event is None and _has_fallback_outside_body(definition):
            signed = sign_request(
                payload, definition, signing, now=now, event=event_from_name(name)
            )
    except SigningError as error:
        return Sample(name, "payload", None, str(error))
    capture = Capture(signed.request, Source(file=name))
    return Sample(name, "payload", capture, None, signed.notices)


def _has_fallback_outside_body(definition: Definition) -> bool:
    extraction = definition.webhook.get("eventExtraction")
    fallback = extraction.get("fallback") if isinstance(extraction, dict) else None
    return isinstance(fallback, dict) and fallback.get("source") in ("header", "query")


# --- assessing ----------------------------------------------------------------------------------


def assess(
    definition: Definition,
    samples: Sequence[Sample],
    secrets: Secrets,
    *,
    now: datetime,
    lint: Iterable[Finding],
    path: str,
    samples_dir: str,
    options: AnalysisOptions = DEFAULT_OPTIONS,
) -> Readiness:
    """Replay the samples in order, like files (a redelivered id is a duplicate), and judge
    readiness."""
    payload_secrets, stand_in = signing_secrets(definition, secrets)
    plan = compile_definition(definition)
    analyzer = _SampleAnalyzer(plan, secrets, payload_secrets)
    session = ReplaySession(definition, secrets, now=now, options=options, analyzer=analyzer,
                            secret_set=SecretSet.of(payload_secrets, plan.secret_config))
    results: list[SampleResult] = []
    for sample in samples:
        report = None
        if sample.capture is not None:
            analyzer.kind = sample.kind
            report = session.replay(sample.capture)
        results.append(SampleResult(sample, report))
    findings: list[Finding] = []
    if not samples:
        findings.append(
            finding(
                "RDY_NO_SAMPLES",
                f"{samples_dir} holds no samples (.http, .har, .json exports or JSON payloads)",
                "save one sample payload per subscribed event in the folder (e.g. "
                "order.created.json); reviewers fire one test webhook per event",
                step="readiness",
            )
        )
    if stand_in and any(result.sample.kind == "payload" for result in results):
        key = _secret_key(definition)
        findings.append(
            finding(
                "RDY_STAND_IN_SECRET",
                f"no value was given for the secret {key!r}: bare payloads were signed and "
                "verified with a stand-in secret, which tests events, not your secret",
                f"give --config {key}=... (or --credential) to sign them with the real one",
                step="readiness",
            )
        )
    verification = _verification(definition, results, findings)
    triggers = _coverage(definition, results, findings)
    findings += _sample_findings(definition, results)
    handlers = _handlers(definition, results, findings)
    findings.sort(key=lambda item: {"error": 0, "warning": 1}.get(item.severity, 2))
    return Readiness(
        definition=definition,
        path=path,
        samples_dir=samples_dir,
        lint=tuple(lint),
        samples=tuple(results),
        triggers=triggers,
        handlers=handlers,
        verification=verification,
        findings=tuple(findings),
    )


class _SampleAnalyzer:
    """Analyses the sample being replayed with its secrets: bare payloads were signed with
    `payload_secrets` (a stand-in when the secret was not given), other samples as sent."""

    def __init__(self, plan: Plan, secrets: Secrets, payload_secrets: Secrets) -> None:
        self.plan = plan
        self.secrets = secrets
        self.payload_secrets = payload_secrets
        self.kind = ""
        """The kind of the sample replayed next (`payload` for a bare payload)."""

    def __call__(self, capture: Capture, *, now: datetime, options: AnalysisOptions,
                 dedupe: DedupeIndex | None) -> Report:
        used = self.payload_secrets if self.kind == "payload" else self.secrets
        return analyze(capture, self.plan, used, now=now, options=options, dedupe=dedupe)


def _secret_key(definition: Definition) -> str:
    verification = definition.webhook.get("verification")
    key = verification.get("secretKey") if isinstance(verification, dict) else None
    return key if isinstance(key, str) else "webhookSecret"


def _verification(
    definition: Definition, results: list[SampleResult], findings: list[Finding]
) -> Verification:
    config = definition.webhook.get("verification")
    config = config if isinstance(config, dict) else {}
    kind = config.get("type") if isinstance(config.get("type"), str) else None
    header = config.get("headerName") if isinstance(config.get("headerName"), str) else None
    configured = kind in _SIGNED_TYPES
    if not configured:
        findings.append(
            finding(
                "RDY_VERIFICATION_NONE",
                "webhook.verification is "
                + ("missing" if not config else f'of type "{kind}"')
                + ": review rejects a webhook anyone who knows the URL can fire",
                'set webhook.verification to {"type": "hmac-sha256", "headerName": "<provider '
                'signature header>", "secretKey": "webhookSecret"}',
                step="readiness",
                pointer="/webhook/verification",
            )
        )
    passing: list[str] = []
    failing: list[str] = []
    for result in results:
        report = result.report
        if report is None:
            continue
        if report.signature.verdict == "pass":
            passing.append(result.sample.name)
        elif report.signature.verdict == "fail" and not report.ok:
            failing.append(result.sample.name)
            cause = next((item for item in report.findings if item.step == "verify"), None)
            findings.append(
                finding(
                    "RDY_VERIFICATION_FAILS",
                    f"sample {result.sample.name} is rejected ({report.signature.reason}), so "
                    "it fires nothing"
                    + (f"; {cause.code}: {cause.message}" if cause is not None else ""),
                    cause.fix if cause is not None and cause.fix else "replay the sample with "
                    "-v to see every signature attempt",
                    step="readiness",
                )
            )
    return Verification(configured, kind, header, tuple(passing), tuple(failing))


def _coverage(
    definition: Definition, results: list[SampleResult], findings: list[Finding]
) -> tuple[TriggerCoverage, ...]:
    coverage: list[TriggerCoverage] = []
    seen: set[str] = set()
    for index, trigger in enumerate(definition.triggers):
        event = trigger.get("event")
        if not isinstance(event, str) or event in seen:
            continue
        seen.add(event)
        label = trigger.get("label") if isinstance(trigger.get("label"), str) else None
        names = tuple(result.sample.name for result in results if event in result.fired)
        coverage.append(TriggerCoverage(event, label, names))
        if not names:
            findings.append(
                finding(
                    "RDY_TRIGGER_NO_SAMPLE",
                    f"no sample fires trigger {event!r}: review fires one test webhook per "
                    "subscribed event",
                    f"add a sample payload for {event!r} to the samples folder, or remove the "
                    "trigger if the app does not subscribe to this event",
                    step="readiness",
                    pointer=f"/triggers/{index}/event",
                )
            )
    return tuple(coverage)


def _sample_findings(definition: Definition, results: list[SampleResult]) -> list[Finding]:
    findings: list[Finding] = []
    unfired = [event for event in dict.fromkeys(definition.trigger_events)
               if not any(event in result.fired for result in results)]
    named = event_outside_body(definition)
    for result in results:
        sample, report = result.sample, result.report
        if report is None:
            findings.append(
                finding(
                    "RDY_SAMPLE_UNREADABLE",
                    f"sample {sample.name} cannot be used: {sample.error}",
                    "fix or remove the file (samples are .http, .har, whdebug .json exports or "
                    "JSON payloads)",
                    step="readiness",
                )
            )
            continue
        if result.fired or report.ok or report.outcome.status == "rejected":
            continue  # rejected samples are reported with RDY_VERIFICATION_FAILS
        cause = next((item for item in report.findings if item.severity == "error"), None)
        fix = (cause.fix if cause is not None and cause.fix
               else "add a trigger for the sample's event, fix eventExtraction, or remove "
               "the sample")
        duplicate = report.transaction.duplicate_of
        if duplicate is not None:
            fix = _own_id(report, results, str(duplicate))
        elif named and sample.kind == "payload" and unfired and "#" not in sample.name:
            # The event came from the file name: the name is what to change first.
            fix = (f"rename the file after the event it carries ({NAMED_EVENT}), e.g. "
                   f"{unfired[0].replace('/', '__')}.json: a bare payload's event is taken "
                   f"from its file name, as the definition reads it from "
                   f"{event_location(definition)}; or {fix}")
        findings.append(
            finding(
                "RDY_SAMPLE_FIRES_NOTHING",
                f"sample {sample.name} fires nothing: {report.outcome.summary}"
                + (f"; {cause.code}: {cause.message}" if cause is not None else ""),
                fix,
                step="readiness",
            )
        )
    return findings


def _own_id(report: Report, results: list[SampleResult], duplicate: str) -> str:
    """What to do about a sample dropped as a duplicate of an earlier one."""
    tx = report.transaction
    earlier = next((r.report for r in results if r.sample.name == duplicate and r.report), None)
    text = (f"it carries transaction id {tx.exact_id or tx.id} ({', '.join(tx.paths)}), as "
            f"{duplicate} did, and the runtime drops a delivery whose id it has already seen")
    if earlier is not None and earlier.event.value != report.event.value:
        return (f"{text}: two events about one object share the id, so the definition needs "
                "the change DEF_TX_NOT_PER_DELIVERY gives (the later event's own id, in "
                "webhook.transactionId.overrides)")
    return f"{text}: give each sample its own id (a retry of one delivery is dropped, as here)"


def _handlers(
    definition: Definition, results: list[SampleResult], findings: list[Finding]
) -> tuple[HandlerCheck, ...]:
    checks: list[HandlerCheck] = []
    events = set(definition.trigger_events)
    for event, handler in definition.sync_handlers.items():
        pointer = "/sync/webhooks/handlers/" + event.replace("~", "~0").replace("/", "~1")
        has_trigger = event in events
        if not has_trigger:
            findings.append(
                finding(
                    "RDY_HANDLER_NO_TRIGGER",
                    f"sync handler {event!r} has no trigger with that event, so it never runs",
                    f"add a trigger for {event!r} or rename the handler to a triggers[].event",
                    step="readiness",
                    pointer=pointer,
                )
            )
        codes: list[tuple[str, str | None]] = []
        unstable: list[tuple[str, str]] = []
        for result in results:
            report = result.report
            if report is None or report.sync is None or report.sync.handler != event:
                continue
            code, problem = _stable_id(report, handler)
            codes.append((result.sample.name, code))
            if problem is not None:
                unstable.append((result.sample.name, problem))
        for name, problem in unstable:
            findings.append(
                finding(
                    "RDY_HANDLER_NO_STABLE_ID",
                    f"sync handler {event!r} on sample {name}: {problem}",
                    "point mapping.code (or dataPath) at the provider's permanent id for the "
                    'order or cart (e.g. "$.data.id")',
                    step="readiness",
                    pointer=pointer,
                )
            )
        if has_trigger and not codes:
            findings.append(
                finding(
                    "RDY_HANDLER_NO_SAMPLE",
                    f"no sample reaches sync handler {event!r}, so its external id is unchecked",
                    f"add a sample payload for {event!r}",
                    step="readiness",
                    pointer=pointer,
                )
            )
        stable = None if not codes else not unstable
        checks.append(
            HandlerCheck(event, has_trigger, tuple(name for name, _ in codes), dict(codes), stable)
        )
    return tuple(checks)


def _stable_id(report: Report, handler: Any) -> tuple[str | None, str | None]:
    """The external id the handler takes from this sample, and why it is not stable if so."""
    sync = report.sync
    assert sync is not None
    missing = next((item for item in report.findings if item.code == "SYNC_NO_CODE"), None)
    if missing is not None:
        message = missing.message
        prefix = f"handler {sync.handler!r}: "
        return sync.code, message.removeprefix(prefix)
    raw = sync.fields.get("code") if sync.shape == "record" else sync.code
    where = (
        f"mapping.code ({handler.get('mapping', {}).get('code')})"
        if sync.shape == "record" and isinstance(handler, dict)
        else "the id at dataPath"
    )
    if sync.code is None or sync.code == "":
        return None, f"{where} yields no id"
    if isinstance(raw, bool) or raw == "[object Object]" or sync.code.startswith("[object"):
        return sync.code, f"{where} yields {sync.code!r}, not an id"
    if _TIMESTAMP.match(sync.code):
        return sync.code, (
            f"{where} yields a timestamp ({sync.code!r}), which changes with every update"
        )
    return sync.code, None
