"""A receiver's insert batch on PostgreSQL: the one statement that commits it, its
parameters, and how a batch whose answer was lost is recognised among the stored rows (see
postgres.py and docs/store.md)."""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable
from datetime import UTC, datetime

from whdebug.model.request import Capture

CHANNEL = "whdebug_captures"
_COMMIT_LOCK = 0x7768_6462_0002

_INSERT = (
    "INSERT INTO whdebug_captures (id, received_at, client, method, path, query, "
    "http_version, body_size, truncated, response_status, content_type, user_agent, "
    "forward_status, forward_error, header_names, header_values, response_body, forward_body, "
    "forward_header_names, forward_header_values, forward_latency, edited_from, body) "
    "VALUES "
)


def _insert_rows(head: str, rows: int) -> str:
    """`head` with `rows` placeholder tuples (as many as the statement's columns); the first
    column of row i is the batch's i-th id (see `_insert_batch`)."""
    width = head.count(",", head.index("("), head.index(")")) + 1
    return head + ", ".join(
        "((SELECT drawn[" + str(row) + "] FROM ids), " + ", ".join(["%b"] * (width - 1)) + ")"
        for row in range(1, rows + 1))


@functools.lru_cache(maxsize=64)
def _insert_batch(rows: int) -> str:
    """ONE statement for a batch of `rows` captures, run outside any explicit transaction
    (autocommit: the statement is its own transaction, so BEGIN and COMMIT cost no round
    trips): the commit lock, the ids (drawn only once the lock is held), both tables' rows,
    the NOTIFY, and the ids back. The lock is held only while the server runs this one
    statement and commits it, never across a round trip to the client. Parameters go in
    binary (`%b`): a bytea array in text format costs a regex per header, and binary
    parameters cut the client's CPU per row by about a third. The body is a column of its
    capture's row (schema version 6; see pg_schema.py)."""
    return (
        "WITH held AS MATERIALIZED (SELECT pg_advisory_xact_lock(%b)), "
        "ids AS MATERIALIZED (SELECT array_agg(id ORDER BY id) AS drawn FROM ("
        f"SELECT nextval('whdebug_capture_ids') AS id FROM held, generate_series(1, {rows})"
        ") AS drawn), "
        f"captures AS ({_insert_rows(_INSERT, rows)}) "
        f"SELECT drawn, pg_notify(%b, drawn[{rows}]::text) FROM ids")


@functools.lru_cache(maxsize=64)
def insert_batch_raw(rows: int) -> str:
    """`_insert_batch` with PostgreSQL's own `$n` placeholders, sent on libpq by
    `pg_wire` (psycopg's cursor re-parsed a `%b` query of over 50 parameters each time,
    about 40 us per row)."""
    parts = _insert_batch(rows).split("%b")
    return "".join(f"{part}${index}" for index, part in enumerate(parts[:-1], 1)) + parts[-1]


_BYTEA, _BYTEA_ARRAY = 17, 1001
_ARRAY_HEAD = struct.Struct("!iiIii")
_EMPTY_ARRAY = struct.pack("!iiI", 0, 0, _BYTEA)


def received(capture: Capture, now: datetime) -> datetime:
    received = capture.source.received_at or now
    return received if received.tzinfo is not None else received.replace(tzinfo=UTC)


def header_arrays(headers: tuple[tuple[str, str], ...] | Iterable[tuple[str, str]] | None
                   ) -> tuple[list[bytes] | None, list[bytes] | None]:
    """Header names and values as two bytea arrays (None when there are no headers)."""
    if headers is None:
        return None, None
    pairs = list(headers)
    return ([name.encode("latin-1") for name, _ in pairs],
            [value.encode("latin-1") for _, value in pairs])


def match(found: list[Capture], batch: list[Capture], now: datetime) -> list[int] | None:
    """The ids of a run of consecutive stored captures (`found`, read back in id order)
    holding exactly the batch's captures, in order (see PostgresStore._landed), or None."""
    for start in range(len(found) - len(batch) + 1):
        run = found[start:start + len(batch)]
        ids = [int(item.source.capture_id or 0) for item in run]
        if ids == list(range(ids[0], ids[0] + len(batch))) and all(
                _same(stored, sent, now) for stored, sent in zip(run, batch, strict=True)):
            return ids
    return None


def _same(stored: Capture, sent: Capture, now: datetime) -> bool:
    """Whether a stored capture is the one sent (see PostgresStore._landed)."""
    a, b = stored.request, sent.request
    return (stored.source.received_at == received(sent, now)
            and stored.source.client == sent.source.client
            and (a.method, a.path, a.query, a.headers, a.body)
            == (b.method, b.path, b.query, b.headers, b.body))


