"""`whdebug list --by delivery`, `whdebug samples` and `whdebug sign --sample --send`."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest
from cli_support import error_line, json_lines, run
from paths import FIXTURES, REPO

from whdebug.formats.http import parse_http
from whdebug.formats.read import read_request_file
from whdebug.model.definition import load_definition
from whdebug.model.request import Capture, CapturedRequest, Reply, Secrets, Source
from whdebug.receiver.app import ReceiverSettings
from whdebug.receiver.server import ServerSettings, start_in_loop
from whdebug.store.store import Store

#: The definitions copied from Karzoun's docs (tests/docs_corpus on newer trees).
CORPUS = next(path for path in (REPO / "tests" / "docs_corpus",
                                REPO / "tests" / "engine" / "lint" / "docs_corpus")
              if path.exists())
DOCS_GITHUB = CORPUS / "github.js"
SECRET = "sample-secret-9f3"


def private_github(tmp_path: Path) -> Path:
    """The docs' GitHub example as a submission draft (status private)."""
    path = tmp_path / "github.js"
    text = DOCS_GITHUB.read_text(encoding="utf-8")
    assert 'status: "public"' in text
    path.write_text(text.replace('status: "public"', 'status: "private"'), encoding="utf-8")
    return path


def store_deliveries(path: Path, minutes_ago: float) -> None:
    start = datetime.now(UTC) - timedelta(minutes=minutes_ago)

    def at(seconds: float, headers: tuple[tuple[str, str], ...], body: bytes,
           status: int) -> Capture:
        request = CapturedRequest("POST", "/hook", headers=headers, body=body)
        return Capture(request, Source(received_at=start + timedelta(seconds=seconds)),
                       Reply(status))

    shopify = (("X-Shopify-Webhook-Id", "b54557e4-bdd9"), ("X-Shopify-Topic", "orders/create"))
    with Store.open(path) as store:
        store.insert_many([
            at(0, shopify, b'{"id":820982911946154508}', 500),
            at(1, (("X-GitHub-Delivery", "gh-1"),), b"{}", 200),
            at(60, shopify, b'{"id": 820982911946154508}', 503),
        ])


