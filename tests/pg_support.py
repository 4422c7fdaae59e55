"""PostgreSQL for the tests, a plugin loaded by tests/conftest.py: one throwaway cluster per
session (initdb + pg_ctl in a temp dir, Unix socket only), a fresh database per test.

As root the server runs as the `postgres` user (initdb refuses root). Without server binaries
the tests skip with how to get them; with CI=true that skip is a failure instead.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SKIP_REASON = ("no PostgreSQL server binaries (initdb, pg_ctl): install them with "
               "`apt-get install -y postgresql` (Debian/Ubuntu) or `brew install postgresql`, "
               "or put their directory on PATH, and `pip install 'whdebug[postgres]'`")
_DEBIAN = Path("/usr/lib/postgresql")
"""Debian's `postgresql` package puts initdb and pg_ctl in /usr/lib/postgresql/NN/bin."""


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(_DEBIAN.glob("*/bin"), key=lambda path: (len(path.parent.name),
                                                               path.parent.name), reverse=True)
    for directory in versions:
        candidate = directory / name
        if candidate.exists():
            return str(candidate)
    return None


class Cluster:
    """One running cluster; `url(db)` for a fresh database on its socket."""

    def __init__(self, *, durable: bool = False) -> None:
        """`durable`: keep PostgreSQL's own fsync and full_page_writes (on), as a user's
        server has them; the tests turn both off, which makes every commit cheaper."""
        self.durable = durable
        initdb, self.pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if initdb is None or self.pg_ctl is None:
            raise FileNotFoundError(SKIP_REASON)
        self.root = Path(tempfile.mkdtemp(prefix="whdebug-pg-"))
        self.data = self.root / "data"
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        os.chmod(self.root, 0o755)
        self._run([initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres",
                   "--no-sync", "-E", "UTF8"])
        self.start()

    def _run(self, command: list[str]) -> None:
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def _ctl(self, action: str) -> None:
        options = (f"-c listen_addresses='' -c unix_socket_directories='{self.root}' "
                   "-c max_connections=100")
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._run([self.pg_ctl, "-D", str(self.data), "-o", options, "-l",
                   str(self.root / "log"), "-w", "-t", "60", "-m", "fast", action])

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop")

    def restart(self) -> None:
        self._ctl("restart")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.root}"

    def new_database(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def reaper(self) -> subprocess.Popen[bytes]:
        """A process that stops and removes the cluster once this one is gone, however it
        ends: a run killed with SIGTERM (a CI timeout) skips pytest's teardown. It waits for
        the end of its stdin, which closes when the test run (and what it forked) exits; no
        signal handler, which forked workers would inherit."""
        stop = [self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"]
        if self.user is not None:
            stop = ["runuser", "-u", self.user, "--", *stop]
        script = ("import shutil, subprocess, sys\n"
                  "sys.stdin.buffer.read()\n"
                  "subprocess.run(sys.argv[2:], capture_output=True, check=False)\n"
                  "shutil.rmtree(sys.argv[1], ignore_errors=True)\n")
        return subprocess.Popen([sys.executable, "-c", script, str(self.root), *stop],
                                stdin=subprocess.PIPE, start_new_session=True)

    def close(self) -> None:
        try:
            self._run([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


_PG_SKIP = "PostgreSQL tests need a server: "


def _skip(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"CI=true: PostgreSQL tests must not skip ({reason})")
    pytest.skip(_PG_SKIP + reason)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _skip("psycopg is not installed: pip install 'whdebug[postgres]'")
    try:
        cluster = Cluster()
    except FileNotFoundError:
        _skip(SKIP_REASON)
    reaper = cluster.reaper()
    try:
        yield cluster
    finally:
        cluster.close()
        reaper.stdin.close()  # type: ignore[union-attr]
        reaper.wait(timeout=30)


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """A fresh, empty database on the session's cluster."""
    return pg_cluster.new_database()


def store_as_before_version_6(url: str, captures: list[Any]) -> list[int]:
    """Store captures as schema versions 1 to 5 did (each body in whdebug_bodies); their ids.
    Each row's values are the receiver's own binary parameters (`pg_wire.batch_params`)."""
    from datetime import UTC, datetime

    import psycopg

    from whdebug.store import pg_batch, pg_wire

    head = pg_batch._INSERT
    columns = head[head.index("(") + 1:head.index(")")].split(", ")
    assert columns[0] == "id" and columns[-1] == "body"
    types = [pg_wire._INT8, *pg_wire._ROW_TYPES[:-1]]
    insert = (f"INSERT INTO whdebug_captures ({', '.join(columns[:-1])}) VALUES "
              f"({', '.join(f'${number}' for number in range(1, len(types) + 1))})").encode()
    ids = []
    with psycopg.connect(url, autocommit=True) as connection:
        for capture in captures:
            (capture_id,) = connection.execute("SELECT nextval('whdebug_capture_ids')").fetchone()
            *row, body = pg_wire.batch_params([capture], datetime.now(UTC),
                                              connection.info.encoding)[1:-1]
            params = [capture_id.to_bytes(8, "big", signed=True), *row]
            result = connection.pgconn.exec_params(insert, params, param_types=types,
                                                   param_formats=[1] * len(params))
            pg_wire._check([result], connection)
            connection.execute("INSERT INTO whdebug_bodies (capture_id, body) VALUES (%s, %s)",
                               (capture_id, body))
            ids.append(capture_id)
    return ids
