"""A capture as a curl command that re-sends the exact bytes and headers (no Textual).

Bodies are quoted with bash's `$'...'` (every byte survives, including NUL-free binary) or,
when large, read from a file with `--data-binary @file`. Hop-by-hop headers and those curl
computes itself (Host, Content-Length) are left out.
"""

from __future__ import annotations

import shlex

from whdebug.models import CapturedRequest

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade", "host", "content-length",
    "expect",
})
INLINE_BODY_LIMIT = 64 * 1024
"""Bodies above this size are read from a file rather than quoted inline."""


def forwardable_headers(request: CapturedRequest) -> list[tuple[str, str]]:
    """The request's headers minus hop-by-hop ones, in order, duplicates kept."""
    return [(name, value) for name, value in request.headers if name.lower() not in HOP_BY_HOP]


def ansi_c_quote(data: bytes) -> str:
    """`$'...'` text that bash, zsh and ksh turn back into exactly `data`."""
    out = ["$'"]
    for byte in data:
        char = chr(byte)
        if char == "\\":
            out.append("\\\\")
        elif char == "'":
            out.append("\\'")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    out.append("'")
    return "".join(out)


def _quote_text(text: str) -> str:
    """Shell quoting for a header or URL string (latin-1 bytes on the wire)."""
    raw = text.encode("latin-1", errors="replace")
    if all(0x20 <= byte < 0x7F for byte in raw):
        return shlex.quote(text)
    return ansi_c_quote(raw)


def format_curl(request: CapturedRequest, base_url: str, *, body_file: str | None = None) -> str:
    """A multi-line curl command; `body_file` names a file holding the body (for big bodies)."""
    url = base_url.rstrip("/") + request.target
    parts = ["curl", "--silent", "--show-error", "--include"]
    has_body = bool(request.body)
    if request.method != ("POST" if has_body else "GET"):
        parts.append(f"--request {shlex.quote(request.method)}")
    for name, value in forwardable_headers(request):
        parts.append(f"--header {_quote_text(f'{name}: {value}')}")
    if body_file is not None:
        parts.append(f"--data-binary {shlex.quote('@' + body_file)}")
    elif has_body:
        parts.append(f"--data-binary {ansi_c_quote(request.body)}")
    if has_body and not request.has_header("content-type"):
        parts.append("--header 'Content-Type:'")
    parts.append(_quote_text(url))
    return " \\\n  ".join(parts) + "\n"


def needs_body_file(request: CapturedRequest) -> bool:
    """True when the body is too large (or holds NUL bytes, which $'...' cannot) to inline."""
    return len(request.body) > INLINE_BODY_LIMIT or b"\x00" in request.body
