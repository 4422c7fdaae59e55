"""Compile a loaded definition once into a typed Plan: every JSONPath compiled, every shape checked.

The replay runs on the Plan alone. A field of the wrong JSON type compiles to "absent" (or,
where JavaScript would still use it, to what JavaScript makes of it) and a DEF_SCHEMA finding
with its JSON pointer; a JSONPath that does not compile selects nothing and gives a
DEF_BAD_JSONPATH finding. Compiling never raises.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from whdebug.engine._projection import Projection, build_projection
from whdebug.engine._shapes import ShapeReader, jsonpath_finding, kind_of
from whdebug.engine._specs import (
    ChallengeSpec,
    CompositeSpec,
    CustomerField,
    CustomerSpec,
    EventExtractionSpec,
    LookupSpec,
    ResponseSpec,
    SyncField,
    SyncHandlerSpec,
    SyncSpec,
    TransactionSpec,
    TriggerSpec,
    VerificationSpec,
    lookup_spec,
)
from whdebug.engine.bodypaths import BodyPath, compile_body_path
from whdebug.engine.locations import Location, def_finding, pointer, where
from whdebug.engine.paths import js_string
from whdebug.engine.report import Finding
from whdebug.model.definition import Definition
from whdebug.model.secrecy import NamedSecret, config_secrets

__all__ = [
    "BodyPath",
    "ChallengeSpec",
    "CompositeSpec",
    "CustomerField",
    "CustomerSpec",
    "EventExtractionSpec",
    "LookupSpec",
    "Plan",
    "ResponseSpec",
    "SyncField",
    "SyncHandlerSpec",
    "SyncSpec",
    "TransactionSpec",
    "TriggerSpec",
    "VerificationSpec",
    "compile_definition",
    "jsonpath_finding",
]

_WEBHOOK: Location = ("webhook",)
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""An HTTP header name (RFC 9110 token)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What the runtime reads from one definition, typed and validated."""

    ns: str | None
    version: str | None
    verification: VerificationSpec | None
    event_extraction: EventExtractionSpec | None
    transaction: TransactionSpec | None
    challenge: ChallengeSpec | None
    customer: CustomerSpec | None
    response: ResponseSpec
    sync: SyncSpec
    triggers: tuple[TriggerSpec, ...]
    trigger_events: tuple[str, ...]
    """Every usable `triggers[].event`, in order (repeats kept)."""
    auth_type: str | None
    auth_config: Mapping[str, Any]
    sensitive_keys: tuple[str, ...]
    projection: Projection | None
    """Decoder for the plain body paths the replay reads (None when there are none)."""
    findings: tuple[Finding, ...]
    """Every shape error found while compiling (DEF_SCHEMA, DEF_BAD_JSONPATH)."""
    secret_config: tuple[NamedSecret, ...] = ()
    """The secret values in auth.config (`model.secrecy.config_secrets`), for masking."""
    path: str | None = None
    """The file the definition was read from, for messages."""
    memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Results that depend only on this plan and a few values (the steps and outcome of a
    fired event, the report's `definition`): a replay's requests share one object each."""

    @property
    def webhook_path(self) -> str | None:
        return f"/miniapps/{self.ns}/webhooks" if self.ns else None

    @property
    def label(self) -> str:
        return f"{self.ns or '?'}@{self.version or '?'}"


def compile_definition(definition: Definition) -> Plan:
    """The Plan of `definition`; shape errors become findings, never exceptions."""
    data = definition.data
    reader = ShapeReader()
    ns = reader.get(data, "ns", (), str, "the webhook URL and trigger types cannot be derived")
    version = reader.get(data, "version", (), str)
    webhook = reader.get(data, "webhook", (), dict, "no webhook step can run") or {}
    auth = reader.get(data, "auth", (), dict) or {}
    triggers = _triggers(reader, data)
    return Plan(
        ns=ns,
        version=version,
        event_extraction=_event_extraction(reader, webhook),
        transaction=_transaction(reader, webhook),
        customer=_customer(reader, webhook),
        challenge=_challenge(reader, webhook),
        verification=_verification(reader, webhook),
        response=_response(reader, webhook),
        sync=_sync(reader, data),
        triggers=triggers,
        trigger_events=tuple(t.event for t in triggers if t.event is not None),
        auth_type=reader.get(auth, "type", ("auth",), str),
        auth_config=reader.get(auth, "config", ("auth",), dict) or {},
        sensitive_keys=tuple(reader.strings(auth, "sensitiveKeys", ("auth",))),
        projection=build_projection(p.keys for p in reader.body_paths if p.keys),
        findings=tuple(reader.findings),
        secret_config=config_secrets(definition),
        path=definition.path,
    )


# --- webhook blocks -----------------------------------------------------------------------


def _verification(c: ShapeReader, webhook: Mapping[str, Any]) -> VerificationSpec | None:
    config = c.get(webhook, "verification", _WEBHOOK, dict,
                   "whdebug treats the webhook as unverified")
    if config is None:
        return None
    at: Location = (*_WEBHOOK, "verification")
    kind, type_error = config.get("type"), None
    if kind is not None and not isinstance(kind, str):
        type_error = kind_of(kind)
        c.wrong_type((*at, "type"), kind, str,
                     "the runtime knows no such type and rejects every delivery")
        kind = None
    encoding = c.get(config, "encoding", at, str)
    header_name = c.get(config, "headerName", at, str)
    if header_name and not HEADER_NAME.fullmatch(header_name):
        c.findings.append(def_finding(
            "DEF_SCHEMA", f"{where((*at, 'headerName'))} {header_name!r} is not an HTTP header "
            "name (letters, digits and !#$%&'*+-.^_`|~ only): no request can carry it, so "
            "every delivery fails verification",
            "set it to the header the provider sends the signature in, e.g. "
            '"X-Hub-Signature-256"', (*at, "headerName")))
    return VerificationSpec(
        type=kind,
        header_name=header_name,
        secret_key=c.get(config, "secretKey", at, str),
        encoding="base64" if encoding == "base64" else "hex",
        timestamp_header=c.get(config, "timestampHeader", at, str),
        type_error=type_error,
    )


def _event_extraction(c: ShapeReader, webhook: Mapping[str, Any]) -> EventExtractionSpec | None:
    config = c.get(webhook, "eventExtraction", _WEBHOOK, dict, "no event is extracted")
    if config is None:
        return None
    at: Location = (*_WEBHOOK, "eventExtraction")
    primary = c.lookup(config, at)
    fallback_config = c.get(config, "fallback", at, dict)
    fallback = None
    if fallback_config is not None:
        fallback = c.lookup(fallback_config, (*at, "fallback"))
    composite_config = c.get(config, "compositeStrategy", at, dict)
    composite = None
    if composite_config is not None:
        composite = _composite(c, config, composite_config, (*at, "compositeStrategy"), at)
    return EventExtractionSpec(primary, fallback, composite)


def _composite(c: ShapeReader, config: Mapping[str, Any], composite: Mapping[str, Any],
               at: Location, extraction_at: Location) -> CompositeSpec:
    """Parts (from the strategy, else the extraction itself) and the join() separator."""
    holder, parts_at = (composite, at) if "parts" in composite else (config, extraction_at)
    raw_parts = c.get(holder, "parts", parts_at, list, "no event is extracted") or []
    parts: list[LookupSpec] = []
    for index, raw in enumerate(raw_parts):
        if isinstance(raw, dict):
            parts.append(c.lookup(raw, (*parts_at, "parts", index)))
        else:
            c.wrong_type((*parts_at, "parts", index), raw, dict, "this part reads nothing")
            parts.append(lookup_spec(None, None))
    separator = composite.get("separator")
    if separator is not None and not isinstance(separator, str):
        c.wrong_type((*at, "separator"), separator, str,
                     f"JavaScript's join() uses it as {js_string(separator)!r}")
    return CompositeSpec(tuple(parts), None if separator is None else js_string(separator))


def _transaction(c: ShapeReader, webhook: Mapping[str, Any]) -> TransactionSpec | None:
    no_id = "no transaction id is read, so retries are not deduplicated"
    config = c.get(webhook, "transactionId", _WEBHOOK, dict, no_id)
    if config is None:
        return None
    at: Location = (*_WEBHOOK, "transactionId")
    paths = c.body_paths_of(config, "paths", at, no_id) or ()
    overrides: dict[str, tuple[BodyPath, ...]] = {}
    for event, override in (c.get(config, "overrides", at, dict) or {}).items():
        override_at: Location = (*at, "overrides", event)
        if not isinstance(override, dict):
            c.wrong_type(override_at, override, dict)
            continue
        override_paths = c.body_paths_of(override, "paths", override_at)
        if override_paths is not None:
            overrides[event] = override_paths
    separator = c.get(config, "separator", at, str)
    fallback = c.get(config, "fallback", at, str)
    return TransactionSpec(paths, overrides, separator or None, fallback == "generate")


def _challenge(c: ShapeReader, webhook: Mapping[str, Any]) -> ChallengeSpec | None:
    config = c.get(webhook, "challengeResponse", _WEBHOOK, dict, "no challenge is answered")
    if config is None:
        return None
    at: Location = (*_WEBHOOK, "challengeResponse")
    field = c.get(config, "identifyField", at, str, "no challenge is detected")
    path = c.get(config, "challengePath", at, str, "no challenge token is found")
    identify = c.body_path(field, (*at, "identifyField")) if field else None
    challenge_path = c.body_path(path, (*at, "challengePath")) if path else None
    response_field = c.get(config, "responseField", at, str)
    if identify is None:
        return None
    return ChallengeSpec(identify, config.get("identifyValue"), challenge_path,
                         response_field or None)


def _customer(c: ShapeReader, webhook: Mapping[str, Any]) -> CustomerSpec | None:
    config = c.get(webhook, "customerExtraction", _WEBHOOK, dict, "no customer is extracted")
    if config is None:
        return None
    at: Location = (*_WEBHOOK, "customerExtraction")
    base_text = c.get(config, "basePath", at, str)
    base = c.body_path("$" if base_text is None else base_text, (*at, "basePath"))
    overrides: dict[str, BodyPath] = {}
    for event, override in (c.get(config, "overrides", at, dict) or {}).items():
        override_at: Location = (*at, "overrides", event)
        if not isinstance(override, dict):
            c.wrong_type(override_at, override, dict)
            continue
        text = c.get(override, "basePath", override_at, str)
        if text is not None:
            overrides[event] = c.body_path(text, (*override_at, "basePath"))
    fields: list[CustomerField] = []
    for name, value in (c.get(config, "mapping", at, dict) or {}).items():
        field_at: Location = (*at, "mapping", name)
        if not isinstance(value, str):
            c.wrong_type(field_at, value, str, "this field is never filled")
            fields.append(CustomerField(name, None))
        elif value.startswith("$"):
            fields.append(CustomerField(name, value,
                                        path=c.body_path(value, field_at, whole_body=False)))
        else:
            fields.append(CustomerField(name, value, keys=tuple(value.split("."))))
    return CustomerSpec(base, overrides, tuple(fields))


def _response(c: ShapeReader, webhook: Mapping[str, Any]) -> ResponseSpec:
    config = c.get(webhook, "response", _WEBHOOK, dict, "whdebug assumes 200 {\"ok\": true}")
    if config is None:
        return ResponseSpec()
    at: Location = (*_WEBHOOK, "response", "statusCode")
    status = c.get(config, "statusCode", at[:-1], int, "whdebug assumes 200")
    if status is not None and not 100 <= status <= 599:
        c.findings.append(def_finding(
            "DEF_SCHEMA", f"{where(at)} is {status}, outside 100-599: whdebug assumes 200",
            f"set {where(at)} to a value from 100 to 599", at))
        status = None
    body = config["body"] if "body" in config else {"ok": True}
    return ResponseSpec(200 if status is None else status, body)


# --- sync, triggers -----------------------------------------------------------------------


def _sync(c: ShapeReader, data: Mapping[str, Any]) -> SyncSpec:
    sync = c.get(data, "sync", (), dict) or {}
    webhooks = c.get(sync, "webhooks", ("sync",), dict) or {}
    raw = c.get(webhooks, "handlers", ("sync", "webhooks"), dict) or {}
    handlers: dict[str, SyncHandlerSpec] = {}
    for event, handler in raw.items():
        at: Location = ("sync", "webhooks", "handlers", event)
        if not isinstance(handler, dict):
            c.wrong_type(at, handler, dict, "no record is written for this event")
            continue
        handlers[event] = _handler(c, event, handler, at)
    return SyncSpec(handlers, tuple(raw))


def _handler(c: ShapeReader, event: str, handler: Mapping[str, Any],
             at: Location) -> SyncHandlerSpec:
    data_path_text = c.get(handler, "dataPath", at, str)
    data_path = None
    if "dataPath" not in handler:
        data_path = compile_body_path("$")
    elif data_path_text is not None:
        data_path = c.body_path(data_path_text, (*at, "dataPath"))
    fields: list[SyncField] = []
    for name, spec in (c.get(handler, "mapping", at, dict) or {}).items():
        fields.append(_sync_field(c, name, spec, (*at, "mapping", name)))
    record = "recordType" in handler or "mapping" in handler
    return SyncHandlerSpec(
        event=event,
        pointer=pointer(at),
        shape="record" if record else "resource",
        record_type=c.get(handler, "recordType", at, str),
        operation=c.get(handler, "operation", at, str),
        resource=c.get(handler, "resource", at, str),
        fields=tuple(fields),
        data_path=data_path,
        data_path_text=data_path_text,
    )


def _sync_field(c: ShapeReader, name: str, spec: Any, at: Location) -> SyncField:
    """A mapping value: a JSONPath string, or {path} / {paths: [...]} (first non-empty)."""
    if isinstance(spec, str):
        return SyncField(name, (c.body_path(spec, at),), spec, plain=True)
    if not isinstance(spec, dict):
        c.wrong_type(at, spec, dict, "this field is never filled", "a JSONPath or an object")
        return SyncField(name, (), str(spec))
    paths = spec.get("paths")
    if paths and isinstance(paths, list):
        return SyncField(name, c.body_paths_of(spec, "paths", at) or (), str(spec))
    if paths is not None and not isinstance(paths, list):
        c.wrong_type((*at, "paths"), paths, list, "this field is never filled")
    if paths:
        return SyncField(name, (), str(spec))  # `paths || [path]` takes the unusable paths
    path = c.get(spec, "path", at, str, "this field is never filled")
    return SyncField(name, (c.body_path(path, (*at, "path")),) if path else (), str(spec))


def _triggers(c: ShapeReader, data: Mapping[str, Any]) -> tuple[TriggerSpec, ...]:
    triggers: list[TriggerSpec] = []
    for index, trigger in enumerate(c.get(data, "triggers", (), list, "no trigger fires") or []):
        at: Location = ("triggers", index)
        if not isinstance(trigger, dict):
            c.wrong_type(at, trigger, dict, "this trigger never fires")
            continue
        triggers.append(TriggerSpec(
            index=index,
            event=c.get(trigger, "event", at, str, "this trigger never fires"),
            type=c.get(trigger, "type", at, str),
            label=c.get(trigger, "label", at, str),
            description=c.get(trigger, "description", at, str),
            fields=trigger,
        ))
    return tuple(triggers)
