"""`whdebug sign` without --event when the event is read from a header (the docs' GitHub
example: X-GitHub-Event + $.action): the first trigger that fits the payload, said so."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tests.cli_support import run
from tests.tools.test_update import GITHUB
from whdebug.formats.http import parse_http
from whdebug.model.definition import parse_definition
from whdebug.model.request import Secrets
from whdebug.tools.signing import sign_request

NOW = datetime(2025, 11, 24, 16, 0, 5, tzinfo=UTC)
SECRETS = Secrets({"webhookSecret": "gh-secret"}, {})


def github_payload(action: str) -> bytes:
    return json.dumps({"action": action, "number": 7, "delivery": "d-1"}).encode()


def test_without_event_the_first_fitting_trigger_is_used_and_said() -> None:
    signed = sign_request(github_payload("opened"), parse_definition(GITHUB), SECRETS, now=NOW)
    assert signed.event == "pull_request.opened"  # push.received does not fit action=opened
    assert ("X-GitHub-Event", "pull_request") in signed.request.headers
    assert any("no --event" in notice and "'pull_request.opened'" in notice
               for notice in signed.notices)


def test_without_event_and_no_fitting_trigger_the_notice_asks_for_it() -> None:
    signed = sign_request(github_payload("closed"), parse_definition(GITHUB), SECRETS, now=NOW)
    assert signed.event == ".closed"
    message = signed.notices[-1]
    assert "give --event" in message and "X-GitHub-Event" in message
    assert "push.received" in message


def test_an_explicit_event_is_kept() -> None:
    signed = sign_request(github_payload("opened"), parse_definition(GITHUB), SECRETS, now=NOW,
                          event="issue.opened")
    assert signed.event == "issue.opened"
    assert not any("no --event" in notice for notice in signed.notices)


def test_body_events_need_no_event_flag() -> None:
    definition = parse_definition(GITHUB.replace(
        'source: "header",\n      path: "X-GitHub-Event",\n      compositeStrategy',
        'source: "body",\n      path: "$.action",\n      unused'))
    signed = sign_request(github_payload("opened"), definition, SECRETS, now=NOW)
    assert signed.event == "opened"
    assert not any("no --event" in notice for notice in signed.notices)


def test_command_writes_a_request_that_fires(tmp_path: Path) -> None:
    (tmp_path / "app.js").write_text(GITHUB)
    (tmp_path / "payload.json").write_bytes(github_payload("opened"))
    result = run("sign", str(tmp_path / "payload.json"), "--definition",
                 str(tmp_path / "app.js"), "--credential", "webhookSecret=gh-secret",
                 "-o", str(tmp_path / "out.http"))
    assert result.exit_code == 0, result.output
    assert "sign: event 'pull_request.opened'" in result.stderr
    assert "no --event" in result.stderr
    request = parse_http((tmp_path / "out.http").read_bytes())
    assert dict(request.headers)["X-GitHub-Event"] == "pull_request"
    replay = run("replay", "--file", str(tmp_path / "out.http"), "--definition",
                 str(tmp_path / "app.js"), "--credential", "webhookSecret=gh-secret")
    assert replay.exit_code == 0, replay.output


def test_command_without_a_fitting_trigger_exits_2(tmp_path: Path) -> None:
    (tmp_path / "app.js").write_text(GITHUB)
    (tmp_path / "payload.json").write_bytes(github_payload("closed"))
    result = run("sign", str(tmp_path / "payload.json"), "--definition",
                 str(tmp_path / "app.js"), "--credential", "webhookSecret=gh-secret")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("whdebug: --event is required")
    assert "'.closed'" in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_sample_keeps_its_own_event_header_and_says_nothing_of_triggers(tmp_path: Path) -> None:
    # sign --sample shopify:orders/updated said it "signed for the first trigger whose event
    # fits this payload, 'orders/create'", then that the runtime extracts 'orders/updated'.
    corpus = Path(__file__).resolve().parent.parent / "docs_corpus" / "shopify.js"
    out = tmp_path / "updated.http"
    result = run("sign", "--sample", "shopify:orders/updated", "--definition", str(corpus),
                 "--credential", "webhookSecret=shop-secret", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "sign: event 'orders/updated'" in result.stderr
    assert "note:" not in result.stderr, result.stderr
    request = parse_http(out.read_bytes())
    assert [v for n, v in request.headers if n == "X-Shopify-Topic"] == ["orders/updated"]


def test_a_topic_header_given_with_a_payload_is_kept_too() -> None:
    definition = parse_definition(json.dumps({
        "ns": "shop", "triggers": [{"type": "miniapps:shop", "event": "orders/create"},
                                   {"type": "miniapps:shop", "event": "orders/updated"}],
        "webhook": {"eventExtraction": {"source": "header", "path": "X-Shopify-Topic"},
                    "verification": {"type": "hmac-sha256", "headerName": "X-Shopify-Hmac-Sha256",
                                     "secretKey": "webhookSecret", "encoding": "base64"}}}))
    signed = sign_request(b'{"id":1}', definition, SECRETS, now=NOW,
                          headers=[("X-Shopify-Topic", "orders/updated")])
    assert signed.event == "orders/updated"
    assert signed.notices == ()