class TestListByDelivery:
    def test_one_row_per_delivery_with_attempts_and_changes(self, tmp_path: Path) -> None:
        store = tmp_path / "c.db"
        store_deliveries(store, minutes_ago=10)
        result = run("list", "--by", "delivery", "--store", str(store), "--json")
        assert result.exit_code == 0, result.stderr
        rows = json_lines(result)
        assert [(row["provider"], row["delivery"], row["attempts"]) for row in rows] == [
            ("shopify", "b54557e4-bdd9", 2), ("github", "gh-1", 1)]
        assert [outcome["status"] for outcome in rows[0]["outcomes"]] == [500, 503]
        assert rows[0]["outcomes"][1]["changed"] == ["body"]
        assert [item["code"] for item in rows[0]["findings"]] == ["DLV_WILL_RETRY"]
        assert rows[1]["findings"] == []
        table = run("list", "--by", "delivery", "--store", str(store))
        assert table.exit_code == 0
        assert "b54557e4-bdd9" in table.stdout and "gh-1" in table.stdout
        assert "#3 503" in table.stdout and "#3: body" in table.stdout
        assert "DLV_WILL_RETRY" in table.stdout and "Shopify retries 8 times" in table.stdout

    def test_an_app_slower_than_the_provider_waits_is_flagged(self, tmp_path: Path) -> None:
        """The forward latency `serve --forward-to` records reaches DLV_TOO_SLOW."""
        store = tmp_path / "c.db"
        request = CapturedRequest("POST", "/hook", headers=(("X-GitHub-Delivery", "gh-9"),),
                                  body=b"{}")
        with Store.open(store) as opened:
            [fast, slow] = opened.insert_many([
                Capture(request, Source(received_at=datetime.now(UTC)), Reply(200)),
                Capture(CapturedRequest("POST", "/hook", headers=(
                    ("X-GitHub-Delivery", "gh-10"),), body=b"{}"),
                    Source(received_at=datetime.now(UTC)), Reply(200))])
            opened.set_forward(fast, 200, b"ok", None, (("Content-Type", "text/plain"),), 0.2)
            opened.set_forward(slow, 200, b"ok", None, (("Content-Type", "text/plain"),), 12.5)
        result = run("list", "--by", "delivery", "--store", str(store), "--json")
        assert result.exit_code == 0, result.stderr
        codes = {row["delivery"]: [item["code"] for item in row["findings"]]
                 for row in json_lines(result)}
        assert "DLV_TOO_SLOW" in codes["gh-10"]
        assert "DLV_TOO_SLOW" not in codes["gh-9"]

    def test_last_n_groups_only_the_newest_captures(self, tmp_path: Path) -> None:
        store = tmp_path / "c.db"
        store_deliveries(store, minutes_ago=10)
        result = run("list", "--by", "delivery", "--last", "2", "--store", str(store), "--json")
        assert result.exit_code == 0
        assert [(row["delivery"], [o["id"] for o in row["outcomes"]])
                for row in json_lines(result)] == [("gh-1", [2]), ("b54557e4-bdd9", [3])]

    def test_a_delivery_the_provider_gave_up_on_exits_1(self, tmp_path: Path) -> None:
        store = tmp_path / "c.db"
        store_deliveries(store, minutes_ago=5 * 60)
        result = run("list", "--by", "delivery", "--store", str(store))
        assert result.exit_code == 1
        assert "DLV_GAVE_UP" in result.stdout

    def test_follow_does_not_go_with_by_delivery(self, tmp_path: Path) -> None:
        result = run("list", "--by", "delivery", "--follow", "--store", str(tmp_path / "x"))
        assert result.exit_code == 2
        assert error_line(result).startswith("whdebug: --follow prints each new capture")

    def test_capture_filters_do_not_go_with_by_delivery(self, tmp_path: Path) -> None:
        result = run("list", "--by", "delivery", "--definition", str(DOCS_GITHUB),
                     "--outcome", "rejected", "--store", str(tmp_path / "x"))
        assert result.exit_code == 2
        assert "filter captures, not --by delivery" in error_line(result)


