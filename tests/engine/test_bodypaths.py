"""JSONPath queries on deep bodies: a path finds at any depth the body parser accepts."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from factories import make_definition, make_request, run
from hypothesis import given, settings
from hypothesis import strategies as st

from whdebug.engine.bodypaths import DESCENT_LIMIT, compile_body_path


def nested(depth: int, leaf: str) -> bytes:
    """`depth` objects, each under key "a", around {"event": leaf, "id": "evt-deep"}."""
    return b'{"a":' * depth + f'{{"event":"{leaf}","id":"evt-deep"}}'.encode() + b"}" * depth


@pytest.mark.parametrize("depth", [150, 600, 900])
def test_descent_finds_the_event_below_a_hundred_levels(depth: int) -> None:
    # python-jsonpath's default environment stops descending at 100 levels and raised, which
    # read as "found nothing": EVT_NOT_FOUND with a fix to move the path, a wrong fix for a
    # path that does select the event in the runtime
    definition = make_definition(
        eventExtraction={"source": "body", "path": "$..event"},
        transactionId={"paths": ["$..id"]},
    )
    report = run(make_request(nested(depth, "contact.created")), definition)
    assert report.event.value == "contact.created"
    assert report.outcome.status == "fires"
    assert report.transaction.id == "evt-deep"
    assert not [f.code for f in report.findings if f.code.startswith("EVT_")]


def test_filters_and_wildcards_descend_as_deep_in_a_thread() -> None:
    # the TUI analyses in worker threads; the deepest body the parser accepts
    import msgspec

    document = msgspec.json.decode(nested(900, "deal.won"))
    found: list[list[object]] = []
    worker = threading.Thread(target=lambda: found.extend([
        compile_body_path("$..[?(@.event == 'deal.won')].id").find(document),
        compile_body_path("$..event").find(document),
    ]))
    worker.start()
    worker.join()
    assert found == [["evt-deep"], ["deal.won"]]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["a", "b", ""]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["a", "b", "c", "event"]), children, max_size=4),
    max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(document=_json, path=st.sampled_from(["$..a", "$..event", "$..['a','b']", "$..['b','a']",
                                             "$..c", "$..['event']"]))
def test_descendant_names_select_what_python_jsonpath_selects_in_its_order(
        document: object, path: str) -> None:
    compiled = compile_body_path(path)
    assert compiled.descendants is not None  # the iterative walk, not python-jsonpath
    expected = [] if isinstance(document, str) else list(compiled.query.findall(document))
    assert compiled.find(document) == expected


def test_descendant_names_are_walked_without_python_jsonpath() -> None:
    # python-jsonpath's generators cost time in proportion to each node's depth: a crafted
    # 2.4 MB body 900 levels deep took 16 s for `$..event`
    compiled = compile_body_path("$..event")
    level = {"event": "x", "l": [{"event": 1}] * 3}
    document: dict[str, object] = {"event": "top"}
    node = document
    for _ in range(900):
        node["a"] = dict(level)
        node = node["a"]  # type: ignore[assignment]

    class Refuses:
        def findall(self, document: object) -> None:
            raise AssertionError("python-jsonpath was asked")

    walked = dataclasses.replace(compiled, query=Refuses())
    found = walked.find(document)
    assert found == list(compiled.query.findall(document))
    assert len(found) == 1 + 900 * 4


def test_descendant_names_past_the_descent_limit_select_nothing_as_before() -> None:
    compiled = compile_body_path("$..event")
    document: object = {"event": "deep"}
    for _ in range(DESCENT_LIMIT + 5):
        document = [document]
    with pytest.raises(RecursionError):  # python-jsonpath's JSONPathRecursionError
        list(compiled.query.findall(document))
    assert compiled.find(document) == []
    shallow = [[{"event": "found"}]]
    assert compiled.find(shallow) == ["found"]


def test_other_queries_keep_python_jsonpath() -> None:
    for path in ("$..event.id", "$..*", "$..[0]", "$.a..event", "$..event | $..id"):
        assert compile_body_path(path).descendants is None
