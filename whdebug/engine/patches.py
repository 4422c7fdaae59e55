"""Machine-applicable fixes: RFC 6902 JSON Patch operations on a definition, and applying them."""

from __future__ import annotations

import copy
from typing import Any, Literal

import msgspec

PatchVerb = Literal["add", "replace", "remove", "move"]


class PatchOp(msgspec.Struct, frozen=True, omit_defaults=True):
    """One RFC 6902 operation; `value` for add/replace, `from` for move (JSON key `from`)."""

    op: PatchVerb
    path: str
    value: Any = None
    from_: str | None = msgspec.field(default=None, name="from")


class PatchError(ValueError):
    """A patch that does not fit the document (a missing parent, a bad index)."""


def replace(path: str, value: Any) -> PatchOp:
    return PatchOp("replace", path, value)


def add(path: str, value: Any) -> PatchOp:
    return PatchOp("add", path, value)


def remove(path: str) -> PatchOp:
    return PatchOp("remove", path)


def move(source: str, path: str) -> PatchOp:
    return PatchOp("move", path, from_=source)


def apply_patch(document: Any, ops: tuple[PatchOp, ...] | list[PatchOp]) -> Any:
    """A copy of `document` with `ops` applied in order (the input is not changed)."""
    result = copy.deepcopy(document)
    for op in ops:
        if op.op == "move":
            if op.from_ is None:
                raise PatchError("move without from")
            value = _take(result, op.from_)
            result = _put(result, op.path, value, insert=True)
        elif op.op == "remove":
            _take(result, op.path)
        else:
            result = _put(result, op.path, copy.deepcopy(op.value), insert=op.op == "add")
    return result


def tokens(pointer: str) -> list[str]:
    """The reference tokens of an RFC 6901 pointer, unescaped."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"not a JSON pointer: {pointer!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _parent(document: Any, pointer: str) -> tuple[Any, str]:
    parts = tokens(pointer)
    if not parts:
        raise PatchError("the whole document cannot be the target")
    node = document
    for part in parts[:-1]:
        node = _child(node, part)
    return node, parts[-1]


def _child(node: Any, part: str) -> Any:
    if isinstance(node, dict) and part in node:
        return node[part]
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    raise PatchError(f"no {part!r} in the document")


def _take(document: Any, pointer: str) -> Any:
    parent, last = _parent(document, pointer)
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise PatchError(f"nothing at {pointer}")


def _put(document: Any, pointer: str, value: Any, *, insert: bool) -> Any:
    if pointer == "":
        return value
    parent, last = _parent(document, pointer)
    if isinstance(parent, dict):
        if not insert and last not in parent:
            raise PatchError(f"nothing to replace at {pointer}")
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and insert:
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent) - (0 if insert else 1):
            if insert:
                parent.insert(int(last), value)
            else:
                parent[int(last)] = value
        else:
            raise PatchError(f"bad index at {pointer}")
    else:
        raise PatchError(f"no container at {pointer}")
    return document
