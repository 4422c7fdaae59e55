"""The compiled Plan: typed blocks, JSONPaths compiled once, shape errors as findings."""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from datetime import datetime
from typing import Any

import pytest
from conftest import FIXTURES
from factories import BASE_DEFINITION, NOW, SECRET, make_definition, make_request, run, sign
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whdebug.engine import analyze
from whdebug.engine.bodypaths import compile_body_path
from whdebug.engine.lint.definition import check_definition
from whdebug.engine.locations import pointer
from whdebug.engine.plan import compile_definition
from whdebug.engine.reportline import encode_report
from whdebug.engine.signatures.digests import PARALLEL_MIN_BODY
from whdebug.formats.read import read_request_file
from whdebug.model.definition import Definition, load_definition
from whdebug.model.request import CapturedRequest, Secrets

DEFINITIONS = sorted((FIXTURES / "definitions").glob("*.json"))


def definition_with(location: tuple[str | int, ...], value: Any) -> Definition:
    """The base definition with the field at `location` set to `value`."""
    data = copy.deepcopy(BASE_DEFINITION)
    node: Any = data
    for part in location[:-1]:
        node = node[part]
    node[location[-1]] = value
    return Definition(data)


def pointers(findings: Any, code: str) -> list[str | None]:
    return [f.pointer for f in findings if f.code == code]


class TestCompile:
    @pytest.mark.parametrize("path", DEFINITIONS, ids=[p.name for p in DEFINITIONS])
    def test_fixture_definitions_compile_without_findings(self, path: Any) -> None:
        definition = load_definition(path)
        plan = compile_definition(definition)
        assert plan.findings == ()
        assert (plan.ns, plan.version) == (definition.ns, definition.version)
        assert plan.trigger_events == tuple(definition.trigger_events)
        assert plan.webhook_path == definition.webhook_path

    def test_every_block_is_typed(self) -> None:
        plan = compile_definition(load_definition(FIXTURES / "definitions" / "github.json"))
        verification = plan.verification
        assert verification is not None
        assert (verification.type, verification.header_name, verification.secret_key,
                verification.encoding) == ("hmac-sha256", "X-Hub-Signature-256",
                                           "webhookSecret", "hex")
        extraction = plan.event_extraction
        assert extraction is not None and extraction.composite is not None
        assert extraction.composite.separator == "."
        assert [(p.source, p.path) for p in extraction.composite.parts] == [
            ("header", "X-GitHub-Event"), ("body", "$.action")]
        assert extraction.composite.parts[1].body_path == compile_body_path("$.action")
        transaction = plan.transaction
        assert transaction is not None and transaction.generate
        assert [p.text for p in transaction.overrides["pull_request.opened"]] == [
            "$.pull_request.node_id"]
        assert plan.projection is not None and plan.projection.covers(("action",))
        assert plan.response.status == 200
        assert plan.sensitive_keys == ("client_secret", "webhookSecret")

    def test_analysis_compiles_no_jsonpath(self, monkeypatch: pytest.MonkeyPatch) -> None:
        definition = make_definition(
            transactionId={"paths": ["$['delivery id']", "$.items[0].id"]},
            eventExtraction={"source": "body", "path": "$.events[0].type"},
        )
        plan = compile_definition(definition)
        compile_body_path.cache_clear()

        def refuse(environment: Any, path: str) -> Any:
            raise AssertionError(f"compiled {path!r} during the analysis")

        import jsonpath

        monkeypatch.setattr(jsonpath.JSONPathEnvironment, "compile", refuse)
        body = {"events": [{"type": "deal.won"}], "items": [{"id": "i-7"}]}
        report = run(make_request(body), plan)
        assert report.outcome.status == "fires" and report.transaction.id == "i-7"
        with pytest.raises(AssertionError, match="compiled"):
            run(make_request(body), definition)  # a Definition is compiled on every call


