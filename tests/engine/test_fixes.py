"""Fixes never make things worse: checked on definitions written the way Karzoun's docs write
them (tests/docs_corpus), each fix applied as its JSON Patch."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from factories import NOW, make_request, sign
from paths import REPO

from whdebug.engine import analyze
from whdebug.engine.lint.definition import check_definition
from whdebug.engine.patches import apply_patch
from whdebug.engine.report import Finding
from whdebug.model.definition import Definition, load_definition
from whdebug.model.request import Secrets

CORPUS = REPO / "tests" / "docs_corpus"


def docs(name: str) -> dict[str, Any]:
    return copy.deepcopy(load_definition(CORPUS / name).data)


def only(findings: list[Finding], code: str) -> Finding:
    found = [f for f in findings if f.code == code]
    assert len(found) == 1, [(f.code, f.message) for f in findings]
    return found[0]


def errors(findings: list[Finding]) -> set[tuple[str, str | None]]:
    return {(f.code, f.pointer) for f in findings if f.severity == "error"}


# --- DEF_HANDLER_WITHOUT_TRIGGER ----------------------------------------------------------


def test_docs_salla_extra_handler_is_not_renamed_onto_an_existing_handler() -> None:
    """The docs' Salla example has a "customer.created" handler and no such trigger; renaming
    it to "order.created" would overwrite the order handler."""
    data = docs("salla.js")
    found = only(check_definition(Definition(data)), "DEF_HANDLER_WITHOUT_TRIGGER")
    assert "order.created" not in (found.fix or "")
    assert 'add a trigger with event "customer.created"' in (found.fix or "")
    assert found.patch is not None
    fixed = apply_patch(data, found.patch)
    assert fixed["sync"]["webhooks"]["handlers"] == data["sync"]["webhooks"]["handlers"]
    assert [t["event"] for t in fixed["triggers"]][-1] == "customer.created"
    after = check_definition(Definition(fixed))
    assert not [f for f in after if f.code == "DEF_HANDLER_WITHOUT_TRIGGER"]
    assert errors(after) <= errors(check_definition(Definition(data)))


def test_handler_near_miss_is_renamed_when_the_name_is_free() -> None:
    data = docs("salla.js")
    handlers = data["sync"]["webhooks"]["handlers"]
    handlers["order.status.update"] = handlers.pop("order.status.updated")
    del handlers["customer.created"]
    found = only(check_definition(Definition(data)), "DEF_HANDLER_WITHOUT_TRIGGER")
    assert 'to "order.status.updated"' in (found.fix or "")
    assert found.patch is not None
    fixed = apply_patch(data, found.patch)
    assert "order.status.updated" in fixed["sync"]["webhooks"]["handlers"]
    assert not [f for f in check_definition(Definition(fixed))
                if f.code == "DEF_HANDLER_WITHOUT_TRIGGER"]


def test_sync_command_and_check_agree_on_the_docs_salla_handler() -> None:
    from whdebug.tools.syncpreview import preview_sync

    preview = preview_sync(Definition(docs("salla.js")), [])
    found = only(list(preview.findings), "DEF_HANDLER_WITHOUT_TRIGGER")
    assert "order.created" not in (found.fix or "")
    assert "customer.created" in (found.fix or "")


# --- EVT_NO_TRIGGER -----------------------------------------------------------------------


def _shopify_request(topic: str, order_id: int = 820982911946154508) -> Any:
    body = json.dumps({"id": order_id, "admin_graphql_api_id":
                       f"gid://shopify/Order/{order_id}", "email": "jon@example.com"}).encode()
    return make_request(body, signature=None, path="/miniapps/shopify/webhooks", headers=[
        ("X-Shopify-Topic", topic), ("X-Shopify-Hmac-Sha256", sign(body, "shpss", "base64"))])


def _shopify_report(topic: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    definition = Definition(data or docs("shopify.js"))
    return analyze(_shopify_request(topic, **kwargs), definition,
                   Secrets({}, {"webhookSecret": "shpss"}), now=NOW)


def test_no_trigger_fix_adds_a_trigger_instead_of_renaming_one() -> None:
    report = _shopify_report("orders/paid")
    found = only(list(report.findings), "EVT_NO_TRIGGER")
    assert found.fix is not None and "add a trigger" in found.fix and "rename" not in found.fix
    assert "'orders/paid'" in found.fix
    assert found.patch is not None
    data = docs("shopify.js")
    fixed = apply_patch(data, found.patch)
    assert [t["event"] for t in fixed["triggers"]] == ["orders/create", "orders/updated",
                                                      "orders/paid"]
    assert fixed["triggers"][-1]["type"] == "miniapps:shopify"
    assert _shopify_report("orders/paid", fixed).outcome.status == "fires"
    assert _shopify_report("orders/create", fixed).outcome.status == "fires"
    assert errors(check_definition(Definition(fixed))) <= errors(check_definition(
        Definition(data)))


def test_no_trigger_names_the_trigger_only_for_a_near_miss() -> None:
    report = _shopify_report("orders/updatd")
    found = only(list(report.findings), "EVT_NO_TRIGGER")
    assert "'orders/updated'" in (found.fix or "")
    near = only(list(report.findings), "EVT_NEAR_MISS")
    assert near.patch is not None
    fixed = apply_patch(docs("shopify.js"), near.patch)
    assert _shopify_report("orders/updatd", fixed).outcome.status == "fires"


# --- DEF_NS_FORMAT and the values derived from ns -----------------------------------------


def test_trigger_type_fix_uses_the_fixed_ns() -> None:
    data = docs("crm-pro.js")
    data["triggers"][1]["type"] = "miniapps:crm-pro"
    findings = check_definition(Definition(data))
    ns = only(findings, "DEF_NS_FORMAT")
    assert '"crm-pro"' in (ns.fix or "")
    for found in findings:
        assert "crm_Pro" not in (found.fix or ""), found
    assert ns.patch is not None
    fixed = apply_patch(data, ns.patch)
    assert fixed["ns"] == "crm-pro"
    assert {t["type"] for t in fixed["triggers"]} == {"miniapps:crm-pro"}
    after = check_definition(Definition(fixed))
    assert not [f for f in after if f.code in ("DEF_NS_FORMAT", "DEF_TRIGGER_TYPE")], after


@pytest.mark.parametrize("other_type", ["miniapps:crm-pro", "miniapps:crm"])
def test_each_trigger_type_fix_on_a_bad_ns_leaves_no_type_error(other_type: str) -> None:
    data = docs("crm-pro.js")
    data["triggers"][1]["type"] = other_type
    findings = check_definition(Definition(data))
    found = only(findings, "DEF_TRIGGER_TYPE")
    assert "crm_Pro" not in (found.fix or "")
    assert found.patch is not None
    after = check_definition(Definition(apply_patch(data, found.patch)))
    assert not [f for f in after if f.code in ("DEF_NS_FORMAT", "DEF_TRIGGER_TYPE")], after


# --- TX_UNSAFE_INTEGER (issue 11 section 4) -----------------------------------------------

BIG_A, BIG_B = 9007199254740993, 9007199254740992
"""Two different Shopify order ids that JSON.parse reads as the same double."""


def _replay_orders(*ids: int) -> list[Any]:
    from whdebug.engine.session import ReplaySession

    session = ReplaySession(Definition(docs("shopify.js")), Secrets({}, {"webhookSecret":
                                                                         "shpss"}), now=NOW)
    return [session.replay(_shopify_request("orders/create", order_id)) for order_id in ids]


def test_two_orders_javascript_cannot_tell_apart_are_not_called_a_retry() -> None:
    first, second = _replay_orders(BIG_A, BIG_B)
    assert first.outcome.status == "fires"
    assert second.outcome.status == "duplicate"  # the runtime really drops it
    assert "TX_DUPLICATE" not in second.codes()
    found = only(list(second.findings), "TX_UNSAFE_INTEGER")
    assert found.severity == "error"
    assert str(BIG_A) in found.message and str(BIG_B) in found.message
    assert "admin_graphql_api_id" in (found.fix or "")
    assert "retry" not in (found.fix or "")


def test_a_real_retry_of_a_big_id_is_still_a_duplicate() -> None:
    _, second = _replay_orders(BIG_A, BIG_A)
    assert second.outcome.status == "duplicate"
    assert "TX_DUPLICATE" in second.codes()
    assert not [f for f in second.findings if f.code == "TX_UNSAFE_INTEGER"
                and f.severity == "error"]


def test_a_big_id_alone_is_a_warning_that_names_the_risk() -> None:
    (report,) = _replay_orders(BIG_A)
    found = only(list(report.findings), "TX_UNSAFE_INTEGER")
    assert found.severity == "warning" and report.outcome.status == "fires"


def test_a_big_id_fix_shows_the_string_it_points_at_and_removes_the_finding() -> None:
    """Salla's order carries its id in a URL: the fix names that path and shows the value,
    so the reader can judge it as an id; applied, it removes the warning."""
    data = docs("salla.js")
    body = json.dumps({"event": "order.created", "data": {
        "id": BIG_A, "urls": {"customer": f"https://store.salla.sa/order/{BIG_A}"}}}).encode()
    request = make_request(body, signature=None, path="/miniapps/salla/webhooks",
                           headers=[("X-Salla-Signature", sign(body, "salla-secret"))])
    secrets = Secrets({"webhookSecret": "salla-secret"})
    report = analyze(request, Definition(data), secrets, now=NOW)
    found = only(list(report.findings), "TX_UNSAFE_INTEGER")
    assert "$.data.urls.customer" in (found.fix or "")
    assert f'"https://store.salla.sa/order/{BIG_A}"' in (found.fix or "")
    assert found.patch is not None
    fixed = analyze(request, Definition(apply_patch(data, found.patch)), secrets, now=NOW)
    assert "TX_UNSAFE_INTEGER" not in fixed.codes() and fixed.outcome.status == "fires"
    assert fixed.transaction.id == f"https://store.salla.sa/order/{BIG_A}"


def _shopify_samples(tmp_path: Any) -> Any:
    folder = tmp_path / "samples"
    folder.mkdir()
    for name, order_id in (("01-orders-create.http", BIG_A), ("02-orders-create.http", BIG_B)):
        request = _shopify_request("orders/create", order_id)
        (folder / name).write_bytes(b"POST /miniapps/shopify/webhooks HTTP/1.1\r\n" + b"".join(
            f"{k}: {v}\r\n".encode() for k, v in request.headers) + b"\r\n" + request.body)
    return folder


def test_check_samples_and_sync_agree_with_replay_on_unsafe_ids(tmp_path: Any) -> None:
    from cli_support import run as cli

    folder = _shopify_samples(tmp_path)
    definition = str(CORPUS / "shopify.js")
    checked = cli("check", definition, "--samples", str(folder), "--config",
                  "webhookSecret=shpss", "--json")
    assert checked.exit_code == 1, checked.output
    assert "TX_UNSAFE_INTEGER" in checked.output and "provider retry" not in checked.output
    synced = cli("sync", definition, "--samples", str(folder), "--json")
    assert synced.exit_code == 1, synced.output
    document = json.loads(synced.output)
    codes = {f["code"]: f for f in document["findings"]}
    assert "TX_UNSAFE_INTEGER" in codes, codes
    assert str(BIG_A) in codes["TX_UNSAFE_INTEGER"]["message"]


# --- TX_PATH_IS_HEADER matches what the docs promise --------------------------------------


def test_docs_github_delivery_path_is_worded_as_the_docs_promise() -> None:
    """The webhooks guide lists '$.delivery' as the "GitHub delivery header" and the GitHub
    example uses it: the finding must not say the header cannot be used."""
    body = b'{"ref":"refs/heads/main","after":"59b20b8d"}'
    request = make_request(body, signature=None, path="/miniapps/github/webhooks", headers=[
        ("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab"),
        ("X-Hub-Signature-256", sign(body, "gh-secret", "github"))])
    report = analyze(request, Definition(docs("github.js")),
                     Secrets({"webhookSecret": "gh-secret"}, {}), now=NOW)
    found = only(list(report.findings), "TX_PATH_IS_HEADER")
    assert "cannot be used" not in (found.fix or "") + found.message
    assert "GitHub delivery header" in found.message
    assert "X-GitHub-Delivery" in found.message
    # both possibilities are stated: the runtime reads the header, or it finds nothing
    assert "if the runtime" in found.message.lower() and "generate" in found.message


# --- --nullish: the text agrees with the verdict ------------------------------------------


def test_nullish_text_agrees_with_its_verdict() -> None:
    from factories import SECRET, make_request, run

    report = run(make_request(), credentials={"webhookSecret": ""},
                 config={"webhookSecret": SECRET}, nullish=True)
    assert report.signature.verdict == "fail"
    secret = report.signature.secret
    assert secret is not None and secret.resolved_from == "credentials"
    assert secret.hint == "empty"
    assert secret.nullish_outcome is not None and "||" in secret.nullish_outcome
    assert "auth.config.webhookSecret" in secret.nullish_outcome
    found = only(list(report.findings), "SIG_EMPTY_CREDENTIAL")
    assert found.severity == "error"
    assert "whdebug assumes the runtime treats it as missing" not in found.message
    assert "--nullish" in found.message
    assert "after correction" not in report.signature.reason
    assert "empty" in report.signature.reason
    default = run(make_request(), credentials={"webhookSecret": ""},
                  config={"webhookSecret": SECRET})
    assert default.signature.verdict == "pass"
    assert default.signature.secret is not None
    assert default.signature.secret.resolved_from == "auth.config"
    assert "??" in (default.signature.secret.nullish_outcome or "")


# --- EVT_PATH_SUGGESTION keeps every delivery seen so far working --------------------------


def _helpdesk(extraction: dict[str, Any], events: list[str]) -> dict[str, Any]:
    data = docs("crm-pro.js")
    data["ns"] = data["name"] = data["type"] = "helpdesk"
    template = data["triggers"][0]
    data["triggers"] = [dict(template, type="miniapps:helpdesk", event=event, label=event)
                        for event in events]
    data["webhook"]["eventExtraction"] = extraction
    data["webhook"]["verification"] = {"type": "none"}
    return data


def _delivery(body: dict[str, Any], headers: list[tuple[str, str]] | None = None) -> Any:
    return make_request(json.dumps(body).encode(), signature=None,
                        path="/miniapps/helpdesk/webhooks", headers=headers or [])


def _fires(data: dict[str, Any], request: Any) -> str | None:
    report = analyze(request, Definition(data), Secrets({}, {}), now=NOW)
    return report.outcome.triggers[0] if report.outcome.triggers else None


def test_a_status_field_is_not_suggested_as_the_action_part() -> None:
    data = _helpdesk({"source": "body", "path": "$.event"}, ["ticket.created", "ticket.solved"])
    request = _delivery({"event": "ticket.updated", "object": "ticket",
                         "ticket": {"id": 5, "status": "solved"}})
    report = analyze(request, Definition(data), Secrets({}, {}), now=NOW)
    assert report.outcome.status == "no-trigger"
    for suggestion in report.triggers.suggested_paths:
        assert "status" not in suggestion.path, suggestion


def test_a_suggestion_keeps_the_header_deliveries_of_a_header_plus_fallback_extraction() -> None:
    extraction = {"source": "header", "path": "X-Shop-Topic",
                  "fallback": {"source": "body", "path": "$.topic"}}
    data = _helpdesk(extraction, ["orders/create", "orders/paid"])
    by_header = _delivery({"id": 1}, [("X-Shop-Topic", "orders/create")])
    by_body = _delivery({"id": 2, "event": "orders/paid"})
    assert _fires(data, by_header) == "orders/create"
    report = analyze(by_body, Definition(data), Secrets({}, {}), now=NOW)
    suggestions = [f for f in report.findings if f.code == "EVT_PATH_SUGGESTION"]
    assert suggestions, report.findings
    for found in suggestions:
        assert found.patch is not None
        fixed = apply_patch(data, found.patch)
        assert _fires(fixed, by_header) == "orders/create", found
        assert _fires(fixed, by_body) == "orders/paid", found


def test_a_suggestion_that_breaks_an_earlier_delivery_is_not_made_in_a_replay() -> None:
    from whdebug.engine.session import ReplaySession

    data = _helpdesk({"source": "body", "path": "$.type"}, ["order.created", "order.paid"])
    earlier = _delivery({"id": 1, "type": "order.created", "event": "created"})
    later = _delivery({"id": 2, "type": "order", "event": "order.paid"})
    alone = analyze(later, Definition(data), Secrets({}, {}), now=NOW)
    assert [f for f in alone.findings if f.code == "EVT_PATH_SUGGESTION"]  # alone: plausible
    session = ReplaySession(Definition(data), Secrets({}, {}), now=NOW)
    assert session.replay(earlier).outcome.status == "fires"
    report = session.replay(later)
    for found in report.findings:
        if found.code == "EVT_PATH_SUGGESTION" and found.patch is not None:
            assert _fires(apply_patch(data, found.patch), earlier) == "order.created", found
    assert not [s for s in report.triggers.suggested_paths if s.path == "$.event"]


# --- SYNC_NO_HANDLER ----------------------------------------------------------------------


def _salla_order(event: str) -> Any:
    body = json.dumps({"event": event, "merchant": 1, "data": {"id": 7, "status": {}}}).encode()
    return make_request(body, signature=None, path="/miniapps/salla/webhooks",
                        headers=[("X-Salla-Signature", sign(body, "salla-secret"))])


def _salla_report(data: dict[str, Any], event: str) -> Any:
    return analyze(_salla_order(event), Definition(data),
                   Secrets({}, {"webhookSecret": "salla-secret"}), now=NOW)


def test_sync_handler_near_miss_is_renamed_only_when_no_trigger_uses_it() -> None:
    data = docs("salla.js")
    handlers = data["sync"]["webhooks"]["handlers"]
    handlers["order.status.update"] = handlers.pop("order.status.updated")
    found = only(list(_salla_report(data, "order.status.updated").findings), "SYNC_NO_HANDLER")
    assert found.patch is not None and "rename handler 'order.status.update'" in (found.fix or "")
    fixed = apply_patch(data, found.patch)
    assert "SYNC_NO_HANDLER" not in _salla_report(fixed, "order.status.updated").codes()

    # "order.created" is close to "order.creatd" but its own trigger still needs it
    data = docs("salla.js")
    data["triggers"].append(dict(data["triggers"][0], event="order.creatd"))
    found = only(list(_salla_report(data, "order.creatd").findings), "SYNC_NO_HANDLER")
    assert "rename" not in (found.fix or "") and found.patch is None
    assert "a copy of 'order.created'" in (found.fix or "")


def test_oauth_redirect_fix_uses_the_fixed_ns() -> None:
    data = docs("crm-pro.js")
    data["auth"] = {
        "type": "oauth2",
        "sensitiveKeys": ["accessToken", "refreshToken", "webhookSecret", "clientSecret"],
        "config": {"accessToken": "", "refreshToken": "", "webhookSecret": "",
                   "clientId": "", "clientSecret": ""},
        "auth_url": "https://crm.example.com/oauth/authorize?client_id=[[clientId]]",
    }
    findings = check_definition(Definition(data))
    redirect = [f for f in findings if f.code == "DEF_REDIRECT_URI"]
    assert redirect, [(f.code, f.message) for f in findings]
    for found in redirect:
        assert "crm_Pro" not in (found.fix or ""), found
        assert "/miniapps/crm-pro/oauth2" in (found.fix or "")


def test_a_near_miss_rename_is_not_proposed_when_the_trigger_fires_for_other_deliveries() -> None:
    """orders/updated fired a moment ago: renaming it to the near miss orders/updatd would
    break it, so the replay proposes adding a trigger instead."""
    from whdebug.engine.session import ReplaySession

    data = docs("shopify.js")
    session = ReplaySession(Definition(data), Secrets({}, {"webhookSecret": "shpss"}), now=NOW)
    working = _shopify_request("orders/updated", 1)
    assert session.replay(working).outcome.status == "fires"
    report = session.replay(_shopify_request("orders/updatd", 2))
    for code in ("EVT_NO_TRIGGER", "EVT_NEAR_MISS"):
        found = only(list(report.findings), code)
        assert found.patch is not None and "add a trigger" in (found.fix or ""), found
        fixed = apply_patch(data, found.patch)
        assert _shopify_report("orders/updated", fixed).outcome.status == "fires"
        assert _shopify_report("orders/updatd", fixed).outcome.status == "fires"


def test_unsafe_integer_fix_puts_the_string_id_first() -> None:
    _, second = _replay_orders(BIG_A, BIG_B)
    found = only(list(second.findings), "TX_UNSAFE_INTEGER")
    assert "$.admin_graphql_api_id" in (found.fix or "") and found.patch is not None
    fixed = apply_patch(docs("shopify.js"), found.patch)
    assert fixed["webhook"]["transactionId"]["paths"] == ["$.admin_graphql_api_id", "$.id"]
    from whdebug.engine.session import ReplaySession

    session = ReplaySession(Definition(fixed), Secrets({}, {"webhookSecret": "shpss"}), now=NOW)
    reports = [session.replay(_shopify_request("orders/create", i)) for i in (BIG_A, BIG_B)]
    assert [r.outcome.status for r in reports] == ["fires", "fires"]
    assert not [f for r in reports for f in r.findings if f.code.startswith("TX_")]
