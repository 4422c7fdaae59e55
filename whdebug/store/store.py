"""The capture store: one SQLite file holding every capture exactly as received.

Durability: WAL with `synchronous=NORMAL` by default. A commit has then been written to the
WAL file by the OS before `insert`/`insert_many` returns, so a SIGKILL of the process loses no
committed row and leaves the database consistent; only an OS crash or power loss may lose the
last commits. `durability="full"` fsyncs the WAL on every commit (group commit amortises it).

Threads: a Store may be used by one thread at a time. It is opened with
`check_same_thread=False` so a worker thread may own it; open one Store per thread for
concurrent use (WAL lets readers proceed while another connection writes).

Layout: bodies live in their own table so that listing, counting and recording a response
never read or rewrite body pages.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import msgspec

from whdebug.errors import StoreError
from whdebug.model.request import Capture, CapturedRequest, ForwardResult, Reply, Source, as_capture
from whdebug.store import analyses
from whdebug.store.analyses import AnalysisRow, AnalysisSet, FilterTerm
from whdebug.store.columns import LATER_COLUMNS, RECEIPT_COLUMNS, is_receipt, receipt
from whdebug.store.columns import decode_headers as _decode_headers
from whdebug.store.columns import encode_headers as _encode_headers
from whdebug.store.columns import format_timestamp as _format_timestamp
from whdebug.store.columns import parse_timestamp as _parse_timestamp
from whdebug.store.columns import row as _row
from whdebug.store.migrations import MIGRATIONS, SCHEMA_VERSION
from whdebug.store.permissions import check_store_path

APPLICATION_ID = 0x77686462
"""`PRAGMA application_id` of a whdebug store ("whdb")."""
DEFAULT_STORE_PATH = Path(".whdebug") / "captures.db"
PAGE_SIZE = 8192
"""A new store's page size. Each group commit rewrites whole pages into the WAL: the last,
partly filled page of each table, their parent pages and the header page, whatever it
added. With 8 KiB pages a plain `serve` wrote 8.6 KB to disk per 2 KB capture, against
9.6 KB with 16 KiB pages and 10.4 KB with SQLite's default 4 KiB (more pages, more
overhead per page). An existing store keeps the page size it was created with."""
_NEWEST = 2**63 - 1
_FOREIGN = "not a whdebug capture store (an SQLite database of another program)"

Durability = Literal["normal", "full"]


def default_store_path(env: Mapping[str, str] | None = None) -> Path:
    """WHDEBUG_STORE when set, else `.whdebug/captures.db` under the current directory."""
    environ = os.environ if env is None else env
    configured = environ.get("WHDEBUG_STORE")
    return Path(configured) if configured else Path.cwd() / DEFAULT_STORE_PATH


@dataclass(frozen=True, slots=True)
class CaptureSummary:
    """What a capture list shows, read without headers or bodies."""

    id: int
    received_at: datetime
    client: str | None
    method: str
    path: str
    query: str
    body_size: int
    truncated: bool
    response_status: int | None
    content_type: str | None
    """The content-type header as the runtime sees it (repeats joined with ', ')."""
    user_agent: str | None
    """The user-agent header: usually names the webhook provider."""
    forward_status: int | None = None
    """What the app behind --forward-to answered (None: not relayed, or relaying failed)."""
    forward_latency: float | None = None
    """Seconds the app took to answer."""
    edited_from: int | None = None
    """The capture this one was edited from (the TUI's edit and re-send)."""

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


_SUMMARY_COLUMNS = (
    "id, received_at, client, method, path, query, body_size, truncated, response_status, "
    "content_type, user_agent, forward_status, forward_latency, edited_from"
)
PAGE_SQL = f"SELECT {_SUMMARY_COLUMNS} FROM captures WHERE id < ? ORDER BY id DESC LIMIT ?"
SINCE_SQL = f"SELECT {_SUMMARY_COLUMNS} FROM captures WHERE id > ? ORDER BY id ASC LIMIT ?"
_INSERT_SQL = (f"INSERT INTO captures (id, {RECEIPT_COLUMNS}, {LATER_COLUMNS}) "
               f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_INSERT_RECEIPT_SQL = (f"INSERT INTO captures (id, {RECEIPT_COLUMNS}) "
                       f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
"""A batch of captures as the receiver stores them (none forwarded or edited yet)."""
_NEXT_ID_SQL = ("SELECT max(coalesce((SELECT max(id) FROM captures), 0), "
                "coalesce((SELECT given FROM capture_ids), 0)) + 1")
"""The next capture's id: above every id in the table and every id given out before (a
deleted newest capture's id is not given again)."""
_GIVEN_SQL = ("UPDATE capture_ids SET given = max(given, coalesce((SELECT max(id) FROM "
              "captures), 0))")
"""Before a deletion: remember the highest id given out (see _NEXT_ID_SQL)."""
_CAPTURE_SQL = (
    "SELECT c.received_at, c.client, c.method, c.path, c.query, c.http_version, c.body_size, "
    "c.truncated, c.response_status, c.forward_status, c.headers, c.response_body, "
    "c.forward_body, b.body, c.forward_error, c.forward_headers, c.forward_latency, "
    "c.edited_from, c.id FROM captures AS c LEFT JOIN bodies AS b ON b.capture_id = c.id "
)
_GET_SQL = _CAPTURE_SQL + "WHERE c.id = ?"
_RANGE_SQL = _CAPTURE_SQL + "WHERE c.id BETWEEN ? AND ? ORDER BY c.id"
COUNT_SQL = ("SELECT max(given, coalesce((SELECT max(id) FROM captures), 0)) - removed "
              "FROM capture_ids")
"""How many captures there are: the ids given out (every one from 1 up, once) less those
deleted (`removed`, raised by `delete` and `prune`); no scan, no index to keep up."""
_ID_SPAN_SQL = (f"SELECT (SELECT min(id) FROM captures), (SELECT max(id) FROM captures), "
                f"({COUNT_SQL})")  # each one optimised by SQLite alone
_REMOVED_SQL = "UPDATE capture_ids SET removed = removed + ?"


def _capture(row: Sequence[Any]) -> Capture:
    """A capture from a `_CAPTURE_SQL` row."""
    request = CapturedRequest(row[2], row[3], row[4], _decode_headers(row[10]),
                              b"" if row[13] is None else row[13], row[5], row[6], bool(row[7]))
    source = Source(row[18], None, _parse_timestamp(row[0]), row[1], edited_from=row[17])
    reply = None if row[8] is None and row[11] is None else Reply(row[8], row[11])
    forward = None
    if row[9] is not None or row[12] is not None or row[14] is not None:
        headers = None if row[15] is None else _decode_headers(row[15])
        forward = ForwardResult(row[9], row[12], headers, row[16], row[14])
    return Capture(request, source, reply, forward)



def _summary(row: tuple[Any, ...]) -> CaptureSummary:
    return CaptureSummary(
        id=row[0],
        received_at=_parse_timestamp(row[1]),
        client=row[2],
        method=row[3],
        path=row[4],
        query=row[5],
        body_size=row[6],
        truncated=bool(row[7]),
        response_status=row[8],
        content_type=row[9],
        user_agent=row[10],
        forward_status=row[11],
        forward_latency=row[12],
        edited_from=row[13],
    )


def _store_error(error: sqlite3.Error, where: str) -> StoreError:
    """One line a user can act on, for any SQLite failure."""
    text = str(error)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return StoreError("capture store is locked by another process (timed out waiting)", where)
    if "not a database" in lowered:
        return StoreError("not a whdebug capture store (not an SQLite database)", where)
    if "malformed" in lowered or "corrupt" in lowered:
        return StoreError(f"capture store is corrupt ({text})", where)
    if "disk is full" in lowered:
        return StoreError("capture store cannot grow: disk is full", where)
    if "readonly" in lowered or "read-only" in lowered:
        return StoreError("capture store is read-only", where)
    if "unable to open" in lowered:
        return StoreError("cannot open capture store", where)
    return StoreError(f"capture store error: {text}", where)


def _create_file(path: Path) -> None:
    """Create missing parent directories 0700 and the database file 0600."""
    missing = [parent for parent in reversed(path.parents) if not parent.exists()]
    try:
        for directory in missing:
            directory.mkdir(mode=0o700, exist_ok=True)
            os.chmod(directory, 0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as error:
        raise StoreError(f"cannot create capture store: {error.strerror}", str(path)) from None
    os.close(descriptor)
    os.chmod(path, 0o600)


class Store:
    """A capture store; see the module docstring for durability and thread rules."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._connection: sqlite3.Connection | None = connection
        self.path = path

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        create: bool = True,
        timeout: float = 5.0,
        durability: Durability = "normal",
    ) -> Store:
        """Open (and with `create`, create) a store, migrating its schema forward."""
        path = Path(path)
        where = str(path)
        check_store_path(path)
        if path.is_dir():
            raise StoreError("capture store path is a directory", where)
        if not path.exists():
            if not create:
                raise StoreError("capture store not found", where)
            _create_file(path)
        uri = f"file:{quote(str(path.absolute()))}?mode=rw"
        try:
            connection = sqlite3.connect(
                uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise _store_error(error, where) from None
        try:
            _prepare(connection, where, durability)
        except sqlite3.Error as error:
            connection.close()
            raise _store_error(error, where) from None
        except BaseException:
            connection.close()
            raise
        return cls(connection, path)

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        if self._connection is None:
            raise StoreError("capture store is closed", str(self.path))
        try:
            yield self._connection
        except sqlite3.Error as error:
            raise _store_error(error, str(self.path)) from None

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed on exit, rolled back on any error."""
        with self._reading() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def insert(self, capture: Capture | CapturedRequest) -> int:
        """Store one capture, committed; its new id (the source's capture_id is ignored)."""
        return self.insert_many([capture])[0]

    def insert_many(self, captures: Iterable[Capture | CapturedRequest]) -> list[int]:
        """Store captures in ONE transaction (group commit); their new ids, increasing.

        A capture with no `received_at` is stamped now. Rows go in with two executemany
        calls: inside one IMMEDIATE transaction no other writer can interleave, so the ids
        after the highest one given out so far (`_NEXT_ID_SQL`) are free.
        """
        now = datetime.now(UTC)
        batch = [as_capture(capture) for capture in captures]
        if not batch:
            return []
        if all(is_receipt(capture) for capture in batch):
            sql, rows = _INSERT_RECEIPT_SQL, [receipt(capture, now) for capture in batch]
        else:
            sql, rows = _INSERT_SQL, [_row(capture, now) for capture in batch]
        with self._writing() as connection:
            (first,) = connection.execute(_NEXT_ID_SQL).fetchone()
            ids = list(range(first, first + len(batch)))
            connection.executemany(sql, [(capture_id, *row) for capture_id, row
                                         in zip(ids, rows, strict=True)])
            connection.executemany(
                "INSERT INTO bodies (capture_id, body) VALUES (?, ?)",
                [(capture_id, capture.request.body)
                 for capture_id, capture in zip(ids, batch, strict=True)],
            )
        return ids

    def _update(self, capture_id: int, sql: str, values: tuple[Any, ...]) -> None:
        with self._writing() as connection:
            if connection.execute(sql, (*values, capture_id)).rowcount == 0:
                raise StoreError(f"no capture #{capture_id}", str(self.path))

    def set_response(self, capture_id: int, status: int | None, body: bytes | None) -> None:
        """Record the answer sent for a capture (None: no answer reached the client)."""
        sql = "UPDATE captures SET response_status = ?, response_body = ? WHERE id = ?"
        self._update(capture_id, sql, (status, body))

    def set_forward(
        self, capture_id: int, status: int | None, body: bytes | None, error: str | None,
        headers: Iterable[tuple[str, str]] | None = None, latency: float | None = None,
    ) -> None:
        """Record what the --forward-to target answered (or why forwarding failed): status,
        body, headers and the seconds it took."""
        sql = (
            "UPDATE captures SET forward_status = ?, forward_body = ?, forward_error = ?, "
            "forward_headers = ?, forward_latency = ? WHERE id = ?"
        )
        encoded = None if headers is None else _encode_headers(headers)
        self._update(capture_id, sql, (status, body, error, encoded, latency))

    def get(self, capture_id: int) -> Capture:
        """The whole capture, body bytes exactly as stored."""
        with self._reading() as connection:
            row = connection.execute(_GET_SQL, (capture_id,)).fetchone()
        if row is None:
            raise StoreError(f"no capture #{capture_id}", str(self.path))
        return _capture(row)

    def captures_between(self, first: int, last: int) -> list[Capture]:
        """The whole captures with ids first..last, oldest first, in one query."""
        with self._reading() as connection:
            rows = connection.execute(_RANGE_SQL, (first, last)).fetchall()
        return [_capture(row) for row in rows]

    def forward_error(self, capture_id: int) -> str | None:
        """Why forwarding this capture failed, if it did (also `get(...).forward.error`)."""
        with self._reading() as connection:
            row = connection.execute(
                "SELECT forward_error FROM captures WHERE id = ?", (capture_id,)
            ).fetchone()
        if row is None:
            raise StoreError(f"no capture #{capture_id}", str(self.path))
        return row[0] if isinstance(row[0], str) else None

    def page(self, *, before_id: int | None = None, limit: int = 100) -> list[CaptureSummary]:
        """Up to `limit` summaries, newest first, with ids below `before_id` (O(limit))."""
        with self._reading() as connection:
            rows = connection.execute(
                PAGE_SQL, (_NEWEST if before_id is None else before_id, max(limit, 0))
            ).fetchall()
        return [_summary(row) for row in rows]

    def summaries(self, capture_ids: Sequence[int]) -> list[CaptureSummary]:
        """The summaries of these captures, in the order given (missing ones left out)."""
        found: dict[int, CaptureSummary] = {}
        with self._reading() as connection:
            for start in range(0, len(capture_ids), 500):
                chunk = list(capture_ids[start:start + 500])
                marks = ", ".join("?" for _ in chunk)
                for row in connection.execute(
                        f"SELECT {_SUMMARY_COLUMNS} FROM captures WHERE id IN ({marks})", chunk):
                    found[row[0]] = _summary(row)
        return [found[i] for i in capture_ids if i in found]

    def since(self, after_id: int | None, *, limit: int | None = None) -> list[CaptureSummary]:
        """Summaries with ids above `after_id`, oldest first (for live views)."""
        with self._reading() as connection:
            rows = connection.execute(
                SINCE_SQL, (after_id or 0, -1 if limit is None else max(limit, 0))
            ).fetchall()
        return [_summary(row) for row in rows]

    def latest_id(self) -> int | None:
        with self._reading() as connection:
            row = connection.execute("SELECT max(id) FROM captures").fetchone()
        return row[0] if row is not None and isinstance(row[0], int) else None

    def count(self) -> int:
        with self._reading() as connection:
            row = connection.execute(COUNT_SQL).fetchone()
        return int(row[0])

    def ids(self, last: int | None = None) -> list[int]:
        """Every capture id (or the newest `last`), oldest first."""
        with self._reading() as connection:
            if last is None:
                low, high, count = connection.execute(_ID_SPAN_SQL).fetchone()
                if count and high - low + 1 == count:  # unique ids: every one in between
                    return list(range(low, high + 1))
                # Gaps (deletions): one string, decoded in C.
                (text,) = connection.execute("SELECT group_concat(id) FROM captures").fetchone()
                return sorted(msgspec.json.decode(f"[{text or ''}]"))
            rows = connection.execute(
                "SELECT id FROM captures ORDER BY id DESC LIMIT ?", (max(last, 0),)).fetchall()
        return [int(row[0]) for row in reversed(rows)]

    def delete(self, capture_id: int) -> None:
        """Remove a capture and its body; ids are never reused."""
        with self._writing() as connection:
            connection.execute(_GIVEN_SQL)
            connection.execute("DELETE FROM bodies WHERE capture_id = ?", (capture_id,))
            analyses.forget_capture(connection, capture_id)
            if connection.execute("DELETE FROM captures WHERE id = ?", (capture_id,)).rowcount == 0:
                raise StoreError(f"no capture #{capture_id}", str(self.path))
            connection.execute(_REMOVED_SQL, (1,))

    def prune(self, older_than: timedelta, *, keep_last: int = 0) -> int:
        """Delete captures received more than `older_than` ago, except the newest
        `keep_last`; how many were deleted (one transaction)."""
        cutoff = _format_timestamp(datetime.now(UTC) - older_than)
        keep = "SELECT id FROM captures ORDER BY id DESC LIMIT ?"
        with self._writing() as connection:
            connection.execute(_GIVEN_SQL)
            connection.execute(
                f"DELETE FROM bodies WHERE capture_id IN (SELECT id FROM captures "
                f"WHERE received_at < ? AND id NOT IN ({keep}))", (cutoff, max(keep_last, 0)))
            deleted = int(connection.execute(
                f"DELETE FROM captures WHERE received_at < ? AND id NOT IN ({keep})",
                (cutoff, max(keep_last, 0))).rowcount)
            if deleted:  # later verdicts saw the pruned captures in their dedupe history
                connection.execute(_REMOVED_SQL, (deleted,))
                analyses.forget_all(connection)
            return deleted

    # -- the analysis index (whdebug.store.analyses, whdebug.store.index) ----------------------

    def analysis_salt(self) -> bytes:
        """The store's random key for fingerprints (so they reveal no secret)."""
        with self._reading() as connection:
            return analyses.salt(connection)

    def open_analysis_set(self, fingerprint: str, parts: Mapping[str, str]) -> AnalysisSet:
        """The analysis set of this fingerprint, created when missing (old sets are dropped)."""
        with self._writing() as connection:
            return analyses.open_set(connection, fingerprint, parts)

    def other_analysis_sets(self, set_id: int) -> list[AnalysisSet]:
        """The other analysis sets, most recently used first."""
        with self._reading() as connection:
            return analyses.other_sets(connection, set_id)

    def carry_analyses(self, source: int, target: int, outcomes: Sequence[str]) -> int:
        """Copy `source`'s rows with these outcomes into `target`; how many were copied."""
        with self._writing() as connection:
            return analyses.carry(connection, source, target, outcomes)

    def put_analyses(self, set_id: int, rows: Iterable[AnalysisRow]) -> None:
        """Store (or replace) verdicts of the set, in one transaction."""
        with self._writing() as connection:
            analyses.put(connection, set_id, rows)

    def analyses_between(self, set_id: int, first: int, last: int) -> dict[int, AnalysisRow]:
        """The set's verdicts of captures with ids first..last."""
        with self._reading() as connection:
            return analyses.rows_between(connection, set_id, first, last)

    def analysis_counts(self, set_id: int) -> dict[str, int]:
        """The set's verdicts by outcome status."""
        with self._reading() as connection:
            return analyses.counts(connection, set_id)

    def filter_analyses(self, set_id: int | None, terms: Sequence[FilterTerm], *,
                        first: int = 0, last: int = _NEWEST,
                        limit: int | None = None) -> list[int]:
        """Ids of captures first..last matching every term (fields: event, outcome, code,
        sig, path, method, None for any), newest first; see whdebug.store.analyses."""
        with self._reading() as connection:
            return analyses.filter_ids(connection, set_id, terms, first, last, limit)


def _pragma(connection: sqlite3.Connection, name: str) -> Any:
    row = connection.execute(f"PRAGMA {name}").fetchone()
    return None if row is None else row[0]


def _check_ownership(connection: sqlite3.Connection, where: str) -> int:
    """The store's schema version; StoreError when the file is not (or too new for) us."""
    version = int(_pragma(connection, "user_version"))
    if version == 0:
        if connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise StoreError(_FOREIGN, where)
        connection.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # empty file: see PAGE_SIZE
        return version
    if int(_pragma(connection, "application_id")) != APPLICATION_ID:
        raise StoreError(_FOREIGN, where)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"capture store has schema version {version}, newer than this whdebug "
            f"understands ({SCHEMA_VERSION}); upgrade whdebug",
            where,
        )
    return version


def _prepare(connection: sqlite3.Connection, where: str, durability: Durability) -> None:
    """Check the file is ours, switch to WAL, and migrate the schema forward."""
    version = _check_ownership(connection, where)
    _pragma(connection, "journal_mode = WAL")
    connection.execute(f"PRAGMA synchronous = {'FULL' if durability == 'full' else 'NORMAL'}")
    if version == SCHEMA_VERSION:
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have created or migrated the store while we waited for the lock.
        version = _check_ownership(connection, where)
        for migrate in MIGRATIONS[version:]:
            migrate(connection)
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
