"""Trigger matching: exact equality, near misses, and where else the request holds an event."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence

from msgspec.structs import replace

from whdebug.engine._specs import TriggerSpec
from whdebug.engine.patches import PatchOp, add
from whdebug.engine.patches import replace as replace_op
from whdebug.engine.paths import Body, iter_leaves, js_string
from whdebug.engine.report import (
    EventResult,
    Finding,
    NearMiss,
    PathSuggestion,
    TriggerResult,
    finding,
)
from whdebug.model.request import CapturedRequest

_SEPARATORS = re.compile(r"[\s._/:\-]+")
_NS = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_SPLIT_ON = (".", "/", ":")
MAX_SUGGESTIONS = 6


def match_triggers(
    event: EventResult,
    triggers: Sequence[TriggerSpec],
    ns: str | None,
    request: CapturedRequest,
    body: Body,
) -> tuple[TriggerResult, list[Finding]]:
    """Every trigger whose event equals the extracted string; if none, explain why."""
    first_index: dict[str, int] = {}
    for trigger in triggers:
        if trigger.event is not None:
            first_index.setdefault(trigger.event, trigger.index)
    events = list(first_index)
    value = event.value
    matched = tuple(e for e in events if e == value) if value is not None else ()
    ambiguous: tuple[str, ...] = ()
    findings: list[Finding] = []
    if event.variants:
        others = {v for k, v in event.variants.items() if v != value}
        ambiguous = tuple(e for e in events if e in others and e not in matched)
        replayed = ("whdebug's default" if value == event.variants.get("empty") else
                    "the " + next((repr(k) for k, v in event.variants.items() if v == value),
                                  "chosen") + " rule replayed here (--missing-part)")
        for name in ambiguous:
            rule = next(k for k, v in event.variants.items() if v == name)
            findings.append(
                finding(
                    "EVT_AMBIGUOUS_MATCH",
                    f"trigger {name!r} fires only if the runtime joins a missing composite part "
                    f"with the {rule!r} rule; under {replayed} the event is {value!r}",
                    f"add a trigger for {value!r} as well, or make sure every part is present",
                    step="match",
                )
            )
    if matched:
        return TriggerResult(matched, ambiguous), findings
    if not events and triggers:
        first = triggers[0].index
        findings.append(
            finding(
                "EVT_NO_TRIGGER",
                ("the definition's 1 trigger has no string event, so it cannot fire"
                 if len(triggers) == 1 else f"none of the definition's {len(triggers)} "
                 "triggers has a string event, so none can fire"),
                f"make triggers[{first}].event (and every other triggers[].event) one string, "
                "as the DEF_SCHEMA findings say"
                + (f"; this request's event is {value!r}" if value else ""),
                step="match",
                pointer=f"/triggers/{first}/event",
            )
        )
        return TriggerResult((), ambiguous), findings
    if not events:
        findings.append(
            finding(
                "EVT_NO_TRIGGER",
                "the definition has no triggers",
                "add triggers[] entries with "
                f'"type": "{trigger_type(ns)}" and the provider\'s event names'
                + (f", starting with {value!r}" if value else ""),
                step="match",
                pointer="/triggers",
                patch=add_trigger_patch(value, triggers, ns) if value else None,
            )
        )
        return TriggerResult((), ambiguous), findings
    unexplained = [e for e in events if e not in ambiguous]
    near = tuple(_near_misses(value, unexplained)) if value else ()
    suggestions = tuple(suggest_paths(unexplained, request, body, event))
    if value is not None and value != "":
        found = _no_trigger(value, events, near, first_index, triggers, ns, join_caveat(event))
        waiting = waiting_for_parts(event, unexplained)
        if waiting:
            found = replace(found, message=found.message + "; " + "; ".join(waiting))
        findings.append(found)
    for miss in near:
        index = first_index[miss.event]
        findings.append(
            finding(
                "EVT_NEAR_MISS",
                f"trigger {miss.event!r} almost matches {value!r}: {miss.reason}",
                f"set triggers[{index}].event to {value!r} if the provider never sends "
                f"{miss.event!r} (matching is exact and case-sensitive); if it sends both, add "
                f"a trigger for {value!r}",
                step="match",
                pointer=f"/triggers/{index}/event",
                patch=(replace_op(f"/triggers/{index}/event", value),),
            )
        )
    for suggestion in suggestions:
        findings.append(
            finding(
                "EVT_PATH_SUGGESTION",
                f"{suggestion.source} {suggestion.path} holds {suggestion.event!r}, a configured "
                "trigger event",
                f"use: {suggestion.snippet}",
                step="match",
                pointer="/webhook/eventExtraction",
                patch=suggestion_patch(suggestion),
            )
        )
    return TriggerResult((), ambiguous, near, suggestions), findings


_JOIN_RULES = {"empty": "joins a missing composite part like Array.join",
               "skip": "skips empty parts", "undefined": "uses a template string"}
"""What each of the runtime's possible join rules does (PLATFORM.md leaves it open)."""


