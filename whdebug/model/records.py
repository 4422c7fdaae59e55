"""`fast_init`: a frozen slots dataclass built several times faster, still frozen.

A frozen dataclass's generated `__init__` sets each field through `object.__setattr__`, which
costs a global lookup, an attribute lookup and a call per field: a replay builds some twenty
such records per request (steps, lookups, the report's parts), and that was a tenth of its
time. `fast_init` replaces the `__init__` with one that stores each field through its slot's
own descriptor. Everything else stays the dataclass's: the fields, their defaults, `repr`,
`eq`, `hash`, `replace`, pickling, and the error on assignment.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def fast_init(cls: type[T]) -> type[T]:
    """Give a `@dataclass(frozen=True, slots=True)` class the faster `__init__` (see the
    module doc). A class with `__post_init__`, a default factory or an `init=False` field
    without a default keeps its own."""
    params = dataclasses.fields(cls)  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__") or "__slots__" not in cls.__dict__:
        return cls
    namespace: dict[str, Any] = {}
    positional: list[str] = []
    keyword: list[str] = []
    lines: list[str] = []
    for index, item in enumerate(params):
        setter, default = f"_set_{index}", f"_default_{index}"
        namespace[setter] = cls.__dict__[item.name].__set__
        if item.default_factory is not dataclasses.MISSING:
            return cls
        if item.default is not dataclasses.MISSING:
            namespace[default] = item.default
        if not item.init:
            if item.default is dataclasses.MISSING:
                return cls
            lines.append(f"    {setter}(self, {default})")
            continue
        param = f"{item.name}" if item.default is dataclasses.MISSING else (
            f"{item.name}={default}")
        (keyword if item.kw_only else positional).append(param)
        lines.append(f"    {setter}(self, {item.name})")
    signature = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    source = f"def __init__({signature}) -> None:\n" + "\n".join(lines or ["    pass"])
    exec(source, namespace)  # noqa: S102 - generated from the dataclass's own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    setattr(cls, "__init__", init)  # noqa: B010 - mypy refuses assigning a method
    return cls
