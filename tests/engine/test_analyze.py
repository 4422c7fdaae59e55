"""Challenge, customer extraction, sync handlers, request checks and outcome."""

from __future__ import annotations

import json

from factories import make_definition, make_request, run

from whdebug.engine.report import report_json

CHALLENGE = {
    "identifyField": "type",
    "identifyValue": "url_verification",
    "challengePath": "$.challenge",
    "responseField": "challenge",
}


def test_challenge_answered_with_response_field() -> None:
    request = make_request({"type": "url_verification", "challenge": "abc"})
    report = run(request, make_definition(challengeResponse=CHALLENGE))
    assert report.outcome.status == "challenge" and report.ok
    assert json.loads(report.challenge.response_body or "") == {"challenge": "abc"}


def test_challenge_bare_token() -> None:
    config = {**CHALLENGE, "responseField": None}
    request = make_request({"type": "url_verification", "challenge": "abc"})
    assert run(request, make_definition(challengeResponse=config)).challenge.response_body == "abc"


def test_challenge_without_token_is_an_error() -> None:
    request = make_request({"type": "url_verification"})
    report = run(request, make_definition(challengeResponse=CHALLENGE))
    assert not report.ok
    assert any(f.code == "CHALLENGE" and f.severity == "error" for f in report.findings)


def test_unsigned_challenge_notes_the_order_assumption() -> None:
    request = make_request({"type": "url_verification", "challenge": "abc"}, signature=None)
    report = run(request, make_definition(challengeResponse=CHALLENGE))
    assert report.outcome.status == "challenge"
    assert "SIG_CHALLENGE_ORDER" in report.codes()
    assert report.challenge.note and "before" in report.challenge.note


def test_customer_extraction_and_override() -> None:
    definition = make_definition(
        customerExtraction={
            "basePath": "$.data.customer",
            "mapping": {"code": "id", "primaryEmail": "email"},
            "overrides": {"deal.won": {"basePath": "$.data.buyer"}},
        }
    )
    request = make_request(
        {"event": "deal.won", "id": "1", "data": {"buyer": {"id": 5, "email": "a@b.test"}}}
    )
    report = run(request, definition)
    assert report.customer is not None
    assert report.customer.base_path == "$.data.buyer"
    assert report.customer.fields == {"code": 5, "primaryEmail": "a@b.test"}


def test_customer_without_code() -> None:
    definition = make_definition(
        customerExtraction={
            "basePath": "$.customer",
            "mapping": {"code": "id", "primaryEmail": "email"},
        }
    )
    report = run(
        make_request({"event": "deal.won", "id": "1", "customer": {"email": "x"}}), definition
    )
    assert "CUS_NO_CODE" in report.codes() and report.customer.missing == ("code",)


def test_sync_record_handler() -> None:
    sync = {
        "webhooks": {
            "handlers": {
                "deal.won": {
                    "recordType": "order",
                    "operation": "create",
                    "mapping": {"code": "$.deal.id"},
                }
            }
        }
    }
    definition = make_definition(sync=sync)
    report = run(make_request({"event": "deal.won", "id": "1", "deal": {"id": 44}}), definition)
    assert report.sync is not None and report.sync.code == "44"
    assert report.sync.record_type == "order"


def test_sync_bad_record_type_and_missing_code() -> None:
    sync = {
        "webhooks": {
            "handlers": {"deal.won": {"recordType": "deal", "mapping": {"code": "$.nope"}}}
        }
    }
    report = run(make_request({"event": "deal.won", "id": "1"}), make_definition(sync=sync))
    assert {"SYNC_BAD_RECORD_TYPE", "SYNC_NO_CODE"} <= set(report.codes())


def test_sync_handler_near_miss_is_a_warning() -> None:
    sync = {
        "webhooks": {"handlers": {"Deal.Won": {"recordType": "order", "mapping": {"code": "$.id"}}}}
    }
    report = run(make_request({"event": "deal.won", "id": "1"}), make_definition(sync=sync))
    finding = next(f for f in report.findings if f.code == "SYNC_NO_HANDLER")
    assert finding.severity == "warning" and "Deal.Won" in (finding.fix or "")


def test_wrong_path_flagged() -> None:
    report = run(make_request(path="/webhooks"))
    assert "REQ_WRONG_PATH" in report.codes() and report.outcome.status == "fires"


def test_custom_response_status() -> None:
    report = run(make_request(), make_definition(response={"statusCode": 202, "body": {}}))
    assert report.outcome.http_status == 202


def test_steps_cover_the_pipeline() -> None:
    report = run(make_request())
    assert [s.name for s in report.steps] == ["challenge", "verify", "extract", "dedupe", "match"]
    assert [s.status for s in report.steps] == ["skip", "pass", "pass", "pass", "pass"]


def test_rejected_request_says_what_would_fire() -> None:
    report = run(make_request(signature="00" * 32))
    assert report.outcome.status == "rejected"
    assert report.outcome.if_verified == {
        "event": "contact.created",
        "triggers": ["contact.created"],
        "status": "fires",
    }


def test_report_json_has_every_spec_field() -> None:
    data = report_json(run(make_request()))
    for key in (
        "schema",
        "source",
        "request",
        "definition",
        "challenge",
        "signature",
        "event",
        "triggers",
        "transaction",
        "customer",
        "sync",
        "outcome",
        "findings",
    ):
        assert key in data
    assert data["schema"] == "whdebug.report/1"
    assert set(data["signature"]["secret"]) >= {"resolved_from", "credentials", "auth_config"}
    import hashlib

    assert data["request"]["body_sha256"] == hashlib.sha256(make_request().body).hexdigest()


def test_json_sent_as_form_names_the_content_type() -> None:
    request = make_request({"event": "deal.won", "id": "1"},
                           content_type="application/x-www-form-urlencoded")
    report = run(request)
    finding = next(f for f in report.findings if f.code == "REQ_CONTENT_TYPE")
    assert "application/json" in (finding.fix or "")
    assert "REQ_FORM_BODY" not in report.codes()
