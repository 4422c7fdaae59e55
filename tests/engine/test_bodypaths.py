"""JSONPath queries on deep bodies: a path finds at any depth the body parser accepts."""

from __future__ import annotations

import threading

import pytest
from factories import make_definition, make_request, run

from whdebug.engine.bodypaths import compile_body_path


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
