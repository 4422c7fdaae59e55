"""Errors that end a command with one line on stderr and exit status 2."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path


class WhdebugError(Exception):
    """Bad input or environment; `str(error)` is the one-line message shown to the user."""

    exit_code = 2

    def __init__(self, message: str, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{message} ({where})" if where else message)


class DefinitionError(WhdebugError):
    """A MiniApp definition that cannot be read or parsed."""

    def __init__(self, message: str, where: str | None = None) -> None:
        # Parse errors already carry "file:line:col: " in front, as compilers print them.
        super().__init__(message, where)


class RequestFileError(WhdebugError):
    """A .http, .har or .json request file that cannot be read."""


class StoreError(WhdebugError):
    """A capture store that is missing, locked, corrupt or not a whdebug store."""


STDIN = "-"
"""A file name that means standard input."""
STDIN_NAME = "<stdin>"
"""Where what was read from standard input came from, in reports and messages."""
_stdin_read_as: list[str] = []
"""What standard input was read as in this command (it can be read once)."""


def read_stdin(what: str, error: type[WhdebugError] = WhdebugError) -> bytes:
    """Standard input's bytes (on a terminal: what is typed until Ctrl-D), read once per
    command; `error` when something read it already (`--file -` with `--definition -`)."""
    if _stdin_read_as:
        raise error(f"standard input was already read as the {_stdin_read_as[0]}: give the "
                    f"{what} as a file", STDIN_NAME)
    _stdin_read_as.append(what)
    if sys.stdin is None:
        raise error("there is no standard input to read", STDIN_NAME)
    try:
        return sys.stdin.buffer.read()
    except (OSError, ValueError) as failure:  # closed or not readable
        raise error(f"cannot read standard input: {failure}", STDIN_NAME) from None


def forget_stdin() -> None:
    """A new command: standard input has not been read yet."""
    _stdin_read_as.clear()


def read_input(path: str | Path, what: str, error: type[WhdebugError] = WhdebugError) -> bytes:
    """A file's bytes (`-`: standard input), or `error` with one line: `<what> file not found
    (path)` and the like."""
    name = str(path)
    if name == STDIN:
        return read_stdin(what, error)
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"{what} file not found", name) from None
    except IsADirectoryError:
        raise error(f"{what} path is a directory", name) from None
    except OSError as failure:
        raise error(f"cannot read {what} file: {failure.strerror}", name) from None


def decode_text(data: bytes, path: str | Path, what: str,
                error: type[WhdebugError] = WhdebugError) -> str:
    """UTF-8 text (a leading BOM dropped), or `error`: `<what> file is not UTF-8 text`."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error(f"{what} file is not UTF-8 text", str(path)) from None


def is_broken_pipe(error: BaseException) -> bool:
    """A write failed because the reader of the pipe went away (`whdebug list | head -1`)."""
    return isinstance(error, BrokenPipeError) or (
        isinstance(error, OSError) and error.errno == errno.EPIPE)


def silence_stdout() -> None:
    """Point standard output at /dev/null once its reader has gone, so that what is still
    buffered, and the flush at exit, go nowhere instead of failing again ("Exception
    ignored ... BrokenPipeError" on stderr)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no descriptor behind it: nothing will be flushed
        pass
