"""Sync webhook handlers: the handler for an event, its record type and external id."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from whdebug.engine._specs import SyncField, SyncSpec, TriggerSpec
from whdebug.engine.bodypaths import BodyPath
from whdebug.engine.patches import PatchOp, move
from whdebug.engine.paths import Body, js_string
from whdebug.engine.report import Finding, SyncResult, finding
from whdebug.engine.steps.triggers import add_trigger_patch, near_miss_reason

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


def no_handler_finding(event: str, handlers: Collection[str], trigger_events: Collection[str],
                       *, prefix: str = "", listing: str = "") -> Finding:
    """SYNC_NO_HANDLER: rename a near-miss handler only when no trigger uses its name (its
    own deliveries would lose their handler)."""
    close = [key for key in handlers if near_miss_reason(event, key)]
    free = [key for key in close if key not in trigger_events]
    message = (f"{prefix}no sync.webhooks.handlers entry for {event!r}: no record is "
               f"written{listing}")
    patch: tuple[PatchOp, ...] = ()
    if free:
        fix = f"rename handler {free[0]!r} to {event!r}"
        patch = (move(handler_pointer(free[0]), handler_pointer(event)),)
    elif close:
        fix = (f"add a handler for {event!r} (a copy of {close[0]!r}, which its own trigger "
               "still needs) if this event carries orders or carts")
    else:
        fix = ("nothing to do if this event does not carry orders or carts; otherwise add "
               f"sync.webhooks.handlers[{json.dumps(event)}]")
    return finding("SYNC_NO_HANDLER", message, fix, step="sync",
                   severity="warning" if close else "info", pointer="/sync/webhooks/handlers",
                   patch=patch)


def handler_pointer(event: str) -> str:
    return "/sync/webhooks/handlers/" + event.replace("~", "~0").replace("/", "~1")


def handler_without_trigger_fix(
    handler: str, handlers: Collection[str], triggers: Sequence[TriggerSpec], ns: str | None
) -> tuple[str, tuple[PatchOp, ...]]:
    """The fix for a sync handler no trigger matches, as text and patch.

    Rename the handler only to a near-miss trigger event that has no handler yet (renaming onto
    an existing handler would overwrite it); otherwise add a trigger for the handler's event.
    """
    where = f"sync.webhooks.handlers[{json.dumps(handler)}]"
    close = [t.event for t in triggers
             if t.event is not None and near_miss_reason(handler, t.event)]
    free = [event for event in close if event not in handlers]
    if free:
        return (f'rename {where} to "{free[0]}" (the trigger\'s exact event)',
                (move(handler_pointer(handler), handler_pointer(free[0])),))
    taken = (f'; renaming it to "{close[0]}" would overwrite the handler that already has '
             "that name") if close else ""
    return (f'add a trigger with event "{handler}" (or remove {where} if the provider never '
            f"sends that event){taken}", add_trigger_patch(handler, triggers, ns))


def check_sync(
    sync: SyncSpec, event: str | None, body: Body, trigger_events: Collection[str] = ()
) -> tuple[SyncResult | None, list[Finding]]:
    if not sync.names or event is None:
        return None, []
    handler = sync.handlers.get(event)
    if handler is None:
        return None, [no_handler_finding(event, sync.names, trigger_events)]
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
