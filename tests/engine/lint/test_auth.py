"""`whdebug check`: the auth and action lint (placeholders, OAuth token, refresh, redirect URI)."""

from __future__ import annotations

import copy
import json
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from paths import REPO

from whdebug.cli import main
from whdebug.engine.lint.auth import check_auth, credential_producers
from whdebug.engine.lint.definition import check_definition
from whdebug.engine.report import Finding
from whdebug.model.definition import Definition, load_definition, parse_definition

AUTH = REPO / "fixtures" / "definitions" / "auth"
NEW_CODES = {"DEF_PLACEHOLDER_UNRESOLVED", "DEF_PARAM_UNRESOLVED", "DEF_TOKEN_NOT_MAPPED",
             "DEF_REFRESH_MISSING", "DEF_REDIRECT_URI", "DEF_FUNCTION_UNKNOWN",
             "DEF_MAPPING_STYLE"}
CLEAN = json.loads((AUTH / "oauth-clean.json").read_text())

# (fixture, code, pointer, text the message must contain, text the fix must contain)
TRIPS = [
    ("placeholder-unresolved.json", "DEF_PLACEHOLDER_UNRESOLVED",
     "/actions/0/requests/0/headers/X-Api-Key", "auth.get_token.mapping (accessToken",
     'add "apiKey": "" to auth.config'),
    ("param-unresolved.json", "DEF_PARAM_UNRESOLVED", "/actions/0/requests/3/body/text",
     "{{noteText}}", 'add "noteText" to actions[0].parameters.properties'),
    ("token-not-mapped.json", "DEF_TOKEN_NOT_MAPPED", "/auth/get_token/mapping/access_token",
     "stores access_token, refreshToken", 'rename auth.get_token.mapping.access_token to '
     '"accessToken"'),
    ("refresh-missing.json", "DEF_REFRESH_MISSING", "/auth/refresh_token",
     "no refresh_token", '"auto_refresh": true'),
    ("auto-refresh-string.json", "DEF_REFRESH_MISSING", "/auth/auto_refresh",
     'is "true", not the boolean true', "set auth.auto_refresh to true"),
    ("redirect-uri.json", "DEF_REDIRECT_URI", "/auth/auth_url",
     "redirect_uri=https://acme.test/callback", "redirect_uri={{redirect_uri}}"),
    ("function-unknown.json", "DEF_FUNCTION_UNKNOWN", "/actions/0/requests/2/function",
     '"formatPrise"', 'write "formatPrice"'),
    ("mapping-style.json", "DEF_MAPPING_STYLE", "/actions/0/requests/0/mapping",
     "{{customerId}}", '[{"name": "customerId", "value": "$.data[0].id"}]'),
]


def errors_and_warnings(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity != "info"]


def only(findings: list[Finding], code: str) -> Finding:
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, msgspec.to_builtins(findings)
    return matching[0]


def with_change(change: Any) -> Definition:
    data = copy.deepcopy(CLEAN)
    change(data)
    return parse_definition(json.dumps(data), "app.json")


@pytest.mark.parametrize("name", ["oauth-clean.json", "bearer-clean.js"])
def test_clean_fixtures_have_no_findings(name: str) -> None:
    assert check_definition(load_definition(AUTH / name), submission=True) == []


@pytest.mark.parametrize(("name", "code", "pointer", "message", "fix"), TRIPS,
                         ids=[trip[0] for trip in TRIPS])
def test_each_fixture_trips_its_code(name: str, code: str, pointer: str, message: str,
                                     fix: str) -> None:
    findings = check_definition(load_definition(AUTH / name))
    found = only(findings, code)
    assert (found.pointer, found.step) == (pointer, "definition")
    assert message in found.message
    assert found.fix is not None and fix in found.fix
    # Nothing else at warning or error level: each fixture has one mistake.
    assert [f.code for f in errors_and_warnings(findings)] == [code]


def test_every_new_code_has_a_fixture() -> None:
    assert {trip[1] for trip in TRIPS} == NEW_CODES


