"""A batch of captures sent on the libpq connection itself (psycopg's documented
`psycopg.pq` layer), without psycopg's cursor machinery: see `send_batch`.

A batch is the statement of `pg_batch.insert_batch_raw`, prepared once per connection and
row count with its parameter types declared, and executed with every parameter in
PostgreSQL's binary format, encoded here: bytea as is, text in the connection's encoding,
integers, booleans, floats and timestamps in network byte order, header arrays in
PostgreSQL's binary array format. The receiver's loop (`send_batch`, prepared) and every
other writer (`run_batch`) send the same parameters. psycopg's cursor (its query
conversion, prepared-statement bookkeeping, adaptation of every parameter and its
generator-based waiting) cost the
receiver's event loop about twice the CPU per batch of this path: measured on one
AsyncConnection with the bench's 2 KB captures, 158 -> 73 us of user CPU per batch of 2 and
290 -> 158 us per batch of 8.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from whdebug.model.request import Capture, ForwardResult, Reply
from whdebug.store.pg_batch import (
    _ARRAY_HEAD,
    _COMMIT_LOCK,
    _EMPTY_ARRAY,
    CHANNEL,
    insert_batch_raw,
    received,
)

_INT8, _INT4, _BOOL, _TEXT, _BYTEA, _FLOAT8, _TIMESTAMPTZ, _BYTEA_ARRAY = (
    20, 23, 16, 25, 17, 701, 1184, 1001)
_ROW_TYPES = (_TIMESTAMPTZ, _TEXT, _TEXT, _BYTEA, _BYTEA, _TEXT, _INT8, _BOOL, _INT4, _BYTEA,
              _BYTEA, _INT4, _TEXT, _BYTEA_ARRAY, _BYTEA_ARRAY, _BYTEA, _BYTEA, _BYTEA_ARRAY,
              _BYTEA_ARRAY, _FLOAT8, _INT8, _BYTEA)
"""The types of a capture's values in `batch_params`, in order (whdebug_captures' columns
after id, the body last)."""
PREPARED_ROWS = 32
"""Batches of up to this many rows run a statement prepared on the connection; larger ones
(rare: the receiver's batches are as large as the requests that arrive during one commit)
are parsed each time, so a connection keeps at most this many prepared statements."""

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_PACK_INT8 = struct.Struct("!q").pack
_PACK_INT4 = struct.Struct("!i").pack
_PACK_FLOAT8 = struct.Struct("!d").pack
_TRUE, _FALSE = b"\x01", b"\x00"
_NO_REPLY, _NO_FORWARD = Reply(None), ForwardResult()


def param_types(rows: int) -> list[int]:
    """The parameter types of `insert_batch_raw(rows)`: the lock key, each row's values (its
    body last) and the NOTIFY channel."""
    return [_INT8, *(_ROW_TYPES * rows), _TEXT]


def _timestamp(value: datetime) -> bytes:
    """A timestamptz in binary: microseconds since 2000-01-01 UTC (integer arithmetic, so
    the microsecond read back is the one sent)."""
    delta = value - _EPOCH
    return _PACK_INT8((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def batch_params(batch: Sequence[Capture], now: datetime, encoding: str) -> list[bytes | None]:
    """The binary parameters of `insert_batch_raw(len(batch))` (types: `param_types`): each
    capture's values in the order of `whdebug_captures`' columns after id, encoded straight
    from the capture (the header arrays in one pass): about half the CPU of psycopg's
    adaptation of the same values."""
    params: list[bytes | None] = [_PACK_INT8(_COMMIT_LOCK)]
    for capture in batch:
        request, source = capture.request, capture.source
        reply, forward = capture.reply or _NO_REPLY, capture.forward or _NO_FORWARD
        names, values = _header_arrays(request.headers)
        client, error, latency = source.client, forward.error, forward.latency
        content_type, agent = request.header("content-type"), request.header("user-agent")
        forward_names, forward_values = (
            (None, None) if forward.headers is None else _header_arrays(forward.headers))
        params += (
            _timestamp(received(capture, now)),
            None if client is None else client.encode(encoding),
            request.method.encode(encoding), request.path.encode("latin-1"),
            request.query.encode("latin-1"), request.http_version.encode(encoding),
            _PACK_INT8(request.size), _TRUE if request.truncated else _FALSE,
            None if reply.status is None else _PACK_INT4(reply.status),
            None if content_type is None else content_type.encode("latin-1"),
            None if agent is None else agent.encode("latin-1"),
            None if forward.status is None else _PACK_INT4(forward.status),
            None if error is None else error.encode(encoding),
            names, values, reply.body, forward.body, forward_names, forward_values,
            None if latency is None else _PACK_FLOAT8(latency),
            None if source.edited_from is None else _PACK_INT8(source.edited_from),
            request.body,
        )
    params.append(CHANNEL.encode(encoding))
    return params


def _header_arrays(headers: Sequence[tuple[str, str]]) -> tuple[bytes, bytes]:
    """Header names and values as two binary bytea[]: one dimension, no NULLs, element
    type bytea, then each element's length and bytes."""
    if not headers:
        return _EMPTY_ARRAY, _EMPTY_ARRAY
    head = _ARRAY_HEAD.pack(1, 0, _BYTEA, len(headers), 1)
    names, values = [head], [head]
    for name, value in headers:  # latin-1: one byte per character
        names += (_PACK_INT4(len(name)), name.encode("latin-1"))
        values += (_PACK_INT4(len(value)), value.encode("latin-1"))
    return b"".join(names), b"".join(values)


