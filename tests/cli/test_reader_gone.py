"""Standard output whose reader went away (`whdebug list | head -1`, a `less` quit early):
a command stops quietly with 141, as a program killed by SIGPIPE does, not 1 (which says
"findings"); `serve` keeps storing every capture and says so once on standard error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from app_support import free_port

from whdebug.store.store import Store

READER_GONE = 128 + signal.SIGPIPE


def _closed_stdout(args: list[str], tmp_path: Path) -> subprocess.Popen[bytes]:
    """`python -m whdebug ARGS` with standard output a pipe nobody reads (closed at once)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.Popen([sys.executable, "-m", "whdebug", *args], stdout=write_end,
                                stderr=subprocess.PIPE, cwd=tmp_path)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("args", [["codes"], ["explain", "SIG_MISMATCH"], ["samples"]])
def test_a_command_stops_quietly_with_141(args: list[str], tmp_path: Path) -> None:
    process = _closed_stdout(args, tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert stderr == b""
    assert process.returncode == READER_GONE


def test_serve_keeps_storing_when_its_console_is_gone(tmp_path: Path) -> None:
    store = tmp_path / "captures.db"
    port = free_port()  # the banner that names it goes nowhere
    process = _closed_stdout(["serve", "--port", str(port), "--store", str(store)], tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not store.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.stderr is not None
        note = process.stderr.readline().decode()
        assert note.startswith("whdebug: standard output is closed"), note
        assert "every capture is still stored" in note
        assert process.poll() is None  # still receiving
        for number in range(3):
            answer = httpx.post(f"http://127.0.0.1:{port}/hooks", content=b'{"n":%d}' % number)
            assert answer.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=30)
    assert process.returncode == 0, rest
    assert rest.count(b"standard output is closed") == 0  # said once, above
    with Store.open(store) as opened:
        bodies = [opened.get(capture_id).request.body for capture_id in (1, 2, 3)]
    assert bodies == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
