"""The SQLite store's schema, version by version: MIGRATIONS[n] upgrades version n to n + 1
inside the opening transaction (`store._prepare`); a new store runs them all."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from whdebug.store import analyses


def _migrate_to_1(connection: sqlite3.Connection) -> None:
    connection.execute(
        """CREATE TABLE captures (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            received_at TEXT NOT NULL,
            client TEXT,
            method TEXT NOT NULL,
            path TEXT NOT NULL,
            query TEXT NOT NULL DEFAULT '',
            http_version TEXT NOT NULL DEFAULT '1.1',
            body_size INTEGER NOT NULL,
            truncated INTEGER NOT NULL DEFAULT 0,
            response_status INTEGER,
            content_type TEXT,
            user_agent TEXT,
            forward_status INTEGER,
            forward_error TEXT,
            headers BLOB NOT NULL,
            response_body BLOB,
            forward_body BLOB
        )"""
    )
    # Small rows: count(*) scans this index instead of the table.
    connection.execute("CREATE INDEX captures_received_at ON captures (received_at)")
    connection.execute(
        """CREATE TABLE bodies (
            capture_id INTEGER PRIMARY KEY REFERENCES captures (id),
            body BLOB NOT NULL
        )"""
    )


def _migrate_to_3(connection: sqlite3.Connection) -> None:
    """The app's answer headers and latency (`serve --forward-to`), and the capture an edited
    request was made from (the TUI's edit and re-send)."""
    connection.execute("ALTER TABLE captures ADD COLUMN forward_headers BLOB")
    connection.execute("ALTER TABLE captures ADD COLUMN forward_latency REAL")
    connection.execute("ALTER TABLE captures ADD COLUMN edited_from INTEGER")


CAPTURE_COLUMNS = (
    "received_at, client, method, path, query, http_version, body_size, truncated, "
    "response_status, content_type, user_agent, forward_status, forward_error, headers, "
    "response_body, forward_body, forward_headers, forward_latency, edited_from"
)


def _migrate_to_4(connection: sqlite3.Connection) -> None:
    """`captures` without AUTOINCREMENT: SQLite rewrote the `sqlite_sequence` page in every
    commit (16 KiB of WAL per group commit). Ids are still never reused: `capture_ids`
    keeps the highest id given out, which `insert_many` continues from (deletions raise it
    to the highest id they removed; see `_NEXT_ID_SQL`). The table is rebuilt, as SQLite
    cannot drop AUTOINCREMENT in place; the rows and their ids are copied as they are."""
    connection.execute(
        """CREATE TABLE captures_v4 (
            id INTEGER PRIMARY KEY,
            received_at TEXT NOT NULL,
            client TEXT,
            method TEXT NOT NULL,
            path TEXT NOT NULL,
            query TEXT NOT NULL DEFAULT '',
            http_version TEXT NOT NULL DEFAULT '1.1',
            body_size INTEGER NOT NULL,
            truncated INTEGER NOT NULL DEFAULT 0,
            response_status INTEGER,
            content_type TEXT,
            user_agent TEXT,
            forward_status INTEGER,
            forward_error TEXT,
            headers BLOB NOT NULL,
            response_body BLOB,
            forward_body BLOB,
            forward_headers BLOB,
            forward_latency REAL,
            edited_from INTEGER
        )"""
    )
    connection.execute(f"INSERT INTO captures_v4 (id, {CAPTURE_COLUMNS}) "
                       f"SELECT id, {CAPTURE_COLUMNS} FROM captures ORDER BY id")
    connection.execute("CREATE TABLE capture_ids (given INTEGER NOT NULL)")
    connection.execute(
        "INSERT INTO capture_ids (given) VALUES (max(coalesce((SELECT seq FROM sqlite_sequence "
        "WHERE name = 'captures'), 0), coalesce((SELECT max(id) FROM captures), 0)))")
    connection.execute("DROP TABLE captures")
    connection.execute("DELETE FROM sqlite_sequence WHERE name = 'captures'")
    connection.execute("ALTER TABLE captures_v4 RENAME TO captures")
    # Small rows: count(*) scans this index instead of the table.
    connection.execute("CREATE INDEX captures_received_at ON captures (received_at)")


def _migrate_to_5(connection: sqlite3.Connection) -> None:
    """No `received_at` index: every capture's insert updated it, and its page went into
    every commit's WAL, for about 9% of a plain capture's CPU in `serve`. It only made
    `count(*)` scan less; the count now comes from `capture_ids.removed`, the number of
    ids given out and deleted since (every id from 1 up was given out once, in order), so
    `count = max(given, max(id)) - removed` reads two rows (see store._COUNT_SQL)."""
    connection.execute("DROP INDEX IF EXISTS captures_received_at")
    connection.execute("ALTER TABLE capture_ids ADD COLUMN removed INTEGER NOT NULL DEFAULT 0")
    connection.execute(
        "UPDATE capture_ids SET given = max(given, coalesce((SELECT max(id) FROM captures), 0)), "
        "removed = max(given, coalesce((SELECT max(id) FROM captures), 0)) - "
        "(SELECT count(*) FROM captures)")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migrate_to_1, analyses.migrate_to_2,
                                                      _migrate_to_3, _migrate_to_4,
                                                      _migrate_to_5]
"""MIGRATIONS[n] upgrades schema version n to n + 1, inside the opening transaction."""
SCHEMA_VERSION = len(MIGRATIONS)
