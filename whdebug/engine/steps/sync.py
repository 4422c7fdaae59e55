"""Sync webhook handlers: the handler for an event, its record type and external id."""

from __future__ import annotations

from typing import Any

from whdebug.engine._specs import SyncField, SyncSpec
from whdebug.engine.bodypaths import BodyPath
from whdebug.engine.paths import Body, js_string
from whdebug.engine.report import Finding, SyncResult, finding
from whdebug.engine.steps.triggers import near_miss_reason

RECORD_TYPES = ("order", "abandonedCart")


def _first(path: BodyPath | None, body: Body) -> Any:
    if path is None:
        return None
    found = body.select(path)
    return found[0] if found else None


def _mapped(field: SyncField, body: Body) -> Any:
    """A mapping value: a JSONPath string's value, else the first non-empty of its paths."""
    if field.plain:
        return _first(field.paths[0], body)
    for path in field.paths:
        value = _first(path, body)
        if value not in (None, ""):
            return value
    return None


def check_sync(
    sync: SyncSpec, event: str | None, body: Body
) -> tuple[SyncResult | None, list[Finding]]:
    if not sync.names or event is None:
        return None, []
    handler = sync.handlers.get(event)
    if handler is None:
        close = [key for key in sync.names if near_miss_reason(event, key)]
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
    pointer = handler.pointer
    if handler.shape == "record":
        record_type = handler.record_type
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
        fields = {}
        for field in handler.fields:
            value = _mapped(field, body)
            fields[field.name] = (
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
                    f"({_shown(handler.fields, 'code')}) yields no external id on this payload; "
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
            record_type,
            handler.operation,
            None if code in (None, "") else js_string(code),
            fields,
        ), findings
    data = _first(handler.data_path, body)
    code_value = data.get("id") if isinstance(data, dict) else None
    if data is None:
        findings.append(
            finding(
                "SYNC_NO_CODE",
                f"handler {event!r}: dataPath {handler.data_path_text} finds "
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
                f"handler {event!r}: the object at {handler.data_path_text} has no "
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
        handler.resource,
        handler.operation,
        None if code_value in (None, "") else js_string(code_value),
        {"dataPath": handler.data_path_text},
    ), findings


def _shown(fields: tuple[SyncField, ...], name: str) -> str:
    return next((field.shown for field in fields if field.name == name), "not set")