class TestShapeErrors:
    """Each field of the wrong JSON type gives a finding with its pointer, never a crash."""

    def test_trigger_event_that_is_a_list(self) -> None:
        definition = make_definition(triggers=[
            {"type": "miniapps:acme", "event": ["push"]},
            {"type": "miniapps:acme", "event": "contact.created"},
        ])
        plan = compile_definition(definition)
        assert pointers(plan.findings, "DEF_SCHEMA") == ["/triggers/0/event"]
        assert plan.trigger_events == ("contact.created",)
        report = run(make_request(), definition)
        assert report.outcome.triggers == ("contact.created",)
        assert "/triggers/0/event" in pointers(report.findings, "DEF_SCHEMA")
        assert "/triggers/0/event" in pointers(check_definition(definition), "DEF_SCHEMA")

    @pytest.mark.parametrize("kind", [["hmac-sha256"], {}], ids=["list", "object"])
    def test_verification_type_that_is_not_a_string(self, kind: Any) -> None:
        definition = definition_with(("webhook", "verification", "type"), kind)
        plan = compile_definition(definition)
        assert plan.verification is not None and plan.verification.type is None
        assert pointers(plan.findings, "DEF_SCHEMA") == ["/webhook/verification/type"]
        report = run(make_request(), definition)
        assert (report.outcome.status, report.outcome.http_status) == ("rejected", 401)
        assert report.signature.type is None
        assert "/webhook/verification/type" in pointers(report.findings, "SIG_ALGORITHM")
        encode_report(report)
        lint = check_definition(definition, submission=True)
        assert "/webhook/verification/type" in pointers(lint, "DEF_SCHEMA")

    def test_event_extraction_that_is_a_number(self) -> None:
        definition = definition_with(("webhook", "eventExtraction"), 5)
        assert pointers(compile_definition(definition).findings, "DEF_SCHEMA") == [
            "/webhook/eventExtraction"]
        report = run(make_request(), definition)
        assert report.outcome.status == "no-event" and "EVT_NOT_FOUND" in report.codes()

    def test_transaction_paths_that_is_a_string(self) -> None:
        definition = definition_with(("webhook", "transactionId", "paths"), "x")
        assert pointers(compile_definition(definition).findings, "DEF_SCHEMA") == [
            "/webhook/transactionId/paths"]
        report = run(make_request(), definition)
        assert report.transaction.id is None and "TX_NOT_FOUND" in report.codes()
        assert report.outcome.status == "fires"

    def test_customer_mapping_that_is_not_a_jsonpath(self) -> None:
        definition = make_definition(customerExtraction={
            "basePath": "$.contact", "mapping": {"code": "$.", "primaryEmail": "email"}})
        plan = compile_definition(definition)
        assert pointers(plan.findings, "DEF_BAD_JSONPATH") == [
            "/webhook/customerExtraction/mapping/code"]
        report = run(make_request({"event": "deal.won", "id": "e-1",
                                   "contact": {"email": "a@example.com"}}), definition)
        assert report.customer is not None
        assert report.customer.fields == {"primaryEmail": "a@example.com"}
        assert "CUS_NO_CODE" in report.codes() and "DEF_BAD_JSONPATH" in report.codes()

    @pytest.mark.parametrize("path", ["$.", "$[", "$[1e99]", "$[?@.a > 1e999]"])
    def test_paths_python_jsonpath_rejects(self, path: str) -> None:
        """`$[1e99]` raises ValueError and `1e999` OverflowError inside python-jsonpath."""
        assert compile_body_path(path).error
        definition = definition_with(("webhook", "transactionId", "paths"), [path])
        expected = ["/webhook/transactionId/paths/0"]
        assert pointers(compile_definition(definition).findings, "DEF_BAD_JSONPATH") == expected
        assert pointers(check_definition(definition), "DEF_BAD_JSONPATH") == expected
        assert run(make_request(), definition).transaction.id is None

    @pytest.mark.parametrize("status", [99, 600, True, "201"])
    def test_response_status_the_runtime_cannot_send(self, status: Any) -> None:
        definition = make_definition(response={"statusCode": status, "body": "thanks"})
        plan = compile_definition(definition)
        assert pointers(plan.findings, "DEF_SCHEMA") == ["/webhook/response/statusCode"]
        assert (plan.response.status, plan.response.body) == (200, "thanks")


def test_near_miss_points_at_the_trigger_it_names() -> None:
    definition = make_definition(triggers=[
        {"type": "miniapps:acme", "event": "deal.won"},
        {"type": "miniapps:acme", "event": "deal.won"},
        {"type": "miniapps:acme", "event": "contact.create"},
    ])
    report = run(make_request(), definition)
    assert pointers(report.findings, "EVT_NEAR_MISS") == ["/triggers/2/event"]


def test_truncated_body_is_reported_when_verification_is_none() -> None:
    request = make_request(signature=None, body_size=10_000, truncated=True)
    report = run(request, make_definition(verification={"type": "none"}))
    assert "REQ_BODY_TRUNCATED" in report.codes()


