"""Hand-written `.http` files: REST Client / JetBrains `###` separators, and what whdebug says
about a Content-Length or a final newline that the editor, not the provider, put there."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import run as cli
from factories import SECRET, run, sign

from whdebug.formats.read import read_request_file

BODY_ONE = b'{"event":"contact.created","id":"evt-1"}'
BODY_TWO = b'{"event":"deal.won","id":"evt-2"}'


def rest_client_file() -> bytes:
    """Two webhook deliveries as the REST Client docs write them: absolute URLs, `###`
    separators with a name, `# @name` comments, LF line endings and a final newline."""
    return (
        b"### contact created\n"
        b"# @name contactCreated\n"
        b"POST https://hooks.example.test/miniapps/acme/webhooks HTTP/1.1\n"
        b"Content-Type: application/json\n"
        b"X-Signature: " + sign(BODY_ONE).encode() + b"\n"
        b"\n" + BODY_ONE + b"\n"
        b"\n"
        b"### deal won\n"
        b"POST https://hooks.example.test/miniapps/acme/webhooks HTTP/1.1\n"
        b"Content-Type: application/json\n"
        b"X-Signature: " + sign(BODY_TWO).encode() + b"\n"
        b"\n" + BODY_TWO + b"\n"
    )


def test_rest_client_file_reads_each_request(tmp_path: Path) -> None:
    path = tmp_path / "deliveries.http"
    path.write_bytes(rest_client_file())
    captures = read_request_file(path)
    assert len(captures) == 2
    first, second = (capture.request for capture in captures)
    assert first.path == second.path == "/miniapps/acme/webhooks"
    assert json.loads(first.body) == {"event": "contact.created", "id": "evt-1"}
    assert first.body == BODY_ONE  # the blank line before `###` is not sent
    assert second.body == BODY_TWO  # nor is the file's final newline
    assert b"###" not in first.body and b"POST" not in first.body


def test_replay_of_a_rest_client_file_fires_both_requests(tmp_path: Path) -> None:
    from factories import BASE_DEFINITION

    definition = tmp_path / "acme.json"
    definition.write_text(json.dumps(BASE_DEFINITION))
    path = tmp_path / "deliveries.http"
    path.write_bytes(rest_client_file())
    result = cli("replay", "--definition", str(definition), "--file", str(path),
                 "--credential", f"webhookSecret={SECRET}", "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["outcome"]["triggers"] for line in lines[:2]] == [["contact.created"],
                                                                  ["deal.won"]]
    assert lines[-1]["requests"] == 2


def test_a_separator_file_without_requests_is_a_message(tmp_path: Path) -> None:
    from factories import BASE_DEFINITION

    definition = tmp_path / "acme.json"
    definition.write_text(json.dumps(BASE_DEFINITION))
    path = tmp_path / "empty.http"
    path.write_bytes(b"### nothing here\n# just a comment\n")
    result = cli("replay", "--definition", str(definition), "--file", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith("whdebug: ") and "###" in result.stderr


# --- Content-Length -----------------------------------------------------------------------


def _request(body: bytes, length: int | None, **kwargs: object) -> object:
    from factories import make_request

    headers = [("Content-Length", str(length))] if length is not None else []
    return make_request(body, headers=headers, signature=sign(body[: length or len(body)]),
                        **kwargs)


def test_content_length_smaller_than_the_body_is_reported() -> None:
    body = BODY_ONE + b"\n--edited--"
    report = run(_request(body, len(BODY_ONE)))  # type: ignore[arg-type]
    codes = report.codes()
    assert "REQ_LENGTH_MISMATCH" in codes, codes
    found = next(f for f in report.findings if f.code == "REQ_LENGTH_MISMATCH")
    assert str(len(BODY_ONE)) in found.message and str(len(body)) in found.message
    assert not any("content type" in (f.fix or "") for f in report.findings), report.findings


def test_content_length_larger_than_the_body_is_reported() -> None:
    report = run(_request(BODY_ONE, len(BODY_ONE) + 7))  # type: ignore[arg-type]
    found = next(f for f in report.findings if f.code == "REQ_LENGTH_MISMATCH")
    assert "7" in found.message and "missing" in found.message


def test_a_matching_content_length_says_nothing() -> None:
    report = run(_request(BODY_ONE, len(BODY_ONE)))  # type: ignore[arg-type]
    assert "REQ_LENGTH_MISMATCH" not in report.codes()
    assert report.outcome.status == "fires"


# --- the editor's final newline -----------------------------------------------------------


def test_a_hand_written_files_final_newline_is_named_as_the_editors(tmp_path: Path) -> None:
    from factories import BASE_DEFINITION

    definition = tmp_path / "acme.json"
    definition.write_text(json.dumps(BASE_DEFINITION))
    path = tmp_path / "contact.http"
    path.write_bytes(b"POST /miniapps/acme/webhooks HTTP/1.1\nContent-Type: application/json\n"
                     b"X-Signature: " + sign(BODY_ONE).encode() + b"\n\n" + BODY_ONE + b"\n")
    result = cli("replay", "--definition", str(definition), "--file", str(path),
                 "--credential", f"webhookSecret={SECRET}", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout.splitlines()[0])
    found = [f for f in report["findings"] if f["code"] == "SIG_BODY_MODIFIED"]
    assert len(found) == 1, report["findings"]
    assert "proxy" not in found[0]["message"]
    assert "newline" in found[0]["message"] and "editor" in found[0]["message"]
    assert "contact.http" in found[0]["message"]


def test_import_stores_each_request_of_a_rest_client_file(tmp_path: Path) -> None:
    path = tmp_path / "deliveries.http"
    path.write_bytes(rest_client_file())
    store = tmp_path / "captures.db"
    result = cli("import", str(path), "--store", str(store))
    assert result.exit_code == 0, result.output
    listed = cli("list", "--store", str(store), "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(rows) == 2 and {row["body_size"] for row in rows} == {len(BODY_ONE),
                                                                     len(BODY_TWO)}


def test_a_hash_line_inside_a_text_body_is_body(tmp_path: Path) -> None:
    body = b"### Release notes\nFixed the retries.\n"
    path = tmp_path / "notes.http"
    path.write_bytes(b"POST /miniapps/acme/webhooks HTTP/1.1\r\nContent-Type: text/markdown\r\n"
                     b"\r\n" + body)
    [capture] = read_request_file(path)
    assert capture.request.body == body


def test_a_decoded_body_under_content_encoding_is_not_called_hand_edited() -> None:
    from factories import make_request

    request = make_request(BODY_ONE, headers=[("Content-Encoding", "gzip"),
                                              ("Content-Length", "31")])
    report = run(request)
    found = next(f for f in report.findings if f.code == "REQ_LENGTH_MISMATCH")
    assert found.severity == "info" and "gzip" in found.message
    assert "edited" not in found.message


def test_an_exported_request_whose_body_holds_a_separator_stays_whole(tmp_path: Path) -> None:
    """Content-Length that counts every remaining byte: one exact request, whatever the body."""
    body = b"notes\n### second\nPOST /miniapps/acme/webhooks HTTP/1.1\n\n{}"
    path = tmp_path / "export.http"
    path.write_bytes(b"POST /miniapps/acme/webhooks HTTP/1.1\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    [capture] = read_request_file(path)
    assert capture.request.body == body
