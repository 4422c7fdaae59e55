"""Event extraction: simple, with fallback, or composite with its three missing-part readings."""

from __future__ import annotations

from typing import Any

from whdebug.engine._specs import CompositeSpec, EventExtractionSpec, LookupSpec
from whdebug.engine.paths import MISSING, Body, Lookup, js_string, json_type, read_lookup
from whdebug.engine.report import EventPart, EventResult, Finding, finding
from whdebug.model.request import CapturedRequest

MISSING_PART_RULES = ("empty", "skip", "undefined")


def extract_event(
    spec: EventExtractionSpec | None,
    request: CapturedRequest,
    body: Body,
    missing_part: str = "empty",
) -> tuple[EventResult, list[Finding]]:
    """The event string the runtime would extract, with every part it read."""
    if spec is None:
        return EventResult(None, "none", False, ()), [
            finding(
                "EVT_NOT_FOUND",
                "the definition has no webhook.eventExtraction: no event, so no trigger can fire",
                'add "eventExtraction": {"source": "body", "path": "$.event"} '
                "(pointing at the provider's event name)",
                step="extract",
                pointer="/webhook/eventExtraction",
            )
        ]
    if spec.composite is not None:
        return _composite(spec.composite, request, body, missing_part)
    return _simple(spec, request, body)


def _part(spec: LookupSpec, result: Lookup) -> EventPart:
    value = None
    if result.found and result.value is not None:
        value = js_string(result.value)
    return EventPart(
        spec.source,
        spec.path,
        result.found and result.value is not None,
        value,
        json_type(result.value) if result.found else None,
    )


def _value_findings(part: EventPart, result: Lookup, role: str) -> list[Finding]:
    findings: list[Finding] = []
    if result.count > 1:
        findings.append(
            finding(
                "EVT_MULTIPLE_MATCHES",
                f"{role} path {part.path} matches {result.count} values; "
                f"the runtime uses the first ({part.value!r})",
                "make the JSONPath select exactly one value (e.g. index the array: [0])",
                step="extract",
            )
        )
    if part.raw_type not in (None, "string", "null"):
        findings.append(
            finding(
                "EVT_NOT_STRING",
                f"{role} value at {part.path} is a JSON {part.raw_type}; the "
                f"runtime stringifies it the JavaScript way to {part.value!r}",
                "name the trigger event exactly as stringified, or point the path at a string",
                step="extract",
            )
        )
    return findings


def _where(body: Body, source: str) -> str:
    if source == "body" and body.nesting is not None:
        return " (whdebug cannot parse the body, nested too deep; the runtime can: unknown)"
    if source == "body" and body.kind not in ("json", "form"):
        return " (the body is not JSON: " + (body.error or body.kind) + ")"
    return ""


def _simple(
    spec: EventExtractionSpec, request: CapturedRequest, body: Body
) -> tuple[EventResult, list[Finding]]:
    source, path = spec.primary.source, spec.primary.path
    primary = read_lookup(spec.primary, request, body)
    part = _part(spec.primary, primary)
    findings: list[Finding] = []
    if primary.error:
        findings.append(
            finding(
                "EVT_NOT_FOUND",
                f"eventExtraction: {primary.error}",
                "fix webhook.eventExtraction",
                step="extract",
                pointer="/webhook/eventExtraction",
            )
        )
    if part.found and part.value:
        findings += _value_findings(part, primary, "event")
        return EventResult(part.value, "simple", False, (part,)), findings
    parts = [part]
    fallback = spec.fallback
    if fallback is not None:
        fb_source, fb_path = fallback.source, fallback.path
        second = read_lookup(fallback, request, body)
        fb_part = _part(fallback, second)
        parts.append(fb_part)
        if fb_part.found and fb_part.value:
            findings.append(
                finding(
                    "EVT_FALLBACK_USED",
                    f"{source} {path} is empty or missing; the runtime falls back "
                    f"to {fb_source} {fb_path} = {fb_part.value!r}",
                    None,
                    step="extract",
                )
            )
            findings += _value_findings(fb_part, second, "fallback")
            return EventResult(fb_part.value, "fallback", True, tuple(parts)), findings
    tried = " and ".join(f"{p.source} {p.path}" for p in parts)
    findings.append(
        finding(
            "EVT_NOT_FOUND",
            f"no event: {tried} found nothing{_where(body, source)}",
            "point webhook.eventExtraction at where the provider puts the event name "
            "(see the path suggestions)",
            step="extract",
            pointer="/webhook/eventExtraction",
        )
    )
    strategy = "fallback" if len(parts) > 1 else "simple"
    return EventResult(None, strategy, len(parts) > 1, tuple(parts)), findings


