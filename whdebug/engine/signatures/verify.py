"""Signature verification as the runtime does it; failures go to the diagnosis search."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from whdebug.engine._specs import VerificationSpec
from whdebug.engine.paths import Body
from whdebug.engine.report import (
    Attempt,
    Finding,
    SearchSummary,
    SecretStatus,
    SignatureResult,
)
from whdebug.engine.report import finding as make_finding
from whdebug.engine.signatures._context import VerifyContext
from whdebug.engine.signatures.digests import (
    HEX,
    TYPE_ALGORITHM,
    DigestThread,
    compute_hmac,
    describe_content,
    encode_digest,
    equal,
    strip_runtime_prefix,
)
from whdebug.engine.signatures.explain import explain_hit, explain_nothing
from whdebug.engine.signatures.headers import diagnose_token, header_missing
from whdebug.engine.signatures.schemes import Scheme, detect_scheme, signature_like_headers
from whdebug.engine.signatures.search import DiagnosisSearch, Evidence
from whdebug.engine.signatures.secrets import Resolution, resolve_secret, secret_hint
from whdebug.engine.signatures.timestamps import check_timestamp
from whdebug.model.request import CapturedRequest, Secrets


def verify_signature(
    request: CapturedRequest,
    spec: VerificationSpec | None,
    auth_config: Mapping[str, Any],
    secrets: Secrets,
    *,
    now: datetime,
    received_at: datetime | None = None,
    body: Body | None = None,
    nullish: bool = False,
    diagnose: bool = True,
    prefetch: DigestThread | None = None,
    evidence: Evidence | None = None,
    passing_tried: bool = False,
    known: bytes | None = None,
) -> tuple[SignatureResult, list[Finding]]:
    """Run the runtime's verification; on failure search for what would have matched.

    `evidence` gives the search what the request alone cannot: other captures of this
    provider and the bytes the sender says it signed. With `passing_tried`, the caller
    asked `passing_signature` first and got no result (and `known`, the runtime digest it
    computed, if it did)."""
    kind = spec.type if spec is not None else None
    if spec is None or (kind in (None, "none") and spec.type_error is None):
        return _unverified(request, kind, now)
    header_name = spec.header_name
    secret_key = spec.secret_key
    encoding: str = spec.encoding
    resolution, status = _resolved(secret_key, auth_config, secrets, nullish)
    received_raw = request.header(header_name) if header_name else None
    # `known`: the runtime digest, when `_passes` computed it (here, or the caller's)
    if prefetch is None and received_raw is not None and not passing_tried:
        passed, known = _passes(request, spec, kind, resolution, status, received_raw, nullish)
        if passed is not None:
            return passed, []
    context = VerifyContext(request, spec, resolution, now, received_at)

    def result(
        verdict: str,
        reason: str,
        attempts: list[Attempt],
        scheme: Scheme | None = None,
        enc: str | None = encoding,
        searched: DiagnosisSearch | None = None,
    ) -> tuple[SignatureResult, list[Finding]]:
        age = check_timestamp(context, scheme, detect=verdict != "pass")
        return (
            SignatureResult(  # positional, in field order: type ... search
                kind, header_name, enc, secret_key, _mask_received(kind, received_raw), status,
                verdict, reason, tuple(attempts),  # type: ignore[arg-type]
                scheme.name if scheme else None, age,
                SearchSummary(searched.tried + 1, searched.bodies_tried,
                              tuple(searched.notes)) if searched else None,
            ),
            context.findings,
        )

    if spec.type_error is not None:
        context.add(
            "SIG_ALGORITHM",
            f"verification.type is {spec.type_error}, not a type name: the runtime knows no such "
            "type (hmac-sha256, hmac-sha1, header-token, none)",
            'set webhook.verification.type to "hmac-sha256", "hmac-sha1" or "header-token"',
            pointer="/webhook/verification/type",
        )
        return result("fail", f"verification.type is {spec.type_error}, not a string", [])
    if kind not in ("hmac-sha256", "hmac-sha1", "header-token"):
        context.add(
            "SIG_ALGORITHM",
            f"verification.type {kind!r} is not one the runtime knows "
            "(hmac-sha256, hmac-sha1, header-token, none)",
            'set webhook.verification.type to "hmac-sha256", "hmac-sha1" or "header-token"',
            pointer="/webhook/verification/type",
        )
        return result("fail", f"unknown verification type {kind!r}", [])
    if not header_name:
        context.add(
            "SIG_HEADER_MISSING",
            "verification.headerName is not set",
            "set webhook.verification.headerName to the provider's signature header",
            pointer="/webhook/verification/headerName",
        )
        return result("fail", "no headerName configured", [])
    if request.truncated:
        context.add(
            "REQ_BODY_TRUNCATED",
            f"only {len(request.body)} of {request.size} body bytes were stored; "
            "the signature cannot be checked on a partial body",
            "raise --max-body on the receiver and send the request again",
            step="request",
        )
        return result("fail", "body truncated: cannot verify", [])
    secret = _runtime_secret(context, nullish)
    if received_raw is None:
        return result("fail", *header_missing(context, header_name, kind, secret, encoding))
    if secret is None:
        return result("fail", "no secret to verify with", [])
    if not received_raw.strip():
        context.add(
            "SIG_HEADER_EMPTY",
            f"{header_name} is present but empty: a sender usually sends the signature header "
            "empty when no signing secret is configured on its side",
            "configure a signing secret in the provider's webhook settings and store the same "
            f"value in credentials.{secret_key} (--credential {secret_key}=... here)",
        )
        return result("fail", f"{header_name} is empty", [])

    if kind == "header-token":
        match = equal(received_raw, secret)
        attempt = Attempt(
            secret_source=status.resolved_from or "credentials",
            algorithm="token",
            encoding="plain",
            content="header value",
            match=match,
            runtime=True,
            secret_hint=secret_hint(secret),
            received_from=f"header {header_name}",
            received=_mask_received(kind, received_raw),
            computed=secret_hint(secret),
        )
        if match:
            return result(
                "pass",
                f"{header_name} equals the {status.resolved_from} secret",
                [attempt],
                enc=None,
            )
        reason, extra = (
            diagnose_token(context, header_name, received_raw)
            if diagnose
            else ("header value differs from the secret", [])
        )
        return result("fail", reason, [attempt, *extra], enc=None)

    algorithm = TYPE_ALGORITHM[kind]
    received = strip_runtime_prefix(received_raw)
    secret_bytes = secret.encode("utf-8")
    if prefetch is not None and prefetch.secret == secret_bytes and prefetch.algorithm == algorithm:
        digest = prefetch.result()
    elif known is not None:  # of this secret and algorithm: `_passes` goes as far as this
        digest = known
    else:
        digest = compute_hmac(secret_bytes, algorithm, request.body)
    computed = encode_digest(digest, encoding)
    match = equal(computed, received)
    runtime_attempt = Attempt(  # positional, in field order: secret_source ... signed
        status.resolved_from or "none", algorithm, encoding, "raw-body", match, True, "as-is",
        secret_hint(secret), f"header {header_name}", received, computed,
        describe_content("raw-body", request.body),
    )
    if match:
        return result(
            "pass",
            f"HMAC-{algorithm.upper()} of the raw body with the "
            f"{status.resolved_from} secret matches {header_name}",
            [runtime_attempt],
        )
    if not diagnose:
        return result("fail", "signature does not match", [runtime_attempt])
    search = DiagnosisSearch(
        context,
        algorithm,
        encoding,
        header_name,
        received_raw,
        received,
        secret,
        {(secret_bytes, algorithm, "raw-body"): digest},
        evidence,
    )
    hit, attempts = search.run()
    reason = explain_hit(search, hit) if hit is not None else explain_nothing(search)
    if nullish and resolution is not None and resolution.differs_under_nullish:
        reason = (f"the empty credentials.{resolution.key} is used (`??`, --nullish)"
                  + ("; " + reason if reason.startswith("matches only") else ""))
    return result("fail", reason, [runtime_attempt, *attempts], search.scheme, searched=search)


def passing_signature(request: CapturedRequest, spec: VerificationSpec | None,
                      auth_config: Mapping[str, Any], secrets: Secrets,
                      nullish: bool) -> tuple[SignatureResult | None, bytes | None]:
    """The result `verify_signature` gives a request whose HMAC matches when nothing else
    can be said about it (`_passes`), without the rest of its set-up; else None, and the
    runtime digest if it was computed: then call `verify_signature` with
    `passing_tried=True` and that digest as `known` (for a body read in full: no
    `prefetch`)."""
    if spec is None:
        return None, None
    kind = spec.type
    header_name = spec.header_name
    if (kind in (None, "none") and spec.type_error is None) or not header_name:
        return None, None
    received_raw = request.header(header_name)
    if received_raw is None:
        return None, None
    resolution, status = _resolved(spec.secret_key, auth_config, secrets, nullish)
    return _passes(request, spec, kind, resolution, status, received_raw, nullish)


def _passes(request: CapturedRequest, spec: VerificationSpec, kind: Any,
            resolution: Resolution | None, status: SecretStatus, received_raw: str,
            nullish: bool) -> tuple[SignatureResult | None, bytes | None]:
    """The result of an HMAC that matches, when nothing else can be said about the request
    (no finding: the secret resolves plainly, no timestamp header is configured); None
    otherwise, and the full path below says what it has to (with the runtime digest, when
    it was computed: the runtime secret's HMAC of the body, by the type's algorithm).

    Only the received and computed digests and the signed content's size and head vary
    between such requests; the rest is the same as the full path builds it."""
    algorithm = TYPE_ALGORITHM.get(kind)
    if (algorithm is None or spec.type_error is not None or request.truncated
            or resolution is None or resolution.credentials == "empty"
            or spec.timestamp_header or not received_raw.strip()):
        return None, None
    secret = resolution.nullish_value if nullish else resolution.value
    if secret is None or resolution.value is None:
        return None, None
    encoding = spec.encoding
    received = strip_runtime_prefix(received_raw)
    body = request.body
    digest = compute_hmac(secret.encode("utf-8"), algorithm, body)
    computed = encode_digest(digest, encoding)
    if not equal(computed, received):
        return None, digest
    header_name = spec.header_name
    fixed = _PASS_PARTS.get((header_name, algorithm, encoding, status.resolved_from, secret))
    if fixed is None:
        if len(_PASS_PARTS) >= 64:
            _PASS_PARTS.clear()
        fixed = _PASS_PARTS[(header_name, algorithm, encoding, status.resolved_from, secret)] = (
            secret_hint(secret), f"header {header_name}",
            f"HMAC-{algorithm.upper()} of the raw body with the "
            f"{status.resolved_from} secret matches {header_name}")
    hint, received_from, reason = fixed
    attempt = Attempt(  # positional, in field order, as the full path builds it
        status.resolved_from or "none", algorithm, encoding, "raw-body", True, True, "as-is",
        hint, received_from, received, computed, describe_content("raw-body", body))
    return SignatureResult(kind, header_name, encoding, spec.secret_key, received_raw, status,
                           "pass", reason, (attempt,), None, None, None), digest


_PASS_PARTS: dict[tuple[Any, ...], tuple[str | None, str, str]] = {}
"""What a passing HMAC's result says that is the same for every request: by header name,
algorithm, encoding, where the secret came from and the secret itself."""


_RESOLVED: dict[tuple[str | None, int, int, bool], tuple[
    Mapping[str, Any], Secrets, Resolution | None, SecretStatus]] = {}
"""Secrets resolved, by key and the identity of the auth.config and Secrets (kept here, so an
identity is never reused while its entry lives): a replay resolves its one secret once."""


def _resolved(secret_key: str | None, auth_config: Mapping[str, Any], secrets: Secrets,
              nullish: bool) -> tuple[Resolution | None, SecretStatus]:
    """`resolve_secret` and `_secret_status`, remembered (neither Mapping is ever changed)."""
    memo_key = (secret_key, id(auth_config), id(secrets), nullish)
    hit = _RESOLVED.get(memo_key)
    if hit is not None and hit[0] is auth_config and hit[1] is secrets:
        return hit[2], hit[3]
    resolution = resolve_secret(secret_key, auth_config, secrets) if secret_key else None
    status = _secret_status(resolution, nullish)
    if len(_RESOLVED) >= 64:
        _RESOLVED.clear()
    _RESOLVED[memo_key] = (auth_config, secrets, resolution, status)
    return resolution, status


def _secret_status(resolution: Resolution | None, nullish: bool = False) -> SecretStatus:
    """Where the secret comes from under the rule in use (`||`, or `??` with --nullish), and
    what the other rule would do when it differs."""
    if resolution is None:
        return SecretStatus(None, "absent", "absent")
    if not resolution.differs_under_nullish:
        return SecretStatus(resolution.resolved_from, resolution.credentials,
                            resolution.auth_config, secret_hint(resolution.value))
    key = resolution.key
    if nullish:
        return SecretStatus(
            "credentials", resolution.credentials, resolution.auth_config,
            secret_hint(resolution.nullish_value),
            f"under `||` (whdebug's default) the runtime would treat the empty "
            f"credentials.{key} as missing and use auth.config.{key}")
    return SecretStatus(
        resolution.resolved_from, resolution.credentials, resolution.auth_config,
        secret_hint(resolution.value),
        f"under `??` (--nullish) the runtime would keep the empty credentials.{key} and "
        "verify with an empty secret")


def _runtime_secret(context: VerifyContext, nullish: bool) -> str | None:
    """The secret the runtime would use, adding the findings about where it comes from."""
    resolution = context.resolution
    if resolution is None:
        context.add(
            "SIG_NO_SECRET",
            "verification.secretKey is not set",
            'set webhook.verification.secretKey to the key name, e.g. "webhookSecret"',
            pointer="/webhook/verification/secretKey",
        )
        return None
    key = resolution.key
    if resolution.credentials == "empty":
        if resolution.auth_config == "present" and nullish:
            context.add(
                "SIG_EMPTY_CREDENTIAL",
                f"credentials.{key} is an empty string; with --nullish (`??`) the runtime keeps "
                "it and verifies with an empty secret, so every delivery is rejected. Under `||` "
                f"(whdebug's default) it would fall back to auth.config.{key}",
                f"remove the empty credentials.{key} from the install, or fill it with the "
                "provider's signing secret",
                severity="error",
            )
        elif resolution.auth_config == "present":
            context.add(
                "SIG_EMPTY_CREDENTIAL",
                f"credentials.{key} is an empty string; whdebug assumes the runtime treats it as "
                f"missing (`||`) and falls back to auth.config.{key}. If the runtime uses `??` it "
                "verifies with the empty string and rejects every delivery",
                f"remove the empty credentials.{key} from the install, or fill it with the "
                "provider's signing secret",
            )
        else:
            context.add(
                "SIG_EMPTY_CREDENTIAL",
                f"credentials.{key} is an empty string and auth.config.{key} holds no value: "
                "there is no secret to verify with",
                f"store the provider's signing secret in credentials.{key} (check the mapping "
                "of the registration request that should write it)",
                severity="error",
            )
    elif resolution.value is None:
        context.add(
            "SIG_NO_SECRET",
            f"no secret for {key!r}: credentials.{key} is {resolution.credentials} and "
            f"auth.config.{key} is {resolution.auth_config}",
            f"give the secret as the install stores it (--credential {key}=...) or set "
            f"auth.config.{key} (--config {key}=... for a draft)",
        )
    return resolution.nullish_value if nullish else resolution.value


def _mask_received(kind: Any, value: str | None) -> str | None:
    """A header-token value is the secret itself: never shown."""
    if value is None or kind != "header-token":
        return value
    return secret_hint(value)


def _unverified(
    request: CapturedRequest, kind: Any, now: datetime
) -> tuple[SignatureResult, list[Finding]]:
    findings: list[Finding] = []
    present = signature_like_headers(request)
    scheme = detect_scheme(request)
    if present:
        where = "no webhook.verification block" if kind is None else 'verification type "none"'
        guess = _suggest_verification(request, present)
        findings.append(
            make_finding(
                "SIG_NOT_CONFIGURED",
                f"{where}, but the request carries {', '.join(present)}: anyone who knows the URL "
                "can trigger your automations",
                guess,
                step="verify",
                pointer="/webhook/verification",
            )
        )
    reason = "verification type none" if kind == "none" else "no verification configured"
    return (
        SignatureResult(
            kind or None,
            None,
            None,
            None,
            None,
            None,
            "skipped",
            reason,
            (),
            scheme.name if scheme else None,
        ),
        findings,
    )


def _suggest_verification(request: CapturedRequest, present: list[str]) -> str:
    scheme = detect_scheme(request)
    if scheme is not None:
        return (
            f"{scheme.title} signatures cannot be verified by the runtime's hmac-sha256; "
            "keep the endpoint secret and ask Karzoun about support for this scheme"
        )
    name = present[0]
    value = strip_runtime_prefix(request.header(name) or "")
    encoding = "hex" if HEX.match(value) else "base64"
    kind = "hmac-sha1" if len(value) == 40 and encoding == "hex" else "hmac-sha256"
    return (
        f'add "verification": {{"type": "{kind}", "headerName": "{name}", '
        f'"secretKey": "webhookSecret", "encoding": "{encoding}"}} and list webhookSecret '
        "in auth.sensitiveKeys"
    )
