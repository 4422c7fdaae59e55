"""The request step: what the request itself says before any runtime step runs (routing,
Content-Length, a body that is not JSON or is form-encoded, hostile bodies)."""

from __future__ import annotations

import json

from whdebug.engine._specs import VerificationSpec
from whdebug.engine.paths import Body
from whdebug.engine.plan import Plan
from whdebug.engine.report import Finding, finding
from whdebug.engine.steps.body import body_findings
from whdebug.model.request import CapturedRequest


def request_findings(
    request: CapturedRequest, plan: Plan, body: Body
) -> list[Finding]:
    """The request step's findings: routing, a partial or mislabelled body, hostile bytes."""
    findings: list[Finding] = []
    findings += routing_findings(request, plan.webhook_path)
    verification = plan.verification
    if request.truncated and (verification is None or _skips_verification(verification)):
        findings.append(
            finding(
                "REQ_BODY_TRUNCATED",
                f"only {len(request.body)} of {request.size} body bytes were "
                "stored: event and ids are read from a partial body",
                "raise --max-body on the receiver and send the request again",
                step="request",
            )
        )
    hostile = [] if request.truncated else body_findings(body)
    findings += hostile
    mismatch = _length_mismatch(request)
    if mismatch is not None:
        findings.append(mismatch)
    kind = body.kind
    if kind == "json" or kind == "empty":
        pass  # the common case: nothing below applies
    elif kind == "invalid" and not request.truncated and (mismatch is not None or hostile):
        pass  # the length mismatch or the hostile-body finding explains it
    elif kind == "invalid" and not request.truncated:
        findings.append(
            finding(
                "REQ_NOT_JSON",
                f"the body is not JSON ({body.error}); body paths find nothing",
                "check the provider's content type setting (JSON, not form or XML)",
                step="request",
            )
        )
    elif kind == "form" and _looks_like_json(request.body):
        findings.append(
            finding(
                "REQ_CONTENT_TYPE",
                f"the body is JSON but Content-Type is {request.content_type!r}, so it is read "
                "as a form and no JSON path finds anything (curl --data-binary sends "
                "application/x-www-form-urlencoded unless told otherwise)",
                "send the request with -H 'Content-Type: application/json' (or fix the "
                "sender's content type)",
                step="request",
            )
        )
    elif kind == "form":
        findings.append(
            finding(
                "REQ_FORM_BODY",
                "the body is form-encoded; whdebug parses it into an object (and "
                "JSON inside fields such as `payload`), the runtime may not",
                "prefer the provider's JSON delivery format if it has one",
                step="request",
            )
        )
    return findings


ROUTING_CODES = ("REQ_WRONG_PATH", "REQ_WRONG_METHOD")
"""Findings that mean the runtime never routes the request here: they lead the report."""


def routing_findings(request: CapturedRequest, expected: str | None) -> list[Finding]:
    """REQ_WRONG_PATH and REQ_WRONG_METHOD: `expected` is `/miniapps/{ns}/webhooks`."""
    if not expected:
        return []
    if request.method == "POST" and request.path.rstrip("/") == expected:
        return []  # the common case, said in a line
    findings: list[Finding] = []
    method = request.method.upper()
    if request.path.rstrip("/") != expected:
        findings.append(finding(
            "REQ_WRONG_PATH",
            f"{request.method} {request.path} is not POST {expected}: the runtime routes "
            "webhooks by that URL, so this request never reaches this MiniApp",
            f"register {{SAAS_API_URL}}{expected} (POST) with the provider; a request to "
            "another path (a browser's /favicon.ico) is not a delivery",
            step="request"))
    if method != "POST":
        findings.append(finding(
            "REQ_WRONG_METHOD",
            f"the method is {request.method}, not POST: the runtime takes webhook deliveries "
            f"as POST {expected} only, so this request is not processed as one (a browser, an "
            "uptime check, or a provider's URL check)",
            "nothing to change if this is not a delivery; a provider that must see a GET "
            "answered (URL validation) is not covered by Karzoun's webhook docs: ask Karzoun",
            step="request"))
    return findings


def _length_mismatch(request: CapturedRequest) -> Finding | None:
    """REQ_LENGTH_MISMATCH: a Content-Length that is not the body's size (a hand-edited
    file; a server reads exactly Content-Length bytes)."""
    if request.truncated or request.header("Transfer-Encoding") is not None:
        return None
    announced = request.header("Content-Length")
    if announced is None or not announced.strip().isdigit():
        return None
    length, size = int(announced.strip()), len(request.body)
    if length == size:
        return None
    encoding = request.header("Content-Encoding")
    if encoding is not None and encoding.strip().lower() not in ("", "identity"):
        return finding(
            "REQ_LENGTH_MISMATCH",
            f"Content-Length is {length} but the body is {size} bytes: Content-Length counts "
            f"the {encoding} bytes on the wire, and this body is stored decoded (HAR exports "
            "and some proxies store it so); this file does not show whether the provider "
            "signed the encoded or the decoded bytes",
            "capture the delivery with whdebug serve, which stores the bytes as they arrive",
            step="request", severity="info")
    if length < size:
        extra = request.body[length:]
        shown = "its final line break" if extra.strip(b"\r\n") == b"" else f"{len(extra)} bytes"
        message = (f"Content-Length is {length} but the body is {size} bytes: a server reads only "
                   f"the first {length}, so {shown} after them would not be part of the "
                   f"request; whdebug analyses all {size} bytes as they are in the file")
    else:
        message = (f"Content-Length is {length} but the body is {size} bytes: {length - size} "
                   "bytes are missing, so a server would wait for them (the file was edited or "
                   "cut after the header was written)")
    return finding(
        "REQ_LENGTH_MISMATCH", message,
        "make the body exactly as sent by the provider and set Content-Length to its size "
        "(or delete the header: whdebug uses the body as it is)",
        step="request", severity="error" if length > size else "warning")


def _skips_verification(verification: VerificationSpec) -> bool:
    """Verification never looks at the body, so it cannot say the body is partial."""
    return verification.type in (None, "none") and verification.type_error is None


def _looks_like_json(raw: bytes) -> bool:
    """A body that parses as a JSON object or array, whatever its Content-Type says."""
    if raw.lstrip()[:1] not in (b"{", b"["):
        return False
    try:
        json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return True
