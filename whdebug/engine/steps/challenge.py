"""Challenge detection (Slack's url_verification and its kin) and the runtime's answer."""

from __future__ import annotations

import json
from typing import Any

from whdebug.engine.paths import Body, js_string
from whdebug.engine.report import ChallengeResult, Finding, finding

NOTE = (
    "whdebug assumes the runtime checks for a challenge before verifying the signature "
    "(the docs do not say)"
)


def detect_challenge(config: Any, body: Body) -> tuple[ChallengeResult, list[Finding]]:
    """Is this a challenge request, and what would the runtime answer?"""
    if not isinstance(config, dict) or body.kind not in ("json", "form"):
        return ChallengeResult(False, None), []
    field = config.get("identifyField")
    expected = config.get("identifyValue")
    if not isinstance(field, str) or not field:
        return ChallengeResult(False, None), []
    try:
        found = body.find(field)
    except Exception:
        return ChallengeResult(False, None), []
    if not found or not _same(found[0], expected):
        return ChallengeResult(False, None), []
    path = config.get("challengePath")
    tokens = []
    if isinstance(path, str) and path:
        try:
            tokens = body.find(path)
        except Exception:
            tokens = []
    if not tokens:
        message = (
            f"challenge detected ({field} = {js_string(found[0])!r}) but challengePath "
            f"{path!r} finds nothing in the body: the provider gets no token back and "
            "will not enable the webhook"
        )
        return ChallengeResult(True, None, NOTE), [
            finding(
                "CHALLENGE",
                message,
                'point webhook.challengeResponse.challengePath at the token, e.g. "$.challenge"',
                step="challenge",
                severity="error",
                pointer="/webhook/challengeResponse/challengePath",
            )
        ]
    token = tokens[0]
    response_field = config.get("responseField")
    if isinstance(response_field, str) and response_field:
        response = json.dumps({response_field: token}, separators=(",", ":"))
    else:
        response = js_string(token)
    message = (
        f"challenge request ({field} = {js_string(found[0])!r}): the runtime answers "
        f"{response!r} and processes nothing else"
    )
    return ChallengeResult(True, response, NOTE), [
        finding("CHALLENGE", message, None, step="challenge")
    ]


def _same(value: Any, expected: Any) -> bool:
    return bool(value == expected or (isinstance(expected, str) and js_string(value) == expected))
