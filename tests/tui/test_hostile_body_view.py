"""The TUI's body view draws hostile bodies (issue 10 section 1) instead of failing."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from whdebug.model.request import CapturedRequest
from whdebug.tui.widgets.request_view import render_body


def drawn(body: bytes) -> tuple[str, str | None]:
    request = CapturedRequest(method="POST", path="/miniapps/x/webhooks",
                              headers=[("Content-Type", "application/json")], body=body)
    renderable, note = render_body(request, "pretty")
    buffer = io.StringIO()
    Console(file=buffer, width=100, color_system=None).print(renderable)
    text = buffer.getvalue()
    text.encode("utf-8")  # what the terminal gets must be UTF-8
    return text, note


def test_lone_surrogate_is_drawn_as_its_escape() -> None:
    text, note = drawn(b'{"action":"\\ud800"}')
    assert '"action": "\\ud800"' in text and note is None


@pytest.mark.parametrize("depth", [1100, 5000])
def test_too_deep_for_python_is_shown_raw_and_said(depth: int) -> None:
    text, note = drawn(b'{"x":' + b"[" * depth + b"]" * depth + b"}")
    assert note == "nested too deeply to pretty-print: raw text shown"
    assert text.startswith('{"x":[[[')


def test_invalid_utf8_is_shown_as_node_reads_it() -> None:
    text, note = drawn(b'{"action":"opened","x":"\xff"}')
    assert note == "not UTF-8 at byte 24: shown as Node reads it, with U+FFFD"
    assert '"x": "\ufffd"' in text


def test_utf8_encoded_surrogate_is_three_replacement_characters_as_in_node() -> None:
    text, note = drawn(b'{"x":"\xed\xa0\x80"}')
    assert note == "not UTF-8 at byte 6: shown as Node reads it, with U+FFFD"
    assert '"x": "\ufffd\ufffd\ufffd"' in text
