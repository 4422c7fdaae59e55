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


WOOCOMMERCE = str(FIXTURES / "definitions" / "woocommerce.json")


def test_a_bare_payload_says_its_event_comes_from_its_file_name(tmp_path: Path) -> None:
    """The definition reads the event from a header, which a bare JSON payload lacks: the
    event 'order' of `order.json` comes from the file name, and both views say so (a reader
    looking for 'order' in the payload would not find it)."""
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "order.json").write_text('{"id": 4711, "status": "processing"}')
    checked = run("check", WOOCOMMERCE, "--samples", str(samples),
                  "--credential", "webhookSecret=wc-secret")
    assert "event 'order'" in checked.stdout
    text = " ".join(checked.stdout.split())
    assert ("the event is read from header X-WC-Webhook-Topic, which a bare payload lacks: "
            "it is taken from the file name (<event>[--<label>].json, __ for /)") in text, text
    assert "fix: rename the file after the event it carries" in text and (
        "e.g. order.created.json" in text)
    synced = run("sync", WOOCOMMERCE, "--samples", str(samples / "order.json"))
    lines = [line for line in synced.stdout.splitlines() if "order.json  event" in line]
    assert lines and 'event "order" (from the file name' in lines[0], synced.stdout
    # The fix, applied, removes the finding: the renamed sample fires its trigger.
    (samples / "order.json").rename(samples / "order.created.json")
    renamed = run("check", WOOCOMMERCE, "--samples", str(samples),
                  "--credential", "webhookSecret=wc-secret")
    assert "RDY_SAMPLE_FIRES_NOTHING" not in renamed.stdout
    assert "order.created.json" in row(renamed.stdout, "order.created")
