"""The PostgreSQL store's schema and its versioned migrations (see postgres.py).

Every table is prefixed `whdebug_` so the store can share a database with other programs.
`whdebug_migrations` holds one row per applied version; migrations run on first use, in
one transaction under an advisory lock, so receivers starting at once migrate only once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from whdebug.errors import StoreError
from whdebug.store.pg_analyses import V3

_MIGRATION_LOCK = 0x7768_6462_0001

_V1 = (
    "CREATE SEQUENCE whdebug_capture_ids",
    """CREATE TABLE whdebug_captures (
        id bigint PRIMARY KEY,
        received_at timestamptz NOT NULL,
        client text,
        method text NOT NULL,
        path bytea NOT NULL,
        query bytea NOT NULL,
        http_version text NOT NULL,
        body_size bigint NOT NULL,
        truncated boolean NOT NULL,
        response_status integer,
        content_type bytea,
        user_agent bytea,
        forward_status integer,
        forward_error text,
        header_names bytea[] NOT NULL,
        header_values bytea[] NOT NULL,
        response_body bytea,
        forward_body bytea
    )""",
    "CREATE INDEX whdebug_captures_received_at ON whdebug_captures (received_at)",
    """CREATE TABLE whdebug_bodies (
        capture_id bigint PRIMARY KEY REFERENCES whdebug_captures (id) ON DELETE CASCADE,
        body bytea NOT NULL
    )""",
)
_V2 = (
    # the app's answer headers and latency (`serve --forward-to`), and the capture an edited
    # request was made from (the TUI's edit and re-send)
    "ALTER TABLE whdebug_captures ADD COLUMN forward_header_names bytea[]",
    "ALTER TABLE whdebug_captures ADD COLUMN forward_header_values bytea[]",
    "ALTER TABLE whdebug_captures ADD COLUMN forward_latency double precision",
    "ALTER TABLE whdebug_captures ADD COLUMN edited_from bigint",
)


def _lz4(table: str) -> Callable[[Any], None]:
    """A step that compresses `table`'s body column with lz4 (see `_compress_bodies_with_lz4`)."""

    def compress(connection: Any) -> None:
        try:
            with connection.transaction():  # a savepoint: the rest of the migration goes on
                connection.execute(f"ALTER TABLE {table} ALTER COLUMN body SET COMPRESSION lz4")
        except Exception:  # noqa: BLE001 - no lz4 in this server: pglz, as before
            pass

    return compress


_compress_bodies_with_lz4 = _lz4("whdebug_bodies")
"""Bodies over about 2 KB are compressed by PostgreSQL (TOAST) as they are stored; its
default, pglz, cost the server about 20 us per 2 KB body, lz4 about 5 us, and lz4's result
was smaller (measured on PostgreSQL 15). Compression is invisible to readers: bodies stay
byte-exact `bytea`, and rows stored before keep pglz and read back the same. A server built
without lz4 (or older than 14) keeps pglz: the migration is then a no-op."""


_V4 = (_compress_bodies_with_lz4,)


def _drop_body_foreign_key(connection: Any) -> None:
    """A body row no longer references its capture with a foreign key: the check cost the
    server a trigger and a lookup of the capture per stored body (about 10 us of its CPU per
    row in batches of 4 to 8, measured on PostgreSQL 15). What the key guaranteed, the store
    keeps itself: a body is only ever stored by the statement that stores its capture (one
    transaction), and the deletes that remove captures (`delete`, `prune`) remove their
    bodies in the same transaction (see postgres.py)."""
    from psycopg import sql

    names = connection.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'whdebug_bodies'::regclass "
        "AND contype = 'f'").fetchall()
    for (name,) in names:
        connection.execute(sql.SQL("ALTER TABLE whdebug_bodies DROP CONSTRAINT {}").format(
            sql.Identifier(name)))


_V5 = (_drop_body_foreign_key,)
_V6 = (
    # A capture's body moves into its own row: one heap row and one index entry fewer per
    # capture, and no second insert in the batch's statement. Adding a nullable column
    # rewrites nothing: bodies stored before stay in whdebug_bodies, read with a join, and
    # deleted with their captures as before (see postgres.py).
    "ALTER TABLE whdebug_captures ADD COLUMN body bytea",
    _lz4("whdebug_captures"),
)
MIGRATIONS: list[tuple[str | Callable[[Any], None], ...]] = [_V1, _V2, V3, _V4, _V5, _V6]
"""MIGRATIONS[n] upgrades schema version n to n + 1 (recorded in whdebug_migrations): SQL
statements, or a step that takes the connection (V3 generates the index's salt)."""
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(connection: Any, where: str) -> None:
    """Apply missing migrations in one transaction under an advisory lock, so receivers
    starting together migrate once and never see a half-made schema."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        connection.execute("CREATE TABLE IF NOT EXISTS whdebug_migrations ("
                           "version integer PRIMARY KEY, applied_at timestamptz NOT NULL "
                           "DEFAULT now())")
        row = connection.execute("SELECT max(version) FROM whdebug_migrations").fetchone()
        version = int(row[0]) if row is not None and row[0] is not None else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"capture store has schema version {version}, newer than this whdebug "
                f"understands ({SCHEMA_VERSION}); upgrade whdebug", where)
        for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in statements:
                if callable(statement):
                    statement(connection)
                else:
                    connection.execute(statement)
            connection.execute("INSERT INTO whdebug_migrations (version) VALUES (%s)", (number,))
