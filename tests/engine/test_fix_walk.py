"""Every finding that carries its fix as a JSON Patch, applied: the finding is gone and no new
error appears. Walked over the definitions written the way Karzoun's docs write them
(tests/docs_corpus), the committed fixture definitions, and every fixture request replayed
against its definition."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES
from paths import REPO

from whdebug.engine import DedupeIndex, analyze
from whdebug.engine.lint.definition import check_definition
from whdebug.engine.patches import apply_patch
from whdebug.engine.report import Finding
from whdebug.formats.read import read_request_file
from whdebug.model.definition import Definition, load_definition
from whdebug.model.secrecy import Secrets

CORPUS = REPO / "tests" / "docs_corpus"
BROKEN = {"js-literal.js"}
"""Fixtures that test DEF_PARSE: nothing to walk."""
DEFINITIONS = sorted(CORPUS.glob("*.js")) + sorted(
    p for p in (FIXTURES / "definitions").rglob("*.js*") if p.name not in BROKEN)
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())["scenarios"]

def _key(item: Finding) -> tuple[str, str | None]:
    return item.code, item.pointer


def _errors(findings: list[Finding] | tuple[Finding, ...]) -> set[tuple[str, str | None]]:
    return {_key(f) for f in findings if f.severity == "error"}


def _name(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("path", DEFINITIONS, ids=_name)
def test_every_check_fix_applied_removes_its_finding(path: Path) -> None:
    walk_definition(path)


def walk_definition(path: Path) -> set[str]:
    """Apply each check finding's patch; the codes whose patch was applied."""
    patched: set[str] = set()
    definition = load_definition(path)
    before = check_definition(definition)
    for item in before:
        if item.patch is None:
            continue
        fixed = Definition(apply_patch(definition.data, item.patch), definition.path)
        after = check_definition(fixed)
        assert _key(item) not in {_key(f) for f in after}, (item, after)
        new = _errors(after) - _errors(before)
        assert not new, f"{item.code} at {item.pointer}: its patch adds {new}"
        patched.add(item.code)
    return patched


def _replay(definition: Definition, scenario: dict[str, Any]) -> list[Any]:
    secrets = Secrets(scenario["credentials"], scenario["config"])
    now = datetime.fromisoformat(scenario["now"].replace("Z", "+00:00"))
    dedupe = DedupeIndex()
    requests = [r for f in scenario["files"] for r in read_request_file(FIXTURES / f)]
    return [analyze(r, definition, secrets, now=now, dedupe=dedupe) for r in requests]


@pytest.mark.parametrize("scenario", MANIFEST, ids=[s["name"] for s in MANIFEST])
def test_every_replay_fix_applied_removes_its_finding(scenario: dict[str, Any]) -> None:
    walk_scenario(scenario)


def walk_scenario(scenario: dict[str, Any]) -> set[str]:
    """Apply each replay finding's patch, replay again; the codes whose patch was applied."""
    patched: set[str] = set()
    definition = load_definition(FIXTURES / scenario["definition"])
    reports = _replay(definition, scenario)
    for index, report in enumerate(reports):
        for item in report.findings:
            if item.patch is None or item.step == "definition":
                continue
            fixed = Definition(apply_patch(definition.data, item.patch), definition.path)
            after = _replay(fixed, scenario)[index]
            assert item.code not in after.codes() or item not in after.findings, (
                scenario["name"], item, after.findings)
            if item.code in ("EVT_NO_TRIGGER", "EVT_NEAR_MISS"):
                assert item.code not in after.codes(), (scenario["name"], item)
            if item.code in ("EVT_NO_TRIGGER", "EVT_NEAR_MISS", "EVT_PATH_SUGGESTION"):
                assert after.outcome.status == "fires", (scenario["name"], item, after.outcome)
            new = {f.code for f in after.findings if f.severity == "error"} - {
                f.code for f in report.findings if f.severity == "error"}
            assert not new, f"{scenario['name']}: the patch of {item.code} adds {new}"
            assert not (check_definition(fixed) and _errors(check_definition(fixed))
                        - _errors(check_definition(definition))), (
                f"{scenario['name']}: the patch of {item.code} adds a check error")
            patched.add(item.code)
    return patched


def test_the_walk_applies_the_main_fixes() -> None:
    """The corpus exercises the patches that matter: the walk above is not empty."""
    patched: set[str] = set()
    for path in DEFINITIONS:
        patched |= walk_definition(path)
    for scenario in MANIFEST:
        patched |= walk_scenario(scenario)
    expected = {"DEF_NS_FORMAT", "DEF_TRIGGER_TYPE", "DEF_HANDLER_WITHOUT_TRIGGER",
                "DEF_DUPLICATE_TRIGGER", "DEF_LEGACY_ECOMMERCE", "DEF_SECRET_NOT_SENSITIVE",
                "DEF_STATUS_PUBLIC", "DEF_VERSION", "DEF_XSOURCE_NO_FALLBACK",
                "EVT_NO_TRIGGER", "EVT_NEAR_MISS", "EVT_PATH_SUGGESTION"}
    assert expected <= patched, expected - patched


SAMPLE_WALKS = [("salla.js", FIXTURES / "samples" / "salla"),
                ("salla.js", FIXTURES / "samples" / "sync")]


@pytest.mark.parametrize(("name", "folder"), SAMPLE_WALKS,
                         ids=[f"{n}+{f.name}" for n, f in SAMPLE_WALKS])
def test_every_fix_on_docs_samples_removes_its_finding(name: str, folder: Path) -> None:
    """The docs' Salla example with sample payloads, as `check --samples` and `sync` see them:
    each sample report's and the sync preview's patches, applied, remove their finding."""
    from whdebug.tools.readiness import assess, load_samples
    from whdebug.tools.syncpreview import parse_sample, preview_sync

    now = datetime.fromisoformat("2025-11-24T16:00:05+00:00")

    def findings_of(definition: Definition) -> list[Finding]:
        samples = load_samples(folder, definition, Secrets(), now=now)
        ready = assess(definition, samples, Secrets(), now=now, lint=(), path=name,
                       samples_dir=str(folder))
        found = [f for r in ready.samples if r.report for f in r.report.findings
                 if f.step != "definition"]
        captures = [c for p in sorted(folder.iterdir())
                    for c in parse_sample(p.read_bytes(), p.name, definition)]
        return found + list(preview_sync(definition, captures).all_findings)

    definition = load_definition(CORPUS / name)
    before = findings_of(definition)
    for item in before:
        if item.patch is None:
            continue
        after = findings_of(Definition(apply_patch(definition.data, item.patch)))
        assert item not in after, item
        new = {f.code for f in after if f.severity == "error"} - {
            f.code for f in before if f.severity == "error"}
        assert not new, f"the patch of {item.code} adds {new}"
