"""`whdebug source`: options from saved responses, placeholder resolution, and live calls
against a local stand-in for the provider (a real uvicorn on 127.0.0.1, or MockTransport)."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st
from paths import REPO
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from whdebug.cli import main
from whdebug.errors import WhdebugError
from whdebug.model.definition import Definition, load_definition, parse_definition
from whdebug.model.secrecy import NamedSecret, SecretSet
from whdebug.tools.provider_client import call_source
from whdebug.tools.sources import (
    extract_options,
    find_source,
    resolve_source_request,
)

ROOT = REPO / "fixtures"
RPC = ROOT / "rpc"
BEARER = ROOT / "definitions" / "auth" / "bearer-clean.js"
TOKEN = "xoxb-live-7f3a9c-never-printed"
CLIENT_SECRET = "oauth-client-secret-4411"


def options_for(spec: dict[str, Any], response: str) -> Any:
    return extract_options(spec, json.loads((RPC / response).read_text()), pointer="/source/s")


def codes(result: Any) -> list[str]:
    return [f.code for f in result.findings]


class TestOptions:
    def test_slack_channels(self) -> None:
        result = options_for({"dataPath": "channels", "valueField": "id", "labelField": "name"},
                             "slack-channels.json")
        assert [(o.value, o.label) for o in result.options] == [
            ("C012AB3CD", "general"), ("C061EG9T2", "random"), ("C07QCNU9B", "orders")]
        assert result.ok and result.findings == ()

    def test_nested_label_field(self) -> None:
        result = options_for({"dataPath": "members", "valueField": "id",
                              "labelField": "profile.real_name"}, "slack-users.json")
        assert [o.label for o in result.options] == ["Amira Haddad", "Omar Saleh", ""]
        (found,) = result.findings
        assert (found.code, found.severity) == ("SRC_LABEL_MISSING", "warning")
        assert "1 of 3 items" in found.message
        assert "profile.display_name" in found.message
        assert found.pointer == "/source/s/labelField"

    def test_label_field_missing_everywhere_suggests_the_nested_path(self) -> None:
        result = options_for({"dataPath": "members", "valueField": "id",
                              "labelField": "real_name"}, "slack-users.json")
        (found,) = result.findings
        assert found.fix == 'set labelField to "profile.real_name"'

    def test_github_top_level_array(self) -> None:
        result = options_for({"valueField": "id", "labelField": "full_name"},
                             "github-repos.json")
        assert [o.value for o in result.options] == ["1296269", "1300192", "18221276"]
        assert result.ok

    def test_data_path_on_a_top_level_array(self) -> None:
        result = options_for({"dataPath": "items", "valueField": "id", "labelField": "name"},
                             "github-repos.json")
        (found,) = result.findings
        assert found.code == "SRC_DATAPATH_MISSING"
        assert "top-level array of 3 items" in found.message
        assert found.fix == 'remove dataPath (or set it to "$")'

    def test_error_body(self) -> None:
        result = options_for({"dataPath": "channels", "valueField": "id", "labelField": "name"},
                             "slack-error.json")
        assert codes(result) == ["SRC_ERROR_BODY", "SRC_DATAPATH_MISSING"]
        assert "error = 'invalid_auth'" in result.findings[0].message
        assert not result.ok

    def test_misspelled_data_path_lists_the_arrays(self) -> None:
        result = options_for({"dataPath": "channel", "valueField": "id", "labelField": "name"},
                             "slack-channels.json")
        (found,) = result.findings
        assert "the response has: ok, channels (array of 3), response_metadata" in found.message
        assert found.fix == 'set dataPath to "channels"'

    def test_data_path_on_an_object(self) -> None:
        result = options_for({"dataPath": "pagination", "valueField": "id",
                              "labelField": "name"}, "salla-products.json")
        (found,) = result.findings
        assert found.code == "SRC_NOT_ARRAY"
        assert "selects object, not an array" in found.message
        assert found.fix == 'set dataPath to "data"'

    def test_value_field_missing_suggests_a_scalar_key(self) -> None:
        result = options_for({"dataPath": "channels", "valueField": "channel_id",
                              "labelField": "name"}, "slack-channels.json")
        (found,) = result.findings
        assert found.code == "SRC_VALUE_MISSING" and found.severity == "error"
        assert "item [0] has: id, name, is_channel" in found.message
        assert found.fix == 'set valueField to the item key that holds it, e.g. "id"'
        assert result.options == () and not result.ok

    def test_duplicate_values(self) -> None:
        result = options_for({"dataPath": "data", "valueField": "id", "labelField": "name"},
                             "salla-products.json")
        (found,) = result.findings
        assert found.code == "SRC_DUPLICATE_VALUE"
        assert "'1935454711' x2" in found.message
        assert result.ok  # a warning: the dropdown still has options

    @pytest.mark.parametrize(("document", "code"), [
        ({"data": []}, "SRC_EMPTY"),
        ({"data": ["a", "b"]}, "SRC_ITEM_NOT_OBJECT"),
        ({"data": {"items": [{"id": 1}]}}, "SRC_NOT_ARRAY"),
    ])
    def test_shapes(self, document: Any, code: str) -> None:
        result = extract_options({"dataPath": "data", "valueField": "id", "labelField": "id"},
                                 document)
        assert code in codes(result)

    def test_no_value_field_in_the_source(self) -> None:
        result = extract_options({"dataPath": "data", "labelField": "name"},
                                 {"data": [{"id": 7, "name": "x"}]})
        (found,) = result.findings
        assert (found.code, found.fix) == ("SRC_VALUE_MISSING", 'set valueField to "id"')


class TestResolution:
    def definition(self) -> Definition:
        return parse_definition(json.dumps({
            "ns": "acme", "version": "1.0.0",
            "auth": {"type": "apikey", "config": {"region": "eu", "apiSecret": ""},
                     "sensitiveKeys": ["apiSecret"]},
        }), "app.json")

    def test_placeholders_everywhere(self) -> None:
        spec = {"url": "https://{{region}}.acme.test/v1/[[accountId]]/lists",
                "params": {"q": "{{search}}", "limit": 50},
                "headers": {"Authorization": "Bearer [[accessToken]]", "X-Empty": "[[nope]]"}}
        request = resolve_source_request(
            self.definition(), spec, credentials={"accessToken": TOKEN, "accountId": "A1"},
            config={}, params={"search": "a b"})
        assert request.url == "https://eu.acme.test/v1/A1/lists?q=a+b&limit=50"
        assert dict(request.headers)["Authorization"] == f"Bearer {TOKEN}"
        origins = {(p.text, p.where): p.resolved_from for p in request.placeholders}
        assert origins[("{{region}}", "url")] == "auth.config"
        assert origins[("{{search}}", "query q")] == "--param"
        assert origins[("[[nope]]", "header X-Empty")] is None
        assert [p.key for p in request.empty] == ["nope"]
        assert TOKEN in request.secrets.values

    def test_basic_auth_is_base64_encoded_after_resolution(self) -> None:
        spec = {"url": "https://acme.test/x",
                "headers": {"Authorization": "Basic [[apiKey]]:[[apiSecret]]"}}
        request = resolve_source_request(self.definition(), spec,
                                         credentials={"apiKey": "key-1", "apiSecret": "sec-2"},
                                         config={}, params={})
        encoded = base64.b64encode(b"key-1:sec-2").decode()
        assert dict(request.headers)["Authorization"] == f"Basic {encoded}"
        assert encoded in request.secrets.values

    def test_config_override_and_json_body(self) -> None:
        spec = {"url": "https://acme.test/search", "method": "POST",
                "body": {"region": "{{region}}", "secret": "{{apiSecret}}"}}
        request = resolve_source_request(self.definition(), spec, credentials={},
                                         config={"apiSecret": CLIENT_SECRET}, params={})
        assert json.loads(request.body or b"") == {"region": "eu", "secret": CLIENT_SECRET}
        assert ("Content-Type", "application/json") in request.headers
        assert CLIENT_SECRET in request.secrets.values
        assert {p.resolved_from for p in request.placeholders} == {"auth.config", "--config"}

    def test_mask_covers_encoded_forms(self) -> None:
        secret = "a+b/c=d&e"
        text = f"x={secret} y=a%2Bb%2Fc%3Dd%26e z=\"a+b/c=d&e\""
        masked = SecretSet([NamedSecret("x", secret)]).mask(text)
        assert secret not in masked
        assert "a%2Bb" not in masked

    def test_find_source_names_what_exists(self) -> None:
        definition = load_definition(BEARER)
        pointer, spec = find_source(definition, "rpc_users_list")
        assert pointer == "/source/rpc_users_list"
        assert spec["labelField"] == "profile.real_name"
        with pytest.raises(WhdebugError, match='did you mean "rpc_users_list"'):
            find_source(definition, "rpc_user_list")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["source", *args])


class TestOfflineCommand:
    def test_options_table(self) -> None:
        result = run(str(BEARER), "rpc_users_list", "--response", str(RPC / "slack-users.json"))
        assert result.exit_code == 0, result.output
        assert "Amira Haddad" in result.output
        assert "SRC_LABEL_MISSING" in result.output

    def test_empty_dropdown_exits_1(self) -> None:
        result = run(str(BEARER), "rpc_channels_list", "--response",
                     str(RPC / "slack-error.json"), "--json")
        assert result.exit_code == 1
        document = json.loads(result.output)
        assert document["schema"] == "whdebug.source/1"
        assert document["mode"] == "response"
        assert document["options"]["options"] == []
        assert document["ok"] is False

    def test_not_json_is_bad_input(self, tmp_path: Path) -> None:
        page = tmp_path / "page.html"
        page.write_text("<html>login</html>")
        result = run(str(BEARER), "rpc_channels_list", "--response", str(page))
        assert result.exit_code == 2
        assert result.output.startswith(f"whdebug: {page}:1:1: the response is not JSON")

    def test_unknown_source(self) -> None:
        result = run(str(BEARER), "rpc_channel", "--response", str(RPC / "slack-channels.json"))
        assert result.exit_code == 2
        assert 'did you mean "rpc_channels_list"' in result.output

    @pytest.mark.parametrize("args", [[], ["--call", "--response", "x.json"]])
    def test_exactly_one_mode(self, args: list[str]) -> None:
        result = run(str(BEARER), "rpc_channels_list", *args)
        assert result.exit_code == 2
        assert "exactly one of --response FILE or --call" in result.output


# --- live calls -------------------------------------------------------------------------------

SLOW_SECONDS = 2.0


async def channels(request: Request) -> Response:
    if request.headers.get("authorization") != f"Bearer {TOKEN}":
        # Echo what was sent, as some providers do: whdebug must mask it.
        return JSONResponse({"ok": False, "error": "invalid_auth",
                             "got": request.headers.get("authorization")}, status_code=401)
    return JSONResponse({"ok": True, "channels": [{"id": "C1", "name": "general"},
                                                  {"id": "C2", "name": "random"}]})


async def slow(request: Request) -> Response:
    await asyncio.sleep(SLOW_SECONDS)
    return JSONResponse({"ok": True, "channels": []})


PROVIDER = Starlette(routes=[Route("/api/conversations.list", channels), Route("/slow", slow)])


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """A real uvicorn on a free 127.0.0.1 port in a thread, always stopped."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(PROVIDER, log_level="warning", lifespan="off", ws="none",
                            timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the stand-in provider did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        assert not thread.is_alive()