def _composite(
    composite: CompositeSpec,
    request: CapturedRequest,
    body: Body,
    missing_part: str,
) -> tuple[EventResult, list[Finding]]:
    findings: list[Finding] = []
    if not composite.parts:
        findings.append(
            finding(
                "EVT_NOT_FOUND",
                "compositeStrategy has no parts",
                "add compositeStrategy.parts: "
                '[{"source": "header", "path": "..."}, {"source": "body", "path": "$..."}]',
                step="extract",
                pointer="/webhook/eventExtraction/compositeStrategy",
            )
        )
        return EventResult(None, "composite", False, ()), findings
    separator = composite.separator
    if separator is None:
        separator = ","
        findings.append(
            finding(
                "EVT_NO_SEPARATOR",
                "compositeStrategy.separator is not set; JavaScript's join() then uses ','",
                "set compositeStrategy.separator to the character the trigger events use "
                '(e.g. "." for "pull_request.opened"); triggers named with "," match only '
                "while it is unset",
                step="extract",
                pointer="/webhook/eventExtraction/compositeStrategy/separator",
            )
        )
    key = _strings_read(composite.parts, request, body)
    if key is not None:
        hit = _COMPOSITES.get((id(composite), missing_part, key))
        if hit is not None and hit[0] is composite and hit[1] == separator:
            return hit[2], [*findings, *hit[3]]
    results = [read_lookup(spec, request, body) for spec in composite.parts]
    key = _memo_key(results)
    start = len(findings)
    event = _composed(composite, body, separator, results, missing_part, findings)
    if key is not None:
        if len(_COMPOSITES) >= 1024:
            _COMPOSITES.clear()
        _COMPOSITES[(id(composite), missing_part, key)] = (
            composite, separator, event, tuple(findings[start:]))
    return event, findings


_COMPOSITES: dict[tuple[int, str, tuple[Any, ...]], tuple[
    CompositeSpec, str, EventResult, tuple[Finding, ...]]] = {}
"""Composite events by the values their parts read (one object while they are the same)."""


def _strings_read(parts: tuple[LookupSpec, ...], request: CapturedRequest,
                  body: Body) -> tuple[Any, ...] | None:
    """`_memo_key` of the parts' lookups, read without building them: each part's count and
    value when every part is a header or body lookup that holds a string, else None (the
    lookups are then read as usual)."""
    key: list[Any] = []
    for spec in parts:
        if spec.error is not None:
            return None
        if spec.source == "header":
            value = request.header(spec.path)
            if value is None:
                return None
            key += (1, value)
        elif spec.source == "body" and spec.body_path is not None:
            matches = body.select(spec.body_path)
            if not matches or type(matches[0]) is not str:
                return None
            key += (len(matches), matches[0])
        else:
            return None
    return tuple(key)


def _memo_key(results: list[Lookup]) -> tuple[Any, ...] | None:
    """What a composite event depends on beyond its spec when every part holds a string:
    each part's count and value (None otherwise: a missing part's finding also says what
    the body is, so it is not remembered)."""
    key: list[Any] = []
    for result in results:
        if not result.found or type(result.value) is not str or result.error is not None:
            return None
        key += (result.count, result.value)
    return tuple(key)


def _composed(composite: CompositeSpec, body: Body, separator: str, results: list[Lookup],
              missing_part: str, findings: list[Finding]) -> EventResult:
    parts: list[EventPart] = []
    values: list[Any] = []
    for spec, result in zip(composite.parts, results, strict=True):
        part = _part(spec, result)
        parts.append(part)
        values.append(result.value if result.found else MISSING)
        if part.found:
            findings += _value_findings(part, result, "part")
    variants = {
        "empty": separator.join("" if v is None or v is MISSING else js_string(v) for v in values),
        "skip": separator.join(
            js_string(v)
            for v in values
            if v is not None and v is not MISSING and js_string(v) != ""
        ),
        "undefined": separator.join(js_string(v) for v in values),
    }
    value = variants.get(missing_part, variants["empty"])
    missing = [p for p in parts if not p.found]
    if missing and len(missing) < len(parts):
        names = ", ".join(f"{p.source} {p.path}" for p in missing)
        findings.append(
            finding(
                "EVT_PART_MISSING",
                f"composite part {names} is missing{_where(body, missing[0].source)}: the event is "
                f"{variants['empty']!r} if the runtime joins like Array.join (whdebug's default), "
                f"{variants['skip']!r} if it skips empty parts, {variants['undefined']!r} if it "
                "uses a template string",
                "add a trigger for the event this provider really sends without that part, "
                "or use a "
                "simple eventExtraction for these deliveries",
                step="extract",
            )
        )
    elif missing:
        findings.append(
            finding(
                "EVT_NOT_FOUND",
                f"no composite part was found{_where(body, missing[0].source)}: "
                f"the runtime would extract {value!r}",
                "check compositeStrategy.parts against the request (see the path suggestions)",
                step="extract",
                pointer="/webhook/eventExtraction/compositeStrategy/parts",
            )
        )
    return EventResult(value, "composite", False, tuple(parts), variants)
