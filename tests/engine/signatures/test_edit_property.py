"""Property: sign a random JSON body, change it with one edit from the catalogue, and the
diagnosis names that edit (or an edit that gives the same bytes); an edit whdebug cannot
undo gets "the secret is wrong, or the body was changed after signing"."""

from __future__ import annotations

import json
from typing import Any

import pytest
from factories import make_request, run, sign
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from whdebug.engine.signatures.edits import BYTE_EDITS, body_variants

TEXT = st.text(alphabet=st.sampled_from(list("abcXYZ019 /&<>-_.:éüß€中😀")), max_size=12)
SCALARS = st.one_of(st.integers(-10**6, 10**6), TEXT, st.booleans(), st.none())
DOCUMENTS = st.dictionaries(
    st.text(alphabet="abcdefghij_", min_size=1, max_size=6),
    st.recursive(SCALARS, lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(alphabet="klmnop", min_size=1, max_size=4), inner, max_size=3),
    ), max_leaves=8),
    min_size=1, max_size=5,
)


def serialise(document: Any, style: str) -> bytes:
    if style == "compact":
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    if style == "ascii":
        return json.dumps(document, separators=(",", ":")).encode()
    if style == "php":
        return json.dumps(document, separators=(",", ":")).replace("/", "\\/").encode()
    return json.dumps(document, indent=2, ensure_ascii=False).encode() + b"\n"


def sort_keys(body: bytes) -> bytes | None:
    return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def rewrite_numbers(body: bytes) -> bytes | None:
    """1 -> 1.0: a float-only JSON implementation re-serialised the numbers."""
    def floats(item: Any) -> Any:
        if isinstance(item, bool) or item is None:
            return item
        if isinstance(item, int):
            return float(item)
        if isinstance(item, dict):
            return {k: floats(v) for k, v in item.items()}
        if isinstance(item, list):
            return [floats(v) for v in item]
        return item
    return json.dumps(floats(json.loads(body)), ensure_ascii=False,
                      separators=(",", ":")).encode()


UNDOABLE = {edit.id: edit.apply for edit in BYTE_EDITS}
OTHERS = {"sort-keys": sort_keys, "rewrite-numbers": rewrite_numbers}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS, st.sampled_from(["compact", "ascii", "php", "pretty"]),
       st.sampled_from(sorted(UNDOABLE) + sorted(OTHERS)))
def test_one_edit_is_named_or_both_possibilities_are_said(
    document: dict[str, Any], style: str, edit_id: str
) -> None:
    signed = serialise(document, style)
    received = (UNDOABLE.get(edit_id) or OTHERS[edit_id])(signed)
    assume(received is not None and received != signed)
    assert received is not None
    report = run(make_request(received, signature=sign(signed)))
    codes = report.codes()
    assert report.signature.verdict == "fail"
    reproducing = next((v for v in body_variants(received) if v.content == signed), None)
    if reproducing is not None:
        # a charset edit can also leave bytes that are not UTF-8: that is said on its own
        assert [code for code in codes if code != "REQ_BODY_NOT_UTF8"] == [
            "SIG_BODY_MODIFIED"], codes
        if "REQ_BODY_NOT_UTF8" in codes:
            with pytest.raises(UnicodeDecodeError):
                received.decode("utf-8")
        finding = next(f for f in report.findings if f.code == "SIG_BODY_MODIFIED")
        assert reproducing.transit in finding.message
        match = next(a for a in report.signature.attempts if a.match)
        assert match.signed is not None and match.signed.length == len(signed)
        if edit_id in UNDOABLE:
            # the applied edit itself, or one giving byte-identical signed bytes, is named
            named = set(reproducing.ids)
            assert edit_id in named or any(
                UNDOABLE[other](signed) == received for other in named if other in UNDOABLE)
    else:
        assert edit_id in OTHERS, f"{edit_id} is in the catalogue but was not undone"
        assert "SIG_BODY_MODIFIED" not in codes
        finding = next(f for f in report.findings if f.code == "SIG_MISMATCH")
        assert "the secret is wrong" in finding.message
        assert "or the body was changed after signing" in finding.message