def join_caveat(event: EventResult) -> str:
    """With a composite part missing, the event a fix names holds under one join rule only:
    '; ...' saying which, and what the others give; "" when every rule gives one event."""
    variants = event.variants or {}
    others = {rule: v for rule, v in variants.items() if v != event.value}
    rule = next((r for r, v in variants.items() if v == event.value), None)
    if not others or rule is None:
        return ""
    default = " (whdebug's default)" if rule == "empty" else ""
    listing = ", ".join(f"{v!r} if it {_JOIN_RULES[r]}" for r, v in others.items())
    return (f"; {event.value!r} is the event if the runtime {_JOIN_RULES[rule]}{default}; "
            f"it is {listing} (EVT_PART_MISSING)")


def waiting_for_parts(event: EventResult, trigger_events: Sequence[str]) -> list[str]:
    """For a composite event with a part the request lacks: each trigger that has the parts
    the request carries and a value for the missing one, as "trigger 'push.received' expects
    body $.action 'received', which this request does not carry" (a GitHub push has no
    action, so it is read as 'push.')."""
    parts = event.parts
    if event.strategy != "composite" or len(parts) < 2 or event.value is None or all(
            part.found for part in parts):
        return []
    separator = _separator_of(event)
    if not separator:
        return []
    said = []
    for candidate in trigger_events:
        pieces = candidate.split(separator, len(parts) - 1)
        if len(pieces) != len(parts):
            continue
        if not all(piece == part.value for part, piece in zip(parts, pieces, strict=True)
                   if part.found):
            continue
        missing = [(part, piece) for part, piece in zip(parts, pieces, strict=True)
                   if not part.found and piece]
        if missing and len(missing) < len(parts):
            wanted = " and ".join(f"{part.source} {part.path} {piece!r}"
                                  for part, piece in missing)
            said.append(f"trigger {candidate!r} expects {wanted}, which this request does not "
                        "carry")
    return said


def _separator_of(event: EventResult) -> str | None:
    """The separator the composite joined its parts with (missing parts as empty)."""
    values = ["" if not part.found or part.value is None else part.value
              for part in event.parts]
    joined = (event.variants or {}).get("empty", event.value) or ""
    first = values[0]
    if not joined.startswith(first):
        return None
    for end in range(len(first) + 1, len(joined) + 1):
        separator = joined[len(first):end]
        if separator.join(values) == joined:
            return separator
    return None


def _no_trigger(value: str, events: list[str], near: tuple[NearMiss, ...],
                first_index: dict[str, int], triggers: Sequence[TriggerSpec],
                ns: str | None, caveat: str = "") -> Finding:
    """EVT_NO_TRIGGER: add a trigger for the event; rename one only when it is a near miss
    (renaming a trigger that other deliveries match would break them). `caveat` says which
    join rule the event depends on, if any."""
    message = f"event {value!r} matches no trigger (configured: {_listing(events)})"
    if near:
        index = first_index[near[0].event]
        fix = (f"set triggers[{index}].event ({near[0].event!r}, {near[0].reason}) to "
               f"{value!r}, exactly, or fix the extraction if the provider really sends "
               f"{near[0].event!r}")
        patch: tuple[PatchOp, ...] = (replace_op(f"/triggers/{index}/event", value),)
    else:
        fix, patch = add_trigger_fix(value, triggers, ns)
    fix += caveat
    return finding("EVT_NO_TRIGGER", message, fix, step="match", pointer="/triggers",
                   patch=patch)


