"""Several receivers on one PostgreSQL store: concurrency, SIGKILL, a database restart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
from cli_support import marker_load
from pg_support import Cluster

from whdebug.store import pg_schema
from whdebug.store.postgres import PostgresStore

SERVE = """
import sys
from rich.console import Console
from whdebug.cli.output.serve import ConsoleSink
from whdebug.receiver.app import ReceiverSettings
from whdebug.receiver.server import ServerSettings, serve
serve(sys.argv[1], ReceiverSettings(), ServerSettings(port=0), ConsoleSink(Console(width=400)))
"""
CLIENTS = 12
LOAD_SECONDS = 1.0
ENOUGH = 100
"""Answers to wait for (on a busy machine, past LOAD_SECONDS) before the test acts."""


async def enough_load(answered: set[str]) -> None:
    await asyncio.sleep(LOAD_SECONDS)
    deadline = time.monotonic() + 20
    while len(answered) < ENOUGH and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def spawn_receiver(url: str) -> subprocess.Popen[bytes]:
    """`whdebug serve`'s entry point in a child process (see wait_for_port)."""
    return subprocess.Popen([sys.executable, "-c", SERVE, url], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_for_port(process: subprocess.Popen[bytes]) -> int:
    """The receiver's port, read from its banner (then its output is drained)."""
    assert process.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stdout.readline().decode()
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if match:
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return int(match.group(1))
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError("receiver did not start")


def start_receiver(url: str) -> tuple[subprocess.Popen[bytes], int]:
    process = spawn_receiver(url)
    return process, wait_for_port(process)


def stop_receiver(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


async def load(port: int, tag: str, answered: set[str], stop: asyncio.Event) -> int:
    """Unique markers from several clients until `stop` or the receiver dies; failures."""
    return await marker_load(port, "/hooks", answered, stop, clients=CLIENTS, tag=tag,
                             timeout=5)


def stored_markers(url: str) -> tuple[list[int], Counter[str]]:
    with PostgresStore.open(url) as store:
        ids = store.ids()
        markers = Counter(store.get(capture_id).request.body.split(b'"')[3].decode()
                          for capture_id in ids)
    return ids, markers


async def test_two_receivers_write_concurrently_without_loss_or_duplicates(pg_url: str) -> None:
    # Both start at once on an empty database: they race to migrate it (advisory lock).
    first, second = spawn_receiver(pg_url), spawn_receiver(pg_url)
    port_a, port_b = wait_for_port(first), wait_for_port(second)
    answered: set[str] = set()
    stop = asyncio.Event()
    try:
        tasks = [asyncio.create_task(load(port, tag, answered, stop))
                 for port, tag in ((port_a, "a"), (port_b, "b"))]
        await enough_load(answered)
        stop.set()
        failures = sum(await asyncio.gather(*tasks))
    finally:
        stop_receiver(first)
        stop_receiver(second)
    assert failures == 0
    assert {marker[0] for marker in answered} == {"a", "b"}
    ids, markers = stored_markers(pg_url)
    assert len(answered) >= ENOUGH, "too little load to mean anything"
    assert set(markers) == answered
    assert max(markers.values()) == 1, "a capture was stored twice"
    assert ids == sorted(set(ids)) and len(ids) == len(answered)
    import psycopg

    with psycopg.connect(pg_url) as connection:
        assert connection.execute("SELECT count(*) FROM whdebug_migrations").fetchone() == (
            pg_schema.SCHEMA_VERSION,)


async def test_sigkill_of_one_receiver_loses_nothing_answered(pg_url: str) -> None:
    (victim, port_a), (survivor, port_b) = start_receiver(pg_url), start_receiver(pg_url)
    answered: set[str] = set()
    stop = asyncio.Event()
    try:
        killed = asyncio.create_task(load(port_a, "a", answered, stop))
        kept = asyncio.create_task(load(port_b, "b", answered, stop))
        await enough_load(answered)
        os.kill(victim.pid, signal.SIGKILL)  # clients are still sending to both
        victim.wait(timeout=5)
        cut_off = await asyncio.wait_for(killed, 10)
        await asyncio.sleep(0.5)  # the survivor keeps writing after the kill
        stop.set()
        survivor_failures = await asyncio.wait_for(kept, 10)
    finally:
        stop.set()
        stop_receiver(victim)
        stop_receiver(survivor)
    assert victim.returncode == -signal.SIGKILL
    assert len(answered) >= ENOUGH, "too little load to mean anything"
    assert cut_off > 0 and survivor_failures == 0
    _, markers = stored_markers(pg_url)
    assert answered <= set(markers), f"lost {len(answered - set(markers))} answered requests"
    assert max(markers.values()) == 1


def test_database_restart_answers_503_then_recovers(pg_cluster: Cluster, pg_url: str) -> None:
    process, port = start_receiver(pg_url)
    answered: list[str] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            def send(marker: str) -> httpx.Response:
                response = http.post("/hooks", content=b'{"m": "%s"}' % marker.encode())
                if 200 <= response.status_code < 300:
                    answered.append(marker)
                return response

            assert send("before").status_code == 200
            pg_cluster.stop()
            try:
                down = send("during")
            finally:
                pg_cluster.start()
            assert down.status_code == 503
            reason = down.text.strip()
            assert "could not store the request" in reason and "PostgreSQL" in reason
            assert "\n" not in reason
            deadline = time.monotonic() + 10
            status = 0
            while status != 200 and time.monotonic() < deadline:
                status = send(f"after-{time.monotonic()}").status_code
            assert status == 200, "the receiver did not recover"
            assert process.poll() is None
    finally:
        stop_receiver(process)
    _, markers = stored_markers(pg_url)
    assert set(markers) == set(answered) and "during" not in markers


def test_serve_with_unreachable_store_is_one_line_and_exit_2(tmp_path: object) -> None:
    url = f"postgresql://postgres@/x?host={tmp_path}"
    result = subprocess.run([sys.executable, "-m", "whdebug", "serve", "--port", "0",
                             "--store", url], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("whdebug: cannot reach the PostgreSQL")



async def test_pg_ctl_restart_under_load_loses_nothing_answered(pg_cluster: Cluster,
                                                                pg_url: str) -> None:
    process, port = start_receiver(pg_url)
    answered: set[str] = set()
    statuses: Counter[int] = Counter()
    stop = asyncio.Event()

    async def client(number: int) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            sequence = 0
            while not stop.is_set():
                marker = f"r-{number}-{sequence}"
                sequence += 1
                response = await http.post("/hooks", content=b'{"m": "%s"}' % marker.encode())
                statuses[response.status_code] += 1
                if 200 <= response.status_code < 300:
                    answered.add(marker)
                else:
                    await asyncio.sleep(0.01)

    try:
        clients = asyncio.gather(*(client(number) for number in range(4)))
        await enough_load(answered)
        before = len(answered)
        await asyncio.to_thread(pg_cluster.restart)
        deadline = time.monotonic() + 10
        while len(answered) < before + 50 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(clients, 15)
        assert process.poll() is None
    finally:
        stop.set()
        stop_receiver(process)
    assert set(statuses) <= {200, 503}
    assert len(answered) >= before + 50, "the receiver did not recover after the restart"
    _, markers = stored_markers(pg_url)
    assert answered <= set(markers), f"lost {len(answered - set(markers))} answered requests"
    assert max(markers.values()) == 1
