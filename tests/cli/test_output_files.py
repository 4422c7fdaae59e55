"""`-o FILE` outputs: written 0600 whatever the umask, never through a symlink."""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import error_line, run

DEFINITION = {
    "ns": "github", "version": "1.0.0", "status": "private",
    "auth": {"type": "apikey", "config": {"webhookSecret": "draft-secret-1234"},
             "sensitiveKeys": ["webhookSecret"]},
    "triggers": [{"type": "miniapps:github", "event": "push", "label": "Push"}],
    "webhook": {
        "eventExtraction": {"source": "header", "path": "X-GitHub-Event"},
        "verification": {"type": "hmac-sha256", "headerName": "X-Hub-Signature-256",
                         "secretKey": "webhookSecret"},
    },
}


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 000: without an explicit mode a new file would be 0666."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def definition(tmp_path: Path) -> str:
    path = tmp_path / "app.json"
    path.write_text(json.dumps(DEFINITION, indent=2))
    return str(path)


@pytest.fixture
def store(tmp_path: Path) -> str:
    request = tmp_path / "r.http"
    request.write_bytes(b"POST /hook?token=t0k3n-value HTTP/1.1\r\nX-Batch-Token: abcdef12\r\n"
                        b"Content-Type: application/json\r\n\r\n{}")
    path = str(tmp_path / "captures.db")
    assert run("import", str(request), "--store", path).exit_code == 0
    return path


def _sign(definition: str, tmp_path: Path, output: Path) -> object:
    payload = tmp_path / "payload.json"
    payload.write_text('{"ref":"main"}')
    return run("sign", str(payload), "--definition", definition, "--event", "push",
               "--credential", "webhookSecret=install-secret-5678", "-o", str(output))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
class TestMode:
    def test_sign_output_is_0600(self, tmp_path: Path, definition: str) -> None:
        output = tmp_path / "signed.http"
        result = _sign(definition, tmp_path, output)
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        assert b"X-Hub-Signature-256: sha256=" in output.read_bytes()
        assert _mode(output) == 0o600

    def test_sign_tightens_an_existing_file(self, tmp_path: Path, definition: str) -> None:
        output = tmp_path / "signed.http"
        output.write_text("old")
        output.chmod(0o666)
        result = _sign(definition, tmp_path, output)
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        assert _mode(output) == 0o600 and b"old" not in output.read_bytes()

    def test_redact_output_is_0600(self, tmp_path: Path, definition: str) -> None:
        output = tmp_path / "redacted.json"
        result = run("redact", definition, "-o", str(output))
        assert result.exit_code == 0, result.output
        assert "draft-secret-1234" not in output.read_text()
        assert _mode(output) == 0o600

    def test_export_output_is_0600(self, tmp_path: Path, store: str) -> None:
        output = tmp_path / "one.http"
        result = run("export", "1", "-o", str(output), "--store", store)
        assert result.exit_code == 0, result.output
        assert _mode(output) == 0o600


class TestSymlink:
    @pytest.fixture
    def link(self, tmp_path: Path) -> tuple[Path, Path]:
        victim = tmp_path / "victim.txt"
        victim.write_text("keep me")
        link = tmp_path / "out.file"
        link.symlink_to(victim)
        return link, victim

    def _refused(self, result: object, link: Path, victim: Path) -> None:
        assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
        line = error_line(result)  # type: ignore[arg-type]
        assert line.startswith("whdebug: refusing to write through a symlink"), line
        assert str(link) in line
        assert victim.read_text() == "keep me"
        assert link.is_symlink()

    @pytest.mark.parametrize("format_name", ["http", "har", "json", "curl"])
    def test_export_refuses(self, link: tuple[Path, Path], store: str,
                            format_name: str) -> None:
        result = run("export", "1", "--format", format_name, "-o", str(link[0]),
                     "--store", store)
        self._refused(result, *link)

    def test_sign_refuses(self, link: tuple[Path, Path], tmp_path: Path,
                          definition: str) -> None:
        self._refused(_sign(definition, tmp_path, link[0]), *link)

    def test_redact_refuses(self, link: tuple[Path, Path], definition: str) -> None:
        self._refused(run("redact", definition, "-o", str(link[0])), *link)

    def test_bundle_refuses(self, link: tuple[Path, Path], tmp_path: Path,
                            definition: str) -> None:
        request = tmp_path / "r.http"
        request.write_bytes(b"POST /hook HTTP/1.1\r\nX-GitHub-Event: push\r\n\r\n{}")
        result = run("bundle", "--definition", definition, str(request), "-o", str(link[0]))
        self._refused(result, *link)

    def test_a_dangling_symlink_is_refused(self, tmp_path: Path, store: str) -> None:
        link = tmp_path / "dangling.http"
        link.symlink_to(tmp_path / "elsewhere.http")
        result = run("export", "1", "-o", str(link), "--store", store)
        assert result.exit_code == 2
        assert "refusing to write through a symlink" in error_line(result)
        assert not (tmp_path / "elsewhere.http").exists()


def _fifo(tmp_path: Path) -> tuple[Path, list[bytes], object]:
    """A named pipe (mode 0644) and a reader collecting what is written to it."""
    import threading

    pipe = tmp_path / "out.fifo"
    os.mkfifo(pipe, 0o666)
    os.chmod(pipe, 0o644)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()), daemon=True)
    reader.start()
    return pipe, received, reader


def test_an_output_that_is_not_a_regular_file_keeps_its_mode(definition: str,
                                                              tmp_path: Path) -> None:
    """`-o /dev/null` (or a named pipe) is written to, never chmod-ed: as root, making
    /dev/null 0600 broke every other user's programs on the machine (PostgreSQL's initdb
    among them); as a user, the chmod failed and so did the command."""
    pipe, received, reader = _fifo(tmp_path)
    result = _sign(definition, tmp_path, pipe)
    reader.join(10)  # type: ignore[attr-defined]
    assert result.exit_code == 0, result.output
    assert received and received[0].startswith(b"POST ") and b"X-Hub-Signature-256: sha256=" in (
        received[0])
    assert stat.S_IMODE(pipe.stat().st_mode) == 0o644


def test_a_bundle_to_a_pipe_is_written_into_it_not_renamed_over_it(
        definition: str, tmp_path: Path) -> None:
    """The bundle is written atomically (a temporary file renamed into place) only over a
    regular file: renamed over `-o /dev/null`, as root, it replaced the device with a zip."""
    import zipfile

    request = tmp_path / "r.http"
    request.write_bytes(b"POST /hook HTTP/1.1\r\nX-GitHub-Event: push\r\n\r\n{}")
    pipe, received, reader = _fifo(tmp_path)
    result = run("bundle", "--definition", definition, str(request), "-o", str(pipe))
    reader.join(10)  # type: ignore[attr-defined]  (a daemon: left blocked if never written)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(pipe.stat().st_mode), "the pipe was replaced by a regular file"
    assert received and "SUMMARY.md" in zipfile.ZipFile(io.BytesIO(received[0])).namelist()
    assert not list(tmp_path.glob(".whdebug-bundle-*"))
