"""Hostile bodies at the engine level: Body reads them as Node does, or says it cannot."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from whdebug.engine import bodytext
from whdebug.engine._projection import build_projection
from whdebug.engine.bodypaths import compile_body_path
from whdebug.engine.paths import Body, js_join, js_string


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 1 << 20])
@pytest.mark.parametrize("raw", [
    b'{"x":"\xff"}', "aé€𝄞".encode() + b"\xff", "€€".encode() + b"\xe2\x28",
    b"ab\xe2\x82", b"\xed\xa0\x80", "plain é text".encode(), b"ascii",
])
def test_first_invalid_utf8_matches_python_at_any_chunking(
        monkeypatch: pytest.MonkeyPatch, raw: bytes, chunk: int) -> None:
    monkeypatch.setattr(bodytext, "_CHUNK", chunk)
    try:
        raw.decode("utf-8")
        expected = None
    except UnicodeDecodeError as error:
        expected = error.start
    assert bodytext.first_invalid_utf8(raw) == expected


def test_nesting_skips_brackets_inside_strings() -> None:
    found = bodytext.nesting(b'{"a":"[[[\\"[", "b":[[{}]]}')
    assert (found.depth, found.complete, found.words) == (4, True, "4 levels deep")


def test_nesting_of_a_huge_body_is_a_lower_bound_and_fast() -> None:
    raw = b"[" * (6 << 20) + b"]" * (6 << 20)
    found = bodytext.nesting(raw)
    assert found.depth == bodytext.NESTING_SCAN_LIMIT and not found.complete
    assert found.words == f"at least {bodytext.NESTING_SCAN_LIMIT} levels deep (in its first 4 MiB)"


def test_bad_utf8_through_a_projection_then_the_whole_document() -> None:
    """paths.py used json.loads(raw) for the whole document after a projection: it raised."""
    raw = b'{"action":"opened","x":"\xff"}'
    body = Body(raw, "application/json", build_projection([("action",)]))
    assert body.select(compile_body_path("$.action")) == ["opened"]
    assert body.document == {"action": "opened", "x": "\ufffd"}
    assert body.invalid_utf8_at == 24 and body.kind == "json"


def test_lone_surrogate_is_kept_and_located() -> None:
    body = Body(b'{"data":{"name":"L\\ud83d"}}', "application/json")
    assert body.find("$.data.name") == ["L\ud83d"]
    assert body.lone_surrogate == ("$.data.name", "L\ud83d")


def test_too_deep_body_is_invalid_with_its_depth() -> None:
    raw = b'{"a":' + b"[" * 1200 + b"]" * 1200 + b"}"
    body = Body(raw, "application/json", build_projection([("a",)]))
    assert body.kind == "invalid"
    assert body.nesting is not None and body.nesting.depth == 1201
    assert body.error is not None and "nested 1201 levels deep" in body.error
    assert body.find("$.a") == []


def test_js_join_of_nested_arrays_is_javascripts() -> None:
    # node: String([1,[2,[3,null]],null,[undefined]]) and ["a",[1,2],null,"b"].join(".")
    assert js_string([1, [2, [3, None]], None, [None]]) == "1,2,3,,,"
    assert js_join(["a", [1, 2], None, "b"], ".") == "a.1,2..b"
    deep: list[object] = []
    for _ in range(50_000):
        deep = [deep]
    assert js_string([1, deep, 2]) == "1,,2"


NODE_CASES = [b'{"x":"\xff"}', b'{"x":"\xed\xa0\x80"}', b'{"x":"\xe2\x82"}', b'{"x":"\xc3"}',
              b'{"x":"\xf0\x9f\x98"}', b'{"x":"a\x80b\xc0\xafc"}', b'{"x":"\xf4\x90\x80\x80"}']


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node on PATH")
def test_node_reads_bad_utf8_and_surrogates_as_whdebug_says() -> None:
    """Checked against Node itself: Buffer.toString('utf8') then JSON.parse for bad bytes,
    JSON.parse keeping a lone surrogate, TextEncoder writing it as U+FFFD, and deep nesting."""
    script = """
    const cases = JSON.parse(process.argv[1]).map(h => Buffer.from(h, "hex"));
    const bad = cases.map(b => JSON.parse(b.toString("utf8")).x);
    const lone = JSON.parse('{"a":"\\\\ud800"}').a;
    const deep = JSON.parse("[".repeat(100000) + "]".repeat(100000));
    console.log(JSON.stringify({bad, lone: [lone.length, lone.charCodeAt(0)],
      encoded: Buffer.from(new TextEncoder().encode(lone)).toString("hex"),
      deep: Array.isArray(deep)}));
    """
    output = subprocess.run(["node", "-e", script, json.dumps([c.hex() for c in NODE_CASES])],
                            capture_output=True, text=True, timeout=30, check=True).stdout
    node = json.loads(output)
    assert node["bad"] == [Body(case, "application/json").document["x"] for case in NODE_CASES]
    assert node["lone"] == [1, 0xD800] and node["encoded"] == "efbfbd"
    assert node["deep"] is True  # V8 parses what whdebug reports as REQ_BODY_TOO_DEEP
