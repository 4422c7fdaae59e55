"""Compare an update of a MiniApp definition with the approved one (`check NEW --previous OLD`).

Karzoun's submit-for-review page: an update bumps the semver `version`, never changes `ns`,
and existing installs keep working. The static comparison finds what breaks installs (a
trigger event removed or renamed, verification changed, new credentials they lack); when
the event extraction or transaction id changed, the deliveries seen so far (the store or
`--samples`) are replayed under both definitions, each through its own ReplaySession, and
the deliveries whose outcome changes are listed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from whdebug.engine.analyze import DEFAULT_OPTIONS, AnalysisOptions
from whdebug.engine.plan import Plan, compile_definition
from whdebug.engine.report import Finding, Report, finding
from whdebug.engine.session import ReplaySession
from whdebug.model.definition import Definition
from whdebug.model.request import Capture, Secrets

#: How many changed deliveries a finding's message names (JSON lists every one).
_NAMED = 5
_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$"
)


# --- versions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class SemVer:
    """A semver version ordered by semver.org's precedence (build metadata ignored)."""

    major: int
    minor: int
    patch: int
    release: tuple[tuple[int, int | str], ...]
    """The pre-release identifiers as sortable keys; `((2, ""),)` for a release, which sorts
    after every pre-release of the same version."""

    @classmethod
    def parse(cls, text: str) -> SemVer | None:
        match = _SEMVER.match(text.strip())
        if match is None:
            return None
        major, minor, patch, pre = match.groups()
        if pre is None:
            release: tuple[tuple[int, int | str], ...] = ((2, ""),)
        else:
            release = tuple((0, int(part)) if part.isdigit() else (1, part)
                            for part in pre.split("."))
        return cls(int(major), int(minor), int(patch), release)


def _version_findings(old: Definition, new: Definition, breaking: bool) -> list[Finding]:
    before, after = old.version, new.version
    if before is None or after is None:
        missing = "the update" if after is None else "the previous definition"
        return [_update("UPD_VERSION_NOT_BUMPED",
                        f"{missing} has no version, so the bump cannot be checked",
                        'give both a semver "version"', "/version")]
    old_semver, new_semver = SemVer.parse(before), SemVer.parse(after)
    if old_semver is None or new_semver is None:
        which = after if new_semver is None else before
        return [_update("UPD_VERSION_NOT_SEMVER",
                        f"version {json.dumps(which)} is not semver, so whdebug cannot tell "
                        f"whether {json.dumps(after)} comes after {json.dumps(before)}",
                        "use MAJOR.MINOR.PATCH versions (Karzoun's submit-for-review page: "
                        "bump version (semver))", "/version")]
    if new_semver == old_semver:
        return [_update("UPD_VERSION_NOT_BUMPED",
                        f"version is still {json.dumps(after)}: an update must bump it",
                        f'set version to "{_bump(old_semver, breaking)}"', "/version")]
    if new_semver < old_semver:
        return [_update("UPD_VERSION_NOT_BUMPED",
                        f"version goes backwards: {json.dumps(before)} -> {json.dumps(after)}",
                        f'set version to "{_bump(old_semver, breaking)}"', "/version")]
    if breaking and new_semver.major == old_semver.major and old_semver.major > 0:
        return [_update("UPD_VERSION_NOT_MAJOR",
                        f"{json.dumps(before)} -> {json.dumps(after)} keeps the major version, "
                        "but this update breaks existing installs (see the errors above); "
                        "semver marks breaking changes with a major bump",
                        f'set version to "{_bump(old_semver, True)}", and document the '
                        "migration in the changelog", "/version")]
    return []


def _bump(version: SemVer, breaking: bool) -> str:
    if breaking and version.major > 0:
        return f"{version.major + 1}.0.0"
    return f"{version.major}.{version.minor + 1}.0"


# --- the static comparison ------------------------------------------------------------------


def _update(code: str, message: str, fix: str | None, pointer: str | None = None) -> Finding:
    return finding(code, message, fix, step="update", pointer=pointer)


def _quoted(values: Iterable[str]) -> str:
    return ", ".join(json.dumps(value) for value in values)