class TestLargeBodyDigest:
    """The runtime's digest of a large body runs in a thread the analysis starts and joins."""

    @staticmethod
    def large_request(document: dict[str, Any]) -> CapturedRequest:
        body = json.dumps({**document, "blob": "a" * PARALLEL_MIN_BODY}).encode()
        return make_request(body, signature=sign(body))

    @staticmethod
    def digest_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate()
                if t.name.startswith(("whdebug-hmac", "whdebug-sha256"))]

    def test_passing_large_body_leaves_no_thread(self) -> None:
        request = self.large_request({"event": "deal.won", "id": "big-1"})
        report = analyze(request, compile_definition(make_definition()),
                         Secrets({"webhookSecret": SECRET}), now=NOW)
        assert report.signature.verdict == "pass" and report.outcome.status == "fires"
        assert report.request["body_sha256"] == hashlib.sha256(request.body).hexdigest()
        assert self.digest_threads() == []

    def test_rejected_large_body_has_its_sha256_and_leaves_no_thread(self) -> None:
        body = json.dumps({"event": "deal.won", "blob": "a" * PARALLEL_MIN_BODY}).encode()
        report = run(make_request(body, signature="0" * 64), make_definition())
        assert report.outcome.status == "rejected"
        assert report.request["body_sha256"] == hashlib.sha256(body).hexdigest()
        assert self.digest_threads() == []

    def test_unused_digest_is_joined_too(self) -> None:
        definition = make_definition(challengeResponse={
            "identifyField": "$.type", "identifyValue": "url_verification",
            "challengePath": "$.challenge"})
        request = self.large_request({"type": "url_verification", "challenge": "c-1"})
        report = run(request, definition)
        assert report.outcome.status == "challenge"
        assert self.digest_threads() == []


# --- any JSON value in any field ------------------------------------------------------------

MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())["scenarios"]
#: The JSON type of every field the Plan reads (`#` any index, `*` any key).
FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "ns": str, "version": str, "webhook": dict, "triggers": list, "triggers/#": dict,
    **{f"triggers/#/{key}": str for key in ("event", "type", "label", "description")},
    "auth": dict, "auth/type": str, "auth/config": dict, "auth/sensitiveKeys": list,
    "auth/sensitiveKeys/#": str,
    "webhook/verification": dict,
    **{f"webhook/verification/{key}": str
       for key in ("type", "headerName", "secretKey", "encoding", "timestampHeader")},
    "webhook/eventExtraction": dict, "webhook/eventExtraction/fallback": dict,
    "webhook/eventExtraction/compositeStrategy": dict,
    "webhook/eventExtraction/compositeStrategy/separator": str,
    "webhook/eventExtraction/compositeStrategy/parts": list,
    "webhook/eventExtraction/compositeStrategy/parts/#": dict,
    **{f"webhook/eventExtraction/{lookup}{key}": str
       for lookup in ("", "fallback/", "compositeStrategy/parts/#/") for key in ("source", "path")},
    "webhook/transactionId": dict, "webhook/transactionId/paths": list,
    "webhook/transactionId/paths/#": str, "webhook/transactionId/separator": str,
    "webhook/transactionId/fallback": str, "webhook/transactionId/overrides": dict,
    "webhook/transactionId/overrides/*": dict, "webhook/transactionId/overrides/*/paths": list,
    "webhook/transactionId/overrides/*/paths/#": str,
    "webhook/challengeResponse": dict,
    **{f"webhook/challengeResponse/{key}": str
       for key in ("identifyField", "challengePath", "responseField")},
    "webhook/customerExtraction": dict, "webhook/customerExtraction/basePath": str,
    "webhook/customerExtraction/mapping": dict, "webhook/customerExtraction/mapping/*": str,
    "webhook/customerExtraction/overrides": dict, "webhook/customerExtraction/overrides/*": dict,
    "webhook/customerExtraction/overrides/*/basePath": str,
    "webhook/response": dict, "webhook/response/statusCode": int,
    "sync": dict, "sync/webhooks": dict, "sync/webhooks/handlers": dict,
    "sync/webhooks/handlers/*": dict,
    **{f"sync/webhooks/handlers/*/{key}": str
       for key in ("recordType", "operation", "resource", "dataPath")},
    "sync/webhooks/handlers/*/mapping": dict,
    "sync/webhooks/handlers/*/mapping/*": (str, dict),
    "sync/webhooks/handlers/*/mapping/*/path": str,
    "sync/webhooks/handlers/*/mapping/*/paths": list,
    "sync/webhooks/handlers/*/mapping/*/paths/#": str,
}
#: Fields the fixtures may lack, set where their parent object exists.
EXTRA_FIELDS = [tuple(pattern.split("/")) for pattern in FIELD_TYPES
                if "#" not in pattern and "*" not in pattern]
