"""The `karzoun-tenant` profile: Karzoun's own webhooks verified without a definition file."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from factories import make_request, run

from whdebug.cli import main
from whdebug.engine import DedupeIndex
from whdebug.engine.report import (
    FINDING_CODES,
    PROFILE_AND_READINESS_CODES,
    Report,
    report_json,
)
from whdebug.engine.reportline import encode_report
from whdebug.errors import WhdebugError
from whdebug.formats.http import format_http
from whdebug.model.request import CapturedRequest, Secrets
from whdebug.tools.profiles import KARZOUN_TENANT, PROFILES, analyze_profile, get_profile

NOW = datetime(2025, 11, 24, 16, 0, 5, tzinfo=UTC)
CURRENT = "kz-current-secret-91b"
PREVIOUS = "kz-previous-secret-07a"
TOKEN = "kz-static-token-5e2"
ENVELOPE = {
    "version": 2,
    "id": "evt_0001",
    "event": "conversation.closed",
    "created_at": "2025-11-24T16:00:00Z",
    "data": {"conversation": {"id": 88}},
}


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery(body: dict[str, Any] | bytes = ENVELOPE, *, current: str | None = CURRENT,
             previous: str | None = None, token: str | None = TOKEN,
             path: str = "/hooks/karzoun") -> CapturedRequest:
    """A delivery as Karzoun sends it to a tenant's server."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = [("Content-Type", "application/json")]
    if current is not None:
        headers.append(("X-Karzoun-Signature-256", signature(current, raw)))
    if previous is not None:
        headers.append(("X-Karzoun-Signature-256-Previous", signature(previous, raw)))
    if token is not None:
        headers.append(("Karzoun-token", token))
    return CapturedRequest("POST", path, headers=tuple(headers), body=raw)


def check(request: CapturedRequest, dedupe: DedupeIndex | None = None, **credentials: str
          ) -> Report:
    profile = get_profile(KARZOUN_TENANT)
    return analyze_profile(request, profile, Secrets(credentials), now=NOW, dedupe=dedupe)


def step(report: Report, name: str) -> tuple[str, str]:
    found = next(item for item in report.steps if item.name == name)
    return found.status, found.reason


class TestVerification:
    def test_current_secret_and_token(self) -> None:
        report = check(delivery(), secret=CURRENT, token=TOKEN)
        assert report.ok
        assert report.outcome.status == "fires"
        assert report.outcome.triggers == ("conversation.closed",)
        assert report.profile == {"name": "karzoun-tenant", "secret_matched": "current",
                                  "token": "match", "envelope_version": "2"}
        assert step(report, "verify") == (
            "pass", "matches X-Karzoun-Signature-256 with your secret: the current secret")
        assert step(report, "token")[0] == "pass"
        assert "accepts every event" in step(report, "match")[1]
        assert report.codes() == []

    def test_previous_secret_during_rotation(self) -> None:
        request = delivery(current="the-new-secret", previous=PREVIOUS)
        report = check(request, secret=PREVIOUS, token=TOKEN)
        assert report.ok
        assert report.profile is not None and report.profile["secret_matched"] == "previous"
        assert report.signature.header == "X-Karzoun-Signature-256-Previous"
        assert "previous secret of a rotation" in report.signature.reason
        previous = [f for f in report.findings if f.code == "SIG_PREVIOUS_SECRET"]
        assert len(previous) == 1 and previous[0].severity == "info"
        assert "SIG_OTHER_VALUE_MATCHES" not in report.codes()

    def test_new_secret_during_rotation_matches_current(self) -> None:
        request = delivery(current=CURRENT, previous=PREVIOUS)
        report = check(request, secret=CURRENT)
        assert report.profile is not None and report.profile["secret_matched"] == "current"
        assert "SIG_PREVIOUS_SECRET" not in report.codes()

    def test_wrong_secret(self) -> None:
        report = check(delivery(previous=PREVIOUS), secret="not-it", token=TOKEN)
        assert not report.ok
        assert report.outcome.status == "rejected"
        assert report.profile is not None and report.profile["secret_matched"] is None
        assert "SIG_MISMATCH" in report.codes()
        assert report.outcome.if_verified == {"event": "conversation.closed",
                                              "triggers": ["conversation.closed"],
                                              "status": "fires"}

    def test_no_secret_given(self) -> None:
        report = check(delivery())
        assert report.outcome.status == "rejected"
        no_secret = next(f for f in report.findings if f.code == "SIG_NO_SECRET")
        assert no_secret.fix is not None and "--credential secret=" in no_secret.fix

    def test_missing_signature_header(self) -> None:
        report = check(delivery(current=None), secret=CURRENT)
        assert report.outcome.status == "rejected"
        assert "SIG_HEADER_MISSING" in report.codes()

    def test_any_path_is_fine(self) -> None:
        report = check(delivery(path="/anything/at/all"), secret=CURRENT)
        assert report.ok
        assert "REQ_WRONG_PATH" not in report.codes()

    def test_no_event_in_the_envelope(self) -> None:
        report = check(delivery({"version": 2, "id": "e"}), secret=CURRENT)
        assert report.outcome.status == "no-event"
        assert not report.ok


