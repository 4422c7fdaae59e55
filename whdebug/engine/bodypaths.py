"""A JSONPath compiled once: plain dotted keys (fast) or a python-jsonpath query, never raising.

python-jsonpath 2.2 raises `jsonpath.JSONPathError` subclasses for malformed queries
(`JSONPathSyntaxError`; `JSONPathRecursionError`, which is also a `RecursionError`, for deep
nesting), but lets a `ValueError` out for an index such as `$[1e99]` and an `OverflowError` for
a filter literal such as `1e999`; `COMPILE_ERRORS` names all of them. At evaluation it raises
`JSONPathRecursionError` past its descent limit and `JSONPathTypeError` for bad filter operands.

Its default descent limit is 100 levels, far below the 1,000 or so the body parser accepts, so
`$..event` found nothing in a deeper body that the runtime's JSONPath reads; queries here are
compiled in an environment whose limit is above the parser's, so a path reaches every value of
every body whdebug can parse.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# python-jsonpath is imported when a path needs it: plain dotted paths never do (start-up)
_SIMPLE_PATH = re.compile(r"^\$(?:\.[A-Za-z_][A-Za-z0-9_-]*)+$")
_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*")
DESCENT_LIMIT = 1100
"""Levels a query descends: above the body parser's nesting limit (msgspec's, about 1,000)."""


@dataclass(frozen=True, slots=True)
class BodyPath:
    """One JSONPath from a definition, as written and as compiled."""

    text: str
    """The path as the definition writes it (`data.type`, `$.event`)."""
    keys: tuple[str, ...] | None
    """The keys of a plain dotted path (`$.a.b` -> ("a", "b")), walked without python-jsonpath."""
    query: Any = None
    """The compiled python-jsonpath query of any other valid path."""
    error: str | None = None
    """Why the path does not compile (then it selects nothing)."""
    descendants: tuple[str, ...] | None = None
    """The names of a query that is only `$..name` (or `$..['a','b']`), walked here in
    python-jsonpath's order without its per-level generators, which cost time in proportion
    to a node's depth for every node (seconds for a crafted deep body)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def find(self, document: Any) -> list[Any]:
        """Every value the path selects in a parsed document (nothing for a broken path)."""
        if self.keys is not None:
            node = document
            for key in self.keys:
                if not isinstance(node, dict) or key not in node:
                    return []
                node = node[key]
            return [node]
        if self.query is None or isinstance(document, str):
            # python-jsonpath would parse a str as JSON text; a JSON string body is a scalar
            # that only `$` (a key path, above) selects
            return []
        if self.descendants is not None:
            found = _descendant_values(document, self.descendants)
            if found is not None:
                return found
        import jsonpath

        try:
            return list(self.query.findall(document))
        except (jsonpath.JSONPathError, RecursionError):  # a bad filter operand, see _environment
            return []


def normalize_path(path: str) -> str:
    """`event` and `data.type` as the docs write them mean `$.event` and `$.data.type`."""
    path = path.strip()
    if path.startswith("$"):
        return path
    if path.startswith("["):
        return "$" + path
    return "$." + path


@lru_cache(maxsize=4096)
def compile_body_path(text: str) -> BodyPath:
    """Compile `text` (memoised by value, so recompiling a definition re-parses nothing)."""
    full = normalize_path(text)
    if _SIMPLE_PATH.match(full):
        return BodyPath(text, tuple(full[2:].split(".")))
    import jsonpath  # python-jsonpath and its regex module: a tenth of a second to import

    # everything `jsonpath.compile` raises for a malformed query (see the module docstring)
    errors = (jsonpath.JSONPathError, ValueError, OverflowError, RecursionError)
    try:
        query = _environment().compile(full)
    except errors as error:
        return BodyPath(text, None, None, _first_line(error))
    return BodyPath(text, None, query, descendants=_descendant_names(query))


def _descendant_names(query: Any) -> tuple[str, ...] | None:
    """The names of a compiled `$..name` / `$..['a','b']` query, else None."""
    from jsonpath.path import JSONPath
    from jsonpath.segments import JSONPathRecursiveDescentSegment
    from jsonpath.selectors import NameSelector

    if type(query) is not JSONPath or query.pseudo_root or len(query.segments) != 1:
        return None
    segment = query.segments[0]
    selectors = segment.selectors
    if type(segment) is not JSONPathRecursiveDescentSegment or not all(
            type(selector) is NameSelector for selector in selectors):
        return None
    return tuple(selector.name for selector in selectors if isinstance(selector, NameSelector))


def _descendant_values(document: Any, names: tuple[str, ...]) -> list[Any] | None:
    """What python-jsonpath's `$..name` selects, in its order (depth first, pre-order: a
    node's own members, then its children's), iteratively; [] past DESCENT_LIMIT levels, as
    its recursion error gives; None for a node type other than the parser's dict, list and
    str (the caller then asks python-jsonpath)."""
    found: list[Any] = []
    stack: list[tuple[Any, int]] = [(iter((document,)), 1)]
    while stack:
        children, depth = stack[-1]
        for node in children:
            kind = type(node)
            if kind is dict:
                if depth > DESCENT_LIMIT:
                    return []
                for name in names:
                    if name in node:
                        found.append(node[name])
                stack.append((iter(node.values()), depth + 1))
                break
            if kind is list:
                if depth > DESCENT_LIMIT:
                    return []
                stack.append((iter(node), depth + 1))
                break
            if kind is str:  # visited (and counted for the limit), selects nothing
                if depth > DESCENT_LIMIT:
                    return []
            elif isinstance(node, (Mapping, Sequence)):
                return None
        else:
            stack.pop()
    return found


@lru_cache(maxsize=1)
def _environment() -> Any:
    """python-jsonpath's environment with DESCENT_LIMIT.

    Its descent is recursive Python, a frame a level, so Python's own limit (1,000 frames,
    which also bounds the parser) is what stops it: within a few dozen levels of the deepest
    body the parser accepts, a descent still finds nothing. The limit is left alone: raising
    it would also let the parser read deeper, for every body in the process."""
    import jsonpath

    class Environment(jsonpath.JSONPathEnvironment):
        max_recursion_depth = DESCENT_LIMIT

    return Environment()


def _first_line(error: BaseException) -> str:
    message = str(error.args[0]) if error.args else ""
    return message.splitlines()[0] if message.strip() else type(error).__name__


def repair_path(text: str) -> str | None:
    """A compiling rewrite of a dotted path with odd names (`a.b c` -> `$.a['b c']`), or None."""
    names = text.removeprefix("$.").removeprefix("$").split(".")
    if any(not name or "[" in name or "'" in name for name in names):
        return None
    repaired = "$" + "".join(
        f".{name}" if _IDENTIFIER.fullmatch(name) else f"['{name}']" for name in names)
    return repaired if repaired != text and compile_body_path(repaired).ok else None
