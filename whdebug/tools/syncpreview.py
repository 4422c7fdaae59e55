"""Preview the record each sync webhook handler would write for a set of sample payloads."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import PurePath
from typing import Any

import msgspec

from whdebug.engine.bodypaths import compile_body_path
from whdebug.engine.paths import MISSING, Body, iter_leaves, js_string, parse_body
from whdebug.engine.plan import EventExtractionSpec, compile_definition
from whdebug.engine.report import Finding, diagnosis
from whdebug.engine.steps.events import extract_event
from whdebug.engine.steps.sync import handler_without_trigger_fix, no_handler_finding
from whdebug.engine.steps.transactions import extract_transaction, unsafe_integer_finding
from whdebug.errors import RequestFileError
from whdebug.formats.read import parse_file
from whdebug.model.definition import Definition
from whdebug.model.request import Capture, CapturedRequest, Secrets, Source
from whdebug.tools.readiness import event_from_name, signing_secrets
from whdebug.tools.signing import SigningError, event_outside_body, sign_request

SYNC_SCHEMA = "whdebug.sync/1"
RECORD_TYPES = ("order", "abandonedCart")
TRANSFORMS = ("toString", "toNumberOrNull", "coalesce", "mapItems", "joinCodes", "compute")
_ITEM_MAPPING_KEYS = ("mapping", "itemMapping", "items", "fields")
_ID_KEY = re.compile(r"^(?:id|uuid|reference(?:_?id)?|(?:order|cart|checkout)_?(?:id|number))$",
                     re.IGNORECASE)
_SUB_ENTITY = re.compile(r"customer|merchant|store|shop|user|owner|sender|seller|buyer|account|"
                         r"app|installation|item|product|address|shipping|payment|coupon",
                         re.IGNORECASE)
_SAMPLE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
"""Bare payloads get this fixed time when built into requests: sync never judges timestamps."""
_MAX_DEPTH = 2
_SAFE_INTEGER = 2**53 - 1
"""Identity paths are at most `$.a.b`: deeper ids belong to nested objects (items, customer)."""


@dataclass(frozen=True, slots=True)
class FieldPreview:
    """One mapped field of the record: what it reads, what it became and how."""

    name: str
    spec: str
    transform: str | None
    value: Any
    found: bool
    note: str | None = None


@dataclass(frozen=True, slots=True)
class SamplePreview:
    """One sample: its event, the handler it picks and the record that handler writes."""

    sample: str
    event: str | None
    handler: str | None
    shape: str | None
    """record (recordType + mapping) | resource (resource + dataPath) | None"""
    kind: str | None
    """recordType or resource."""
    operation: str | None
    code: str | None
    fields: tuple[FieldPreview, ...]
    findings: tuple[Finding, ...]


@dataclass(frozen=True, slots=True)
class DefinitionId:
    ns: str | None
    version: str | None


class SyncPreview(msgspec.Struct, frozen=True, tag_field="schema", tag=SYNC_SCHEMA):
    """Every sample's record, plus what is wrong across samples or in the sync block."""

    definition: DefinitionId
    samples: tuple[SamplePreview, ...]
    findings: tuple[Finding, ...]
    ok: bool = False
    """Set from the findings: no sample's and no cross-sample finding is an error."""

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "ok", not any(
            f.severity == "error" for f in self.all_findings))

    @property
    def all_findings(self) -> list[Finding]:
        return [f for s in self.samples for f in s.findings] + list(self.findings)


def parse_sample(data: bytes, name: str,
                 definition: Definition | None = None) -> list[Capture]:
    """Captures in a sample file: .http, .har, a capture export, or a bare JSON payload.

    A bare payload becomes a POST to the definition's webhook path. When the definition reads
    the event from a header or the query, the file name names it, as `check --samples` reads
    it: `orders__create.json` is `orders/create`, anything after `--` is a label.
    """
    return read_sample(data, name, definition)[0]


