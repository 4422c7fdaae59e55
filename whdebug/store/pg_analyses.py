"""The analysis index on PostgreSQL: the tables of whdebug.store.analyses in the shared database.

The same meaning as the SQLite store's index (schema 2 there, migration V3 here): one *analysis
set* per keyed fingerprint, one row per capture with its event, outcome, signature verdict,
finding codes and accepted transaction id, and the codes indexed for `code:` filters. The
reads, deletions and `/` filters are the SQL of whdebug.store.analyses, spelled for PostgreSQL
by `POSTGRES` (a `Dialect`); what differs is written here: creating a set and storing rows,
which several people may do at once.

Concurrency: two fills of one set (two `whdebug list --definition` runs, two TUIs) compute
the same verdicts, since both replay the captures in arrival order. Rows are inserted with
ON CONFLICT DO NOTHING in capture id order, so the first to commit a row keeps it, the other
skips it (no duplicate, no error, no deadlock), and a row's finding codes are stored only by
the transaction that stored the row. A row references its capture and its set (ON DELETE
CASCADE): a capture pruned or a set dropped while someone fills takes its rows along, and
rows for captures that are already gone, or whose dedupe verdict names a capture that is
gone, are not stored (storing rows and deleting captures take an advisory lock, shared and
alone, so they never deadlock). Captures another receiver commits during a fill have higher
ids (commit order) and are analysed by the next fill.

The salt (the fingerprint's HMAC key) is generated once, by the migration, under the
migration advisory lock: every whdebug sharing the database computes the same fingerprints.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from whdebug.store import analyses
from whdebug.store.analyses import AnalysisRow, AnalysisSet, Dialect, FilterTerm

_NUL, _ESCAPE = "\ufdd0", "\ufdd1"
"""Two noncharacters: NUL is stored as _NUL, and _NUL or _ESCAPE as _ESCAPE before it."""


def _text(value: str) -> str:
    """A verdict's text as PostgreSQL's text can hold it (no NUL), reversibly; a filter value
    without these characters matches the stored text exactly where it matched the verdict."""
    if _NUL not in value and _ESCAPE not in value and "\x00" not in value:
        return value
    return (value.replace(_ESCAPE, _ESCAPE + _ESCAPE).replace(_NUL, _ESCAPE + _NUL)
            .replace("\x00", _NUL))


def _untext(stored: str) -> str:
    if _NUL not in stored and _ESCAPE not in stored:
        return stored
    out, chars = [], iter(stored)
    for char in chars:
        out.append(next(chars, "") if char == _ESCAPE else "\x00" if char == _NUL else char)
    return "".join(out)


POSTGRES = Dialect(
    "%s", "whdebug_captures", "whdebug_analyses", "whdebug_analysis_codes",
    "whdebug_analysis_sets", "whdebug_analysis_key",
    "CASE WHEN length(c.query) > 0 THEN convert_from(c.path, 'LATIN1') || '?' || "
    "convert_from(c.query, 'LATIN1') ELSE convert_from(c.path, 'LATIN1') END",
    'lower(({}) COLLATE "C")', "strpos({text}, {value}) > 0", _text, _untext)
"""Paths and queries are bytea (exact bytes): read as latin-1, as the SQLite store keeps them;
lower() under the C collation lower-cases ASCII only, as SQLite's does."""

_INDEX_LOCK = 0x7768_6462_0003
"""Stores of rows (put, carry) hold it shared; deleting captures (delete, prune) holds it
alone, so a fill storing rows and a prune never wait on each other's row locks (a deadlock
PostgreSQL would break by failing one of them)."""


def lock_for_deletion(connection: Any) -> None:
    """In a transaction that deletes captures: wait for the rows being stored, hold off new
    ones until the commit."""
    connection.execute("SELECT pg_advisory_xact_lock(%s)", (_INDEX_LOCK,))


def _lock_for_storing(connection: Any) -> None:
    connection.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_INDEX_LOCK,))


KEEP_SHARED_SETS = 8
"""Analysis sets kept in a shared database (several people, several definitions at once)."""


def _create_salt(connection: Any) -> None:
    connection.execute("INSERT INTO whdebug_analysis_key (id, salt) VALUES (1, %s)",
                       (os.urandom(32),))


