"""The readiness table's verification row says what it could check."""

from __future__ import annotations

from pathlib import Path

from tests.cli_support import run
from tests.paths import FIXTURES

SALLA = str(FIXTURES / "definitions" / "salla.json")


def row(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line.strip().startswith(name))


def test_no_samples_is_not_a_verification_pass(tmp_path: Path) -> None:
    (tmp_path / "samples").mkdir()
    result = run("check", SALLA, "--samples", str(tmp_path / "samples"),
                 "--config", "webhookSecret=partner-secret")
    assert result.exit_code == 1
    verification = row(result.stdout, "verification")
    assert "pass" not in verification and "0 of 0" not in verification
    assert "! warn" in verification and "no sample to verify" in verification


def test_samples_that_verify_pass() -> None:
    result = run("check", SALLA, "--samples", str(FIXTURES / "samples" / "salla"),
                 "--config", "webhookSecret=my-partner-secret")
    assert "✓ pass   hmac-sha256 in X-Salla-Signature; 4 of 4 samples verify" in \
        row(result.stdout, "verification")
