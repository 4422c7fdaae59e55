"""The analysis index's fingerprints (whdebug.store.index), computed without the engine.

A set's fingerprint is a keyed hash of its parts: the definition split by the runtime step
that reads it, the credentials, the analysis options, the clock, the built-in profile, the
engine's own source, and the definition's findings. Only the findings need the engine (the
definition compiled); they are a function of the definition and the engine's source, which
the other parts hash whole. So a set whose every other part matches is the set the full
fingerprint names: the TUI finds it, and draws its verdicts, before the engine is imported.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from whdebug.model.request import Secrets
from whdebug.store.analyses import AnalysisSet

INDEX_VERSION = "1"
"""Bumped when the rows' meaning changes (every set is then recomputed)."""
WEBHOOK_PARTS = {
    "challengeResponse": "challenge",
    "verification": "verification",
    "eventExtraction": "event",
    "transactionId": "transaction",
    "customerExtraction": "customer",
    "response": "response",
}
AFTER_VERIFICATION = frozenset({"event", "transaction", "customer", "sync", "triggers",
                                "response"})
"""Parts read only by steps after verification (and by the rejected capture's `if_verified`
event, for `event`)."""
ALL_OUTCOMES = ("fires", "no-trigger", "no-event", "duplicate", "rejected", "challenge")
FINDINGS = "findings"
"""The part that needs the engine: the definition's own findings (`Plan.findings`)."""


def canonical(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                      default=repr).encode("utf-8")


@functools.cache
def engine_digest() -> str:
    """A hash of the analysing code (engine, model, tools): a new whdebug recomputes."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(INDEX_VERSION.encode())
    for folder in ("engine", "model", "tools"):
        for path in sorted((root / folder).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def options_part(missing_part: str, nullish: bool, diagnose: bool,
                 expected_body: tuple[str, bytes] | None, peers: int) -> list[Any]:
    """The analysis options as the fingerprint reads them (`engine.AnalysisOptions`'s
    fields; `peers` is how many)."""
    return [missing_part, nullish, diagnose, repr(expected_body), peers]


def parts_but_findings(data: Mapping[str, Any], secrets: Secrets, options: list[Any],
                       now: datetime | None, builtin: str | None) -> dict[str, bytes]:
    """Every part of a fingerprint but FINDINGS, in clear (never store them): `data` is the
    definition's document, `options` an `options_part`, `builtin` the profile's name."""
    webhook = data.get("webhook") if isinstance(data.get("webhook"), dict) else None
    parts = {name: canonical(webhook.get(key) if webhook else None)
             for key, name in WEBHOOK_PARTS.items()}
    other_webhook = ({k: v for k, v in webhook.items() if k not in WEBHOOK_PARTS}
                     if webhook is not None else data.get("webhook"))
    other = {k: v for k, v in data.items() if k not in ("webhook", "sync", "triggers")}
    parts.update({
        "engine": engine_digest().encode(),
        "sync": canonical(data.get("sync")),
        "triggers": canonical(data.get("triggers")),
        "other": canonical([other, other_webhook]),
        "secrets": canonical([dict(secrets.credentials), dict(secrets.config)]),
        "options": canonical(options),
        "clock": canonical(now.isoformat() if now else "arrival"),
        "profile": canonical(builtin),
    })
    return parts


def hash_parts(salt: bytes, parts: Mapping[str, bytes]) -> dict[str, str]:
    """The keyed hash of each part (HMAC-SHA256 under the store's salt)."""
    return {name: hmac.new(salt, name.encode() + b"\0" + value, hashlib.sha256).hexdigest()
            for name, value in parts.items()}


def fingerprint(salt: bytes, parts: Mapping[str, bytes]) -> tuple[str, dict[str, str]]:
    """(fingerprint, keyed hash of each part): HMAC-SHA256 under the store's salt."""
    hashed = hash_parts(salt, parts)
    whole = hmac.new(salt, canonical(sorted(hashed.items())), hashlib.sha256).hexdigest()
    return whole, hashed


def set_without_findings(sets: Iterable[AnalysisSet], salt: bytes,
                         parts: Mapping[str, bytes]) -> AnalysisSet | None:
    """The set whose parts are `parts` (every part but FINDINGS, `parts_but_findings`) and
    the findings part: the set the full fingerprint names (see the module's docstring)."""
    hashed = hash_parts(salt, parts)
    names = {*hashed, FINDINGS}
    return next((s for s in sets if s.parts.keys() == names
                 and all(s.parts[name] == value for name, value in hashed.items())), None)


def changed_parts(old: Mapping[str, str], new: Mapping[str, str]) -> set[str]:
    return {name for name in {*old, *new} if old.get(name) != new.get(name)}


def reusable_outcomes(old: Mapping[str, str], new: Mapping[str, str]) -> tuple[str, ...]:
    """The outcomes whose rows stay valid from the `old` parts to the `new` ones (none: re-run
    everything)."""
    changed = changed_parts(old, new)
    if not changed or not changed <= AFTER_VERIFICATION:
        return ()
    if changed == {"response"}:  # only the HTTP answer, which no row keeps
        return ALL_OUTCOMES
    return ("challenge",) if "event" in changed else ("challenge", "rejected")
