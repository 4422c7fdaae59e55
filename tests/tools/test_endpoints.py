"""`whdebug urls`: the OAuth redirect URI and webhook URL, ns format, --api-url problems."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from paths import REPO

from whdebug.cli import main
from whdebug.errors import WhdebugError
from whdebug.model.definition import load_definition, parse_definition
from whdebug.tools.endpoints import build_endpoints, kebab_case

FIXTURES = REPO / "fixtures" / "definitions"
OAUTH = FIXTURES / "auth" / "oauth-clean.json"


def codes(api_url: str, path: Path = OAUTH) -> list[str]:
    return [f.code for f in build_endpoints(load_definition(path), api_url).findings]


def test_clean_urls() -> None:
    endpoints = build_endpoints(load_definition(OAUTH), "https://api.karzoun.test")
    assert endpoints.redirect_uri == "https://api.karzoun.test/miniapps/acme-shop/oauth2"
    assert endpoints.webhook_url == "https://api.karzoun.test/miniapps/acme-shop/webhooks"
    assert endpoints.findings == ()
    assert endpoints.ok


@pytest.mark.parametrize(("api_url", "base", "expected"), [
    ("https://api.karzoun.test/", "https://api.karzoun.test", ["URL_API_TRAILING_SLASH"]),
    ("https://api.karzoun.test/miniapps", "https://api.karzoun.test", ["URL_API_PATH"]),
    ("https://api.karzoun.test/miniapps/acme-shop/webhooks/", "https://api.karzoun.test",
     ["URL_API_TRAILING_SLASH", "URL_API_PATH"]),
    ("https://api.karzoun.test/v2", "https://api.karzoun.test/v2", ["URL_API_PATH"]),
    ("https://api.karzoun.test?tenant=1", "https://api.karzoun.test", ["URL_API_QUERY"]),
    ("http://api.karzoun.test", "http://api.karzoun.test", ["URL_API_NOT_HTTPS"]),
    ("http://127.0.0.1:8787", "http://127.0.0.1:8787", []),
])
def test_api_url_problems(api_url: str, base: str, expected: list[str]) -> None:
    endpoints = build_endpoints(load_definition(OAUTH), api_url)
    assert endpoints.base == base
    assert endpoints.webhook_url == f"{base}/miniapps/acme-shop/webhooks"
    assert [f.code for f in endpoints.findings] == expected


def test_trailing_slash_fix_names_the_url_to_pass() -> None:
    (found,) = build_endpoints(load_definition(OAUTH), "https://api.karzoun.test/").findings
    assert found.fix == "pass --api-url https://api.karzoun.test (no trailing slash)"
    assert "double slash" in found.message


def test_ns_must_be_kebab_case() -> None:
    data: dict[str, Any] = copy.deepcopy(json.loads(OAUTH.read_text()))
    data["ns"] = "AcmeShop_App"
    endpoints = build_endpoints(parse_definition(json.dumps(data), "app.json"),
                                "https://api.karzoun.test")
    (found,) = endpoints.findings
    assert (found.code, found.pointer) == ("DEF_NS_FORMAT", "/ns")
    assert found.fix is not None and 'rename ns to "acme-shop-app"' in found.fix
    assert not endpoints.ok


def test_not_oauth_and_no_webhook_are_notes() -> None:
    definition = parse_definition('{"ns": "notes", "version": "1.0.0", '
                                  '"auth": {"type": "apikey"}}', "app.json")
    endpoints = build_endpoints(definition, "https://api.karzoun.test")
    assert [(f.code, f.severity) for f in endpoints.findings] == [
        ("URL_NOT_USED", "info"), ("URL_NOT_USED", "info")]
    assert endpoints.ok


@pytest.mark.parametrize("api_url", ["api.karzoun.test", "ftp://api.karzoun.test", ""])
def test_invalid_api_url(api_url: str) -> None:
    with pytest.raises(WhdebugError, match="--api-url must be an absolute http"):
        build_endpoints(load_definition(OAUTH), api_url)


def test_definition_without_ns() -> None:
    with pytest.raises(WhdebugError, match='no "ns"'):
        build_endpoints(parse_definition('{"version": "1.0.0"}', "app.json"), "https://a.test")


@pytest.mark.parametrize(("name", "expected"), [
    ("GitHub_App", "git-hub-app"), ("my service", "my-service"), ("__", "my-service")])
def test_kebab_case(name: str, expected: str) -> None:
    assert kebab_case(name) == expected


class TestCommand:
    def run(self, *args: str) -> Any:
        return CliRunner().invoke(main, ["urls", *args])

    def test_human_output_prints_whole_urls(self) -> None:
        result = self.run(str(OAUTH), "--api-url", "https://tenant-with-a-long-name.api."
                          "karzoun.test")
        assert result.exit_code == 0, result.output
        assert ("https://tenant-with-a-long-name.api.karzoun.test/miniapps/acme-shop/webhooks"
                in result.output)
        assert "/miniapps/acme-shop/oauth2" in result.output

    def test_json(self) -> None:
        result = self.run(str(OAUTH), "--api-url", "https://api.karzoun.test/", "--json")
        assert result.exit_code == 1
        document = json.loads(result.output)
        assert document["schema"] == "whdebug.urls/1"
        assert document["redirect_uri"] == "https://api.karzoun.test/miniapps/acme-shop/oauth2"
        assert document["ok"] is False
        assert [f["code"] for f in document["findings"]] == ["URL_API_TRAILING_SLASH"]

    def test_bad_api_url_is_one_line(self) -> None:
        result = self.run(str(OAUTH), "--api-url", "api.karzoun.test")
        assert result.exit_code == 2
        assert result.output.startswith("whdebug: --api-url must be")
        assert len(result.output.strip().splitlines()) == 1

    def test_api_url_is_required(self) -> None:
        result = self.run(str(OAUTH))
        assert result.exit_code == 2
        assert "--api-url" in result.output


@pytest.mark.parametrize("name", ["crm_Pro", "2fa_App", "GitHub_App", "my-service"])
def test_kebab_case_is_the_ns_check_suggests(name: str) -> None:
    from whdebug.engine.steps.triggers import kebab_ns

    assert kebab_case(name) == kebab_ns(name)


def test_the_api_url_can_come_from_the_environment() -> None:
    # Typed on every call before: `whdebug urls app.json` said "Missing option '--api-url'".
    from cli_support import run

    definition = str(REPO / "fixtures" / "definitions" / "github.json")
    result = run("urls", definition, env={"WHDEBUG_API_URL": "https://api.example.test"})
    assert result.exit_code in (0, 1), result.output
    assert "https://api.example.test/miniapps/github/webhooks" in result.stdout
    given = run("urls", definition, "--api-url", "https://other.example.test",
                env={"WHDEBUG_API_URL": "https://api.example.test"})
    assert "https://other.example.test/miniapps/github/webhooks" in given.stdout
