"""`whdebug check D --samples DIR`: the readiness table a submission is sent with."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cli_support import run
from conftest import FIXTURES
from factories import BASE_DEFINITION

from whdebug.engine.lint.definition import check_definition
from whdebug.engine.report import FINDING_CODES, PROFILE_AND_READINESS_CODES
from whdebug.errors import WhdebugError
from whdebug.formats.capture_json import capture_to_json
from whdebug.formats.har import format_har
from whdebug.formats.http import format_http
from whdebug.model.definition import Definition, load_definition
from whdebug.model.request import Capture, Secrets
from whdebug.tools.readiness import (
    STAND_IN_SECRET,
    Readiness,
    assess,
    event_from_name,
    load_samples,
    sample_files,
)
from whdebug.tools.signing import sign_request

NOW = datetime(2025, 11, 24, 16, 0, 5, tzinfo=UTC)
NOW_TEXT = "2025-11-24T16:00:05Z"
DEFINITIONS = FIXTURES / "definitions"
SALLA = DEFINITIONS / "salla.json"
SALLA_SAMPLES = FIXTURES / "samples" / "salla"
SECRET = "readiness-secret-8c1"


def readiness(definition: Path | Definition, samples: Path, **credentials: str) -> Readiness:
    defn = definition if isinstance(definition, Definition) else load_definition(definition)
    secrets = Secrets(credentials)
    return assess(defn, load_samples(samples, defn, secrets, now=NOW), secrets, now=NOW,
                  lint=check_definition(defn, submission=True), path=str(definition),
                  samples_dir=str(samples))


def codes(result: Readiness) -> list[str]:
    return [item.code for item in result.findings]


def copy_samples(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "samples"
    folder.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(SALLA_SAMPLES / name, folder / name)
    return folder


def write_definition(tmp_path: Path, data: dict[str, Any], name: str = "app.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=2))
    return path


# The document schema's identity fields and trigger fields, which a submission must carry.
IDENTITY = {"name": "acme", "type": "acme", "title": "Acme", "label": "Acme",
            "description": "Acme CRM events.", "shortDescription": "Acme CRM", "category": "crm",
            "icon": "https://cdn.example.com/acme/icon.svg",
            "logo": "https://cdn.example.com/acme/logo.svg",
            "docsUrl": "https://docs.example.com/acme"}
TRIGGER = {"img": "automation3.svg", "icon": "bell", "label": "Event",
           "description": "When it happens", "isCustom": False}


def acme(**changes: Any) -> dict[str, Any]:
    """The tests' base definition, complete for a submission, with top-level keys or webhook
    keys replaced."""
    data: dict[str, Any] = {**IDENTITY, **json.loads(json.dumps(BASE_DEFINITION))}
    for key, value in changes.items():
        if key in ("triggers", "sync", "auth"):
            data[key] = value
        else:
            data["webhook"][key] = value
    data["triggers"] = [{**TRIGGER, **trigger} for trigger in data["triggers"]]
    return data


class TestBundledSamples:
    def test_salla_is_ready(self) -> None:
        result = readiness(SALLA, SALLA_SAMPLES, webhookSecret=SECRET)
        assert result.ready, msgspec.to_builtins(result.blockers)
        assert {c.event: c.samples for c in result.triggers} == {
            "order.created": ("order.created.json",),
            "order.updated": ("order.updated.json",),
            "abandoned.cart": ("abandoned.cart.json",),
            "customer.created": ("customer.created.json",),
        }
        assert result.triggers_not_fired == []
        assert result.samples_firing_nothing == []
        assert result.verification.configured
        assert len(result.verification.passing) == 4 and result.verification.failing == ()
        assert {h.event: (h.stable, h.codes) for h in result.handlers} == {
            "order.created": (True, {"order.created.json": "251832401"}),
            "abandoned.cart": (True, {"abandoned.cart.json": "88120453"}),
        }
        assert all(s.sample.kind == "payload" for s in result.samples)
        assert codes(result) == []

    def test_without_a_secret_bare_payloads_use_a_stand_in(self) -> None:
        result = readiness(SALLA, SALLA_SAMPLES)
        assert result.ready
        assert codes(result) == ["RDY_STAND_IN_SECRET"]
        assert result.findings[0].severity == "info"

    def test_broken_sync_definition_is_blocked(self) -> None:
        result = readiness(DEFINITIONS / "salla-broken-sync.json", SALLA_SAMPLES,
                           webhookSecret=SECRET)
        assert not result.ready
        assert "DEF_SCHEMA" in [f.code for f in result.lint]
        assert sorted(codes(result)) == ["RDY_HANDLER_NO_STABLE_ID", "RDY_HANDLER_NO_TRIGGER"]
        unstable = next(f for f in result.findings if f.code == "RDY_HANDLER_NO_STABLE_ID")
        assert "mapping.code ($.data.order_id) yields no external id" in unstable.message
        assert "order.created.json" in unstable.message
        refunded = next(h for h in result.handlers if h.event == "order.refunded")
        assert (refunded.has_trigger, refunded.stable) == (False, None)


class TestCoverage:
    def test_trigger_without_sample(self, tmp_path: Path) -> None:
        folder = copy_samples(tmp_path, "order.created.json", "order.updated.json",
                              "abandoned.cart.json")
        result = readiness(SALLA, folder, webhookSecret=SECRET)
        assert result.triggers_not_fired == ["customer.created"]
        missing = next(f for f in result.findings if f.code == "RDY_TRIGGER_NO_SAMPLE")
        assert missing.pointer == "/triggers/3/event" and missing.severity == "error"
        assert not result.ready

    def test_sample_that_fires_nothing_carries_its_findings(self, tmp_path: Path) -> None:
        folder = copy_samples(tmp_path, *(p.name for p in SALLA_SAMPLES.iterdir()))
        (folder / "refund.json").write_text(json.dumps(
            {"event": "Order.Created", "data": {"id": 1}}))
        result = readiness(SALLA, folder, webhookSecret=SECRET)
        assert result.samples_firing_nothing == ["refund.json"]
        nothing = next(f for f in result.findings if f.code == "RDY_SAMPLE_FIRES_NOTHING")
        assert "EVT_NO_TRIGGER" in nothing.message
        sample = next(s for s in result.samples if s.sample.name == "refund.json")
        assert sample.report is not None
        assert "EVT_NEAR_MISS" in sample.report.codes()
        data = msgspec.to_builtins(sample.row())
        assert data["outcome"] == "no-trigger"
        assert "EVT_NEAR_MISS" in [f["code"] for f in data["findings"]]

    def test_empty_folder(self, tmp_path: Path) -> None:
        (tmp_path / "samples").mkdir()
        (tmp_path / "samples" / "README.md").write_text("ignored")
        result = readiness(SALLA, tmp_path / "samples")
        assert "RDY_NO_SAMPLES" in codes(result)
        assert "RDY_TRIGGER_NO_SAMPLE" in codes(result)

    def test_unreadable_samples(self, tmp_path: Path) -> None:
        folder = tmp_path / "samples"
        folder.mkdir()
        (folder / "broken.json").write_text("{not json")
        (folder / "bad.http").write_bytes(b"garbage\r\n")
        result = readiness(SALLA, folder)
        unreadable = [f for f in result.findings if f.code == "RDY_SAMPLE_UNREADABLE"]
        assert len(unreadable) == 2
        assert {s.sample.kind for s in result.samples} == {"json", "http"}
        assert result.samples_firing_nothing == ["bad.http", "broken.json"]

    def test_header_event_from_the_file_name(self, tmp_path: Path) -> None:
        folder = tmp_path / "samples"
        folder.mkdir()
        for number, name in enumerate(("orders__create.json", "orders__updated--partial.json",
                                       "customers__create.json"), 1):
            (folder / name).write_text(f'{{"id": {number}, "updated_at": "2025"}}')
        result = readiness(DEFINITIONS / "shopify.json", folder, webhookSecret=SECRET)
        fired = {s.sample.name: s.fired for s in result.samples}
        assert fired == {
            "customers__create.json": ("customers/create",),
            "orders__create.json": ("orders/create",),
            "orders__updated--partial.json": ("orders/updated",),
        }
        assert result.ready, msgspec.to_builtins(result.blockers)

    def test_samples_replay_in_order_so_a_shared_id_is_a_duplicate(self, tmp_path: Path) -> None:
        """As when a reviewer fires them one after the other: the runtime drops the second."""
        folder = tmp_path / "samples"
        folder.mkdir()
        for name in ("customers__create.json", "orders__create.json"):
            (folder / name).write_text('{"id": 1, "updated_at": "2025"}')
        result = readiness(DEFINITIONS / "shopify.json", folder, webhookSecret=SECRET)
        first, second = result.samples
        assert (first.sample.name, first.fired) == ("customers__create.json",
                                                    ("customers/create",))
        assert second.report is not None and second.report.outcome.status == "duplicate"
        assert second.fired == ()
        blocker = next(f for f in result.findings if f.code == "RDY_SAMPLE_FIRES_NOTHING")
        assert "orders__create.json" in blocker.message and "duplicate" in blocker.message

    def test_composite_event_from_the_file_name(self, tmp_path: Path) -> None:
        folder = tmp_path / "samples"
        folder.mkdir()
        (folder / "pull_request.opened.json").write_text(
            '{"action": "opened", "pull_request": {"node_id": "n"}}')
        (folder / "pull_request.closed.json").write_text('{"action": "opened"}')
        result = readiness(DEFINITIONS / "github.json", folder, webhookSecret=SECRET)
        opened, closed = sorted(result.samples, key=lambda s: s.sample.name, reverse=True)
        assert opened.fired == ("pull_request.opened",)
        assert closed.report is None and closed.sample.error is not None
        assert "holds 'opened'" in closed.sample.error

    def test_fallback_header_from_the_file_name(self, tmp_path: Path) -> None:
        folder = tmp_path / "samples"
        folder.mkdir()
        (folder / "deal.won.json").write_text('{"delivery_id": "d1"}')
        (folder / "anything.json").write_text('{"event": "contact.created"}')
        result = readiness(DEFINITIONS / "acme-crm.json", folder, webhookSecret=SECRET)
        assert result.ready, msgspec.to_builtins(result.blockers)


class TestVerificationReadiness:
    def test_http_sample_with_the_wrong_secret(self, tmp_path: Path) -> None:
        folder = copy_samples(tmp_path, *(p.name for p in SALLA_SAMPLES.iterdir()))
        defn = load_definition(SALLA)
        signed = sign_request(b'{"event": "order.created", "data": {"id": 9}}', defn,
                              Secrets({"webhookSecret": "someone-elses"}), now=NOW)
        (folder / "captured.http").write_bytes(format_http(signed.request))
        result = readiness(SALLA, folder, webhookSecret=SECRET)
        assert result.verification.failing == ("captured.http",)
        failing = next(f for f in result.findings if f.code == "RDY_VERIFICATION_FAILS")
        assert "SIG_MISMATCH" in failing.message and failing.fix
        assert "captured.http" in result.samples_firing_nothing
        assert "RDY_SAMPLE_FIRES_NOTHING" not in codes(result)

    def test_no_verification_blocks(self, tmp_path: Path) -> None:
        folder = tmp_path / "samples"
        folder.mkdir()
        (folder / "a.json").write_text('{"event": "form.submitted", "submission": {"id": 1}}')
        result = readiness(DEFINITIONS / "forms.json", folder)
        assert "RDY_VERIFICATION_NONE" in codes(result)
        assert result.samples[0].fired == ("form.submitted",)
        assert not result.verification.configured

    def test_har_and_capture_exports(self, tmp_path: Path) -> None:
        defn = load_definition(SALLA)
        folder = tmp_path / "samples"
        folder.mkdir()
        requests = [
            sign_request(json.dumps({"event": event, "data": {"id": n}}).encode(), defn,
                         Secrets({"webhookSecret": SECRET}), now=NOW).request
            for n, event in enumerate(["order.created", "order.updated", "abandoned.cart",
                                       "customer.created"])
        ]
        captures = [Capture(request) for request in requests]
        (folder / "two.har").write_bytes(format_har(captures[:2]))
        (folder / "cart.json").write_text(json.dumps(capture_to_json(captures[2])))
        (folder / "list.json").write_text(json.dumps([capture_to_json(captures[3])]))
        result = readiness(SALLA, folder, webhookSecret=SECRET)
        kinds = {s.sample.name: s.sample.kind for s in result.samples}
        assert kinds == {"cart.json": "capture", "list.json": "capture",
                         "two.har#1": "har", "two.har#2": "har"}
        assert result.ready, msgspec.to_builtins(result.blockers)


class TestHandlers:
    def sync_definition(self, handler: dict[str, Any]) -> dict[str, Any]:
        return acme(sync={"webhooks": {"handlers": {"deal.won": handler}}})

    @pytest.mark.parametrize(("handler", "body", "problem"), [
        ({"recordType": "order", "operation": "create", "mapping": {"code": "$.updated_at"}},
         {"updated_at": "2025-11-24T10:00:00Z"}, "timestamp"),
        ({"recordType": "order", "operation": "create", "mapping": {"code": "$.deal"}},
         {"deal": {"id": 1}}, "not an id"),
        ({"recordType": "order", "operation": "create", "mapping": {"code": "$.missing"}},
         {}, "yields no external id"),
        ({"resource": "orders", "operation": "upsert", "dataPath": "$.deal"},
         {"deal": {"name": "no id"}}, "has no `id`"),
        ({"resource": "orders", "operation": "upsert", "dataPath": "$.nowhere"},
         {}, "finds nothing"),
    ])
    def test_no_stable_id(self, tmp_path: Path, handler: dict[str, Any],
                          body: dict[str, Any], problem: str) -> None:
        path = write_definition(tmp_path, self.sync_definition(handler))
        folder = tmp_path / "samples"
        folder.mkdir()
        (folder / "won.json").write_text(json.dumps({"event": "deal.won", "id": "e1", **body}))
        (folder / "created.json").write_text('{"event": "contact.created", "id": "e2"}')
        result = readiness(path, folder, webhookSecret=SECRET)
        unstable = [f for f in result.findings if f.code == "RDY_HANDLER_NO_STABLE_ID"]
        assert len(unstable) == 1 and problem in unstable[0].message, unstable
        assert result.handlers[0].stable is False
        assert not result.ready

    def test_stable_resource_id(self, tmp_path: Path) -> None:
        path = write_definition(tmp_path, self.sync_definition(
            {"resource": "orders", "operation": "upsert", "dataPath": "$.deal"}))
        folder = tmp_path / "samples"
        folder.mkdir()
        (folder / "won.json").write_text('{"event": "deal.won", "id": "e1", "deal": {"id": 5}}')
        (folder / "created.json").write_text('{"event": "contact.created", "id": "e2"}')
        result = readiness(path, folder, webhookSecret=SECRET)
        assert result.handlers[0].codes == {"won.json": "5"}
        assert result.ready, msgspec.to_builtins(result.blockers)

    def test_handler_without_sample_is_a_warning(self, tmp_path: Path) -> None:
        data = acme(sync={"webhooks": {"handlers": {"deal.won": {
            "recordType": "order", "operation": "create", "mapping": {"code": "$.id"}}}}},
            triggers=[{"type": "miniapps:acme", "event": "contact.created"},
                      {"type": "miniapps:acme", "event": "deal.won"}])
        path = write_definition(tmp_path, data)
        folder = tmp_path / "samples"
        folder.mkdir()
        (folder / "created.json").write_text('{"event": "contact.created", "id": "e2"}')
        result = readiness(path, folder, webhookSecret=SECRET)
        warning = next(f for f in result.findings if f.code == "RDY_HANDLER_NO_SAMPLE")
        assert warning.severity == "warning"
        assert result.handlers[0].stable is None


def test_every_readiness_code_is_registered_and_produced(tmp_path: Path) -> None:
    """Each RDY_ code is produced by a scenario in this file (checked by name here)."""
    source = Path(__file__).read_text()
    rdy = {code for code in PROFILE_AND_READINESS_CODES if code.startswith("RDY_")}
    assert rdy == {code for code in FINDING_CODES if code.startswith("RDY_")}
    assert all(f'"{code}"' in source for code in rdy)


class TestHelpers:
    @pytest.mark.parametrize(("name", "event"), [
        ("order.created.json", "order.created"),
        ("order.created--second.json", "order.created"),
        ("orders__create.json", "orders/create"),
        ("push", "push"),
    ])
    def test_event_from_name(self, name: str, event: str) -> None:
        assert event_from_name(name) == event

    def test_sample_files_skip_hidden_and_other_files(self, tmp_path: Path) -> None:
        for name in ("b.json", "a.http", ".hidden.json", "notes.txt", "c.HAR", "d.rest"):
            (tmp_path / name).write_text("{}")
        (tmp_path / "sub").mkdir()
        assert [p.name for p in sample_files(tmp_path)] == ["a.http", "b.json", "c.HAR",
                                                            "d.rest"]

    def test_missing_folder(self, tmp_path: Path) -> None:
        with pytest.raises(WhdebugError, match="samples folder not found"):
            sample_files(tmp_path / "nope")
        (tmp_path / "file").write_text("")
        with pytest.raises(WhdebugError, match="must be a folder"):
            sample_files(tmp_path / "file")


# --- the command ----------------------------------------------------------------------------


class TestCheckSamplesCommand:
    def test_ready_table_and_exit_0(self) -> None:
        result = run("check", str(SALLA), "--samples", str(SALLA_SAMPLES),
                     "--config", f"webhookSecret={SECRET}", "--now", NOW_TEXT)
        assert result.exit_code == 0, result.output
        out = " ".join(result.stdout.split())  # rows wrap at the terminal width
        for row in ("definition lint", "verification", "triggers", "samples", "sync handlers"):
            assert row in out
        assert "4 of 4 samples verify" in out
        assert "4 of 4 fired by a sample" in out
        assert "ready for review: nothing blocks it" in out
        assert SECRET not in out

    def test_blocked_exits_1(self) -> None:
        result = run("check", str(DEFINITIONS / "salla-broken-sync.json"), "--samples",
                     str(SALLA_SAMPLES))
        assert result.exit_code == 1
        assert "not ready for review: 3 blockers" in " ".join(result.stdout.split())
        assert "RDY_HANDLER_NO_TRIGGER" in result.stdout

    def test_json(self) -> None:
        result = run("check", str(SALLA), "--samples", str(SALLA_SAMPLES), "--json",
                     "--credential", f"webhookSecret={SECRET}")
        assert result.exit_code == 0
        document = json.loads(result.stdout)
        assert document["schema"] == "whdebug.readiness/1"
        assert document["ready"] is True and document["blockers"] == 0
        assert document["definition"] == {"ns": "salla", "version": "3.1.0", "path": str(SALLA)}
        assert document["triggers_not_fired"] == []
        assert document["samples_firing_nothing"] == []
        assert [s["name"] for s in document["samples"]] == sorted(
            p.name for p in SALLA_SAMPLES.iterdir())
        assert all(s["signed_on_the_fly"] and s["verdict"] == "pass"
                   for s in document["samples"])
        assert document["verification"]["failing"] == []
        assert {h["event"]: h["stable"] for h in document["handlers"]} == {
            "order.created": True, "abandoned.cart": True}

    def test_secrets_never_appear(self, tmp_path: Path) -> None:
        """A header-token definition: the token is the secret, and the samples carry it."""
        folder = tmp_path / "samples"
        folder.mkdir()
        (folder / "t.json").write_text('{"events": [{"type": "ticket.created"}], "batch_id": 1}')
        token = "batch-token-do-not-print"
        for extra in ([], ["--json"]):
            result = run("check", str(DEFINITIONS / "batch-events.json"), "--samples",
                         str(folder), "--credential", f"webhookToken={token}", *extra)
            assert result.exit_code == 0, result.output
            assert token not in result.stdout

    def test_stand_in_secret_is_named_not_hidden(self) -> None:
        result = run("check", str(SALLA), "--samples", str(SALLA_SAMPLES), "--json")
        document = json.loads(result.stdout)
        assert [f["code"] for f in document["findings"]] == ["RDY_STAND_IN_SECRET"]
        assert STAND_IN_SECRET not in result.stdout

    @pytest.mark.parametrize(("args", "message"), [
        (["--samples", "/no/such/dir"], "samples folder not found"),
        (["--credential", "webhookSecret=x"], "need --samples DIR"),
        (["--now", NOW_TEXT], "need --samples DIR"),
        (["--samples", str(SALLA_SAMPLES), "--credential", "novalue"], "expected KEY=VALUE"),
    ])
    def test_errors(self, args: list[str], message: str) -> None:
        result = run("check", str(SALLA), *args)
        assert result.exit_code == 2
        assert len(result.stderr.splitlines()) == 1 and message in result.stderr

    def test_plain_check_is_unchanged(self) -> None:
        result = run("check", str(SALLA), "--json")
        assert json.loads(result.stdout)["schema"] == "whdebug.check/1"


def test_payload_samples_are_real_json_files() -> None:
    for path in SALLA_SAMPLES.iterdir():
        document = json.loads(path.read_text())
        assert document["event"] == path.stem
        assert not path.read_bytes().startswith(b"version https://git-lfs")  # no LFS pointers


def test_a_duplicate_sample_is_told_to_have_its_own_id_not_to_be_renamed(tmp_path: Path) -> None:
    # samples --for on the Shopify corpus file: orders/create and orders/updated share $.id.
    # The fix said to rename orders__updated.json to orders__updated.json.
    from paths import REPO

    from whdebug.tools.samples import samples_for

    definition = load_definition(REPO / "tests" / "docs_corpus" / "shopify.js")
    folder = tmp_path / "samples"
    folder.mkdir()
    for item in samples_for(definition):
        (folder / item.file_name).write_bytes(item.payload)
    result = readiness(definition, folder)
    (dropped,) = [f for f in result.findings if f.code == "RDY_SAMPLE_FIRES_NOTHING"]
    assert "orders__updated.json" in dropped.message
    assert dropped.fix is not None
    assert "rename" not in dropped.fix
    assert ("carries transaction id 820982911946154508 ($.id), as orders__create.json did"
            in dropped.fix)
    assert "DEF_TX_NOT_PER_DELIVERY" in dropped.fix  # two events about one order
