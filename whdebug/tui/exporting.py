"""Write one capture to a file as .http, HAR, curl or capture JSON (no Textual)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from whdebug.errors import WhdebugError
from whdebug.formats.capture_json import capture_to_json
from whdebug.formats.har import format_har
from whdebug.formats.http import format_http
from whdebug.model.request import Capture, CapturedRequest
from whdebug.tui.curl import format_curl, needs_body_file


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def curl_command(request: CapturedRequest, base_url: str, body_path: Path) -> tuple[str, bool]:
    """The curl text, and whether the body had to go to `body_path` (big or holding NUL)."""
    if needs_body_file(request):
        _write(body_path, request.body)
        return format_curl(request, base_url, body_file=str(body_path)), True
    return format_curl(request, base_url), False


def export_capture(capture: Capture, format_name: str, path: Path,
                   base_url: str) -> list[Path]:
    """Write the capture; the files written. Raises WhdebugError with a one-line reason."""
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
