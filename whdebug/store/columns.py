"""How the SQLite store spells a capture in its columns: timestamps as ISO text in UTC,
headers as a JSON array of [name, value] pairs, and the `captures` row of one capture."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec

from whdebug.model.request import Capture, ForwardResult, Reply

HEADERS = msgspec.json.Decoder(list[tuple[str, str]])


def format_timestamp(moment: datetime) -> str:
    """`2026-01-02T03:04:05.000006Z`: the moment in UTC (a naive one is taken as UTC)."""
    if moment.tzinfo is UTC:  # the receiver's clock: "...+00:00" is cut, not converted
        return moment.isoformat(timespec="microseconds")[:-6] + "Z"
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


def parse_timestamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_HEADERS_JSON = msgspec.json.Encoder()


def encode_headers(headers: Iterable[tuple[str, str]]) -> bytes:
    """`[["Name","value"],...]` as `json.dumps(..., separators=(",", ":"))` writes it
    (ASCII: anything else escaped), the pairs in order. msgspec writes printable ASCII
    the same way five times faster: its output is kept when it escaped nothing (no
    backslash) and holds only printable ASCII; anything else is written by json."""
    pairs = headers if isinstance(headers, tuple) else tuple(headers)
    try:
        encoded = _HEADERS_JSON.encode(pairs)
    except (TypeError, ValueError):  # a lone surrogate: msgspec writes only UTF-8
        encoded = None
    if encoded is not None and encoded.isascii() and b"\\" not in encoded and (
            b"\x7f" not in encoded):
        return encoded
    return json.dumps(pairs, separators=(",", ":")).encode("ascii")


def decode_headers(blob: bytes) -> tuple[tuple[str, str], ...]:
    try:
        return tuple(HEADERS.decode(blob))
    except msgspec.DecodeError:  # a lone surrogate ("\ud800"), which msgspec refuses
        return tuple((str(name), str(value)) for name, value in json.loads(blob))


RECEIPT_COLUMNS = ("received_at, client, method, path, query, http_version, body_size, "
                   "truncated, response_status, content_type, user_agent, headers, response_body")
"""The columns of a capture as it arrived and was answered: what `receipt` fills."""
LATER_COLUMNS = ("forward_status, forward_error, forward_body, forward_headers, forward_latency, "
                 "edited_from")
"""The columns only a forwarded or edited capture fills (NULL for a fresh receipt)."""


def receipt(capture: Capture, now: datetime) -> tuple[Any, ...]:
    """The RECEIPT_COLUMNS of one capture (its body goes to the bodies table).

    The receiver's captures are neither forwarded yet nor edited, and binding only these 13
    values instead of all 19 took about 2 µs less per row."""
    request = capture.request
    reply = capture.reply or _NO_REPLY
    # request.content_type and request.header("user-agent"), in one pass over the headers.
    content_type = user_agent = None
    for name, value in request.headers:
        lower = name.lower()
        if lower == "content-type":
            content_type = value if content_type is None else f"{content_type}, {value}"
        elif lower == "user-agent":
            user_agent = value if user_agent is None else f"{user_agent}, {value}"
    return (
        format_timestamp(capture.source.received_at or now),
        capture.source.client,
        request.method,
        request.path,
        request.query,
        request.http_version,
        request.size,
        int(request.truncated),
        reply.status,
        content_type,
        user_agent,
        encode_headers(request.headers),
        reply.body,
    )


def is_receipt(capture: Capture) -> bool:
    """Nothing for LATER_COLUMNS: `receipt` is the whole row."""
    return capture.forward is None and capture.source.edited_from is None


def row(capture: Capture, now: datetime) -> tuple[Any, ...]:
    """The captures row of one capture: RECEIPT_COLUMNS, then LATER_COLUMNS."""
    forward = capture.forward or _NOT_FORWARDED
    return (*receipt(capture, now), forward.status, forward.error, forward.body,
            None if forward.headers is None else encode_headers(forward.headers),
            forward.latency, capture.source.edited_from)


_NO_REPLY = Reply(None)
_NOT_FORWARDED = ForwardResult()
