"""The .http raw request format, the JSON capture export, and reading request files."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whdebug.errors import RequestFileError
from whdebug.formats.capture_json import (
    capture_from_json,
    capture_to_json,
    format_timestamp,
    parse_capture_json,
    parse_timestamp,
)
from whdebug.formats.har import format_har
from whdebug.formats.http import format_http, parse_http, read_http
from whdebug.formats.read import read_request_file
from whdebug.model.request import Capture, CapturedRequest, ForwardResult, Reply, Source


def make_request(**overrides: Any) -> CapturedRequest:
    fields: dict[str, Any] = {
        "method": "POST",
        "path": "/miniapps/github/webhooks",
        "query": "",
        "headers": (("Host", "127.0.0.1:8787"), ("Content-Type", "application/json")),
        "body": b'{"action":"opened"}',
    }
    fields.update(overrides)
    return CapturedRequest(**fields)


def wire(request: CapturedRequest) -> tuple[object, ...]:
    """What a round trip must keep."""
    return (request.method, request.path, request.query, request.headers, request.body)


TOKEN = st.text(
    alphabet="!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    min_size=1,
    max_size=20,
)
HEADER_VALUE = st.text(
    alphabet=st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=40
).map(lambda value: value.strip(" \t"))
TARGET_CHAR = st.characters(codec="latin-1", exclude_characters=" \t\n\r\x0b\x0c")
REQUESTS = st.builds(
    CapturedRequest,
    method=st.one_of(st.sampled_from(["GET", "POST", "PUT", "DELETE"]), TOKEN).filter(
        lambda method: not method.startswith("#")
    ),
    path=st.text(alphabet=TARGET_CHAR.filter(lambda char: char != "?"), max_size=30).map(
        lambda rest: "/" + rest
    ),
    query=st.text(alphabet=TARGET_CHAR, max_size=30),
    headers=st.lists(st.tuples(TOKEN, HEADER_VALUE), max_size=8).map(tuple),
    body=st.binary(max_size=300)
    | st.sampled_from([b"", b"\r\n", b"\n", b"\r\n\r\n", b"\x00", b"\xff\xfe", b"a\r\nb\n"]),
    http_version=st.sampled_from(["1.0", "1.1", "2"]),
)


class TestParseHttp:
    def test_crlf_file(self) -> None:
        data = b'POST /hook?a=1&b=%20 HTTP/1.1\r\nHost: x\r\nX-Sig: abc\r\n\r\n{"a":1}\r\n'
        request = parse_http(data, "r.http")
        assert request.method == "POST"
        assert request.path == "/hook"
        assert request.query == "a=1&b=%20"
        assert request.headers == (("Host", "x"), ("X-Sig", "abc"))
        assert request.body == b'{"a":1}\r\n'
        assert request.body_size == len(request.body)
        assert request.http_version == "1.1"

    def test_lf_file_keeps_every_body_byte(self) -> None:
        data = b"POST /hook HTTP/1.1\nHost: x\n\n\nline one\n\n"
        assert parse_http(data).body == b"\nline one\n\n"

    def test_body_with_crlf_nul_and_invalid_utf8(self) -> None:
        body = b"\x00\xff\xfe\r\n\r\nnot utf-8 \xc3\x28"
        assert parse_http(b"POST / HTTP/1.1\r\n\r\n" + body).body == body

    def test_no_blank_line_means_empty_body(self) -> None:
        request = parse_http(b"GET /ping HTTP/1.1\r\nHost: x")
        assert request.headers == (("Host", "x"),)
        assert request.body == b""

    def test_no_headers(self) -> None:
        request = parse_http(b"POST / HTTP/1.1\r\n\r\nbody")
        assert request.headers == ()
        assert request.body == b"body"

    def test_duplicate_headers_kept_in_order(self) -> None:
        data = b"POST / HTTP/1.1\r\nA: 1\r\nB: 2\r\na: 3\r\nA: 4\r\n\r\n"
        request = parse_http(data)
        assert request.headers == (("A", "1"), ("B", "2"), ("a", "3"), ("A", "4"))
        assert request.header("a") == "1, 3, 4"

    def test_header_values_lose_surrounding_blanks_and_keep_colons(self) -> None:
        request = parse_http(b"GET / HTTP/1.1\r\nX-Url:  \thttp://a:1/b \t\r\nX-Empty:\r\n\r\n")
        assert request.headers == (("X-Url", "http://a:1/b"), ("X-Empty", ""))

    def test_latin1_header_bytes_are_lossless(self) -> None:
        request = parse_http(b"GET / HTTP/1.1\r\nX-Raw: caf\xc3\xa9 \xff\r\n\r\n")
        assert request.headers[0][1].encode("latin-1") == b"caf\xc3\xa9 \xff"

    def test_missing_version_defaults_to_1_1(self) -> None:
        request = parse_http(b"GET /x?y\r\n\r\n")
        assert (request.http_version, request.path, request.query) == ("1.1", "/x", "y")

    @pytest.mark.parametrize(("text", "version"), [(b"HTTP/1.0", "1.0"), (b"http/2", "2")])
    def test_version(self, text: bytes, version: str) -> None:
        assert parse_http(b"GET / " + text + b"\r\n\r\n").http_version == version

    def test_comments_blank_lines_and_bom_before_request_line(self) -> None:
        data = (
            b"\xef\xbb\xbf\n# saved from GitHub\r\n// another comment\n   \n"
            b"POST /h HTTP/1.1\nA: 1\n\nx"
        )
        request = parse_http(data)
        assert (request.method, request.path, request.headers, request.body) == (
            "POST",
            "/h",
            (("A", "1"),),
            b"x",
        )

    def test_absolute_url_target(self) -> None:
        request = parse_http(b"POST https://example.com:8443/a/b?c=d HTTP/1.1\r\n\r\n")
        assert (request.path, request.query) == ("/a/b", "c=d")
        assert parse_http(b"GET http://example.com\r\n\r\n").path == "/"

    def test_percent_encoding_untouched(self) -> None:
        request = parse_http(b"GET /a%2Fb%20c?x=%2B+y HTTP/1.1\r\n\r\n")
        assert (request.path, request.query) == ("/a%2Fb%20c", "x=%2B+y")

    @pytest.mark.parametrize(
        ("data", "location", "words"),
        [
            (b"", "r.http:1", "no request line"),
            (b"# only a comment\n\n", "r.http:2", "no request line"),
            (b"POST\r\n\r\n", "r.http:1", "expected 'METHOD /path HTTP/1.1'"),
            (b"POST / HTTP/1.1 extra\r\n\r\n", "r.http:1", "expected"),
            (b"POST / HTTX/1.1\r\n\r\n", "r.http:1", "invalid HTTP version"),
            (b"P(ST / HTTP/1.1\r\n\r\n", "r.http:1", "invalid method"),
            (b"\n\nPOST / HTTP/1.1\r\nHost x\r\n\r\n", "r.http:4", "without ':'"),
            (b"POST / HTTP/1.1\r\nBad Name: x\r\n\r\n", "r.http:2", "invalid header name"),
            (b"POST / HTTP/1.1\r\n: x\r\n\r\n", "r.http:2", "invalid header name"),
            (b"POST / HTTP/1.1\r\nA: 1\r\n  folded\r\n\r\n", "r.http:3", "continuation"),
        ],
    )
    def test_malformed(self, data: bytes, location: str, words: str) -> None:
        with pytest.raises(RequestFileError) as caught:
            parse_http(data, "r.http")
        message = str(caught.value)
        assert message.startswith(location + ": ")
        assert words in message
        assert "\n" not in message


class TestFormatHttp:
    def test_exact_bytes(self) -> None:
        request = make_request(query="a=1", headers=(("Host", "x"), ("A", "1"), ("A", "2")))
        assert format_http(request) == (
            b"POST /miniapps/github/webhooks?a=1 HTTP/1.1\r\n"
            b"Host: x\r\nA: 1\r\nA: 2\r\n\r\n"
            b'{"action":"opened"}'
        )

    def test_body_trailing_newlines_untouched(self) -> None:
        assert format_http(make_request(headers=(), body=b"\n\r\n")).endswith(b"\r\n\r\n\n\r\n")

    @given(REQUESTS)
    def test_round_trip(self, request: CapturedRequest) -> None:
        data = format_http(request)
        again = parse_http(data)
        assert wire(again) == wire(request)
        assert again.body == request.body
        assert again.http_version == request.http_version
        assert format_http(again) == data

    @pytest.mark.parametrize(
        "overrides",
        [
            {"headers": (("X", "a\r\nInjected: 1"),)},
            {"headers": (("X", " padded"),)},
            {"headers": (("Bad Name", "x"),)},
            {"headers": (("X", "€"),)},
            {"method": "PO ST"},
            {"path": "/a b"},
            {"http_version": "one"},
        ],
    )
    def test_refuses_what_cannot_round_trip(self, overrides: dict[str, Any]) -> None:
        with pytest.raises(RequestFileError, match="cannot write as .http"):
            format_http(make_request(**overrides))


class TestReadHttp:
    def test_reads_file(self, tmp_path: Path) -> None:
        path = tmp_path / "push.http"
        path.write_bytes(b"POST /h HTTP/1.1\r\nA: 1\r\n\r\n{}\n")
        request = read_http(path)
        assert request.body == b"{}\n"
        [capture] = read_request_file(path)
        assert (capture.request, capture.source) == (request, Source(file=str(path)))

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(RequestFileError, match="not found") as caught:
            read_http(tmp_path / "nope.http")
        assert caught.value.where == str(tmp_path / "nope.http")

    def test_directory(self, tmp_path: Path) -> None:
        with pytest.raises(RequestFileError, match="directory"):
            read_http(tmp_path)


class TestCaptureJson:
    def full_capture(self) -> Capture:
        return Capture(
            make_request(
                query="x=1",
                headers=(("A", "1"), ("A", "\xff raw"), ("Host", "h")),
                body=b"\x00\xff\r\n",
                http_version="1.0",
                body_size=10,
                truncated=True,
            ),
            Source(12, None, datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC),
                   "127.0.0.1:5555"),
            Reply(413, b'{"error":"too large"}'),
            ForwardResult(202, b""),
        )

    def test_fields(self) -> None:
        obj = capture_to_json(self.full_capture())
        assert obj["received_at"] == "2024-05-01T12:00:00.123456Z"
        assert obj["headers"] == [["A", "1"], ["A", "\xff raw"], ["Host", "h"]]
        assert obj["body_base64"] == "AP8NCg=="
        assert obj["body_size"] == 10
        assert obj["forward_body_base64"] == ""
        assert obj["body_sha256"] == self.full_capture().request.body_sha256
        for key in ("id", "client", "method", "path", "query", "http_version", "truncated"):
            assert key in obj

    def test_round_trip_through_json_text(self) -> None:
        original = self.full_capture()
        text = json.dumps(capture_to_json(original))
        [again] = parse_capture_json(text.encode(), "c.json")
        assert again == dataclasses.replace(
            original, source=dataclasses.replace(original.source, file="c.json"))

    def test_absent_is_not_empty(self) -> None:
        again = capture_from_json(capture_to_json(Capture(make_request())), "c.json")
        assert again.reply is None
        assert again.forward is None
        assert again.source.received_at is None

    def test_list_of_captures(self) -> None:
        data = json.dumps([capture_to_json(Capture(make_request(), Source(capture_id=n)))
                           for n in (1, 2)])
        assert [c.source.capture_id for c in parse_capture_json(data.encode())] == [1, 2]

    @pytest.mark.parametrize(
        ("change", "words"),
        [
            ({"method": None}, "method: missing"),
            ({"headers": [["A"]]}, "headers[0]: expected a [name, value] pair"),
            ({"body_base64": "not base64!"}, "body_base64: invalid base64"),
            ({"body_sha256": "0" * 64}, "body_sha256: does not match"),
            ({"truncated": "yes"}, "truncated: expected true or false"),
            ({"response_status": "200"}, "response_status: expected a non-negative integer"),
            ({"received_at": "yesterday"}, "received_at: not an ISO 8601 timestamp"),
            ({"schema": "whdebug.capture/9"}, "schema: unsupported"),
            ({"body_size": 1}, "body_size: 1 is smaller than the body"),
        ],
    )
    def test_validation(self, change: dict[str, Any], words: str) -> None:
        obj = {**capture_to_json(Capture(make_request())), **change}
        with pytest.raises(RequestFileError) as caught:
            capture_from_json(obj, "c.json")
        assert str(caught.value).startswith("c.json: ")
        assert words in str(caught.value)

    def test_bad_json_names_line_and_column(self) -> None:
        with pytest.raises(RequestFileError, match=r"^c\.json:2:2: Extra data"):
            parse_capture_json(b"{\n}x", "c.json")

    def test_timestamps(self) -> None:
        moment = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=2)))
        assert format_timestamp(moment) == "2024-01-02T01:04:05.000006Z"
        assert parse_timestamp("2024-01-02T01:04:05.000006Z") == moment
        assert parse_timestamp("2024-01-02T01:04:05").tzinfo == UTC


class TestReadRequestFile:
    def test_http(self, tmp_path: Path) -> None:
        path = tmp_path / "a.http"
        path.write_bytes(format_http(make_request()))
        [capture] = read_request_file(path)
        assert wire(capture.request) == wire(make_request())

    def test_har(self, tmp_path: Path) -> None:
        path = tmp_path / "a.har"
        path.write_bytes(format_har([Capture(make_request()), Capture(make_request(body=b"\xff"))]))
        bodies = [capture.request.body for capture in read_request_file(path)]
        assert bodies == [make_request().body, b"\xff"]

    def test_json_export(self, tmp_path: Path) -> None:
        path = tmp_path / "a.json"
        path.write_text(json.dumps(capture_to_json(Capture(make_request(body=b"\x00")))))
        [capture] = read_request_file(path)
        assert capture.request.body == b"\x00"
        assert capture.source.file == str(path)

    def test_har_saved_as_json(self, tmp_path: Path) -> None:
        path = tmp_path / "a.json"
        path.write_bytes(format_har([Capture(make_request())]))
        assert len(read_request_file(path)) == 1

    def test_unknown_extension(self, tmp_path: Path) -> None:
        path = tmp_path / "a.txt"
        path.write_bytes(b"GET / HTTP/1.1\r\n\r\n")
        with pytest.raises(RequestFileError, match="unknown request file type '.txt'"):
            read_request_file(path)

    def test_missing(self, tmp_path: Path) -> None:
        with pytest.raises(RequestFileError, match="not found"):
            read_request_file(tmp_path / "gone.har")