def add_trigger_fix(value: str, triggers: Sequence[TriggerSpec], ns: str | None,
                    kept: str | None = None) -> tuple[str, tuple[PatchOp, ...]]:
    """The fix that adds a trigger for `value` (keeping `kept`, a near miss that fires for
    other deliveries), as text and patch."""
    keep = (f"keep trigger {kept!r} (other deliveries fire it) and " if kept else "")
    return (f"{keep}add a trigger for {value!r} (type \"{trigger_type(ns)}\"), or ignore "
            "this delivery if no automation should start from it",
            add_trigger_patch(value, triggers, ns))


def kebab_ns(ns: str | None) -> str | None:
    """The namespace as DEF_NS_FORMAT fixes it (`crm_Pro` -> `crm-pro`); a valid one as is."""
    if not ns or _NS.match(ns):
        return ns
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", ns).lower()
    fixed = re.sub(r"^[^a-z]+", "", re.sub(r"[^a-z0-9]+", "-", spaced)).strip("-")
    return fixed or "my-service"


def trigger_type(ns: str | None) -> str:
    """`miniapps:{ns}` for the namespace once DEF_NS_FORMAT's fix is applied."""
    return f"miniapps:{kebab_ns(ns) or '{ns}'}"


def new_trigger(event: str, triggers: Sequence[TriggerSpec], ns: str | None) -> dict[str, object]:
    """A trigger for `event` shaped like the definition's first one (the docs' fields)."""
    label = " ".join(word.capitalize() for word in _SEPARATORS.split(event) if word) or event
    trigger: dict[str, object] = {"type": trigger_type(ns), "event": event}
    template = dict(triggers[0].fields) if triggers else {
        "img": "automation3.svg", "icon": "zap", "isCustom": False}
    for key, value in template.items():
        trigger.setdefault(key, value)
    trigger["type"], trigger["event"] = trigger_type(ns), event
    trigger["label"] = label
    trigger["description"] = f"Fires when the provider sends {event!r}."
    return trigger


def add_trigger_patch(event: str, triggers: Sequence[TriggerSpec],
                      ns: str | None) -> tuple[PatchOp, ...]:
    """The JSON Patch that adds a trigger for `event` at the end of triggers[]."""
    trigger = new_trigger(event, triggers, ns)
    if triggers:
        return (add("/triggers/-", trigger),)
    return (add("/triggers", [trigger]),)


def _listing(events: list[str], limit: int = 8) -> str:
    shown = ", ".join(repr(e) for e in events[:limit])
    return shown + (f" and {len(events) - limit} more" if len(events) > limit else "")


def _near_misses(value: str, events: list[str]) -> Iterator[NearMiss]:
    for candidate in events:
        reason = near_miss_reason(value, candidate)
        if reason is not None:
            yield NearMiss(candidate, reason[1], reason[0])


def near_miss_reason(value: str, candidate: str) -> tuple[str, str] | None:
    """(kind, explanation) when `candidate` is almost `value`, else None."""
    if value == candidate:
        return None
    if value.lower() == candidate.lower():
        return "case", "differs only in letter case"
    if value.strip() == candidate.strip() or "".join(value.split()) == "".join(candidate.split()):
        return "whitespace", "differs only in whitespace"
    if _SEPARATORS.sub(".", value.lower()) == _SEPARATORS.sub(".", candidate.lower()):
        return "separator", "differs only in separators (. _ / : -)"
    distance = levenshtein(value, candidate, limit=3)
    if distance <= 2 and distance < max(len(candidate), 1) / 3:
        return "spelling", f"{distance} character{'s' if distance > 1 else ''} apart"
    return None


def levenshtein(a: str, b: str, limit: int = 3) -> int:
    """Edit distance, cut off at `limit` (returns limit when larger)."""
    if abs(len(a) - len(b)) >= limit:
        return limit
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        if min(current) >= limit:
            return limit
        previous = current
    return min(previous[-1], limit)


