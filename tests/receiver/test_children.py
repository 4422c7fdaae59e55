"""No child outlives `whdebug serve --definition`, and SIGTERM runs serve's cleanup."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from paths import REPO
from processes import alive, descendants

DEFINITION = REPO / "whdebug" / "demo" / "definitions" / "github.json"


class Serving:
    """`python -m whdebug serve --definition` as a real process; its output read on threads
    (a full pipe never stalls it, and an orphan holding the pipes never hangs the test)."""

    def __init__(self, tmp_path: Path, *arguments: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "whdebug", "serve", "--port", "0",
             "--store", str(tmp_path / "captures.db"), *(arguments or (
                 "--definition", str(DEFINITION),
                 "--credential", "webhookSecret=children-secret"))],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200",
                 "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])})
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.readers = [threading.Thread(target=self._drain, args=(stream, lines), daemon=True)
                        for stream, lines in ((self.process.stdout, self.stdout),
                                              (self.process.stderr, self.stderr))]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _drain(stream: Any, lines: list[str]) -> None:
        for raw in stream:
            lines.append(raw.decode())

    def port(self) -> int:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for line in list(self.stdout):
                if match := re.search(r"listening on http://127\.0\.0\.1:(\d+)", line):
                    return int(match.group(1))
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"serve did not start: {self.stdout} {self.stderr}")

    def finish(self) -> bool:
        """Wait for the output to end; False when something still holds the pipes open."""
        for reader in self.readers:
            reader.join(5)
        return not any(reader.is_alive() for reader in self.readers)

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait(10)
        if self.finish():  # never close a pipe a reader thread is still blocked on
            for stream in (self.process.stdout, self.process.stderr):
                assert stream is not None
                stream.close()


@contextlib.contextmanager
def serving(tmp_path: Path, *arguments: str) -> Iterator[Serving]:
    """serve with `arguments` (default: --definition github.json and its secret)."""
    serve = Serving(tmp_path, *arguments)
    try:
        yield serve
    finally:
        serve.close()


def the_analyst(pid: int) -> list[int]:
    """serve's children once the analyst has started (it starts before the banner)."""
    deadline = time.monotonic() + 10
    while not (children := descendants(pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children, "serve --definition started no analyst"
    return children


def gone(pids: list[int], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(alive(pid) for pid in pids)


def test_sigkill_of_serve_leaves_no_child(tmp_path: Path) -> None:
    with serving(tmp_path) as serve:
        process, port = serve.process, serve.port()
        response = httpx.post(f"http://127.0.0.1:{port}/miniapps/github/webhooks",
                              content=b'{"zen": "x"}', headers={"X-GitHub-Event": "ping"})
        assert response.status_code == 200
        children = the_analyst(process.pid)
        process.kill()
        process.wait(5)
        assert process.returncode == -signal.SIGKILL
        assert gone(children), f"still running after serve was killed: {children}"


def test_sigterm_runs_the_cleanup_and_exits_0(tmp_path: Path) -> None:
    with serving(tmp_path) as serve:
        process, port = serve.process, serve.port()
        children = the_analyst(process.pid)
        for number in range(3):
            response = httpx.post(f"http://127.0.0.1:{port}/miniapps/github/webhooks",
                                  content=b'{"n": %d}' % number,
                                  headers={"X-GitHub-Event": "ping"})
            assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        assert gone(children)
        assert serve.finish(), "a process outlived serve, holding its output open"
        stderr = "".join(serve.stderr)
        assert process.returncode == 0, stderr
        assert "receiver stopped" in stderr and "Traceback" not in stderr
    captured = [line for line in serve.stdout if "/miniapps/github/webhooks" in line
                and "#" in line]
    assert len(captured) == 3, serve.stdout  # the analyst printed every line before it stopped


def test_max_inflight_reaches_the_receiver(tmp_path: Path) -> None:
    with serving(tmp_path, "--max-inflight", "64") as serve:
        url = f"http://127.0.0.1:{serve.port()}/hook"
        small, large = httpx.post(url, content=b"x" * 64), httpx.post(url, content=b"x" * 65)
    assert small.status_code == 200
    assert large.status_code == 503 and "--max-inflight 64 bytes" in large.json()["error"]


@pytest.mark.parametrize(("arguments", "hint"), [
    (("--config", "webhookSecret=config-secret-value"), " (plus your --config flags)"),
    (("--credential", "webhookSecret=config-secret-value", "--config", "region=eu"),
     " (plus your --credential and --config flags)"),
    (("--credentials", "creds.json"), " --credentials creds.json\n"),
])
def test_the_parting_hint_names_the_secret_flags_given_never_their_values(
        tmp_path: Path, arguments: tuple[str, ...], hint: str) -> None:
    (tmp_path / "creds.json").write_text('{"webhookSecret": "config-secret-value"}')
    with serving(tmp_path, "--definition", str(DEFINITION), *arguments) as serve:
        process, port = serve.process, serve.port()
        response = httpx.post(f"http://127.0.0.1:{port}/miniapps/github/webhooks",
                              content=b'{"zen": "x"}', headers={"X-GitHub-Event": "ping"})
        assert response.status_code == 200  # serving, its signal handlers in place
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        assert serve.finish()
    stderr = "".join(serve.stderr)
    assert process.returncode == 0, stderr
    assert "Explain the newest capture: whdebug replay --last 1" in stderr
    assert hint in stderr, stderr
    assert "config-secret-value" not in stderr + "".join(serve.stdout)
