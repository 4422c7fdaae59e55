"""The analysis index's tables: verdicts kept per capture and per definition fingerprint.

An *analysis set* is one fingerprint of what decides a capture's analysis (the definition's
steps, the credentials, the options, the engine; see whdebug.store.index). Its rows hold what
the capture list shows and filters on: event, outcome, signature verdict and finding codes,
plus the accepted transaction id that the dedupe rule needs to resume a fill in arrival
order. `analysis_codes` indexes the codes, so `code:SIG_` is an index range, not a scan.

Everything here takes an open connection inside the caller's transaction; `Store` wraps it
(the one place with SQL, so another store can implement the same methods).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

KEEP_SETS = 3
"""Analysis sets kept per store (the most recently used); older ones are dropped."""


@dataclass(frozen=True, slots=True)
class AnalysisRow:
    """One capture's verdict under one analysis set."""

    capture_id: int
    event: str | None
    outcome: str
    """The outcome status (fires, no-trigger, rejected, ...), or `none` when unanalysable."""
    signature: str
    codes: tuple[str, ...] = ()
    if_event: str | None = None
    """A rejected capture's event once verified (`outcome.if_verified.event`)."""
    duplicate_of: int | str | None = None
    transaction_id: str | None = None
    """The transaction id the runtime records for it (None: it would not accept it)."""
    problem: str | None = None
    """Why there is no analysis (outcome `none`)."""


@dataclass(frozen=True, slots=True)
class AnalysisSet:
    id: int
    fingerprint: str
    parts: dict[str, str]
    """Keyed hash of each part of the fingerprint (never a secret)."""
    created: bool = False
    """True when this call created it (it holds no rows yet)."""


FilterTerm = tuple[str | None, str, bool]
"""(field or None for any field, lower-cased value, negate): see whdebug.tui.filters."""

ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
"""Case folding for filter values and what they match: ASCII letters only, as the SQL
lower() here does (SQLite's, and PostgreSQL's under the C collation), so a filter finds the
same captures over the index as over verdicts in memory (`été` does not match `Été`)."""


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one database spells the index's SQL: its placeholder, table names and text
    functions. The reads, deletions and filters below are written once for both stores."""

    mark: str
    captures: str
    analyses: str
    codes: str
    sets: str
    key: str
    target: str
    """The capture's `path?query` (or `path`) as text, from the row `c`."""
    lower: str
    """`{}` lower-cased ASCII only (as SQLite's lower(); Python lower-cases the values)."""
    contains: str
    """`{text}` contains `{value}` (a placeholder)."""
    text: Callable[[str], str] = str
    """A verdict's free text (event, transaction id...) as stored, and a filter value as
    compared with it (PostgreSQL's text holds no NUL)."""
    untext: Callable[[str], str] = str
    """The stored text back as the verdict's."""


SQLITE = Dialect("?", "captures", "analyses", "analysis_codes", "analysis_sets", "analysis_key",
                 "CASE WHEN c.query != '' THEN c.path || '?' || c.query ELSE c.path END",
                 "lower({})", "instr({text}, {value}) > 0")


def migrate_to_2(connection: sqlite3.Connection) -> None:
    connection.execute(
        "CREATE TABLE analysis_key (id INTEGER PRIMARY KEY CHECK (id = 1), salt BLOB NOT NULL)")
    connection.execute("INSERT INTO analysis_key (id, salt) VALUES (1, ?)", (os.urandom(32),))
    connection.execute(
        """CREATE TABLE analysis_sets (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            fingerprint TEXT NOT NULL UNIQUE,
            parts TEXT NOT NULL,
            used_at TEXT NOT NULL
        )"""
    )
    connection.execute(
        """CREATE TABLE analyses (
            set_id INTEGER NOT NULL,
            capture_id INTEGER NOT NULL,
            event TEXT,
            outcome TEXT NOT NULL,
            signature TEXT NOT NULL,
            codes TEXT NOT NULL DEFAULT '',
            if_event TEXT,
            duplicate_of,
            transaction_id TEXT,
            problem TEXT,
            PRIMARY KEY (set_id, capture_id)
        ) WITHOUT ROWID"""
    )
    connection.execute("CREATE INDEX analyses_outcome ON analyses (set_id, outcome)")
    connection.execute("CREATE INDEX analyses_event ON analyses (set_id, event)")
    connection.execute(
        """CREATE TABLE analysis_codes (
            set_id INTEGER NOT NULL,
            code TEXT NOT NULL,
            capture_id INTEGER NOT NULL,
            PRIMARY KEY (set_id, code, capture_id)
        ) WITHOUT ROWID"""
    )


