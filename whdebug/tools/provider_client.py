"""Send a source's request with httpx (bounded, same-host redirects only) and read the answer."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import msgspec

from whdebug.engine.report import Finding, diagnosis
from whdebug.model.definition import Definition
from whdebug.model.secrecy import MASK, SecretSet
from whdebug.tools.sources import (
    Option,
    OptionsResult,
    ResolvedRequest,
    empty_placeholder_findings,
    extract_options,
    unauthorized_finding,
)

MAX_BODY = 5 * 1024 * 1024
"""Read at most this much of a response; a dropdown source larger than this is a problem too."""
MAX_REDIRECTS = 5
PREVIEW_CHARS = 600
_AUTH_ERROR = re.compile(r"auth|token|unauthori[sz]ed|forbidden|credential|permission|scope",
                         re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class CallResult:
    """What came back, or why nothing did."""

    status: int | None
    reason: str
    elapsed: float
    """Seconds until the last response (or the failure)."""
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool
    final_url: str
    redirects: tuple[str, ...]
    """Same-host Location targets that were followed."""
    blocked_redirect: str | None
    """A Location on another host, not followed (it would carry the credentials elsewhere)."""
    error: str | None
    """timeout | connection: the request got no answer."""
    detail: str = ""
    invalid_redirect: tuple[str, str] | None = None
    """A Location no client can follow (a port out of range, no host): (location, why)."""


def send_request(request: ResolvedRequest, *, timeout: float,
                 transport: httpx.BaseTransport | None = None) -> CallResult:
    """Send `request`; follow redirects only to the same scheme, host and port."""
    started = time.monotonic()
    url = request.url
    followed: list[str] = []
    method, body = request.method, request.body
    locations: list[str | None] = []

    def set_aside_location(response: httpx.Response) -> None:
        # httpx parses a Location even when not following it, and raises on a bad one
        # (a port out of range): it is taken out here and judged below.
        locations.append(response.headers.get("location"))
        response.headers.pop("location", None)

    with httpx.Client(timeout=timeout, follow_redirects=False, transport=transport,
                      event_hooks={"response": [set_aside_location]}) as client:
        while True:
            locations.clear()
            try:
                with client.stream(method, url, headers=list(request.headers),
                                   content=body) as response:
                    location = locations[-1] if locations else None
                    if location is not None:
                        response.headers["location"] = location
                    content, truncated = _read(response, started + timeout * 3)
            except httpx.TimeoutException as error:
                return _failure("timeout", url, followed, started, type(error).__name__)
            except (httpx.TransportError, httpx.InvalidURL) as error:
                return _failure("connection", url, followed, started, str(error))
            if response.is_redirect and location:
                target, why = _redirect_target(url, location)
                if why is not None:
                    return replace(_result(response, content, truncated, url, followed,
                                           started, None), invalid_redirect=(location, why))
                if _origin(target) != _origin(url):
                    return _result(response, content, truncated, url, followed, started, target)
                if len(followed) >= MAX_REDIRECTS:
                    return _result(response, content, truncated, url, followed, started, None)
                followed.append(target)
                url = target
                if response.status_code == 303 or (response.status_code in (301, 302)
                                                   and method == "POST"):
                    method, body = "GET", None
                continue
            return _result(response, content, truncated, url, followed, started, None)


def _read(response: httpx.Response, deadline: float) -> tuple[bytes, bool]:
    """The body, at most MAX_BODY bytes; a body still dripping at `deadline` is a timeout."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            return b"".join(chunks)[:MAX_BODY], True
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the body did not finish in time")
    return b"".join(chunks), False


def _redirect_target(url: str, location: str) -> tuple[str, str | None]:
    """The URL a Location points to, or why no client could follow it."""
    try:
        target = urljoin(url, location)
        parts = urlsplit(target)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError as error:
        return location, str(error) or "not a URL"
    if parts.scheme not in ("http", "https"):
        return target, f"not an http(s) URL (scheme {parts.scheme or 'missing'!r})"
    if not parts.hostname:
        return target, "no host"
    return target, None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _result(response: httpx.Response, content: bytes, truncated: bool, url: str,
            followed: list[str], started: float, blocked: str | None) -> CallResult:
    return CallResult(response.status_code, response.reason_phrase,
                      time.monotonic() - started, tuple(response.headers.items()), content,
                      truncated, url, tuple(followed), blocked, None)


def _failure(kind: str, url: str, followed: list[str], started: float,
             detail: str) -> CallResult:
    return CallResult(None, "", time.monotonic() - started, (), b"", False, url,
                      tuple(followed), None, kind, detail)


# --- a source call, interpreted -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceCall:
    """A source request sent for real: what was sent (masked), what came back, the options."""

    request: ResolvedRequest
    result: CallResult
    options: OptionsResult | None
    findings: tuple[Finding, ...]

    def shown_url(self) -> str:
        return self.request.secrets.mask(self.request.url)

    def shown_headers(self) -> list[tuple[str, str]]:
        """Request headers as printed: Authorization keeps only its scheme, secrets masked."""
        shown = []
        for name, value in self.request.headers:
            if name.lower() in ("authorization", "proxy-authorization", "cookie"):
                scheme, _, rest = value.partition(" ")
                value = f"{scheme} {MASK}" if rest else MASK
            shown.append((name, self.request.secrets.mask(value)))
        return shown

    def preview(self, limit: int = PREVIEW_CHARS) -> str:
        text = self.result.body.decode("utf-8", "replace")
        cut = text[:limit] + (f"… ({len(self.result.body)} bytes)" if len(text) > limit else "")
        return self.request.secrets.mask(cut)

    def document(self) -> CallDocument:
        """What was sent and what came back, as `source --call --json` shows it (masked)."""
        result, secrets = self.result, self.request.secrets
        placeholders = tuple(PlaceholderUse(p.text, p.where, p.resolved_from)
                             for p in self.request.placeholders)
        return CallDocument(
            SentRequest(self.request.method, self.shown_url(), tuple(self.shown_headers()),
                        placeholders),
            ReceivedResponse(result.status, result.reason, round(result.elapsed * 1000),
                             tuple(secrets.mask(url) for url in result.redirects),
                             result.error, self.preview()))


