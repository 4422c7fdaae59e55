"""tools/reachability.py: triggers the provider's own deliveries never reach, found by reading
whdebug's provider samples (with the headers the provider sends) through the definition.

Karzoun's GitHub and Slack examples, as the docs write them, subscribe events that GitHub and
Slack never produce under their own eventExtraction; `check` passed them (and `samples --for`
wrote the missing values into the payloads, so `check --samples` passed too)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from cli_support import run
from paths import FIXTURES, REPO

from whdebug.engine.patches import apply_patch
from whdebug.engine.report import Finding
from whdebug.model.definition import Definition, load_definition, parse_definition
from whdebug.tools.reachability import trigger_findings

CORPUS = REPO / "tests" / "docs_corpus"


def findings_of(definition: Definition) -> dict[str, Finding]:
    return {found.pointer or "": found for found in trigger_findings(definition)}


def edited(definition: Definition, change: Any) -> Definition:
    data = copy.deepcopy(definition.data)
    change(data)
    return parse_definition(json.dumps(data), definition.path or "app.json")


def test_the_docs_github_example() -> None:
    definition = load_definition(CORPUS / "github.js")
    found = findings_of(definition)
    assert sorted(found) == ["/triggers/0/event", "/triggers/2/event"]
    push, issues = found["/triggers/0/event"], found["/triggers/2/event"]
    assert {push.severity, issues.severity} == {"warning"}
    # A push delivery has no action: the three readings of the missing part are named.
    assert ("waits for $.action 'received', which GitHub's push delivery (whdebug's sample "
            "of it) does not carry") in push.message
    assert "unless some push deliveries carry it, this trigger never fires" in push.message
    assert "reads it as 'push.'" in push.message
    assert '"push" if the runtime skips it' in push.message
    assert push.patch is None  # which reading the runtime uses is not documented
    # GitHub names the delivery `issues` (X-GitHub-Event).
    assert "reads it as 'issues.opened' ('issue' where the delivery has 'issues')" in (
        issues.message)
    assert issues.fix == 'set triggers[2].event to "issues.opened"'
    assert issues.patch is not None


def test_each_fix_applied_removes_its_finding() -> None:
    definition = load_definition(CORPUS / "github.js")
    issues = findings_of(definition)["/triggers/2/event"]
    assert issues.patch is not None
    patched = parse_definition(json.dumps(apply_patch(definition.data, issues.patch)), "a.json")
    assert sorted(findings_of(patched)) == ["/triggers/0/event"]

    def every_push(data: dict[str, Any]) -> None:
        data["triggers"][0]["event"] = "push."  # the fix's first reading

    assert sorted(findings_of(edited(patched, every_push))) == []


@pytest.mark.parametrize("reading", ["push", "push.undefined"])
def test_a_trigger_one_reading_reaches_is_not_reported(reading: str) -> None:
    def rename(data: dict[str, Any]) -> None:
        data["triggers"][0]["event"] = reading

    definition = edited(load_definition(CORPUS / "github.js"), rename)
    assert "/triggers/0/event" not in findings_of(definition)


def test_the_docs_slack_example() -> None:
    found = findings_of(load_definition(CORPUS / "slack.js"))
    assert sorted(found) == ["/triggers/0/event", "/triggers/1/event"]
    assert "waits for $.event.subtype 'posted', which Slack's message delivery" in (
        found["/triggers/0/event"].message)
    assert "Slack's reaction_added delivery: the runtime reads it as 'reaction_added.'" in (
        found["/triggers/1/event"].message)


@pytest.mark.parametrize("name", ["salla.js", "woocommerce.js", "dropbox.js"])
def test_docs_examples_whose_triggers_their_provider_sends(name: str) -> None:
    assert trigger_findings(load_definition(CORPUS / name)) == []


def test_an_event_whdebug_has_no_sample_of_is_not_judged() -> None:
    def release(data: dict[str, Any]) -> None:
        data["triggers"][1]["event"] = "release.published"

    definition = edited(load_definition(CORPUS / "github.js"), release)
    assert "/triggers/1/event" not in findings_of(definition)


@pytest.mark.parametrize("real", ["pull_request.reopened", "pull_request.edited",
                                  "pull_request.synchronize"])
def test_another_event_the_provider_sends_is_not_a_near_miss(real: str) -> None:
    # 'pull_request.reopened' is two characters from 'pull_request.opened', which GitHub
    # also sends: renaming it, as a spelling fix would, breaks a working trigger.
    def subscribe(data: dict[str, Any]) -> None:
        data["triggers"][1]["event"] = real

    assert "/triggers/1/event" not in findings_of(
        edited(load_definition(CORPUS / "github.js"), subscribe))


@pytest.mark.parametrize(("written", "why"), [
    ("Pull_Request.Opened", "letter case"), ("pull-request.opened", "separators"),
    ("pull_requests.opened", "'requests' where the delivery has 'request'")])
def test_case_separators_and_plurals_are_near_misses(written: str, why: str) -> None:
    def subscribe(data: dict[str, Any]) -> None:
        data["triggers"][1]["event"] = written

    found = findings_of(edited(load_definition(CORPUS / "github.js"), subscribe))
    assert why in found["/triggers/1/event"].message


def test_a_missing_separator_is_one_finding_whose_patch_removes_it() -> None:
    definition = load_definition(FIXTURES / "definitions" / "github-no-separator.json")
    (found,) = trigger_findings(definition)
    assert found.pointer == "/webhook/eventExtraction/compositeStrategy/separator"
    assert "JavaScript's join() puts a comma" in found.message
    assert found.patch is not None
    patched = parse_definition(json.dumps(apply_patch(definition.data, found.patch)), "a.json")
    assert trigger_findings(patched) == []


def test_no_separator_patch_when_a_trigger_relies_on_the_comma() -> None:
    definition = load_definition(FIXTURES / "definitions" / "github-no-separator.json")

    def comma_trigger(data: dict[str, Any]) -> None:
        data["triggers"].append({**data["triggers"][0], "event": "issues,opened"})

    (found,) = trigger_findings(edited(definition, comma_trigger))
    assert found.patch is None
    assert "written with a comma then need renaming" in (found.fix or "")


def test_check_prints_it_and_still_exits_0(tmp_path: Any) -> None:
    result = run("check", str(CORPUS / "github.js"), "--json")
    assert result.exit_code == 0, result.output
    codes = [(f["code"], f["pointer"]) for f in json.loads(result.stdout)["findings"]]
    assert ("DEF_TRIGGER_UNREACHABLE", "/triggers/2/event") in codes


def shopify_as_the_ecommerce_guide_names_it() -> Definition:
    """The Shopify corpus file with the names the e-commerce guide gives Shopify's topics
    ("Topics normalized from orders/create -> order.created"), triggers and handlers alike."""
    def normalised(data: dict[str, Any]) -> None:
        names = {"orders/create": "order.created", "orders/updated": "order.updated"}
        for trigger in data["triggers"]:
            trigger["event"] = names[trigger["event"]]
        handlers = data["sync"]["webhooks"]["handlers"]
        data["sync"]["webhooks"]["handlers"] = {names[key]: value
                                                for key, value in handlers.items()}

    return edited(load_definition(CORPUS / "shopify.js"), normalised)


def test_a_verb_tense_is_a_near_miss_beside_a_plural() -> None:
    # Shopify sends X-Shopify-Topic: orders/create; the guide's order.created never fires.
    found = findings_of(shopify_as_the_ecommerce_guide_names_it())
    assert sorted(found) == ["/triggers/0/event", "/triggers/1/event"]
    created = found["/triggers/0/event"]
    assert ("reads it as 'orders/create' ('order' where the delivery has 'orders'; 'created' "
            "where the delivery has 'create')") in created.message
    assert "a MiniApp gets no such mapping" in created.message  # the guide's "normalized"
    assert created.fix is not None and created.fix.startswith(
        'set triggers[0].event to "orders/create"')


def test_the_rename_takes_the_sync_handler_of_that_event_along() -> None:
    from whdebug.engine.lint.definition import check_definition

    definition = shopify_as_the_ecommerce_guide_names_it()
    before = {(f.code, f.pointer) for f in check_definition(definition)}
    created = findings_of(definition)["/triggers/0/event"]
    assert "sync.webhooks.handlers" in (created.fix or "")
    patched = definition.data
    for found in findings_of(definition).values():
        assert found.patch is not None
        patched = apply_patch(patched, found.patch)
    after = parse_definition(json.dumps(patched), "a.json")
    assert [f.code for f in trigger_findings(after)] == [
        "DEF_TX_NOT_PER_DELIVERY"]  # the corpus file's own: its test is below
    assert sorted(after.sync_handlers) == ["orders/create", "orders/updated"]
    # nothing new: the handlers still match a trigger each
    assert {(f.code, f.pointer) for f in check_definition(after)} <= before


def test_other_words_are_still_not_near_misses() -> None:
    # 'paid' is not a tense of 'updated', nor 'reopened' of 'opened'
    from whdebug.tools.reachability import _near_words

    assert _near_words("orders/updated", "order.paid") is None
    assert _near_words("pull_request.opened", "pull_request.reopened") is None


def test_an_id_two_deliveries_about_one_order_share_drops_the_second() -> None:
    # transactionId $.id is the order's id: Shopify's orders/create and orders/updated about
    # one order carry the same one, and the runtime drops the second as a duplicate.
    from whdebug.engine.lint.definition import check_definition

    definition = load_definition(CORPUS / "shopify.js")
    (found,) = trigger_findings(definition)
    assert (found.code, found.severity) == ("DEF_TX_NOT_PER_DELIVERY", "warning")
    assert found.pointer == "/webhook/transactionId/paths"
    assert ("Shopify's orders/create and orders/updated deliveries about one order carry the "
            "same transaction id ($.id: 820982911946154508") in found.message
    assert "trigger 'orders/updated' never fires for an order already created" in found.message
    assert found.fix is not None and '"orders/updated": {"paths": ["$.id", "$.updated_at"]}' in (
        found.fix)
    assert found.patch is not None
    patched = parse_definition(json.dumps(apply_patch(definition.data, found.patch)), "a.json")
    assert trigger_findings(patched) == []
    before = {(f.code, f.pointer) for f in check_definition(definition)}
    assert {(f.code, f.pointer) for f in check_definition(patched)} <= before
    # the override joins the two: a retry (the same body) is still one id, the update another
    tx = patched.data["webhook"]["transactionId"]
    assert tx["separator"] == "_" and tx["paths"] == ["$.id"]


def test_no_patch_when_a_separator_would_join_the_fallback_paths() -> None:
    def fallbacks(data: dict[str, Any]) -> None:
        data["webhook"]["transactionId"]["paths"] = ["$.id", "$.admin_graphql_api_id"]

    (found,) = trigger_findings(edited(load_definition(CORPUS / "shopify.js"), fallbacks))
    assert found.code == "DEF_TX_NOT_PER_DELIVERY"
    assert found.patch is None
    assert "first non-empty" in (found.fix or "")


def test_one_subscribed_event_of_the_pair_is_enough_and_none_is_not() -> None:
    def only(events: list[str]) -> Any:
        def keep(data: dict[str, Any]) -> None:
            data["triggers"] = [t for t in data["triggers"] if t["event"] in events]
            data["sync"]["webhooks"]["handlers"] = {
                key: value for key, value in data["sync"]["webhooks"]["handlers"].items()
                if key in events}
        return keep

    corpus = load_definition(CORPUS / "shopify.js")
    assert [f.code for f in trigger_findings(edited(corpus, only(["orders/updated"])))] == [
        "DEF_TX_NOT_PER_DELIVERY"]  # every later update of one order is dropped too

    def customers(data: dict[str, Any]) -> None:
        data["triggers"] = [{**data["triggers"][0], "event": "customers/create"}]
        data["sync"]["webhooks"]["handlers"] = {}

    assert trigger_findings(edited(corpus, customers)) == []


def test_an_id_with_a_part_the_samples_lack_is_not_judged() -> None:
    # Both samples would read "<id>_" (a part missing from whdebug's small sample, not
    # necessarily from real deliveries): not a finding.
    def absent_part(data: dict[str, Any]) -> None:
        data["webhook"]["transactionId"] = {"paths": ["$.id", "$.not_in_the_sample"],
                                            "separator": "_"}

    definition = edited(load_definition(CORPUS / "shopify.js"), absent_part)
    assert [f for f in trigger_findings(definition) if f.code == "DEF_TX_NOT_PER_DELIVERY"] == []
