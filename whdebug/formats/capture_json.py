"""The `whdebug export --format json` capture object: every field of a capture, bodies as base64."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from whdebug.errors import RequestFileError
from whdebug.formats._fields import JsonFields
from whdebug.model.request import CapturedRequest

CAPTURE_SCHEMA = "whdebug.capture/1"


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a `Z`; a naive datetime is taken as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


def parse_timestamp(text: str) -> datetime:
    """An aware UTC datetime from ISO 8601 text (`Z` or any offset; naive means UTC)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def wire_text(value: str) -> str:
    """A header string in the latin-1 convention; text beyond latin-1 becomes its UTF-8 bytes."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8").decode("latin-1")
    return value


def decode_base64(text: str) -> bytes:
    """Strict base64 (raises ValueError on any character outside the alphabet)."""
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as error:
        raise ValueError(f"invalid base64: {error}") from None


def _encode_base64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def capture_to_json(request: CapturedRequest) -> dict[str, Any]:
    """Every field of a capture as a JSON-ready dict (bodies base64, headers as [[name, value]])."""
    received_at = request.received_at
    return {
        "schema": CAPTURE_SCHEMA,
        "id": request.capture_id,
        "received_at": format_timestamp(received_at) if received_at is not None else None,
        "client": request.client,
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "http_version": request.http_version,
        "headers": [[name, value] for name, value in request.headers],
        "body_base64": _encode_base64(request.body),
        "body_size": request.size,
        "truncated": request.truncated,
        "response_status": request.response_status,
        "response_body_base64": _encode_base64(request.response_body),
        "forward_status": request.forward_status,
        "forward_body_base64": _encode_base64(request.forward_body),
        "body_sha256": request.body_sha256,
    }


class _Fields(JsonFields):
    """Typed access to one JSON object's fields; every problem names the file and the field."""

    def __init__(self, obj: dict[str, Any], name: str, prefix: str) -> None:
        super().__init__(obj, name)
        self.prefix = prefix

    def where(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def required(self, key: str) -> str:
        value = self.text(key)
        if not value:
            raise self.fail(key, "missing (expected a non-empty string)")
        return value

    def integer(self, key: str, *, non_negative: bool = True) -> int | None:
        return super().integer(key, non_negative=non_negative)

    def flag(self, key: str) -> bool:
        value = self.obj.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(key, "expected true or false")
        return value

    def blob(self, key: str) -> bytes | None:
        text = self.text(key)
        if text is None:
            return None
        try:
            return decode_base64(text)
        except ValueError as error:
            raise self.fail(key, str(error)) from None

    def timestamp(self, key: str) -> datetime | None:
        text = self.text(key)
        if text is None:
            return None
        try:
            return parse_timestamp(text)
        except ValueError:
            raise self.fail(key, f"not an ISO 8601 timestamp: {text!r}") from None

    def headers(self, key: str) -> tuple[tuple[str, str], ...]:
        value = self.obj.get(key, [])
        if not isinstance(value, list):
            raise self.fail(key, "expected a list of [name, value] pairs")
        pairs: list[tuple[str, str]] = []
        for index, pair in enumerate(value):
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not all(isinstance(part, str) for part in pair)
            ):
                raise self.fail(f"{key}[{index}]", "expected a [name, value] pair of strings")
            pairs.append((wire_text(pair[0]), wire_text(pair[1])))
        return tuple(pairs)


def capture_from_json(obj: object, name: str = "<json>", *, prefix: str = "") -> CapturedRequest:
    """The capture an export object describes; RequestFileError names the file and the bad field."""
    if not isinstance(obj, dict):
        raise RequestFileError(f"{name}: {prefix or 'top level'}: expected a capture object")
    fields = _Fields(obj, name, prefix)
    schema = fields.text("schema")
    if schema is not None and schema != CAPTURE_SCHEMA:
        raise fields.fail("schema", f"unsupported {schema!r} (expected {CAPTURE_SCHEMA!r})")
    body = fields.blob("body_base64") or b""
    truncated = fields.flag("truncated")
    body_size = fields.integer("body_size")
    if body_size is not None and body_size < len(body):
        raise fields.fail("body_size", f"{body_size} is smaller than the body ({len(body)} bytes)")
    if body_size is not None and not truncated and body_size != len(body):
        raise fields.fail("body_size", f"{body_size} differs from the body ({len(body)} bytes)")
    sha256 = fields.text("body_sha256")
    if sha256 is not None and sha256.lower() != hashlib.sha256(body).hexdigest():
        raise fields.fail(
            "body_sha256", "does not match body_base64 (remove body_sha256 after editing the body)"
        )
    return CapturedRequest(
        method=fields.required("method"),
        path=fields.required("path"),
        query=fields.text("query", "") or "",
        headers=fields.headers("headers"),
        body=body,
        http_version=fields.text("http_version", "1.1") or "1.1",
        body_size=body_size if body_size is not None else len(body),
        truncated=truncated,
        received_at=fields.timestamp("received_at"),
        client=fields.text("client"),
        capture_id=fields.integer("id"),
        file=name,
        response_status=fields.integer("response_status"),
        response_body=fields.blob("response_body_base64"),
        forward_status=fields.integer("forward_status"),
        forward_body=fields.blob("forward_body_base64"),
    )


def parse_capture_json(data: bytes, name: str = "<json>") -> list[CapturedRequest]:
    """An export file: one capture object or a list of them."""
    try:
        document = json.loads(data)
    except json.JSONDecodeError as error:
        raise RequestFileError(f"{name}:{error.lineno}:{error.colno}: {error.msg}") from None
    except UnicodeDecodeError:
        raise RequestFileError(f"{name}: not UTF-8 JSON") from None
    if isinstance(document, list):
        return [
            capture_from_json(item, name, prefix=f"[{index}].")
            for index, item in enumerate(document)
        ]
    return [capture_from_json(document, name)]
