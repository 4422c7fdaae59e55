"""`whdebug sync`: the record each sync handler writes for Salla-like order and cart samples."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from paths import REPO

from whdebug.cli import main
from whdebug.formats.capture_json import capture_to_json
from whdebug.formats.har import format_har
from whdebug.formats.read import read_request_file
from whdebug.model.definition import Definition, load_definition, parse_definition
from whdebug.model.request import Capture, CapturedRequest, Source
from whdebug.tools.syncpreview import (
    SamplePreview,
    SyncPreview,
    js_large_integer,
    parse_sample,
    preview_sync,
    to_number_or_null,
)

ROOT = REPO / "fixtures"
SAMPLES = ROOT / "samples" / "sync"
SYNC = ROOT / "definitions" / "sync"


def samples(definition: Definition, *names: str) -> list[CapturedRequest]:
    found: list[CapturedRequest] = []
    for path in sorted(SAMPLES.iterdir()):
        if not names or path.name in names:
            found += parse_sample(path.read_bytes(), path.name, definition)
    return found


def preview(definition: str | Definition, *names: str) -> SyncPreview:
    loaded = load_definition(SYNC / definition) if isinstance(definition, str) else definition
    return preview_sync(loaded, samples(loaded, *names))


def sample(result: SyncPreview, name: str) -> SamplePreview:
    (found,) = [s for s in result.samples if s.sample == name]
    return found


def fields(found: SamplePreview) -> dict[str, Any]:
    return {f.name: f.value for f in found.fields}


def payload(event: str, **data: Any) -> Capture:
    body = json.dumps({"event": event, "merchant": 1305146709, "data": data}).encode()
    request = CapturedRequest("POST", "/miniapps/salla/webhooks", body=body,
                              headers=(("Content-Type", "application/json"),))
    return Capture(request, Source(file=f"{event}.json"))


class TestCleanDefinition:
    def test_order_record_field_by_field(self) -> None:
        order = sample(preview("salla-sync.json"), "salla-order-created.json")
        assert (order.event, order.handler, order.shape, order.kind, order.operation,
                order.code) == ("order.created", "order.created", "record", "order", "create",
                                "251832401")
        values = fields(order)
        assert values["code"] == "251832401"  # toString
        assert values["total"] == 230  # coalesce, first path
        assert values["shippingCost"] == 15  # toNumberOrNull of "15"
        assert values["discountCodes"] == "WELCOME10,FREESHIP"  # joinCodes
        assert values["items"] == [
            {"code": "1935454710", "name": "Oud perfume", "quantity": 1, "unitPrice": 200},
            {"code": "1935454799", "name": "Gift wrap", "quantity": 2, "unitPrice": 15}]
        by_name = {f.name: f for f in order.fields}
        assert by_name["total"].note == "path 1 of 2 gave the value"
        assert by_name["segment"].found is False
        assert by_name["segment"].spec == "compute customerSegment"
        (note,) = order.findings
        assert note.code == "SYNC_COMPUTE_NOT_EVALUATED"
        assert '"customerSegment"' in note.message and note.severity == "info"

    def test_coalesce_falls_back_to_the_second_path(self) -> None:
        updated = sample(preview("salla-sync.json"), "salla-order-updated.json")
        assert fields(updated)["total"] == 230
        assert {f.name: f.note for f in updated.fields}["total"] == "path 2 of 2 gave the value"

    def test_cart_and_resource_shapes(self) -> None:
        result = preview("salla-sync.json")
        cart = sample(result, "salla-cart-abandoned.json")
        assert (cart.kind, cart.code, fields(cart)["total"]) == ("abandonedCart", "771200", 455.5)
        resource = sample(result, "salla-cart-updated.json")
        assert (resource.shape, resource.kind, resource.operation, resource.code) == (
            "resource", "abandonedCarts", "upsert", "771200")

    def test_event_without_handler_is_a_note(self) -> None:
        customer = sample(preview("salla-sync.json"), "salla-customer-created.json")
        assert customer.handler is None
        assert [(f.code, f.severity) for f in customer.findings] == [("SYNC_NO_HANDLER", "info")]

    def test_ok_and_no_cross_sample_findings(self) -> None:
        result = preview("salla-sync.json")
        assert result.findings == ()
        assert result.ok
        assert msgspec.to_builtins(result)["schema"] == "whdebug.sync/1"


class TestBrokenDefinition:
    def test_every_flag(self) -> None:
        result = preview("salla-sync-broken.json")
        assert not result.ok
        cart = sample(result, "salla-cart-abandoned.json")
        (bad,) = [f for f in cart.findings if f.code == "SYNC_BAD_RECORD_TYPE"]
        assert bad.pointer == "/sync/webhooks/handlers/abandoned.cart/recordType"
        assert bad.fix == 'set recordType to "abandonedCart"'
        order = sample(result, "salla-order-created.json")
        (unknown,) = [f for f in order.findings if f.code == "SYNC_TRANSFORM_UNKNOWN"]
        assert "'toUpper'" in unknown.message
        assert fields(order)["status"] == "Pending"  # shown untransformed
        assert [f.code for f in result.findings] == ["DEF_HANDLER_WITHOUT_TRIGGER",
                                                     "SYNC_UNSTABLE_CODE"]

    def test_unstable_external_id(self) -> None:
        result = preview("salla-sync-broken.json", "salla-order-created.json",
                         "salla-order-updated.json")
        (found,) = [f for f in result.findings if f.code == "SYNC_UNSTABLE_CODE"]
        assert "$.data.id = 251832401 in both" in found.message
        assert "'251832401' and '72315899'" in found.message
        assert found.pointer == "/sync/webhooks/handlers/order.updated/mapping/code"
        assert found.fix == ("point mapping.code of handler 'order.updated' at $.data.id, the id "
                             "that stays the same")

    def test_different_orders_of_one_customer_are_not_the_same_entity(self) -> None:
        definition = load_definition(SYNC / "salla-sync.json")
        customer = {"id": 939275, "first_name": "Sara"}
        first = payload("order.created", id=1, customer=customer)
        second = payload("order.created", id=2, customer=customer)
        second = Capture(second.request, Source(file="b.json"))
        result = preview_sync(definition, [first, second])
        assert [s.code for s in result.samples] == ["1", "2"]
        assert result.findings == ()


class TestDefinitionLevel:
    def test_legacy_ecommerce_only(self) -> None:
        result = preview("legacy-ecommerce.json")
        (found,) = result.findings
        assert (found.code, found.severity, found.pointer) == (
            "DEF_LEGACY_ECOMMERCE", "error", "/webhook/ecommerce")
        assert not result.ok

    def test_no_handlers_at_all(self) -> None:
        result = preview_sync(load_definition(ROOT / "definitions" / "slack.json"), [])
        assert [f.code for f in result.findings] == ["SYNC_NO_HANDLERS"]

    def test_empty_code(self) -> None:
        data = json.loads((SYNC / "salla-sync.json").read_text())
        data["sync"]["webhooks"]["handlers"]["order.created"]["mapping"]["code"] = "$.data.uuid"
        definition = parse_definition(json.dumps(data), "app.json")
        order = sample(preview(definition, "salla-order-created.json"),
                       "salla-order-created.json")
        (found,) = [f for f in order.findings if f.code == "SYNC_NO_CODE"]
        assert found.pointer == "/sync/webhooks/handlers/order.created/mapping/code"
        assert "($.data.uuid)" in found.message
        assert order.code is None

    def test_header_event_of_a_bare_payload_comes_from_its_file_name(self) -> None:
        data = copy.deepcopy(json.loads((SYNC / "salla-sync.json").read_text()))
        data["webhook"]["eventExtraction"] = {"source": "header", "path": "X-Salla-Event"}
        definition = parse_definition(json.dumps(data), "app.json")
        body = (SAMPLES / "salla-order-created.json").read_bytes()
        named = parse_sample(body, "order.created--first-order.json", definition)
        unnamed = parse_sample(body, "salla-order-created.json", definition)
        assert named[0].request.header("X-Salla-Event") == "order.created"
        result = preview_sync(definition, named + unnamed)
        assert [(s.event, s.code) for s in result.samples] == [
            ("order.created", "251832401"), ("salla-order-created", None)]
        assert [f.code for f in result.samples[1].findings] == ["SYNC_NO_HANDLER"]


def test_big_integer_id_is_read_as_javascript_does() -> None:
    definition = load_definition(SYNC / "salla-sync.json")
    big = 820982911946154508
    result = preview_sync(definition, [payload("order.created", id=big),
                                       payload("abandoned.cart.updated", id=big)])
    order, cart = result.samples
    assert order.code == "820982911946154500"  # toString after JSON.parse rounding
    assert cart.code == "820982911946154500"
    for found in (order, cart):
        (unsafe,) = [f for f in found.findings if f.code == "SYNC_UNSAFE_INTEGER"]
        assert "reads it as 820982911946154500" in unsafe.message


@pytest.mark.parametrize(("value", "expected"), [
    (820982911946154508, "820982911946154500"), (9007199254740993, "9007199254740992"),
    (-820982911946154508, "-820982911946154500"), (10**22 + 1, "1e+22"),
    (123456789012345678901, "123456789012345680000")])
def test_js_large_integer(value: int, expected: str) -> None:
    assert js_large_integer(value) == expected


class TestSampleFormats:
    def test_http_file(self) -> None:
        (capture,) = parse_sample((ROOT / "requests" / "salla-order-created.http").read_bytes(),
                                  "x.http")
        assert capture.request.header("X-Salla-Signature") is not None

    def test_capture_export_and_har(self) -> None:
        capture = read_request_file(ROOT / "requests" / "salla-order-created.http")[0]
        export = json.dumps(capture_to_json(capture)).encode()
        assert parse_sample(export, "capture.json")[0].request.body == capture.request.body
        har = format_har([capture, capture])
        assert len(parse_sample(har, "two.har")) == 2

    def test_bare_json_becomes_a_post_to_the_webhook_path(self) -> None:
        data = (SAMPLES / "salla-cart-abandoned.json").read_bytes()
        definition = load_definition(SYNC / "salla-sync.json")
        (capture,) = parse_sample(data, "cart.json", definition)
        request = capture.request
        assert (request.method, request.path, request.body) == (
            "POST", "/miniapps/salla/webhooks", data)


@pytest.mark.parametrize(("value", "expected"), [
    ("15", 15), ("455.5", 455.5), (" 7 ", 7), (3, 3), (2.5, 2.5), ("n/a", None), (None, None),
    (True, None), ([1], None)])
def test_to_number_or_null(value: Any, expected: Any) -> None:
    assert to_number_or_null(value) == expected


class TestCommand:
    def test_clean_exits_0(self) -> None:
        result = CliRunner().invoke(main, ["sync", str(SYNC / "salla-sync.json"),
                                           "--samples", str(SAMPLES)])
        assert result.exit_code == 0, result.output
        assert "writes order (create), external id \"251832401\"" in result.output
        assert "compute customerSegment" in result.output

    def test_broken_exits_1_with_json(self) -> None:
        result = CliRunner().invoke(main, ["sync", str(SYNC / "salla-sync-broken.json"),
                                           "--samples", str(SAMPLES), "--json"])
        assert result.exit_code == 1
        document = json.loads(result.output)
        assert document["ok"] is False
        assert {f["code"] for f in document["findings"]} == {"SYNC_UNSTABLE_CODE",
                                                             "DEF_HANDLER_WITHOUT_TRIGGER"}
        assert len(document["samples"]) == 5

    def test_har_entries_are_numbered(self, tmp_path: Path) -> None:
        request = read_request_file(ROOT / "requests" / "salla-order-created.http")[0]
        (tmp_path / "two.har").write_bytes(format_har([request, request]))
        result = CliRunner().invoke(main, ["sync", str(SYNC / "salla-sync.json"),
                                           "--samples", str(tmp_path), "--json"])
        names = [s["sample"] for s in json.loads(result.output)["samples"]]
        assert names == ["two.har#1", "two.har#2"]

    def test_empty_directory_is_bad_input(self, tmp_path: Path) -> None:
        result = CliRunner().invoke(main, ["sync", str(SYNC / "salla-sync.json"),
                                           "--samples", str(tmp_path)])
        assert result.exit_code == 2
        assert "no .http, .har or .json samples" in result.output


_SPECS = st.recursive(
    st.sampled_from(["$.data.id", "data.items", "$.nope", "$[", "id", "$..id"]) | st.none()
    | st.integers(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["path", "paths", "transform", "fn", "mapping", "field", "separator",
                         "default"]),
        children | st.sampled_from(["toString", "toNumberOrNull", "coalesce", "mapItems",
                                    "joinCodes", "compute", "toUpper"]),
        max_size=4),
    max_leaves=10)
_PAYLOADS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["id", "data", "items", "code", "event"]), children, max_size=4),
    max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(handler=st.dictionaries(st.sampled_from(["recordType", "resource", "dataPath", "mapping",
                                                "operation"]), _SPECS, max_size=4),
       data=_PAYLOADS)
def test_any_handler_and_payload_preview_without_crashing(handler: Any, data: Any) -> None:
    definition = parse_definition(json.dumps({
        "ns": "x", "version": "1.0.0", "triggers": [{"type": "miniapps:x", "event": "e"}],
        "webhook": {"eventExtraction": {"source": "body", "path": "$.event"}},
        "sync": {"webhooks": {"handlers": {"e": handler}}}}), "app.json")
    body = json.dumps({"event": "e", "data": data}).encode()
    capture = Capture(CapturedRequest("POST", "/miniapps/x/webhooks", body=body),
                      Source(file="s.json"))
    result = preview_sync(definition, [capture, capture])
    json.dumps(msgspec.to_builtins(result))