class TestCredentials:
    def test_producers_name_their_bag(self) -> None:
        producers = credential_producers(load_definition(AUTH / "oauth-clean.json"))
        assert [p.where for p in producers["accessToken"]] == [
            "auth.get_token.mapping", "auth.refresh_token.mapping"]
        assert producers["storeId"][0].bag == "metadata"
        assert producers["webhookId"][0].where == "auth.registrationRequests[0].mapping"
        assert producers["client_id"][0].where == "auth.config"

    def test_close_name_is_suggested(self) -> None:
        def typo(data: dict[str, Any]) -> None:
            data["actions"][0]["requests"][0]["headers"]["Authorization"] = "Bearer [[accesToken]]"

        found = only(check_auth(with_change(typo)), "DEF_PLACEHOLDER_UNRESOLVED")
        assert found.fix == "write [[accessToken]] (filled by auth.get_token.mapping)"

    def test_system_value_in_brackets(self) -> None:
        def system(data: dict[str, Any]) -> None:
            data["auth"]["registrationRequests"][0]["body"]["url"] = "[[webhookUrl]]"

        found = only(check_auth(with_change(system)), "DEF_PLACEHOLDER_UNRESOLVED")
        assert found.pointer == "/auth/registrationRequests/0/body/url"
        assert found.fix is not None and "write {{webhookUrl}}" in found.fix

    def test_sensitive_key_without_config_entry(self) -> None:
        def sensitive(data: dict[str, Any]) -> None:
            data["auth"]["sensitiveKeys"].append("apiKey")
            data["source"]["rpc_products_list"]["headers"]["X-Api-Key"] = "[[apiKey]]"

        found = only(check_auth(with_change(sensitive)), "DEF_PLACEHOLDER_UNRESOLVED")
        assert found.pointer == "/source/rpc_products_list/headers/X-Api-Key"
        assert found.fix is not None and "already in auth.sensitiveKeys" in found.fix

    def test_array_mapping_in_registration_stores_nothing(self) -> None:
        def array(data: dict[str, Any]) -> None:
            data["auth"]["registrationRequests"][0]["mapping"] = [
                {"name": "webhookId", "value": "$.data.id"}]
            data["actions"][0]["requests"][0]["headers"]["X-Hook"] = "[[webhookId]]"

        found = only(check_auth(with_change(array)), "DEF_PLACEHOLDER_UNRESOLVED")
        assert found.fix is not None and "mapping as an object" in found.fix

    def test_one_finding_per_key_with_the_count(self) -> None:
        def everywhere(data: dict[str, Any]) -> None:
            for request in data["actions"][0]["requests"]:
                request.setdefault("headers", {})["X-Tenant"] = "[[tenantId]]"

        found = only(check_auth(with_change(everywhere)), "DEF_PLACEHOLDER_UNRESOLVED")
        assert "and 1 more" in found.message
        assert found.pointer == "/actions/0/requests/0/headers/X-Tenant"

    def test_bearer_token_from_config_needs_no_get_token(self) -> None:
        assert check_auth(load_definition(AUTH / "bearer-clean.js")) == []


