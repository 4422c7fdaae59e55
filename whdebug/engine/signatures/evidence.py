"""Evidence for a signature nothing reproduces: is the secret wrong, or was the body changed?

The captured bytes alone cannot always tell. These checks say what they can: the
Content-Length against the bytes received, whether the body looks re-serialised, whether
the same secret verifies other captures of this provider, and whether the signature
verifies over the bytes the sender says it signed (`--expected-body`). The secret's own
shape can show it is not a signing secret at all (an API key, a verification token).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from whdebug.engine.signatures.edits import describe_difference

if TYPE_CHECKING:
    from whdebug.engine.signatures.search import DiagnosisSearch

#: Other captures checked with the same secret, at most.
PEER_LIMIT = 20

_KINDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^sk_(test|live)_"), "a Stripe secret API key (sk_test_/sk_live_)"),
    (re.compile(r"^rk_(test|live)_"), "a Stripe restricted API key (rk_test_/rk_live_)"),
    (re.compile(r"^pk_(test|live)_"), "a Stripe publishable key (pk_test_/pk_live_)"),
    (re.compile(r"^xox[abpre]-"), "a Slack OAuth token (xoxb-/xoxp-)"),
    (re.compile(r"^(ghp|gho|ghs|github_pat)_"), "a GitHub access token"),
    (re.compile(r"^shpat_|^shpss_"), "a Shopify access token"),
)
_SLACK_TOKEN = re.compile(r"^[A-Za-z0-9]{24}$")


def secret_kinds(search: DiagnosisSearch) -> list[tuple[str, str]]:
    """(source, kind) for each given secret whose shape says it is not a signing secret."""
    resolution = search.context.resolution
    assert resolution is not None
    out: list[tuple[str, str]] = []
    body_token = _slack_body_token(search.request.body) if search.scheme else None
    for source, value in (
        ("credentials", resolution.credentials_value),
        ("auth.config", resolution.auth_config_value),
    ):
        if not value:
            continue
        value = value.strip()
        kind = next((text for pattern, text in _KINDS if pattern.match(value)), None)
        if kind is None and search.scheme is not None and search.scheme.name == "slack":
            if body_token is not None and value == body_token:
                kind = ("the Slack verification token (it equals the body's \"token\" field; "
                        "Slack deprecated it)")
            elif _SLACK_TOKEN.match(value) and not re.fullmatch(r"[0-9a-f]+", value):
                kind = ("a Slack verification token (24 letters and digits; a signing secret "
                        "is 32 hex characters)")
        if kind is not None:
            out.append((source, kind))
    return out


def _slack_body_token(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    token = document.get("token") if isinstance(document, dict) else None
    return token if isinstance(token, str) else None


def mismatch_evidence(search: DiagnosisSearch) -> tuple[str | None, list[str]]:
    """(the reason, when the evidence proves the body changed; the evidence found)."""
    evidence: list[str] = []
    proven = _expected_body(search, evidence)
    if proven is not None:
        search.notes = evidence
        return proven, evidence
    length = _content_length(search)
    if length:
        evidence.append(length)
    evidence += _reserialized(search.request.body)
    mode = _stripe_mode(search)
    if mode:
        evidence.append(mode)
    peers = _peers(search)
    if peers:
        evidence.append(peers)
    search.notes = evidence
    return None, evidence


def _expected_body(search: DiagnosisSearch, evidence: list[str]) -> str | None:
    expected = search.evidence.expected_body
    if expected is None:
        return None
    name = search.evidence.expected_name
    received = search.request.body
    if expected == received:
        evidence.append(f"{name} is byte for byte the body received, so the bytes were not "
                        "changed: the secret is wrong")
        return None
    difference = describe_difference(expected, received, search.secret_forms())
    if search.verifies(expected):
        search.context.add(
            "SIG_BODY_MODIFIED",
            f"the signature verifies over {name} with your secret, so the sender signed those "
            f"bytes and they were changed before they arrived: {difference}",
            "send the body exactly as signed (curl --data-binary @file, not -d or --json; no "
            "JSON re-serialisation or charset conversion in between)",
        )
        return "body changed after signing (verifies over the expected body)"
    evidence.append(f"the signature does not verify over {name} either ({difference}): the "
                    "secret is wrong, or the sender signed yet other bytes")
    return None


def _content_length(search: DiagnosisSearch) -> str | None:
    request = search.request
    header = request.header("content-length")
    if header is None or not header.strip().isdigit():
        return None
    declared, received = int(header.strip()), len(request.body)
    if declared == received:
        return f"Content-Length ({declared}) equals the {received} bytes received"
    return (f"Content-Length says {declared} bytes but {received} arrived: the body was "
            "changed after the headers were written")


def _reserialized(body: bytes) -> list[str]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return []
    multi = [o for o in _objects(document) if len(o) > 1]
    text = body.decode("utf-8", "replace")
    strong: list[str] = []
    if multi and all(list(o) == sorted(o) for o in multi) and sum(len(o) for o in multi) >= 4:
        strong.append("keys in sorted order in every object")
    if b"\n" not in body and re.search(r'[{,\[] {2,}["\d\[{tfn-]', text):
        strong.append("line breaks removed but the indentation kept (curl -d @file does this)")
    if not strong:
        if multi and any(list(o) != sorted(o) for o in multi):
            return ["the keys are not in sorted order, so the body was not re-serialised "
                    "with sorted keys"]
        return []
    try:
        compact = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8", "backslashreplace")  # a lone surrogate stays its escape
    except RecursionError:
        compact = b""
    if b"\n" not in body and body == compact:
        strong.append("compact")
    if ("/" in text or not body.isascii()) and "\\/" not in text and "\\u" not in text:
        strong.append("no \\/ or \\u escapes")
    return ["the body looks re-serialised (" + ", ".join(strong) + "): a re-serialisation "
            "that reorders keys or rewrites numbers (1.0 -> 1) cannot be undone"]


def _stripe_mode(search: DiagnosisSearch) -> str | None:
    if search.scheme is None or search.scheme.name != "stripe":
        return None
    try:
        document = json.loads(search.request.body)
    except (ValueError, RecursionError):
        return None
    livemode = document.get("livemode") if isinstance(document, dict) else None
    if not isinstance(livemode, bool):
        return None
    mode = "live" if livemode else "test"
    return (f"the event is a {mode}-mode delivery (livemode: {str(livemode).lower()}): it is "
            f"signed with the secret of a {mode}-mode endpoint (or of `stripe listen`)")


def _objects(document: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    stack = [document]
    while stack and len(out) < 10_000:
        item = stack.pop()
        if isinstance(item, dict):
            out.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


def _peers(search: DiagnosisSearch) -> str | None:
    request = search.request
    peers = [
        peer for peer in search.evidence.peers
        if peer is not request and peer.body != request.body
        and peer.header(search.header_name) is not None
    ][:PEER_LIMIT]
    if not peers:
        return None
    verified = sum(search.verifies(peer.body, peer) for peer in peers)
    if verified:
        return (f"the same secret verifies {verified} of {len(peers)} other captures from "
                "this provider: the secret is right, so this body was most likely changed "
                "after signing")
    return (f"the same secret verifies none of {len(peers)} other captures from this "
            "provider: the secret is most likely wrong")