def _trigger_findings(old: Plan, new: Plan) -> list[Finding]:
    """Trigger events of the previous definition that the update no longer has."""
    new_events = set(new.trigger_events)
    removed = [event for event in dict.fromkeys(old.trigger_events) if event not in new_events]
    if not removed:
        return []
    old_events = set(old.trigger_events)
    added = {t.label: t.event for t in new.triggers
             if t.event is not None and t.event not in old_events and t.label}
    renamed = {t.event: added[t.label] for t in old.triggers
               if t.event in removed and t.label in added}
    parts = [f"{json.dumps(event)} (renamed to {json.dumps(renamed[event])})"
             if event in renamed else json.dumps(event) for event in removed]
    return [_update(
        "UPD_TRIGGER_REMOVED",
        f"{len(removed)} trigger event{'s' if len(removed) > 1 else ''} of "
        f"{old.label} {'are' if len(removed) > 1 else 'is'} gone: {', '.join(parts)}. "
        "Installed automations on these events silently stop firing",
        f"keep a trigger for {_quoted(removed)} beside any new event, or document the "
        "migration (each tenant rebuilds those automations)", "/triggers")]


def _verification_findings(old: Plan, new: Plan) -> list[Finding]:
    """A changed secret key, header, type or encoding: installs start getting 401."""
    before, after = old.verification, new.verification
    if before is None or after is None or before.type in (None, "none"):
        if after is not None and after.type not in (None, "none") and (
                before is None or before.type in (None, "none")):
            return [_update(
                "UPD_VERIFICATION_CHANGED",
                f"the update adds {after.type} verification with secretKey "
                f"{json.dumps(after.secret_key)}: installs without that secret get 401",
                f"make sure every install has {json.dumps(after.secret_key)} (an auth.config "
                "value, or a credential the install already stores), or document the "
                "re-install", "/webhook/verification")]
        return []
    changes: list[str] = []
    pointer = "/webhook/verification"
    if before.secret_key != after.secret_key:
        changes.append(f"secretKey {json.dumps(before.secret_key)} -> "
                       f"{json.dumps(after.secret_key)}")
        pointer += "/secretKey"
    if (before.header_name or "").lower() != (after.header_name or "").lower():
        changes.append(f"headerName {json.dumps(before.header_name)} -> "
                       f"{json.dumps(after.header_name)}")
    if before.type != after.type:
        changes.append(f"type {json.dumps(before.type)} -> {json.dumps(after.type)}")
    if before.encoding != after.encoding:
        changes.append(f"encoding {json.dumps(before.encoding)} -> "
                       f"{json.dumps(after.encoding)}")
    if not changes:
        return []
    return [_update(
        "UPD_VERIFICATION_CHANGED",
        f"webhook verification changed ({'; '.join(changes)}): existing installs keep their "
        "stored secret and the provider keeps signing as before, so every delivery to them "
        "gets 401",
        "keep the previous verification settings, or document the migration (each tenant "
        "re-installs or re-enters the secret)", pointer if len(changes) == 1 else
        "/webhook/verification")]


def _scopes(definition: Definition) -> list[str]:
    """OAuth scopes the definition asks for: auth.config.scope(s) and literal `scope=`
    parameters of auth_url (a string, `{url, params}`, or the url's query)."""
    auth = definition.auth
    texts: list[str] = []
    for key in ("scope", "scopes"):
        value = definition.auth_config.get(key)
        texts += [value] if isinstance(value, str) else (
            [v for v in value if isinstance(v, str)] if isinstance(value, list) else [])
    auth_url = auth.get("auth_url")
    url = auth_url if isinstance(auth_url, str) else (
        auth_url.get("url") if isinstance(auth_url, dict) else None)
    if isinstance(url, str):
        texts += [unquote_plus(value) for name, value in
                  parse_qsl(urlsplit(url).query, keep_blank_values=True) if name == "scope"]
    params = auth_url.get("params") if isinstance(auth_url, dict) else None
    if isinstance(params, dict) and isinstance(params.get("scope"), str):
        texts.append(params["scope"])
    scopes: list[str] = []
    for text in texts:
        scopes += [s for s in re.split(r"[\s,+]+", text) if s and "{{" not in s]
    return list(dict.fromkeys(scopes))


def _form_fields(definition: Definition) -> list[str]:
    form = definition.auth.get("form")
    return [key for key in form if isinstance(key, str)] if isinstance(form, dict) else []