class TestToken:
    def test_oauth_without_get_token(self) -> None:
        found = only(check_auth(with_change(lambda d: d["auth"].pop("get_token"))),
                     "DEF_TOKEN_NOT_MAPPED")
        assert found.pointer == "/auth/get_token"
        assert "auth has no get_token" in found.message

    def test_array_mapping_on_get_token(self) -> None:
        def array(data: dict[str, Any]) -> None:
            data["auth"]["get_token"]["mapping"] = [
                {"name": "accessToken", "value": "$.access_token"}]

        found = only(check_auth(with_change(array)), "DEF_TOKEN_NOT_MAPPED")
        assert found.fix == ('write auth.get_token.mapping as an object: {"accessToken": '
                             '"$.access_token"}; only an object mapping stores credentials')

    def test_not_reported_twice_as_unresolved(self) -> None:
        def nothing(data: dict[str, Any]) -> None:
            data["auth"]["get_token"]["mapping"] = {"expiresIn": "$.expires_in"}
            data["auth"]["refresh_token"]["mapping"] = {"expiresIn": "$.expires_in"}

        findings = check_auth(with_change(nothing))
        unresolved = only(findings, "DEF_PLACEHOLDER_UNRESOLVED")
        assert unresolved.message.startswith("[[refreshToken]]")
        assert [f.code for f in findings].count("DEF_TOKEN_NOT_MAPPED") == 1

    def test_bearer_token_is_not_oauth(self) -> None:
        data = copy.deepcopy(CLEAN)
        data["auth"] = {"type": "bearer_token", "config": {"accessToken": ""},
                        "sensitiveKeys": ["accessToken"]}
        data["source"]["rpc_products_list"]["url"] = "https://api.acme.test/v1/products"
        data["actions"][0]["requests"][3]["body"]["store"] = "acme"
        assert check_auth(parse_definition(json.dumps(data), "app.json")) == []


class TestParameters:
    def test_credential_in_braces(self) -> None:
        def braces(data: dict[str, Any]) -> None:
            data["actions"][0]["requests"][0]["headers"]["Authorization"] = "Bearer {{accessToken}}"

        found = only(check_auth(with_change(braces)), "DEF_PARAM_UNRESOLVED")
        assert found.fix is not None and found.fix.startswith("write [[accessToken]]")

    def test_forwarded_value_is_not_available_before_its_request(self) -> None:
        def early(data: dict[str, Any]) -> None:
            data["actions"][0]["requests"][0]["url"] += "&order={{orderId}}"

        found = only(check_auth(with_change(early)), "DEF_PARAM_UNRESOLVED")
        assert found.pointer == "/actions/0/requests/0/url"

    def test_function_without_declared_outputs_softens_the_finding(self) -> None:
        def unknown(data: dict[str, Any]) -> None:
            data["functions"]["formatPrice"] = {"code": "return {formattedPrice: x}"}

        found = only(check_auth(with_change(unknown)), "DEF_PARAM_UNRESOLVED")
        assert found.severity == "info"
        assert 'unless function "formatPrice" returns it' in found.message

    def test_function_output_by_key(self) -> None:
        def output(data: dict[str, Any]) -> None:
            data["functions"]["formatPrice"] = {}
            data["actions"][0]["requests"][2]["output"] = "formattedPrice"

        assert check_auth(with_change(output)) == []

    def test_no_functions_block(self) -> None:
        found = only(check_auth(with_change(lambda d: d.pop("functions"))),
                     "DEF_FUNCTION_UNKNOWN")
        assert "there is no functions block" in found.message
        assert found.fix == "define functions.formatPrice, or name one of the defined functions"

    def test_actions_as_an_object(self) -> None:
        def keyed(data: dict[str, Any]) -> None:
            action = data["actions"][0]
            action["requests"][3]["body"]["text"] = "{{nope}}"
            data["actions"] = {"addNote": action}

        found = only(check_auth(with_change(keyed)), "DEF_PARAM_UNRESOLVED")
        assert found.pointer == "/actions/addNote/requests/3/body/text"

    def test_source_reads_the_form_of_its_action(self) -> None:
        def other(data: dict[str, Any]) -> None:
            data["source"]["rpc_products_list"]["url"] += "&q={{search}}"

        found = only(check_auth(with_change(other)), "DEF_PARAM_UNRESOLVED")
        assert found.pointer == "/source/rpc_products_list/url"

    def test_system_values_resolve_and_oauth_ones_only_for_oauth(self) -> None:
        data = copy.deepcopy(CLEAN)
        data["auth"] = {"type": "apikey", "config": {"apiKey": ""}, "sensitiveKeys": ["apiKey"],
                        "get_token": {"url": "https://x.test/t?code={{code}}&sub={{subdomain}}",
                                      "mapping": {"accessToken": "$.token"}}}
        data.pop("source")
        data["actions"][0]["parameters"]["properties"].pop("product")
        data["actions"][0]["requests"][3]["body"]["store"] = "{{uid}}"
        findings = check_auth(parse_definition(json.dumps(data), "app.json"))
        assert [(f.code, f.pointer) for f in findings] == [
            ("DEF_PARAM_UNRESOLVED", "/auth/get_token/url")]
        assert "{{code}}" in findings[0].message


