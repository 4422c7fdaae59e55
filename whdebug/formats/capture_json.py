"""The `whdebug export --format json` capture object: every field of a capture, bodies as base64."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any

import msgspec

from whdebug.errors import RequestFileError
from whdebug.formats._json import Where, convert_value, decode_file, field_error
from whdebug.model.request import Capture, CapturedRequest, ForwardResult, Reply, Source

CAPTURE_SCHEMA = "whdebug.capture/1"


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a `Z`; a naive datetime is taken as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


@lru_cache(maxsize=4096)
def parse_timestamp(text: str) -> datetime:
    """An aware UTC datetime from ISO 8601 text (`Z` or any offset; naive means UTC);
    remembered (a capture file's requests share their seconds; a datetime never changes)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def wire_text(value: str) -> str:
    """A header string in the latin-1 convention; text beyond latin-1 becomes its UTF-8 bytes."""
    if value.isascii():
        return value
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8").decode("latin-1")
    return value


def decode_base64(text: str) -> bytes:
    """Strict base64 (raises ValueError on any character outside the alphabet).

    msgspec's decoder is ten times binascii's; it accepts less, never other bytes, so
    binascii has the last word (and words the error).
    """
    try:
        return msgspec.convert(text, bytes)
    except msgspec.ValidationError:
        pass
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error as error:
        raise ValueError(f"invalid base64: {error}") from None


def _encode_base64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def capture_to_json(capture: Capture) -> dict[str, Any]:
    """Every field of a capture as a JSON-ready dict (bodies base64, headers as [[name, value]])."""
    request, source = capture.request, capture.source
    reply = capture.reply or _NO_REPLY
    forward = capture.forward or _NOT_FORWARDED
    received_at = source.received_at
    document: dict[str, Any] = {
        "schema": CAPTURE_SCHEMA,
        "id": source.capture_id,
        "received_at": format_timestamp(received_at) if received_at is not None else None,
        "client": source.client,
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "http_version": request.http_version,
        "headers": [[name, value] for name, value in request.headers],
        "body_base64": _encode_base64(request.body),
        "body_size": request.size,
        "truncated": request.truncated,
        "response_status": reply.status,
        "response_body_base64": _encode_base64(reply.body),
        "forward_status": forward.status,
        "forward_body_base64": _encode_base64(forward.body),
        "body_sha256": request.body_sha256,
    }
    # Present only when recorded (older exports, and most captures, have none of them).
    if forward.headers is not None:
        document["forward_headers"] = [[name, value] for name, value in forward.headers]
    if forward.latency is not None:
        document["forward_latency_ms"] = round(forward.latency * 1000, 3)
    if forward.error is not None:
        document["forward_error"] = forward.error
    if source.edited_from is not None:
        document["edited_from"] = source.edited_from
    return document


_NO_REPLY = Reply(None)
_NOT_FORWARDED = ForwardResult()
_Count = Annotated[int, msgspec.Meta(ge=0)]


class _CaptureFields(msgspec.Struct):
    """A capture object as written; the checks msgspec cannot make are in `_capture`."""

    schema: str | None = None
    id: _Count | None = None
    received_at: str | None = None
    client: str | None = None
    method: str | None = None
    path: str | None = None
    query: str | None = None
    http_version: str | None = None
    headers: list[tuple[str, str]] = []
    body_base64: str | None = None
    body_size: _Count | None = None
    truncated: bool = False
    response_status: _Count | None = None
    response_body_base64: str | None = None
    forward_status: _Count | None = None
    forward_body_base64: str | None = None
    body_sha256: str | None = None
    forward_headers: list[tuple[str, str]] | None = None
    forward_latency_ms: Annotated[float, msgspec.Meta(ge=0)] | None = None
    forward_error: str | None = None
    edited_from: _Count | None = None


_DOCUMENT = msgspec.json.Decoder(_CaptureFields | list[_CaptureFields])
_HEADER = re.compile(r"^(?P<at>\$(?:\[\d+\])?\.headers\[\d+\])")


def _where(prefix: str) -> Where:
    def where(path: str) -> str:
        text = path.removeprefix("$").removeprefix(".")
        return f"{prefix}{text}" if prefix or text else "top level"
    return where


def _problem(path: str, expected: str) -> tuple[str, str] | None:
    """Capture wording: ids and sizes are counts, a header is a [name, value] pair."""
    header = _HEADER.match(path)
    if header is not None:
        return header["at"], "expected a [name, value] pair of strings"
    if path.endswith(".headers"):
        return path, "expected a list of [name, value] pairs"
    if expected.startswith("int"):
        return path, "expected a non-negative integer"
    if expected.startswith("object"):
        return path, "expected a capture object"
    return None


class _Reader:
    """Turns one decoded capture object into a Capture; problems name the file and field."""

    def __init__(self, fields: _CaptureFields, name: str, prefix: str) -> None:
        self.fields = fields
        self.name = name
        self.prefix = prefix

    def fail(self, key: str, problem: str) -> RequestFileError:
        return field_error(self.name, f"{self.prefix}{key}", problem)

    def blob(self, key: str, text: str | None) -> bytes | None:
        if text is None:
            return None
        try:
            return decode_base64(text)
        except ValueError as error:
            raise self.fail(key, str(error)) from None

    def timestamp(self, key: str, text: str | None) -> datetime | None:
        if text is None:
            return None
        try:
            return parse_timestamp(text)
        except ValueError:
            raise self.fail(key, f"not an ISO 8601 timestamp: {text!r}") from None

    def capture(self) -> Capture:
        fields = self.fields
        if fields.schema is not None and fields.schema != CAPTURE_SCHEMA:
            raise self.fail("schema",
                            f"unsupported {fields.schema!r} (expected {CAPTURE_SCHEMA!r})")
        body = self.blob("body_base64", fields.body_base64) or b""
        body_size = fields.body_size
        if body_size is not None and body_size < len(body):
            raise self.fail("body_size",
                            f"{body_size} is smaller than the body ({len(body)} bytes)")
        if body_size is not None and not fields.truncated and body_size != len(body):
            raise self.fail("body_size", f"{body_size} differs from the body ({len(body)} bytes)")
        if fields.body_sha256 is not None and (
                fields.body_sha256.lower() != hashlib.sha256(body).hexdigest()):
            raise self.fail("body_sha256", "does not match body_base64 (remove body_sha256 "
                            "after editing the body)")
        for key in ("method", "path"):
            if not getattr(fields, key):
                raise self.fail(key, "missing (expected a non-empty string)")
        assert fields.method is not None and fields.path is not None
        request = CapturedRequest(
            method=fields.method,
            path=fields.path,
            query=fields.query or "",
            headers=tuple((wire_text(key), wire_text(value))
                          for key, value in fields.headers),
            body=body,
            http_version=fields.http_version or "1.1",
            body_size=body_size if body_size is not None else len(body),
            truncated=fields.truncated,
        )
        source = Source(fields.id, self.name, self.timestamp("received_at", fields.received_at),
                        fields.client, edited_from=fields.edited_from)
        reply_body = self.blob("response_body_base64", fields.response_body_base64)
        forward_body = self.blob("forward_body_base64", fields.forward_body_base64)
        reply = None
        if fields.response_status is not None or reply_body is not None:
            reply = Reply(fields.response_status, reply_body)
        forward = None
        if (fields.forward_status is not None or forward_body is not None
                or fields.forward_error is not None):
            headers = (None if fields.forward_headers is None else
                       tuple((wire_text(k), wire_text(v)) for k, v in fields.forward_headers))
            latency = (None if fields.forward_latency_ms is None
                       else fields.forward_latency_ms / 1000)
            forward = ForwardResult(fields.forward_status, forward_body, headers, latency,
                                    fields.forward_error)
        return Capture(request, source, reply, forward)


def capture_from_json(obj: object, name: str = "<json>", *, prefix: str = "") -> Capture:
    """The capture an export object describes; RequestFileError names the file and the bad field."""
    fields = convert_value(obj, _CaptureFields, name, _where(prefix), _problem)
    return _Reader(fields, name, prefix).capture()


def parse_capture_json(data: bytes, name: str = "<json>") -> list[Capture]:
    """An export file: one capture object or a list of them."""
    document = decode_file(data, _DOCUMENT, name, _where(""), _problem)
    if isinstance(document, list):
        return [_Reader(fields, name, f"[{index}].").capture()
                for index, fields in enumerate(document)]
    return [_Reader(document, name, "").capture()]