def salt(connection: Any, d: Dialect = SQLITE) -> bytes:
    row = connection.execute(f"SELECT salt FROM {d.key} WHERE id = 1").fetchone()
    return bytes(row[0])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def open_set(connection: sqlite3.Connection, fingerprint: str,
             parts: Mapping[str, str]) -> AnalysisSet:
    """The set of this fingerprint, created when missing; marks it used, drops old sets."""
    row = connection.execute(
        "SELECT id, parts FROM analysis_sets WHERE fingerprint = ?", (fingerprint,)).fetchone()
    if row is not None:
        connection.execute("UPDATE analysis_sets SET used_at = ? WHERE id = ?", (_now(), row[0]))
        return AnalysisSet(int(row[0]), fingerprint, json.loads(row[1]))
    cursor = connection.execute(
        "INSERT INTO analysis_sets (fingerprint, parts, used_at) VALUES (?, ?, ?)",
        (fingerprint, json.dumps(dict(parts), sort_keys=True), _now()))
    set_id = int(cursor.lastrowid or 0)
    drop_old_sets(connection, keep=set_id)
    return AnalysisSet(set_id, fingerprint, dict(parts), created=True)


def other_sets(connection: Any, set_id: int, d: Dialect = SQLITE) -> list[AnalysisSet]:
    """The other sets, most recently used first."""
    rows = connection.execute(
        f"SELECT id, fingerprint, parts FROM {d.sets} WHERE id != {d.mark} "
        "ORDER BY used_at DESC", (set_id,)).fetchall()
    return [AnalysisSet(int(r[0]), r[1], json.loads(r[2])) for r in rows]


def drop_old_sets(connection: Any, keep: int, d: Dialect = SQLITE,
                  keep_sets: int = KEEP_SETS) -> None:
    """Drop all but the `keep_sets` most recently used sets (`keep` among them)."""
    rows = connection.execute(
        f"SELECT id FROM {d.sets} WHERE id != {d.mark} ORDER BY used_at DESC",
        (keep,)).fetchall()
    for (old,) in rows[keep_sets - 1:]:
        connection.execute(f"DELETE FROM {d.codes} WHERE set_id = {d.mark}", (old,))
        connection.execute(f"DELETE FROM {d.analyses} WHERE set_id = {d.mark}", (old,))
        connection.execute(f"DELETE FROM {d.sets} WHERE id = {d.mark}", (old,))


def carry(connection: sqlite3.Connection, source: int, target: int,
          outcomes: Sequence[str]) -> int:
    """Copy the rows of `source` whose outcome is one of `outcomes` into `target`."""
    if not outcomes:
        return 0
    marks = ", ".join("?" for _ in outcomes)
    cursor = connection.execute(
        f"INSERT OR IGNORE INTO analyses SELECT ?, capture_id, event, outcome, signature, "
        f"codes, if_event, duplicate_of, transaction_id, problem FROM analyses "
        f"WHERE set_id = ? AND outcome IN ({marks})", (target, source, *outcomes))
    connection.execute(
        f"INSERT OR IGNORE INTO analysis_codes SELECT ?, k.code, k.capture_id "
        f"FROM analysis_codes AS k JOIN analyses AS a ON a.set_id = k.set_id "
        f"AND a.capture_id = k.capture_id WHERE k.set_id = ? AND a.outcome IN ({marks})",
        (target, source, *outcomes))
    return cursor.rowcount


ROW_COLUMNS = ("capture_id, event, outcome, signature, codes, if_event, duplicate_of, "
               "transaction_id, problem")


