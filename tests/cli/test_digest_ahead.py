"""A large request file's body digest (the report's body_sha256) is computed while the file is
read, beside the command's start-up, not after it beside the HMAC: on two cores, the digest,
the HMAC and the parse of a 64 MiB body no longer compete for the same time."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from factories import NOW, SECRET, make_definition, make_request

from whdebug.cli.options import DIGEST_AHEAD_MIN, FilesReading
from whdebug.engine import analyze
from whdebug.model import request as request_module
from whdebug.model.request import Secrets


def _big_http(path: Path, size: int) -> bytes:
    body = b'{"event":"contact.created","id":"evt-big","blob":"' + b"a" * size + b'"}'
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    path.write_bytes(b"POST /miniapps/acme/webhooks HTTP/1.1\r\nContent-Type: application/json"
                     b"\r\nX-Signature: " + signature.encode() +
                     b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    return body


def test_a_large_file_s_digest_is_ready_when_the_reading_ends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = _big_http(tmp_path / "big.http", DIGEST_AHEAD_MIN)
    (capture,) = FilesReading([str(tmp_path / "big.http")]).result()
    assert capture.request.has_body_digest
    # The analysis then starts no digest thread of its own, and reports the same digest.
    monkeypatch.setattr(request_module._PendingDigest, "__init__", _no_thread)
    report = analyze(capture, make_definition(), Secrets({"webhookSecret": SECRET}), now=NOW)
    assert report.signature.verdict == "pass"
    assert report.request["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_a_small_file_s_digest_is_left_to_the_analysis(tmp_path: Path) -> None:
    _big_http(tmp_path / "small.http", 100)
    (capture,) = FilesReading([str(tmp_path / "small.http")]).result()
    assert not capture.request.has_body_digest


def test_the_digest_is_computed_once_and_belongs_to_its_body() -> None:
    request = make_request({"event": "contact.created", "id": "evt-1"})
    assert not request.has_body_digest
    assert request.body_sha256 == hashlib.sha256(request.body).hexdigest()
    assert request.has_body_digest
    import dataclasses

    edited = dataclasses.replace(request, body=b"{}")
    assert not edited.has_body_digest
    assert edited.body_sha256 == hashlib.sha256(b"{}").hexdigest()


def _no_thread(self: object, body: bytes) -> None:
    raise AssertionError("a second SHA-256 of a body whose digest is known")


def test_a_request_whose_digest_is_being_computed_pickles_with_the_digest() -> None:
    """Worker processes get requests by pickle: a pending digest travels as its value."""
    import pickle

    request = make_request({"event": "contact.created", "id": "evt-1", "blob": "x" * 5000})
    request.start_body_digest()
    assert request.has_body_digest
    copy = pickle.loads(pickle.dumps(request))
    assert copy.has_body_digest and copy == request
    assert copy.body_sha256 == request.body_sha256 == hashlib.sha256(request.body).hexdigest()
