"""Typed reads of one JSON object's fields; a wrong type is a one-line RequestFileError."""

from __future__ import annotations

from typing import Any

from whdebug.errors import RequestFileError


class JsonFields:
    """Field access for the request file formats (HAR, capture JSON); `where(key)` names a
    field in messages as `file: where: problem`."""

    def __init__(self, obj: dict[str, Any], name: str) -> None:
        self.obj = obj
        self.name = name

    def where(self, key: str) -> str:
        raise NotImplementedError

    def fail(self, key: str, problem: str) -> RequestFileError:
        return RequestFileError(f"{self.name}: {self.where(key)}: {problem}")

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.obj.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.fail(key, "expected a string")
        return value

    def integer(self, key: str, *, non_negative: bool = False) -> int | None:
        value = self.obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or (non_negative and value < 0):
            raise self.fail(key, "expected a non-negative integer" if non_negative
                            else "expected an integer")
        return value
