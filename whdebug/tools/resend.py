"""Re-sending a capture: which headers travel, where it goes, and the httpx call itself."""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from whdebug.errors import WhdebugError
from whdebug.model.request import CapturedRequest, forwardable_headers
from whdebug.model.secrecy import SecretSet

__all__ = ["Answer", "answer_differences", "forwardable_headers", "resend", "resend_all",
           "target_url", "why_unreachable"]

TIMEOUT = 15.0
"""Seconds the target may take to answer."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What the target sent back."""

    url: str
    http_version: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    elapsed: float
    """Seconds from sending to the whole answer."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def target_url(url: str, request: CapturedRequest, masks: SecretSet | None = None) -> str:
    """`url` with the capture's path when it names none, and the capture's query appended.

    An error shows `url` through `masks` (default: credential-looking parameters masked).
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        shown = (masks if masks is not None else SecretSet()).mask_target(url)
        raise WhdebugError(f"expected an http:// or https:// URL, got {shown!r}")
    path = parts.path if parts.path not in ("", "/") else request.path
    query = "&".join(item for item in (parts.query, request.query) if item)
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def _why(error: Exception) -> str:
    """A connection failure in words an integrator acts on."""
    return why_unreachable(error, TIMEOUT)


def why_unreachable(error: BaseException, timeout: float, listener: str = "anything") -> str:
    """Why a request got no answer, in words an integrator acts on: "connection refused (is
    anything listening there?)", "unknown host", "no answer within 15 s". httpx's async
    client says only "All connection attempts failed": the refusal is in its cause."""
    import httpx

    if isinstance(error, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    if isinstance(error, httpx.ConnectError):
        cause: BaseException | None = error
        while cause is not None:
            if isinstance(cause, ConnectionRefusedError) or (
                    isinstance(cause, OSError) and cause.errno in (errno.ECONNREFUSED,)):
                return f"connection refused (is {listener} listening there?)"
            cause = cause.__cause__ or cause.__context__
        text = str(error).lower()
        if "refused" in text or "errno 111" in text or "errno 61" in text:
            return f"connection refused (is {listener} listening there?)"
        if "name or service not known" in text or "nodename nor servname" in text:
            return "unknown host"
        return f"cannot connect ({error})" if str(error) else "cannot connect"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def resend(request: CapturedRequest, url: str, *, timeout: float = TIMEOUT,
           masks: SecretSet | None = None) -> Answer:
    """Send the capture's exact body and forwardable headers; WhdebugError if nothing answers.

    httpx adds only Host and Content-Length (its default headers are removed); redirects
    are not followed and proxy settings from the environment are ignored, so what arrives
    is what was captured. An error shows the URL through `masks` (default: credential-looking
    query parameters masked).
    """
    return resend_all(request, url, 1, timeout=timeout, masks=masks)[0]


def resend_all(request: CapturedRequest, url: str, times: int, *, timeout: float = TIMEOUT,
               masks: SecretSet | None = None) -> list[Answer]:
    """`resend` `times` times in a row, through one client (`send --repeat`).

    Each answer's `elapsed` runs from sending its request to its whole answer. Building the
    client is not part of it: that loads the CA certificates (20 to 120 ms), and a re-send
    to an app on loopback that curl times at 2 ms read "200 in 111 ms".
    """
    import httpx

    destination = target_url(url, request, masks)
    shown = (masks if masks is not None else SecretSet()).mask_target(destination)
    headers = [(name.encode("latin-1"), value.encode("latin-1"))
               for name, value in forwardable_headers(request)]
    answers = []
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            for name in list(client.headers.keys()):
                del client.headers[name]
            for _ in range(times):
                started = time.perf_counter()
                response = client.request(request.method, destination, headers=headers,
                                          content=request.body)
                answers.append(_answer(destination, response, time.perf_counter() - started))
    except httpx.HTTPError as error:
        raise WhdebugError(f"cannot send to {shown}: {_why(error)}") from None
    except (ValueError, UnicodeError) as error:
        raise WhdebugError(f"cannot send to {shown}: {error}") from None
    return answers


def _answer(url: str, response: Any, elapsed: float) -> Answer:
    return Answer(
        url=url,
        http_version=response.http_version,
        status=response.status_code,
        reason=response.reason_phrase,
        headers=tuple((name.decode("latin-1"), value.decode("latin-1"))
                      for name, value in response.headers.raw),
        body=response.content,
        elapsed=elapsed,
    )


VOLATILE_HEADERS = frozenset({"date", "age", "expires", "last-modified", "etag",
                              "x-request-id", "x-correlation-id", "request-id",
                              "server-timing", "x-runtime", "x-response-time", "traceparent",
                              "cf-ray", "x-amzn-requestid", "x-amz-cf-id", "set-cookie",
                              "content-length"})
"""Answer headers that change on every request; `--repeat` does not compare them."""


def answer_differences(first: Answer, other: Answer) -> list[str]:
    """How `other` differs from `first` (status, body, stable headers); [] when the same."""
    found: list[str] = []
    if other.status != first.status:
        found.append(f"status {first.status} then {other.status}")
    if other.body != first.body:
        found.append(f"body {len(first.body):,} bytes then {len(other.body):,} bytes"
                     if len(first.body) != len(other.body) else "body bytes differ")

    def stable(answer: Answer) -> list[tuple[str, str]]:
        return [(name.lower(), value) for name, value in answer.headers
                if name.lower() not in VOLATILE_HEADERS]

    before, after = stable(first), stable(other)
    if before != after:
        changed = sorted({name for name, _ in set(before) ^ set(after)})
        found.append("headers " + ", ".join(changed[:6]) if changed else "header order")
    return found