@dataclass(frozen=True, slots=True)
class PlaceholderUse:
    text: str
    where: str
    resolved_from: str | None


@dataclass(frozen=True, slots=True)
class SentRequest:
    """The request as shown: secrets masked, Authorization reduced to its scheme."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    placeholders: tuple[PlaceholderUse, ...]


@dataclass(frozen=True, slots=True)
class ReceivedResponse:
    status: int | None
    reason: str
    elapsed_ms: int
    redirects: tuple[str, ...]
    error: str | None
    body_preview: str


@dataclass(frozen=True, slots=True)
class CallDocument:
    """The `request` and `response` members of `whdebug.source/1` in call mode."""

    request: SentRequest
    response: ReceivedResponse


def call_source(definition: Definition, spec: Mapping[str, Any], pointer: str,
                request: ResolvedRequest, *, timeout: float,
                transport: httpx.BaseTransport | None = None) -> SourceCall:
    """Send the source request and say what the dropdown would show, or why not."""
    findings = empty_placeholder_findings(definition, request)
    result = send_request(request, timeout=timeout, transport=transport)
    options: OptionsResult | None = None
    host = urlsplit(request.url).hostname or request.url
    if result.error == "timeout":
        findings.append(diagnosis(
            "SRC_TIMEOUT", f"{host} gave no complete answer within {timeout:g} s: the runtime's "
            "call would fail too and the dropdown stays empty", "check the URL and the "
            "provider's status (raise --timeout to measure it), and keep \"x-fallback\": "
            "\"input\" on the fields that use this source", step="source"))
    elif result.error == "connection":
        findings.append(diagnosis(
            "SRC_CONNECTION", f"could not reach {host}: {request.secrets.mask(result.detail)}",
            "check the host name and port in the source URL", step="source",
            pointer=f"{pointer}/url"))
    else:
        options = _interpret(definition, spec, pointer, request, result, findings)
    return SourceCall(request, result, options, tuple(findings))


def _masked(options: OptionsResult, secrets: SecretSet) -> OptionsResult:
    """The options and findings with any secret the provider echoed back masked."""
    findings = tuple(msgspec.structs.replace(f, message=secrets.mask(f.message),
                                             fix=secrets.mask(f.fix) if f.fix else f.fix)
                     for f in options.findings)
    shown = tuple(Option(secrets.mask(o.value), secrets.mask(o.label))
                  for o in options.options)
    return replace(options, options=shown, findings=findings)


def _interpret(definition: Definition, spec: Mapping[str, Any], pointer: str,
               request: ResolvedRequest, result: CallResult,
               findings: list[Finding]) -> OptionsResult | None:
    status = result.status or 0
    if result.invalid_redirect is not None:
        location, why = result.invalid_redirect
        shown = request.secrets.mask_target(location.strip())
        findings.append(diagnosis(
            "SRC_REDIRECT_INVALID", f"the provider answered {status} with a redirect that "
            f"cannot be followed (Location: {shown!r}: {why}); the runtime's call fails too "
            "and the dropdown stays empty", "put the final URL in the source (scheme, host "
            "and path), or fix the provider's redirect", step="source",
            pointer=f"{pointer}/url"))
        return None
    if result.blocked_redirect is not None:
        target = urlsplit(result.blocked_redirect)
        findings.append(diagnosis(
            "SRC_REDIRECT_BLOCKED", f"the provider answered {status} with a redirect to another "
            f"host ({target.hostname}): not followed, since it would carry the credentials there",
            "put the final URL in the source (scheme, host and path)", step="source",
            pointer=f"{pointer}/url"))
        return None
    if status in (401, 403):
        findings.append(unauthorized_finding(definition, request, status))
    elif status >= 300:
        findings.append(diagnosis(
            "SRC_HTTP_STATUS", f"the provider answered {status} {result.reason}: the dropdown "
            "gets no data", "check the method, URL and query parameters against the provider's "
            "API reference (the body above usually says what is wrong)", step="source",
            pointer=f"{pointer}/url"))
    if status >= 300:
        return None
    try:
        document = json.loads(result.body)
    except (ValueError, UnicodeDecodeError):
        findings.append(diagnosis(
            "SRC_NOT_JSON", "the response is not JSON: dataPath, valueField and labelField "
            "cannot be applied", "point the source at the provider's JSON API", step="source",
            pointer=f"{pointer}/url"))
        return None
    options = _masked(extract_options(spec, document, pointer=pointer), request.secrets)
    if any(f.code == "SRC_ERROR_BODY" for f in options.findings) and _AUTH_ERROR.search(
            result.body.decode("utf-8", "replace")):
        findings.append(unauthorized_finding(definition, request, status))
    return options