_EVENT_NAME = re.compile(r"event|topic|action|type|kind|trigger", re.IGNORECASE)
"""Names of the places a provider puts an event or action: `$.action`, `X-GitHub-Event`."""


def _event_like(source: str, path: str) -> bool:
    """A header, query key or body field named like an event (not `$.ticket.status`), and
    not an array element (`$.hook.events[0]` lists subscriptions, not this event)."""
    if source == "body":
        if "[" in path:
            return False
        last = re.split(r"[.\[\]'\"]+", path.strip("$."))[-1] if path.strip("$.") else ""
        return bool(_EVENT_NAME.search(last))
    return bool(_EVENT_NAME.search(path))


def _locations(request: CapturedRequest, body: Body) -> list[tuple[str, str, str]]:
    """(source, path, value) for every event-like header, query value and body leaf."""
    out: list[tuple[str, str, str]] = []
    for name, value in request.headers:
        out.append(("header", name, value))
    for key, value in request.query_pairs():
        out.append(("query", key, value))
    if body.kind in ("json", "form"):
        for path, leaf in iter_leaves(body.document):
            out.append(("body", path, js_string(leaf)))
    return [location for location in out if _event_like(location[0], location[1])]


def _extraction(found: dict[str, object], event: EventResult | None) -> dict[str, object]:
    """The eventExtraction to use: `found` as the fallback of a primary that found nothing
    (the deliveries that carry it keep working), else `found` in place of the primary."""
    parts = event.parts if event is not None and event.strategy != "composite" else ()
    primary = parts[0] if parts else None
    if primary is not None and not primary.found and primary.path and "compositeStrategy" \
            not in found and (primary.source, primary.path) != (found["source"], found["path"]):
        return {"source": primary.source, "path": primary.path, "fallback": found}
    if len(parts) > 1 and "compositeStrategy" not in found:
        fallback = parts[1]
        if (fallback.source, fallback.path) != (found["source"], found["path"]):
            return {**found, "fallback": {"source": fallback.source, "path": fallback.path}}
    return found


def _suggestion(event_name: str, source: str, path: str,
                extraction: dict[str, object]) -> PathSuggestion:
    return PathSuggestion(event_name, source, path,
                          json.dumps({"eventExtraction": extraction}))


def suggestion_patch(suggestion: PathSuggestion) -> tuple[PatchOp, ...]:
    """The suggestion as a JSON Patch on the definition."""
    extraction = json.loads(suggestion.snippet)["eventExtraction"]
    return (add("/webhook/eventExtraction", extraction),)


def suggest_paths(
    events: list[str], request: CapturedRequest, body: Body, event: EventResult | None = None
) -> Iterator[PathSuggestion]:
    """Event-like locations in this request whose value equals a trigger event (or its two
    halves), as an eventExtraction that keeps what the current one reads for other deliveries.
    """
    locations = _locations(request, body)
    by_value: dict[str, tuple[str, str]] = {}
    for source, path, value in locations:
        by_value.setdefault(value, (source, path))
    produced = 0
    for name in events:
        if name in by_value:
            source, path = by_value[name]
            yield _suggestion(name, source, path,
                              _extraction({"source": source, "path": path}, event))
            produced += 1
            if produced >= MAX_SUGGESTIONS:
                return
    for name in events:
        for separator in _SPLIT_ON:
            head, sep, tail = name.partition(separator)
            if not sep or head not in by_value or tail not in by_value:
                continue
            first, second = by_value[head], by_value[tail]
            extraction: dict[str, object] = {
                "source": first[0],
                "path": first[1],
                "compositeStrategy": {
                    "separator": separator,
                    "parts": [
                        {"source": first[0], "path": first[1]},
                        {"source": second[0], "path": second[1]},
                    ],
                },
            }
            yield _suggestion(name, "composite",
                              f"{first[0]} {first[1]} + {second[0]} {second[1]}", extraction)
            produced += 1
            if produced >= MAX_SUGGESTIONS:
                return
            break
