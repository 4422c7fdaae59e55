"""The analysis index: which verdicts a definition and its credentials give every capture.

Kept in the store (whdebug.store.analyses) per *fingerprint*: a keyed hash (HMAC-SHA256 with
the store's random salt) of each part that decides a verdict — the definition split by the
runtime step that reads it, the credentials, the analysis options, the clock, the built-in
profile and the engine's own source. The fingerprint and its parts are hashes under a key
that never leaves the store, so they reveal no secret beyond what the store's captures (their
signatures over known bodies) already do.

Filling follows the one dedupe rule: one `ReplaySession` replays the captures oldest first, so
every capture is deduplicated against every earlier one in arrival order. A fill may stop at
any point; the next one settles the kept rows' transaction ids into its session before it
analyses the first missing capture.

Incremental updates: when the fingerprint changes, `reusable_outcomes` compares the parts
once and says which verdicts cannot change. A capture the runtime stops before event
extraction (a challenge, or a rejected signature) depends only on the steps up to
verification, and on event extraction for the event it would carry once verified; so when
only later steps changed (event extraction, transaction id, customer, sync, triggers,
response), those rows are carried over and only the accepted captures are analysed again.
Any other change, or a part this module does not know, re-runs everything.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

from whdebug.engine.analyze import AnalysisOptions
from whdebug.engine.plan import Plan, compile_definition
from whdebug.engine.report import Report
from whdebug.engine.session import ReplaySession, accepted_transaction
from whdebug.errors import WhdebugError
from whdebug.model.definition import Definition
from whdebug.model.request import Capture, Secrets
from whdebug.store.analyses import AnalysisRow, AnalysisSet

if TYPE_CHECKING:
    from whdebug.store.base import IndexedStore
    from whdebug.tools.profiles import Profile as BuiltinProfile

INDEX_VERSION = "1"
"""Bumped when the rows' meaning changes (every set is then recomputed)."""
_WEBHOOK_PARTS = {
    "challengeResponse": "challenge",
    "verification": "verification",
    "eventExtraction": "event",
    "transactionId": "transaction",
    "customerExtraction": "customer",
    "response": "response",
}
_AFTER_VERIFICATION = frozenset({"event", "transaction", "customer", "sync", "triggers",
                                 "response"})
"""Parts read only by steps after verification (and by the rejected capture's `if_verified`
event, for `event`)."""
ALL_OUTCOMES = ("fires", "no-trigger", "no-event", "duplicate", "rejected", "challenge")
FILL_BATCH = 250


@dataclass(frozen=True, slots=True)
class IndexProfile:
    """Everything that decides a capture's verdict in one index."""

    definition: Definition
    secrets: Secrets
    options: AnalysisOptions = AnalysisOptions()
    now: datetime | None = None
    """Judge timestamps at this time; None: at each capture's arrival."""
    builtin: BuiltinProfile | None = None
    plan: Plan | None = None

    def clock(self, capture: Capture) -> datetime:
        return self.now or capture.source.received_at or datetime.now(UTC)

    def session(self) -> ReplaySession:
        """A fresh session replaying captures in arrival order (no window)."""
        analyzer = None
        if self.builtin is not None:
            from whdebug.tools.profiles import analyze_profile

            analyzer = functools.partial(analyze_profile, profile=self.builtin,
                                         secrets=self.secrets)
        return ReplaySession(self.definition, self.secrets, now=self.clock,
                             options=self.options, analyzer=analyzer)


# -- fingerprints -----------------------------------------------------------------------------

def _canonical(value: Any) -> bytes:
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


def profile_parts(profile: IndexProfile) -> dict[str, bytes]:
    """The parts of a fingerprint, in clear (hash them with `fingerprint`; never store)."""
    data = profile.definition.data
    webhook = data.get("webhook") if isinstance(data.get("webhook"), dict) else None
    plan = profile.plan or compile_definition(profile.definition)
    parts = {name: _canonical(webhook.get(key) if webhook else None)
             for key, name in _WEBHOOK_PARTS.items()}
    other_webhook = ({k: v for k, v in webhook.items() if k not in _WEBHOOK_PARTS}
                     if webhook is not None else data.get("webhook"))
    other = {k: v for k, v in data.items() if k not in ("webhook", "sync", "triggers")}
    options = profile.options
    parts.update({
        "engine": engine_digest().encode(),
        "sync": _canonical(data.get("sync")),
        "triggers": _canonical(data.get("triggers")),
        "findings": _canonical([[f.code, f.pointer, f.message] for f in plan.findings]),
        "other": _canonical([other, other_webhook]),
        "secrets": _canonical([dict(profile.secrets.credentials),
                               dict(profile.secrets.config)]),
        "options": _canonical([options.missing_part, options.nullish, options.diagnose,
                               repr(options.expected_body), len(options.peers)]),
        "clock": _canonical(profile.now.isoformat() if profile.now else "arrival"),
        "profile": _canonical(profile.builtin.name if profile.builtin else None),
    })
    return parts


def fingerprint(salt: bytes, parts: Mapping[str, bytes]) -> tuple[str, dict[str, str]]:
    """(fingerprint, keyed hash of each part): HMAC-SHA256 under the store's salt."""
    hashed = {name: hmac.new(salt, name.encode() + b"\0" + value, hashlib.sha256).hexdigest()
              for name, value in parts.items()}
    whole = hmac.new(salt, _canonical(sorted(hashed.items())), hashlib.sha256).hexdigest()
    return whole, hashed


def changed_parts(old: Mapping[str, str], new: Mapping[str, str]) -> set[str]:
    return {name for name in {*old, *new} if old.get(name) != new.get(name)}