def oauth_definition(tmp_path: Path, base: str) -> Path:
    """An OAuth app whose sources read [[accessToken]] from get_token.mapping."""
    data = json.loads((ROOT / "definitions" / "auth" / "oauth-clean.json").read_text())
    data["auth"]["config"]["client_secret"] = CLIENT_SECRET
    data["source"] = {
        "rpc_channels": {"url": f"{base}/api/conversations.list", "params": {"team": "{{team}}"},
                         "headers": {"Authorization": "Bearer [[accessToken]]"},
                         "dataPath": "channels", "valueField": "id", "labelField": "name"},
        "rpc_slow": {"url": f"{base}/slow", "headers": {"Authorization": "Bearer [[accessToken]]"},
                     "dataPath": "channels", "valueField": "id", "labelField": "name"},
    }
    path = tmp_path / "app.json"
    path.write_text(json.dumps(data))
    return path


def assert_no_secret(result: Result) -> None:
    for secret in (TOKEN, CLIENT_SECRET, "wrong-token-31337"):
        assert secret not in result.output


class TestLiveCall:
    def test_200_lists_the_options(self, provider: str, tmp_path: Path) -> None:
        result = run(str(oauth_definition(tmp_path, provider)), "rpc_channels", "--call",
                     "--credential", f"accessToken={TOKEN}", "--param", "team=T1")
        assert result.exit_code == 0, result.output
        assert "-> 200 OK" in result.output
        assert "Authorization: Bearer [masked]" in result.output
        assert "general" in result.output and "random" in result.output
        assert_no_secret(result)

    def test_401_names_the_key_and_its_producer(self, provider: str, tmp_path: Path) -> None:
        result = run(str(oauth_definition(tmp_path, provider)), "rpc_channels", "--call",
                     "--credential", "accessToken=wrong-token-31337", "--param", "team=T1",
                     "--json")
        assert result.exit_code == 1
        assert_no_secret(result)
        document = json.loads(result.output)
        assert document["response"]["status"] == 401
        assert "Bearer [masked]" in document["response"]["body_preview"]
        unauthorized = [f for f in document["findings"] if f["code"] == "SRC_UNAUTHORIZED"]
        assert len(unauthorized) == 1
        message = unauthorized[0]["message"]
        assert "[[accessToken]] in header Authorization" in message
        assert "auth.get_token.mapping (the OAuth token exchange)" in message
        assert document["ok"] is False

    def test_empty_placeholder_is_reported(self, provider: str, tmp_path: Path) -> None:
        result = run(str(oauth_definition(tmp_path, provider)), "rpc_channels", "--call",
                     "--credential", f"accessToken={TOKEN}")
        assert "{{team}} in query team has no value" in result.output
        assert "pass --param team=VALUE" in result.output
        assert result.exit_code == 1  # options, but an error-level finding

    def test_slow_provider_times_out(self, provider: str, tmp_path: Path) -> None:
        started = time.monotonic()
        result = run(str(oauth_definition(tmp_path, provider)), "rpc_slow", "--call",
                     "--credential", f"accessToken={TOKEN}", "--timeout", "0.3")
        assert time.monotonic() - started < SLOW_SECONDS
        assert result.exit_code == 1
        assert "SRC_TIMEOUT" in result.output
        assert "no answer (timeout)" in result.output
        assert_no_secret(result)

    def test_connection_refused(self, tmp_path: Path) -> None:
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        result = run(str(oauth_definition(tmp_path, f"http://127.0.0.1:{port}")),
                     "rpc_channels", "--call", "--credential", f"accessToken={TOKEN}",
                     "--param", "team=T")
        assert result.exit_code == 1
        assert "SRC_CONNECTION" in result.output