class TestSamples:
    def test_lists_every_provider(self) -> None:
        result = run("samples", "--json")
        assert result.exit_code == 0
        listing = json.loads(result.stdout)
        assert list(listing) == ["github", "shopify", "salla", "woocommerce", "slack", "stripe",
                                 "standard-webhooks"]
        assert "pull_request.opened" in listing["github"]
        assert {"url_verification", "message"} <= set(listing["slack"])
        assert "orders/create" in listing["shopify"]
        human = run("samples")
        assert human.exit_code == 0 and human.stdout.startswith("github: ")
        one = run("samples", "stripe")
        assert one.exit_code == 0
        assert one.stdout == ("stripe: checkout.session.completed, customer.created, "
                              "invoice.paid, payment_intent.succeeded\n")

    def test_writes_the_payload_bytes_with_the_awkward_parts(self, tmp_path: Path) -> None:
        out = tmp_path / "pr.json"
        result = run("samples", "github", "pull_request.opened", "-o", str(out))
        assert result.exit_code == 0, result.stderr
        data = out.read_bytes()
        packaged = resources.files("whdebug") / "samples" / "github" / "pull_request.opened.json"
        assert data == packaged.read_bytes()
        assert b"9007199254740993" in data and b"https:\\/\\/" in data
        assert "café".encode() in data
        assert json.loads(data)["action"] == "opened"

    @pytest.mark.parametrize(("provider", "event", "header", "expected"), [
        ("github", "pull_request.opened", "X-Hub-Signature-256", "sha256={}"),
        ("shopify", "orders/create", "X-Shopify-Hmac-Sha256", None),
        ("salla", "order.created", "X-Salla-Signature", "{}"),
    ])
    def test_http_carries_the_provider_headers_signed(self, provider: str, event: str,
                                                      header: str, expected: str | None) -> None:
        result = run("samples", provider, event, "--http", "--secret", SECRET,
                     "--now", "2026-11-24T16:00:00Z")
        assert result.exit_code == 0, result.stderr
        request = parse_http(result.stdout_bytes)
        digest = hmac.new(SECRET.encode(), request.body, hashlib.sha256)
        if expected is None:
            import base64

            assert request.header(header) == base64.b64encode(digest.digest()).decode()
            assert request.header("X-Shopify-Topic") == "orders/create"
            assert request.header("X-Shopify-Webhook-Id")
        else:
            assert request.header(header) == expected.format(digest.hexdigest())
        assert SECRET not in result.stdout

    def test_http_without_a_secret_says_it_is_unsigned(self) -> None:
        result = run("samples", "woocommerce", "order.created", "--http")
        assert result.exit_code == 0
        request = parse_http(result.stdout_bytes)
        assert request.header("X-WC-Webhook-Topic") == "order.created"
        assert request.header("X-WC-Webhook-Signature") is None
        assert "unsigned; --secret VALUE signs it as woocommerce does" in result.stderr

    def test_slack_url_verification_is_a_challenge(self, tmp_path: Path) -> None:
        result = run("samples", "slack", "url_verification")
        assert result.exit_code == 0
        body = json.loads(result.stdout)
        assert body["type"] == "url_verification" and body["challenge"]

    @pytest.mark.parametrize(("args", "message"), [
        (["samples", "nope", "x"], "whdebug: no samples for 'nope'"),
        (["samples", "github", "nope"], "whdebug: no github sample for 'nope'"),
        (["samples", "github", "push", "--secret", "x"], "whdebug: --secret signs the --http"),
        (["samples", "--for", str(DOCS_GITHUB)], "whdebug: --for needs -o DIR"),
    ])
    def test_bad_input_is_one_line(self, args: list[str], message: str) -> None:
        result = run(*args)
        assert result.exit_code == 2
        assert error_line(result).startswith(message)

    def test_for_bad_input_is_one_line(self, tmp_path: Path) -> None:
        missing = run("samples", "--for", str(tmp_path / "none.json"), "-o", str(tmp_path / "s"))
        assert missing.exit_code == 2
        assert error_line(missing).startswith("whdebug: ")
        assert not (tmp_path / "s").exists()
        (tmp_path / "file").write_text("x")
        on_file = run("samples", "--for", str(DOCS_GITHUB), "-o", str(tmp_path / "file"))
        assert on_file.exit_code == 2
        assert error_line(on_file).startswith("whdebug: -o must be a folder for --for")
        bad_secret = run("samples", "standard-webhooks", "invoice.paid", "--http", "--secret",
                         "not-a-whsec")
        assert bad_secret.exit_code == 2
        assert "whsec_" in error_line(bad_secret) and "not-a-whsec" not in bad_secret.stderr

    def test_samples_for_a_docs_definition_pass_check(self, tmp_path: Path) -> None:
        definition = private_github(tmp_path)
        folder = tmp_path / "samples"
        written = run("samples", "--for", str(definition), "-o", str(folder), "--json")
        assert written.exit_code == 0, written.stderr
        files = {item["event"]: item["file"] for item in json.loads(written.stdout)}
        assert files == {"push.received": "push.received.json",
                         "pull_request.opened": "pull_request.opened.json",
                         "issue.opened": "issue.opened.json"}
        assert sorted(path.name for path in folder.iterdir()) == sorted(files.values())
        assert json.loads((folder / "push.received.json").read_bytes())["action"] == "received"
        # ...but GitHub's own push has no action, and its issues delivery is named `issues`:
        # the samples fire only because whdebug wrote the events in, and both commands say so.
        warnings = {item["event"]: item.get("warning") for item in json.loads(written.stdout)}
        assert "waits for $.action 'received', which GitHub's push delivery" in (
            warnings["push.received"] or "")
        assert "reads it as 'issues.opened'" in (warnings["issue.opened"] or "")
        assert warnings["pull_request.opened"] is None
        checked = run("check", str(definition), "--samples", str(folder), "--json")
        assert checked.exit_code == 0, checked.stdout[-3000:]
        readiness = json.loads(checked.stdout)
        assert readiness["ready"] is True  # warnings do not block review
        assert sorted(item["pointer"] for item in readiness["lint"]["findings"]
                      if item["code"] == "DEF_TRIGGER_UNREACHABLE") == [
            "/triggers/0/event", "/triggers/2/event"]
        table = run("check", str(definition), "--samples", str(folder)).stdout
        row = next(line for line in table.splitlines() if line.strip().startswith("triggers "))
        assert "warn" in row and "3 of 3 fired by a sample" in row
        assert ("the provider's deliveries, as whdebug samples them, do not fire: "
                "push.received, issue.opened") in row


    def test_samples_for_says_which_sample_a_shared_id_drops(self, tmp_path: Path) -> None:
        # Shopify's $.id is the order's: the orders/updated sample written here is dropped as
        # a duplicate. The warning said "a sample written here fires all the same", and the
        # JSON gave that sample no warning at all.
        folder = tmp_path / "samples"
        text = run("samples", "--for", str(CORPUS / "shopify.js"), "-o", str(folder))
        assert text.exit_code == 0, text.stderr
        (line,) = [item for item in text.stderr.splitlines() if item.startswith("warning:")]
        assert "DEF_TX_NOT_PER_DELIVERY" not in line and "$.id" in line
        assert "fires all the same" not in line
        assert "check --samples shows it: one of the samples written here is dropped" in line
        written = run("samples", "--for", str(CORPUS / "shopify.js"), "-o", str(folder),
                      "--json")
        warnings = {item["event"]: item.get("warning") for item in json.loads(written.stdout)}
        assert warnings["orders/create"] is None
        assert "never fires for an order already created" in (warnings["orders/updated"] or "")

    @pytest.mark.parametrize("name", ["salla", "slack"])
    def test_samples_for_other_docs_definitions_fire_every_trigger(self, name: str,
                                                                   tmp_path: Path) -> None:
        definition = CORPUS / f"{name}.js"
        folder = tmp_path / "samples"
        assert run("samples", "--for", str(definition), "-o", str(folder)).exit_code == 0
        checked = run("check", str(definition), "--samples", str(folder), "--json")
        readiness = json.loads(checked.stdout)
        assert readiness["triggers_not_fired"] == []
        assert readiness["samples_firing_nothing"] == []
        assert not [item for item in readiness["findings"] if item["code"] in (
            "RDY_VERIFICATION_FAILS", "RDY_SAMPLE_UNREADABLE", "RDY_TRIGGER_NO_SAMPLE")]


    def test_shopify_topics_become_file_names_check_reads_back(self, tmp_path: Path) -> None:
        definition = tmp_path / "shopify.json"
        definition.write_text(json.dumps({
            "ns": "shopify", "name": "shopify", "version": "1.0.0", "status": "private",
            "auth": {"type": "apikey", "config": {"webhookSecret": ""},
                     "sensitiveKeys": ["webhookSecret"]},
            "triggers": [{"type": "miniapps:shopify", "event": "orders/create"},
                         {"type": "miniapps:shopify", "event": "customers/create"}],
            "webhook": {
                "eventExtraction": {"source": "header", "path": "X-Shopify-Topic"},
                "transactionId": {"paths": ["$.id"]},
                "verification": {"type": "hmac-sha256", "headerName": "X-Shopify-Hmac-Sha256",
                                 "secretKey": "webhookSecret", "encoding": "base64"}}}))
        folder = tmp_path / "samples"
        written = run("samples", "--for", str(definition), "-o", str(folder))
        assert written.exit_code == 0
        assert sorted(path.name for path in folder.iterdir()) == [
            "customers__create.json", "orders__create.json"]
        packaged = resources.files("whdebug") / "samples" / "shopify" / "orders__create.json"
        assert (folder / "orders__create.json").read_bytes() == packaged.read_bytes()
        checked = run("check", str(definition), "--samples", str(folder), "--json")
        readiness = json.loads(checked.stdout)
        assert readiness["triggers_not_fired"] == []
        assert readiness["samples_firing_nothing"] == []


