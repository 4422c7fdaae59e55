"""Triggers no real delivery reaches: each trigger event against what the provider's own
deliveries (whdebug's samples, with the headers the provider sends) are read as.

`check` lints a definition against the docs, and `check --samples` fires the samples it is
given; neither knows what the provider really sends. Karzoun's own GitHub example subscribes
`issue.opened`, while GitHub names that delivery `issues` (X-GitHub-Event), so the runtime
reads `issues.opened`; and `push.received`, while a push delivery has no `action`, so it is
read as `push.` (or `push` or `push.undefined`, by how the runtime joins a missing composite
part). `samples --for` then wrote the missing value into the payload, and every check passed.

A trigger is reported only when a provider sample comes close to it: the sample is read as a
near miss of it (the same words in another letter case, with other separators, a plural s or
a past tense), or as its leading parts with a part the delivery does not carry. A trigger no
sample comes near (a delivery kind whdebug has no sample of) is not judged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from whdebug.engine.lint.definition import check_definition
from whdebug.engine.locations import Location, def_finding, where
from whdebug.engine.patches import PatchError, PatchOp, apply_patch
from whdebug.engine.paths import parse_body
from whdebug.engine.plan import compile_definition
from whdebug.engine.report import Finding
from whdebug.engine.steps.events import extract_event
from whdebug.engine.steps.transactions import extract_transaction
from whdebug.model.definition import Definition
from whdebug.tools.samples import (
    event_words,
    events,
    guess_provider,
    holds,
    inflected,
    load_sample,
    sample_request,
)

_SAMPLED_AT = datetime(2025, 11, 24, 16, 0, 0, tzinfo=UTC)
_READINGS = {"empty": "a missing part joins as empty", "skip": "the runtime skips it",
             "undefined": "it joins as the text undefined"}


@dataclass(frozen=True, slots=True)
class _Reading:
    """How the runtime reads one provider sample under this definition."""

    sample: str
    value: str
    variants: dict[str, str]
    parts: tuple[tuple[str, bool, str | None], ...]
    """(path, found, value) per composite part; () for a simple extraction."""
    separator: str
    separator_unset: bool
    """compositeStrategy has no separator, so JavaScript's join() puts a comma."""
    transaction: str | None = None
    """The transaction id the runtime dedupes this delivery on (None: none, or generated),
    with every digit of the payload."""
    override: str | None = None
    """The transactionId.overrides entry that gave it, if one did."""
    transaction_paths: tuple[str, ...] = ()
    document: Any = None
    """The delivery's JSON body."""


def lint(definition: Definition, *, submission: bool = False) -> list[Finding]:
    """`check_definition`, plus the triggers no delivery of the provider reaches."""
    return [*check_definition(definition, submission=submission),
            *trigger_findings(definition)]


def named_trigger(definition: Definition, finding: Finding) -> str | None:
    """The event of the trigger a finding points at (`/triggers/N/event`), or whose deliveries
    a shared transaction id drops; None when it points elsewhere (a missing separator
    concerns every trigger)."""
    if finding.code == "DEF_TX_NOT_PER_DELIVERY":  # the trigger whose deliveries it drops
        return next((event for event in definition.trigger_events
                     if f"so trigger {event!r} never fires" in finding.message), None)
    parts = (finding.pointer or "").split("/")
    if len(parts) != 4 or parts[1] != "triggers" or not parts[2].isdigit():
        return None
    index = int(parts[2])
    trigger = definition.triggers[index] if index < len(definition.triggers) else None
    event = trigger.get("event") if isinstance(trigger, dict) else None
    return event if isinstance(event, str) else None


