"""JSON read with its source text kept: every string and number as written, keys in order.

`json.loads` forgets what `whdebug diff` needs to show: `1.0` against `1`, `\\/` against
`/`, `\\u0026` against `&`, the order of keys. This reader keeps each scalar's raw text
beside its value, so two bodies can be compared value by value and token by token.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["MAX_DEPTH", "Node", "NotJson", "parse_raw"]

MAX_DEPTH = 256
"""Deeper documents are not read (they are compared byte by byte)."""

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"')
_LITERALS = {"true": True, "false": False, "null": None}


class NotJson(ValueError):
    """The text is not one JSON document (or is deeper than MAX_DEPTH)."""


@dataclass(slots=True)
class Node:
    """One JSON value: `kind` object | array | string | number | literal."""

    kind: str
    raw: str = ""
    """A scalar's text as written (strings with their quotes and escapes)."""
    value: Any = None
    """A scalar's value: str, Decimal, True, False or None."""
    members: list[tuple[str, Node]] = field(default_factory=list)
    """An object's keys (decoded) and values in order; a repeated key keeps its first place
    and its last value, as JSON.parse does."""
    items: list[Node] = field(default_factory=list)
    """An array's items."""

    def keys(self) -> list[str]:
        return [key for key, _ in self.members]


def parse_raw(text: str) -> Node:
    """The document in `text` with its tokens kept; NotJson when it is not one."""
    parser = _Parser(text)
    node = parser.value(0)
    parser.skip()
    if parser.index != len(text):
        raise NotJson(f"extra data at character {parser.index}")
    return node


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.index = 0

    def skip(self) -> None:
        match = _WS.match(self.text, self.index)
        assert match is not None
        self.index = match.end()

    def value(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise NotJson(f"nested deeper than {MAX_DEPTH}")
        self.skip()
        text, index = self.text, self.index
        char = text[index:index + 1]
        if char == "{":
            return self.object(depth)
        if char == "[":
            return self.array(depth)
        if char == '"':
            return self.string()
        match = _NUMBER.match(text, index)
        if match is not None:
            self.index = match.end()
            try:
                number = Decimal(match.group())
            except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
                raise NotJson("bad number") from None
            return Node("number", match.group(), number)
        for word, literal in _LITERALS.items():
            if text.startswith(word, index):
                self.index = index + len(word)
                return Node("literal", word, literal)
        raise NotJson(f"unexpected {char!r} at character {index}" if char
                      else "unexpected end of text")

    def string(self) -> Node:
        match = _STRING.match(self.text, self.index)
        if match is None:
            raise NotJson(f"bad string at character {self.index}")
        self.index = match.end()
        raw = match.group()
        return Node("string", raw, json.loads(raw))

    def expect(self, char: str) -> None:
        self.skip()
        if self.text[self.index:self.index + 1] != char:
            raise NotJson(f"expected {char!r} at character {self.index}")
        self.index += 1

    def peek(self, char: str) -> bool:
        self.skip()
        if self.text[self.index:self.index + 1] == char:
            self.index += 1
            return True
        return False

    def object(self, depth: int) -> Node:
        self.index += 1
        node = Node("object")
        places: dict[str, int] = {}
        if self.peek("}"):
            return node
        while True:
            self.skip()
            key = self.string().value
            self.expect(":")
            member = self.value(depth + 1)
            if key in places:
                node.members[places[key]] = (key, member)
            else:
                places[key] = len(node.members)
                node.members.append((key, member))
            if self.peek("}"):
                return node
            self.expect(",")

    def array(self, depth: int) -> Node:
        self.index += 1
        node = Node("array")
        if self.peek("]"):
            return node
        while True:
            node.items.append(self.value(depth + 1))
            if self.peek("]"):
                return node
            self.expect(",")
