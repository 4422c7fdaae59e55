"""Curl commands for the TUI's copy and export: the shared `whdebug.formats.curl`, with big bodies
sent from a file so the clipboard stays small (no Textual)."""

from __future__ import annotations

from whdebug.formats import curl
from whdebug.formats.curl import ansi_c_quote
from whdebug.model.request import CapturedRequest, forwardable_headers

__all__ = ["INLINE_BODY_LIMIT", "ansi_c_quote", "format_curl", "forwardable_headers",
           "needs_body_file"]

INLINE_BODY_LIMIT = 64 * 1024
"""Bodies above this size are read from a file rather than quoted inline."""


def format_curl(request: CapturedRequest, base_url: str, *, body_file: str | None = None) -> str:
    """A multi-line bash curl command sending the capture to `base_url` + its path and query."""
    return curl.format_curl(request, base_url.rstrip("/") + request.target, body_file=body_file)


def needs_body_file(request: CapturedRequest) -> bool:
    """True when the body is too large (or holds NUL bytes, which $'...' cannot) to inline."""
    return len(request.body) > INLINE_BODY_LIMIT or not curl.can_inline(request)
