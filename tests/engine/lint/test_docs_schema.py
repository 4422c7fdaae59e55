"""`check --submission` against definitions written the way Karzoun's docs write them
(tests/docs_corpus/: each file names the docs page it was copied from).

The docs' own examples must get no error for a documented pattern; each broken variant of them
gets the one precise finding, with its JSON pointer.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner
from paths import REPO

from whdebug.cli import main
from whdebug.engine.lint.definition import check_definition
from whdebug.engine.report import Finding
from whdebug.model.definition import Definition, load_definition, parse_definition

CORPUS = REPO / "tests" / "docs_corpus"

# Errors and warnings `check --submission` gives each docs definition as the page writes it.
# The examples are published apps ("status": "public"), which a draft must not claim; Slack's
# signingSecret is stored by nothing, and its hmac-sha256 of X-Slack-Signature cannot verify
# what Slack sends (v0=<hex> over v0:{timestamp}:{body}: PLATFORM.md section 3); the Salla
# page elides get_token and refresh_token (/* ... */: requests with no url or method) and has a
# "customer.created" handler without a trigger.
EXPECTED = {
    "github.js": {"DEF_STATUS_PUBLIC"},
    "slack.js": {"DEF_STATUS_PUBLIC", "DEF_SECRET_NOT_SENSITIVE", "DEF_SECRET_NO_PRODUCER",
                 "DEF_SCHEME_UNVERIFIABLE"},
    "dropbox.js": {"DEF_STATUS_PUBLIC"},
    "salla.js": {"DEF_STATUS_PUBLIC", "DEF_TOKEN_NOT_MAPPED", "DEF_REFRESH_MISSING",
                 "DEF_HANDLER_WITHOUT_TRIGGER", "DEF_REQUEST_INCOMPLETE"},
    "woocommerce.js": set(),
    "oauth.js": set(),
    "listing.js": set(),
}

TOP_LEVEL = ["ns", "name", "type", "title", "label", "description", "shortDescription", "status",
             "version", "category", "icon", "logo", "docsUrl"]
TRIGGER_FIELDS = ["type", "event", "img", "icon", "label", "description", "isCustom"]


def load(name: str) -> Definition:
    return load_definition(CORPUS / name)


def variant(name: str, *changes: Callable[[dict[str, Any]], object]) -> Definition:
    """The docs definition `name` as a draft (status "private"), with `changes` applied."""
    data = copy.deepcopy(load(name).data)
    data["status"] = "private"
    for change in changes:
        change(data)
    return parse_definition(json.dumps(data), name)


def serious(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity != "info"]


def only(findings: list[Finding], code: str) -> Finding:
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, msgspec.to_builtins(findings)
    return matching[0]


def test_every_corpus_file_is_covered_and_names_its_page() -> None:
    """Verbatim copies name their page; the rest (written in a guide's style, used by the
    fix walk) say which guide they follow in their first comment."""
    names = {p.name for p in CORPUS.iterdir()}
    assert set(EXPECTED) <= names
    for name in EXPECTED:
        assert "karzoun-miniapps-docs/" in (CORPUS / name).read_text().splitlines()[0]
    for name in names - set(EXPECTED):
        first = (CORPUS / name).read_text().splitlines()[0]
        assert first.startswith("// ") and "guide" in first, name


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED.items()))
def test_docs_definitions_as_written(name: str, expected: set[str]) -> None:
    findings = check_definition(load(name), submission=True)
    assert {f.code for f in serious(findings)} == expected, msgspec.to_builtins(findings)


@pytest.mark.parametrize("name", ["github.js", "dropbox.js", "slack.js"])
def test_drafts_of_the_examples_have_every_required_field(name: str) -> None:
    findings = check_definition(variant(name), submission=True)
    assert not [f for f in findings if f.code == "DEF_SCHEMA"], msgspec.to_builtins(findings)


class TestRequiredFields:
    @pytest.mark.parametrize("field", TOP_LEVEL)
    def test_missing_top_level_field(self, field: str) -> None:
        findings = check_definition(variant("github.js", lambda d: d.pop(field)), submission=True)
        found = only(findings, "DEF_SCHEMA")
        assert (found.severity, found.pointer) == ("error", f"/{field}")
        assert f'"{field}"' in found.message
        assert found.fix is not None and f'add "{field}"' in found.fix
        assert [f.code for f in serious(findings)] == ["DEF_SCHEMA"]

    @pytest.mark.parametrize("field", TRIGGER_FIELDS)
    def test_missing_trigger_field(self, field: str) -> None:
        findings = check_definition(variant("github.js", lambda d: d["triggers"][1].pop(field)),
                                    submission=True)
        code = "DEF_TRIGGER_TYPE" if field == "type" else "DEF_SCHEMA"
        found = only(findings, code)
        assert (found.severity, found.pointer) == ("error", f"/triggers/1/{field}")
        assert [f.code for f in serious(findings)] == [code]

    def test_fields_are_required_only_of_a_submission(self) -> None:
        definition = variant("github.js", lambda d: d.pop("title"), lambda d: d.pop("icon"))
        assert check_definition(definition) == []

    def test_cli_names_the_field_and_fails(self, tmp_path: Path) -> None:
        data = copy.deepcopy(load("dropbox.js").data)
        data["status"] = "private"
        del data["docsUrl"]
        path = tmp_path / "dropbox.json"
        path.write_text(json.dumps(data))
        result = CliRunner().invoke(main, ["check", "--submission", "--json", str(path)])
        assert result.exit_code == 1, result.output
        document = json.loads(result.output)
        assert [(f["code"], f["pointer"]) for f in document["findings"]
                if f["severity"] == "error"] == [("DEF_SCHEMA", "/docsUrl")]


class TestAssetsAndCategory:
    @pytest.mark.parametrize("field", ["icon", "logo"])
    def test_http_asset_is_an_error(self, field: str) -> None:
        url = f"http://cdn.karzoun.com/miniapps/github/{field}.svg"
        findings = check_definition(variant("github.js", lambda d: d.update({field: url})),
                                    submission=True)
        found = only(findings, "DEF_ASSET_NOT_HTTPS")
        assert (found.severity, found.pointer) == ("error", f"/{field}")
        assert url in found.message
        assert found.fix == f'set {field} to "https://cdn.karzoun.com/miniapps/github/{field}.svg"'
        assert [f.code for f in serious(findings)] == ["DEF_ASSET_NOT_HTTPS"]

    def test_bare_file_name_is_not_an_https_url(self) -> None:
        findings = check_definition(variant("github.js", lambda d: d.update(icon="icon.svg")),
                                    submission=True)
        found = only(findings, "DEF_ASSET_NOT_HTTPS")
        assert "not an HTTPS URL" in found.message
        assert found.fix is not None and "HTTPS URL" in found.fix

    def test_http_asset_is_a_warning_outside_a_submission(self) -> None:
        definition = variant("github.js", lambda d: d.update(logo="http://cdn.example.com/l.svg"))
        assert only(check_definition(definition), "DEF_ASSET_NOT_HTTPS").severity == "warning"

    def test_unknown_category(self) -> None:
        findings = check_definition(variant("github.js", lambda d: d.update(category="devtools")),
                                    submission=True)
        found = only(findings, "DEF_CATEGORY_UNKNOWN")
        assert (found.severity, found.pointer) == ("error", "/category")
        assert '"devtools"' in found.message and '"developer"' in found.message
        assert [f.code for f in serious(findings)] == ["DEF_CATEGORY_UNKNOWN"]

    def test_category_spelling_is_corrected(self) -> None:
        findings = check_definition(variant("github.js", lambda d: d.update(category="E-Commerce")),
                                    submission=True)
        assert only(findings, "DEF_CATEGORY_UNKNOWN").fix == 'set category to "ecommerce"'

    @pytest.mark.parametrize("category", ["ecommerce", "productivity", "communication",
                                          "marketing", "developer", "payment", "social",
                                          "storage", "analytics", "crm"])
    def test_documented_categories_pass(self, category: str) -> None:
        definition = variant("github.js", lambda d: d.update(category=category))
        assert check_definition(definition, submission=True) == []


class TestAuthBlock:
    def test_missing_auth_is_reported_as_such(self) -> None:
        findings = check_definition(variant("github.js", lambda d: d.pop("auth")), submission=True)
        found = only(findings, "DEF_AUTH_MISSING")
        assert (found.severity, found.pointer) == ("error", "/auth")
        assert '"webhookSecret"' in found.message
        assert found.fix is not None and '"sensitiveKeys": ["webhookSecret"]' in found.fix
        assert not {"DEF_SECRET_NOT_SENSITIVE", "DEF_SECRET_NO_PRODUCER", "DEF_SCHEMA"} & {
            f.code for f in findings}

    def test_missing_auth_outside_a_submission(self) -> None:
        findings = check_definition(variant("dropbox.js", lambda d: d.pop("auth")))
        assert only(findings, "DEF_AUTH_MISSING").pointer == "/auth"


class TestWebhookOptional:
    @pytest.mark.parametrize("change", [lambda d: None, lambda d: d.pop("webhook")],
                             ids=["null", "absent"])
    def test_actions_only_app_has_no_webhook_error(self, change: Callable[[dict[str, Any]],
                                                                          object]) -> None:
        findings = check_definition(variant("dropbox.js", change), submission=True)
        assert serious(findings) == []
        note = only(findings, "DEF_WEBHOOK_ABSENT")
        assert note.severity == "info" and "docs" in note.message

    def test_no_note_without_triggers(self) -> None:
        definition = variant("dropbox.js", lambda d: d.pop("triggers"))
        assert check_definition(definition, submission=True) == []


class TestSecretProducer:
    def test_slack_signing_secret_is_produced_by_nothing(self) -> None:
        findings = check_definition(variant("slack.js"), submission=True)
        found = only(findings, "DEF_SECRET_NO_PRODUCER")
        assert (found.severity, found.pointer) == ("error", "/webhook/verification/secretKey")
        assert '"signingSecret"' in found.message and "401" in found.message
        assert "auth.config (accessToken)" in found.message
        assert "auth.form" in found.message and "registrationRequests" in found.message
        assert found.fix is not None and '"signingSecret": ""' in found.fix

    def test_the_fix_removes_it(self) -> None:
        def add(data: dict[str, Any]) -> None:
            data["auth"]["config"]["signingSecret"] = ""
            data["auth"]["sensitiveKeys"].append("signingSecret")

        # What is left is the Slack signing scheme, which no secret fixes (TestSchemeHeaders).
        assert [f.code for f in serious(check_definition(variant("slack.js", add),
                                                         submission=True))] == [
            "DEF_SCHEME_UNVERIFIABLE"]

    @pytest.mark.parametrize("producer", [
        lambda a: a.setdefault("form", {}).update(
            signingSecret={"type": "password", "label": "Signing Secret", "required": True}),
        lambda a: a.update(registrationRequests=[{
            "url": "https://slack.com/api/apps.manifest.create", "method": "POST",
            "headers": {"Authorization": "Bearer [[accessToken]]"},
            "mapping": {"signingSecret": "$.credentials.signing_secret"}}]),
        lambda a: a.update(get_token={
            "url": "https://slack.com/api/oauth.v2.access", "method": "POST",
            "mapping": {"accessToken": "$.access_token", "signingSecret": "$.signing_secret"}}),
    ], ids=["auth.form", "registrationRequests", "get_token"])
    def test_each_documented_producer_counts(self, producer: Callable[[dict[str, Any]],
                                                                      object]) -> None:
        def change(data: dict[str, Any]) -> None:
            producer(data["auth"])
            data["auth"]["sensitiveKeys"].append("signingSecret")

        findings = check_definition(variant("slack.js", change), submission=True)
        assert "DEF_SECRET_NO_PRODUCER" not in {f.code for f in findings}

    def test_user_details_is_metadata_which_the_lookup_does_not_read(self) -> None:
        def change(data: dict[str, Any]) -> None:
            data["auth"]["userDetails"]["mapping"]["signingSecret"] = "$.signing_secret"
            data["auth"]["sensitiveKeys"].append("signingSecret")

        found = only(check_definition(variant("slack.js", change)), "DEF_SECRET_NO_PRODUCER")
        assert "auth.userDetails.mapping stores it in metadata" in found.message

    def test_with_an_install_form_the_fix_adds_a_form_field(self) -> None:
        def webhook(data: dict[str, Any]) -> None:
            data["webhook"] = {
                "eventExtraction": {"source": "header", "path": "X-WC-Webhook-Topic"},
                "verification": {"type": "hmac-sha256", "headerName": "X-WC-Webhook-Signature",
                                 "secretKey": "webhookSecret", "encoding": "base64"}}
            data["auth"]["sensitiveKeys"] = ["consumerSecret", "webhookSecret"]

        found = only(check_definition(variant("woocommerce.js", webhook), submission=True),
                     "DEF_SECRET_NO_PRODUCER")
        assert "auth.form (storeUrl, consumerKey, consumerSecret)" in found.message
        assert found.fix is not None and found.fix.startswith('add "webhookSecret": {"type": '
                                                              '"password"')

        def fixed(data: dict[str, Any]) -> None:
            webhook(data)
            data["auth"]["form"]["webhookSecret"] = {"type": "password",
                                                     "label": "Webhook secret", "required": True}

        findings = check_definition(variant("woocommerce.js", fixed), submission=True)
        assert [f for f in findings if f.severity != "info"] == []


@pytest.mark.parametrize("field", ["title", "icon", "category", "shortDescription"])
def test_listing_field_of_the_wrong_type(field: str) -> None:
    findings = check_definition(variant("github.js", lambda d: d.update({field: 42})),
                                submission=True)
    found = only(findings, "DEF_SCHEMA")
    assert (found.pointer, found.message) == (f"/{field}",
                                              f"{field} must be a string, not an integer")
    assert [f.code for f in serious(findings)] == ["DEF_SCHEMA"]


class TestRequestFields:
    """guides/actions and guides/dynamic-data-sources mark `url` and `method` required in a
    request: without `url` the runtime has nowhere to send it. Before DEF_REQUEST_INCOMPLETE
    such a definition passed `check`."""

    def test_an_action_request_without_url_is_an_error(self) -> None:
        findings = check_definition(variant(
            "slack.js", lambda d: d["actions"][0]["requests"][0].pop("url")))
        found = only(findings, "DEF_REQUEST_INCOMPLETE")
        assert (found.severity, found.pointer) == ("error", "/actions/0/requests/0/url")
        assert "actions[0].requests[0] has no url" in found.message
        assert found.fix is not None and 'add "url"' in found.fix

    def test_a_source_without_method_is_an_error(self) -> None:
        findings = check_definition(variant(
            "slack.js", lambda d: d["source"]["rpc_users_list"].pop("method")))
        found = only(findings, "DEF_REQUEST_INCOMPLETE")
        assert (found.severity, found.pointer) == ("error", "/source/rpc_users_list/method")
        assert "GET" in (found.fix or "")

    def test_a_misspelt_method_names_the_closest(self) -> None:
        findings = check_definition(variant(
            "slack.js", lambda d: d["actions"][1]["requests"][1].update(method="POTS")))
        found = only(findings, "DEF_REQUEST_INCOMPLETE")
        assert (found.severity, found.pointer) == ("error", "/actions/1/requests/1/method")
        assert found.fix == 'set actions[1].requests[1].method to "POST"'

    def test_an_auth_request_without_method_is_a_warning(self) -> None:
        # No docs table marks it required there, though every example gives one.
        findings = check_definition(variant(
            "slack.js", lambda d: d["auth"]["userDetails"].pop("method")))
        found = only(findings, "DEF_REQUEST_INCOMPLETE")
        assert (found.severity, found.pointer) == ("warning", "/auth/userDetails/method")

    def test_an_auth_request_without_url_is_an_error(self) -> None:
        findings = check_definition(variant(
            "slack.js", lambda d: d["auth"]["userDetails"].pop("url")))
        found = only(findings, "DEF_REQUEST_INCOMPLETE")
        assert (found.severity, found.pointer) == ("error", "/auth/userDetails/url")

    def test_a_function_step_needs_neither(self) -> None:
        def function_step(data: dict[str, Any]) -> None:
            data["functions"] = {"shape": {"code": "return {a: 1};"}}
            data["actions"][0]["requests"].append({"type": "function", "name": "shape"})

        findings = check_definition(variant("slack.js", function_step))
        assert not [f for f in findings if f.code == "DEF_REQUEST_INCOMPLETE"]

    def test_the_fix_applied_removes_the_finding(self) -> None:
        broken = variant("slack.js", lambda d: d["actions"][0]["requests"][0].pop("url"))
        fixed = copy.deepcopy(broken.data)
        fixed["actions"][0]["requests"][0]["url"] = "https://slack.com/api/chat.postMessage"
        findings = check_definition(parse_definition(json.dumps(fixed), "slack.js"))
        assert not [f for f in findings if f.code == "DEF_REQUEST_INCOMPLETE"]

    def test_an_elided_block_is_one_finding(self) -> None:
        # The Salla page writes `refresh_token: { /* ... */ }`.
        findings = check_definition(load("salla.js"), submission=True)
        incomplete = [f for f in findings if f.code == "DEF_REQUEST_INCOMPLETE"]
        assert [(f.severity, f.pointer) for f in incomplete] == [
            ("error", "/auth/get_token"), ("error", "/auth/refresh_token")]
        assert "has no url and no method" in incomplete[1].message


class TestSchemeHeaders:
    """PLATFORM.md section 3: the runtime strips only sha256=/sha1= and HMACs the raw body, so
    Slack's, Stripe's and Standard Webhooks' signatures never verify. `check` passed the
    Slack example's verification; its first real delivery got 401."""

    def test_the_slack_example_is_told(self) -> None:
        found = only(check_definition(load("slack.js")), "DEF_SCHEME_UNVERIFIABLE")
        assert (found.severity, found.pointer) == ("error", "/webhook/verification/headerName")
        assert "Slack sends 'v0=<hex>'" in found.message
        assert "every real delivery gets 401" in found.message

    @pytest.mark.parametrize(("header", "who"), [("Stripe-Signature", "Stripe"),
                                                 ("webhook-signature", "Standard Webhooks"),
                                                 ("Svix-Signature", "Svix")])
    def test_other_scheme_headers(self, header: str, who: str) -> None:
        definition = variant("github.js", lambda d: d["webhook"]["verification"].update(
            headerName=header))
        found = only(check_definition(definition), "DEF_SCHEME_UNVERIFIABLE")
        assert f"{who} sends" in found.message

    def test_a_header_token_check_on_that_header_is_not_flagged(self) -> None:
        definition = variant("slack.js", lambda d: d["webhook"]["verification"].update(
            type="header-token"))
        assert not [f for f in check_definition(definition)
                    if f.code == "DEF_SCHEME_UNVERIFIABLE"]

    def test_github_is_not_flagged(self) -> None:
        assert not [f for f in check_definition(load("github.js"))
                    if f.code == "DEF_SCHEME_UNVERIFIABLE"]
