"""`--forward-to`: relay each capture's exact bytes to another URL and record its answer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from whdebug.model.request import CapturedRequest
from whdebug.store.writer import CaptureWriter, describe_error
from whdebug.tools.resend import why_unreachable

FORWARD_TIMEOUT = 10.0
"""Seconds a --forward-to target may take to answer before the relay is recorded as failed."""
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length",
})
"""Headers not relayed: per-connection ones, and those httpx recomputes."""

_log = logging.getLogger("whdebug.receiver.app")


@dataclass(frozen=True, slots=True)
class ForwardEvent:
    """What the --forward-to target answered for one capture."""

    capture_id: int
    url: str
    status: int | None
    error: str | None
    latency: float | None = None
    """Seconds from relaying to the app's whole answer."""


def forward_url(base: str, query: str) -> str:
    """The target URL with the capture's query string appended."""
    if not query:
        return base
    return f"{base}{'&' if '?' in base else '?'}{query}"


class Relay:
    """Relays run as tasks after the answer; `aclose` lets them finish (bounded)."""

    def __init__(self, writer: CaptureWriter) -> None:
        self.writer = writer
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, capture_id: int, request: CapturedRequest, base_url: str,
             on_forward: Callable[[ForwardEvent], None] | None) -> None:
        """Relay the capture in the background (call on the event loop)."""
        task = asyncio.get_running_loop().create_task(
            self._forward(capture_id, request, base_url, on_forward))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forward(self, capture_id: int, request: CapturedRequest, base_url: str,
                       on_forward: Callable[[ForwardEvent], None] | None) -> None:
        """Relay the exact body and original headers; record the answer or the failure."""
        url = forward_url(base_url, request.query)
        status: int | None = None
        answer: bytes | None = None
        answer_headers: tuple[tuple[str, str], ...] | None = None
        latency: float | None = None
        error: str | None = None
        if request.truncated:
            error = "not forwarded: the body was truncated (over --max-body)"
        else:
            headers = [(name.encode("latin-1"), value.encode("latin-1"))
                       for name, value in request.headers if name.lower() not in _HOP_BY_HOP]
            started = time.perf_counter()
            try:
                response = await self._relay_client().request(
                    request.method, url, content=request.body, headers=headers)
                status, answer = response.status_code, response.content
                answer_headers = tuple((name.decode("latin-1"), value.decode("latin-1"))
                                       for name, value in response.headers.raw)
                latency = time.perf_counter() - started
            except httpx.HTTPError as failure:  # a down target is recorded, not fatal
                error = why_unreachable(failure, FORWARD_TIMEOUT, "your app")
            except Exception as failure:  # a misconfigured target too
                error = describe_error(failure)
        try:
            await self.writer.call(lambda store: store.set_forward(
                capture_id, status, answer, error, answer_headers, latency))
        except Exception as failure:
            _log.warning("forward result for #%d not stored: %s", capture_id,
                         describe_error(failure))
        if on_forward is not None:
            try:
                on_forward(ForwardEvent(capture_id, url, status, error, latency))
            except Exception as failure:
                _log.warning("forward callback failed: %s", describe_error(failure))

    def _relay_client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=FORWARD_TIMEOUT, trust_env=False)
            # Send only the original headers (httpx adds Host and Content-Length itself).
            for name in list(self._client.headers.keys()):
                del self._client.headers[name]
        return self._client

    async def aclose(self, timeout: float) -> None:
        """Let pending relays finish (bounded), then close the client."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
