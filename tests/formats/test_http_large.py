"""Reading a `.http` file apart from its head gives the request parsing the whole file gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from whdebug.errors import RequestFileError
from whdebug.formats.http import _HEAD_READ, parse_http, read_http
from whdebug.formats.read import read_file


def _file(tmp_path: Path, head: bytes, body: bytes) -> Path:
    path = tmp_path / "big.http"
    path.write_bytes(head + body)
    return path


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"])
def test_large_body_read_apart_is_the_same_request(tmp_path: Path, newline: bytes) -> None:
    head = newline.join([b"# a comment", b"POST /hooks?x=1 HTTP/1.1", b"X-A:  1 ",
                         b"Content-Type: application/json", b"", b""])
    body = b'{"a":"' + b"\r\n\xff" * (_HEAD_READ // 2) + b'"}' + newline
    path = _file(tmp_path, head, body)
    request = read_http(path)
    assert request == parse_http(path.read_bytes(), str(path))
    assert type(request.body) is bytes and request.body == body
    assert request.headers == (("X-A", "1"), ("Content-Type", "application/json"))
    assert read_file(path).captures[0].request == request


@pytest.mark.parametrize("head_size", [_HEAD_READ - 1, _HEAD_READ, _HEAD_READ + 1,
                                       _HEAD_READ + 40])
def test_a_head_across_the_first_read_is_read_whole(tmp_path: Path, head_size: int) -> None:
    start = b"POST /hooks HTTP/1.1\r\nX-Pad: "
    pad = b"p" * (head_size - len(start) - 4)
    path = _file(tmp_path, start + pad + b"\r\n\r\n", b"x" * 100)
    request = read_http(path)
    assert request == parse_http(path.read_bytes(), str(path))
    assert request.body == b"x" * 100 and request.headers[0][1] == pad.decode()


def test_a_bad_head_in_a_large_file_is_the_same_message(tmp_path: Path) -> None:
    path = _file(tmp_path, b"POST /hooks HTTP/1.1\r\nno colon here\r\n\r\n", b"x" * _HEAD_READ)
    with pytest.raises(RequestFileError, match="header line without ':'"):
        read_http(path)
    with pytest.raises(RequestFileError, match="not found"):
        read_http(tmp_path / "missing.http")


def test_a_large_file_with_separator_lines_is_every_request(tmp_path: Path) -> None:
    from whdebug.formats.http import parse_http_file

    first = b"POST /one HTTP/1.1\r\nContent-Type: text/plain\r\n\r\n" + b"a" * _HEAD_READ
    path = _file(tmp_path, first + b"\r\n###\r\n", b"POST /two HTTP/1.1\r\n\r\nb\r\n")
    captures = read_file(path).captures
    assert [c.request for c in captures] == parse_http_file(path.read_bytes(), str(path))
    assert [c.request.path for c in captures] == ["/one", "/two"]
    assert captures[0].request.body == b"a" * _HEAD_READ
