"""The auth and placeholder lint on the patterns Karzoun's authentication guide documents
(tests/docs_corpus/woocommerce.js and oauth.js copy its blocks verbatim)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from paths import REPO

from whdebug.cli import main
from whdebug.engine.lint.definition import check_definition
from whdebug.engine.report import Finding
from whdebug.errors import DefinitionError
from whdebug.model.definition import Definition, load_definition, parse_definition

CORPUS = REPO / "tests" / "docs_corpus"
REGISTERED = "https://api.karzoun.app/miniapps/provider/oauth2"


def variant(name: str, *changes: Callable[[dict[str, Any]], object]) -> Definition:
    data = copy.deepcopy(load_definition(CORPUS / name).data)
    for change in changes:
        change(data)
    return parse_definition(json.dumps(data), name)


def only(findings: list[Finding], code: str) -> Finding:
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, msgspec.to_builtins(findings)
    return matching[0]


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


class TestInstallForm:
    def test_http_basic_block_verbatim_resolves(self) -> None:
        findings = check_definition(load_definition(CORPUS / "woocommerce.js"), submission=True)
        assert not {"DEF_PLACEHOLDER_UNRESOLVED", "DEF_PARAM_UNRESOLVED"} & codes(findings), \
            msgspec.to_builtins(findings)

    @pytest.mark.parametrize("field", ["shopDomain", "storeUrl"])
    def test_form_field_is_a_parameter_everywhere(self, field: str) -> None:
        def use(data: dict[str, Any]) -> None:
            data["auth"]["form"][field] = {"type": "text", "label": field, "required": True}
            data["actions"][0]["requests"][0]["url"] = (
                f"https://{{{{{field}}}}}/wp-json/wc/v3/orders/{{{{orderId}}}}")
            data["source"] = {"rpc_orders": {
                "url": f"https://{{{{{field}}}}}/wp-json/wc/v3/orders", "method": "GET",
                "headers": {"Authorization": "Basic [[consumerKey]]:[[consumerSecret]]"},
                "dataPath": "$", "valueField": "id", "labelField": "number"}}
            data["sync"] = {"baseUrl": f"https://{{{{{field}}}}}/wp-json/wc/v3", "headers": {
                "Authorization": "Basic [[consumerKey]]:[[consumerSecret]]"}}

        findings = check_definition(variant("woocommerce.js", use), submission=True)
        assert [f for f in findings if f.severity != "info"] == []

    def test_per_install_value_is_never_sent_to_auth_config(self) -> None:
        def use(data: dict[str, Any]) -> None:
            data["sync"] = {"baseUrl": "https://{{shopDomain}}/admin/api/2024-01"}

        found = only(check_definition(variant("woocommerce.js", use)), "DEF_PARAM_UNRESOLVED")
        assert found.pointer == "/sync/baseUrl"
        assert found.fix is not None and "auth.form" in found.fix
        assert "every tenant" in found.fix  # auth.config is named only as the global choice
        assert found.fix.index("auth.form") < found.fix.index("auth.config")

    def test_install_form_as_a_list_of_named_fields(self) -> None:
        def as_list(data: dict[str, Any]) -> None:
            form = data["auth"]["form"]
            data["auth"]["form"] = [{"name": key, **field} for key, field in form.items()]

        findings = check_definition(variant("woocommerce.js", as_list))
        assert not {"DEF_PLACEHOLDER_UNRESOLVED", "DEF_PARAM_UNRESOLVED"} & codes(findings)

    def test_credential_fix_points_at_the_install_form(self) -> None:
        def use(data: dict[str, Any]) -> None:
            data["actions"][0]["requests"][0]["headers"]["X-Api-Key"] = "[[apiKey]]"

        found = only(check_definition(variant("woocommerce.js", use)),
                     "DEF_PLACEHOLDER_UNRESOLVED")
        assert "auth.form (storeUrl, consumerKey, consumerSecret)" in found.message
        assert found.fix is not None and found.fix.startswith('add "apiKey" to auth.form')


def _auth_url(value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["auth"]["auth_url"] = value

    return change


def _token_redirect(value: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["auth"]["get_token"]["body"]["redirect_uri"] = value

    return change


AUTHORIZE = "https://provider.com/oauth/authorize?client_id={{client_id}}&response_type=code"


class TestRedirectUri:
    def test_documented_object_form_is_clean(self) -> None:
        findings = check_definition(load_definition(CORPUS / "oauth.js"), submission=True)
        assert [f for f in findings if f.severity != "info"] == []
        assert "DEF_REDIRECT_URI" not in codes(findings)

    def test_object_form_with_trailing_slash(self) -> None:
        url = f"{AUTHORIZE}&redirect_uri={REGISTERED}/"
        found = only(check_definition(variant("oauth.js", _auth_url({"url": url}))),
                     "DEF_REDIRECT_URI")
        assert (found.severity, found.pointer) == ("error", "/auth/auth_url/url")
        assert "/oauth2/" in found.message and "trailing slash" in found.message
        assert found.fix is not None and "redirect_uri={{redirect_uri}}" in found.fix

    def test_object_form_with_params(self) -> None:
        block = {"url": AUTHORIZE, "params": {"redirect_uri": f"{REGISTERED}/"}}
        found = only(check_definition(variant("oauth.js", _auth_url(block))), "DEF_REDIRECT_URI")
        assert found.pointer == "/auth/auth_url/params/redirect_uri"
        assert found.fix is not None and '"{{redirect_uri}}"' in found.fix

    def test_object_form_without_redirect_uri(self) -> None:
        found = only(check_definition(variant("oauth.js", _auth_url({"url": AUTHORIZE}))),
                     "DEF_REDIRECT_URI")
        assert (found.severity, found.pointer) == ("error", "/auth/auth_url/url")
        assert "does not pass {{redirect_uri}}" in found.message
        fixed = f"{AUTHORIZE}&redirect_uri={{{{redirect_uri}}}}"
        assert found.fix is not None and fixed in found.fix

    def test_redirect_uri_of_another_ns(self) -> None:
        other = "https://api.karzoun.app/miniapps/provider-old/oauth2"
        block = {"url": AUTHORIZE, "params": {"redirect_uri": other}}
        found = only(check_definition(variant("oauth.js", _auth_url(block))), "DEF_REDIRECT_URI")
        assert '"provider-old"' in found.message and '"provider"' in found.message

    def test_hard_coded_redirect_uri_in_get_token(self) -> None:
        found = only(check_definition(variant("oauth.js", _token_redirect(f"{REGISTERED}/"))),
                     "DEF_REDIRECT_URI")
        assert (found.severity, found.pointer) == ("error", "/auth/get_token/body/redirect_uri")
        assert found.fix is not None and '"{{redirect_uri}}"' in found.fix

    def test_string_form_naming_another_ns(self) -> None:
        url = f"{AUTHORIZE}&redirect_uri=https://api.karzoun.app/miniapps/shop/oauth2"
        found = only(check_definition(variant("oauth.js", _auth_url(url))), "DEF_REDIRECT_URI")
        assert (found.severity, found.pointer) == ("error", "/auth/auth_url")
        assert 'names ns "shop"' in found.message
        assert found.fix is not None and json.dumps(
            f"{AUTHORIZE}&redirect_uri={{{{redirect_uri}}}}") in found.fix

    def test_another_placeholder_is_not_the_redirect_uri(self) -> None:
        block = {"url": f"{AUTHORIZE}&redirect_uri={{{{callback}}}}"}
        findings = check_definition(variant("oauth.js", _auth_url(block)))
        found = only(findings, "DEF_REDIRECT_URI")
        assert "is not {{redirect_uri}}" in found.message
        assert "DEF_PARAM_UNRESOLVED" not in codes(findings)

    def test_exact_hard_coded_uri_is_a_note(self) -> None:
        found = only(check_definition(variant("oauth.js", _token_redirect(REGISTERED))),
                     "DEF_REDIRECT_URI")
        assert found.severity == "info" and "api.karzoun.app" in found.message

    def test_the_fixes_remove_the_finding(self) -> None:
        url = AUTHORIZE + "&redirect_uri={{redirect_uri}}"
        fixed = variant("oauth.js", _auth_url({"url": url}), _token_redirect("{{redirect_uri}}"))
        assert "DEF_REDIRECT_URI" not in codes(check_definition(fixed))


class TestRefreshWording:
    def test_auto_refresh_missing_says_the_runtime_refreshes_on_401(self) -> None:
        found = only(check_definition(variant("oauth.js", lambda d: d["auth"].pop("auto_refresh"))),
                     "DEF_REFRESH_MISSING")
        assert "401" in found.message and "before it expires" not in found.message
        assert "retried" in found.message


class TestTemplateLiterals:
    def test_marketplace_description_template_is_read(self) -> None:
        definition = load_definition(CORPUS / "listing.js")
        assert definition.data["description"].startswith("\nConnect **My Service** to Karzoun")
        assert "| order.created      | A new order is placed          |\n" in \
            definition.data["description"]
        assert definition.data["icon"] == "https://cdn.example.com/icon.svg"

    def test_escapes_and_quotes_inside_a_template(self) -> None:
        text = "const app = {\n  a: `say \"hi\" it's \\`ok\\` \\${x}`,\n  b: 'x',\n};\n"
        assert parse_definition(text, "app.js").data == {
            "a": "say \"hi\" it's `ok` ${x}", "b": "x"}

    def test_substitution_is_a_precise_error(self) -> None:
        text = "const app = {\n  ns: 'x',\n  description: `Hello ${name}!`,\n};\n"
        with pytest.raises(DefinitionError) as caught:
            parse_definition(text, "app.js")
        message = str(caught.value)
        assert message.startswith("app.js:3:23: ")
        assert "${name}" in message and "\n" not in message

    def test_later_errors_keep_their_line_and_column(self) -> None:
        text = "const app = {\n  a: `one\ntwo`,\n  b: @,\n};\n"
        with pytest.raises(DefinitionError) as caught:
            parse_definition(text, "app.js")
        assert str(caught.value) == 'app.js:4:6: unexpected "@"'

    def test_backtick_inside_a_string_is_left_alone(self) -> None:
        assert parse_definition("{a: 'x`y', // `z\n}", "app.js").data == {"a": "x`y"}

    def test_unicode_escapes_and_crlf(self) -> None:
        text = "{a: `caf\\u00e9 \\x41\\u{1F600}\r\nnext`}"
        assert parse_definition(text, "app.js").data == {"a": "café A\U0001F600\nnext"}

    def test_unclosed_template(self) -> None:
        with pytest.raises(DefinitionError) as caught:
            parse_definition("{\n  a: `open,\n}", "app.js")
        assert str(caught.value) == "app.js:2:6: template literal (`) is never closed"

    def test_substitution_is_a_parse_finding_with_a_fix(self, tmp_path: Path) -> None:
        path = tmp_path / "app.js"
        path.write_text("const app = {\n  ns: 'x',\n  docsUrl: `https://${host}/docs`,\n};\n")
        result = CliRunner().invoke(main, ["check", "--json", str(path)])
        assert result.exit_code == 2, result.output
        found = json.loads(result.stdout)["findings"]
        assert [(f["code"], f["message"]) for f in found] == [(
            "DEF_PARSE", f"{path}:3:21: template literal with a substitution ${{host}}: whdebug "
            "does not run JavaScript; write the value out as a plain string")]
        assert "quoted string" in found[0]["fix"]


@settings(max_examples=300, derandomize=True)
@given(st.text(alphabet="`${}\\'\"/*\n ab:,", max_size=30))
def test_any_text_with_backticks_is_a_definition_or_a_located_error(body: str) -> None:
    try:
        parse_definition("{a: " + body, "app.js")
    except DefinitionError as error:
        message = str(error)
        assert message.startswith("app.js:") and "\n" not in message


@pytest.mark.parametrize("name", ["woocommerce.js", "listing.js", "oauth.js"])
def test_cli_passes_the_documented_blocks(name: str) -> None:
    result = CliRunner().invoke(main, ["check", "--submission", str(CORPUS / name)])
    assert result.exit_code == 0, result.output
    assert "✓ ok: 0 errors · 0 warnings" in result.output
    assert "errors (" not in result.output and "warnings (" not in result.output