def reusable_outcomes(old: Mapping[str, str], new: Mapping[str, str]) -> tuple[str, ...]:
    """The outcomes whose rows stay valid from the `old` parts to the `new` ones (none: re-run
    everything)."""
    changed = changed_parts(old, new)
    if not changed or not changed <= _AFTER_VERIFICATION:
        return ()
    if changed == {"response"}:  # only the HTTP answer, which no row keeps
        return ALL_OUTCOMES
    return ("challenge",) if "event" in changed else ("challenge", "rejected")


# -- filling ----------------------------------------------------------------------------------

class IndexStore(Protocol):
    """What filling needs from a store (a Store, or the TUI's shared one)."""

    def get(self, capture_id: int) -> Capture: ...

    def analyses_between(self, set_id: int, first: int, last: int) -> dict[int, AnalysisRow]: ...

    def put_analyses(self, set_id: int, rows: Sequence[AnalysisRow]) -> None: ...


def row_of(capture_id: int, report: Report) -> AnalysisRow:
    """The verdict the index keeps from a report."""
    hypothetical = report.outcome.if_verified
    if_event = hypothetical.get("event") if hypothetical else None
    return AnalysisRow(capture_id, report.event.value, report.outcome.status,
                       report.signature.verdict, tuple(report.codes()),
                       if_event if isinstance(if_event, str) else None,
                       report.transaction.duplicate_of, accepted_transaction(report))


def supports_index(store: object) -> TypeGuard[IndexedStore]:
    """True when the store keeps analysis sets (both stores: SQLite and PostgreSQL, through
    whdebug.store.analyses and whdebug.store.pg_analyses)."""
    return all(hasattr(store, name) for name in (
        "analysis_salt", "open_analysis_set", "other_analysis_sets", "carry_analyses",
        "put_analyses", "analyses_between", "analysis_counts", "filter_analyses"))



def indexed(store: object) -> IndexedStore:
    """The store as an index keeper; callers check `supports_index` first."""
    if not supports_index(store):
        raise WhdebugError("this capture store keeps no analysis index")
    return store

def prepare(store: Any, profile: IndexProfile) -> AnalysisSet:
    """Open (or create) the analysis set of `profile` in a Store; a new set takes the rows
    that cannot change from the most recent set they can come from."""
    whole, hashed = fingerprint(store.analysis_salt(), profile_parts(profile))
    analysis_set: AnalysisSet = store.open_analysis_set(whole, hashed)
    if analysis_set.created:
        for older in store.other_analysis_sets(analysis_set.id):
            outcomes = reusable_outcomes(older.parts, hashed)
            if outcomes:
                store.carry_analyses(older.id, analysis_set.id, outcomes)
                break
    return analysis_set


class IndexFill:
    """Fills one analysis set, oldest first, through one ReplaySession (arrival order)."""

    def __init__(self, analysis_set: AnalysisSet, profile: IndexProfile) -> None:
        self.set = analysis_set
        self.profile = profile
        self.session = profile.session()
        self.last_id = 0
        """The newest capture entered into the session (ids must come in increasing)."""
        self.computed = 0
        """Captures this fill analysed (the rest came from the store)."""

    def run(self, store: IndexStore, capture_ids: Sequence[int], *,
            batch: int = FILL_BATCH, pause: Callable[[], None] = lambda: None,
            between: Callable[[], None] = lambda: None,
            cancelled: Callable[[], bool] = lambda: False) -> Iterator[list[AnalysisRow]]:
        """The rows of `capture_ids` (oldest first, newer than any before), batch by batch;
        missing ones are analysed and stored. `pause` runs before each analysis, `between`
        before each batch; stops early when `cancelled()`."""
        ids = [capture_id for capture_id in capture_ids if capture_id > self.last_id]
        for start in range(0, len(ids), batch):
            between()
            if cancelled():
                return
            chunk = ids[start:start + batch]
            known = store.analyses_between(self.set.id, chunk[0], chunk[-1])
            rows: list[AnalysisRow] = []
            new: list[AnalysisRow] = []
            for capture_id in chunk:
                row = known.get(capture_id)
                if row is None:
                    pause()
                    row = self._analyse(store, capture_id)
                    new.append(row)
                else:
                    self.session.settle(row.transaction_id, capture_id)
                rows.append(row)
                self.last_id = capture_id
            if new:
                store.put_analyses(self.set.id, new)
                self.computed += len(new)
            yield rows

    def _analyse(self, store: IndexStore, capture_id: int) -> AnalysisRow:
        try:
            capture = store.get(capture_id)
        except WhdebugError as error:
            self.session.settle(None, capture_id)
            return AnalysisRow(capture_id, None, "none", "none", problem=str(error))
        try:
            report = self.session.replay(capture)
        except Exception as error:  # an engine failure: the capture claims no id
            return AnalysisRow(capture_id, None, "none", "none",
                               problem=f"analysis failed: {type(error).__name__}: {error}")
        return row_of(capture_id, report)


def fill(store: Any, profile: IndexProfile,
         progress: Callable[[int, int], None] | None = None) -> AnalysisSet:
    """Bring the profile's set in a Store up to date at once (the CLI); its set."""
    analysis_set = prepare(store, profile)
    ids = store.ids()
    if sum(store.analysis_counts(analysis_set.id).values()) == len(ids):
        return analysis_set  # every capture has its row (deletions take theirs along)
    done = 0
    for rows in IndexFill(analysis_set, profile).run(store, ids):
        done += len(rows)
        if progress is not None:
            progress(done, len(ids))
    return analysis_set
