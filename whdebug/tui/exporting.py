"""Write one capture to a file as .http, HAR, curl or capture JSON, or as curl text for the
clipboard, with big bodies sent from a file so the clipboard stays small (no Textual)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from whdebug.errors import WhdebugError
from whdebug.model.request import Capture, CapturedRequest

INLINE_BODY_LIMIT = 64 * 1024
"""Bodies above this size are read from a file rather than quoted inline."""


def needs_body_file(request: CapturedRequest) -> bool:
    """True when the body is too large (or holds NUL bytes, which $'...' cannot) to inline."""
    from whdebug.formats import curl  # the writers load on first use, after the first paint

    return len(request.body) > INLINE_BODY_LIMIT or not curl.can_inline(request)


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def curl_command(request: CapturedRequest, base_url: str, body_path: Path) -> tuple[str, bool]:
    """The curl text, and whether the body had to go to `body_path` (big or holding NUL)."""
    from whdebug.formats import curl

    url = base_url.rstrip("/") + request.target
    if needs_body_file(request):
        _write(body_path, request.body)
        return curl.format_curl(request, url, body_file=str(body_path)), True
    return curl.format_curl(request, url), False


def export_capture(capture: Capture, format_name: str, path: Path,
                   base_url: str) -> list[Path]:
    """Write the capture; the files written. Raises WhdebugError with a one-line reason."""
    from whdebug.formats.capture_json import capture_to_json
    from whdebug.formats.har import format_har
    from whdebug.formats.http import format_http

    request = capture.request
    try:
        if format_name == "http":
            _write(path, format_http(request, where=capture.source.label))
        elif format_name == "har":
            _write(path, format_har([capture]))
        elif format_name == "json":
            text = json.dumps(capture_to_json(capture), indent=2, ensure_ascii=False) + "\n"
            _write(path, text.encode("utf-8"))
        elif format_name == "curl":
            body_path = path.with_name(path.stem + ".body")
            text, separate = curl_command(request, base_url, body_path)
            script = ("#!/usr/bin/env bash\n" + text).encode("latin-1", errors="replace")
            _write(path, script, 0o700)
            return [path, body_path] if separate else [path]
        else:
            raise WhdebugError(f"unknown export format {format_name!r}")
    except OSError as error:
        raise WhdebugError(f"cannot write {path}: {error.strerror or error}") from None
    return [path]
