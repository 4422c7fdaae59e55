"""`whdebug check`: one small definition per DEF_* code, a clean one, and the lint fixtures."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped,unused-ignore]
from paths import REPO

from whdebug.engine.lint.definition import check_definition, parse_finding
from whdebug.engine.report import FINDING_CODES, Finding
from whdebug.errors import DefinitionError
from whdebug.model.definition import Definition, load_definition, parse_definition

LINT = REPO / "fixtures" / "definitions" / "lint"
SCHEMA = REPO / "whdebug" / "schema" / "miniapp.schema.json"

CLEAN: dict[str, Any] = {
    "ns": "github",
    "name": "github",
    "type": "github",
    "title": "GitHub",
    "label": "GitHub",
    "description": "Automate GitHub workflows.",
    "shortDescription": "GitHub issues and PRs",
    "version": "1.0.0",
    "status": "private",
    "category": "developer",
    "icon": "https://cdn.example.com/github/icon.svg",
    "logo": "https://cdn.example.com/github/logo.svg",
    "docsUrl": "https://docs.example.com/github",
    "auth": {
        "type": "apikey",
        "config": {"webhookSecret": "", "baseUrl": "https://api.github.com"},
        "sensitiveKeys": ["webhookSecret"],
    },
    "triggers": [
        {"type": "miniapps:github", "event": "push.", "label": "Push", "img": "automation3.svg",
         "icon": "git-branch", "description": "Code pushed", "isCustom": False},
        {"type": "miniapps:github", "event": "pull_request.opened", "label": "PR opened",
         "img": "automation3.svg", "icon": "git-pull-request", "description": "PR opened",
         "isCustom": False},
    ],
    "webhook": {
        "eventExtraction": {
            "source": "header",
            "path": "X-GitHub-Event",
            "compositeStrategy": {
                "separator": ".",
                "parts": [
                    {"source": "header", "path": "X-GitHub-Event"},
                    {"source": "body", "path": "$.action"},
                ],
            },
        },
        "transactionId": {"paths": ["$.delivery", "head_commit.id"], "fallback": "generate",
                          "overrides": {"push.": {"paths": ["$.after"]}}},
        "verification": {"type": "hmac-sha256", "headerName": "X-Hub-Signature-256",
                         "secretKey": "webhookSecret", "encoding": "hex"},
        "challengeResponse": {"identifyField": "type", "identifyValue": "url_verification",
                              "challengePath": "$.challenge"},
        "customerExtraction": {"basePath": "$.sender", "mapping": {"code": "id"}},
        "response": {"statusCode": 200, "body": {"ok": True}},
    },
    "sync": {"webhooks": {"handlers": {
        "pull_request.opened": {"resource": "orders", "operation": "upsert",
                                "dataPath": "$.pull_request"},
    }}},
    "sources": {"rpc_repos": {"url": "https://api.github.com/user/repos", "method": "GET",
                              "dataPath": "$.items", "valueField": "id", "labelField": "name"}},
    "actions": [{"name": "comment", "parameters": {"properties": {
        "repo": {"type": "string", "x-source": "rpc_repos", "x-fallback": "input"},
    }}}],
}


def definition_with(change: Callable[[dict[str, Any]], object]) -> Definition:
    data = copy.deepcopy(CLEAN)
    change(data)
    return parse_definition(json.dumps(data), "app.json")


def only(findings: list[Finding], code: str) -> Finding:
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, msgspec.to_builtins(findings)
    return matching[0]


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def test_schema_file_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(json.loads(SCHEMA.read_text()))


@pytest.mark.parametrize("submission", [False, True])
def test_clean_definition_has_no_findings(submission: bool) -> None:
    assert check_definition(definition_with(lambda d: None), submission=submission) == []


def test_clean_javascript_fixture_has_no_findings() -> None:
    assert check_definition(load_definition(LINT / "js-literal-ok.js"), submission=True) == []


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """A change that sets a dotted path (`webhook.verification.type`), creating nothing."""
    *parents, last = path.split(".")

    def change(data: dict[str, Any]) -> None:
        node: Any = data
        for name in parents:
            node = node[int(name)] if isinstance(node, list) else node[name]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def change(data: dict[str, Any]) -> None:
        node: Any = data
        for name in parents:
            node = node[int(name)] if isinstance(node, list) else node[name]
        del node[last]

    return change


# (code, change, severity, pointer, text the fix must contain)
CASES: list[tuple[str, Callable[[dict[str, Any]], object], str, str, str]] = [
    ("DEF_SCHEMA", _set("webhook.verification.type", "hmac-sha512"), "error",
     "/webhook/verification/type", 'set webhook.verification.type to one of "hmac-sha256", '),
    ("DEF_SCHEMA", _set("webhook.verification.encoding", "Base64"), "error",
     "/webhook/verification/encoding", 'set webhook.verification.encoding to "base64"'),
    ("DEF_SCHEMA", _delete("webhook.eventExtraction"), "error", "/webhook/eventExtraction",
     'add "eventExtraction" to webhook'),
    ("DEF_SCHEMA", _delete("webhook.verification.headerName"), "error",
     "/webhook/verification/headerName", 'add "headerName" to webhook.verification'),
    ("DEF_SCHEMA", _set("sync.webhooks.handlers", {"pull_request.opened": {
        "recordType": "orders", "mapping": {"code": "$.number"}}}), "error",
     "/sync/webhooks/handlers/pull_request.opened/recordType", 'recordType to "order"'),
    ("DEF_SCHEMA", _set("webhook.response.statusCode", "200"), "error",
     "/webhook/response/statusCode", "webhook.response.statusCode to an integer"),
    ("DEF_NS_FORMAT", _set("ns", "GitHub_App"), "error", "/ns", 'rename ns to "git-hub-app"'),
    ("DEF_VERSION", _set("version", "1.0"), "error", "/version", 'set version to "1.0.0"'),
    ("DEF_TRIGGER_TYPE", _set("triggers.1.type", "miniapps:gitlab"), "error",
     "/triggers/1/type", 'set triggers[1].type to "miniapps:github"'),
    ("DEF_DUPLICATE_TRIGGER", _set("triggers.1.event", "push."), "error",
     "/triggers/1/event", "triggers[1]"),
    ("DEF_SECRET_NOT_SENSITIVE", _set("auth.sensitiveKeys", []), "error",
     "/auth/sensitiveKeys", 'add "webhookSecret" to auth.sensitiveKeys'),
    ("DEF_SECRET_IN_SUBMISSION", _set("auth.config.webhookSecret", "hunter2-not-for-git"),
     "warning", "/auth/config/webhookSecret", 'set auth.config.webhookSecret to ""'),
    ("DEF_VERIFICATION_NONE", _delete("webhook.verification"), "warning",
     "/webhook/verification", '"type": "hmac-sha256"'),
    ("DEF_VERIFICATION_NONE", _set("webhook.verification", {"type": "none"}), "warning",
     "/webhook/verification", "webhook.verification"),
    ("DEF_BAD_JSONPATH", _set("webhook.transactionId.paths", ["$.id["]), "error",
     "/webhook/transactionId/paths/0", "webhook.transactionId.paths[0]"),
    ("DEF_BAD_JSONPATH", _set("webhook.challengeResponse.challengePath", "event challenge"),
     "error", "/webhook/challengeResponse/challengePath", "\"$['event challenge']\""),
    ("DEF_BAD_JSONPATH",
     _set("sync.webhooks.handlers", {"pull_request.opened": {"recordType": "order",
                                                             "mapping": {"code": "$.number.."}}}),
     "error", "/sync/webhooks/handlers/pull_request.opened/mapping/code", "mapping.code"),
    ("DEF_LEGACY_ECOMMERCE", _set("webhook.ecommerce", {"orders": {}}), "warning",
     "/webhook/ecommerce", "remove webhook.ecommerce"),
    ("DEF_HANDLER_WITHOUT_TRIGGER",
     _set("sync.webhooks.handlers", {"Pull_Request.Opened": {"resource": "orders"}}),
     "warning", "/sync/webhooks/handlers/Pull_Request.Opened", '"pull_request.opened"'),
    ("DEF_SOURCE_KEY", _set("rpc", {"repos": {"dataPath": "$.items"}}), "error", "/rpc/repos",
     'rename rpc.repos to "rpc_repos"'),
    ("DEF_XSOURCE_UNKNOWN", _set("actions.0.parameters.properties.repo.x-source", "rpc_repo"),
     "error", "/actions/0/parameters/properties/repo/x-source", '"rpc_repos"'),
    ("DEF_XSOURCE_NO_FALLBACK", _delete("actions.0.parameters.properties.repo.x-fallback"),
     "warning", "/actions/0/parameters/properties/repo/x-fallback",
     'add "x-fallback": "input" to actions[0].parameters.properties.repo'),
    # auth and action lint (whdebug/engine/check_auth.py; more cases in tests/test_check_auth.py)
    ("DEF_PLACEHOLDER_UNRESOLVED", _set("actions.0.requests", [
        {"url": "https://api.github.com/user", "headers": {"Authorization": "token [[pat]]"}}]),
     "error", "/actions/0/requests/0/headers/Authorization", 'add "pat": "" to auth.config'),
    ("DEF_PARAM_UNRESOLVED", _set("actions.0.requests", [
        {"url": "https://api.github.com/repos/{{repository}}/issues"}]),
     "error", "/actions/0/requests/0/url", 'add "repository" to actions[0].parameters'),
    ("DEF_TOKEN_NOT_MAPPED", _set("auth", {
        "type": "oauth2", "config": {"webhookSecret": ""}, "sensitiveKeys": ["webhookSecret"],
        "get_token": {"url": "https://github.com/login/oauth/access_token",
                      "body": {"code": "{{code}}", "redirect_uri": "{{redirect_uri}}"},
                      "mapping": {"token": "$.access_token"}},
        "refresh_token": {"url": "https://github.com/login/oauth/access_token",
                          "mapping": {"accessToken": "$.access_token"}},
        "auto_refresh": True,
        "userDetails": {"url": "https://api.github.com/user",
                        "headers": {"Authorization": "Bearer [[accessToken]]"}}}),
     "error", "/auth/get_token/mapping/token", 'rename auth.get_token.mapping.token'),
    ("DEF_REFRESH_MISSING", _set("auth", {
        "type": "oauth2", "config": {"webhookSecret": ""}, "sensitiveKeys": ["webhookSecret"],
        "get_token": {"url": "https://github.com/login/oauth/access_token",
                      "body": {"code": "{{code}}"}, "mapping": {"accessToken": "$.t"}}}),
     "warning", "/auth/refresh_token", '"auto_refresh": true'),
    ("DEF_REDIRECT_URI", _set("auth", {
        "type": "oauth2", "config": {"webhookSecret": ""}, "sensitiveKeys": ["webhookSecret"],
        "auth_url": "https://github.com/login/oauth/authorize?client_id=Iv1",
        "refresh_token": {"url": "https://github.com/login/oauth/access_token",
                          "mapping": {"accessToken": "$.access_token"}},
        "auto_refresh": True}),
     "error", "/auth/auth_url", "&redirect_uri={{redirect_uri}}"),
    ("DEF_FUNCTION_UNKNOWN", _set("actions.0.requests", [
        {"type": "function", "function": "slugify", "output": "slug"}]),
     "error", "/actions/0/requests/0/function", "define functions.slugify"),
    ("DEF_MAPPING_STYLE", _set("actions.0.requests", [
        {"url": "https://api.github.com/user", "mapping": {"login": "$.login"}},
        {"url": "https://api.github.com/users/{{login}}/repos"}]),
     "error", "/actions/0/requests/0/mapping", '[{"name": "login", "value": "$.login"}]'),
]


@pytest.mark.parametrize(
    ("code", "change", "severity", "pointer", "fix"), CASES,
    ids=[f"{case[0]}-{case[3]}" for case in CASES],
)
def test_each_code(code: str, change: Callable[[dict[str, Any]], object], severity: str,
                   pointer: str, fix: str) -> None:
    found = only(check_definition(definition_with(change)), code)
    assert (found.severity, found.pointer, found.step) == (severity, pointer, "definition")
    assert found.fix is not None and fix in found.fix


class TestSubmission:
    def test_public_status_is_an_error_only_in_a_submission(self) -> None:
        definition = definition_with(_set("status", "public"))
        assert only(check_definition(definition), "DEF_STATUS_PUBLIC").severity == "warning"
        found = only(check_definition(definition, submission=True), "DEF_STATUS_PUBLIC")
        assert found.severity == "error"
        assert found.pointer == "/status"
        assert found.fix is not None and 'set status to "private"' in found.fix

    def test_secret_value_is_an_error_in_a_submission_and_never_shown(self) -> None:
        definition = definition_with(_set("auth.config.webhookSecret", "hunter2-not-for-git"))
        found = only(check_definition(definition, submission=True), "DEF_SECRET_IN_SUBMISSION")
        assert found.severity == "error"
        assert "hunter2" not in msgspec.json.encode(found).decode()

    def test_secret_like_name_outside_sensitive_keys(self) -> None:
        definition = definition_with(_set("auth.config.apiToken", "abc123"))
        found = only(check_definition(definition, submission=True), "DEF_SECRET_IN_SUBMISSION")
        assert found.pointer == "/auth/config/apiToken"
        assert found.fix is not None and 'add "apiToken" to auth.sensitiveKeys' in found.fix

    def test_oauth_client_credentials_are_allowed(self) -> None:
        def oauth(data: dict[str, Any]) -> None:
            data["auth"]["type"] = "oauth2"
            data["auth"]["config"].update(client_id="Iv1.abc", client_secret="shh-oauth")

        findings = check_definition(definition_with(oauth), submission=True)
        found = only(findings, "DEF_SECRET_IN_SUBMISSION")
        assert (found.severity, found.pointer) == ("info", "/auth/config/client_secret")
        assert "public OAuth app" in found.message
        assert "shh-oauth" not in msgspec.json.encode(found).decode()

    def test_empty_and_non_secret_values_are_fine(self) -> None:
        definition = definition_with(_set("auth.config.region", "eu"))
        assert check_definition(definition, submission=True) == []


class TestDetails:
    def test_public_status_without_submission_is_still_reported(self) -> None:
        assert "DEF_STATUS_PUBLIC" in codes(check_definition(definition_with(_set("status",
                                                                                  "public"))))

    def test_header_paths_are_not_jsonpath(self) -> None:
        definition = definition_with(
            _set("webhook.eventExtraction", {"source": "header", "path": "X Odd Header"}))
        assert check_definition(definition) == []

    def test_wrong_type_is_reported_once(self) -> None:
        findings = check_definition(definition_with(_set("ns", 42)))
        assert [(f.code, f.pointer) for f in findings] == [("DEF_SCHEMA", "/ns")]
        assert findings[0].message == "ns must be a string, not an integer"

    def test_pointer_escapes_slash_and_tilde(self) -> None:
        handlers = {"orders/create": {"resource": "orders"}}
        found = only(check_definition(definition_with(_set("sync.webhooks.handlers", handlers))),
                     "DEF_HANDLER_WITHOUT_TRIGGER")
        assert found.pointer == "/sync/webhooks/handlers/orders~1create"

    def test_x_source_anywhere_in_the_document(self) -> None:
        definition = definition_with(
            _set("triggers.0.fields", {"repo": {"x-source": "rpc_nowhere", "x-fallback": "input"}}))
        found = only(check_definition(definition), "DEF_XSOURCE_UNKNOWN")
        assert found.pointer == "/triggers/0/fields/repo/x-source"

    def test_every_code_is_registered(self) -> None:
        produced = {case[0] for case in CASES} | {"DEF_STATUS_PUBLIC", "DEF_PARSE"} | {
            "DEF_ASSET_NOT_HTTPS", "DEF_CATEGORY_UNKNOWN", "DEF_AUTH_MISSING",
            "DEF_WEBHOOK_ABSENT", "DEF_SECRET_NO_PRODUCER",
            "DEF_REQUEST_INCOMPLETE", "DEF_SCHEME_UNVERIFIABLE",  # test_docs_schema.py
            "DEF_TRIGGER_UNREACHABLE", "DEF_TX_NOT_PER_DELIVERY",  # test_reachability.py
            "DEF_TX_PATHS_NOT_JOINED"}  # TestOverridePathsWithoutSeparator
        assert produced <= FINDING_CODES.keys()
        assert {code for code in FINDING_CODES if code.startswith("DEF_")} == produced


class TestParseFinding:
    def test_syntax_error(self) -> None:
        with pytest.raises(DefinitionError) as caught:
            parse_definition("const app = {ns: @};", "app.js")
        found = parse_finding(caught.value)
        assert (found.code, found.severity, found.step) == ("DEF_PARSE", "error", "definition")
        assert found.message == 'app.js:1:18: unexpected "@"'
        assert found.fix

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(DefinitionError) as caught:
            load_definition(tmp_path / "nope.json")
        found = parse_finding(caught.value)
        assert found.message.startswith("definition file not found")
        assert found.fix is not None and "existing definition file" in found.fix


LINT_FIXTURES = {
    "public-status.json": {"DEF_STATUS_PUBLIC"},
    "bad-jsonpath.json": {"DEF_BAD_JSONPATH"},
    "secret-in-submission.json": {"DEF_SECRET_IN_SUBMISSION"},
    "no-webhook.json": {"DEF_AUTH_MISSING", "DEF_NS_FORMAT", "DEF_WEBHOOK_ABSENT"},
    "legacy-sources.json": {
        "DEF_VERSION", "DEF_TRIGGER_TYPE", "DEF_DUPLICATE_TRIGGER", "DEF_SECRET_NOT_SENSITIVE",
        "DEF_LEGACY_ECOMMERCE", "DEF_HANDLER_WITHOUT_TRIGGER", "DEF_SOURCE_KEY",
        "DEF_XSOURCE_UNKNOWN", "DEF_XSOURCE_NO_FALLBACK",
    },
    "js-literal-ok.js": set(),
}


@pytest.mark.parametrize(("name", "expected"), sorted(LINT_FIXTURES.items()))
def test_lint_fixture_codes(name: str, expected: set[str]) -> None:
    assert codes(check_definition(load_definition(LINT / name), submission=True)) == expected


def test_lint_fixture_details() -> None:
    findings = check_definition(load_definition(LINT / "bad-jsonpath.json"))
    assert [f.pointer for f in findings] == [
        "/webhook/eventExtraction/path",
        "/webhook/transactionId/paths/0",
        "/webhook/customerExtraction/basePath",
    ]
    secrets = check_definition(load_definition(LINT / "secret-in-submission.json"))
    assert [f.pointer for f in secrets] == ["/auth/config/webhookSecret", "/auth/config/apiToken"]
    assert all("do-not-ship" not in msgspec.json.encode(f).decode() for f in secrets)


def test_js_literal_fixture_is_a_parse_finding() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition(LINT / "js-literal.js")
    found = parse_finding(caught.value)
    assert found.code == "DEF_PARSE"
    assert found.message.endswith("js-literal.js:8:54: unexpected \"d\"")


def test_every_lint_fixture_is_covered() -> None:
    assert {p.name for p in LINT.iterdir()} == set(LINT_FIXTURES) | {"js-literal.js"}


class TestOverridePathsWithoutSeparator:
    """The Salla example's transactionId.overrides list two paths each, with no separator:
    the docs join path values only with one, so the runtime may take the first alone."""

    def salla(self) -> Definition:
        return load_definition(REPO / "tests" / "docs_corpus" / "salla.js")

    def test_the_docs_salla_example_gets_a_note_per_override(self) -> None:
        found = [f for f in check_definition(self.salla()) if f.code == "DEF_TX_PATHS_NOT_JOINED"]
        assert [f.pointer for f in found] == [
            "/webhook/transactionId/overrides/order.updated/paths",
            "/webhook/transactionId/overrides/order.status.updated/paths"]
        note = found[0]
        assert note.severity == "info"  # the docs do not say: both readings are shown
        assert "the first non-empty wins" in note.message
        assert "$.data.updated_at.date is never read" in note.message
        assert "if the runtime joins them anyway" in note.message
        assert note.fix is not None and '"separator": "_"' in note.fix

    def test_the_patch_joins_them_under_either_reading_and_adds_nothing(self) -> None:
        definition = self.salla()
        before = {(f.code, f.pointer) for f in check_definition(definition)}
        note = [f for f in check_definition(definition)
                if f.code == "DEF_TX_PATHS_NOT_JOINED"][0]
        assert note.patch is not None
        from whdebug.engine.patches import apply_patch

        patched = parse_definition(json.dumps(apply_patch(definition.data, note.patch)), "a.js")
        after = {(f.code, f.pointer) for f in check_definition(patched)}
        assert not any(code == "DEF_TX_PATHS_NOT_JOINED" for code, _ in after)
        assert after <= before

    def test_no_patch_when_top_level_paths_are_fallbacks(self) -> None:
        def fallbacks(data: dict[str, Any]) -> None:
            data["webhook"]["transactionId"]["paths"] = ["$.data.id", "$.data.reference_id"]

        data = copy.deepcopy(self.salla().data)
        fallbacks(data)
        found = [f for f in check_definition(parse_definition(json.dumps(data), "a.js"))
                 if f.code == "DEF_TX_PATHS_NOT_JOINED"]
        assert found and all(f.patch is None for f in found)
        assert "would join transactionId.paths too" in (found[0].fix or "")

    def test_with_a_separator_or_one_path_there_is_nothing_to_say(self) -> None:
        data = copy.deepcopy(self.salla().data)
        data["webhook"]["transactionId"]["separator"] = "_"
        assert not [f for f in check_definition(parse_definition(json.dumps(data), "a.js"))
                    if f.code == "DEF_TX_PATHS_NOT_JOINED"]