#: Paths that are never empty, so a broken one is always reported.
LEAVES = st.sampled_from(["$.", "$[", "$[1e99]", "$[?@.a > 1e999]", "$.a", "a.b c", "body"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | LEAVES,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6) | st.sampled_from(["path", "paths", "source"]),
                      children, max_size=3),
    max_leaves=8,
)


def _cases() -> list[tuple[str, dict[str, Any], CapturedRequest, Secrets, datetime]]:
    cases = []
    for path in DEFINITIONS:
        scenario = next(s for s in MANIFEST if s["definition"] == f"definitions/{path.name}")
        request = read_request_file(FIXTURES / scenario["files"][0])[0]
        now = datetime.fromisoformat(scenario["now"].replace("Z", "+00:00"))
        cases.append((path.name, load_definition(path).data, request,
                      Secrets(scenario["credentials"], scenario["config"]), now))
    return cases


CASES = _cases()


def _locations(value: Any, at: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every key and index in a document, at any depth."""
    found: list[tuple[str | int, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()
    for key, child in items:
        found.append((*at, key))
        found += _locations(child, (*at, key))
    return found


def _field_type(location: tuple[str | int, ...]) -> type | tuple[type, ...] | None:
    for pattern, kind in FIELD_TYPES.items():
        parts = pattern.split("/")
        if len(parts) == len(location) and all(
                (isinstance(key, int) if part == "#" else isinstance(key, str)
                 if part == "*" else key == part) for part, key in zip(parts, location,
                                                                        strict=True)):
            return kind
    return None


def _is(value: Any, kind: type | tuple[type, ...]) -> bool:
    return isinstance(value, kind) and not (isinstance(value, bool) and kind is int)


def _read_by_plan(data: dict[str, Any], location: tuple[str | int, ...]) -> bool:
    """A mapping's `path` is read only when it has no `paths`."""
    if location[-1] == "path" and location[:2] == ("sync", "webhooks"):
        parent: Any = data
        for key in location[:-1]:
            parent = parent[key]
        return not parent.get("paths")
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_value_in_any_field_gives_findings_not_errors(data: st.DataObject) -> None:
    name, document, request, secrets, now = data.draw(st.sampled_from(CASES), label="fixture")
    document = copy.deepcopy(document)
    extra = [loc for loc in EXTRA_FIELDS if _parent(document, loc) is not None]
    location = data.draw(st.sampled_from(_locations(document) + extra), label="field")
    value = data.draw(JSON_VALUES, label="value")
    _parent(document, location)[location[-1]] = value  # type: ignore[index]
    definition = Definition(document, path=name)

    plan = compile_definition(definition)
    report = analyze(request, plan, secrets, now=now)
    encode_report(report)
    for lint in (check_definition(definition), check_definition(definition, submission=True)):
        assert all(f.pointer for f in lint if f.code in ("DEF_SCHEMA", "DEF_BAD_JSONPATH"))
    assert all(f.pointer for f in plan.findings)
    kind = _field_type(location)
    if kind is not None and value is not None and not _is(value, kind) and _read_by_plan(
            document, location):
        assert pointer(location) in {f.pointer for f in plan.findings}, plan.findings


def _parent(document: dict[str, Any], location: tuple[str | int, ...]) -> Any:
    """The object or array holding `location`, or None when the path to it is missing."""
    node: Any = document
    for key in location[:-1]:
        if isinstance(node, dict) and isinstance(key, str) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return None
    return node if isinstance(node, dict | list) else None


def test_plain_dotted_paths_never_import_python_jsonpath() -> None:
    """Start-up: replaying against plain dotted paths imports no JSONPath library (a tenth
    of a second of every `whdebug replay`); the first other path imports it."""
    import subprocess
    import sys

    from paths import REPO

    script = (
        "import sys\n"
        "from whdebug.engine import compile_definition\n"
        "from whdebug.model.definition import load_definition\n"
        f"compile_definition(load_definition({str(REPO / 'fixtures/definitions/github.json')!r}))\n"
        "assert 'jsonpath' not in sys.modules, 'imported by a plain path'\n"
        "from whdebug.engine.bodypaths import compile_body_path\n"
        "assert compile_body_path('$.items[0].id').ok and 'jsonpath' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={"PYTHONPATH": str(REPO)}, check=False)
    assert result.returncode == 0, result.stderr
