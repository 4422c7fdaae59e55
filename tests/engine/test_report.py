"""The report's JSON line: the bytes `json.dumps` writes, whatever the body holds."""

from __future__ import annotations

import json

from factories import make_definition, make_request, run

from whdebug.engine.report import encode_report, report_json

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
