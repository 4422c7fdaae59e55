"""HAR and capture-JSON files: a wrong value anywhere is a one-line RequestFileError."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cli_support import run
from hypothesis import example, given, settings
from hypothesis import strategies as st

from whdebug.errors import RequestFileError
from whdebug.formats.capture_json import capture_to_json, parse_capture_json
from whdebug.formats.har import format_har, parse_har
from whdebug.model.request import Capture, CapturedRequest, Reply, Source

CAPTURE = Capture(
    CapturedRequest("POST", "/miniapps/acme/webhooks", "a=1",
                    (("Content-Type", "application/json"), ("X-Sig", "abc")), b'{"id": 1}',
                    body_size=9),
    Source(3, None, None, "127.0.0.1:1"),
    Reply(200, b"ok"),
)
HAR = json.loads(format_har([CAPTURE]))
EXPORT = capture_to_json(CAPTURE)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document: each member and item, nested ones too."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    holder = copy
    for part in path[:-1]:
        holder = holder[part]
    holder[path[-1]] = value
    return copy


def _one_line(error: RequestFileError, name: str) -> None:
    assert str(error).startswith(name)
    assert "\n" not in str(error)


class TestLoneSurrogates:
    def test_in_a_capture_header_value_is_one_line(self) -> None:
        data = json.dumps(EXPORT).replace('"abc"', '"a\\ud800c"').encode()
        with pytest.raises(RequestFileError) as caught:
            parse_capture_json(data, "c.json")
        assert str(caught.value) == ("c.json: headers[1][1]: 'a\\ud800c' holds a lone UTF-16 "
                                     "surrogate, which is no text (nor any byte)")

    def test_in_a_har_header_value_is_one_line(self) -> None:
        data = json.dumps(HAR).replace('"abc"', '"\\udc00"').encode()
        with pytest.raises(RequestFileError) as caught:
            parse_har(data, "x.har")
        assert str(caught.value).startswith(
            "x.har: $.log.entries[0].request.headers[1].value: '\\udc00' holds a lone UTF-16")

    def test_replay_says_so_and_exits_2(self, tmp_path: Any) -> None:
        path = tmp_path / "c.json"
        path.write_text(json.dumps(EXPORT).replace('"abc"', '"\\ud800"'))
        definition = tmp_path / "d.json"
        definition.write_text(json.dumps({"ns": "acme", "version": "1.0.0", "webhook": {}}))
        result = run("replay", "--definition", str(definition), "--file", str(path), "--json")
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1 and "lone UTF-16 surrogate" in result.stderr

    def test_a_surrogate_pair_is_text(self) -> None:
        data = json.dumps(EXPORT).replace('"abc"', '"\\ud83d\\ude00"').encode()
        [capture] = parse_capture_json(data, "c.json")
        assert capture.request.headers[1][1] == "😀".encode().decode("latin-1")


class TestWhatJsonAllows:
    """Files `json.loads` reads are read the same: UTF-16, a BOM, NaN where any value goes."""

    def test_utf16_har(self) -> None:
        data = json.dumps(HAR).encode("utf-16")
        [capture] = parse_har(data, "x.har")
        assert capture.request == CAPTURE.request

    def test_bom(self) -> None:
        [capture] = parse_har(b"\xef\xbb\xbf" + json.dumps(HAR).encode(), "x.har")
        assert capture.request == CAPTURE.request

    def test_nan_where_a_count_belongs(self) -> None:
        data = json.dumps(EXPORT).replace('"body_size": 9', '"body_size": NaN').encode()
        with pytest.raises(RequestFileError, match="^c.json: body_size: expected a non-negative"):
            parse_capture_json(data, "c.json")

    def test_broken_text_names_line_and_column(self) -> None:
        with pytest.raises(RequestFileError, match=r"^x\.har:2:1: Expecting value"):
            parse_har(b'{"log":\n}', "x.har")


@settings(max_examples=300, deadline=None)
@given(place=st.sampled_from(_paths(HAR)), value=JSON_VALUES)
@example(place=("log", "entries", 0, "request", "headers"), value=None)
@example(place=("log", "entries", 0, "_whdebug", "capture_id"), value=True)
def test_any_wrong_value_in_a_har_is_a_request_file_error(place: tuple[Any, ...],
                                                           value: Any) -> None:
    data = json.dumps(_replaced(HAR, place, value)).encode()
    try:
        parse_har(data, "x.har")
    except RequestFileError as error:
        _one_line(error, "x.har")


@settings(max_examples=300, deadline=None)
@given(place=st.sampled_from(_paths([EXPORT])), value=JSON_VALUES)
@example(place=(0, "headers", 0), value=["a"])
@example(place=(0, "truncated"), value=None)
def test_any_wrong_value_in_an_export_is_a_request_file_error(place: tuple[Any, ...],
                                                               value: Any) -> None:
    data = json.dumps(_replaced([EXPORT], place, value)).encode()
    try:
        parse_capture_json(data, "c.json")
    except RequestFileError as error:
        _one_line(error, "c.json")