def _reauth_findings(old: Definition, new: Definition) -> list[Finding]:
    added: list[str] = []
    kinds: tuple[tuple[str, Callable[[Definition], list[str]]], ...] = (
        ("sensitive key", lambda definition: definition.sensitive_keys),
        ("install form field", _form_fields), ("OAuth scope", _scopes))
    for what, items in kinds:
        before = set(items(old))
        new_items = [item for item in items(new) if item not in before]
        if new_items:
            added.append(f"{what}{'s' if len(new_items) > 1 else ''} {_quoted(new_items)}")
    if not added:
        return []
    return [_update(
        "UPD_REAUTH_REQUIRED",
        f"the update adds {'; '.join(added)}: existing installs do not have them until "
        "they re-authorise (their stored credentials and form values are kept as they were)",
        "say in the changelog that installs must reconnect, or make the new values "
        "optional until they do", "/auth")]


def _ns_findings(old: Definition, new: Definition) -> list[Finding]:
    if old.ns == new.ns:
        return []
    return [_update(
        "UPD_NS_CHANGED",
        f"ns changed from {json.dumps(old.ns)} to {json.dumps(new.ns)}: an update never "
        "changes ns (installs, webhook URLs and trigger types are keyed on it)",
        f"set ns back to {json.dumps(old.ns)}; a new ns is a new MiniApp and a new "
        "submission", "/ns")]


def _paths_changed(old: Definition, new: Definition) -> list[str]:
    """The webhook blocks whose paths differ: eventExtraction, transactionId."""
    return [key for key in ("eventExtraction", "transactionId")
            if old.webhook.get(key) != new.webhook.get(key)]


def compare_definitions(old: Definition, new: Definition) -> list[Finding]:
    """The update findings that need no delivery: ns, triggers, verification, re-auth, and
    the version bump (judged against what the rest found)."""
    old_plan, new_plan = compile_definition(old), compile_definition(new)
    breaks = _trigger_findings(old_plan, new_plan) + _verification_findings(old_plan, new_plan)
    found = _ns_findings(old, new) + breaks + _reauth_findings(old, new)
    return _version_findings(old, new, bool(breaks)) + found


# --- replaying the deliveries under both ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the runtime does with one delivery under one definition."""

    status: str
    event: str | None
    triggers: tuple[str, ...]
    transaction: str | None
    once_verified: bool = False
    """The request is rejected; event and triggers are what would follow a passing signature."""

    @classmethod
    def of(cls, report: Report) -> Verdict:
        if report.outcome.status == "rejected" and report.outcome.if_verified is not None:
            hypothetical = report.outcome.if_verified
            return cls("rejected", hypothetical.get("event"),
                       tuple(hypothetical.get("triggers") or ()), report.transaction.id, True)
        return cls(report.outcome.status, report.event.value, report.outcome.triggers,
                   report.transaction.id)


def _fate(verdict: Verdict) -> tuple[str, tuple[str, ...]]:
    status = "nothing" if verdict.status in ("no-event", "no-trigger") else verdict.status
    return status, verdict.triggers


@dataclass(frozen=True, slots=True)
class DeliveryChange:
    """A delivery whose outcome or transaction id differs between the two definitions."""

    delivery: str
    before: Verdict
    after: Verdict

    @property
    def outcome_changed(self) -> bool:
        """The triggers fired differ, or the request is now rejected, deduplicated or a
        challenge where it was not (no-event and no-trigger both fire nothing)."""
        return _fate(self.before) != _fate(self.after)

    def describe(self) -> str:
        def side(verdict: Verdict) -> str:
            fired = f" {', '.join(verdict.triggers)}" if verdict.triggers else ""
            event = "event once verified" if verdict.once_verified else "event"
            return f"{verdict.status}{fired} ({event} {json.dumps(verdict.event)})"
        return f"{self.delivery}: {side(self.before)} -> {side(self.after)}"


@dataclass(frozen=True, slots=True)
class UpdateComparison:
    """`check NEW --previous OLD`: the findings, and what the replay of deliveries found."""

    previous: Definition
    findings: tuple[Finding, ...]
    changed_paths: tuple[str, ...] = ()
    """eventExtraction and/or transactionId, when they differ."""
    deliveries: int | None = None
    """Deliveries replayed under both (None: nothing to replay, or no path changed)."""
    source: str | None = None
    """Where the deliveries came from: `the store PATH`, `samples in DIR`."""
    changes: tuple[DeliveryChange, ...] = field(default=())

    def document(self) -> dict[str, Any]:
        """The `update` object of `check --previous --json`."""
        return {
            "previous": {"ns": self.previous.ns, "version": self.previous.version,
                         "path": self.previous.path},
            "changed_paths": list(self.changed_paths),
            "deliveries": self.deliveries,
            "source": self.source,
            "changes": [{"delivery": c.delivery, "outcome_changed": c.outcome_changed,
                         "before": _verdict_json(c.before), "after": _verdict_json(c.after)}
                        for c in self.changes],
        }


