"""Blank the secrets in a definition's auth.config, editing the text in place so its layout stays.

Each value's span is found with a small scanner that reads JSON, JSON5 and JavaScript object
literals (comments, single quotes, bare keys); only those spans change, so comments, key order,
indentation and line endings are kept byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import json5

from whdebug.errors import WhdebugError
from whdebug.model.definition import Definition, parse_definition
from whdebug.model.secrecy import config_secret_reason

_STOP = frozenset(",]}:")
_EMPTY = ('""', "''", "null")


@dataclass(frozen=True, slots=True)
class Blanked:
    """One auth.config value that was blanked (never the value itself)."""

    key: str
    line: int
    reason: str
    """Why it is a secret (`model.secrecy.config_secret_reason`)."""

    def describe(self) -> str:
        return f"auth.config.{self.key} (line {self.line}): {self.reason}"


@dataclass(frozen=True, slots=True)
class Redaction:
    text: str
    blanked: tuple[Blanked, ...]


def redact_text(text: str, name: str = "<definition>") -> Redaction:
    """`text` with every sensitive auth.config value replaced by an empty string."""
    definition = parse_definition(text, name)
    scanner = _Scanner(text)
    root = scanner.root()
    edits: list[tuple[int, int, str, Blanked]] = []
    for auth in _members(root, "auth"):
        for config in _members(auth, "config"):
            if config.kind != "object":
                continue
            for key, value in config.entries:
                reason = config_secret_reason(definition, key)
                raw = text[value.start : value.end]
                if reason is None or raw in _EMPTY:
                    continue
                quote = "''" if raw.startswith("'") else '""'
                line = text.count("\n", 0, value.start) + 1
                edits.append((value.start, value.end, quote, Blanked(key, line, reason)))
    redacted = text
    for start, end, quote, _ in sorted(edits, key=lambda edit: edit[0], reverse=True):
        redacted = redacted[:start] + quote + redacted[end:]
    _verify(redacted, name, definition)
    return Redaction(redacted, tuple(edit[3] for edit in edits))


def _verify(text: str, name: str, original: Definition) -> None:
    """Re-parse the result: every secret must now be empty, or nothing is written."""
    config = parse_definition(text, name).auth_config
    left = [
        key
        for key, value in config.items()
        if value not in ("", None) and config_secret_reason(original, key) is not None
    ]
    if left:
        raise WhdebugError(
            f"could not blank auth.config.{left[0]} in place; nothing was written", name
        )


def _members(node: _Node | None, key: str) -> list[_Node]:
    """Every value of `key` in an object node (duplicate keys included)."""
    if node is None or node.kind != "object":
        return []
    return [value for name, value in node.entries if name == key]


@dataclass(slots=True)
class _Node:
    kind: str
    """object | array | string | scalar"""
    start: int
    end: int
    entries: list[tuple[str, _Node]] = field(default_factory=list)


class _Scanner:
    """Spans of values in JSON / JSON5 text already known to parse (so it can be lenient)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def root(self) -> _Node | None:
        """The top-level object, after any `const app =` style wrapper."""
        position = self._skip(1 if self.text.startswith("\ufeff") else 0)
        while position < len(self.text) and self.text[position] != "{":
            char = self.text[position]
            if char in "\"'":
                position = self._string_end(position)
            else:
                position += 1
            position = self._skip(position)
        if position >= len(self.text):
            return None
        return self._value(position)

    def _skip(self, position: int) -> int:
        """Past whitespace and comments."""
        text = self.text
        while position < len(text):
            if text[position].isspace():
                position += 1
            elif text.startswith("//", position):
                newline = text.find("\n", position)
                position = len(text) if newline < 0 else newline + 1
            elif text.startswith("/*", position):
                close = text.find("*/", position + 2)
                position = len(text) if close < 0 else close + 2
            else:
                break
        return position

    def _string_end(self, position: int) -> int:
        quote = self.text[position]
        position += 1
        while position < len(self.text):
            char = self.text[position]
            if char == "\\":
                position += 2
                continue
            if char == quote:
                return position + 1
            position += 1
        return position

    def _scalar_end(self, position: int) -> int:
        text = self.text
        while position < len(text):
            char = text[position]
            if char in _STOP or char.isspace() or text.startswith(("//", "/*"), position):
                break
            position += 1
        return position

    def _value(self, position: int) -> _Node:
        char = self.text[position : position + 1]
        if char == "{":
            return self._object(position)
        if char == "[":
            return self._array(position)
        if char in ("'", '"'):
            return _Node("string", position, self._string_end(position))
        return _Node("scalar", position, self._scalar_end(position))

    def _object(self, start: int) -> _Node:
        node = _Node("object", start, start)
        position = self._skip(start + 1)
        text = self.text
        while position < len(text) and text[position] != "}":
            if text[position] in ("'", '"'):
                key_end = self._string_end(position)
            else:
                key_end = self._scalar_end(position)
            key = _key(text[position:key_end])
            position = self._skip(key_end)
            if text.startswith(":", position):
                position = self._skip(position + 1)
            value = self._value(position)
            node.entries.append((key, value))
            position = self._skip(value.end)
            if text.startswith(",", position):
                position = self._skip(position + 1)
            elif not text.startswith("}", position):
                break
        node.end = min(position + 1, len(text))
        return node

    def _array(self, start: int) -> _Node:
        position = self._skip(start + 1)
        text = self.text
        while position < len(text) and text[position] != "]":
            value = self._value(position)
            position = self._skip(max(value.end, position + 1))
            if text.startswith(",", position):
                position = self._skip(position + 1)
        return _Node("array", start, min(position + 1, len(text)))


def _key(raw: str) -> str:
    """A key as the parser reads it: quoted keys unescaped, bare keys as written."""
    if raw[:1] in ("'", '"'):
        try:
            value: Any = json5.loads(raw)
        except ValueError:
            return raw[1:-1]
        return value if isinstance(value, str) else raw
    return raw
