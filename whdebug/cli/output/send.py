"""Output of `whdebug send`: the app's answer as text (status line, headers, body preview,
latency) and as JSON."""

from __future__ import annotations

import base64
from typing import Any

from whdebug.cli.output.text import safe
from whdebug.model.secrecy import SecretSet
from whdebug.tools.resend import Answer

PREVIEW_BYTES = 64 * 1024
"""Bytes of an answer's body `send` prints (and puts in --json)."""


def _preview(body: bytes, masks: SecretSet) -> str:
    """The body's first PREVIEW_BYTES as text, every known secret masked."""
    text = body[:PREVIEW_BYTES].decode("utf-8", errors="replace")
    return masks.mask(text)


def format_answer(answer: Answer, masks: SecretSet) -> str:
    """The target's answer as `send` prints it: status line, headers (credential-looking
    ones masked by `masks`), a body preview."""
    lines = [f"HTTP/{answer.http_version.removeprefix('HTTP/')} {answer.status} "
             f"{safe(answer.reason, 80)}".rstrip()]
    lines.extend(f"{safe(name, 80)}: {safe(value, 400)}" for name, value
                 in masks.mask_headers(answer.headers))
    lines.append("")
    body = answer.body
    if body:
        preview = _preview(body, masks)
        lines.append("\n".join(safe(line, PREVIEW_BYTES) for line in preview.split("\n")))
        if len(body) > PREVIEW_BYTES:
            lines.append(f"… ({len(body) - PREVIEW_BYTES:,} more bytes)")
    return "\n".join(lines)


def answer_json(answer: Answer, masks: SecretSet) -> dict[str, Any]:
    """One answer in `whdebug.send/1`: the preview as text, and as base64 when not UTF-8."""
    head = answer.body[:PREVIEW_BYTES]
    document: dict[str, Any] = {
        "status": answer.status,
        "reason": answer.reason,
        "http_version": answer.http_version,
        "headers": [[name, value] for name, value in masks.mask_headers(answer.headers)],
        "body_size": len(answer.body),
        "body_preview": _preview(head, masks),
        "body_truncated": len(answer.body) > PREVIEW_BYTES,
        "latency_ms": round(answer.elapsed * 1000, 1),
    }
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        if not masks.contains(head.decode("latin-1")):
            document["body_preview_base64"] = base64.b64encode(head).decode("ascii")
    return document
