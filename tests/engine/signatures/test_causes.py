"""Each reason a signature fails (issue 12) gives its own diagnosis, named with its evidence.

One fixture per cause (fixtures/generate.py, signed with the standard library's hmac); the
manifest says the verdict, the codes present and absent, and what the findings must name.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from conftest import FIXTURES
from factories import NOW, SECRET, make_definition, make_request, sign

from whdebug.engine import analyze
from whdebug.engine.analyze import AnalysisOptions
from whdebug.engine.report import Report
from whdebug.engine.reportline import encode_report
from whdebug.formats.read import read_request_file
from whdebug.model.definition import load_definition
from whdebug.model.secrecy import Secrets, SecretSet

SCENARIOS = {
    s["name"]: s for s in json.loads((FIXTURES / "manifest.json").read_text())["scenarios"]
}
CAUSES = [s for name, s in SCENARIOS.items() if name.startswith("sig-")]


def replay(name: str, options: AnalysisOptions | None = None, **secrets: Any) -> Report:
    scenario = SCENARIOS[name]
    definition = load_definition(FIXTURES / scenario["definition"])
    request = read_request_file(FIXTURES / scenario["files"][0])[0]
    now = datetime.fromisoformat(scenario["now"].replace("Z", "+00:00"))
    given = Secrets(secrets.get("credentials", scenario["credentials"]),
                    secrets.get("config", scenario["config"]))
    return analyze(request, definition, given, now=now, options=options or AnalysisOptions())


def test_there_is_a_fixture_per_cause() -> None:
    assert len(CAUSES) >= 22


@pytest.mark.parametrize("scenario", CAUSES, ids=[s["name"] for s in CAUSES])
def test_cause_is_named(scenario: dict[str, Any]) -> None:
    report = replay(scenario["name"])
    expect = scenario["expect"][0]
    codes = report.codes()
    assert report.signature.verdict == expect["verdict"]
    assert set(expect["codes"]) <= set(codes), codes
    assert not set(expect.get("absent", [])) & set(codes), codes
    text = " ".join(f"{f.message} {f.fix}" for f in report.findings)
    for mention in expect.get("mentions", []):
        assert mention in text, (mention, text)
    assert not ("your secret is right" in text and "SIG_SCHEME_MISMATCH" in codes)
    definition = load_definition(FIXTURES / scenario["definition"])
    secrets = SecretSet.build(definition, Secrets(scenario["credentials"], scenario["config"]))
    encoded = encode_report(report)
    assert not [form for form in secrets.forms if form in encoded]


def test_wrong_secret_and_right_secret_differ_in_json() -> None:
    """A script reading --json tells a right from a wrong secret under a provider scheme."""
    right = replay("stripe-as-hmac")
    wrong = replay("sig-stripe-cli-secret")
    assert "SIG_SCHEME_VERIFIED" in right.codes() and "SIG_SCHEME_MISMATCH" not in right.codes()
    assert "SIG_SCHEME_MISMATCH" in wrong.codes() and "SIG_SCHEME_VERIFIED" not in wrong.codes()
    assert wrong.signature.search is not None and wrong.signature.search.combinations > 1


def test_unreproducible_change_reports_the_count_and_evidence() -> None:
    report = replay("sig-sorted-keys")
    search = report.signature.search
    assert search is not None and search.body_variants > 10
    assert any("sorted order" in item for item in search.evidence)
    finding = next(f for f in report.findings if f.code == "SIG_MISMATCH")
    assert f"{search.combinations} combinations tried" in finding.message


def test_expected_body_that_verifies_proves_the_change() -> None:
    signed = (FIXTURES / "signed-bodies" / "sig-numbers-rewritten.json").read_bytes()
    options = AnalysisOptions(expected_body=("--expected-body signed.json", signed))
    report = replay("sig-numbers-rewritten", options)
    assert "SIG_MISMATCH" not in report.codes()
    finding = next(f for f in report.findings if f.code == "SIG_BODY_MODIFIED")
    assert "verifies over --expected-body signed.json" in finding.message
    assert "first difference at byte" in finding.message and "1200.0" in finding.message


def test_expected_body_that_does_not_verify_is_evidence() -> None:
    options = AnalysisOptions(expected_body=("--expected-body other.json", b'{"other":1}'))
    report = replay("sig-numbers-rewritten", options)
    finding = next(f for f in report.findings if f.code == "SIG_MISMATCH")
    assert "does not verify over --expected-body other.json either" in finding.message


def test_other_captures_verified_by_the_same_secret_are_evidence() -> None:
    peer = read_request_file(FIXTURES / SCENARIOS["acme-contact-created"]["files"][0])[0]
    options = AnalysisOptions(peers=(peer.request,))
    finding = next(f for f in replay("sig-sorted-keys", options).findings
                   if f.code == "SIG_MISMATCH")
    assert "verifies 1 of 1 other captures" in finding.message
    wrong = replay("sig-sorted-keys", options, credentials={"webhookSecret": "not-the-secret"})
    finding = next(f for f in wrong.findings if f.code == "SIG_MISMATCH")
    assert "verifies none of 1 other captures" in finding.message


def test_scheme_secret_kind_only_when_it_does_not_verify() -> None:
    report = replay("stripe-as-hmac")
    assert "SIG_SECRET_KIND" not in report.codes()


def test_latin1_body_without_the_event_is_diagnosed_not_a_crash() -> None:
    """Found by the edit property test: suggesting event paths decoded the whole body with
    json.loads, which raised on Latin-1 bytes the projected parse had accepted."""
    from factories import make_request, run, sign

    signed = '{"_":["ß"]}'.encode()
    report = run(make_request(signed.decode().encode("latin-1"), signature=sign(signed)))
    assert report.codes()[0] == "SIG_BODY_MODIFIED"
    assert "sent encoded as Latin-1" in report.findings[0].message


def test_the_quoted_difference_never_shows_part_of_a_secret() -> None:
    """The bytes around the first difference are cut at 12; a secret the cut crosses is
    masked whole, not left half shown."""
    from factories import SECRET, make_request, run, sign

    signed = ('{"event":"contact.created","k":"' + SECRET + '\\/x"}').encode()
    report = run(make_request(signed.replace(b"\\/", b"/"), signature=sign(signed)))
    finding = next(f for f in report.findings if f.code == "SIG_BODY_MODIFIED")
    assert "first difference at byte" in finding.message
    assert SECRET[-8:] not in encode_report(report)
    assert "********\\\\/x" in finding.message


BODY_CHANGED = [s for s in CAUSES if "SIG_BODY_MODIFIED" in s["expect"][0]["codes"]]


@pytest.mark.parametrize("scenario", BODY_CHANGED, ids=[s["name"] for s in BODY_CHANGED])
def test_verify_reason_says_what_changed_in_words(scenario: dict[str, Any]) -> None:
    """The step's one-line reason names the change as the finding does, not by catalogue id
    (an integrator reads 'a trailing newline was added', not 'newline-added')."""
    from whdebug.engine.signatures.edits import CATALOGUE

    report = replay(scenario["name"])
    reason = next(step.reason for step in report.steps if step.name == "verify")
    assert not [edit_id for edit_id in CATALOGUE if edit_id in reason], reason
    assert "the body as signed, before " in reason, reason


@pytest.mark.parametrize("received_newline", [b"\n", b""], ids=["print", "stringify"])
def test_a_re_serialised_body_that_was_signed_with_its_newline_is_not_blamed_on_curl(
        received_newline: bytes) -> None:
    """The sender signed a file (compact JSON and the newline an editor ends it with); a test
    script re-serialised it, pretty, with or without a newline of its own, and sent that
    with --data-binary. The newline went with the re-serialisation: no "curl -d" and no
    separate "trailing newline was removed", which sent the reader after the wrong tool."""
    document = {"event": "contact.created", "id": "evt-7", "note": "re-serialised"}
    signed = json.dumps(document, separators=(",", ":")).encode() + b"\n"
    received = json.dumps(document, indent=2).encode() + received_newline
    request = make_request(received, signature=sign(signed))
    report = analyze(request, make_definition(), Secrets({"webhookSecret": SECRET}), now=NOW)
    modified = [f for f in report.findings if f.code == "SIG_BODY_MODIFIED"]
    assert len(modified) == 1, report.codes()
    message = modified[0].message
    assert "the JSON was re-serialised: the signed bytes are compact JSON, ending in a " \
           "newline" in message, message
    assert "newline was removed" not in message and "curl -d" not in message, message
    assert report.signature.reason == (
        "matches only with: the body as signed, before the JSON was re-serialised")