def trigger_findings(definition: Definition) -> list[Finding]:
    """DEF_TRIGGER_UNREACHABLE for each trigger a provider sample is read close to, but not as."""
    provider = guess_provider(definition)
    if provider is None or not definition.triggers:
        return []
    try:
        readings = _readings(definition, provider)
    except Exception:  # a definition the engine cannot read has its own findings
        return []
    subscribed: set[object] = {trigger.get("event") for trigger in definition.triggers
                               if isinstance(trigger, dict)
                               and isinstance(trigger.get("event"), str)}
    # Under any of the runtime's readings of a missing composite part: which one it uses is
    # not documented, so a trigger one of them reaches is not reported.
    read = {value for reading in readings
            for value in (reading.value, *reading.variants.values())}
    findings: list[Finding] = []
    seen: set[str | None] = set()
    for index, trigger in enumerate(definition.triggers):
        event = trigger.get("event") if isinstance(trigger, dict) else None
        if not isinstance(event, str) or not event or event in read:
            continue
        found = _near(event, readings, provider, subscribed, index, definition.sync_handlers)
        if found is None:
            found = _missing_part(event, readings, provider, index)
        if found is not None and found.pointer not in seen:
            findings.append(found)  # a missing separator, shared by every trigger: said once
            if not found.pointer or not found.pointer.startswith("/triggers/"):
                seen.add(found.pointer)
    findings += _shared_ids(definition, readings, provider, read_as=subscribed)
    return findings


def _readings(definition: Definition, provider: str) -> list[_Reading]:
    plan = compile_definition(definition)
    spec = plan.event_extraction
    if spec is None:
        return []
    composite = spec.composite
    separator = "" if composite is None else (
        "," if composite.separator is None else composite.separator)
    readings = []
    for name in events(provider):
        sample = load_sample(provider, name)
        request = sample_request(sample, _SAMPLED_AT)
        body = parse_body(request)
        result, _ = extract_event(spec, request, body, "empty")
        if result.value is None:
            continue
        parts = tuple((part.path, part.found, part.value) for part in result.parts) \
            if composite is not None else ()
        transaction, said = extract_transaction(plan.transaction, result.value, request, body) \
            if plan.transaction is not None else (None, [])
        # an id with a part the sample lacks is not judged: the sample may be the one short
        judged = transaction is not None and not transaction.generated and not any(
            item.code == "TX_NOT_FOUND" for item in said)
        readings.append(_Reading(
            name, result.value, dict(result.variants or {}), parts, separator,
            composite is not None and composite.separator is None,
            (transaction.exact_id or transaction.id) if judged and transaction else None,
            transaction.override if transaction is not None else None,
            transaction.paths if transaction is not None else (),
            json.loads(sample.payload)))
    return readings


def _near(event: str, readings: list[_Reading], provider: str, subscribed: set[object],
          index: int, handlers: dict[str, Any]) -> Finding | None:
    """The trigger is a near miss of what a sample is read as (`issue.opened`: `issues.opened`)."""
    for reading in readings:
        reason = _near_words(reading.value, event)
        if reason is None or reading.value in subscribed:
            continue
        at: Location = ("triggers", index, "event")
        alternatives = _alternatives(reading)
        joined = _separator_in(event, reading)
        commas = any(isinstance(other, str) and "," in other for other in subscribed)
        if reading.separator_unset and joined is not None and (
                reading.value.replace(",", joined) == event):
            at = ("webhook", "eventExtraction", "compositeStrategy", "separator")
            return def_finding(
                "DEF_TRIGGER_UNREACHABLE",
                f"trigger {event!r} never fires for {_who(provider)}'s {reading.sample} "
                f"delivery: compositeStrategy has no separator, so JavaScript's join() puts a "
                f"comma between the parts and the runtime reads {reading.value!r}",
                f"set {where(at)} to {json.dumps(joined)}" + (
                    "; the triggers written with a comma then need renaming too"
                    if commas else ""), at,
                # Not as a patch when a trigger relies on the comma: it would stop firing.
                patch=None if commas else (PatchOp(
                    "add", "/webhook/eventExtraction/compositeStrategy/separator", joined),))
        fix = f"set {where(at)} to {json.dumps(reading.value)}{alternatives}"
        patch: tuple[PatchOp, ...] = (
            PatchOp("replace", f"/triggers/{index}/event", reading.value),)
        if event in handlers and reading.value not in handlers:
            # a handler keyed by the old name would then match no trigger: it goes along
            fix += (f", and rename sync.webhooks.handlers[{json.dumps(event)}] to "
                    f"{json.dumps(reading.value)}, which the runtime looks up by the same event")
            patch += (PatchOp("move", "/sync/webhooks/handlers/" + _token(reading.value),
                              from_="/sync/webhooks/handlers/" + _token(event)),)
        return def_finding(
            "DEF_TRIGGER_UNREACHABLE",
            f"trigger {event!r} never fires for {_who(provider)}'s {reading.sample} delivery: "
            f"the runtime reads it as {reading.value!r} ({reason}"
            f"{'; ' + alternatives[2:-1] if alternatives else ''}), and a trigger fires only "
            f"on the exact event{_NO_MAPPING.get(provider, '')}",
            fix, at, patch=None if alternatives else patch)
    return None