class TestMockTransport:
    """Answers where a real socket adds nothing: redirects, error bodies, non-JSON."""

    def call(self, handler: Any, url: str = "https://api.acme.test/channels") -> Any:
        definition = load_definition(BEARER)
        spec = {"url": url, "headers": {"Authorization": "Bearer [[accessToken]]"},
                "dataPath": "channels", "valueField": "id", "labelField": "name"}
        request = resolve_source_request(definition, spec, credentials={"accessToken": TOKEN},
                                         config={}, params={})
        return call_source(definition, spec, "/source/s", request, timeout=2,
                           transport=httpx.MockTransport(handler))

    def test_redirect_to_another_host_is_not_followed(self) -> None:
        seen: list[str] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(str(request.url))
            return httpx.Response(302, headers={"Location": "https://evil.test/collect"})

        call = self.call(handler)
        assert seen == ["https://api.acme.test/channels"]
        assert [f.code for f in call.findings] == ["SRC_REDIRECT_BLOCKED"]
        assert "evil.test" in call.findings[0].message

    def test_same_host_redirect_is_followed(self) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/channels":
                return httpx.Response(301, headers={"Location": "/v2/channels"})
            assert request.headers["authorization"] == f"Bearer {TOKEN}"
            return httpx.Response(200, json={"channels": [{"id": "C9", "name": "ops"}]})

        call = self.call(handler)
        assert call.result.redirects == ("https://api.acme.test/v2/channels",)
        assert call.options is not None and [o.value for o in call.options.options] == ["C9"]

    def test_200_with_an_auth_error_body(self) -> None:
        call = self.call(lambda request: httpx.Response(200, json={"ok": False,
                                                                   "error": "not_authed"}))
        assert {f.code for f in call.findings} == {"SRC_UNAUTHORIZED"}
        assert call.options is not None
        assert [f.code for f in call.options.findings][0] == "SRC_ERROR_BODY"
        assert "answered 200" in call.findings[0].message

    def test_not_json(self) -> None:
        call = self.call(lambda request: httpx.Response(200, text="<html>maintenance</html>"))
        assert [f.code for f in call.findings] == ["SRC_NOT_JSON"]
        assert call.preview() == "<html>maintenance</html>"

    def test_server_error(self) -> None:
        call = self.call(lambda request: httpx.Response(500, json={"message": "boom"}))
        assert [f.code for f in call.findings] == ["SRC_HTTP_STATUS"]

    def test_secret_echoed_in_an_error_body_is_masked_in_findings(self) -> None:
        call = self.call(lambda request: httpx.Response(
            200, json={"ok": False, "error": f"token {TOKEN} was revoked"}))
        assert call.options is not None
        assert TOKEN not in json.dumps(msgspec.to_builtins(call.options))
        assert "token [masked] was revoked" in call.options.findings[0].message

    def test_secret_echoed_in_the_body_and_url_is_masked(self) -> None:
        call = self.call(lambda request: httpx.Response(400, json={"echo": TOKEN}),
                         url="https://api.acme.test/channels?token=[[accessToken]]")
        assert TOKEN not in call.preview()
        assert TOKEN not in call.shown_url()
        assert TOKEN not in json.dumps(msgspec.to_builtins(call.document()))


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["id", "name", "data", "items", "profile", "error", "ok", "x"]),
        children, max_size=4),
    max_leaves=15)
_FIELDS = st.sampled_from(["", "$", "data", "items", "id", "name", "profile.name", "data.items",
                           "$..id", "$.[", "x.y.z"]) | st.none() | st.integers()


@settings(max_examples=300, deadline=None)
@given(document=_VALUES, data_path=_FIELDS, value_field=_FIELDS, label_field=_FIELDS)
def test_any_response_gives_options_or_a_reason(document: Any, data_path: Any,
                                                value_field: Any, label_field: Any) -> None:
    result = extract_options({"dataPath": data_path, "valueField": value_field,
                              "labelField": label_field}, document)
    assert result.options or result.findings  # never silently empty
    json.dumps(msgspec.to_builtins(result))
