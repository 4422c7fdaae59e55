"""HAR 1.2 import and export."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whdebug.errors import RequestFileError
from whdebug.formats.har import format_har, parse_har, read_har_lazily, split_url
from whdebug.model.request import Capture, CapturedRequest, Reply, Source


def make_request(*, capture_id: int | None = None, received_at: datetime | None = None,
                 client: str | None = None, reply: Reply | None = None,
                 **overrides: Any) -> Capture:
    fields: dict[str, Any] = {
        "method": "POST",
        "path": "/miniapps/github/webhooks",
        "headers": (("Host", "127.0.0.1:8787"), ("Content-Type", "application/json")),
        "body": b'{"action":"opened"}',
    }
    fields.update(overrides)
    return Capture(CapturedRequest(**fields), Source(capture_id, None, received_at, client),
                   reply)


def har_document(*entries: dict[str, Any]) -> bytes:
    return json.dumps({"log": {"version": "1.2", "entries": list(entries)}}).encode()


def har_entry(**request: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "method": "POST",
        "url": "https://hooks.example.com/miniapps/shop/webhooks?topic=a%2Fb&x=1+2",
        "httpVersion": "HTTP/1.1",
        "headers": [],
    }
    base.update(request)
    return {"startedDateTime": "2024-03-01T10:00:00.250+01:00", "request": base}


class TestParseHar:
    def test_browser_style_entry(self) -> None:
        entry = har_entry(
            headers=[
                {"name": "Host", "value": "hooks.example.com"},
                {"name": "X-Tag", "value": "one"},
                {"name": "x-tag", "value": "two"},
            ],
            postData={"mimeType": "application/json", "text": '{"name":"café"}'},
        )
        entry["response"] = {"status": 202, "content": {"size": 2, "text": "ok"}}
        [capture] = parse_har(har_document(entry), "x.har")
        request = capture.request
        assert request.method == "POST"
        assert request.path == "/miniapps/shop/webhooks"
        assert request.query == "topic=a%2Fb&x=1+2"
        assert request.headers == (
            ("Host", "hooks.example.com"),
            ("X-Tag", "one"),
            ("x-tag", "two"),
        )
        assert request.body == '{"name":"café"}'.encode()
        assert request.body_size == len(request.body)
        assert capture.source.received_at == datetime(2024, 3, 1, 9, 0, 0, 250000, tzinfo=UTC)
        assert request.http_version == "1.1"
        assert capture.reply == Reply(202, b"ok")
        assert capture.source.file == "x.har"

    def test_base64_body_is_exact(self) -> None:
        body = b"\x00\xff\r\n\xc3("
        entry = har_entry(postData={"text": base64.b64encode(body).decode(), "encoding": "base64"})
        assert parse_har(har_document(entry))[0].request.body == body

    def test_http2_pseudo_headers_dropped(self) -> None:
        entry = har_entry(
            httpVersion="h2",
            headers=[{"name": ":authority", "value": "x"}, {"name": "a", "value": "1"}],
        )
        [capture] = parse_har(har_document(entry))
        assert capture.request.headers == (("a", "1"),)
        assert capture.request.http_version == "2"

    def test_non_latin1_header_text_becomes_utf8_bytes(self) -> None:
        entry = har_entry(headers=[{"name": "X-Name", "value": "€"}])
        [capture] = parse_har(har_document(entry))
        assert capture.request.headers[0][1].encode("latin-1") == "€".encode()

    def test_no_post_data_and_no_response(self) -> None:
        entry = har_entry(method="GET", url="/ping")
        entry["response"] = {"status": 0, "content": {"size": 0}}
        [capture] = parse_har(har_document(entry))
        assert (capture.request.body, capture.reply) == (b"", None)

    def test_several_entries_in_order(self) -> None:
        entries = [har_entry(url=f"/n/{n}") for n in range(3)]
        paths = [capture.request.path for capture in parse_har(har_document(*entries))]
        assert paths == ["/n/0", "/n/1", "/n/2"]

    @pytest.mark.parametrize(
        ("data", "words"),
        [
            (b"{not json", "x.har:1:2: "),
            (b"[]", "x.har: $: expected an object"),
            (b"{}", "$.log: missing (not a HAR file)"),
            (b'{"log": {"entries": {}}}', "$.log.entries: expected a list"),
            (har_document({"request": {"url": "/"}}), "entries[0].request.method: missing"),
            (har_document(har_entry(url="no-slash")), "request.url: expected an absolute URL"),
            (
                har_document(har_entry(postData={"text": "!!", "encoding": "base64"})),
                "postData.text: invalid base64",
            ),
            (
                har_document(har_entry(postData={"text": "x", "encoding": "gzip"})),
                "postData.encoding: unsupported 'gzip'",
            ),
            (
                har_document(har_entry(postData={"params": [{"name": "a"}]})),
                "postData.params: form params without 'text'",
            ),
            (
                har_document(har_entry(headers=[{"value": "x"}])),
                "request.headers[0].name: missing",
            ),
            (har_document({**har_entry(), "startedDateTime": "noon"}), "startedDateTime"),
        ],
    )
    def test_bad_har(self, data: bytes, words: str) -> None:
        with pytest.raises(RequestFileError) as caught:
            parse_har(data, "x.har")
        assert str(caught.value).startswith("x.har")
        assert words in str(caught.value)


class TestLazyEntries:
    """`read_har_lazily` decodes a base64 postData's text with the entry itself: only when
    the entry says base64; any other text stays the text it is."""

    def test_base64_text_is_decoded_only_when_the_entry_says_base64(self) -> None:
        body = b"\x00\xff\r\n\xc3("
        looks_base64 = base64.b64encode(b"plain").decode()  # "cGxhaW4=": valid base64
        entries = [
            har_entry(postData={"text": base64.b64encode(body).decode(), "encoding": "base64"}),
            har_entry(postData={"text": looks_base64}),
            har_entry(postData={"text": looks_base64, "encoding": ""}),
            har_entry(postData={"text": '{"name":"café"}'}),
            har_entry(method="GET", url="/ping"),
            har_entry(postData={"mimeType": "application/json"}),
        ]
        lazily = read_har_lazily(har_document(*entries), "x.har")
        bodies = [lazily[index].request.body for index in range(len(entries))]
        assert bodies == [body, looks_base64.encode(), looks_base64.encode(),
                          '{"name":"café"}'.encode(), b"", b""]
        assert list(lazily) == parse_har(har_document(*entries), "x.har")

    def test_entries_with_only_a_status_get_their_own_status(self) -> None:
        """A reply of which only the status is known is one object per status: an entry
        with another status, or with a body, gets its own."""
        entries = [har_entry() for _ in range(4)]
        for entry, status in zip(entries, (200, 404, 200, 0), strict=True):
            entry["response"] = {"status": status, "content": {"size": 0}}
        with_body = har_entry()
        with_body["response"] = {"status": 200, "content": {"size": 2, "text": "ok"}}
        lazily = read_har_lazily(har_document(*entries, with_body), "x.har")
        replies = [lazily[index].reply for index in range(5)]
        assert replies == [Reply(200), Reply(404), Reply(200), None, Reply(200, b"ok")]
        assert list(lazily) == parse_har(har_document(*entries, with_body), "x.har")

    @pytest.mark.parametrize(
        ("post_data", "words"),
        [
            ({"text": "!!", "encoding": "base64"}, "postData.text: invalid base64"),
            ({"text": "cGxhaW4=", "encoding": "gzip"}, "postData.encoding: unsupported 'gzip'"),
            ({"params": [{"name": "a"}], "encoding": "base64"},
             "postData.params: form params without 'text'"),
        ],
    )
    def test_a_bad_post_data_says_what_parse_har_says(self, post_data: dict[str, Any],
                                                      words: str) -> None:
        lazily = read_har_lazily(har_document(har_entry(), har_entry(postData=post_data)),
                                 "x.har")
        assert lazily[0].request.body == b""
        with pytest.raises(RequestFileError) as caught:
            lazily[1]
        assert str(caught.value).startswith("x.har: $.log.entries[1].request.")
        assert words in str(caught.value)


class TestSplitUrl:
    @pytest.mark.parametrize(
        ("url", "parts"),
        [
            ("http://h/a?b=%20", ("/a", "b=%20")),
            ("https://user@h:1?x", ("/", "x")),
            ("http://h", ("/", "")),
            ("/p?q?r", ("/p", "q?r")),
            ("/p%3Fq", ("/p%3Fq", "")),
        ],
    )
    def test_raw(self, url: str, parts: tuple[str, str]) -> None:
        assert split_url(url) == parts


class TestFormatHar:
    def test_shape(self) -> None:
        request = make_request(
            query="a=1",
            capture_id=7,
            truncated=True,
            body_size=999,
            reply=Reply(413),
            received_at=datetime(2024, 1, 1, tzinfo=UTC),
        )
        document = json.loads(format_har([request]))
        assert document["log"]["version"] == "1.2"
        [entry] = document["log"]["entries"]
        assert entry["startedDateTime"] == "2024-01-01T00:00:00.000000Z"
        assert entry["request"]["url"] == "http://127.0.0.1:8787/miniapps/github/webhooks?a=1"
        assert entry["request"]["postData"]["encoding"] == "base64"
        assert base64.b64decode(entry["request"]["postData"]["text"]) == request.request.body
        assert entry["request"]["queryString"] == [{"name": "a", "value": "1"}]
        assert entry["response"]["status"] == 413
        assert entry["_whdebug"] == {
            "capture_id": 7,
            "truncated": True,
            "body_size": 999,
            "client": None,
        }

    def test_round_trip_keeps_everything(self) -> None:
        request = make_request(
            query="q=%2F+x",
            headers=(("Host", "h"), ("A", "1"), ("a", "\xff\x00")),
            body=b"\x00\xff\r\n",
            http_version="1.0",
            body_size=100,
            truncated=True,
            received_at=datetime(2024, 5, 1, 1, 2, 3, 456789, tzinfo=UTC),
            client="10.0.0.1:1",
            capture_id=3,
            reply=Reply(200, b'{"ok": true}'),
        )
        [again] = parse_har(format_har([request]), "r.har")
        assert again == dataclasses.replace(
            request, source=dataclasses.replace(request.source, file="r.har"))

    def test_hostile_host_does_not_shift_the_path(self) -> None:
        request = make_request(headers=(("Host", "evil/x?y"),), query="q=1")
        document = json.loads(format_har([request]))
        assert document["log"]["entries"][0]["request"]["url"].startswith("http://localhost/")
        [again] = parse_har(format_har([request]))
        assert (again.request.path, again.request.query, again.request.headers) == (
            request.request.path, "q=1", request.request.headers)

    @given(
        body=st.binary(max_size=200),
        values=st.lists(st.text(st.characters(codec="latin-1"), max_size=20), max_size=5),
        query=st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=20),
    )
    def test_round_trip_bytes(self, body: bytes, values: list[str], query: str) -> None:
        headers = (("Host", "h"),) + tuple(("X-V", value) for value in values)
        request = make_request(body=body, headers=headers, query=query)
        [again] = parse_har(format_har([request]))
        assert again.request.body == body
        assert again.request.headers == headers
        assert (again.request.path, again.request.query) == (request.request.path, query)
