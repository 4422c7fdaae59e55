"""Verification as the runtime does it, and each diagnosis the search can reach."""

from __future__ import annotations

from datetime import UTC

import pytest
from factories import SECRET, make_capture, make_definition, make_request, run, sign

from whdebug.engine.reportline import encode_report
from whdebug.engine.signatures.digests import compute_hmac
from whdebug.engine.signatures.schemes import detect_scheme
from whdebug.engine.signatures.secrets import secret_hint

VERIFY = {
    "type": "hmac-sha256",
    "headerName": "X-Signature",
    "secretKey": "webhookSecret",
    "encoding": "hex",
}


def test_passing_signature_costs_one_hmac(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    import whdebug.engine.signatures.search as search
    import whdebug.engine.signatures.verify as signatures

    def counting(secret: bytes, algorithm: str, content: bytes) -> bytes:
        calls.append((algorithm, len(content)))
        return compute_hmac(secret, algorithm, content)

    for module in (signatures, search):
        monkeypatch.setattr(module, "compute_hmac", counting)
    report = run(make_request())
    assert report.signature.verdict == "pass"
    assert calls == [("sha256", len(make_request().body))]
    assert len(report.signature.attempts) == 1 and report.signature.attempts[0].runtime


def test_failing_search_never_recomputes_a_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    import whdebug.engine.signatures.search as search
    import whdebug.engine.signatures.verify as signatures

    seen: list[tuple[bytes, str, bytes]] = []

    def counting(secret: bytes, algorithm: str, content: bytes) -> bytes:
        seen.append((secret, algorithm, content))
        return compute_hmac(secret, algorithm, content)

    for module in (signatures, search):
        monkeypatch.setattr(module, "compute_hmac", counting)
    report = run(
        make_request(signature=sign(b"other")),
        credentials={"webhookSecret": SECRET},
        config={"webhookSecret": "config-secret-value"},
    )
    assert report.signature.verdict == "fail"
    assert len(seen) == len(set(seen)) > 1


def test_prefix_sha256_is_stripped() -> None:
    request = make_request(signature="sha256=" + sign(make_request().body))
    assert run(request).signature.verdict == "pass"


def test_other_prefix_is_not_stripped() -> None:
    request = make_request(signature="v1=" + sign(make_request().body))
    report = run(request)
    assert report.signature.verdict == "fail"
    assert report.codes() == ["SIG_SIGNATURE_PREFIX"]
    message = report.findings[0].message
    assert "'v1='" in message and "is right" in message and "'sha256='" in message


@pytest.mark.parametrize(
    ("signature_kind", "encoding", "code"),
    [
        ("base64", "hex", "SIG_ENCODING"),
        ("hex", "base64", "SIG_ENCODING"),
    ],
)
def test_wrong_encoding(signature_kind: str, encoding: str, code: str) -> None:
    definition = make_definition(verification={**VERIFY, "encoding": encoding})
    body = make_request().body
    report = run(make_request(signature=sign(body, scheme=signature_kind)), definition)
    assert report.signature.verdict == "fail"
    found = [f for f in report.findings if f.code == code]
    assert found and f'"{signature_kind}"' in (found[0].fix or "")


def test_sha1_signature_under_sha256_type() -> None:
    body = make_request().body
    report = run(make_request(signature=sign(body, algorithm="sha1")))
    fix = next(f.fix for f in report.findings if f.code == "SIG_ALGORITHM")
    assert fix and "hmac-sha1" in fix


def test_sha512_signature_names_the_runtime_limit() -> None:
    body = make_request().body
    report = run(make_request(signature=sign(body, algorithm="sha512")))
    fix = next(f.fix for f in report.findings if f.code == "SIG_ALGORITHM")
    assert fix and "SHA-256" in fix


def test_hmac_sha1_type_passes() -> None:
    definition = make_definition(verification={**VERIFY, "type": "hmac-sha1"})
    body = make_request().body
    assert (
        run(
            make_request(signature="sha1=" + sign(body, algorithm="sha1")), definition
        ).signature.verdict
        == "pass"
    )


def test_credentials_win_over_auth_config() -> None:
    report = run(
        make_request(),
        credentials={"webhookSecret": SECRET},
        config={"webhookSecret": "something-else"},
    )
    assert report.signature.verdict == "pass"
    assert report.signature.secret is not None
    assert report.signature.secret.resolved_from == "credentials"
    assert report.signature.secret.auth_config == "present"


def test_auth_config_used_when_credential_absent() -> None:
    report = run(make_request(), credentials={}, config={"webhookSecret": SECRET})
    assert report.signature.verdict == "pass"
    assert report.signature.secret.resolved_from == "auth.config"
    assert report.signature.secret.credentials == "absent"


def test_empty_credential_falls_through_but_nullish_fails() -> None:
    request = make_request()
    lenient = run(request, credentials={"webhookSecret": ""}, config={"webhookSecret": SECRET})
    assert lenient.signature.verdict == "pass"
    assert "SIG_EMPTY_CREDENTIAL" in lenient.codes()
    assert lenient.signature.secret.nullish_outcome
    strict = run(
        request, credentials={"webhookSecret": ""}, config={"webhookSecret": SECRET}, nullish=True
    )
    assert strict.signature.verdict == "fail"


def test_wrong_secret_source() -> None:
    report = run(
        make_request(),
        credentials={"webhookSecret": "stale-install-secret"},
        config={"webhookSecret": SECRET},
    )
    assert "SIG_WRONG_SECRET_SOURCE" in report.codes()
    assert "SIG_MISMATCH" not in report.codes()


@pytest.mark.parametrize(
    ("stored", "variant"),
    [
        (SECRET + "\n", "trimmed"),
        ("  " + SECRET, "trimmed"),
        ("whsec_" + SECRET, "whsec-stripped"),
    ],
)
def test_secret_format(stored: str, variant: str) -> None:
    report = run(make_request(), credentials={"webhookSecret": stored})
    assert "SIG_SECRET_FORMAT" in report.codes()
    assert any(a.match and a.secret_variant == variant for a in report.signature.attempts)


def test_base64_decoded_secret() -> None:
    import base64

    raw_key = b"\x01\x02binary-key-bytes\xff"
    body = make_request().body
    request = make_request(signature=sign(body, raw_key))
    report = run(request, credentials={"webhookSecret": base64.b64encode(raw_key).decode()})
    assert "SIG_SECRET_FORMAT" in report.codes()


def test_upper_case_hex() -> None:
    body = make_request().body
    report = run(make_request(signature=sign(body).upper()))
    assert [f.code for f in report.findings if f.severity == "error"] == ["SIG_HEX_CASE"]
    assert report.signature.verdict == "fail"


@pytest.mark.parametrize(
    ("signed", "sent"),
    [
        (b'{"event":"contact.created","id":"1"}', b'{"event": "contact.created", "id": "1"}'),
        (b'{"event": "contact.created", "id": "1"}', b'{"event":"contact.created","id":"1"}'),
        (b'{"event":"contact.created","id":"1"}\n', b'{"event":"contact.created","id":"1"}'),
        (b'{"event":"contact.created","id":"1"}', b'{"event":"contact.created","id":"1"}\n'),
        (b'{"event":\r\n"contact.created","id":"1"}', b'{"event":\n"contact.created","id":"1"}'),
        (
            b'\xef\xbb\xbf{"event":"contact.created","id":"1"}',
            b'{"event":"contact.created","id":"1"}',
        ),
    ],
)
def test_body_modified_after_signing(signed: bytes, sent: bytes) -> None:
    report = run(make_request(sent, signature=sign(signed)))
    assert "SIG_BODY_MODIFIED" in report.codes(), report.codes()
    match = next(a for a in report.signature.attempts if a.match)
    assert match.signed is not None and match.signed.length == len(signed)


def test_signed_content_is_shown_for_the_runtime_attempt() -> None:
    body = b'{"event":"contact.created"}'
    report = run(make_request(body, signature=sign(b"x")))
    attempt = report.signature.attempts[0]
    assert attempt.runtime and attempt.signed is not None
    assert attempt.signed.length == len(body)
    assert attempt.signed.head_text.startswith('{"event"')
    assert attempt.signed.head_hex.startswith("7b 22")
    assert attempt.computed == sign(body)


def test_duplicate_signature_headers() -> None:
    body = make_request().body
    request = make_request(
        body,
        signature=None,
        headers=[("X-Signature", sign(body, "old")), ("X-Signature", sign(body))],
    )
    report = run(request)
    assert report.signature.verdict == "fail"
    finding = next(f for f in report.findings if f.code == "SIG_OTHER_VALUE_MATCHES")
    assert "value 2 of 2" in finding.message


def test_previous_header_means_old_secret() -> None:
    body = make_request().body
    request = make_request(
        body, signature=sign(body, "new-secret"), headers=[("X-Signature-Previous", sign(body))]
    )
    report = run(request)
    finding = next(f for f in report.findings if f.code == "SIG_OTHER_VALUE_MATCHES")
    assert "previous" in finding.message


def test_missing_header_lists_signature_like_headers() -> None:
    body = make_request().body
    request = make_request(body, signature=None, headers=[("X-Hook-Signature", "abc123")])
    report = run(request)
    finding = next(f for f in report.findings if f.code == "SIG_HEADER_MISSING")
    assert "X-Hook-Signature" in finding.message


def test_signature_in_another_header_is_named() -> None:
    body = make_request().body
    request = make_request(body, signature=None, headers=[("X-Hook-Signature", sign(body))])
    finding = next(f for f in run(request).findings if f.code == "SIG_HEADER_NAME")
    assert finding.fix == 'set webhook.verification.headerName to "X-Hook-Signature"'


def test_woocommerce_ping_is_not_a_failure() -> None:
    request = make_request(
        b"webhook_id=12", signature=None, content_type="application/x-www-form-urlencoded"
    )
    report = run(request)
    assert "SIG_PING" in report.codes() and "SIG_HEADER_MISSING" not in report.codes()
    assert report.ok


def test_no_verification_with_signature_header() -> None:
    report = run(make_request(), make_definition(verification=None))
    assert report.signature.verdict == "skipped"
    finding = next(f for f in report.findings if f.code == "SIG_NOT_CONFIGURED")
    assert "X-Signature" in finding.message and "X-Signature" in (finding.fix or "")


def test_header_token_pass_and_masked() -> None:
    definition = make_definition(
        verification={"type": "header-token", "headerName": "X-Token", "secretKey": "webhookSecret"}
    )
    request = make_request(signature=None, headers=[("X-Token", SECRET)])
    report = run(request, definition)
    assert report.signature.verdict == "pass"
    text = encode_report(report)
    assert SECRET not in text


def test_header_token_mismatch() -> None:
    definition = make_definition(
        verification={"type": "header-token", "headerName": "X-Token", "secretKey": "webhookSecret"}
    )
    report = run(make_request(signature=None, headers=[("X-Token", "nope")]), definition)
    assert report.signature.verdict == "fail" and "SIG_MISMATCH" in report.codes()
    # both sides' length and fingerprint, so a user can see which token is which; neither
    # value itself
    [mismatch] = [f for f in report.findings if f.code == "SIG_MISMATCH"]
    assert mismatch.message == (f"X-Token ({secret_hint('nope')}) does not equal the configured "
                                f"secret ({secret_hint(SECRET)})")
    assert "nope" not in encode_report(report) and SECRET not in encode_report(report)


def test_no_secret_anywhere() -> None:
    report = run(make_request(), credentials={})
    assert report.signature.verdict == "fail" and "SIG_NO_SECRET" in report.codes()


def test_truncated_body_cannot_verify() -> None:
    request = make_request(truncated=True, body_size=10_000)
    report = run(request)
    assert report.signature.verdict == "fail" and "REQ_BODY_TRUNCATED" in report.codes()


def test_slack_scheme_detected_without_the_secret() -> None:
    request = make_request(
        signature=None,
        headers=[
            ("X-Slack-Request-Timestamp", "1764000000"),
            ("X-Slack-Signature", "v0=" + "ab" * 32),
        ],
    )
    definition = make_definition(verification={**VERIFY, "headerName": "X-Slack-Signature"})
    report = run(request, definition)
    finding = next(f for f in report.findings if f.code == "SIG_UNSUPPORTED_SCHEME")
    assert "slack" in finding.message.lower()
    assert detect_scheme(request) is not None


@pytest.mark.parametrize(("header", "value"), [
    ("X-Slack-Signature", "{hex}"),
    ("Stripe-Signature", "{hex}"),
    ("Webhook-Signature", "{hex}"),
])
def test_a_provider_header_holding_the_runtimes_own_hex_is_not_that_scheme(
        header: str, value: str) -> None:
    # The Slack example's definition verifies X-Slack-Signature as a plain HMAC of the raw
    # body (what `whdebug sign` writes). Signed with the wrong secret, the report said "the
    # headers carry a Slack (v0) signature ... (0 signature values)" and SIG_UNSUPPORTED_SCHEME,
    # for a header that holds no v0= value at all: the plain mismatch is the diagnosis.
    body = b'{"type":"event_callback","event":{"type":"message"}}'
    request = make_request(body=body, signature=None,
                           headers=[(header, value.format(hex=sign(body, "another-secret")))])
    definition = make_definition(verification={**VERIFY, "headerName": header})
    assert detect_scheme(request) is None
    report = run(request, definition)
    assert report.signature.verdict == "fail"
    assert "SIG_UNSUPPORTED_SCHEME" not in report.codes()
    assert "SIG_MISMATCH" in report.codes()
    good = make_request(body=body, signature=None, headers=[(header, sign(body))])
    assert run(good, definition).signature.verdict == "pass"


def test_stale_timestamp_measured_against_received_at() -> None:
    from datetime import datetime

    received = datetime(2025, 11, 24, 17, 0, 0, tzinfo=UTC)
    definition = make_definition(verification={**VERIFY, "timestampHeader": "X-Timestamp"})
    request = make_capture(
        headers=[("X-Timestamp", str(int(received.timestamp()) - 3600))], received_at=received
    )
    report = run(request, definition)
    assert report.signature.verdict == "pass"
    assert "SIG_TIMESTAMP_STALE" in report.codes()
    assert report.signature.timestamp_age_seconds == pytest.approx(3600)
    fresh = make_capture(
        headers=[("X-Timestamp", str(int(received.timestamp()) - 10))], received_at=received
    )
    assert "SIG_TIMESTAMP_STALE" not in run(fresh, definition).codes()


def test_unknown_type_is_reported() -> None:
    report = run(make_request(), make_definition(verification={**VERIFY, "type": "hmac-sha512"}))
    assert report.signature.verdict == "fail" and "SIG_ALGORITHM" in report.codes()


def test_passing_results_share_only_what_is_the_same() -> None:
    """A passing HMAC's result is built from parts remembered across requests: two requests
    that differ only in the secret, the header name or the body each get their own."""
    body = b'{"id": 1, "event": "order.created"}'
    other = b'{"id": 2, "event": "order.created"}'
    first = run(make_request(body, signature=sign(body)))
    second_secret = "another-webhook-secret-value"
    second = run(make_request(body, signature=sign(body, second_secret)),
                 credentials={"webhookSecret": second_secret})
    renamed = run(make_request(body, signature=None, headers=[("X-Other-Sig", sign(body))]),
                  make_definition(verification={**VERIFY, "headerName": "X-Other-Sig"}))
    changed = run(make_request(other, signature=sign(other)))
    for report in (first, second, renamed, changed):
        assert report.signature.verdict == "pass"
        assert not [f for f in report.findings if f.step == "verify"]
    assert first.signature.attempts[0].secret_hint == secret_hint(SECRET)
    assert second.signature.attempts[0].secret_hint == secret_hint(second_secret)
    assert second.signature.secret is not None
    assert second.signature.secret.hint == secret_hint(second_secret)
    assert renamed.signature.reason.endswith("matches X-Other-Sig")
    assert renamed.signature.attempts[0].received_from == "header X-Other-Sig"
    assert first.signature.reason.endswith("matches X-Signature")
    signed = [r.signature.attempts[0] for r in (first, changed)]
    assert signed[0].computed == sign(body) and signed[1].computed == sign(other)
    assert signed[0].received == sign(body) and signed[1].received == sign(other)
    assert signed[0].signed is not None and signed[1].signed is not None
    assert signed[0].signed.head_hex != signed[1].signed.head_hex
    # the same request with a wrong signature right after a passing one still fails
    failing = run(make_request(body, signature=sign(body, "not-the-secret-at-all")))
    assert failing.signature.verdict == "fail"
    assert any(f.code.startswith("SIG_") for f in failing.findings)


@pytest.mark.parametrize(
    ("verification", "signature", "credentials", "config"),
    [
        ({}, "auto", {"webhookSecret": SECRET}, {}),
        ({"encoding": "base64"}, "base64", {"webhookSecret": SECRET}, {}),
        ({"type": "hmac-sha1"}, "sha1", {"webhookSecret": SECRET}, {}),
        ({}, "github", {"webhookSecret": SECRET}, {}),
        ({}, "auto", {}, {"webhookSecret": SECRET}),
        ({}, "auto", {"webhookSecret": ""}, {"webhookSecret": SECRET}),
        ({"timestampHeader": "X-Timestamp"}, "auto", {"webhookSecret": SECRET}, {}),
        ({}, "wrong", {"webhookSecret": SECRET}, {}),
        ({}, None, {"webhookSecret": SECRET}, {}),
    ],
)
def test_the_analysis_fast_path_gives_what_verify_signature_gives(
        verification: dict[str, str], signature: str | None, credentials: dict[str, str],
        config: dict[str, str]) -> None:
    """`analyze` asks `passing_signature` first: a report says what `verify_signature` alone
    says, whether the fast path answers (a plain pass) or hands over (anything else)."""
    from datetime import datetime

    from whdebug.engine.plan import compile_definition
    from whdebug.engine.signatures.verify import passing_signature, verify_signature
    from whdebug.model.request import Secrets

    definition = make_definition(verification={**VERIFY, **verification})
    body = make_request().body
    signed = {"auto": sign(body), "base64": sign(body, scheme="base64"),
              "sha1": sign(body, algorithm="sha1"), "github": sign(body, scheme="github"),
              "wrong": sign(b"other"), None: None}[signature]
    request = make_request(signature=signed)
    report = run(request, definition, credentials=credentials, config=config)
    plan = compile_definition(definition)
    secrets = Secrets(credentials, config)
    alone, findings = verify_signature(request, plan.verification, plan.auth_config, secrets,
                                       now=datetime(2025, 11, 24, 16, 0, 5, tzinfo=UTC))
    assert report.signature == alone
    assert {f.code for f in findings} <= {f.code for f in report.findings}
    fast, _ = passing_signature(request, plan.verification, plan.auth_config, secrets, False)
    assert (fast is not None) == (alone.verdict == "pass" and not findings
                                  and "timestampHeader" not in verification)