class TestRedirect:
    def test_missing_redirect_parameter_is_appended(self) -> None:
        def missing(data: dict[str, Any]) -> None:
            data["auth"]["auth_url"] = "https://accounts.acme.test/oauth2/auth?client_id=x"

        found = only(check_auth(with_change(missing)), "DEF_REDIRECT_URI")
        assert found.fix is not None
        assert ('"https://accounts.acme.test/oauth2/auth?client_id=x&redirect_uri='
                '{{redirect_uri}}"') in found.fix
        assert "/miniapps/acme-shop/oauth2" in found.fix

    def test_misspelled_placeholder_is_one_finding(self) -> None:
        def misspelled(data: dict[str, Any]) -> None:
            data["auth"]["auth_url"] = "https://a.test/auth?redirect_uri={{redirect_url}}"

        codes = [f.code for f in check_auth(with_change(misspelled))]
        assert codes == ["DEF_REDIRECT_URI"]

    def test_token_exchange_without_redirect_uri_is_a_warning(self) -> None:
        found = only(check_auth(with_change(
            lambda d: d["auth"]["get_token"]["body"].pop("redirect_uri"))), "DEF_REDIRECT_URI")
        assert (found.severity, found.pointer) == ("warning", "/auth/get_token")

    def test_auth_url_in_config(self) -> None:
        def in_config(data: dict[str, Any]) -> None:
            data["auth"]["config"]["auth_url"] = "https://a.test/auth"
            data["auth"].pop("auth_url")

        found = only(check_auth(with_change(in_config)), "DEF_REDIRECT_URI")
        assert found.pointer == "/auth/config/auth_url"


def test_oauth_without_any_flow_is_not_linted() -> None:
    """The webhook-only fixtures declare oauth2 without a flow: nothing to say about it."""
    for name in ("salla.json", "slack.json"):
        definition = load_definition(AUTH.parent / name)
        assert not {f.code for f in check_definition(definition)} & NEW_CODES


def test_docs_style_source_container_is_known_to_x_source() -> None:
    codes = {f.code for f in check_definition(load_definition(AUTH / "bearer-clean.js"))}
    assert "DEF_XSOURCE_UNKNOWN" not in codes


def test_check_command_shows_the_fix() -> None:
    result = CliRunner().invoke(main, ["check", str(AUTH / "redirect-uri.json")])
    assert result.exit_code == 1
    assert "DEF_REDIRECT_URI" in result.output
    assert "redirect_uri={{redirect_uri}}" in result.output


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(
        ["", "[[accessToken]]", "{{code}}", "Bearer [[x]] {{y}}", "function", "oauth2",
         "https://a.test/auth?redirect_uri=x", "{{redirect_uri}}", "$.id", "[[", "{{}}"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["type", "mapping", "name", "value", "url", "headers", "requests",
                         "function", "functions", "parameters", "properties", "get_token",
                         "refresh_token", "auto_refresh", "auth_url", "config", "x-source",
                         "userDetails", "registrationRequests", "body", "params"]),
        children, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(auth=_JSON, actions=_JSON, source=_JSON, functions=_JSON)
def test_any_shape_is_linted_without_crashing(auth: Any, actions: Any, source: Any,
                                              functions: Any) -> None:
    definition = Definition({"ns": "x", "version": "1.0.0", "auth": auth, "actions": actions,
                             "source": source, "functions": functions})
    for found in check_auth(definition):
        assert found.code in NEW_CODES
        assert found.pointer is not None and found.pointer.startswith("/")