def put(connection: sqlite3.Connection, set_id: int, rows: Iterable[AnalysisRow]) -> None:
    """Store rows (replacing the set's rows of the same captures).

    A row is left out when its capture is gone, or when it names as first delivery a capture
    that is gone: its fill began before another process pruned or deleted captures (its dedupe
    history still holds them), and the next fill decides that row again. The check runs in
    this write transaction, so no prune can slip in between."""
    batch = _still_valid(connection, list(rows))
    if not batch:
        return
    # The replaced rows' codes go by their whole key: analysis_codes is keyed (set, code,
    # capture), so deleting by capture alone would scan the set's codes once per row.
    wanted = {row.capture_id for row in batch}
    replaced = connection.execute(
        "SELECT capture_id, codes FROM analyses WHERE set_id = ? AND capture_id BETWEEN ? AND ?",
        (set_id, min(wanted), max(wanted))).fetchall()
    connection.executemany(
        "DELETE FROM analysis_codes WHERE set_id = ? AND code = ? AND capture_id = ?",
        [(set_id, code, capture_id) for capture_id, codes in replaced if capture_id in wanted
         for code in codes.split()])
    connection.executemany(
        f"INSERT OR REPLACE INTO analyses (set_id, {ROW_COLUMNS}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(set_id, r.capture_id, r.event, r.outcome, r.signature, " ".join(r.codes), r.if_event,
          r.duplicate_of, r.transaction_id, r.problem) for r in batch])
    connection.executemany(
        "INSERT OR IGNORE INTO analysis_codes (set_id, code, capture_id) VALUES (?, ?, ?)",
        [(set_id, code, r.capture_id) for r in batch for code in r.codes])


def _still_valid(connection: sqlite3.Connection, batch: list[AnalysisRow]
                 ) -> list[AnalysisRow]:
    if not batch:
        return batch
    low = min(r.capture_id for r in batch)
    high = max(r.capture_id for r in batch)
    present = {row[0] for row in connection.execute(
        "SELECT id FROM captures WHERE id BETWEEN ? AND ?", (low, high))}
    earlier = sorted({r.duplicate_of for r in batch
                      if isinstance(r.duplicate_of, int) and not low <= r.duplicate_of <= high})
    for start in range(0, len(earlier), 500):
        part = earlier[start:start + 500]
        present.update(row[0] for row in connection.execute(
            f"SELECT id FROM captures WHERE id IN ({', '.join('?' * len(part))})", part))
    return [r for r in batch if r.capture_id in present
            and (not isinstance(r.duplicate_of, int) or r.duplicate_of in present)]


def _row(values: Sequence[Any]) -> AnalysisRow:
    return AnalysisRow(int(values[0]), values[1], values[2], values[3],
                       tuple(values[4].split()), values[5], values[6], values[7], values[8])


_FREE_TEXT = frozenset({1, 5, 6, 7, 8})
"""Columns of ROW_COLUMNS with a verdict's free text (Dialect.text)."""


def _untext(values: Sequence[Any], untext: Callable[[str], str]) -> list[Any]:
    return [untext(value) if number in _FREE_TEXT and isinstance(value, str) else value
            for number, value in enumerate(values)]


def rows_between(connection: Any, set_id: int, first: int, last: int,
                 d: Dialect = SQLITE) -> dict[int, AnalysisRow]:
    """The set's rows of captures first..last (ids), by capture id."""
    found = connection.execute(
        f"SELECT {ROW_COLUMNS} FROM {d.analyses} WHERE set_id = {d.mark} "
        f"AND capture_id BETWEEN {d.mark} AND {d.mark}", (set_id, first, last)).fetchall()
    if d.untext is not str:
        found = [_untext(values, d.untext) for values in found]
    return {int(values[0]): _row(values) for values in found}


def counts(connection: Any, set_id: int, d: Dialect = SQLITE) -> dict[str, int]:
    """Rows by outcome status."""
    found = connection.execute(
        f"SELECT outcome, count(*) FROM {d.analyses} WHERE set_id = {d.mark} GROUP BY outcome",
        (set_id,)).fetchall()
    return {str(outcome): int(count) for outcome, count in found}


def forget_capture(connection: Any, capture_id: int, d: Dialect = SQLITE) -> None:
    """A capture is deleted: drop its rows, and in each set the rows of later captures
    accepted with the same transaction id (their dedupe verdict may change)."""
    m = d.mark
    for set_id, transaction_id in connection.execute(
            f"SELECT set_id, transaction_id FROM {d.analyses} WHERE capture_id = {m}",
            (capture_id,)).fetchall():
        if transaction_id is None:
            continue
        connection.execute(
            f"DELETE FROM {d.codes} WHERE set_id = {m} AND capture_id IN (SELECT capture_id "
            f"FROM {d.analyses} WHERE set_id = {m} AND transaction_id = {m} "
            f"AND capture_id > {m})", (set_id, set_id, transaction_id, capture_id))
        connection.execute(
            f"DELETE FROM {d.analyses} WHERE set_id = {m} AND transaction_id = {m} "
            f"AND capture_id > {m}", (set_id, transaction_id, capture_id))
    connection.execute(f"DELETE FROM {d.codes} WHERE capture_id = {m}", (capture_id,))
    connection.execute(f"DELETE FROM {d.analyses} WHERE capture_id = {m}", (capture_id,))