def _verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {"status": verdict.status, "event": verdict.event,
            "triggers": list(verdict.triggers), "transaction": verdict.transaction,
            "once_verified": verdict.once_verified}


def replay_both(old: Definition, new: Definition,
                deliveries: Iterable[tuple[str, Capture]], secrets: Secrets, *,
                now: datetime, options: AnalysisOptions = DEFAULT_OPTIONS,
                ) -> tuple[int, list[DeliveryChange]]:
    """Each delivery's verdict under both definitions, in arrival order, each definition with
    its own dedupe history: how many were replayed, and the ones that differ (read one at a
    time, so a large store is never held in memory)."""
    quiet = AnalysisOptions(options.missing_part, options.nullish, diagnose=False)
    before = ReplaySession(old, secrets, now=now, options=quiet)
    after = ReplaySession(new, secrets, now=now, options=quiet)
    changes: list[DeliveryChange] = []
    count = 0
    for name, capture in deliveries:
        count += 1
        old_verdict = Verdict.of(before.replay(capture))
        new_verdict = Verdict.of(after.replay(capture))
        if old_verdict != new_verdict:
            changes.append(DeliveryChange(name, old_verdict, new_verdict))
    return count, changes


def _replay_findings(changed: list[str], changes: list[DeliveryChange], count: int,
                     source: str) -> list[Finding]:
    blocks = " and ".join(f"webhook.{key}" for key in changed)
    outcome = [c for c in changes if c.outcome_changed]
    found: list[Finding] = []
    if outcome:
        named = "; ".join(c.describe() for c in outcome[:_NAMED])
        more = f"; and {len(outcome) - _NAMED} more" if len(outcome) > _NAMED else ""
        found.append(_update(
            "UPD_OUTCOME_CHANGED",
            f"{blocks} changed, and {len(outcome)} of {count} deliveries from {source} get a "
            f"different outcome: {named}{more}",
            "keep the previous paths for the events these deliveries carry (a fallback or "
            "per-event path), or document the change", "/webhook"))
    moved = [c for c in changes if not c.outcome_changed
             and c.before.transaction != c.after.transaction]
    if moved:
        found.append(_update(
            "UPD_TRANSACTION_ID_CHANGED",
            f"{len(moved)} of {count} deliveries get a different transaction id: a provider "
            "retry of a delivery received before the update is not recognised as a "
            f"duplicate (first: {moved[0].delivery}: {json.dumps(moved[0].before.transaction)}"
            f" -> {json.dumps(moved[0].after.transaction)})",
            "keep the previous transactionId paths, or accept one duplicate run per retried "
            "delivery around the update", "/webhook/transactionId"))
    if not found:
        found.append(_update(
            "UPD_REPLAY_SAME",
            f"{blocks} changed; all {count} deliveries from {source} get the same outcome "
            "under both definitions", None, "/webhook"))
    return found


def compare_update(old: Definition, new: Definition,
                   deliveries: Iterable[tuple[str, Capture]] | None, secrets: Secrets, *,
                   now: datetime, source: str | None = None,
                   options: AnalysisOptions = DEFAULT_OPTIONS) -> UpdateComparison:
    """The whole comparison: the static findings, then, when eventExtraction or
    transactionId changed, the replay of `deliveries` (name, capture) under both."""
    found = compare_definitions(old, new)
    changed = _paths_changed(old, new)
    if not changed:
        return UpdateComparison(old, tuple(found))
    blocks = " and ".join(f"webhook.{key}" for key in changed)
    count, changes = replay_both(old, new, deliveries or (), secrets, now=now,
                                 options=options)
    if not count:
        found.append(_update(
            "UPD_NOT_REPLAYED",
            f"{blocks} changed, and there are no deliveries to replay under both definitions"
            + (f" ({source} is empty)" if source else ""),
            "capture deliveries with `whdebug serve` (or import them), or pass --samples DIR",
            "/webhook"))
        return UpdateComparison(old, tuple(found), tuple(changed), 0, source)
    found += _replay_findings(changed, changes, count, source or "the deliveries")
    return UpdateComparison(old, tuple(found), tuple(changed), count, source, tuple(changes))