class TestSignSample:
    def test_signs_and_sends_to_a_verifying_receiver(self, tmp_path: Path) -> None:
        definition = private_github(tmp_path)

        async def scenario() -> tuple[list[int], list[CapturedRequest], str]:
            settings = ReceiverSettings(definition=load_definition(definition), strict=True,
                                        secrets=Secrets({"webhookSecret": SECRET}))
            running = await start_in_loop(tmp_path / "live.db", settings,
                                          ServerSettings(host="127.0.0.1", port=0))
            try:
                codes, outputs = [], []
                for secret in (SECRET, "wrong-secret"):
                    result = await asyncio.to_thread(
                        run, "sign", "--sample", "github:pull_request.opened", "--definition",
                        str(definition), "--credential", f"webhookSecret={secret}",
                        "--send", running.url)
                    codes.append(result.exit_code)
                    outputs.append(result.stdout)
            finally:
                await running.stop()
            with Store.open(tmp_path / "live.db", create=False) as store:
                received = [store.get(number).request for number in store.ids()]
            return codes, received, "\n".join(outputs)

        codes, received, output = asyncio.run(scenario())
        assert codes == [0, 1]
        assert output.startswith("HTTP 200") and "HTTP 401" in output
        packaged = resources.files("whdebug") / "samples" / "github" / "pull_request.opened.json"
        assert received[0].body == packaged.read_bytes()
        assert received[0].header("x-github-event") == "pull_request"
        assert received[0].header("x-github-delivery")
        assert received[0].header("user-agent") == "GitHub-Hookshot/044aadd"

    def test_a_sample_no_trigger_subscribes_is_signed_as_the_provider_sends_it(
            self, tmp_path: Path) -> None:
        # The docs' GitHub example subscribes push.received, which a real push is not read
        # as: `sign --sample github:push` refused ("--event is required"), so the one command
        # that shows what GitHub really sends could not send it.
        output = tmp_path / "push.http"
        result = run("sign", "--sample", "github:push", "--definition", str(DOCS_GITHUB),
                     "--credential", f"webhookSecret={SECRET}", "-o", str(output))
        assert result.exit_code == 0, result.stderr
        assert "sign: event 'push.'" in result.stderr
        assert "note: no trigger takes 'push.', what this github:push delivery is read as" in (
            result.stderr)
        assert "give --event" not in result.stderr
        request = read_request_file(output)[0].request
        assert request.header("X-GitHub-Event") == "push"
        packaged = resources.files("whdebug") / "samples" / "github" / "push.json"
        assert request.body == packaged.read_bytes()
        replayed = run("replay", "--file", str(output), "--definition", str(DOCS_GITHUB),
                       "--credential", f"webhookSecret={SECRET}", "--json")
        report = json.loads(replayed.stdout.splitlines()[0])
        assert (report["signature"]["verdict"], report["event"]["value"]) == ("pass", "push.")

    def test_payload_and_sample_are_exclusive(self) -> None:
        result = run("sign", "p.json", "--sample", "github:push", "--definition",
                     str(DOCS_GITHUB))
        assert result.exit_code == 2
        assert error_line(result).startswith("whdebug: give PAYLOAD or --sample")
        bad = run("sign", "--sample", "github", "--definition", str(DOCS_GITHUB))
        assert bad.exit_code == 2
        assert error_line(bad).startswith("whdebug: expected PROVIDER:EVENT")


def test_samples_for_one_trigger_says_one_sample(tmp_path: Path) -> None:
    woocommerce = json.loads((FIXTURES / "definitions" / "woocommerce.json").read_text())
    woocommerce["triggers"] = woocommerce["triggers"][:1]
    definition = tmp_path / "one.json"
    definition.write_text(json.dumps(woocommerce))
    result = run("samples", "--for", str(definition), "-o", str(tmp_path / "s"))
    assert result.exit_code == 0, result.output
    assert "wrote 1 sample to" in result.stderr, result.stderr