def forget_all(connection: Any, d: Dialect = SQLITE) -> None:
    """Drop every verdict (captures were pruned, so every later dedupe verdict may change);
    the sets stay and refill oldest first."""
    connection.execute(f"DELETE FROM {d.codes}")
    connection.execute(f"DELETE FROM {d.analyses}")


# -- filters ----------------------------------------------------------------------------------

_ANALYSED_FIELDS = frozenset({"event", "outcome", "sig", "code"})
_ANALYSED = "a.capture_id IS NOT NULL"


def _contains(d: Dialect, expression: str, value: str, params: list[Any]) -> str:
    params.append(value)
    text = d.lower.format(f"coalesce({expression}, '')")
    return d.contains.format(text=text, value=d.mark)


def _prefix(d: Dialect, expression: str, value: str, params: list[Any]) -> str:
    params.append(value)
    return f"substr({d.lower.format(expression)}, 1, {len(value)}) = {d.mark}"


def _code(d: Dialect, value: str, set_id: int, params: list[Any]) -> str:
    if not value.isascii():  # finding codes are ASCII: nothing starts with it
        return "1 = 0"
    prefix = value.upper()
    params.extend((set_id, prefix, prefix + "\x7f"))
    return (f"a.capture_id IN (SELECT capture_id FROM {d.codes} WHERE set_id = {d.mark} "
            f"AND code >= {d.mark} AND code < {d.mark})")


def _condition(d: Dialect, term: FilterTerm, set_id: int, params: list[Any]) -> str:
    """SQL for one term, exactly as whdebug.tui.filters matches it (never NULL)."""
    field, value, _ = term
    if field == "path":
        return _contains(d, d.target, value, params)
    if field == "method":
        return _contains(d, "c.method", value, params)
    if field == "event":
        return f"({_ANALYSED} AND {_contains(d, 'a.event', d.text(value), params)})"
    if field == "outcome":
        return f"({_ANALYSED} AND {_prefix(d, 'a.outcome', value, params)})"
    if field == "sig":
        return f"({_ANALYSED} AND {_prefix(d, 'a.signature', value, params)})"
    if field == "code":
        return f"({_ANALYSED} AND {_code(d, value, set_id, params)})"
    summary = (f"{_contains(d, d.target, value, params)} OR "
               f"{_contains(d, 'c.method', value, params)}")
    analysed = (f"{_contains(d, 'a.event', d.text(value), params)} OR "
                f"{_prefix(d, 'a.outcome', value, params)} OR {_code(d, value, set_id, params)}")
    return f"({summary} OR ({_ANALYSED} AND ({analysed})))"


def filter_ids(connection: Any, set_id: int | None, terms: Sequence[FilterTerm], first: int,
               last: int, limit: int | None = None, d: Dialect = SQLITE) -> list[int]:
    """Ids of captures first..last matching every term, newest first.

    A capture without a row in the set matches only through its path and method (as an
    unanalysed capture does in the TUI). `set_id` None: no set (summary terms only)."""
    params: list[Any] = [-1 if set_id is None else set_id]
    where_params: list[Any] = [first, last]
    conditions: list[str] = []
    for term in terms:
        sql = _condition(d, term, -1 if set_id is None else set_id, where_params)
        conditions.append(f"NOT {sql}" if term[2] else sql)
    between = f"BETWEEN {d.mark} AND {d.mark}"
    if set_id is not None and any(not negate and field in _ANALYSED_FIELDS
                                  for field, _, negate in terms):
        # Only analysed captures can match: walk the set's rows newest first (its key),
        # reading captures only when a term needs the path or method.
        join = (f"JOIN {d.captures} AS c ON c.id = a.capture_id "
                if any(field not in _ANALYSED_FIELDS for field, _, _ in terms) else "")
        sql = (f"SELECT a.capture_id FROM {d.analyses} AS a {join}WHERE a.set_id = {d.mark} "
               f"AND a.capture_id {between} AND {' AND '.join(conditions)} "
               "ORDER BY a.capture_id DESC")
    else:
        where = " AND ".join([f"c.id {between}", *conditions])
        sql = (f"SELECT c.id FROM {d.captures} AS c LEFT JOIN {d.analyses} AS a "
               f"ON a.set_id = {d.mark} AND a.capture_id = c.id WHERE {where} "
               "ORDER BY c.id DESC")
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [int(row[0]) for row in connection.execute(sql, params + where_params)]
