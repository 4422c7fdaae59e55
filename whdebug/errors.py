"""Errors that end a command with one line on stderr and exit status 2."""

from __future__ import annotations


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
