"""The shared capture store on PostgreSQL (`--store postgresql://...`, `whdebug[postgres]`).

Exact bytes: bodies, paths, queries and headers are `bytea` (headers as two arrays, names
and values, in order with duplicates kept; latin-1 maps each wire byte to one code point, so
a capture read back is byte-identical to the one the SQLite store returns).

Commit order: every insert batch takes `pg_advisory_xact_lock(_COMMIT_LOCK)` before it draws
its ids from the sequence. The lock is released only after the commit is visible, so batches
from any number of receivers commit one after another and ids increase in commit order: a
reader that has seen id N will never later find a new id below N (a sequence alone hands out
ids in draw order, not commit order). Group commit (one transaction per batch) keeps that
serialisation cheap.

Live view: a committed batch sends `NOTIFY whdebug_captures` with its last id; `watch`
listens on its own connection and calls back, so TUIs learn of another receiver's captures
without polling.

Failure: a connection that breaks is dropped, the call raises a one-line StoreError (the
receiver answers 503 with it), and the next call connects again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from whdebug.errors import StoreError
from whdebug.model.request import Capture, CapturedRequest, ForwardResult, Reply, Source, as_capture
from whdebug.store import analyses
from whdebug.store.pg_analyses import POSTGRES, PostgresIndex, lock_for_deletion
from whdebug.store.pg_batch import (
    CHANNEL,
    header_arrays,
    match,
    received,
)
from whdebug.store.pg_schema import SCHEMA_VERSION, migrate
from whdebug.store.pg_wire import run_batch, send_batch
from whdebug.store.store import CaptureSummary

__all__ = ["CHANNEL", "SCHEMA_VERSION", "PostgresStore", "mask_url"]

try:
    import psycopg
except ImportError:  # pragma: no cover - depends on the installation
    psycopg = None  # type: ignore[assignment]

_NEWEST = 2**63 - 1
_CONNECT = {"connect_timeout": 3, "keepalives": 1, "keepalives_idle": 5,
            "keepalives_interval": 2, "keepalives_count": 3}
"""Fail fast when the server is unreachable, and notice a vanished peer over TCP within
about 11 s (the receiver then answers 503 instead of hanging); URL parameters override."""

_SUMMARY = ("id, received_at, client, method, path, query, body_size, truncated, "
            "response_status, content_type, user_agent, forward_status, forward_latency, "
            "edited_from")
_GET = (
    "SELECT c.received_at, c.client, c.method, c.path, c.query, c.http_version, c.body_size, "
    "c.truncated, c.response_status, c.forward_status, c.header_names, c.header_values, "
    "c.response_body, c.forward_body, COALESCE(c.body, b.body), c.forward_error, "
    "c.forward_header_names, c.forward_header_values, c.forward_latency, c.edited_from, c.id "
    "FROM whdebug_captures AS c LEFT JOIN whdebug_bodies AS b ON b.capture_id = c.id "
)
"""A whole capture. Its body is in its own row since schema version 6; bodies stored before
stay in whdebug_bodies (no migration rewrites a store's rows)."""
_PRUNE = (
    "WITH gone AS (DELETE FROM whdebug_captures WHERE received_at < %s AND id NOT IN "
    "(SELECT id FROM whdebug_captures ORDER BY id DESC LIMIT %s) RETURNING id), "
    "bodies AS (DELETE FROM whdebug_bodies WHERE capture_id IN (SELECT id FROM gone)) "
    "SELECT count(*) FROM gone")
"""Captures older than a cutoff, except the newest N, and their bodies, in one statement
(no foreign key deletes a body with its capture since schema version 5)."""
_GET_ONE = _GET + "WHERE c.id = %s"
_LANDED = _GET + "WHERE c.id > %s AND c.received_at = ANY(%s) ORDER BY c.id"
_GET_RANGE = _GET + "WHERE c.id BETWEEN %s AND %s ORDER BY c.id"


def mask_url(url: str) -> str:
    """The URL without its password (for messages, banners and suggested commands)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    credentials, host = parts.netloc.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _text(data: bytes | memoryview | None) -> str | None:
    return None if data is None else bytes(data).decode("latin-1")


def _header_pairs(names: list[Any] | None, values: list[Any] | None
                  ) -> tuple[tuple[str, str], ...] | None:
    if names is None or values is None:
        return None
    return tuple((bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
                 for name, value in zip(names, values, strict=True))


def _summary(row: tuple[Any, ...]) -> CaptureSummary:
    return CaptureSummary(
        id=int(row[0]), received_at=row[1].astimezone(UTC), client=row[2], method=row[3],
        path=_text(row[4]) or "", query=_text(row[5]) or "", body_size=int(row[6]),
        truncated=bool(row[7]), response_status=row[8], content_type=_text(row[9]),
        user_agent=_text(row[10]), forward_status=row[11], forward_latency=row[12],
        edited_from=None if row[13] is None else int(row[13]),
    )


def _optional(data: bytes | memoryview | None) -> bytes | None:
    return None if data is None else bytes(data)


def _reason(error: BaseException) -> str:
    """The first line of a driver error, without the connection details."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _connect_options(url: str) -> dict[str, Any]:
    """_CONNECT, except what the URL's query string sets itself."""
    given = {pair.split("=", 1)[0] for pair in urlsplit(url).query.split("&") if pair}
    return {key: value for key, value in _CONNECT.items() if key not in given}


def _require_driver() -> Any:
    if psycopg is None:
        raise StoreError("a postgresql:// store needs psycopg: pip install 'whdebug[postgres]'")
    return psycopg


class PostgresStore(PostgresIndex):
    """A capture store in a PostgreSQL database, with the analysis index (PostgresIndex);
    one thread at a time per instance."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = url
        self._where = mask_url(url)
        self._connection: Any = None
        self._closed = False
        self._async: Any = None
        """The AsyncConnection of `insert_many_async` (the receiver's event loop)."""
        self._prepared: set[int] = set()
        """The batch sizes whose statement is prepared on `_async` (see pg_wire.py)."""
        self._floor: int | None = None
        """An id at or above every capture committed before this store's next insert
        (None: not known yet); see `_landed`."""

    @classmethod
    def open(cls, url: str) -> PostgresStore:
        """Connect and migrate the schema forward; StoreError (one line) when unreachable."""
        store = cls(url)
        store._connect()
        return store

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresStore({self._where!r})"

    def close(self) -> None:
        self._closed = True
        self._drop()
        connection, self._async = self._async, None
        if connection is not None:  # its loop is gone: close the socket without it
            try:
                connection.pgconn.finish()
            except Exception:  # noqa: BLE001 - closing anyway
                pass

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass

    def _connect(self) -> Any:
        driver = _require_driver()
        try:
            connection = driver.connect(self.url, autocommit=True, **_connect_options(self.url))
        except driver.Error as error:
            raise StoreError(f"cannot reach the PostgreSQL capture store: {_reason(error)}",
                             self._where) from None
        try:
            migrate(connection, self._where)
            if self._floor is None:  # ids not yet drawn cannot be committed
                (floor,) = connection.execute(
                    "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END "
                    "FROM whdebug_capture_ids").fetchone()
                self._floor = int(floor)
        except driver.Error as error:
            connection.close()
            raise StoreError(f"capture store error: {_reason(error)}", self._where) from None
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    @contextmanager
    def _session(self, write: bool = False, batch: bool = False) -> Iterator[Any]:
        """The connection (reconnecting if it broke); a transaction when `write` (a `batch`
        insert is one statement, its own transaction in autocommit)."""
        if self._closed:
            raise StoreError("capture store is closed", self._where)
        driver = _require_driver()
        connection = self._connection
        if connection is None or connection.closed or connection.broken:
            self._drop()
            connection = self._connect()
        try:
            if write:
                with connection.transaction():
                    yield connection
            else:
                yield connection
        except driver.OperationalError as error:
            self._drop()
            raise StoreError(f"PostgreSQL capture store unavailable: {_reason(error)}",
                             self._where) from None
        except driver.Error as error:
            if connection.broken:
                self._drop()
            raise StoreError(f"capture store error: {_reason(error)}", self._where) from None

    def insert(self, capture: Capture | CapturedRequest) -> int:
        """Store one capture, committed; its new id."""
        return self.insert_many([capture])[0]

    def insert_many(self, captures: Iterable[Capture | CapturedRequest]) -> list[int]:
        """Store captures in ONE transaction (group commit); ids increase in commit order."""
        now = datetime.now(UTC)
        batch = [as_capture(capture) for capture in captures]
        if not batch:
            return []
        # One statement, one round trip, its own transaction (see _insert_batch); the
        # parameters are built before it is sent, so nothing waits on the client's CPU
        # while the commit lock is held.
        try:
            with self._session(batch=True) as connection:
                ids = run_batch(connection, batch, now)
        except StoreError:
            landed = self._landed(batch, now)
            if landed is not None:
                return landed  # the commit landed and only its answer was lost
            raise
        self._floor = max(self._floor or 0, ids[-1])
        return ids

    def _landed(self, batch: list[Capture], now: datetime) -> list[int] | None:
        """The ids of a batch whose statement failed but which is stored after all (the
        connection broke after the server committed), or None (not stored, or the store
        cannot be asked: answered 503 as before).

        The batch's ids are unknown then; its rows are found as a run of consecutive ids
        above `_floor` (an id at or above every capture committed before the batch was sent)
        holding exactly its captures: the same arrival time to the microsecond, client
        address and port, method, path, query, headers and body bytes, in order. Rows
        equal in all of that can only be another copy of the same delivery stored by
        someone else in that window, which an arrival time and a client port rule out."""
        floor = self._floor
        if floor is None:
            return None
        try:
            with self._session() as connection:
                rows = connection.execute(_LANDED, (floor, [
                    received(capture, now) for capture in batch])).fetchall()
        except StoreError:
            return None
        return match([_capture(row) for row in rows], batch, now)

    async def insert_many_async(self, captures: Sequence[Capture]) -> list[int]:
        """`insert_many` for an event loop: the same statement on this store's own
        AsyncConnection (made on first use, on the calling loop), so the receiver's loop
        commits its batches itself and no thread waits for the GIL to send them. It is sent
        on the libpq connection directly, prepared per row count (see pg_wire.py)."""
        driver = _require_driver()
        now = datetime.now(UTC)
        batch = list(captures)
        if not batch:
            return []
        try:
            connection = self._async
            if connection is None or connection.closed or connection.broken:
                self._async = None
                connection = await driver.AsyncConnection.connect(
                    self.url, autocommit=True, **_connect_options(self.url))
                self._async, self._prepared = connection, set()
            ids = await send_batch(connection, batch, now, self._prepared)
        except driver.Error as error:
            ids_found = await self._landed_async(batch, now)
            if ids_found is not None:
                return ids_found  # the commit landed and only its answer was lost
            kind = ("unavailable" if isinstance(error, driver.OperationalError)
                    else "error")
            text = ("PostgreSQL capture store unavailable" if kind == "unavailable"
                    else "capture store error")
            raise StoreError(f"{text}: {_reason(error)}", self._where) from None
        except BaseException:  # cancelled mid-batch: the connection's state is unknown
            connection, self._async = self._async, None
            if connection is not None:
                connection.pgconn.finish()
            raise
        self._floor = max(self._floor or 0, ids[-1])
        return ids

    async def _landed_async(self, batch: list[Capture], now: datetime) -> list[int] | None:
        """`_landed` on a new AsyncConnection (the broken one is dropped)."""
        driver = _require_driver()
        broken, self._async = self._async, None
        if broken is not None:
            try:
                await broken.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
        floor = self._floor
        if floor is None:
            return None
        try:
            async with await driver.AsyncConnection.connect(
                    self.url, autocommit=True, **_connect_options(self.url)) as connection:
                cursor = await connection.execute(_LANDED, (floor, [
                    received(capture, now) for capture in batch]))
                rows = await cursor.fetchall()
        except driver.Error:
            return None
        return match([_capture(row) for row in rows], batch, now)

    async def close_async(self) -> None:
        """Close the AsyncConnection `insert_many_async` made (on its loop)."""
        connection, self._async = self._async, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # noqa: BLE001 - closing anyway
                pass

    def _update(self, capture_id: int, sql: str, values: tuple[Any, ...]) -> None:
        with self._session(write=True) as connection:
            if connection.execute(sql, (*values, capture_id)).rowcount == 0:
                raise StoreError(f"no capture #{capture_id}", self._where)

    def set_response(self, capture_id: int, status: int | None, body: bytes | None) -> None:
        """Record the answer sent for a capture."""
        self._update(capture_id, "UPDATE whdebug_captures SET response_status = %s, "
                     "response_body = %s WHERE id = %s", (status, body))

    def set_forward(
        self, capture_id: int, status: int | None, body: bytes | None, error: str | None,
        headers: Iterable[tuple[str, str]] | None = None, latency: float | None = None,
    ) -> None:
        """Record what the --forward-to target answered (or why forwarding failed): status,
        body, headers and the seconds it took."""
        names, values = header_arrays(headers)
        self._update(capture_id, "UPDATE whdebug_captures SET forward_status = %s, "
                     "forward_body = %s, forward_error = %s, forward_header_names = %s, "
                     "forward_header_values = %s, forward_latency = %s WHERE id = %s",
                     (status, body, error, names, values, latency))

    def get(self, capture_id: int) -> Capture:
        """The whole capture, body bytes exactly as stored."""
        with self._session() as connection:
            row = connection.execute(_GET_ONE, (capture_id,)).fetchone()
        if row is None:
            raise StoreError(f"no capture #{capture_id}", self._where)
        return _capture(row)

    def captures_between(self, first: int, last: int) -> list[Capture]:
        """The whole captures with ids first..last, oldest first, in one query."""
        with self._session() as connection:
            rows = connection.execute(_GET_RANGE, (first, last)).fetchall()
        return [_capture(row) for row in rows]

    def forward_error(self, capture_id: int) -> str | None:
        """Why forwarding this capture failed, if it did."""
        with self._session() as connection:
            row = connection.execute("SELECT forward_error FROM whdebug_captures WHERE id = %s",
                                     (capture_id,)).fetchone()
        if row is None:
            raise StoreError(f"no capture #{capture_id}", self._where)
        return row[0] if isinstance(row[0], str) else None

    def page(self, *, before_id: int | None = None, limit: int = 100) -> list[CaptureSummary]:
        """Up to `limit` summaries, newest first, with ids below `before_id`."""
        with self._session() as connection:
            rows = connection.execute(
                f"SELECT {_SUMMARY} FROM whdebug_captures WHERE id < %s ORDER BY id DESC "
                "LIMIT %s", (_NEWEST if before_id is None else before_id, max(limit, 0)),
            ).fetchall()
        return [_summary(row) for row in rows]

    def summaries(self, capture_ids: Sequence[int]) -> list[CaptureSummary]:
        """The summaries of these captures, in the order given (missing ones left out)."""
        with self._session() as connection:
            rows = connection.execute(f"SELECT {_SUMMARY} FROM whdebug_captures "
                                      "WHERE id = ANY(%s)", (list(capture_ids),)).fetchall()
        found = {int(row[0]): _summary(row) for row in rows}
        return [found[i] for i in capture_ids if i in found]

    def since(self, after_id: int | None, *, limit: int | None = None) -> list[CaptureSummary]:
        """Summaries with ids above `after_id`, oldest first (for live views)."""
        with self._session() as connection:
            rows = connection.execute(
                f"SELECT {_SUMMARY} FROM whdebug_captures WHERE id > %s ORDER BY id ASC "
                "LIMIT %s", (after_id or 0, None if limit is None else max(limit, 0)),
            ).fetchall()
        return [_summary(row) for row in rows]

    def latest_id(self) -> int | None:
        with self._session() as connection:
            row = connection.execute("SELECT max(id) FROM whdebug_captures").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def count(self) -> int:
        with self._session() as connection:
            row = connection.execute("SELECT count(*) FROM whdebug_captures").fetchone()
        return int(row[0])

    def ids(self, last: int | None = None) -> list[int]:
        """Every capture id (or the newest `last`), oldest first."""
        with self._session() as connection:
            if last is None:
                rows = connection.execute("SELECT id FROM whdebug_captures ORDER BY id").fetchall()
            else:
                rows = connection.execute(
                    "SELECT id FROM (SELECT id FROM whdebug_captures ORDER BY id DESC LIMIT %s) "
                    "AS newest ORDER BY id", (max(last, 0),)).fetchall()
        return [int(row[0]) for row in rows]

    def delete(self, capture_id: int) -> None:
        """Remove a capture and its body; ids are never reused."""
        with self._session(write=True) as connection:
            lock_for_deletion(connection)
            analyses.forget_capture(connection, capture_id, POSTGRES)
            # no foreign key deletes the body (schema version 5): this transaction does
            connection.execute("DELETE FROM whdebug_bodies WHERE capture_id = %s", (capture_id,))
            if connection.execute("DELETE FROM whdebug_captures WHERE id = %s",
                                  (capture_id,)).rowcount == 0:
                raise StoreError(f"no capture #{capture_id}", self._where)

    def prune(self, older_than: timedelta, *, keep_last: int = 0) -> int:
        """Delete captures received more than `older_than` ago, except the newest
        `keep_last`; how many were deleted."""
        cutoff = datetime.now(UTC) - older_than
        with self._session(write=True) as connection:
            lock_for_deletion(connection)
            row = connection.execute(_PRUNE, (cutoff, max(keep_last, 0))).fetchone()
            deleted = int(row[0]) if row is not None else 0
            if deleted:  # later verdicts saw the pruned captures in their dedupe history
                analyses.forget_all(connection, POSTGRES)
            return deleted

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` (on a thread) after every batch any receiver commits; a function
        that stops watching. A lost connection is retried every second."""
        stop = threading.Event()
        thread = threading.Thread(target=_listen, args=(self.url, callback, stop),
                                  name="whdebug-store-listen", daemon=True)
        thread.start()

        def stop_watching() -> None:
            stop.set()

        return stop_watching


def _listen(url: str, callback: Callable[[], None], stop: threading.Event) -> None:
    driver = _require_driver()
    while not stop.is_set():
        try:
            with driver.connect(url, autocommit=True, **_connect_options(url)) as connection:
                connection.execute(f"LISTEN {CHANNEL}")
                callback()  # whatever arrived while we were not listening
                while not stop.is_set():
                    if any(True for _ in connection.notifies(timeout=0.25)):
                        callback()
        except driver.Error:
            stop.wait(1.0)


def _capture(row: Any) -> Capture:
    """A capture from a row of `_GET`, body bytes exactly as stored."""
    headers = tuple((bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
                    for name, value in zip(row[10], row[11], strict=True))
    request = CapturedRequest(
        method=row[2], path=_text(row[3]) or "", query=_text(row[4]) or "",
        headers=headers, body=bytes(row[14]) if row[14] is not None else b"",
        http_version=row[5], body_size=int(row[6]), truncated=bool(row[7]),
    )
    source = Source(int(row[20]), None, row[0].astimezone(UTC), row[1],
                    edited_from=None if row[19] is None else int(row[19]))
    reply = None if row[8] is None and row[12] is None else Reply(row[8], _optional(row[12]))
    forward = None
    if row[9] is not None or row[13] is not None or row[15] is not None:
        forward = ForwardResult(row[9], _optional(row[13]), _header_pairs(row[16], row[17]),
                                row[18], row[15])
    return Capture(request, source, reply, forward)
