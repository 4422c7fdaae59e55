"""Run the CLI in-process and read what it printed."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from click.testing import CliRunner, Result

from whdebug.cli import main


def run(*args: str, env: dict[str, str] | None = None, input: bytes | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, input=input)


def error_line(result: Result) -> str:
    """The single stderr line, asserting there is exactly one."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def json_lines(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 answering with `handler`; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class ServeRun:
    """A `python -m whdebug serve --port 0 ...` process whose console is read as it prints."""

    def __init__(self, args: list[str], timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.process = subprocess.Popen(
            [sys.executable, "-m", "whdebug", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"})
        self.lines: list[str] = []
        stdout = self.process.stdout
        assert stdout is not None
        self.reader = threading.Thread(
            target=lambda: self.lines.extend(line.decode() for line in stdout), daemon=True)
        self.reader.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str) -> re.Match[str] | None:
        """The first match of `pattern` in the console so far, waiting until the deadline."""
        while time.monotonic() < self.deadline:
            found = re.search(pattern, self.output)
            if found is not None:
                return found
            time.sleep(0.05)
        return re.search(pattern, self.output)

    @property
    def port(self) -> int:
        found = self.wait_for(r"listening on http://127\.0\.0\.1:(\d+)")
        assert found is not None, self.output
        return int(found.group(1))

    def stop(self) -> int:
        """SIGTERM; serve and its analyst exit, and the pipe is closed. Returns the exit code."""
        self.process.terminate()
        code = self.process.wait(timeout=15)
        self.reader.join(timeout=5)
        if not self.reader.is_alive() and self.process.stdout is not None:
            self.process.stdout.close()
        return code


@contextmanager
def serving(*args: str, timeout: float = 20) -> Iterator[ServeRun]:
    """`whdebug serve` for the block; on leaving, SIGTERM must stop it cleanly (exit 0)."""
    run_ = ServeRun(list(args), timeout)
    try:
        yield run_
    finally:
        assert run_.stop() == 0  # SIGTERM stops serve cleanly


async def marker_load(port: int, path: str, answered: set[str], stop: asyncio.Event, *,
                      clients: int, tag: str = "marker", timeout: float = 3) -> int:
    """POST unique markers (`{"m": "TAG-CLIENT-N"}`) from `clients` keep-alive clients until
    `stop` or the receiver dies; each marker answered 2xx goes into `answered`. Returns how
    many clients failed (a connection error ends that client)."""
    import httpx

    failures = 0

    async def client(number: int) -> None:
        nonlocal failures
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     timeout=timeout) as http:
            sequence = 0
            while not stop.is_set():
                marker = f"{tag}-{number}-{sequence}"
                sequence += 1
                try:
                    response = await http.post(path, content=b'{"m": "%s"}' % marker.encode())
                except httpx.HTTPError:
                    failures += 1
                    return  # the receiver is gone
                if 200 <= response.status_code < 300:
                    answered.add(marker)

    await asyncio.gather(*(client(number) for number in range(clients)))
    return failures
