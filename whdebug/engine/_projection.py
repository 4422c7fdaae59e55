"""Decode only the parts of a JSON body a definition reads (msgspec), skipping the rest unbuilt.

A definition reads a handful of plain dotted paths (`$.action`, `$.data.id`). Decoding the body
into a generated msgspec Struct that names just those keys validates the whole document but
builds Python objects only for the values asked for, so a 64 MiB body costs one fast scan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import msgspec

UNSET: Any = msgspec.UNSET


@dataclass(slots=True)
class _Node:
    """One key of the projection: its Struct field name and, for an object, its children."""

    field_name: str
    children: dict[str, _Node] | None = None
    """None when the whole value is decoded (a leaf, or a key also read as a whole)."""


@dataclass(frozen=True, slots=True)
class Projection:
    """A decoder for the plain dotted paths of one definition."""

    paths: frozenset[tuple[str, ...]]
    root: dict[str, _Node]
    decoder: msgspec.json.Decoder[Any] = field(repr=False)
    _covered: dict[tuple[str, ...], bool] = field(default_factory=dict, repr=False,
                                                  compare=False)
    """`covers`, remembered by key path (the tree never changes)."""

    def covers(self, keys: tuple[str, ...]) -> bool:
        """Can `lookup` answer this path: does it reach a value decoded whole?"""
        covered = self._covered.get(keys)
        if covered is None:
            if len(self._covered) >= 1024:
                self._covered.clear()
            covered = self._covered[keys] = self._walks_to_whole(keys)
        return covered

    def _walks_to_whole(self, keys: tuple[str, ...]) -> bool:
        nodes: dict[str, _Node] | None = self.root
        for key in keys:
            if nodes is None:
                return True  # below a whole value: walked in Python
            node = nodes.get(key)
            if node is None:
                return False
            nodes = node.children
        return nodes is None

    def lookup(self, decoded: Any, keys: tuple[str, ...]) -> list[Any]:
        """The value at `keys` (a path `covers` accepts) in a decoded projection, or []."""
        value: Any = decoded
        nodes: dict[str, _Node] | None = self.root
        for key in keys:
            if nodes is None:
                if not isinstance(value, dict) or key not in value:
                    return []
                value = value[key]
                continue
            node = nodes[key]
            value = getattr(value, node.field_name)
            if value is UNSET:
                return []
            nodes = node.children
        return [value]


def build_projection(paths: Iterable[tuple[str, ...]]) -> Projection | None:
    """A decoder for these key paths, or None when there is nothing to project."""
    return _projection(frozenset(p for p in paths if p))


@lru_cache(maxsize=256)
def _projection(wanted: frozenset[tuple[str, ...]]) -> Projection | None:
    """Memoised by the set of paths: generating the Struct type costs far more than a replay."""
    if not wanted:
        return None
    tree: dict[str, Any] = {}
    for keys in sorted(wanted, key=len):
        node = tree
        for index, key in enumerate(keys):
            last = index == len(keys) - 1
            if key in node and node[key] is None:
                break  # an ancestor is decoded whole
            if last:
                node[key] = None
            else:
                node = node.setdefault(key, {})
    counter = iter(range(10**9))
    root, struct = _struct(tree, counter)
    return Projection(wanted, root, msgspec.json.Decoder(struct))


def _struct(tree: dict[str, Any], counter: Any) -> tuple[dict[str, _Node], type]:
    nodes: dict[str, _Node] = {}
    fields: list[tuple[str, Any, Any]] = []
    rename: dict[str, str] = {}
    for key, subtree in tree.items():
        name = f"f{next(counter)}"
        rename[name] = key
        if subtree is None:
            nodes[key] = _Node(name)
            fields.append((name, Any, UNSET))
        else:
            children, child_type = _struct(subtree, counter)
            nodes[key] = _Node(name, children)
            fields.append((name, child_type, UNSET))
    struct = msgspec.defstruct(f"Projection{next(counter)}", fields, rename=rename,
                               forbid_unknown_fields=False)
    return nodes, struct
