"""The store is refused when someone else could swap it: symlinks, group/world-writable modes."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import error_line, run

from whdebug.errors import StoreError
from whdebug.store.store import Store

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX modes and symlinks")

REQUEST = b"POST /hook HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{}"


@pytest.fixture
def request_file(tmp_path: Path) -> str:
    path = tmp_path / "r.http"
    path.write_bytes(REQUEST)
    return str(path)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project directory as the current directory (default store: .whdebug/captures.db)."""
    directory = tmp_path / "project"
    directory.mkdir(mode=0o700)
    monkeypatch.chdir(directory)
    monkeypatch.delenv("WHDEBUG_STORE", raising=False)
    yield directory


def _real_store(path: Path) -> Path:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    Store.open(path).close()
    return path


class TestSymlinks:
    def test_symlinked_store_directory_is_refused(self, project: Path, tmp_path: Path) -> None:
        real = _real_store(tmp_path / "elsewhere" / "captures.db")
        (project / ".whdebug").symlink_to(real.parent)
        result = run("list")
        assert result.exit_code == 2, result.output
        line = error_line(result)
        assert "capture store directory is a symlink" in line
        assert "give --store the real path" in line
        assert result.stdout == ""

    def test_symlinked_store_file_is_refused(self, tmp_path: Path) -> None:
        real = _real_store(tmp_path / "real" / "captures.db")
        link = tmp_path / "mine" / "captures.db"
        link.parent.mkdir(mode=0o700)
        link.symlink_to(real)
        result = run("list", "--store", str(link))
        assert result.exit_code == 2, result.output
        assert "capture store is a symlink, which whdebug does not follow" in error_line(result)
        with pytest.raises(StoreError, match="symlink"):
            Store.open(link)

    def test_import_does_not_write_through_a_symlink(self, tmp_path: Path,
                                                     request_file: str) -> None:
        real = _real_store(tmp_path / "real" / "captures.db")
        real.chmod(0o666)  # another user's world-writable file
        link = tmp_path / "mine" / "captures.db"
        link.parent.mkdir(mode=0o700)
        link.symlink_to(real)
        result = run("import", request_file, "--store", str(link))
        assert result.exit_code == 2
        assert "symlink" in error_line(result)
        import sqlite3

        with sqlite3.connect(real) as connection:
            assert connection.execute("SELECT count(*) FROM captures").fetchone() == (0,)
        assert stat.S_IMODE(real.stat().st_mode) == 0o666


class TestModes:
    @pytest.mark.parametrize(("mode", "who"), [(0o666, "group- and world-writable"),
                                               (0o620, "group-writable"),
                                               (0o602, "world-writable")])
    def test_writable_store_file_is_refused(self, tmp_path: Path, mode: int, who: str) -> None:
        path = _real_store(tmp_path / "s" / "captures.db")
        path.chmod(mode)
        result = run("list", "--store", str(path))
        assert result.exit_code == 2, result.output
        assert error_line(result) == (
            f"whdebug: capture store is {who}, so others could replace what it holds; "
            f"fix: chmod 600 {path} ({path})")
        path.chmod(0o600)
        assert run("list", "--store", str(path)).exit_code == 0

    @pytest.mark.parametrize("mode", [0o777, 0o775, 0o1777])
    def test_writable_store_directory_is_refused(self, project: Path, mode: int,
                                                 request_file: str) -> None:
        directory = project / ".whdebug"
        directory.mkdir()
        directory.chmod(mode)
        result = run("import", request_file)
        assert result.exit_code == 2, result.output
        line = error_line(result)
        assert line.startswith("whdebug: capture store directory is "), line
        assert f"fix: chmod 700 {directory}" in line
        assert not (directory / "captures.db").exists()
        directory.chmod(0o700)
        assert run("import", request_file).exit_code == 0
        assert stat.S_IMODE((directory / "captures.db").stat().st_mode) == 0o600

    def test_private_store_opens(self, project: Path, request_file: str) -> None:
        assert run("import", request_file).exit_code == 0
        assert stat.S_IMODE((project / ".whdebug").stat().st_mode) == 0o700
        result = run("list", "--json")
        assert result.exit_code == 0 and '"path":"/hook"' in result.stdout


def test_serve_refuses_a_world_writable_store(tmp_path: Path) -> None:
    import subprocess

    path = _real_store(tmp_path / "s" / "captures.db")
    path.chmod(0o666)
    process = subprocess.run(
        [sys.executable, "-m", "whdebug", "serve", "--port", "0", "--store", str(path)],
        capture_output=True, text=True, timeout=30)
    assert process.returncode == 2, process.stderr
    assert process.stderr.strip().splitlines()[-1].startswith(
        "whdebug: capture store is group- and world-writable"), process.stderr
