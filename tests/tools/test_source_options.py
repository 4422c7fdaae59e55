"""`whdebug source`: label suggestions, empty labels, every item's problem, and an empty
credential, with the docs' Slack source (dynamic-data-sources guide) as written there."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.cli_support import run
from whdebug.tools.sources import extract_options

# The guide's rpc_channels_list, as a pasted JS object literal.
SOURCE = """const app = {{
  ns: 'slack', version: '1.0.0',
  auth: {{ type: 'bearer_token', sensitiveKeys: ['accessToken'], config: {{ accessToken: '' }} }},
  source: {{
    // Each key must start with "rpc_"
    rpc_channels_list: {{
      url: '{base}/api/conversations.list?limit=1000&types=public_channel,private_channel',
      method: 'GET',
      headers: {{
        Authorization: 'Bearer [[accessToken]]',
      }},
      dataPath: 'channels',         // JSONPath to the array in the response
      valueField: 'id',             // Field to use as the option value
      labelField: 'name',           // Field to use as the option label
    }},
  }},
}};
"""
CHANNELS = {"ok": True, "channels": [{"id": "C012AB3CD", "name": "general", "is_private": False},
                                     {"id": "C061EG9T2", "name": "random", "is_private": False}]}


def spec(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"dataPath": "channels", "valueField": "id", "labelField": "name"}
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


class TestLabels:
    def test_missing_label_field_suggests_a_name_before_an_id(self) -> None:
        result = extract_options(spec(labelField=None), CHANNELS)
        (found,) = result.findings
        assert found.code == "SRC_LABEL_MISSING"
        assert found.fix == 'set labelField to "name"'

    def test_missing_label_field_suggests_title_or_label_when_there_is_no_name(self) -> None:
        document = {"channels": [{"id": 1, "title": "General"}, {"id": 2, "title": "Random"}]}
        (found,) = extract_options(spec(labelField=None), document).findings
        assert found.fix == 'set labelField to "title"'

    def test_missing_value_field_still_suggests_the_id(self) -> None:
        (found,) = extract_options(spec(valueField=None), CHANNELS).findings
        assert found.fix == 'set valueField to "id"'

    def test_a_dropdown_whose_labels_are_all_empty_is_not_ok(self) -> None:
        document = {"channels": [{"id": "C1", "name": ""}, {"id": "C2", "name": "  "}]}
        result = extract_options(spec(), document)
        assert not result.ok
        (found,) = result.findings
        assert (found.code, found.severity) == ("SRC_LABEL_MISSING", "error")
        assert "every option" in found.message

    def test_a_wrong_label_field_everywhere_is_not_ok(self) -> None:
        result = extract_options(spec(labelField="title"), CHANNELS)
        assert not result.ok
        (found,) = result.findings
        assert found.severity == "error"
        assert found.fix == 'set labelField to the item key that holds it, e.g. "name"'

    def test_some_empty_labels_stay_a_warning(self) -> None:
        document = {"channels": [{"id": "C1", "name": "general"}, {"id": "C2", "name": ""}]}
        result = extract_options(spec(), document)
        assert result.ok
        (found,) = result.findings
        assert (found.code, found.severity) == ("SRC_LABEL_MISSING", "warning")
        assert "(item [1])" in found.message


class TestEveryItem:
    def test_every_item_with_a_problem_is_named(self) -> None:
        document = {"channels": [
            {"name": "no-id"}, {"id": "C2", "name": "ok"}, {"id": "C3"},
            {"topic": "neither"}, {"id": "C5", "name": None}]}
        result = extract_options(spec(), document)
        found = {f.code: f for f in result.findings}
        assert "items [0], [3]" in found["SRC_VALUE_MISSING"].message
        assert "2 of 5 items" in found["SRC_VALUE_MISSING"].message
        # item [3] lacks both: its label problem is reported too
        assert "items [2], [3], [4]" in found["SRC_LABEL_MISSING"].message
        assert "3 of 5 items" in found["SRC_LABEL_MISSING"].message

    def test_long_lists_are_counted(self) -> None:
        document = {"channels": [{"name": f"n{i}"} for i in range(12)]}
        (found,) = extract_options(spec(), document).findings
        assert "items [0], [1], [2], [3], [4], [5], [6], [7] and 4 more" in found.message


# --- an empty credential, against a real uvicorn standing in for Slack ----------------------


async def conversations(request: Request) -> Response:
    if request.headers.get("authorization") != "Bearer xoxb-good":
        return JSONResponse({"ok": False, "error": "not_authed"}, status_code=401)
    return JSONResponse(CHANNELS)


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    app = Starlette(routes=[Route("/api/conversations.list", conversations)])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", ws="none",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_an_empty_token_says_the_credential_is_empty(provider: str, tmp_path: Path) -> None:
    definition = tmp_path / "slack.js"
    definition.write_text(SOURCE.format(base=provider))
    result = run("source", str(definition), "rpc_channels_list", "--call",
                 "--credential", "accessToken=")
    assert result.exit_code == 1, result.output
    assert "Illegal header value" not in result.output
    assert "SRC_CONNECTION" not in result.output
    assert "could not reach" not in result.output
    text = " ".join(result.stdout.split())
    assert "[[accessToken]] in header Authorization is empty: the credential accessToken you " \
           "gave is an empty string" in text
    assert "401" in text  # the host was reached and answered


def test_a_good_token_lists_the_channels(provider: str, tmp_path: Path) -> None:
    definition = tmp_path / "slack.js"
    definition.write_text(SOURCE.format(base=provider))
    result = run("source", str(definition), "rpc_channels_list", "--call",
                 "--credential", "accessToken=xoxb-good")
    assert result.exit_code == 0, result.output
    assert "general" in result.stdout and "xoxb-good" not in result.stdout