def read_sample(data: bytes, name: str, definition: Definition | None = None
                ) -> tuple[list[Capture], bool]:
    """`parse_sample`, and whether the file name gave the event (a bare payload, with the
    event read outside the body)."""
    found = parse_file(data, name, payloads=True)
    if found.payload is None:
        return list(found.captures), False
    if definition is not None and event_outside_body(definition):
        stand_in, _ = signing_secrets(definition, Secrets())
        try:
            signed = sign_request(data, definition, stand_in, now=_SAMPLE_TIME,
                                  event=event_from_name(PurePath(name).name))
        except SigningError as error:
            raise RequestFileError(f"{name}: {error}") from None
        return [Capture(signed.request, Source(file=name))], True
    path = (definition.webhook_path if definition is not None else None) or "/"
    return [Capture(CapturedRequest(method="POST", path=path, body=data,
                                    headers=(("Content-Type", "application/json"),),
                                    body_size=len(data)), Source(file=name))], False


def preview_sync(definition: Definition, samples: list[Capture]) -> SyncPreview:
    """The record each sample's handler would write, and the sync block's problems."""
    extraction = compile_definition(definition).event_extraction
    previews = [_preview(definition, extraction, capture) for capture in samples]
    findings = _definition_findings(definition)
    findings += _unstable_codes(definition, samples, previews)
    findings += _unsafe_collisions(definition, samples, previews)
    return SyncPreview(DefinitionId(definition.ns, definition.version), tuple(previews),
                       tuple(findings))


# --- one sample -------------------------------------------------------------------------------


def _preview(definition: Definition, extraction: EventExtractionSpec | None,
             capture: Capture) -> SamplePreview:
    request = capture.request
    name = capture.source.file or capture.source.label
    body = parse_body(request)
    event_result, event_findings = extract_event(extraction, request, body)
    findings = [f for f in event_findings if f.severity != "info"]
    event = event_result.value
    if body.kind != "json":
        findings.append(diagnosis("REQ_NOT_JSON", f"{name}: the body is not JSON "
                                  f"({body.error or body.kind}): no field can be mapped",
                                  "use the provider's JSON payload as the sample", step="sync"))
    handlers = definition.sync_handlers
    if event is None or not handlers:
        return SamplePreview(name, event, None, None, None, None, None, (), tuple(findings))
    handler = handlers.get(event)
    if not isinstance(handler, dict):
        findings.append(no_handler_finding(event, handlers, definition.trigger_events,
                                           prefix=f"{name}: ",
                                           listing=f" (handlers: {', '.join(handlers)})"))
        return SamplePreview(name, event, None, None, None, None, None, (), tuple(findings))
    pointer = f"/sync/webhooks/handlers/{_escape(event)}"
    if "recordType" in handler or ("mapping" in handler and "resource" not in handler):
        return _record_preview(name, event, handler, body, pointer, findings)
    if "resource" in handler or "dataPath" in handler:
        return _resource_preview(name, event, handler, body, pointer, findings)
    findings.append(diagnosis(
        "SYNC_BAD_RECORD_TYPE", f"handler {event!r} has neither recordType + mapping nor "
        "resource + dataPath: the runtime cannot tell what to write",
        '{"recordType": "order", "operation": "create", "mapping": {"code": "$.data.id"}}',
        step="sync", pointer=pointer))
    return SamplePreview(name, event, event, None, None, None, None, (), tuple(findings))


