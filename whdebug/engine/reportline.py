"""A report's compact JSON line (`replay --json`), exactly as `json.dumps` writes it.

msgspec writes the line when that gives the same text: plain ASCII (json.dumps escapes every
other character) and no float or out-of-range integer in the free-form values (json.dumps
writes `1e+16` where msgspec writes `1e16`); otherwise json.dumps over `report_json` does.

The line is one msgspec encoding of the report's members (`_Line`), in one call: the members
msgspec writes otherwise than the line (the event's parts carry a `raw_type` the line leaves
out, a transaction's `exact_id` is in the line only when set) go in already encoded, as
`msgspec.Raw`. A long replay's reports share their event and definition (the engine reuses
one object while the values are the same), so those encodings are remembered by the object's
identity.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import msgspec

from whdebug.engine.report import REPORT_SCHEMA, EventResult, Report, report_json

__all__ = ["encode_report", "encoded_line"]


def encode_report(report: Report) -> str:
    """The report as one compact JSON line, exactly as `json.dumps` writes it."""
    line = encoded_line(report)
    if line is not None:
        return line
    return json.dumps(report_json(report), separators=(",", ":"))


_ENCODE = msgspec.json.Encoder().encode
_RAW_TYPE_KEY = b',"raw_type":'
_NO_EXACT_ID = b',"exact_id":null}'
_RAW_TYPE_VALUE = re.compile(rb'null|"[a-z]*"')
_INT_RANGE = range(-(2**63), 2**63)


class _Unsafe(Exception):
    """A member msgspec would not write as json.dumps does: the whole line goes the slow way."""


class _Line(msgspec.Struct, tag_field="schema", tag=REPORT_SCHEMA, omit_defaults=True):
    """A report's line as msgspec writes it in one call: the report's members in order, the
    ones written another way than msgspec would (the event, the transaction) and the
    definition as `msgspec.Raw` encodings; `profile` only when set."""

    source: Any
    request: Any
    definition: Any
    challenge: Any
    signature: Any
    event: Any
    triggers: Any
    transaction: Any
    customer: Any
    sync: Any
    outcome: Any
    findings: Any
    steps: Any
    assumptions: Any
    profile: Any = None


class _LineEncoder:
    """Writes report lines, remembering the encodings of the members reports share, by the
    identity of the object encoded (kept alive here, so an id is never reused while its
    entry lives), once it is seen a second time."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[Any, msgspec.Raw | None]] = {}
        self._seen: dict[int, Any] = {}
        """Members seen once (kept alive here until the next are), by identity."""

    def line(self, report: Report) -> str | None:
        """The report's JSON line, or None when msgspec could write another text than
        json.dumps."""
        signature = report.signature
        if signature.timestamp_age_seconds is not None:
            return None
        transaction = report.transaction
        outcome, customer, sync = report.outcome, report.customer, report.sync
        if (outcome.if_verified is not None and not _plain(outcome.if_verified)) or (
                customer is not None and not _plain(customer.fields)) or (
                sync is not None and not _plain(sync.fields)) or (
                report.profile is not None and not _plain(report.profile)):
            return None
        shared = self._shared
        try:
            tx = _ENCODE(transaction)
            if transaction.exact_id is None:  # in JSON only when set: its last key
                if not tx.endswith(_NO_EXACT_ID):
                    return None
                tx = tx[: -len(_NO_EXACT_ID)] + b"}"
            data = _ENCODE(_Line(
                report.source, report.request, shared(report.definition, _plain_value),
                shared(report.challenge, _struct), signature, shared(report.event, _event),
                shared(report.triggers, _struct), msgspec.Raw(tx), customer, sync,
                shared(outcome, _struct), report.findings, report.steps, report.assumptions,
                report.profile))
        except (_Unsafe, TypeError, ValueError, OverflowError):
            return None
        if not data.isascii() or b"\x7f" in data:
            return None
        return data.decode("ascii")

    def _shared(self, value: Any, encode: Callable[[Any], bytes]) -> msgspec.Raw:
        """The encoding of a member reports may share: remembered once it is seen a second
        time (an object made for one report is only encoded)."""
        hit = self._memo.get(id(value))
        if hit is not None and hit[0] is value:
            data = hit[1]
        else:
            try:
                data = msgspec.Raw(encode(value))
            except _Unsafe:
                data = None
            seen = self._seen.get(id(value))
            if seen is not None and seen is value:  # a second time: shared
                if len(self._memo) >= _MEMO_LIMIT:
                    self._memo.clear()
                self._memo[id(value)] = (value, data)
            else:
                if len(self._seen) >= _SEEN_LIMIT:
                    self._seen.clear()
                self._seen[id(value)] = value
        if data is None:
            raise _Unsafe
        return data


_MEMO_LIMIT = 4096
_SEEN_LIMIT = 256
_LINES = _LineEncoder()


def _plain_value(value: Any) -> bytes:
    """A free-form value (from the definition or the body) that msgspec writes as json.dumps
    does, encoded."""
    if not _plain(value):
        raise _Unsafe
    return _struct(value)


def _struct(value: Any) -> bytes:
    try:
        return _ENCODE(value)
    except (TypeError, ValueError, OverflowError):
        raise _Unsafe from None


def _event(event: EventResult) -> bytes:
    """The event without its parts' `raw_type` (for the text view only). As a key (never
    inside a JSON string, where its quotes are escaped) it ends every part: cut each up to
    its `}`."""
    data = _struct(event)
    kept = []
    position = 0
    for _ in event.parts:
        start = data.find(_RAW_TYPE_KEY, position)
        end = data.find(b"}", start)
        if start < 0 or not _RAW_TYPE_VALUE.fullmatch(data, start + len(_RAW_TYPE_KEY), end):
            raise _Unsafe
        kept.append(data[position:start])
        position = end
    if data.find(_RAW_TYPE_KEY, position) >= 0:
        raise _Unsafe
    kept.append(data[position:])
    return b"".join(kept)


def encoded_line(report: Report) -> str | None:
    """The report's JSON line from msgspec, or None when it could differ from json.dumps."""
    return _LINES.line(report)


def _plain(value: Any) -> bool:
    """True when msgspec and json.dumps write `value` the same way, ASCII aside: strings,
    booleans, None, 64-bit integers, and lists, tuples and string-keyed dicts of them."""
    if value is None or isinstance(value, (str, bool)):
        return True
    if type(value) is int:
        return value in _INT_RANGE
    if isinstance(value, (list, tuple)):
        return all(_plain(item) for item in value)
    if type(value) is dict:
        return all(type(key) is str and _plain(item) for key, item in value.items())
    return False
