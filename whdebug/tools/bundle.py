"""A support bundle: redacted definition, masked samples, reports and SUMMARY.md; leaks refused."""

from __future__ import annotations

import io
import json
import os
import re
import stat
import tempfile
import zipfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

import msgspec

from whdebug import __version__
from whdebug.engine import Report
from whdebug.engine.report import Finding, report_json
from whdebug.engine.session import ReplaySession
from whdebug.errors import WhdebugError
from whdebug.formats.capture_json import format_timestamp
from whdebug.formats.http import format_http
from whdebug.model.definition import Definition
from whdebug.model.request import Capture, CapturedRequest
from whdebug.model.secrecy import MASK, Secrets, SecretSet
from whdebug.tools.reachability import lint
from whdebug.tools.redact import redact_text
from whdebug.wording import plural

_SUPPORT = "developers@karzoun.chat"


@dataclass(frozen=True, slots=True)
class Bundle:
    files: dict[str, bytes]
    masked_headers: int
    blanked: tuple[str, ...]
    """auth.config keys whose values were blanked in the definition."""
    unscanned: tuple[str, ...]
    """Secrets too short to scan for, by name."""
    secrets: SecretSet
    """Every secret the bundle was checked for."""


def build_bundle(definition: Definition, definition_text: str, requests: list[Capture],
                 secrets: Secrets, *, now: datetime) -> Bundle:
    """Every file of the bundle, in memory: nothing is written until the leak scan passed."""
    secret_set = SecretSet.build(definition, secrets)
    redaction = redact_text(definition_text, definition.path or "definition")
    suffix = PurePath(definition.path or "definition.json").suffix or ".json"
    definition_name = f"definition.redacted{suffix}"
    files: dict[str, bytes] = {}
    findings = lint(definition, submission=True)
    files[definition_name] = redaction.text.encode("utf-8", "backslashreplace")
    files["check.json"] = _json(_check_document(definition, findings))
    session = ReplaySession(definition, secrets, now=now, secret_set=secret_set)
    rows: list[tuple[str, str, CapturedRequest, Report]] = []
    masked_total = 0
    plan = session.plan
    signature_header = plan.verification.header_name if plan.verification else None
    for number, capture in enumerate(requests, 1):
        request = capture.request
        stem = f"{number:02d}-{_slug(capture)}"
        masked, count = mask_request(request, secret_set, signature_header)
        masked_total += count
        report = session.replay(capture)  # samples replay in order, like files
        sample_name, report_name = f"samples/{stem}.http", f"reports/{stem}.json"
        files[sample_name] = format_http(masked, where=capture.source.label)
        files[report_name] = _json(_report_document(report, masked, sample_name, secret_set))
        rows.append((sample_name, report_name, request, report))
    files["SUMMARY.md"] = _summary(definition, definition_name, rows, findings,
                                   [b.key for b in redaction.blanked], masked_total,
                                   len(secret_set), now).encode("utf-8", "backslashreplace")
    ordered = {"SUMMARY.md": files.pop("SUMMARY.md"), **files}
    return Bundle(ordered, masked_total, tuple(b.key for b in redaction.blanked),
                  secret_set.unscanned, secret_set)


def mask_request(request: CapturedRequest, secrets: SecretSet,
                 signature_header: Any = None) -> tuple[CapturedRequest, int]:
    """The request with signature, token, cookie and authorization headers and credential
    query parameters masked, and every secret masked wherever it appears in them."""
    also = (signature_header,) if isinstance(signature_header, str) else ()
    headers = secrets.mask_headers(request.headers, signatures=True, also=also)
    count = sum(1 for (_, before), (_, after) in zip(request.headers, headers, strict=True)
                if before != after)
    return replace(request, headers=tuple(headers), query=secrets.mask_query(request.query)), count


