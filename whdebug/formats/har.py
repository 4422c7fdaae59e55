"""HAR 1.2 import and export of requests, bodies as base64 so every byte survives."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from whdebug import __version__
from whdebug.errors import RequestFileError
from whdebug.formats._fields import JsonFields
from whdebug.formats.capture_json import decode_base64, format_timestamp, parse_timestamp, wire_text
from whdebug.model.request import CapturedRequest

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Entry(JsonFields):
    """Typed access to one HAR object; every problem names the file and the JSON location."""

    def __init__(self, obj: object, name: str, where: str) -> None:
        if not isinstance(obj, dict):
            raise RequestFileError(f"{name}: {where}: expected an object")
        super().__init__(obj, name)
        self.path = where

    def where(self, key: str) -> str:
        return f"{self.path}.{key}"

    def child(self, key: str) -> _Entry | None:
        value = self.obj.get(key)
        return None if value is None else _Entry(value, self.name, self.where(key))

    def listing(self, key: str) -> list[Any]:
        value = self.obj.get(key, [])
        if not isinstance(value, list):
            raise self.fail(key, "expected a list")
        return value

    def content(self, key: str, text_key: str = "text") -> bytes | None:
        """postData / response.content bytes: base64 when `encoding` says so, else UTF-8 text."""
        holder = self.child(key)
        if holder is None:
            return None
        text = holder.text(text_key)
        if text is None:
            if holder.obj.get("params"):
                raise holder.fail("params", "form params without 'text' are not supported")
            return None
        encoding = holder.text("encoding")
        if encoding is None or encoding == "":
            return text.encode("utf-8")
        if encoding != "base64":
            raise holder.fail("encoding", f"unsupported {encoding!r} (expected 'base64')")
        try:
            return decode_base64(text)
        except ValueError as error:
            raise holder.fail(text_key, str(error)) from None


def split_url(url: str) -> tuple[str, str]:
    """Raw path and raw query of an absolute or origin-form URL, with no decoding at all."""
    target = url
    match = _SCHEME.match(url)
    if match:
        rest = url[match.end() :]
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
        target = rest[cut:]
    elif not url.startswith(("/", "*")):
        raise ValueError("expected an absolute URL or a path starting with '/'")
    path, _, query = target.partition("?")
    return path or "/", query


def _http_version(text: str) -> str:
    version = text.strip()
    lowered = version.lower()
    if lowered.startswith("http/"):
        version = version[5:]
    elif lowered in ("h2", "h3"):
        version = lowered[1:]
    return version or "1.1"


def _parse_entry(obj: object, name: str, where: str) -> CapturedRequest:
    entry = _Entry(obj, name, where)
    request = entry.child("request")
    if request is None:
        raise entry.fail("request", "missing")
    method = request.text("method")
    if not method:
        raise request.fail("method", "missing")
    url = request.text("url")
    if url is None:
        raise request.fail("url", "missing")
    try:
        path, query = split_url(url)
    except ValueError as error:
        raise request.fail("url", f"{error}: {url!r}") from None
    headers: list[tuple[str, str]] = []
    for index, item in enumerate(request.listing("headers")):
        header = _Entry(item, name, f"{request.path}.headers[{index}]")
        header_name = header.text("name")
        if not header_name:
            raise header.fail("name", "missing")
        if header_name.startswith(":"):
            continue  # HTTP/2 pseudo-headers (:authority, :path) are not request headers
        headers.append((wire_text(header_name), wire_text(header.text("value", "") or "")))
    body = request.content("postData") or b""

    started = entry.text("startedDateTime")
    try:
        received_at = parse_timestamp(started) if started else None
    except ValueError:
        raise entry.fail("startedDateTime", f"not an ISO 8601 timestamp: {started!r}") from None

    response = entry.child("response")
    response_status = response.integer("status") if response is not None else None
    response_body = response.content("content") if response is not None else None

    extension = entry.child("_whdebug")
    capture_id = extension.integer("capture_id") if extension is not None else None
    body_size = extension.integer("body_size") if extension is not None else None
    truncated = extension.obj.get("truncated") is True if extension is not None else False
    client = extension.text("client") if extension is not None else None
    return CapturedRequest(
        method=method,
        path=path,
        query=query,
        headers=tuple(headers),
        body=body,
        http_version=_http_version(request.text("httpVersion", "") or ""),
        body_size=body_size if body_size is not None and body_size >= len(body) else len(body),
        truncated=truncated,
        received_at=received_at,
        client=client,
        capture_id=capture_id,
        file=name,
        response_status=response_status or None,  # HAR writes 0 for "no response"
        response_body=response_body,
    )


def parse_har(data: bytes, name: str = "<har>") -> list[CapturedRequest]:
    """Every entry's request; bad JSON or a bad HAR structure raises RequestFileError."""
    try:
        document = json.loads(data)
    except json.JSONDecodeError as error:
        raise RequestFileError(f"{name}:{error.lineno}:{error.colno}: {error.msg}") from None
    except UnicodeDecodeError:
        raise RequestFileError(f"{name}: not UTF-8 JSON") from None
    root = _Entry(document, name, "$")
    log = root.child("log")
    if log is None:
        raise root.fail("log", "missing (not a HAR file)")
    return [
        _parse_entry(item, name, f"$.log.entries[{index}]")
        for index, item in enumerate(log.listing("entries"))
    ]


def _har_url(request: CapturedRequest) -> str:
    host = request.header("host") or ""
    if not host or any(char in host for char in "/?# \t"):
        host = "localhost"  # a hostile Host value must not shift the path on re-import
    return f"http://{host}{request.target}"


def _har_entry(request: CapturedRequest) -> dict[str, Any]:
    http_version = f"HTTP/{request.http_version}"
    har_request: dict[str, Any] = {
        "method": request.method,
        "url": _har_url(request),
        "httpVersion": http_version,
        "cookies": [],
        "headers": [{"name": name, "value": value} for name, value in request.headers],
        "queryString": [{"name": key, "value": value} for key, value in request.query_pairs()],
        "headersSize": -1,
        "bodySize": len(request.body),
    }
    if request.body:
        har_request["postData"] = {
            "mimeType": request.content_type or "",
            "text": base64.b64encode(request.body).decode("ascii"),
            "encoding": "base64",
        }
    response_body = request.response_body
    content: dict[str, Any] = {"size": len(response_body or b""), "mimeType": ""}
    if response_body is not None:
        content["text"] = base64.b64encode(response_body).decode("ascii")
        content["encoding"] = "base64"
    received_at = request.received_at or _EPOCH
    return {
        "startedDateTime": format_timestamp(received_at),
        "time": 0,
        "request": har_request,
        "response": {
            "status": request.response_status or 0,
            "statusText": "",
            "httpVersion": http_version,
            "cookies": [],
            "headers": [],
            "content": content,
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1 if response_body is None else len(response_body),
        },
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
        "_whdebug": {
            "capture_id": request.capture_id,
            "truncated": request.truncated,
            "body_size": request.size,
            "client": request.client,
        },
    }


def format_har(requests: Iterable[CapturedRequest]) -> bytes:
    """A HAR 1.2 document (UTF-8 JSON) with one entry per request."""
    document = {
        "log": {
            "version": "1.2",
            "creator": {"name": "whdebug", "version": __version__},
            "entries": [_har_entry(request) for request in requests],
        }
    }
    return json.dumps(document, indent=2).encode("utf-8") + b"\n"