_NO_MAPPING = {"shopify": " (the e-commerce guide speaks of Shopify topics normalized, "
                          "orders/create to order.created; a MiniApp gets no such mapping: "
                          "eventExtraction reads the topic as Shopify sends it)"}
"""What a provider's docs say that leads to the near miss, answered."""


def _token(key: str) -> str:
    """A key as one JSON Pointer reference token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def _near_words(read: str, event: str) -> str | None:
    """How `event` differs from `read` when it is the same words, told apart only by letter
    case, separators (a missing part's trailing one included), a plural s or a past tense:
    the mistakes a trigger for that delivery is written with. Any other difference, however
    small, may be another event the provider sends (`pull_request.reopened` beside
    `pull_request.opened`): None."""
    if read == event:
        return None
    if read.lower() == event.lower():
        return "differs only in letter case"
    ours, theirs = event_words(event), event_words(read)
    if len(ours) != len(theirs) or not ours:
        return None
    if ours == theirs:
        return "differs only in separators"
    changed = [(mine, delivered) for mine, delivered in zip(ours, theirs, strict=True)
               if mine != delivered]
    if all(inflected(mine, delivered) for mine, delivered in changed):
        return "; ".join(f"{mine!r} where the delivery has {delivered!r}"
                         for mine, delivered in changed)
    return None


def _missing_part(event: str, readings: list[_Reading], provider: str,
                  index: int) -> Finding | None:
    """The trigger needs a composite part the delivery lacks (`push.received`: a push has no
    `action`, so it is read as `push.`)."""
    for reading in readings:
        if not reading.parts or not reading.separator:
            continue
        pieces = event.split(reading.separator, len(reading.parts) - 1)
        if len(pieces) != len(reading.parts):
            continue
        missing = [path for (path, found, _), piece in zip(reading.parts, pieces, strict=True)
                   if not found]
        agree = all(found and value == piece or not found
                    for (_, found, value), piece in zip(reading.parts, pieces, strict=True))
        if not missing or not agree or len(missing) == len(reading.parts):
            continue
        at = ("triggers", index, "event")
        alternatives = _alternatives(reading)
        return def_finding(
            "DEF_TRIGGER_UNREACHABLE",
            f"trigger {event!r} waits for {' and '.join(_wanted(missing, pieces, reading))}, "
            f"which {_who(provider)}'s {reading.sample} delivery (whdebug's sample of it) "
            f"does not carry: the runtime reads it as {reading.value!r}{alternatives}, so "
            f"unless some {reading.sample} deliveries carry it, this trigger never fires",
            f"to fire on every {reading.sample} delivery, set {where(at)} to "
            f"{json.dumps(reading.value)}{alternatives}; or read the event from a field the "
            "delivery carries", at)
    return None


def _shared_ids(definition: Definition, readings: list[_Reading], provider: str, *,
                read_as: set[object]) -> list[Finding]:
    """DEF_TX_NOT_PER_DELIVERY: two deliveries of different events (one a trigger's) read with
    one transaction id. It then names the thing they are about (an order), not the delivery,
    and the runtime drops whichever comes second."""
    findings: list[Finding] = []
    spec = definition.webhook.get("transactionId")
    spec = spec if isinstance(spec, dict) else {}
    by_id: dict[str, list[_Reading]] = {}
    for reading in readings:
        if reading.transaction:
            by_id.setdefault(reading.transaction, []).append(reading)
    for transaction, group in by_id.items():
        kinds = {reading.value: reading for reading in group}
        if len(kinds) < 2 or not any(event in read_as for event in kinds):
            continue
        first, *later = _in_course(list(kinds.values()))
        dropped = next((r for r in later if r.value in read_as), later[0])
        thing = _thing(first.value, dropped.value)
        override = dropped.override or first.override
        at: Location = (("webhook", "transactionId", "overrides", override, "paths")
                        if override else ("webhook", "transactionId", "paths"))
        shown_paths = ", ".join(dropped.transaction_paths) or "its path"
        fix, patch = _own_id_fix(definition, dropped, first, spec, provider, read_as)
        findings.append(def_finding(
            "DEF_TX_NOT_PER_DELIVERY",
            f"{_who(provider)}'s {first.sample} and {dropped.sample} deliveries about one "
            f"{thing} carry the same transaction id ({shown_paths}: {transaction} in both of "
            "whdebug's samples): the runtime drops a delivery whose id it has already seen, "
            f"so trigger {dropped.value!r} never fires for {_a(thing)} already "
            f"{_done(first.value)}, and fires once at most per {thing}",
            fix, at, patch=patch))
    return findings


_LATER_FIELDS = ("updated_at", "date_modified", "modified_at", "updatedat", "modified")
"""Body fields that change with each event about one object (`updated_at`)."""


def _own_id_fix(definition: Definition, dropped: _Reading, first: _Reading,
                spec: dict[str, Any], provider: str,
                read_as: set[object]) -> tuple[str, tuple[PatchOp, ...] | None]:
    """Give the dropped event its own id: an override joining the id with a field that
    changes with each event (as the webhooks guide does for order.updated), as a patch when
    it fits the definition and removes the finding."""
    paths = [path for path in spec.get("paths", []) if isinstance(path, str)] \
        if isinstance(spec.get("paths"), list) else []
    separator = spec.get("separator")
    overrides = spec.get("overrides")
    field = _later_field(dropped.document, first.document)
    general = (f"make the id name the delivery, not what it is about: point "
               f"webhook.transactionId at a field that changes with each event, in an override "
               f"for {dropped.value!r} joined with a separator")
    if field is None or not paths:
        return general, None
    joined = [*paths, field] if separator else [paths[0], field]
    entry = {dropped.value: {"paths": joined}}
    fix = (f"give {dropped.value!r} its own id: add \"overrides\": {json.dumps(entry)}"
           + ("" if separator else ' and "separator": "_"') + " to webhook.transactionId "
           "(the id and the time of the change, as the webhooks guide does for order.updated)")
    if not separator and len(paths) > 1:
        return fix + (f"; set a separator only if you mean it: transactionId.paths "
                      f"({', '.join(paths)}) are tried in turn and the first non-empty wins, "
                      "while a separator joins them all"), None
    if isinstance(overrides, dict) and dropped.value in overrides:
        return general, None
    if not separator and isinstance(overrides, dict) and any(
            isinstance(o, dict) and isinstance(o.get("paths"), list) and len(o["paths"]) > 1
            for o in overrides.values()):
        return fix, None  # a separator would join the paths of the overrides there too
    patch: tuple[PatchOp, ...]
    if isinstance(overrides, dict):
        patch = (PatchOp("add", "/webhook/transactionId/overrides/" + _token(dropped.value),
                         entry[dropped.value]),)
    else:
        patch = (PatchOp("add", "/webhook/transactionId/overrides", entry),)
    if not separator:
        patch += (PatchOp("add", "/webhook/transactionId/separator", "_"),)
    try:
        patched = Definition(apply_patch(definition.data, patch), definition.path)
        still = _shared_ids(patched, _readings(patched, provider), provider, read_as=read_as)
    except (PatchError, ValueError, TypeError):
        return fix, None
    return fix, (None if still else patch)


def _later_field(document: Any, other: Any) -> str | None:
    """The JSONPath of a field of `document` that changes with each event (`$.updated_at`),
    whose value `other` does not share."""
    found: list[str] = []

    def walk(node: Any, path: str, depth: int) -> None:
        if not isinstance(node, dict) or depth > 3:
            return
        for key, value in node.items():
            if not isinstance(key, str) or not key.replace("_", "").isalnum():
                continue
            child = f"{path}.{key}"
            if key.lower() in _LATER_FIELDS:
                leaf = value.get("date") if isinstance(value, dict) else value
                where_ = f"{child}.date" if isinstance(value, dict) else child
                if isinstance(leaf, (str, int)) and leaf != "" and \
                        holds(other, where_) != leaf:
                    found.append(where_)
            else:
                walk(value, child, depth + 1)

    walk(document, "$", 0)
    return min(found, key=lambda path: path.count("."), default=None)


_FIRST_WORDS = ("create", "created", "add", "added", "new", "opened", "open", "placed")


def _in_course(group: list[_Reading]) -> list[_Reading]:
    """Deliveries about one object in the order they come: a creation first."""
    return sorted(group, key=lambda r: (not any(w in _FIRST_WORDS for w in event_words(r.value)),
                                        r.sample))


def _thing(one: str, other: str) -> str:
    """What two events are about (`order` for `orders/create` and `orders/updated`)."""
    mine, theirs = event_words(one)[:1], event_words(other)[:1]
    if mine and theirs and (mine == theirs or inflected(mine[0], theirs[0])):
        word = min(mine[0], theirs[0], key=len)
        return word[:-1] if word.endswith("s") and len(word) > 3 else word
    return "object"


def _a(thing: str) -> str:
    return ("an " if thing[:1] in "aeiou" else "a ") + thing


def _done(event: str) -> str:
    """`created` for `orders/create`: what the first delivery says happened."""
    last = event_words(event)[-1] if event_words(event) else "sent"
    if last.endswith("ed"):
        return last
    return last + ("d" if last.endswith("e") else "ed")


def _separator_in(event: str, reading: _Reading) -> str | None:
    """The character `event` puts after the delivery's first part (`.` in
    `pull_request.opened`), when it has one."""
    first = reading.parts[0][2] if reading.parts else None
    if not first or not event.startswith(first) or len(event) <= len(first):
        return None
    joined = event[len(first)]
    return None if joined.isalnum() else joined


def _wanted(missing: list[str], pieces: list[str], reading: _Reading) -> list[str]:
    """`$.action 'received'` for each part the delivery lacks and the trigger fills."""
    by_path = {path: piece for (path, found, _), piece in zip(reading.parts, pieces,
                                                              strict=True) if not found}
    return [f"{path} {by_path[path]!r}" for path in missing]


def _alternatives(reading: _Reading) -> str:
    """The other readings of a delivery with a missing composite part (the runtime's rule
    for joining one is not documented: PLATFORM.md names the three)."""
    others = [f"{json.dumps(value)} if {_READINGS[mode]}"
              for mode, value in reading.variants.items()
              if mode != "empty" and value != reading.value]
    return f" ({'; '.join(others)})" if others else ""


def _who(provider: str) -> str:
    return {"github": "GitHub", "woocommerce": "WooCommerce", "standard-webhooks":
            "a Standard Webhooks sender"}.get(provider, provider.capitalize())
