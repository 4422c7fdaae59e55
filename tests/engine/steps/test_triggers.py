"""Trigger matching, near misses and path suggestions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from factories import make_definition, make_request, run

from whdebug.engine.steps.triggers import levenshtein, near_miss_reason
from whdebug.model.definition import Definition


def type_and_subtype(events: list[str], separator: str = ".") -> Definition:
    """Slack's composite: $.event.type, the separator, $.event.subtype (often missing)."""
    return make_definition(
        eventExtraction={"compositeStrategy": {"separator": separator, "parts": [
            {"source": "body", "path": "$.event.type"},
            {"source": "body", "path": "$.event.subtype"}]}},
        triggers=[{"type": "miniapps:acme", "event": event} for event in events])


def test_exact_match_fires() -> None:
    report = run(make_request({"event": "deal.won", "id": "1"}))
    assert report.outcome.status == "fires" and report.outcome.triggers == ("deal.won",)


@pytest.mark.parametrize(
    ("value", "trigger", "kind"),
    [
        ("Contact.Created", "contact.created", "case"),
        ("contact.created ", "contact.created", "whitespace"),
        ("contact_created", "contact.created", "separator"),
        ("orders/create", "orders.create", "separator"),
        ("contact.craeted", "contact.created", "spelling"),
    ],
)
def test_near_miss_kinds(value: str, trigger: str, kind: str) -> None:
    reason = near_miss_reason(value, trigger)
    assert reason is not None and reason[0] == kind


def test_unrelated_is_not_a_near_miss() -> None:
    assert near_miss_reason("invoice.paid", "contact.created") is None


def test_levenshtein_cutoff() -> None:
    assert levenshtein("kitten", "sitting", limit=5) == 3
    assert levenshtein("a", "abcdef", limit=3) == 3


def test_near_miss_fix_points_at_trigger() -> None:
    report = run(make_request({"event": "Deal.Won", "id": "1"}))
    finding = next(f for f in report.findings if f.code == "EVT_NEAR_MISS")
    assert finding.pointer == "/triggers/1/event" and "'Deal.Won'" in (finding.fix or "")


def test_path_suggestion_for_header() -> None:
    definition = make_definition(eventExtraction={"source": "body", "path": "$.event"})
    request = make_request({"id": "1"}, headers=[("X-Topic", "deal.won")])
    report = run(request, definition)
    suggestion = report.triggers.suggested_paths[0]
    assert (suggestion.source, suggestion.path, suggestion.event) == (
        "header",
        "X-Topic",
        "deal.won",
    )
    # $.event found nothing here: it stays the primary (deliveries that carry it keep working)
    assert json.loads(suggestion.snippet) == {
        "eventExtraction": {"source": "body", "path": "$.event",
                            "fallback": {"source": "header", "path": "X-Topic"}}
    }


def test_path_suggestion_for_nested_body_leaf() -> None:
    request = make_request({"meta": {"kind": "contact.created"}, "id": "1"})
    report = run(request)
    assert any(s.path == "$.meta.kind" for s in report.triggers.suggested_paths)
    assert "EVT_PATH_SUGGESTION" in report.codes()


def test_composite_suggestion_from_two_locations() -> None:
    triggers = [{"type": "miniapps:acme", "event": "pull_request.opened"}]
    definition = make_definition(triggers=triggers)
    request = make_request(
        {"action": "opened", "id": "1"}, headers=[("X-GitHub-Event", "pull_request")]
    )
    report = run(request, definition)
    composite = [s for s in report.triggers.suggested_paths if s.source == "composite"]
    assert composite
    snippet = json.loads(composite[0].snippet)["eventExtraction"]["compositeStrategy"]
    assert snippet["parts"] == [
        {"source": "header", "path": "X-GitHub-Event"},
        {"source": "body", "path": "$.action"},
    ]


def test_no_triggers_defined() -> None:
    report = run(make_request(), make_definition(triggers=[]))
    assert report.outcome.status == "no-trigger" and "EVT_NO_TRIGGER" in report.codes()


def test_duplicate_trigger_events_fire_once() -> None:
    triggers = [{"type": "miniapps:acme", "event": "contact.created"}] * 2
    report = run(make_request(), make_definition(triggers=triggers))
    assert report.outcome.triggers == ("contact.created",)


def test_malformed_triggers_are_not_called_absent() -> None:
    """Triggers whose event is not a string exist: the finding says so instead of 'no triggers'
    and offers no patch that would add a second trigger beside the broken one."""
    triggers = [{"type": "miniapps:acme", "event": ["contact.created"]}]
    report = run(make_request(), make_definition(triggers=triggers))
    found = [f for f in report.findings if f.code == "EVT_NO_TRIGGER"]
    assert report.outcome.status == "no-trigger" and len(found) == 1
    assert "no triggers" not in found[0].message
    assert "1 trigger" in found[0].message and "triggers[0].event" in found[0].fix
    assert found[0].patch is None


