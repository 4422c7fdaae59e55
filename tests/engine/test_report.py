"""The report's JSON line: the bytes `json.dumps` writes, whatever the body holds."""

from __future__ import annotations

import json

from factories import NOW, SECRET, make_definition, make_request, run

from whdebug.engine.report import report_json
from whdebug.engine.reportline import encode_report

CUSTOMERS = {"basePath": "$.customer", "mapping": {
    "code": "id", "firstName": "name", "lastName": "big", "primaryEmail": "tiny",
    "primaryPhone": "huge"}}
BODY = (b'{"event": "contact.created", "id": "\xc3\xa9vt-1 \xf0\x9f\x98\x80", "customer": '
        b'{"id": "\\ud800", "name": "caf\xc3\xa9\\u007f", "big": 1e16, "tiny": 1e-7, '
        b'"huge": 1e400}}')


def test_line_escapes_and_numbers_as_json_dumps_writes_them() -> None:
    report = run(make_request(BODY), make_definition(customerExtraction=CUSTOMERS))
    line = encode_report(report)
    assert line == json.dumps(report_json(report), separators=(",", ":"))
    assert line.isascii()
    assert '"id":"\\u00e9vt-1 \\ud83d\\ude00"' in line
    assert '"firstName":"caf\\u00e9\\u007f"' in line
    assert '"code":"\\ud800"' in line
    assert '"lastName":1e+16' in line and '"primaryEmail":1e-07' in line
    assert '"primaryPhone":Infinity' in line


def test_event_parts_keep_only_their_json_fields() -> None:
    report = run(make_request())
    assert report.event.parts[0].raw_type == "string"
    assert list(report_json(report)["event"]["parts"][0]) == ["source", "path", "found", "value"]
    assert list(report_json(report))[:2] == ["schema", "source"]
    assert "profile" not in report_json(report)


def test_every_fixture_report_encodes_as_json_dumps_writes_it() -> None:
    """msgspec writes the line when it can (plain ASCII, no floats): the same text as
    json.dumps over report_json, for every fixture scenario's reports."""
    from datetime import datetime

    from conftest import FIXTURES

    from whdebug.engine import DedupeIndex, analyze
    from whdebug.engine.reportline import encoded_line as _encoded
    from whdebug.formats.read import read_request_file
    from whdebug.model.definition import load_definition
    from whdebug.model.secrecy import Secrets

    manifest = json.loads((FIXTURES / "manifest.json").read_text())["scenarios"]
    fast = total = 0
    for scenario in manifest:
        definition = load_definition(FIXTURES / scenario["definition"])
        secrets = Secrets(scenario["credentials"], scenario["config"])
        now = datetime.fromisoformat(scenario["now"].replace("Z", "+00:00"))
        dedupe = DedupeIndex()
        requests = [r for f in scenario["files"] for r in read_request_file(FIXTURES / f)]
        for request in requests:
            report = analyze(request, definition, secrets, now=now, dedupe=dedupe)
            expected = json.dumps(report_json(report), separators=(",", ":"))
            assert encode_report(report) == expected, scenario["name"]
            fast += _encoded(report) is not None
            total += 1
    assert fast > 0, total  # the msgspec path is taken
    assert fast < total  # and so is the fallback


def test_json_key_named_raw_type_in_free_form_values_keeps_json_dumps_text() -> None:
    from whdebug.engine.reportline import encoded_line as _encoded

    customers = {"basePath": "$.customer", "mapping": {"code": "id", "raw_type": "raw_type"}}
    body = b'{"event": "contact.created", "customer": {"id": "c1", "raw_type": "null}"}}'
    report = run(make_request(body), make_definition(customerExtraction=customers))
    assert report.customer is not None and report.customer.fields["raw_type"] == "null}"
    line = encode_report(report)
    # the event is encoded apart from the free-form values: its parts' raw_type is cut there
    assert _encoded(report) == line
    assert line == json.dumps(report_json(report), separators=(",", ":"))
    assert '"raw_type":"null}"' in line


def _lines_for_event(event: str, secret: str) -> list[str]:
    """Three fired deliveries of `event`, a configured trigger, replayed in one session whose
    secret is `secret` (also given as a --config value, so the event holds a secret)."""
    from factories import make_capture

    from whdebug.engine.session import ReplaySession
    from whdebug.model.secrecy import Secrets

    definition = make_definition(triggers=[{"type": "miniapps:acme", "event": event}])
    session = ReplaySession(definition, Secrets({"webhookSecret": SECRET},
                                                {"leaked": secret}), now=NOW)
    return [session.replay_line(make_capture({"event": event, "id": f"evt-{i}"}))[1]
            for i in range(3)]


def test_a_secret_only_in_shared_members_is_masked_in_every_line() -> None:
    """A fired event that is a secret: its steps and outcome are shared by every report
    (encoded once); each line is still masked, not only the first."""
    lines = _lines_for_event("hook.s3cr3t-event-name", "s3cr3t-event-name")
    for line in lines:
        assert "s3cr3t-event-name" not in line
        assert '"value":"hook.[masked]"' in line
        assert line == json.dumps(json.loads(line), separators=(",", ":"))


def test_a_secret_holding_a_quote_is_looked_for_in_the_whole_line() -> None:
    lines = _lines_for_event('hook.s3"cret-value', 's3"cret-value')
    for line in lines:
        assert 's3\\"cret-value' not in line and "[masked]" in line


def test_analyze_builds_the_masks_of_a_set_of_secrets_once_and_masks_each_sets_own(
        monkeypatch) -> None:
    """`analyze` without a SecretSet (the API, built-in profiles, readiness) builds one per
    distinct set of secrets, not one per call: building its masks' byte forms took longer
    than the rest of the analysis (the engine bench: 4,300 reports/s against 14,000 with
    one set). A second set of secrets must still be masked by its own values."""
    from whdebug.engine import analyze
    from whdebug.engine.plan import compile_definition
    from whdebug.model.secrecy import MASK, Secrets, SecretSet

    built = []
    original = SecretSet.of.__func__  # type: ignore[attr-defined]

    def counting(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
        built.append(args)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(SecretSet, "of", classmethod(counting))
    plan = compile_definition(make_definition())
    first, second = "first-secret-value-1234", "second-secret-value-5678"
    for secret in (first, first, first, second, second):
        # The secret itself sits in a header, where the report would show it unmasked.
        request = make_request(headers=[("X-Echo", f"token {secret}")])
        report = analyze(request, plan, Secrets({"webhookSecret": secret}), now=NOW)
        text = json.dumps(report_json(report))
        assert secret not in text and MASK in text
    assert len(built) == 2  # one build per distinct set of secrets
    # A credential whose value is not hashable still gets a set of its own.
    odd = Secrets({"webhookSecret": first, "extra": {"nested": ["x"]}})
    report = analyze(make_request(headers=[("X-Echo", first)]), plan, odd, now=NOW)
    assert first not in json.dumps(report_json(report))
