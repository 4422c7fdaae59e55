"""Unit checks of the search's pieces: the edit catalogue, timestamp-prefixed contents,
secret shapes and the bounds on what is tried."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

import pytest
from factories import SECRET, make_definition, make_request, run, sign

from whdebug.engine.signatures.edits import (
    BYTE_EDITS,
    PAIR_BODY_LIMIT,
    VARIANT_BODY_LIMIT,
    Edit,
    Variant,
    body_variants,
    describe_difference,
)

VERIFY = {"type": "hmac-sha256", "headerName": "X-Signature", "secretKey": "webhookSecret",
          "encoding": "hex", "timestampHeader": "X-Timestamp"}
BODY = json.dumps({"event": "contact.created", "url": "https://a.test/x", "name": "Zoë & Co"},
                  ensure_ascii=False).encode()


@pytest.mark.parametrize("edit", BYTE_EDITS, ids=lambda edit: edit.id)
def test_every_byte_edit_is_undone_on_a_body_it_applies_to(edit: Edit) -> None:
    body = BODY
    if edit.id in ("crlf-to-lf",):
        body = json.dumps(json.loads(BODY), indent=2, ensure_ascii=False).encode().replace(
            b"\n", b"\r\n")
    elif edit.id in ("lf-to-crlf", "bom-added", "newline-removed", "crlf-removed"):
        body = json.dumps(json.loads(BODY), indent=2, ensure_ascii=False).encode() + (
            b"\r\n" if edit.id == "crlf-removed" else b"\n")
    elif edit.id in ("slash-unescaped", "html-unescaped"):
        body = BODY.replace(b"/", b"\\/").replace(b"&", b"\\u0026")
    elif edit.id == "unicode-unescaped":
        body = json.dumps(json.loads(BODY)).encode()
    elif edit.id == "latin1-reencoded":
        body = BODY.decode().encode("latin-1")
    elif edit.id == "bom-removed":
        body = b"\xef\xbb\xbf" + BODY
    elif edit.id == "cp1252-mojibake":
        body = BODY.replace(b"Co", "€".encode())
    received = edit.apply(body)
    assert received is not None and received != body, edit
    assert any(v.content == body and edit in v.edits for v in body_variants(received))


def test_pairs_are_tried_only_on_small_bodies() -> None:
    small = list(body_variants(BODY))
    def pairs(variants: Iterable[Variant]) -> int:
        return sum(len(v.edits) == 2 and all(e.byte_level for e in v.edits) for v in variants)

    assert pairs(small) > 10
    big = b'{"a":"' + b"x/" * (PAIR_BODY_LIMIT // 2) + b'"}'
    assert pairs(body_variants(big)) == 0
    assert list(body_variants(b"x" * (VARIANT_BODY_LIMIT + 1))) == []


def test_difference_names_the_first_differing_byte() -> None:
    text = describe_difference(b'{"a":"x\\/y"}', b'{"a":"x/y"}')
    assert text.startswith("signed 12 bytes, received 11; first difference at byte 7")


def test_timestamp_prefixed_signature_is_verified_but_unsupported() -> None:
    ts = "1764000000"
    request = make_request(signature=sign(ts.encode() + b"." + make_request().body),
                           headers=[("X-Timestamp", ts)])
    now = datetime.fromtimestamp(int(ts), UTC)
    report = run(request, make_definition(verification=VERIFY), now=now)
    codes = report.codes()
    assert "SIG_UNSUPPORTED_SCHEME" in codes and "SIG_SCHEME_VERIFIED" in codes
    assert "SIG_MISMATCH" not in codes


def test_millisecond_timestamp_header_is_named() -> None:
    ms = "1764000000000"
    request = make_request(headers=[("X-Timestamp", ms)])
    now = datetime.fromtimestamp(1764000000, UTC)
    report = run(request, make_definition(verification=VERIFY), now=now)
    assert report.signature.verdict == "pass"
    finding = next(f for f in report.findings if f.code == "SIG_TIMESTAMP_MILLISECONDS")
    assert ms in finding.message and "milliseconds" in finding.message
    assert report.signature.timestamp_age_seconds == pytest.approx(0)


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_signature_header(value: str) -> None:
    report = run(make_request(signature=value))
    assert report.codes() == ["SIG_HEADER_EMPTY"]
    assert "present but empty" in report.findings[0].message


@pytest.mark.parametrize(("secret", "kind"), [
    ("sk_live_51Habcdefghijkl", "Stripe secret API key"),
    ("rk_test_51Habcdefghijkl", "Stripe restricted API key"),
    ("xoxb-1234-5678-abcdef", "Slack OAuth token"),
])
def test_secret_kind_replaces_the_generic_mismatch(secret: str, kind: str) -> None:
    report = run(make_request(), credentials={"webhookSecret": secret})
    assert report.codes() == ["SIG_SECRET_KIND"]
    assert kind in report.findings[0].message and secret not in report.findings[0].message


def test_plain_wrong_secret_is_both_possibilities_and_not_a_body_change() -> None:
    report = run(make_request(signature=sign(make_request().body, "other-secret")))
    assert report.codes() == ["SIG_MISMATCH"]
    message = report.findings[0].message
    assert "the secret is wrong" in message and "or the body was changed" in message
    assert report.signature.search is not None
    assert f"{report.signature.search.combinations} combinations tried" in message
    assert SECRET not in message


def test_scheme_secret_with_a_pasted_newline_is_a_format_problem() -> None:
    import hmac

    secret, ts = "whsec_fixtureStripeSigningSecret", "1764000000"
    v1 = hmac.new(secret.encode(), f"{ts}.".encode() + BODY, "sha256").hexdigest()
    definition = make_definition(verification={**VERIFY, "headerName": "Stripe-Signature"})
    request = make_request(BODY, signature=None,
                           headers=[("Stripe-Signature", f"t={ts},v1={v1}")])
    report = run(request, definition, credentials={"webhookSecret": secret + "\n"},
                 now=datetime.fromtimestamp(int(ts), UTC))
    finding = next(f for f in report.findings if f.code == "SIG_SECRET_FORMAT")
    assert "surrounding whitespace" in finding.message
    assert finding.fix == "remove the whitespace from credentials.webhookSecret"
    assert "SIG_SCHEME_MISMATCH" not in report.codes()


def test_stripe_mismatch_names_the_mode_of_the_delivery() -> None:
    import hmac

    body = json.dumps({"id": "evt_1", "livemode": False, "type": "charge.succeeded"}).encode()
    ts = "1764000000"
    v1 = hmac.new(b"whsec_testModeSecret", f"{ts}.".encode() + body, "sha256").hexdigest()
    definition = make_definition(verification={**VERIFY, "headerName": "Stripe-Signature"})
    request = make_request(body, signature=None, headers=[("Stripe-Signature", f"t={ts},v1={v1}")])
    report = run(request, definition, credentials={"webhookSecret": "whsec_liveModeSecret"},
                 now=datetime.fromtimestamp(int(ts), UTC))
    finding = next(f for f in report.findings if f.code == "SIG_SCHEME_MISMATCH")
    assert "1 signature value" in finding.message
    assert "test-mode delivery (livemode: false)" in finding.message
