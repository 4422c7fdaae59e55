"""Slowloris against a real `whdebug serve` with a small file-descriptor limit: more
trickling connections than descriptors, and health keeps answering without a flood of
accept tracebacks on stderr."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from paths import REPO

FD_LIMIT = 160
SLOW_CLIENTS = 260
"""More than the receiver's descriptors: without a cap, accept() fails with EMFILE."""
PRESSURE_SECONDS = 6.0


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


async def slowloris(port: int, stop: asyncio.Event) -> None:
    """One client: open, send a partial head, trickle a header byte every 0.3 s; reconnect
    when cut."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        try:
            writer.write(b"POST /slow HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            while not stop.is_set() and not reader.at_eof():
                writer.write(b"a")
                await writer.drain()
                await asyncio.sleep(0.3)
        except OSError:
            pass
        finally:
            writer.close()


async def health(port: int) -> float:
    """Seconds until /_whdebug/health answered 200."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /_whdebug/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
    return time.monotonic() - started


@pytest.mark.usefixtures("parser")  # on httptools and on h11
async def test_health_answers_through_a_slowloris_beyond_the_fd_limit(tmp_path: Path) -> None:
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "whdebug", "serve", "--port", "0",
             "--store", str(tmp_path / "captures.db")],
            stdout=subprocess.PIPE, stderr=stderr, cwd=tmp_path, preexec_fn=limited,
            env={**os.environ, "PYTHONUNBUFFERED": "1",
                 "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])})
    stop = asyncio.Event()
    clients: list[asyncio.Task[None]] = []
    try:
        assert process.stdout is not None
        banner = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 20)
        match = re.search(rb"listening on http://127\.0\.0\.1:(\d+)", banner)
        assert match, banner
        port = int(match.group(1))
        clients = [asyncio.create_task(slowloris(port, stop)) for _ in range(SLOW_CLIENTS)]
        await asyncio.sleep(1.0)  # every descriptor the receiver has is taken by now
        waits = []
        deadline = time.monotonic() + PRESSURE_SECONDS
        while time.monotonic() < deadline:
            waits.append(await asyncio.wait_for(health(port), 8))
            await asyncio.sleep(0.3)
    finally:
        stop.set()
        for client in clients:
            client.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
    errors = stderr_path.read_bytes()
    assert len(waits) >= 3 and max(waits) < 8
    assert len(errors) < 4000, errors[:2000]  # no traceback per failed accept
    assert b"Traceback" not in errors