V3: tuple[Any, ...] = (
    "CREATE TABLE whdebug_analysis_key (id integer PRIMARY KEY CHECK (id = 1), "
    "salt bytea NOT NULL)",
    _create_salt,
    """CREATE TABLE whdebug_analysis_sets (
        id bigserial PRIMARY KEY,
        fingerprint text NOT NULL UNIQUE,
        parts text NOT NULL,
        used_at timestamptz NOT NULL
    )""",
    """CREATE TABLE whdebug_analyses (
        set_id bigint NOT NULL REFERENCES whdebug_analysis_sets (id) ON DELETE CASCADE,
        capture_id bigint NOT NULL REFERENCES whdebug_captures (id) ON DELETE CASCADE,
        event text,
        outcome text NOT NULL,
        signature text NOT NULL,
        codes text NOT NULL DEFAULT '',
        if_event text,
        duplicate_of jsonb,
        transaction_id text,
        problem text,
        PRIMARY KEY (set_id, capture_id)
    )""",
    "CREATE INDEX whdebug_analyses_capture ON whdebug_analyses (capture_id)",
    "CREATE INDEX whdebug_analyses_outcome ON whdebug_analyses (set_id, outcome)",
    "CREATE INDEX whdebug_analyses_event ON whdebug_analyses (set_id, event)",
    """CREATE TABLE whdebug_analysis_codes (
        set_id bigint NOT NULL,
        code text COLLATE "C" NOT NULL,
        capture_id bigint NOT NULL,
        PRIMARY KEY (set_id, code, capture_id),
        FOREIGN KEY (set_id, capture_id) REFERENCES whdebug_analyses (set_id, capture_id)
            ON DELETE CASCADE
    )""",
    "CREATE INDEX whdebug_analysis_codes_capture ON whdebug_analysis_codes "
    "(capture_id, set_id)",
)
"""Migration V3 (whdebug.store.pg_schema): the index's tables and the salt. `code` sorts
bytewise (C collation), so `code:SIG_` is a range of the primary key, as in SQLite."""

_COLUMNS = analyses.ROW_COLUMNS
_PUT = f"""
WITH given AS (
    SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[],
                         %s::text[], %s::text[], %s::text[], %s::text[])
        AS g (capture_id, event, outcome, signature, codes, if_event, duplicate_of,
              transaction_id, problem)
), stored AS (
    INSERT INTO whdebug_analyses (set_id, {_COLUMNS})
    SELECT s.id, g.capture_id, g.event, g.outcome, g.signature, g.codes, g.if_event,
           g.duplicate_of::jsonb, g.transaction_id, g.problem
    FROM given AS g
    JOIN whdebug_captures AS c ON c.id = g.capture_id
    JOIN whdebug_analysis_sets AS s ON s.id = %s
    WHERE g.duplicate_of IS NULL OR jsonb_typeof(g.duplicate_of::jsonb) <> 'number'
        OR EXISTS (SELECT 1 FROM whdebug_captures AS d
                   WHERE d.id = (g.duplicate_of::jsonb)::bigint)
    ORDER BY g.capture_id
    ON CONFLICT DO NOTHING
    RETURNING set_id, capture_id, codes
)
INSERT INTO whdebug_analysis_codes (set_id, code, capture_id)
SELECT DISTINCT stored.set_id, k.code, stored.capture_id
FROM stored, unnest(string_to_array(stored.codes, ' ')) AS k (code)
WHERE k.code <> ''
ON CONFLICT DO NOTHING
"""
_CARRY = f"""
WITH carried AS (
    INSERT INTO whdebug_analyses (set_id, {_COLUMNS})
    SELECT %s, {_COLUMNS} FROM whdebug_analyses
    WHERE set_id = %s AND outcome = ANY(%s)
    ORDER BY capture_id
    ON CONFLICT DO NOTHING
    RETURNING set_id, capture_id
), coded AS (
    INSERT INTO whdebug_analysis_codes (set_id, code, capture_id)
    SELECT carried.set_id, k.code, k.capture_id
    FROM carried JOIN whdebug_analysis_codes AS k ON k.set_id = %s
        AND k.capture_id = carried.capture_id
    ON CONFLICT DO NOTHING
)
SELECT count(*) FROM carried
"""


def _stored(value: str | None) -> str | None:
    return None if value is None else _text(value)


def _duplicate_of(value: int | str | None) -> str | None:
    """jsonb for the row's `duplicate_of` (a capture id, or a text)."""
    if value is None:
        return None
    return json.dumps(value if isinstance(value, int) else _text(value), ensure_ascii=False)