def _regular_or_missing(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:  # missing (or unreadable: the write says what is wrong)
        return True


def write_zip(path: Path, files: dict[str, bytes], now: datetime) -> None:
    """Write the zip atomically (a temporary file renamed into place) over a regular file or
    none; into a device or a pipe as it is (a rename over /dev/null would replace it)."""
    stamp = now.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(max(stamp[0], 1980), *stamp[1:]))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            archive.writestr(info, data)
    if not _regular_or_missing(path):  # -o /dev/null, a pipe: written into, never replaced
        try:
            descriptor = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(buffer.getvalue())
        except OSError as error:
            raise WhdebugError(f"cannot write the bundle: {error.strerror}", str(path)) from None
        return
    directory = path.parent if str(path.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(prefix=".whdebug-bundle-", dir=directory)
    except OSError as error:
        raise WhdebugError(f"cannot write the bundle: {error.strerror}", str(path)) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(buffer.getvalue())
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise WhdebugError(f"cannot write the bundle: {error.strerror}", str(path)) from None


# --- file contents ------------------------------------------------------------------------------


def _json(document: Any) -> bytes:
    # a lone surrogate (a hostile body's "\\ud800") is written back as that escape
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode(
        "utf-8", "backslashreplace")


def _check_document(definition: Definition, findings: list[Finding]) -> dict[str, Any]:
    return {
        "schema": "whdebug.check/1",
        "definition": {"ns": definition.ns, "version": definition.version,
                       "path": PurePath(definition.path or "definition").name},
        "findings": msgspec.to_builtins(findings),
        "ok": not any(item.severity == "error" for item in findings),
    }


def _report_document(report: Report, masked: CapturedRequest, sample: str,
                     secrets: SecretSet) -> dict[str, Any]:
    """The report as JSON with the masked headers, signature values and secrets removed."""
    document = report_json(report)
    document["source"] = {"capture_id": report.source.get("capture_id"), "file": sample}
    document["request"]["headers"] = [[name, value] for name, value in masked.headers]
    document["request"]["query"] = masked.query
    signature = document.get("signature")
    if isinstance(signature, dict):
        if signature.get("received") is not None:
            signature["received"] = MASK
        for attempt in signature.get("attempts") or []:
            for key in ("received", "computed"):
                if attempt.get(key) is not None:
                    attempt[key] = MASK
    scrubbed: dict[str, Any] = secrets.scrub(document)
    return scrubbed


def _summary(definition: Definition, definition_name: str,
             rows: list[tuple[str, str, CapturedRequest, Report]], findings: list[Finding],
             blanked: list[str], masked: int, scanned: int, now: datetime) -> str:
    ns, version = definition.ns or "?", definition.version or "?"
    errors = [f for f in findings if f.severity == "error"]
    warnings = [f for f in findings if f.severity == "warning"]
    lines = [
        f"# Support request: MiniApp `{ns}` version `{version}`",
        "",
        f"To: {_SUPPORT} (or your Karzoun partner manager)  ",
        f"Subject: MiniApp {ns} {version}: " + _subject(rows),
        "",
        "Hello Karzoun team,",
        "",
        f"I need help with the MiniApp `{ns}` (version `{version}`). The attached bundle holds "
        "the redacted definition, sample webhook requests with the event name each one should "
        "produce, and what whdebug (an offline replay of the MiniApp runtime) concluded for "
        "each. A provider sandbox account: _(add one here if you can)_.",
        "",
        "## MiniApp",
        "",
        f"- ns: `{ns}`",
        f"- version: `{version}`",
        f"- definition: `{definition_name}`"
        + (f" (blanked: {', '.join(f'auth.config.{k}' for k in blanked)})" if blanked
           else " (auth.config held no secret values)"),
        f"- `whdebug check --submission`: {len(errors)} errors, {len(warnings)} warnings "
        "(`check.json`)",
        "",
        "## Samples",
        "",
        "| # | sample | request | expected event | outcome | triggers fired |",
        "|---|---|---|---|---|---|",
    ]
    for number, (sample, _, request, report) in enumerate(rows, 1):
        lines.append(f"| {number} | `{sample}` | {request.method} `{_cell(request.path)}` | "
                     f"{_code(expected_event(report))} | {report.outcome.status} | "
                     f"{', '.join(_code(t) for t in report.outcome.triggers) or '-'} |")
    if not rows:
        lines.append("| - | no samples | | | | |")
    for number, (sample, report_name, _, report) in enumerate(rows, 1):
        event = expected_event(report)
        how = (f" ({report.event.strategy} extraction)" if report.event.value
               else " (extracted once the signature passes)" if event else "")
        lines += ["", f"### {number}. `{sample}`", "",
                  f"- expected event name: {_code(event)}{how}",
                  f"- outcome: {report.outcome.status}: {report.outcome.summary}"]
        verified = report.outcome.if_verified
        if verified:
            fires = ", ".join(verified.get("triggers") or []) or "no trigger"
            lines.append(f"- once verified: {verified.get('status')} ({fires})")
        lines.append(f"- report: `{report_name}`")
        serious = [f for f in report.findings if f.severity in ("error", "warning")]
        for item in serious[:6]:
            lines.append(f"- {item.code}: {item.message}")
    if errors or warnings:
        lines += ["", "## Definition findings", ""]
        for item in (errors + warnings)[:10]:
            lines.append(f"- {item.code} ({item.severity}) at `{item.pointer or '/'}`: "
                         f"{item.message}")
    lines += [
        "",
        "## Secrets",
        "",
        f"- Signature, token, cookie and authorization headers are masked ({masked} headers).",
        "- whdebug checked every file of this bundle for the "
        f"{plural(scanned, 'secret value')} it was given (credentials, config and "
        "auth.config); none appears.",
        "",
        f"_Built by whdebug {__version__} on {format_timestamp(now)}._",
        "",
    ]
    return "\n".join(lines)


def expected_event(report: Report) -> str | None:
    """The event the runtime extracts, also for a request rejected before extraction."""
    if report.event.value is not None:
        return report.event.value
    verified = report.outcome.if_verified or {}
    event = verified.get("event")
    return event if isinstance(event, str) else None


def _subject(rows: list[tuple[str, str, CapturedRequest, Report]]) -> str:
    statuses = sorted({report.outcome.status for *_, report in rows})
    if not rows:
        return "definition review"
    return f"{plural(len(rows), 'sample webhook')}, outcome {', '.join(statuses)}"


def _code(value: str | None) -> str:
    return f"`{_cell(value)}`" if value else "(none)"


def _cell(value: str | None) -> str:
    return (value or "").replace("|", "\\|").replace("`", "'").replace("\n", " ")


def _slug(capture: Capture) -> str:
    if capture.source.capture_id is not None:
        return f"capture-{capture.source.capture_id}"
    stem = PurePath(capture.source.file or "request").stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.")[:60] or "request"
