"""Challenge detection (Slack's url_verification and its kin) and the runtime's answer."""

from __future__ import annotations

import json
from typing import Any

from whdebug.engine._specs import ChallengeSpec
from whdebug.engine.paths import Body, js_string
from whdebug.engine.report import ChallengeResult, Finding, finding

NOTE = (
    "whdebug assumes the runtime checks for a challenge before verifying the signature "
    "(the docs do not say)"
)

NOT_A_CHALLENGE = ChallengeResult(False, None)


def detect_challenge(
    spec: ChallengeSpec | None, body: Body
) -> tuple[ChallengeResult, list[Finding]]:
    """Is this a challenge request, and what would the runtime answer?"""
    if spec is None or body.kind not in ("json", "form"):
        return NOT_A_CHALLENGE, []
    field = spec.identify_field.text
    found = body.select(spec.identify_field)
    if not found or not _same(found[0], spec.identify_value):
        return NOT_A_CHALLENGE, []
    path = spec.challenge_path.text if spec.challenge_path is not None else None
    tokens = body.select(spec.challenge_path) if spec.challenge_path is not None else []
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
    response_field = spec.response_field
    if response_field:
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
