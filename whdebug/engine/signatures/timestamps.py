"""Timestamp headers: how old a delivery was when it arrived (or now, for a file)."""

from __future__ import annotations

from datetime import datetime

from whdebug.engine.signatures._context import VerifyContext
from whdebug.engine.signatures.schemes import Scheme, detect_scheme

STALE_AFTER_SECONDS = 300


def check_timestamp(context: VerifyContext, scheme: Scheme | None, detect: bool) -> float | None:
    """Age of the request's timestamp; provider schemes are only looked for when `detect`."""
    request = context.request
    header = context.spec.timestamp_header
    raw: str | None = None
    label = ""
    if header and request.header(header):
        raw, label = request.header(header), header
    elif scheme is None and detect:
        scheme = detect_scheme(request)
    if raw is None and scheme is not None and scheme.timestamp:
        raw, label = scheme.timestamp, f"{scheme.title} timestamp"
    if raw is None:
        return None
    sent = _parse_timestamp(raw)
    if sent is None:
        return None
    if _in_milliseconds(raw):
        context.add(
            "SIG_TIMESTAMP_MILLISECONDS",
            f"{label} is {raw.strip()}, a time in milliseconds; Slack, Stripe and Standard "
            "Webhooks libraries read seconds, so they take it for a time tens of thousands of "
            "years ahead and reject the delivery (whdebug reads it as milliseconds to measure "
            "the age)",
            "send the timestamp in whole seconds since 1970 (Math.floor(Date.now() / 1000)), "
            "and sign that same value",
        )
    reference = context.received_at or context.now
    age = reference.timestamp() - sent
    if abs(age) > STALE_AFTER_SECONDS:
        when = (
            "when it was received"
            if context.received_at
            else "now (use --now to replay a file at its send time)"
        )
        direction = "older" if age > 0 else "newer"
        context.add(
            "SIG_TIMESTAMP_STALE",
            f"{label} is {_duration(abs(age))} {direction} than {when}; providers such as Stripe "
            f"and Standard Webhooks reject more than {STALE_AFTER_SECONDS} s, and a replayed "
            "delivery may be refused",
            "if this is a provider retry, check that your endpoint answers 2xx within the "
            "provider's timeout; check the server clock",
        )
    return round(age, 3)


def _in_milliseconds(raw: str) -> bool:
    try:
        return float(raw.strip()) > 1e12
    except ValueError:
        return False


def _parse_timestamp(raw: str) -> float | None:
    text = raw.strip()
    try:
        number = float(text)
    except ValueError:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return number / 1000 if number > 1e12 else number


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"
