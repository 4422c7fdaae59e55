"""Event extraction: simple, fallback, composite variants, JavaScript stringification."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from factories import make_definition, make_request, run
from hypothesis import given, settings
from hypothesis import strategies as st

from whdebug.engine._projection import build_projection
from whdebug.engine.paths import MISSING, Body, js_string, parse_body, simple_keys
from whdebug.engine.plan import compile_definition
from whdebug.engine.steps.events import extract_event

COMPOSITE = {
    "source": "header",
    "path": "X-Kind",
    "compositeStrategy": {
        "separator": ".",
        "parts": [{"source": "header", "path": "X-Kind"}, {"source": "body", "path": "$.action"}],
    },
}


def extract(config: dict, request=None, missing_part: str = "empty"):
    request = request or make_request()
    spec = compile_definition(make_definition(eventExtraction=config)).event_extraction
    return extract_event(spec, request, parse_body(request), missing_part)


def test_simple_body_path_without_dollar() -> None:
    result, findings = extract(
        {"source": "body", "path": "data.type"}, make_request({"data": {"type": "deal.won"}})
    )
    assert result.value == "deal.won" and result.strategy == "simple" and not findings


def test_header_lookup_is_case_insensitive() -> None:
    request = make_request(headers=[("x-event-name", "contact.created")])
    result, _ = extract({"source": "header", "path": "X-Event-Name"}, request)
    assert result.value == "contact.created"


def test_repeated_header_joined_like_node() -> None:
    request = make_request(headers=[("X-Event", "a"), ("X-Event", "b")])
    result, _ = extract({"source": "header", "path": "X-Event"}, request)
    assert result.value == "a, b"


def test_query_source() -> None:
    request = make_request(query="topic=orders%2Fcreate&x=1")
    result, _ = extract({"source": "query", "path": "topic"}, request)
    assert result.value == "orders/create"


def test_fallback_used_when_primary_empty() -> None:
    config = {
        "source": "body",
        "path": "$.event",
        "fallback": {"source": "header", "path": "X-Event"},
    }
    request = make_request({"event": ""}, headers=[("X-Event", "deal.won")])
    result, findings = extract(config, request)
    assert result.value == "deal.won" and result.used_fallback
    assert [f.code for f in findings] == ["EVT_FALLBACK_USED"]


def test_not_found_lists_both_locations() -> None:
    config = {
        "source": "body",
        "path": "$.event",
        "fallback": {"source": "header", "path": "X-Event"},
    }
    result, findings = extract(config, make_request({"other": 1}))
    assert result.value is None
    message = next(f.message for f in findings if f.code == "EVT_NOT_FOUND")
    assert "$.event" in message and "X-Event" in message


@pytest.mark.parametrize(
    ("rule", "expected"), [("empty", "push."), ("skip", "push"), ("undefined", "push.undefined")]
)
def test_composite_missing_part_variants(rule: str, expected: str) -> None:
    request = make_request({"ref": "main"}, headers=[("X-Kind", "push")])
    result, findings = extract(COMPOSITE, request, rule)
    assert result.value == expected
    assert result.variants == {"empty": "push.", "skip": "push", "undefined": "push.undefined"}
    assert "EVT_PART_MISSING" in [f.code for f in findings]


def test_composite_null_part_under_template_reads_null() -> None:
    request = make_request({"action": None}, headers=[("X-Kind", "push")])
    result, _ = extract(COMPOSITE, request)
    assert result.variants == {"empty": "push.", "skip": "push", "undefined": "push.null"}


def test_composite_complete() -> None:
    request = make_request({"action": "opened"}, headers=[("X-Kind", "pull_request")])
    result, findings = extract(COMPOSITE, request)
    assert result.value == "pull_request.opened" and not findings


def test_composite_without_separator_uses_js_default_comma() -> None:
    config = {**COMPOSITE, "compositeStrategy": {"parts": COMPOSITE["compositeStrategy"]["parts"]}}
    request = make_request({"action": "opened"}, headers=[("X-Kind", "pull_request")])
    result, findings = extract(config, request)
    assert result.value == "pull_request,opened"
    assert "EVT_NO_SEPARATOR" in [f.code for f in findings]


def test_first_of_many_matches() -> None:
    request = make_request({"events": [{"type": "a"}, {"type": "b"}]})
    result, findings = extract({"source": "body", "path": "$.events[*].type"}, request)
    assert result.value == "a"
    assert "EVT_MULTIPLE_MATCHES" in [f.code for f in findings]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, "1"),
        (1.5, "1.5"),
        (2.0, "2"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        ([1, None, "a"], "1,,a"),
        ({"a": 1}, "[object Object]"),
        (1e21, "1e+21"),
        ([[1, 2], 3], "1,2,3"),
        ("x", "x"),
        (MISSING, "undefined"),
        (820982911946154508, "820982911946154500"),
        (2**53 - 1, "9007199254740991"),
        (1e16, "10000000000000000"),
        (0.00001, "0.00001"),
        (1e-7, "1e-7"),
        (-0.0, "0"),
        (123456789.125, "123456789.125"),
        (1.5e300, "1.5e+300"),
    ],
)
def test_js_string(value: object, expected: str) -> None:
    assert js_string(value) == expected


def test_non_string_event_is_stringified() -> None:
    result, findings = extract({"source": "body", "path": "$.event"}, make_request({"event": 42}))
    assert result.value == "42"
    assert "EVT_NOT_STRING" in [f.code for f in findings]


def test_form_body_parsed_for_diagnosis() -> None:
    request = make_request(
        b"payload=%7B%22type%22%3A%22block_actions%22%7D",
        content_type="application/x-www-form-urlencoded",
    )
    result, _ = extract({"source": "body", "path": "$.payload.type"}, request)
    assert result.value == "block_actions"
    report = run(request, make_definition(verification=None))
    assert "REQ_FORM_BODY" in report.codes()


def test_non_json_body_says_so() -> None:
    request = make_request(b"<xml/>", content_type="application/xml")
    result, findings = extract({"source": "body", "path": "$.event"}, request)
    assert result.value is None
    assert "not JSON" in next(f.message for f in findings if f.code == "EVT_NOT_FOUND")


def test_body_bom_is_accepted_like_body_parser() -> None:
    body = parse_body(make_request(b'\xef\xbb\xbf{"event": "x"}'))
    assert body.kind == "json" and body.find("$.event") == ["x"]


@settings(max_examples=200, deadline=None)
@given(document=st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["a", "b", "c", "d-e"]), children, max_size=4),
    max_leaves=12))
def test_projected_and_full_lookups_agree(document: object) -> None:
    paths = ["$.a", "$.a.b", "$.c", "$.a.b.c", "a.b", "$.d-e", "$.b.a", "$.missing"]
    projection = build_projection(simple_keys(p) for p in paths[:4])
    request = make_request(json.dumps(document).encode())
    projected = parse_body(request, projection)
    full = Body.of("json", document)
    for path in paths:
        assert projected.find(path) == full.find(path), path
    assert projected.document == document


def test_missing_event_extraction_block() -> None:
    report = run(make_request(), make_definition(eventExtraction=None))
    assert report.outcome.status == "no-event" and "EVT_NOT_FOUND" in report.codes()


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(allow_nan=False, allow_infinity=False)
                       | st.integers(min_value=-(2**70), max_value=2**70), min_size=1,
                       max_size=25))
def test_js_string_agrees_with_node(values: list[float | int]) -> None:
    """JSON.parse then String() in Node.js is the oracle for number stringification."""
    text = json.dumps(values)
    script = f"for (const v of JSON.parse({json.dumps(text)})) console.log(String(v))"
    result = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == [js_string(v) for v in json.loads(text)]


def test_composite_memo_tells_apart_what_its_parts_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """One compiled spec, requests that differ only in one part: a string and the number
    that stringifies the same, a repeated header, a header value."""
    import whdebug.engine.steps.events as events

    composed: list[str] = []
    original = events._composed

    def counting(*args):
        event = original(*args)
        composed.append(event.value)
        return event

    monkeypatch.setattr(events, "_composed", counting)
    spec = compile_definition(make_definition(eventExtraction=COMPOSITE)).event_extraction
    projection = build_projection([("action",)])

    def read(request):  # as analyze reads a body: through the plan's projection
        return extract_event(spec, request, parse_body(request, projection))

    as_text = make_request({"action": "1"}, headers=[("X-Kind", "push")])
    as_number = make_request({"action": 1}, headers=[("X-Kind", "push")])
    for request in (as_text, as_number, as_text):
        read(request)
    text_result, text_findings = read(as_text)
    number_result, number_findings = read(as_number)
    assert text_result.value == number_result.value == "push.1"
    assert not text_findings
    assert [f.code for f in number_findings] == ["EVT_NOT_STRING"]
    assert number_result.parts[1].raw_type == "number"
    twice = make_request({"action": "1"}, headers=[("X-Kind", "push"), ("X-Kind", "tag")])
    result, _ = read(twice)
    assert result.value == "push, tag.1"
    other, _ = read(make_request({"action": "1"}, headers=[("X-Kind", "release")]))
    assert other.value == "release.1"
    assert read(as_text)[0].value == "push.1"
    # 1 == True in Python: a memo keyed by raw values would give `true` the event of `1`
    as_true = make_request({"action": True}, headers=[("X-Kind", "push")])
    assert read(as_number)[0].value == "push.1"
    assert read(as_true)[0].value == "push.true"
    before = len(composed)
    assert read(as_text)[0].value == "push.1" and len(composed) == before  # remembered
    assert read(as_true)[0].value == "push.true" and len(composed) == before + 1