def _record_preview(name: str, event: str, handler: dict[str, Any], body: Body, pointer: str,
                    findings: list[Finding]) -> SamplePreview:
    record_type = handler.get("recordType")
    if record_type not in RECORD_TYPES:
        suggestion = _record_type_for(record_type)
        findings.append(diagnosis(
            "SYNC_BAD_RECORD_TYPE", f"handler {event!r} has recordType "
            f"{json.dumps(record_type) if record_type is not None else 'missing'}: the runtime "
            "writes only \"order\" or \"abandonedCart\", so nothing is stored",
            f'set recordType to "{suggestion}"', step="sync", pointer=pointer + "/recordType"))
    mapping = handler.get("mapping")
    root = body.document
    base, base_note = _base(handler, root)
    fields: list[FieldPreview] = []
    if isinstance(mapping, dict):
        for field_name, spec in mapping.items():
            preview, field_findings = evaluate_field(
                str(field_name), spec, root, base, f"{pointer}/mapping/{_escape(field_name)}")
            fields.append(preview)
            findings += field_findings
    code_field = next((f for f in fields if f.name == "code"), None)
    code = _code_text(code_field.value) if code_field is not None and code_field.found else None
    if code is None:
        spec = code_field.spec if code_field is not None else "not set"
        findings.append(diagnosis(
            "SYNC_NO_CODE", f"{name}: mapping.code ({spec}) yields no external id on this "
            "payload: the record cannot be created or updated", "point mapping.code at the "
            "provider's stable id for the order or cart (e.g. \"$.data.id\")", step="sync",
            pointer=pointer + "/mapping/code"))
    if base_note:
        findings.append(diagnosis("SYNC_FIELD_EMPTY", base_note, None, step="sync",
                                  pointer=pointer + "/dataPath"))
    return SamplePreview(name, event, event, "record", _str(record_type),
                         _str(handler.get("operation")), code, tuple(fields), tuple(findings))


def _resource_preview(name: str, event: str, handler: dict[str, Any], body: Body, pointer: str,
                      findings: list[Finding]) -> SamplePreview:
    data_path = handler.get("dataPath", "$")
    root = body.document
    data = _lookup(data_path, root) if isinstance(data_path, str) else MISSING
    fields: list[FieldPreview] = []
    code: str | None = None
    if data is MISSING:
        findings.append(diagnosis(
            "SYNC_NO_CODE", f"{name}: dataPath {data_path!r} finds nothing in this payload: no "
            "record is written", "point dataPath at the order or cart object (e.g. \"$.data\")",
            step="sync", pointer=pointer + "/dataPath"))
    else:
        fields.append(FieldPreview("dataPath", str(data_path), None, _summary(data), True))
        mapping = handler.get("mapping")
        if isinstance(mapping, dict):
            for field_name, spec in mapping.items():
                preview, field_findings = evaluate_field(
                    str(field_name), spec, root, data, f"{pointer}/mapping/{_escape(field_name)}")
                fields.append(preview)
                findings += field_findings
        mapped = next((f for f in fields if f.name == "code" and f.found), None)
        identity = mapped.value if mapped is not None else (
            data.get("id", MISSING) if isinstance(data, dict) else MISSING)
        code = _code_text(identity)
        unsafe = _unsafe_integer(identity, pointer + "/dataPath")
        if unsafe:
            code = js_large_integer(identity)
            findings += unsafe
        if mapped is None:
            fields.append(FieldPreview("code", "id (of the dataPath object)", None,
                                       None if identity is MISSING else identity,
                                       identity is not MISSING))
        if code is None:
            findings.append(diagnosis(
                "SYNC_NO_CODE", f"{name}: the object at {data_path} has no id: the record has "
                "no stable external id", "point dataPath at an object with an id", step="sync",
                severity="warning", pointer=pointer + "/dataPath"))
    return SamplePreview(name, event, event, "resource", _str(handler.get("resource")),
                         _str(handler.get("operation")), code, tuple(fields), tuple(findings))


def _base(handler: dict[str, Any], root: Any) -> tuple[Any, str | None]:
    """What mapping paths read: the payload, or the object at the handler's dataPath."""
    data_path = handler.get("dataPath")
    if not isinstance(data_path, str) or not data_path:
        return root, None
    data = _lookup(data_path, root)
    if data is MISSING:
        return root, f"dataPath {data_path!r} finds nothing; mapping paths read the whole payload"
    return data, None


def _unsafe_integer(value: Any, pointer: str) -> list[Finding]:
    """An id beyond 2**53: JSON.parse in the runtime rounds it, so distinct ids can collide."""
    if not _is_unsafe(value):
        return []
    return [diagnosis(
        "SYNC_UNSAFE_INTEGER", f"the external id {value} is beyond JavaScript's safe "
        f"integers: the runtime's JSON.parse reads it as {js_large_integer(value)}, so ids that "
        "differ only in their last digits collide", "map a string form of the id if the "
        "provider sends one (Shopify: admin_graphql_api_id), or confirm with Karzoun that the "
        "runtime parses big integers exactly", step="sync", pointer=pointer)]