def open_set(connection: Any, fingerprint: str, parts: Mapping[str, str]) -> AnalysisSet:
    """The set of this fingerprint, created when missing (by exactly one of several callers);
    marks it used and drops the least recently used sets beyond KEEP_SHARED_SETS."""
    encoded = json.dumps(dict(parts), sort_keys=True)
    for _ in range(3):  # a set another caller drops between the two statements: again
        row = connection.execute(
            "INSERT INTO whdebug_analysis_sets (fingerprint, parts, used_at) "
            "VALUES (%s, %s, clock_timestamp()) ON CONFLICT (fingerprint) DO NOTHING "
            "RETURNING id", (fingerprint, encoded)).fetchone()
        if row is not None:
            analyses.drop_old_sets(connection, int(row[0]), POSTGRES, KEEP_SHARED_SETS)
            return AnalysisSet(int(row[0]), fingerprint, dict(parts), created=True)
        row = connection.execute(
            "UPDATE whdebug_analysis_sets SET used_at = clock_timestamp() "
            "WHERE fingerprint = %s RETURNING id, parts", (fingerprint,)).fetchone()
        if row is not None:
            return AnalysisSet(int(row[0]), fingerprint, json.loads(row[1]))
    raise RuntimeError("analysis set vanished three times while opening it")


def carry(connection: Any, source: int, target: int, outcomes: Sequence[str]) -> int:
    """Copy the rows of `source` whose outcome is one of `outcomes` into `target` (rows the
    target already has stay); how many were copied."""
    if not outcomes:
        return 0
    _lock_for_storing(connection)
    row = connection.execute(_CARRY, (target, source, list(outcomes), source)).fetchone()
    return int(row[0]) if row is not None else 0


def put(connection: Any, set_id: int, rows: Iterable[AnalysisRow]) -> None:
    """Store rows the set does not hold yet (another fill may have stored them first).

    A row that names a duplicate's first capture which is gone is not stored: its fill began
    before someone pruned that capture (its dedupe history still holds it), and the next
    fill, whose history does not, decides the row again."""
    batch = sorted(rows, key=lambda row: row.capture_id)
    if not batch:
        return
    _lock_for_storing(connection)
    connection.execute(_PUT, (
        [r.capture_id for r in batch], [_stored(r.event) for r in batch],
        [r.outcome for r in batch], [r.signature for r in batch],
        [" ".join(r.codes) for r in batch], [_stored(r.if_event) for r in batch],
        [_duplicate_of(r.duplicate_of) for r in batch],
        [_stored(r.transaction_id) for r in batch], [_stored(r.problem) for r in batch],
        set_id))


class PostgresIndex:
    """The analysis index methods of `PostgresStore` (whdebug.store.base.IndexedStore)."""

    if TYPE_CHECKING:
        def _session(self, write: bool = False) -> AbstractContextManager[Any]: ...

    def analysis_salt(self) -> bytes:
        """The database's random key for fingerprints (so they reveal no secret)."""
        with self._session() as connection:
            return analyses.salt(connection, POSTGRES)

    def open_analysis_set(self, fingerprint: str, parts: Mapping[str, str]) -> AnalysisSet:
        """The analysis set of this fingerprint, created when missing (old sets are dropped)."""
        with self._session(write=True) as connection:
            return open_set(connection, fingerprint, parts)

    def other_analysis_sets(self, set_id: int) -> list[AnalysisSet]:
        """The other analysis sets, most recently used first."""
        with self._session() as connection:
            return analyses.other_sets(connection, set_id, POSTGRES)

    def carry_analyses(self, source: int, target: int, outcomes: Sequence[str]) -> int:
        """Copy `source`'s rows with these outcomes into `target`; how many were copied."""
        with self._session(write=True) as connection:
            return carry(connection, source, target, outcomes)

    def put_analyses(self, set_id: int, rows: Iterable[AnalysisRow]) -> None:
        """Store verdicts of the set in one transaction (rows already there are kept)."""
        with self._session(write=True) as connection:
            put(connection, set_id, rows)

    def analyses_between(self, set_id: int, first: int, last: int) -> dict[int, AnalysisRow]:
        """The set's verdicts of captures with ids first..last."""
        with self._session() as connection:
            return analyses.rows_between(connection, set_id, first, last, POSTGRES)

    def analysis_counts(self, set_id: int) -> dict[str, int]:
        """The set's verdicts by outcome status."""
        with self._session() as connection:
            return analyses.counts(connection, set_id, POSTGRES)

    def filter_analyses(self, set_id: int | None, terms: Sequence[FilterTerm], *,
                        first: int = 0, last: int = 2**63 - 1,
                        limit: int | None = None) -> list[int]:
        """Ids of captures first..last matching every term (fields: event, outcome, code,
        sig, path, method, None for any), newest first; see whdebug.store.analyses."""
        with self._session() as connection:
            return analyses.filter_ids(connection, set_id, terms, first, last, limit, POSTGRES)
