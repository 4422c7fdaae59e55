"""Every committed fixture scenario gives the verdict, event and findings its manifest expects."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES

from whdebug.engine import AnalysisOptions, DedupeIndex, analyze
from whdebug.engine.report import FINDING_CODES, PROFILE_AND_READINESS_CODES
from whdebug.engine.reportline import encode_report
from whdebug.engine.session import ReplaySession
from whdebug.formats.read import read_request_file
from whdebug.model.definition import load_definition
from whdebug.model.secrecy import Secrets, SecretSet

MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())["scenarios"]


def replay(scenario: dict[str, Any], root: Path = FIXTURES) -> list[Any]:
    definition = load_definition(root / scenario["definition"])
    secrets = Secrets(scenario["credentials"], scenario["config"])
    now = datetime.fromisoformat(scenario["now"].replace("Z", "+00:00"))
    dedupe = DedupeIndex()
    requests = [r for f in scenario["files"] for r in read_request_file(root / f)]
    return [analyze(r, definition, secrets, now=now, dedupe=dedupe) for r in requests]


@pytest.mark.parametrize("scenario", MANIFEST, ids=[s["name"] for s in MANIFEST])
def test_scenario_gives_expected_report(scenario: dict[str, Any]) -> None:
    reports = replay(scenario)
    assert len(reports) == len(scenario["expect"])
    for report, expect in zip(reports, scenario["expect"], strict=True):
        codes = report.codes()
        assert report.outcome.status == expect["status"], (report.outcome, codes)
        for code in expect["codes"]:
            assert code in codes, f"{code} missing from {codes}"
        for code in expect.get("absent", []):
            assert code not in codes
        if "event" in expect:
            assert report.event.value == expect["event"]
        if "verdict" in expect:
            assert report.signature.verdict == expect["verdict"]
        for item in report.findings:
            assert item.code in FINDING_CODES
            if item.severity == "error":
                assert item.fix, f"{item.code} has no fix"


def secret_set(scenario: dict[str, Any]) -> SecretSet:
    definition = load_definition(FIXTURES / scenario["definition"])
    return SecretSet.build(definition, Secrets(scenario["credentials"], scenario["config"]))


WITH_SECRETS = [s for s in MANIFEST if secret_set(s)]


@pytest.mark.parametrize("scenario", WITH_SECRETS, ids=[s["name"] for s in WITH_SECRETS])
def test_no_fixture_secret_leaks_into_report(scenario: dict[str, Any]) -> None:
    secrets = secret_set(scenario)
    for report in replay(scenario):
        text = encode_report(report)
        leaked = [form for form in secrets.forms if form in text]
        assert not leaked, f"{scenario['name']}: a secret shows in its report"


def test_every_engine_finding_code_has_a_fixture() -> None:
    """The acceptance list: each request-level code is produced by at least one fixture."""
    produced = {code for s in MANIFEST for report in replay(s) for code in report.codes()}
    request_codes = {
        code
        for code in FINDING_CODES
        if not code.startswith("DEF_") and code not in PROFILE_AND_READINESS_CODES
    }
    assert request_codes - produced == set()


def verdicts(report: Any) -> tuple[Any, ...]:
    """What serve's console line shows of a report, and what a history keeps."""
    return (report.challenge.detected, report.signature.verdict, report.signature.reason,
            report.event.value, report.transaction.id, report.transaction.duplicate_of,
            report.triggers.matched, report.outcome.status, report.outcome.http_status,
            report.outcome.triggers, report.steps)


@pytest.mark.parametrize("scenario", MANIFEST, ids=[s["name"] for s in MANIFEST])
def test_the_verdict_only_analysis_gives_the_verdicts_of_the_full_one(
        scenario: dict[str, Any]) -> None:
    """`replay_verdict` (serve's console lines, a history's seeds) skips the findings, the
    request section and the customer and sync sections: every verdict, in order with the
    history, is the full analysis's, and its report holds nothing that needs masking."""
    definition = load_definition(FIXTURES / scenario["definition"])
    secrets = Secrets(scenario["credentials"], scenario["config"])
    now = datetime.fromisoformat(scenario["now"].replace("Z", "+00:00"))
    requests = [r for f in scenario["files"] for r in read_request_file(FIXTURES / f)]
    options = AnalysisOptions(diagnose=False)
    full = ReplaySession(definition, secrets, now=now, options=options)
    lite = ReplaySession(definition, secrets, now=now, options=options)
    forms = SecretSet.build(definition, secrets).forms
    for request in requests:
        expected, report = full.replay(request), lite.replay_verdict(request)
        assert verdicts(report) == verdicts(expected)
        assert report.findings == () and report.customer is None and report.sync is None
        assert set(report.request) == {"method", "path", "body_size"}
        text = encode_report(report)
        assert not [form for form in forms if form in text]
