"""Crash safety: SIGKILL of a receiver under load loses no answered request, with and
without --definition (then an analyst child runs), and leaves no process behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cli_support import marker_load
from paths import REPO
from processes import alive, descendants

from whdebug.store.store import Store

SERVE = """
import sys
from rich.console import Console
from whdebug.cli.output.serve import ConsoleSink
from whdebug.model.definition import load_definition
from whdebug.model.request import Secrets
from whdebug.receiver.app import ReceiverSettings
from whdebug.receiver.server import ServerSettings, serve
settings = ReceiverSettings()
if len(sys.argv) > 2:
    settings = ReceiverSettings(definition=load_definition(sys.argv[2]),
                                secrets=Secrets({"webhookSecret": "crash-secret"}))
serve(sys.argv[1], settings, ServerSettings(port=0), ConsoleSink(Console(width=200)))
"""
DEFINITION = REPO / "whdebug" / "demo" / "definitions" / "github.json"
CLIENTS = 24
LOAD_SECONDS = 1.5


def start_receiver(store_path: Path, definition: Path | None = None
                   ) -> tuple[subprocess.Popen[bytes], int]:
    """`whdebug serve`'s entry point in a child process; its port, read from the banner."""
    extra = [] if definition is None else [str(definition)]
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(store_path), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = process.stdout.readline().decode()
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if match:  # keep reading its console lines, so a full pipe never stalls it
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, int(match.group(1))
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError("receiver did not start")


async def load(port: int, answered: set[str], stop: asyncio.Event) -> int:
    """Send unique markers from many clients until the receiver dies; count failures."""
    return await marker_load(port, "/miniapps/github/webhooks", answered, stop,
                             clients=CLIENTS)


@pytest.mark.parametrize("definition", [None, DEFINITION], ids=["plain", "definition"])
async def test_sigkill_under_load_loses_no_answered_request(tmp_path: Path,
                                                            definition: Path | None) -> None:
    store_path = tmp_path / "captures.db"
    process, port = start_receiver(store_path, definition)
    answered: set[str] = set()
    stop = asyncio.Event()
    try:
        clients = asyncio.create_task(load(port, answered, stop))
        await asyncio.sleep(LOAD_SECONDS)
        # A slow machine: wait for enough answers to mean something.
        deadline = time.monotonic() + 20
        while len(answered) < 200 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        children = descendants(process.pid)
        assert (len(children) >= 1) == (definition is not None)  # the analyst
        os.kill(process.pid, signal.SIGKILL)  # mid-run: clients are still sending
        process.wait(timeout=5)
        failures = await asyncio.wait_for(clients, 10)  # each client stops at its first error
    finally:
        stop.set()
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in children if alive(pid)], "a child outlived the receiver"
    assert len(answered) >= 100, "too little load to mean anything"
    assert failures > 0, "the kill should have cut off requests in flight"

    with Store.open(store_path) as store:
        markers = {store.get(capture_id).request.body.split(b'"')[3].decode()
                   for capture_id in store.ids()}
    assert answered <= markers, f"lost {len(answered - markers)} answered requests"
    with contextlib.closing(sqlite3.connect(store_path)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