def _is_unsafe(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > _SAFE_INTEGER


def js_large_integer(value: int) -> str:
    """`String(Number(value))` in JavaScript: the shortest digits of the double, zero-padded."""
    number = float(value)
    if abs(number) >= 1e21:
        return js_string(number)  # JavaScript switches to exponent notation here
    text = repr(number)
    sign = "-" if text.startswith("-") else ""
    mantissa, _, exponent = text.lstrip("-").partition("e")
    if not exponent:
        return sign + str(int(float(mantissa)))
    digits = mantissa.replace(".", "").rstrip("0") or "0"
    return sign + digits.ljust(int(exponent) + 1, "0")


# --- one mapped field ---------------------------------------------------------------------------


def evaluate_field(name: str, spec: Any, root: Any, base: Any,
                   pointer: str) -> tuple[FieldPreview, list[Finding]]:
    """A mapping entry applied to the payload: a JSONPath, or {path(s), transform, ...}."""
    if isinstance(spec, str):
        value = _read(spec, root, base)
        return FieldPreview(name, spec, None, _plain(value), value is not MISSING), []
    if not isinstance(spec, dict):
        return FieldPreview(name, json.dumps(spec), None, None, False,
                            "not a JSONPath or a {path, transform} object"), []
    transform = spec.get("transform")
    findings: list[Finding] = []
    paths = spec.get("paths") if isinstance(spec.get("paths"), list) else None
    path = spec.get("path") if isinstance(spec.get("path"), str) else None
    described = f"coalesce({', '.join(map(str, paths))})" if paths else (path or "")
    note: str | None = None
    if transform == "compute":
        fn = next((spec[k] for k in ("fn", "function", "name") if isinstance(spec.get(k), str)),
                  None)
        note = (f'compute fn "{fn}" is not evaluated: whdebug does not guess its result' if fn
                else "compute without a fn: nothing to evaluate")
        findings.append(diagnosis(
            "SYNC_COMPUTE_NOT_EVALUATED", f"field {name!r}: {note}",
            "check this field in Karzoun's test tooling", step="sync", pointer=pointer))
        return FieldPreview(name, f"compute {fn or '?'}", "compute", None, False,
                            "whdebug does not guess compute results"), findings
    if paths:
        value, index = _coalesce(paths, root, base)
        note = (f"path {index + 1} of {len(paths)} gave the value"
                if value is not MISSING else f"none of the {len(paths)} paths has a value")
    elif path is not None:
        value = _read(path, root, base)
    else:
        value = MISSING
        note = "no path or paths"
    if value is MISSING and "default" in spec:
        value, note = spec["default"], "default (no path had a value)"
    if name == "code":
        findings += _unsafe_integer(value, pointer)
    if transform in (None, "coalesce"):
        pass
    elif transform == "toString":
        value = (value if value is MISSING or value is None
                 else js_large_integer(value) if _is_unsafe(value) else js_string(value))
    elif transform == "toNumberOrNull":
        value = to_number_or_null(value)
    elif transform == "mapItems":
        value, note = _map_items(value, spec, root, pointer, findings)
    elif transform == "joinCodes":
        value, note = _join_codes(value, spec)
    else:
        findings.append(diagnosis(
            "SYNC_TRANSFORM_UNKNOWN", f"field {name!r}: transform {transform!r} is not one "
            f"whdebug knows ({', '.join(TRANSFORMS)}); the value is shown untransformed",
            f"check the transform name (known: {', '.join(TRANSFORMS)})", step="sync",
            pointer=pointer + "/transform"))
        note = f"unknown transform {transform!r}: not applied"
    transform_name = transform if isinstance(transform, str) else None
    return FieldPreview(name, described, transform_name, _plain(value), value is not MISSING,
                        note), findings


def to_number_or_null(value: Any) -> Any:
    """A number, a numeric string as a number, anything else None."""
    if isinstance(value, bool) or value is MISSING or value is None:
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return int(number) if number.is_integer() and "." not in value else number
    return None


def _coalesce(paths: list[Any], root: Any, base: Any) -> tuple[Any, int]:
    for index, path in enumerate(paths):
        if not isinstance(path, str):
            continue
        value = _read(path, root, base)
        if value is not MISSING and value is not None and value != "":
            return value, index
    return MISSING, -1


def _map_items(value: Any, spec: dict[str, Any], root: Any, pointer: str,
               findings: list[Finding]) -> tuple[Any, str | None]:
    if not isinstance(value, list):
        return MISSING, "mapItems: the path holds no array"
    item_mapping = next((spec[k] for k in _ITEM_MAPPING_KEYS if isinstance(spec.get(k), dict)),
                        None)
    if item_mapping is None:
        return value, "mapItems without an item mapping: items kept as they are"
    mapped = []
    for item in value:
        record = {}
        for key, item_spec in item_mapping.items():
            preview, item_findings = evaluate_field(str(key), item_spec, root, item,
                                                    f"{pointer}/mapping/{_escape(str(key))}")
            record[str(key)] = preview.value
            findings += [f for f in item_findings if f not in findings]
        mapped.append(record)
    return mapped, f"{len(mapped)} item{'s' if len(mapped) != 1 else ''} mapped"


def _join_codes(value: Any, spec: dict[str, Any]) -> tuple[Any, str | None]:
    if value is MISSING or value is None:
        return MISSING, None
    if not isinstance(value, list):
        return js_string(value), "joinCodes: not an array, stringified"
    field = spec.get("field") or spec.get("codeField") or "code"
    separator = spec.get("separator", ",")
    codes = []
    for item in value:
        code = item.get(field) if isinstance(item, dict) else item
        if code not in (None, ""):
            codes.append(js_string(code))
    return js_string(separator).join(codes), f"{len(codes)} joined with {separator!r}"


def _read(path: str, root: Any, base: Any) -> Any:
    """A path read from `base` (the handler's object), falling back to the whole payload."""
    value = _lookup(path, base)
    if value is MISSING and base is not root:
        value = _lookup(path, root)
    return value


def _lookup(path: str, document: Any) -> Any:
    found = compile_body_path(path).find(document) if document is not MISSING else []
    return found[0] if found else MISSING


# --- across samples and the definition ------------------------------------------------------


def _definition_findings(definition: Definition) -> list[Finding]:
    findings: list[Finding] = []
    handlers = definition.sync_handlers
    legacy = "ecommerce" in definition.webhook
    if not handlers:
        if legacy:
            findings.append(diagnosis(
                "DEF_LEGACY_ECOMMERCE", "only the deprecated webhook.ecommerce block describes "
                "orders: new submissions must use sync.webhooks.handlers, and Karzoun may reject "
                "this definition", "move each entry to sync.webhooks.handlers, keyed by its "
                "trigger event, with recordType and mapping.code; then remove webhook.ecommerce",
                step="sync", severity="error", pointer="/webhook/ecommerce"))
        else:
            findings.append(diagnosis(
                "SYNC_NO_HANDLERS", "the definition has no sync.webhooks.handlers: no order or "
                "abandoned cart is ever written", 'add sync.webhooks.handlers, e.g. '
                '{"order.created": {"recordType": "order", "operation": "create", "mapping": '
                '{"code": "$.data.id"}}}', step="sync", pointer="/sync"))
        return findings
    if legacy:
        findings.append(diagnosis(
            "DEF_LEGACY_ECOMMERCE", "webhook.ecommerce is deprecated and sync.webhooks.handlers "
            "already exists", "remove webhook.ecommerce", step="sync",
            pointer="/webhook/ecommerce"))
    events = definition.trigger_events
    plan = compile_definition(definition)
    for event in handlers:
        if event in events:
            continue
        fix, patch = handler_without_trigger_fix(event, handlers, plan.triggers, plan.ns)
        findings.append(diagnosis(
            "DEF_HANDLER_WITHOUT_TRIGGER", f'handler "{event}" matches no triggers[].event: '
            "handler keys must be the exact event strings the webhook extraction produces, each "
            "listed as a trigger", fix, step="sync",
            pointer=f"/sync/webhooks/handlers/{_escape(event)}", patch=patch))
    return findings


def _unstable_codes(definition: Definition, samples: list[Capture],
                    previews: list[SamplePreview]) -> list[Finding]:
    """Two samples of one entity (same id in the payload) whose mapping.code differs."""
    findings: list[Finding] = []
    identities = [_identity(parse_body(capture.request).document) for capture in samples]
    reported: set[str] = set()
    for (i, first), (j, second) in combinations(enumerate(previews), 2):
        if first.code is None or second.code is None or first.code == second.code:
            continue
        if first.kind != second.kind or second.handler in reported:
            continue
        shared = [(path, value) for path, value in identities[i].items()
                  if identities[j].get(path) == value]
        if not shared:
            continue
        path, value = shared[0]
        stable = js_string(value)
        wrong = [p.handler for p in (second, first) if p.code != stable and p.handler]
        handler = (wrong or [second.handler or ""])[0]
        reported.add(second.handler or "")
        names = " and ".join(f"{name!r}" for name in dict.fromkeys(wrong)) or repr(handler)
        findings.append(diagnosis(
            "SYNC_UNSTABLE_CODE", f"{first.sample} and {second.sample} describe the same "
            f"{first.kind or 'record'} ({path} = {json.dumps(value)} in both) but mapping.code "
            f"gives {first.code!r} and {second.code!r}: the runtime would write two records "
            "instead of updating one", f"point mapping.code of handler {names} at {path}, the "
            "id that stays the same", step="sync",
            pointer=f"/sync/webhooks/handlers/{_escape(handler)}/mapping/code"))
    return findings


def _unsafe_collisions(definition: Definition, samples: list[Capture],
                       previews: list[SamplePreview]) -> list[Finding]:
    """Two samples whose transaction ids differ but round to one double (TX_UNSAFE_INTEGER):
    the runtime drops the later one as a duplicate, as `replay` and `check --samples` say."""
    plan = compile_definition(definition)
    seen: dict[str, tuple[str, str]] = {}
    findings: list[Finding] = []
    for capture, preview in zip(samples, previews, strict=True):
        body = parse_body(capture.request)
        result, _ = extract_transaction(plan.transaction, preview.event, capture.request, body)
        if result.id is None or result.exact_id is None:
            continue
        first = seen.setdefault(result.id, (result.exact_id, preview.sample))
        if first[0] == result.exact_id:
            continue
        finding_ = unsafe_integer_finding(result, first[0], first[1], body)
        findings.append(diagnosis(
            finding_.code, f"{preview.sample}: {finding_.message}; its record would also "
            f"overwrite the one {first[1]} wrote, if it reached sync", finding_.fix,
            step="sync", severity="error", pointer=finding_.pointer, patch=finding_.patch))
    return findings


def _identity(document: Any) -> dict[str, Any]:
    """Id-like values near the top of a payload (`$.data.id`), not those of nested entities."""
    found: dict[str, Any] = {}
    for path, value in iter_leaves(document, limit=2000):
        keys = re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)", path)
        if not keys or "[" in path or len(keys) > _MAX_DEPTH:
            continue
        if not _ID_KEY.match(keys[-1]) or any(_SUB_ENTITY.search(key) for key in keys[:-1]):
            continue
        if isinstance(value, bool) or value in (None, "", 0):
            continue
        found[path] = value
    return found


# --- helpers ----------------------------------------------------------------------------------


def _record_type_for(value: Any) -> str:
    text = str(value).lower() if value is not None else ""
    return "abandonedCart" if "cart" in text or "checkout" in text else "order"


def _code_text(value: Any) -> str | None:
    if value is MISSING or value is None:
        return None
    text = js_string(value)
    return text if text else None


def _plain(value: Any) -> Any:
    """A JSON-ready value (absent becomes None; `found` says which)."""
    return None if value is MISSING else value


def _summary(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: value[key] for key in list(value)[:6]}
    return value


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
