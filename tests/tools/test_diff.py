"""`whdebug diff`: the JSON-aware body diff on the re-serialisations the engine knows, header
alignment, byte hunks, and the CLI (exit status, --json, masks)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_support import run
from hypothesis import given, settings
from hypothesis import strategies as st
from paths import FIXTURES

from whdebug.engine.analyze import analyze
from whdebug.formats.http import format_http
from whdebug.formats.read import read_requests
from whdebug.model.definition import load_definition
from whdebug.model.request import CapturedRequest, Secrets
from whdebug.tools.diff import byte_hunks, diff_headers, diff_requests
from whdebug.tools.jsontokens import NotJson, parse_raw

REQUESTS = FIXTURES / "requests"
NOW = datetime(2025, 11, 24, 16, 0, 5, tzinfo=UTC)
SHOPIFY_SECRET = "fixture-shopify-shared-secret"


def _request(name: str) -> CapturedRequest:
    return read_requests([str(REQUESTS / name)])[0].request


def _with_body(request: CapturedRequest, body: bytes) -> CapturedRequest:
    return dataclasses.replace(request, body=body, body_size=len(body))


def _shopify_original() -> CapturedRequest:
    """The body Shopify signed: its Ruby escapes (\\/, \\u0026, \\u003c, \\u003e) put back."""
    sent = _request("sig-shopify-escapes-lost.http")
    text = sent.body.decode()
    for char, escape in (("/", "\\/"), ("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escape)
    return _with_body(sent, text.encode())


def test_raw_reader_keeps_tokens_and_refuses_non_json() -> None:
    node = parse_raw('{"a":1.0,"b":"x\\/y","a":2}')
    assert node.keys() == ["a", "b"]
    assert node.members[0][1].raw == "2"  # JSON.parse: the last value, in the first place
    assert node.members[1][1].raw == '"x\\/y"' and node.members[1][1].value == "x/y"
    for bad in ('{"a":1', "{'a':1}", '{"a":1} x', "[" * 300 + "]" * 300):
        with pytest.raises(NotJson):
            parse_raw(bad)


def test_shopify_escapes_lost_are_escape_changes_and_the_original_verifies() -> None:
    original, sent = _shopify_original(), _request("sig-shopify-escapes-lost.http")
    definition = load_definition(FIXTURES / "definitions" / "shopify.json")
    secrets = Secrets(credentials={"webhookSecret": SHOPIFY_SECRET})
    reports = (analyze(original, definition, secrets, now=NOW),
               analyze(sent, definition, secrets, now=NOW))
    assert reports[0].signature.verdict == "pass"  # the reconstruction is what was signed
    diff = diff_requests(original, sent, reports=reports)
    assert not diff.same and diff.body_kind == "json"
    kinds = {change.path: change.kind for change in diff.body_changes}
    assert kinds == {"$.admin_graphql_api_id": "escape", "$.order_status_url": "escape",
                     "$.note": "escape"}
    note = next(c.note for c in diff.body_changes if c.path == "$.order_status_url")
    assert "\\/" in note and "\\u0026" in note
    rows = {row.name: row for row in diff.pipeline}
    assert (rows["verify"].a, rows["verify"].b) == ("pass", "fail")
    assert (rows["answer"].a, rows["answer"].b) == ("200", "401")
    assert diff.findings_only_b == ["SIG_BODY_MODIFIED"]
    assert not diff.pipeline_same


def test_sorted_keys_are_key_order_changes_at_each_object() -> None:
    diff = diff_requests(_request("sig-sorted-keys.http"), _request("acme-contact-created.http"))
    orders = [(c.path, c.kind) for c in diff.body_changes]
    assert orders == [("$", "key-order"), ("$.data.contact", "key-order")]
    assert diff.body_changes[0].a == "data, delivery_id, event"


def test_numbers_rewritten_are_number_format_changes() -> None:
    sent = _request("sig-numbers-rewritten.http")
    signed = _with_body(sent, (FIXTURES / "signed-bodies" / "sig-numbers-rewritten.json")
                        .read_bytes())
    diff = diff_requests(signed, sent)
    changes = {(c.path, c.kind, c.a, c.b) for c in diff.body_changes}
    assert changes == {("$.data.deal.value", "number-format", "1200.0", "1200"),
                       ("$.data.deal.rate", "number-format", "1.0", "1")}


def test_pretty_printed_body_is_a_layout_change_with_byte_offsets() -> None:
    diff = diff_requests(_request("github-pr-opened.http"), _request("github-reserialized.http"))
    assert [(c.kind, c.a) for c in diff.body_changes] == [("layout", "compact")]
    assert diff.body_changes[0].b == "pretty (2 spaces), trailing newline"
    assert diff.hunk_count > 10 and diff.hunks[0].a_start == 1
    assert [row.status for row in diff.headers].count("changed") == 1  # Content-Length


def test_values_added_removed_changed_and_ids_beyond_double_precision() -> None:
    base = _request("acme-contact-created.http")
    a = _with_body(base, b'{"id":820982911946154508,"x":[1,2],"t":true,"gone":"y"}')
    b = _with_body(base, b'{"id":820982911946154500,"x":[1],"t":"true","new":null}')
    changes = {c.path: (c.kind, c.a, c.b) for c in diff_requests(a, b).body_changes}
    assert changes == {
        "$.id": ("changed", "820982911946154508", "820982911946154500"),
        "$.x[1]": ("removed", "2", None),
        "$.t": ("type", "true", '"true"'),
        "$.gone": ("removed", '"y"', None),
        "$.new": ("added", None, "null"),
    }
    note = next(c.note for c in diff_requests(a, b).body_changes if c.path == "$.id")
    assert "2^53" in note


def test_headers_side_by_side_in_order() -> None:
    a = (("Host", "h"), ("X-A", "1"), ("X-B", "2"), ("X-Only-A", "z"))
    b = (("Host", "h"), ("x-a", "1"), ("X-New", "n"), ("X-B", "3"))
    rows = [(row.status, row.a, row.b) for row in diff_headers(a, b)]
    assert rows == [("same", ("Host", "h"), ("Host", "h")),
                    ("changed", ("X-A", "1"), ("x-a", "1")),
                    ("only-b", None, ("X-New", "n")),
                    ("changed", ("X-B", "2"), ("X-B", "3")),
                    ("only-a", ("X-Only-A", "z"), None)]
    moved = diff_headers((("X-1", "a"), ("X-2", "b")), (("X-2", "b"), ("X-1", "a")))
    assert "moved" in {row.status for row in moved}


def test_byte_hunks_have_offsets_and_large_bodies_one_span() -> None:
    assert [(h.a_start, h.a_end, h.b_start, h.b_end, h.a, h.b)
            for h in byte_hunks(b"abcXdef", b"abcYYdef")] == [(3, 4, 3, 5, b"X", b"YY")]
    big_a = b"a" * 70_000 + b"X" + b"b" * 10
    big_b = b"a" * 70_000 + b"YZ" + b"b" * 10
    assert [(h.a_start, h.a, h.b) for h in byte_hunks(big_a, big_b)] == [(70_000, b"X", b"YZ")]


# --- the CLI ---------------------------------------------------------------------------------


def _write(tmp: Path, name: str, request: CapturedRequest) -> str:
    path = tmp / name
    path.write_bytes(format_http(request))
    return str(path)


def test_cli_same_differ_json_and_bad_input(tmp_path: Path) -> None:
    same = run("diff", str(REQUESTS / "github-push.http"), str(REQUESTS / "github-push.http"))
    assert same.exit_code == 0, same.output
    assert "the same request" in same.stdout
    original = _write(tmp_path, "original.http", _shopify_original())
    result = run("diff", original, str(REQUESTS / "sig-shopify-escapes-lost.http"), "--json",
                 "--definition", str(FIXTURES / "definitions" / "shopify.json"),
                 "--credential", f"webhookSecret={SHOPIFY_SECRET}",
                 "--now", "2025-11-24T16:00:05Z")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["schema"] == "whdebug.diff/1" and document["same"] is False
    assert {c["kind"] for c in document["body"]["changes"]} == {"escape"}
    verify = next(row for row in document["pipeline"]["rows"] if row["name"] == "verify")
    assert (verify["a"], verify["b"]) == ("pass", "fail")
    assert SHOPIFY_SECRET not in result.stdout
    human = run("diff", original, str(REQUESTS / "sig-shopify-escapes-lost.http"),
                "--definition", str(FIXTURES / "definitions" / "shopify.json"),
                "--credential", f"webhookSecret={SHOPIFY_SECRET}",
                "--now", "2025-11-24T16:00:05Z")
    assert human.exit_code == 1
    assert "escape" in human.stdout and "runtime: the steps differ" in human.stdout
    missing = run("diff", str(tmp_path / "nope.http"), original)
    assert missing.exit_code == 2 and missing.stderr.startswith("whdebug: ")
    no_store = run("diff", "1", "2", "--store", str(tmp_path / "none.db"))
    assert no_store.exit_code == 2 and "capture store not found" in no_store.stderr


def test_cli_masks_a_secret_planted_in_the_body_and_credential_headers(tmp_path: Path) -> None:
    base = _request("acme-contact-created.http")
    secret = "planted-secret-value-123"
    a = dataclasses.replace(_with_body(base, b'{"k":"old"}'),
                            headers=(*base.headers, ("Authorization", "Bearer tok-aaaa1111")))
    b = dataclasses.replace(_with_body(base, json.dumps({"k": secret}).encode()),
                            headers=(*base.headers, ("Authorization", "Bearer tok-bbbb2222")))
    first, second = _write(tmp_path, "a.http", a), _write(tmp_path, "b.http", b)
    args = ["diff", first, second, "--definition",
            str(FIXTURES / "definitions" / "acme-crm.json"), "--credential",
            f"webhookSecret={secret}"]
    for extra in ([], ["--json"]):
        result = run(*args, *extra)
        assert result.exit_code == 1, result.output
        assert secret not in result.stdout
        assert "tok-aaaa1111" not in result.stdout and "tok-bbbb2222" not in result.stdout
    shown = run(*args, "--json", "--show-secrets")
    assert "tok-bbbb2222" in shown.stdout and secret not in shown.stdout


def test_cli_store_ids(tmp_path: Path) -> None:
    store = str(tmp_path / "captures.db")
    imported = run("import", str(REQUESTS / "sig-sorted-keys.http"),
                   str(REQUESTS / "acme-contact-created.http"), "--store", store)
    assert imported.exit_code == 0, imported.output
    result = run("diff", "1", "2", "--store", store, "--json")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert (document["a"], document["b"]) == ("#1", "#2")
    assert [c["kind"] for c in document["body"]["changes"]] == ["key-order", "key-order"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80), st.lists(st.tuples(st.integers(0, 2), st.integers(0, 80),
                                                  st.binary(min_size=1, max_size=3)),
                                        max_size=6))
def test_byte_hunks_rebuild_b_from_a(a: bytes, edits: list[tuple[int, int, bytes]]) -> None:
    b = bytearray(a)
    for op, at, data in edits:
        at = min(at, len(b))
        if op == 0:
            b[at:at] = data
        elif op == 1:
            del b[at:at + len(data)]
        else:
            b[at:at + len(data)] = data
    rebuilt, position = bytearray(), 0
    for hunk in byte_hunks(a, bytes(b)):
        assert a[hunk.a_start:hunk.a_end] == hunk.a and b[hunk.b_start:hunk.b_end] == hunk.b
        assert hunk.a_start >= position and (hunk.a or hunk.b)
        rebuilt += a[position:hunk.a_start] + hunk.b
        position = hunk.a_end
    assert bytes(rebuilt + a[position:]) == bytes(b)


def test_a_periodic_body_with_many_escapes_stays_fast_and_local() -> None:
    compact = json.dumps({"urls": [f"https://x.test/{n}/y" for n in range(2000)]},
                         separators=(",", ":")).encode()
    escaped = compact.replace(b"/", b"\\/")
    hunks = byte_hunks(compact, escaped)
    assert len(hunks) == 1000 + 1  # the limit, then the rest as one span
    assert all(h.b.replace(b"\\", b"") == h.a and len(h.a) < 16 for h in hunks[:1000])


def test_a_truncated_capture_is_named() -> None:
    base = _request("acme-contact-created.http")
    cut = dataclasses.replace(base, body=base.body[:20], body_size=len(base.body),
                              truncated=True)
    diff = diff_requests(base, cut, a_label="#1", b_label="#2")
    assert diff.body_kind == "bytes" and "#2 truncated" in diff.body_note
