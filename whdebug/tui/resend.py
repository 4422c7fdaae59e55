"""Re-send for the TUI: `whdebug.tools.resend`, turned into a result that never raises."""

from __future__ import annotations

import time
from dataclasses import dataclass

from whdebug.errors import WhdebugError
from whdebug.model.request import CapturedRequest
from whdebug.tools import resend as sending

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


def resend(request: CapturedRequest, url: str, *, timeout: float = 15.0) -> ResendResult:
    """Send the capture's exact bytes and headers; a failure is described in `error`."""
    started = time.perf_counter()
    try:
        answer = sending.resend(request, url.strip(), timeout=timeout)
    except WhdebugError as error:
        return ResendResult(url.strip(), None, "", (), b"", time.perf_counter() - started,
                            error.message)
    return ResendResult(answer.url, answer.status, answer.reason, answer.headers,
                        answer.body[:_SHOWN_BODY], answer.elapsed)
