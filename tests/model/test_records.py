"""fast_init: the same dataclass (defaults, keywords, equality, hash, replace, pickling,
frozen), built through its slots."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from whdebug.model.records import fast_init


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: int = 2
    label: str | None = None
    hidden: int = dataclasses.field(default=7, init=False)
    _: dataclasses.KW_ONLY
    tag: str = "t"


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class WithFactory:
    items: list[int] = dataclasses.field(default_factory=list)


def test_the_record_is_the_dataclass_it_was() -> None:
    assert Point.__init__.__qualname__ == "Point.__init__"
    assert "_set_0" in Point.__init__.__globals__  # the slots init
    point = Point(1, label="a", tag="k")
    assert (point.x, point.y, point.label, point.hidden, point.tag) == (1, 2, "a", 7, "k")
    assert point == Point(1, 2, "a", tag="k") and hash(point) == hash(Point(1, 2, "a", tag="k"))
    assert repr(point) == "Point(x=1, y=2, label='a', hidden=7, tag='k')"
    assert dataclasses.replace(point, y=5) == Point(1, 5, "a", tag="k")
    assert pickle.loads(pickle.dumps(point)) == point
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, 2, "a", "k")  # type: ignore[misc]  # tag is keyword-only


def test_a_default_factory_keeps_the_dataclass_init() -> None:
    assert "_set_0" not in WithFactory.__init__.__globals__
    first, second = WithFactory(), WithFactory()
    assert first.items == [] and first.items is not second.items