async def send_batch(connection: Any, batch: Sequence[Capture], now: datetime,
                     prepared: set[int]) -> list[int]:
    """Run one batch's statement on `connection` (a psycopg AsyncConnection in autocommit,
    used for nothing else meanwhile) and return its ids. `prepared` holds the row counts
    already prepared on this connection. A failure raises the psycopg error for its
    SQLSTATE (OperationalError when the connection broke)."""
    pgconn = connection.pgconn
    rows = len(batch)
    params = batch_params(batch, now, connection.info.encoding)
    formats = [1] * len(params)
    if rows <= PREPARED_ROWS:
        name = b"whdebug_batch_%d" % rows
        if rows not in prepared:
            pgconn.send_prepare(name, insert_batch_raw(rows).encode(),
                                param_types=param_types(rows))
            _check(await _results(pgconn), connection)
            prepared.add(rows)
        pgconn.send_query_prepared(name, params, param_formats=formats, result_format=0)
    else:
        pgconn.send_query_params(insert_batch_raw(rows).encode(), params,
                                 param_types=param_types(rows), param_formats=formats,
                                 result_format=0)
    return _ids(_check(await _results(pgconn), connection))


def run_batch(connection: Any, batch: Sequence[Capture], now: datetime) -> list[int]:
    """`send_batch` on a blocking connection (psycopg Connection in autocommit: `import`,
    the commands that store captures): the same statement and binary parameters, parsed
    each time."""
    rows = len(batch)
    params = batch_params(batch, now, connection.info.encoding)
    result = connection.pgconn.exec_params(
        insert_batch_raw(rows).encode(), params, param_types=param_types(rows),
        param_formats=[1] * len(params), result_format=0)
    return _ids(_check([result], connection))


def _ids(result: Any) -> list[int]:
    """The ids the batch's statement drew (an int8[] in text: {41,42,43})."""
    drawn = result.get_value(0, 0)
    return [int(value) for value in bytes(drawn)[1:-1].split(b",")]


async def _results(pgconn: Any) -> list[Any]:
    """Flush what was sent and wait (on the running loop) for the command's results."""
    loop = asyncio.get_running_loop()
    while pgconn.flush():  # the socket is full: wait until it takes more
        await _ready(loop, pgconn.socket, write=True)
    pgconn.consume_input()
    while pgconn.is_busy():
        await _ready(loop, pgconn.socket, write=False)
        pgconn.consume_input()
    results = []
    while (result := pgconn.get_result()) is not None:
        results.append(result)
    return results


async def _ready(loop: asyncio.AbstractEventLoop, socket: int, *, write: bool) -> None:
    waiter = loop.create_future()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    (loop.add_writer if write else loop.add_reader)(socket, wake)
    try:
        await waiter
    finally:
        (loop.remove_writer if write else loop.remove_reader)(socket)


def _check(results: list[Any], connection: Any) -> Any:
    """The command's result, or its error raised as psycopg raises it."""
    from psycopg import Error, OperationalError, errors, pq

    for result in results:
        if result.status == pq.ExecStatus.FATAL_ERROR:
            state = result.error_field(pq.DiagnosticField.SQLSTATE)
            message = (result.error_message or b"").decode(connection.info.encoding, "replace")
            kind: type[Error] = OperationalError
            if state:
                try:
                    kind = errors.lookup(state.decode("ascii"))
                except KeyError:  # an SQLSTATE psycopg does not know
                    pass
            raise kind(message.strip() or "the batch failed")
    if not results:
        raise OperationalError("no answer to the batch: the connection is gone")
    return results[-1]