class TestToken:
    def test_mismatch_rejects_and_names_lengths_not_values(self) -> None:
        report = check(delivery(token="wrong-token"), secret=CURRENT, token=TOKEN)
        assert report.outcome.status == "rejected"
        assert report.outcome.http_status == 401
        assert report.profile is not None and report.profile["token"] == "mismatch"
        mismatch = next(f for f in report.findings if f.code == "SIG_TOKEN_MISMATCH")
        assert mismatch.severity == "error" and mismatch.fix
        text = encode_report(report)
        assert TOKEN not in text and "wrong-token" not in text
        assert [s.name for s in report.steps] == ["challenge", "verify", "token"]
        assert step(report, "token")[0] == "fail"
        assert report.outcome.if_verified is not None
        assert report.outcome.if_verified["status"] == "fires"

    def test_mismatch_does_not_use_up_the_transaction_id(self) -> None:
        dedupe = DedupeIndex()
        check(delivery(token="wrong-token"), dedupe, secret=CURRENT, token=TOKEN)
        report = check(delivery(), dedupe, secret=CURRENT, token=TOKEN)
        assert report.outcome.status == "fires"

    def test_missing_header(self) -> None:
        report = check(delivery(token=None), secret=CURRENT, token=TOKEN)
        assert report.profile is not None and report.profile["token"] == "missing"
        assert "no Karzoun-token header" in next(
            f.message for f in report.findings if f.code == "SIG_TOKEN_MISMATCH")

    def test_not_checked_without_a_token(self) -> None:
        report = check(delivery(), secret=CURRENT)
        assert report.ok
        assert report.profile is not None and report.profile["token"] == "not-checked"
        assert step(report, "token") == ("skip", "not checked (give --credential token=...)")

    def test_token_header_is_masked_in_reports(self) -> None:
        report = check(delivery(), secret=CURRENT, token=TOKEN)
        headers = dict((name, value) for name, value in report.request["headers"])
        assert headers["Karzoun-token"] == "[masked]"


class TestDedupeAndShape:
    def test_a_redelivery_is_a_duplicate(self) -> None:
        dedupe = DedupeIndex()
        assert check(delivery(), dedupe, secret=CURRENT).outcome.status == "fires"
        assert check(delivery(), dedupe, secret=CURRENT).outcome.status == "duplicate"

    def test_profile_json_only_on_profile_reports(self) -> None:
        assert "profile" in report_json(check(delivery(), secret=CURRENT))
        assert "profile" not in report_json(run(make_request()))

    def test_unknown_profile(self) -> None:
        with pytest.raises(WhdebugError, match="unknown profile 'karzoun'.*karzoun-tenant"):
            get_profile("karzoun")

    def test_registry(self) -> None:
        profile = PROFILES[KARZOUN_TENANT]
        assert profile.scheme == "karzoun"
        assert profile.definition.sensitive_keys == ["secret", "token"]
        assert profile.definition.trigger_events == []

    def test_profile_codes_are_registered_and_produced(self) -> None:
        produced = {
            code
            for report in (
                check(delivery(current="new", previous=PREVIOUS), secret=PREVIOUS),
                check(delivery(token="x"), secret=CURRENT, token=TOKEN),
            )
            for code in report.codes()
        }
        profile_codes = {c for c in PROFILE_AND_READINESS_CODES if not c.startswith("RDY_")}
        assert profile_codes <= FINDING_CODES.keys()
        assert profile_codes <= produced


# --- the command ----------------------------------------------------------------------------


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def rotated(tmp_path: Path) -> str:
    path = tmp_path / "rotated.http"
    path.write_bytes(format_http(delivery(current="brand-new-secret", previous=PREVIOUS)))
    return str(path)


class TestReplayProfile:
    def test_previous_secret_passes_and_says_so(self, rotated: str) -> None:
        result = invoke("replay", "--profile", "karzoun-tenant", "--file", rotated,
                        "--credential", f"secret={PREVIOUS}", "--credential", f"token={TOKEN}")
        assert result.exit_code == 0, result.output
        assert "previous secret of a rotation" in result.stdout
        assert "SIG_PREVIOUS_SECRET" in result.stdout
        assert "Karzoun-token equals your token" in result.stdout
        assert "summary (karzoun-tenant): 1 request — 1 fires" in result.stdout
        assert PREVIOUS not in result.stdout and TOKEN not in result.stdout

    def test_json_has_the_profile_block(self, rotated: str) -> None:
        result = invoke("replay", "--profile", "karzoun-tenant", "--file", rotated,
                        "--credential", f"secret={PREVIOUS}", "--json")
        report, summary = (json.loads(line) for line in result.stdout.splitlines())
        assert report["profile"]["secret_matched"] == "previous"
        assert report["profile"]["token"] == "not-checked"
        assert summary["outcomes"] == {"fires": 1}

    def test_token_mismatch_exits_1(self, rotated: str) -> None:
        result = invoke("replay", "--profile", "karzoun-tenant", "--file", rotated,
                        "--credential", f"secret={PREVIOUS}", "--credential", "token=nope")
        assert result.exit_code == 1
        assert "SIG_TOKEN_MISMATCH" in result.stdout

    @pytest.mark.parametrize(("args", "message"), [
        ([], "give --definition FILE or --profile NAME"),
        (["--profile", "karzoun-tenant", "--definition", "x.json"], "one of them"),
        (["--profile", "nope"], "unknown profile 'nope'"),
    ])
    def test_errors(self, rotated: str, args: list[str], message: str) -> None:
        result = invoke("replay", "--file", rotated, *args)
        assert result.exit_code == 2
        assert len(result.stderr.splitlines()) == 1
        assert message in result.stderr
