"""Re-send a capture's exact body and headers to a URL with httpx (no Textual)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from whdebug.models import CapturedRequest
from whdebug.tui.curl import forwardable_headers

_SHOWN_BODY = 16 * 1024


@dataclass(frozen=True, slots=True)
class ResendResult:
    url: str
    status: int | None
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    """The start of the answer's body (at most 16 KiB)."""
    elapsed: float
    error: str | None = None


def target_url(url: str, request: CapturedRequest) -> str:
    """`url` as given, or with the capture's path and query when it names only a host."""
    parts = urlsplit(url)
    if parts.path in ("", "/") and not parts.query:
        return url.rstrip("/") + request.target
    return url


def resend(request: CapturedRequest, url: str, *, timeout: float = 15.0) -> ResendResult:
    """Send the capture; never raises (a failure is described in `error`)."""
    destination = target_url(url.strip(), request)
    parts = urlsplit(destination)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ResendResult(destination, None, "", (), b"", 0.0,
                            "not an http(s) URL (e.g. http://localhost:3000/hook)")
    headers = [(name.encode("latin-1"), value.encode("latin-1"))
               for name, value in forwardable_headers(request)]
    started = time.perf_counter()
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            answer = client.request(request.method, destination, headers=headers,
                                    content=request.body)
    except httpx.HTTPError as error:
        return ResendResult(destination, None, "", (), b"", time.perf_counter() - started,
                            f"{type(error).__name__}: {error}")
    except (ValueError, UnicodeError) as error:
        return ResendResult(destination, None, "", (), b"", time.perf_counter() - started,
                            f"cannot send: {error}")
    return ResendResult(
        destination, answer.status_code, answer.reason_phrase,
        tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in answer.headers.raw),
        answer.content[:_SHOWN_BODY], time.perf_counter() - started)