def test_no_trigger_fix_for_a_composite_with_a_missing_part_names_every_join_rule() -> None:
    # Slack's app_mention has no event.subtype: the event is 'app_mention.' only under
    # whdebug's default join rule (PLATFORM.md leaves it open), so a fix that only says "add
    # a trigger for 'app_mention.'" guesses; it names what each rule gives
    definition = type_and_subtype(["message.posted"])
    report = run(make_request({"event": {"type": "app_mention"}, "id": "1"}), definition)
    [no_trigger] = [f for f in report.findings if f.code == "EVT_NO_TRIGGER"]
    assert report.event.value == "app_mention."
    assert no_trigger.fix is not None
    assert "add a trigger for 'app_mention.'" in no_trigger.fix
    assert ("'app_mention.' is the event if the runtime joins a missing composite part like "
            "Array.join (whdebug's default); it is 'app_mention' if it skips empty parts, "
            "'app_mention.undefined' if it uses a template string (EVT_PART_MISSING)"
            ) in no_trigger.fix
    # with every part present there is nothing to weigh
    full = run(make_request({"event": {"type": "app_mention", "subtype": "x"}, "id": "2"}),
               definition)
    [plain] = [f for f in full.findings if f.code == "EVT_NO_TRIGGER"]
    assert plain.fix is not None and "EVT_PART_MISSING" not in plain.fix


def test_no_trigger_names_the_trigger_waiting_for_the_missing_part() -> None:
    # Karzoun's Slack example subscribes message.posted; a real message has no subtype, so
    # it is read as 'message.', and the report only listed the configured triggers.
    definition = type_and_subtype(["message::posted", "reaction::added"], "::")
    report = run(make_request({"event": {"type": "message"}, "id": "1"}), definition)
    [no_trigger] = [f for f in report.findings if f.code == "EVT_NO_TRIGGER"]
    assert report.event.value == "message::"
    assert no_trigger.message.endswith(
        "; trigger 'message::posted' expects body $.event.subtype 'posted', which this "
        "request does not carry")
    assert "reaction" not in no_trigger.message.split(";", 1)[1]
    full = run(make_request({"event": {"type": "message", "subtype": "edited"}, "id": "2"}),
               definition)
    [plain] = [f for f in full.findings if f.code == "EVT_NO_TRIGGER"]
    assert "expects" not in plain.message


def test_ambiguous_match_names_the_rule_replayed() -> None:
    # with --missing-part skip the event is 'app_mention', so a trigger 'app_mention.' fires
    # only under the 'empty' rule; the message must not call 'skip' whdebug's default
    definition = type_and_subtype(["app_mention."])
    request = make_request({"event": {"type": "app_mention"}, "id": "1"})
    skip = run(request, definition, missing_part="skip")
    [ambiguous] = [f for f in skip.findings if f.code == "EVT_AMBIGUOUS_MATCH"]
    assert ambiguous.message == (
        "trigger 'app_mention.' fires only if the runtime joins a missing composite part with "
        "the 'empty' rule; under the 'skip' rule replayed here (--missing-part) the event is "
        "'app_mention'")
    default = run(make_request({"event": {"type": "app_mention"}, "id": "2"}),
                  make_definition(eventExtraction=definition.webhook["eventExtraction"],
                                  triggers=[{"type": "miniapps:acme", "event": "app_mention"}]))
    [plain] = [f for f in default.findings if f.code == "EVT_AMBIGUOUS_MATCH"]
    assert plain.message.endswith("under whdebug's default the event is 'app_mention.'")


def test_a_rejected_request_says_which_trigger_waits_once_verified() -> None:
    # The Slack example's deliveries are rejected (Slack's v0 scheme) and "once verified,
    # event 'message.' would still match no trigger" said nothing of message.posted.
    definition = type_and_subtype(["message.posted"])
    report = run(make_request({"event": {"type": "message"}, "id": "1"}, signature="00"),
                 definition)
    assert report.outcome.status == "rejected"
    assert report.outcome.if_verified is not None
    assert report.outcome.if_verified["waiting"] == [
        "trigger 'message.posted' expects body $.event.subtype 'posted', which this request "
        "does not carry"]
    fired = run(make_request({"event": {"type": "message", "subtype": "posted"}, "id": "2"},
                             signature="00"), definition)
    assert fired.outcome.if_verified is not None
    assert "waiting" not in fired.outcome.if_verified


def test_the_text_report_says_it(tmp_path: Any) -> None:
    from cli_support import run as run_cli

    definition = type_and_subtype(["message.posted"])
    path = tmp_path / "app.json"
    path.write_text(json.dumps(definition.data))
    request = tmp_path / "r.http"
    request.write_bytes(b"POST /miniapps/acme/webhooks HTTP/1.1\r\nContent-Type: "
                        b"application/json\r\nX-Signature: 00\r\n\r\n"
                        b'{"event":{"type":"message"},"id":"1"}')
    result = run_cli("replay", "--file", str(request), "--definition", str(path),
                     "--credential", "webhookSecret=some-secret")
    assert ("once verified  event 'message.' would still match no trigger: trigger "
            "'message.posted' expects body $.event.subtype 'posted'") in result.stdout
