"""Sync webhook handlers: the handler for an event, its record type and external id."""

from __future__ import annotations

from typing import Any

from whdebug.engine.paths import Body, js_string
from whdebug.engine.report import Finding, SyncResult, finding
from whdebug.engine.steps.triggers import near_miss_reason
from whdebug.model.definition import Definition

RECORD_TYPES = ("order", "abandonedCart")


def _first(path: Any, body: Body) -> Any:
    if not isinstance(path, str):
        return None
    try:
        found = body.find(path)
    except Exception:
        return None
    return found[0] if found else None


def _mapped(spec: Any, body: Body) -> Any:
    """A mapping value: a JSONPath string, or {path}/{paths: [...]} (first non-empty)."""
    if isinstance(spec, str):
        return _first(spec, body)
    if isinstance(spec, dict):
        paths = spec.get("paths") or ([spec["path"]] if "path" in spec else [])
        for path in paths if isinstance(paths, list) else []:
            value = _first(path, body)
            if value not in (None, ""):
                return value
    return None


def check_sync(
    definition: Definition, event: str | None, body: Body
) -> tuple[SyncResult | None, list[Finding]]:
    handlers = definition.sync_handlers
    if not handlers or event is None:
        return None, []
    handler = handlers.get(event)
    if not isinstance(handler, dict):
        close = [key for key in handlers if near_miss_reason(event, key)]
        message = f"no sync.webhooks.handlers entry for {event!r}: no record is written"
        fix = (
            "nothing to do if this event does not carry orders or carts"
            if not close
            else f"rename handler {close[0]!r} to {event!r}"
        )
        return None, [
            finding(
                "SYNC_NO_HANDLER",
                message,
                fix,
                step="sync",
                severity="warning" if close else "info",
                pointer="/sync/webhooks/handlers",
            )
        ]
    findings: list[Finding] = []
    pointer = f"/sync/webhooks/handlers/{event.replace('~', '~0').replace('/', '~1')}"
    if "recordType" in handler or "mapping" in handler:
        record_type = handler.get("recordType")
        if record_type not in RECORD_TYPES:
            findings.append(
                finding(
                    "SYNC_BAD_RECORD_TYPE",
                    f"handler {event!r} has recordType {record_type!r}; the "
                    "runtime only writes 'order' or 'abandonedCart'",
                    'set recordType to "order" or "abandonedCart"',
                    step="sync",
                    pointer=pointer + "/recordType",
                )
            )
        mapping = handler.get("mapping") if isinstance(handler.get("mapping"), dict) else {}
        assert isinstance(mapping, dict)
        fields = {}
        for name, spec in mapping.items():
            value = _mapped(spec, body)
            fields[name] = (
                value
                if isinstance(value, str | int | float | bool) or value is None
                else js_string(value)
            )
        code = fields.get("code")
        if code in (None, ""):
            findings.append(
                finding(
                    "SYNC_NO_CODE",
                    f"handler {event!r}: mapping.code "
                    f"({mapping.get('code', 'not set')}) yields no external id on this payload; "
                    "the "
                    "record cannot be created or updated",
                    "point mapping.code at the provider's "
                    'stable id for the order or cart (e.g. "$.data.id")',
                    step="sync",
                    pointer=pointer + "/mapping/code",
                )
            )
        return SyncResult(
            event,
            "record",
            record_type if isinstance(record_type, str) else None,
            _str(handler.get("operation")),
            None if code in (None, "") else js_string(code),
            fields,
        ), findings
    data = _first(handler.get("dataPath", "$"), body)
    code_value = data.get("id") if isinstance(data, dict) else None
    if data is None:
        findings.append(
            finding(
                "SYNC_NO_CODE",
                f"handler {event!r}: dataPath {handler.get('dataPath')} finds "
                "nothing in this payload",
                "point dataPath at the resource object",
                step="sync",
                pointer=pointer + "/dataPath",
            )
        )
    elif code_value in (None, ""):
        findings.append(
            finding(
                "SYNC_NO_CODE",
                f"handler {event!r}: the object at {handler.get('dataPath')} has no "
                "`id`, so the record has no stable external id",
                "point dataPath at an object with an id",
                step="sync",
                severity="warning",
                pointer=pointer + "/dataPath",
            )
        )
    return SyncResult(
        event,
        "resource",
        _str(handler.get("resource")),
        _str(handler.get("operation")),
        None if code_value in (None, "") else js_string(code_value),
        {"dataPath": handler.get("dataPath")},
    ), findings


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
