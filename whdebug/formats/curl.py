"""A capture as a bash `curl` command that re-sends its exact bytes and headers.

The body travels as `--data-binary @FILE`, or inline in bash's `$'...'` quoting, which turns
every byte except NUL back into itself. Headers curl would add on its own (User-Agent,
Accept, a form Content-Type, Expect) are suppressed when the capture did not have them.
"""

from __future__ import annotations

import os
import shlex

from whdebug.errors import WhdebugError
from whdebug.model.request import CapturedRequest, forwardable_headers

_ESCAPES = {0x5C: "\\\\", 0x27: "\\'", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
_CURL_ADDS = ("User-Agent", "Accept")
"""Headers curl sends on every request unless told `--header 'Name:'`."""


class CurlError(WhdebugError, ValueError):
    """A request no curl command can send (a NUL byte outside the body); one line for the user."""


def ansi_c_quote(data: bytes) -> str:
    """`$'...'` text that bash, zsh and ksh turn back into exactly `data` (which holds no NUL)."""
    if b"\x00" in data:
        raise ValueError("a shell word cannot hold a NUL byte")
    out = ["$'"]
    for byte in data:
        escape = _ESCAPES.get(byte)
        if escape is not None:
            out.append(escape)
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    out.append("'")
    return "".join(out)


def shell_word(raw: bytes) -> str:
    """Shell quoting for one argument: plain '...' for printable ASCII, else $'...'."""
    if all(0x20 <= byte < 0x7F for byte in raw):
        return shlex.quote(raw.decode("ascii"))
    return ansi_c_quote(raw)


def can_inline(request: CapturedRequest) -> bool:
    """False when the body holds a NUL byte, which no shell argument can carry."""
    return b"\x00" not in request.body


def sends_body(request: CapturedRequest) -> bool:
    """Whether the command carries a body (an empty one too when Content-Length was sent)."""
    return bool(request.body) or request.has_header("content-length")


def _wire(text: str) -> bytes:
    """A header or URL string as bytes on the wire (latin-1; other text as UTF-8)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _header_argument(name: str, value: str) -> str:
    # curl drops a header given as `Name:`; `Name;` sends it with an empty value.
    text = f"{name};" if value == "" else f"{name}: {value}"
    return "--header " + shell_word(_wire(text))


def format_curl(request: CapturedRequest, url: str, *, body_file: str | None = None) -> str:
    """A multi-line bash command sending `request` to `url` (the full URL, query included).

    With `body_file`, the body is read from that file (`--data-binary @FILE`); otherwise it is
    quoted inline, which needs `can_inline(request)`.
    """
    if body_file is None and not can_inline(request):
        raise ValueError("the body holds a NUL byte: write it to a file (body_file)")
    headers = forwardable_headers(request)
    for what, text in (("the method", request.method), ("the URL", url),
                       *((f"header {name!r}", f"{name}{value}") for name, value in headers)):
        if "\x00" in text:  # an imported file can hold one; no HTTP server would accept it
            raise CurlError(f"{what} holds a NUL byte, which no shell argument can carry: "
                            "export the capture as .http, HAR or JSON instead")
    with_body = sends_body(request)
    parts = ["curl", "--silent", "--show-error", "--include"]
    method = request.method
    if method.upper() == "HEAD":
        parts.append("--head")
    elif method != ("POST" if with_body else "GET"):
        parts.append(f"--request {shell_word(_wire(method))}")
    if request.http_version == "1.0":
        parts.append("--http1.0")
    if any(char in url for char in "[]{}"):
        parts.append("--globoff")
    if "/." in url.split("?", 1)[0]:
        parts.append("--path-as-is")
    present = {name.lower() for name, _ in headers}
    parts.extend(_header_argument(name, value) for name, value in headers)
    parts.extend(f"--header '{name}:'" for name in _CURL_ADDS if name.lower() not in present)
    if with_body:
        if "content-type" not in present:
            parts.append("--header 'Content-Type:'")
        parts.append("--header 'Expect:'")
        if body_file is not None:
            parts.append("--data-binary " + shell_word(b"@" + os.fsencode(body_file)))
        elif request.body.startswith(b"@"):
            parts.append("--data-raw " + ansi_c_quote(request.body))  # no @FILE reading
        else:
            parts.append("--data-binary " + ansi_c_quote(request.body))
    parts.append(shell_word(_wire(url)))
    return " \\\n  ".join(parts) + "\n"
