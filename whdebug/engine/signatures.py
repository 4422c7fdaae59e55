"""Signature verification as the runtime does it, and the search that explains a failure."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import constant_time

from whdebug.definition import Definition
from whdebug.engine.paths import Body
from whdebug.engine.report import Attempt, Finding, SecretStatus, SignatureResult, SignedContent
from whdebug.engine.report import finding as make_finding
from whdebug.engine.secrets import Resolution, resolve_secret, secret_hint
from whdebug.models import CapturedRequest, Secrets

ALGORITHMS = ("sha256", "sha1", "sha512")
TYPE_ALGORITHM = {"hmac-sha256": "sha256", "hmac-sha1": "sha1"}
STALE_AFTER_SECONDS = 300
#: Bodies larger than this skip the re-serialisation variants (each costs a full HMAC).
VARIANT_BODY_LIMIT = 4 * 1024 * 1024
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_B64 = re.compile(r"^[A-Za-z0-9+/_-]+={0,2}$")
_SIGNATURE_WORDS = ("signature", "hmac", "-sig", "sig-", "token", "hub-")
_PREFIX = re.compile(r"^(sha256|sha1|sha512|v0|v1)[=,]")


#: Bodies at least this large are verified in a worker thread while the body is parsed.
PARALLEL_MIN_BODY = 1024 * 1024
_pool: ThreadPoolExecutor | None = None


def compute_hmac(secret: bytes, algorithm: str, content: bytes) -> bytes:
    """One-shot OpenSSL HMAC; it releases the GIL on large bodies, so a worker thread can
    verify while the body is parsed (comparisons use `cryptography`'s constant-time check)."""
    return hmac.digest(secret, content, algorithm)


@dataclass(frozen=True, slots=True)
class Prefetch:
    """The runtime's HMAC of a large body, started before the body is parsed."""

    secret: bytes
    algorithm: str
    digest: Future[bytes]


def prefetch_runtime_digest(
    request: CapturedRequest, definition: Definition, secrets: Secrets, *, nullish: bool = False
) -> Prefetch | None:
    """Start the runtime's own HMAC in a worker thread when the body is large, else None."""
    global _pool
    if len(request.body) < PARALLEL_MIN_BODY or request.truncated:
        return None
    config = definition.webhook.get("verification")
    if not isinstance(config, dict) or config.get("type") not in TYPE_ALGORITHM:
        return None
    key = config.get("secretKey")
    if not isinstance(key, str) or not key:
        return None
    resolution = resolve_secret(key, definition, secrets)
    secret = resolution.nullish_value if nullish else resolution.value
    if secret is None:
        return None
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="whdebug-hmac")
    algorithm = TYPE_ALGORITHM[config["type"]]
    secret_bytes = secret.encode("utf-8")
    started = threading.Event()

    def run() -> bytes:
        started.set()
        return compute_hmac(secret_bytes, algorithm, request.body)

    future = _pool.submit(run)
    # OpenSSL drops the GIL inside the HMAC; once the worker is running, the caller can parse
    # the body (a C call that keeps the GIL) and both proceed at once.
    started.wait()
    return Prefetch(secret_bytes, algorithm, future)


def encode_digest(digest: bytes, encoding: str) -> str:
    if encoding == "base64":
        return base64.b64encode(digest).decode("ascii")
    return digest.hex()


def strip_runtime_prefix(value: str) -> str:
    """The runtime strips a leading `sha256=` or `sha1=` and nothing else."""
    for prefix in ("sha256=", "sha1="):
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def equal(a: str, b: str) -> bool:
    """Constant-time string comparison (latin-1 keeps every header byte)."""
    return constant_time.bytes_eq(a.encode("latin-1", "replace"), b.encode("latin-1", "replace"))


_PRINTABLE = bytes(b if 32 <= b < 127 else 46 for b in range(256))


def describe_content(label: str, content: bytes) -> SignedContent:
    """Length and the first 32 bytes as hex and as text (non-printables shown as '.')."""
    head = content[:32]
    return SignedContent(
        label, len(content), head.hex(" "), head.translate(_PRINTABLE).decode("ascii")
    )


def signature_like_headers(request: CapturedRequest) -> list[str]:
    """Names of headers that look like they carry a signature or token, in arrival order."""
    names: list[str] = []
    for name, _ in request.headers:
        lowered = name.lower()
        if lowered in ("authorization",) or any(word in lowered for word in _SIGNATURE_WORDS):
            if name not in names:
                names.append(name)
    return names


# --- provider schemes -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scheme:
    """A provider signing scheme recognised from the request headers."""

    name: str
    title: str
    contents: tuple[tuple[str, bytes], ...]
    """(label, signed bytes) pairs the provider may have signed."""
    candidates: tuple[tuple[str, str], ...]
    """(label, signature value) pairs found in the scheme's headers."""
    timestamp: str | None
    secret_transform: Callable[[str], list[tuple[str, bytes]]] | None = None
    description: str = ""


def _standard_secret(secret: str) -> list[tuple[str, bytes]]:
    stripped = secret.removeprefix("whsec_")
    variants: list[tuple[str, bytes]] = []
    try:
        variants.append(("whsec-base64-decoded", base64.b64decode(stripped, validate=True)))
    except (binascii.Error, ValueError):
        pass
    return variants


def detect_scheme(request: CapturedRequest) -> Scheme | None:
    """Slack v0, Stripe t=/v1= and Standard Webhooks/Svix, from their headers."""
    body = request.body
    slack = request.header("x-slack-signature")
    if slack is not None:
        timestamp = request.header("x-slack-request-timestamp") or ""
        values = tuple(
            ("X-Slack-Signature v0", v[3:]) for v in _split(slack) if v.startswith("v0=")
        )
        return Scheme(
            "slack",
            "Slack (v0)",
            (("slack v0:{timestamp}:{body}", b"v0:" + timestamp.encode() + b":" + body),),
            values,
            timestamp or None,
            description="Slack signs 'v0:{timestamp}:{body}' and sends 'v0=<hex>'",
        )
    stripe = request.header("stripe-signature")
    if stripe is not None:
        fields = [item.split("=", 1) for item in stripe.split(",") if "=" in item]
        timestamp = next((v.strip() for k, v in fields if k.strip() == "t"), "")
        values = tuple(
            (f"Stripe-Signature {k.strip()}", v.strip())
            for k, v in fields
            if k.strip() in ("v1", "v0")
        )
        return Scheme(
            "stripe",
            "Stripe",
            (("stripe {timestamp}.{body}", timestamp.encode() + b"." + body),),
            values,
            timestamp or None,
            description="Stripe signs '{t}.{body}' and sends 't=<ts>,v1=<hex>'",
        )
    for prefix in ("webhook", "svix"):
        signature = request.header(f"{prefix}-signature")
        if signature is None:
            continue
        message_id = request.header(f"{prefix}-id") or ""
        timestamp = request.header(f"{prefix}-timestamp") or ""
        values = tuple(
            (f"{prefix}-signature v1", item.split(",", 1)[1])
            for item in signature.split()
            if item.startswith("v1,") and "," in item
        )
        signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
        return Scheme(
            "standard-webhooks",
            "Standard Webhooks" if prefix == "webhook" else "Svix (Standard Webhooks)",
            (("standard-webhooks {id}.{timestamp}.{body}", signed),),
            values,
            timestamp or None,
            _standard_secret,
            description="Standard Webhooks signs '{id}.{timestamp}.{body}' with the base64-decoded "
            "whsec_ secret and sends 'v1,<base64>'",
        )
    return None


def _split(value: str) -> list[str]:
    return [item.strip() for item in re.split(r"[,\s]+", value) if item.strip()]


# --- the runtime's own attempt ----------------------------------------------------------------


@dataclass(slots=True)
class _Context:
    request: CapturedRequest
    definition: Definition
    config: dict[str, Any]
    resolution: Resolution | None
    now: datetime
    findings: list[Finding] = field(default_factory=list)

    def add(self, code: str, message: str, fix: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("step", "verify")
        self.findings.append(make_finding(code, message, fix, **kwargs))


def verify_signature(
    request: CapturedRequest,
    definition: Definition,
    secrets: Secrets,
    *,
    now: datetime,
    body: Body | None = None,
    nullish: bool = False,
    diagnose: bool = True,
    prefetch: Prefetch | None = None,
) -> tuple[SignatureResult, list[Finding]]:
    """Run the runtime's verification; on failure search for what would have matched."""
    verification = definition.webhook.get("verification")
    config = verification if isinstance(verification, dict) else {}
    kind = config.get("type")
    if not config or kind in (None, "none"):
        return _unverified(request, kind, now)
    header_name = config.get("headerName") if isinstance(config.get("headerName"), str) else None
    secret_key = config.get("secretKey") if isinstance(config.get("secretKey"), str) else None
    encoding: str = "base64" if config.get("encoding") == "base64" else "hex"
    resolution = resolve_secret(secret_key, definition, secrets) if secret_key else None
    context = _Context(request, definition, config, resolution, now)
    status = _secret_status(resolution)
    received_raw = request.header(header_name) if header_name else None

    def result(
        verdict: str,
        reason: str,
        attempts: list[Attempt],
        scheme: Scheme | None = None,
        enc: str | None = encoding,
    ) -> tuple[SignatureResult, list[Finding]]:
        age = _timestamp_check(context, scheme, detect=verdict != "pass")
        return (
            SignatureResult(
                type=kind,
                header=header_name,
                encoding=enc,
                secret_key=secret_key,
                received=_mask_received(kind, received_raw),
                secret=status,
                verdict=verdict,  # type: ignore[arg-type]
                reason=reason,
                attempts=tuple(attempts),
                scheme=scheme.name if scheme else None,
                timestamp_age_seconds=age,
            ),
            context.findings,
        )

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
        return result("fail", *_header_missing(context, header_name, kind, secret, encoding))
    if secret is None:
        return result("fail", "no secret to verify with", [])

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
            _diagnose_token(context, header_name, received_raw)
            if diagnose
            else ("header value differs from the secret", [])
        )
        return result("fail", reason, [attempt, *extra], enc=None)

    algorithm = TYPE_ALGORITHM[kind]
    received = strip_runtime_prefix(received_raw)
    secret_bytes = secret.encode("utf-8")
    if prefetch is not None and prefetch.secret == secret_bytes and prefetch.algorithm == algorithm:
        digest = prefetch.digest.result()
    else:
        digest = compute_hmac(secret_bytes, algorithm, request.body)
    computed = encode_digest(digest, encoding)
    match = equal(computed, received)
    runtime_attempt = Attempt(
        secret_source=status.resolved_from or "none",
        algorithm=algorithm,
        encoding=encoding,
        content="raw-body",
        match=match,
        runtime=True,
        secret_hint=secret_hint(secret),
        received_from=f"header {header_name}",
        received=received,
        computed=computed,
        signed=describe_content("raw-body", request.body),
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
    search = _Search(
        context,
        algorithm,
        encoding,
        header_name,
        received_raw,
        received,
        secret,
        {(secret_bytes, algorithm, "raw-body"): digest},
    )
    reason, attempts, scheme = search.run()
    return result("fail", reason, [runtime_attempt, *attempts], scheme)


def _secret_status(resolution: Resolution | None) -> SecretStatus:
    if resolution is None:
        return SecretStatus(None, "absent", "absent")
    nullish_outcome = None
    if resolution.differs_under_nullish:
        nullish_outcome = (
            f"under `??` the runtime would keep the empty credentials.{resolution.key} "
            "and verify with an empty secret"
        )
    return SecretStatus(
        resolution.resolved_from,
        resolution.credentials,
        resolution.auth_config,
        secret_hint(resolution.value),
        nullish_outcome,
    )


def _runtime_secret(context: _Context, nullish: bool) -> str | None:
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
        if resolution.auth_config == "present":
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
    encoding = "hex" if _HEX.match(value) else "base64"
    kind = "hmac-sha1" if len(value) == 40 and encoding == "hex" else "hmac-sha256"
    return (
        f'add "verification": {{"type": "{kind}", "headerName": "{name}", '
        f'"secretKey": "webhookSecret", "encoding": "{encoding}"}} and list webhookSecret '
        "in auth.sensitiveKeys"
    )


def _header_missing(
    context: _Context, header_name: str, kind: str, secret: str | None, encoding: str
) -> tuple[str, list[Attempt]]:
    request = context.request
    if _is_woocommerce_ping(request):
        context.add(
            "SIG_PING",
            "this is WooCommerce's ping: on webhook creation it sends an unsigned form body "
            f"'{request.body.decode('latin-1')[:40]}' with no {header_name}. The runtime answers "
            "401, which WooCommerce tolerates; real deliveries are signed",
            "nothing to change; fire a real event (e.g. update an order) to test verification",
        )
        return "WooCommerce ping (unsigned by design)", []
    present = [n for n in signature_like_headers(request) if n.lower() != header_name.lower()]
    attempts: list[Attempt] = []
    if secret is not None and kind != "header-token" and present:
        configured = TYPE_ALGORITHM[kind]
        source = context.resolution.resolved_from if context.resolution else None
        for algorithm in [configured] + [a for a in ALGORITHMS if a != configured]:
            digest = compute_hmac(secret.encode(), algorithm, request.body)
            for name in present:
                for value in request.header_values(name):
                    stripped = _PREFIX.sub("", value.strip())
                    for enc in ("hex", "base64"):
                        computed = encode_digest(digest, enc)
                        if not equal(computed, stripped):
                            continue
                        attempts.append(
                            Attempt(
                                source or "none",
                                algorithm,
                                enc,
                                "raw-body",
                                True,
                                received_from=f"header {name}",
                                received=stripped,
                                computed=computed,
                                secret_hint=secret_hint(secret),
                                signed=describe_content("raw-body", request.body),
                            )
                        )
                        fix = f'set webhook.verification.headerName to "{name}"'
                        if algorithm == "sha512":
                            fix += " (and switch the provider to SHA-256: the runtime has no "
                            fix += "hmac-sha512)"
                        elif algorithm != configured:
                            fix += f', type to "hmac-{algorithm}"'
                        if enc != encoding:
                            fix += f', encoding to "{enc}"'
                        context.add(
                            "SIG_HEADER_NAME",
                            f"{header_name} is missing, but {name} carries an HMAC-"
                            f"{algorithm.upper()} ({enc}) signature that matches with your secret",
                            fix,
                            pointer="/webhook/verification/headerName",
                        )
                        return f"signature is in {name}, not {header_name}", attempts
    listing = ", ".join(present) if present else "none"
    context.add(
        "SIG_HEADER_MISSING",
        f"header {header_name} is not in the request (signature-like headers present: {listing})",
        "set webhook.verification.headerName to the header the provider signs with"
        + (
            f" (one of: {listing})"
            if present
            else "; check the provider sends signatures "
            "(some only sign once a secret is configured on their side)"
        ),
        pointer="/webhook/verification/headerName",
    )
    return f"{header_name} missing", attempts


def _is_woocommerce_ping(request: CapturedRequest) -> bool:
    return re.fullmatch(rb"webhook_id=\d+", request.body.strip()) is not None


def _diagnose_token(
    context: _Context, header_name: str, received: str
) -> tuple[str, list[Attempt]]:
    resolution = context.resolution
    assert resolution is not None
    attempts: list[Attempt] = []
    for source, value in (
        ("credentials", resolution.credentials_value),
        ("auth.config", resolution.auth_config_value),
    ):
        if not value:
            continue
        for variant, candidate in (("as-is", value), ("trimmed", value.strip())):
            for label, got in (
                ("header value", received),
                ("after 'Bearer '", received.removeprefix("Bearer ")),
            ):
                if equal(got, candidate):
                    attempts.append(
                        Attempt(
                            source,
                            "token",
                            "plain",
                            label,
                            True,
                            secret_variant=variant,
                            secret_hint=secret_hint(value),
                            received_from=f"header {header_name}",
                        )
                    )
                    if source != resolution.resolved_from:
                        context.add(
                            "SIG_WRONG_SECRET_SOURCE",
                            f"{header_name} equals auth.config.{resolution.key}, but the "
                            f"runtime uses credentials.{resolution.key}, which differs",
                            f"fix or remove credentials.{resolution.key} on the install",
                        )
                    elif variant == "trimmed":
                        context.add(
                            "SIG_SECRET_FORMAT",
                            f"the {source} secret has surrounding whitespace",
                            f"remove the whitespace from {source}.{resolution.key}",
                        )
                    else:
                        context.add(
                            "SIG_SECRET_FORMAT",
                            f"{header_name} carries 'Bearer <token>'; the runtime compares "
                            "the whole header value",
                            "store the token with its 'Bearer ' prefix, or have the "
                            "provider send the bare token",
                        )
                    return "token matches only after a correction", attempts
    context.add(
        "SIG_MISMATCH",
        f"{header_name} does not equal the configured secret ({secret_hint(resolution.value)})",
        f"copy the token the provider sends into credentials.{resolution.key}",
    )
    return "token differs from the secret", attempts


# --- diagnosis search -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    label: str
    value: str
    raw: bytes
    encoding: str
    upper_hex: bool
    other_header: str | None = None


def _decode_candidates(label: str, value: str, other_header: str | None = None) -> list[_Candidate]:
    value = value.strip()
    out: list[_Candidate] = []
    if len(value) >= 16 and len(value) % 2 == 0 and _HEX.match(value):
        out.append(
            _Candidate(
                label, value, bytes.fromhex(value), "hex", value != value.lower(), other_header
            )
        )
    if len(value) >= 16 and _B64.match(value):
        padded = value + "=" * (-len(value) % 4)
        for decoder in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                raw = decoder(padded)
            except (binascii.Error, ValueError):
                continue
            if len(raw) in (20, 32, 64):
                out.append(_Candidate(label, value, raw, "base64", False, other_header))
                break
    return out


@dataclass(frozen=True, slots=True)
class _Secret:
    source: str
    variant: str
    value: bytes
    runtime: bool
    hint: str | None = None


class _Search:
    """Tries secret sources x algorithms x encodings x signed contents, cheapest first."""

    def __init__(
        self,
        context: _Context,
        algorithm: str,
        encoding: str,
        header_name: str,
        received_raw: str,
        received: str,
        secret: str,
        digests: dict[tuple[bytes, str, str], bytes],
    ) -> None:
        self.context = context
        self.algorithm = algorithm
        self.encoding = encoding
        self.header_name = header_name
        self.received_raw = received_raw
        self.received = received
        self.secret = secret
        self.digests = digests
        self.request = context.request
        self.scheme = detect_scheme(self.request)
        self.candidates = self._candidates()

    def _candidates(self) -> list[_Candidate]:
        request, header = self.request, self.header_name
        found: list[_Candidate] = list(_decode_candidates(f"header {header}", self.received))
        values = request.header_values(header)
        if len(values) > 1:
            for index, value in enumerate(values, 1):
                found += _decode_candidates(
                    f"value {index} of {len(values)} {header} headers", strip_runtime_prefix(value)
                )
        elements = [_PREFIX.sub("", item) for item in _split(self.received_raw)]
        if len(elements) > 1 or (elements and elements[0] != self.received):
            for index, value in enumerate(elements, 1):
                found += _decode_candidates(f"item {index} of the {header} list", value)
        for value in request.header_values(f"{header}-Previous"):
            found += _decode_candidates(f"header {header}-Previous", strip_runtime_prefix(value))
        for name in signature_like_headers(request):
            if name.lower() in (header.lower(), f"{header}-previous".lower()):
                continue
            for value in request.header_values(name):
                found += _decode_candidates(f"header {name}", _PREFIX.sub("", value), name)
        if self.scheme is not None:
            for label, value in self.scheme.candidates:
                found += _decode_candidates(label, value)
        unique: dict[tuple[bytes, str], _Candidate] = {}
        for candidate in found:
            unique.setdefault((candidate.raw, candidate.label), candidate)
        return list(unique.values())

    def _secrets(self, variants: bool) -> list[_Secret]:
        resolution = self.context.resolution
        assert resolution is not None
        base: list[tuple[str, str]] = []
        for source, value in (
            ("credentials", resolution.credentials_value),
            ("auth.config", resolution.auth_config_value),
        ):
            if value:
                base.append((source, value))
        out: list[_Secret] = []
        for source, value in base:
            runtime = source == resolution.resolved_from
            if not variants:
                out.append(_Secret(source, "as-is", value.encode(), runtime, secret_hint(value)))
                continue
            forms: list[tuple[str, bytes]] = []
            if value.strip() != value:
                forms.append(("trimmed", value.strip().encode()))
            if value.startswith("whsec_"):
                forms.append(("whsec-stripped", value[6:].encode()))
                forms += _standard_secret(value)
            elif len(value) >= 16 and _B64.match(value):
                try:
                    decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
                    forms.append(("base64-decoded", decoded))
                except (binascii.Error, ValueError):
                    pass
            if len(value) >= 16 and len(value) % 2 == 0 and _HEX.match(value):
                forms.append(("hex-decoded", bytes.fromhex(value)))
            out += [
                _Secret(source, variant, raw, False, secret_hint(value)) for variant, raw in forms
            ]
        return out

    def _digest(self, secret: bytes, algorithm: str, label: str, content: bytes) -> bytes:
        key = (secret, algorithm, label)
        digest = self.digests.get(key)
        if digest is None:
            digest = compute_hmac(secret, algorithm, content)
            self.digests[key] = digest
        return digest

    def _algorithms(self) -> list[str]:
        return [self.algorithm] + [a for a in ALGORITHMS if a != self.algorithm]

    def _tiers(self) -> Iterator[tuple[str, list[_Secret], list[str], list[tuple[str, bytes]]]]:
        body = self.request.body
        raw = [("raw-body", body)]
        plain = self._secrets(variants=False)
        if self.scheme is not None:
            yield (
                "scheme",
                plain + self._secrets(variants=True),
                ["sha256"],
                list(self.scheme.contents),
            )
        yield "raw", plain, self._algorithms(), raw
        yield "secret-format", self._secrets(variants=True), self._algorithms(), raw
        if len(body) <= VARIANT_BODY_LIMIT:
            yield "body", plain, [self.algorithm], list(_body_variants(body))
        timestamp_header = self.context.config.get("timestampHeader")
        if isinstance(timestamp_header, str) and self.request.header(timestamp_header):
            ts = (self.request.header(timestamp_header) or "").encode()
            yield (
                "timestamp",
                plain,
                [self.algorithm, "sha256"],
                [
                    ("{timestamp}.{body}", ts + b"." + body),
                    ("{timestamp}{body}", ts + body),
                    ("v0:{timestamp}:{body}", b"v0:" + ts + b":" + body),
                ],
            )

    def run(self) -> tuple[str, list[Attempt], Scheme | None]:
        attempts: list[Attempt] = []
        for tier, secrets, algorithms, contents in self._tiers():
            hit: tuple[_Secret, str, str, bytes, _Candidate] | None = None
            for label, content in contents:
                for secret in secrets:
                    for algorithm in dict.fromkeys(algorithms):
                        digest = self._digest(secret.value, algorithm, label, content)
                        candidate = self._match(digest)
                        if (
                            candidate is None
                            and tier == "raw"
                            and secret.runtime
                            and algorithm == self.algorithm
                        ):
                            continue  # the runtime attempt, already shown
                        attempts.append(
                            self._attempt(secret, algorithm, label, content, digest, candidate)
                        )
                        if candidate is not None and hit is None:
                            hit = (secret, algorithm, label, content, candidate)
            if hit is not None:
                return self._explain(tier, *hit), attempts, self.scheme
        return self._nothing_matched(), attempts, self.scheme

    def _match(self, digest: bytes) -> _Candidate | None:
        for candidate in self.candidates:
            if len(candidate.raw) == len(digest) and constant_time.bytes_eq(candidate.raw, digest):
                return candidate
        return None

    def _attempt(
        self,
        secret: _Secret,
        algorithm: str,
        label: str,
        content: bytes,
        digest: bytes,
        candidate: _Candidate | None,
    ) -> Attempt:
        encoding = candidate.encoding if candidate else self.encoding
        return Attempt(
            secret_source=secret.source,
            algorithm=algorithm,
            encoding=encoding,
            content=label,
            match=candidate is not None,
            secret_variant=secret.variant,
            secret_hint=secret.hint,
            received_from=candidate.label if candidate else f"header {self.header_name}",
            received=candidate.value if candidate else self.received,
            computed=encode_digest(digest, encoding),
            signed=describe_content(label, content),
        )

    def _explain(
        self,
        tier: str,
        secret: _Secret,
        algorithm: str,
        label: str,
        content: bytes,
        candidate: _Candidate,
    ) -> str:
        add = self.context.add
        key = self.context.resolution.key if self.context.resolution else "webhookSecret"
        reasons: list[str] = []
        if tier in ("scheme", "timestamp"):
            assert self.scheme is not None or tier == "timestamp"
            name = self.scheme.name if self.scheme else "timestamp-prefixed"
            title = self.scheme.title if self.scheme else f"timestamp-prefixed ({label})"
            add(
                "SIG_UNSUPPORTED_SCHEME",
                f"the request is signed with the {title} scheme ({name}) and your secret is right "
                f"(it verifies {label}), but the runtime only verifies an HMAC of the raw body, so "
                "it cannot verify this provider's signatures",
                "no definition change makes this pass under hmac-sha256; ask Karzoun for "
                f"{name} support, or use a provider option that signs the raw body or sends a "
                "static token (verification type header-token)",
            )
            return f"valid {title} signature, which the runtime cannot verify"
        if candidate.other_header is not None:
            add(
                "SIG_HEADER_NAME",
                f"the signature in {candidate.other_header} matches, but the definition reads "
                f"{self.header_name}",
                f'set webhook.verification.headerName to "{candidate.other_header}"',
                pointer="/webhook/verification/headerName",
            )
            reasons.append(f"signature is in {candidate.other_header}")
        elif candidate.label != f"header {self.header_name}":
            previous = candidate.label.endswith("-Previous")
            add(
                "SIG_OTHER_VALUE_MATCHES",
                f"{candidate.label} matches, but the runtime reads {self.header_name} as "
                f"{_short(self.received_raw)!r}"
                + (": your secret is the previous one of a rotation" if previous else ""),
                (
                    "update the stored secret to the provider's current one"
                    if previous
                    else "make the provider send one signature value; the runtime compares "
                    "the whole "
                    "header value"
                ),
            )
            reasons.append(f"only {candidate.label} matches")
        if candidate.encoding != self.encoding:
            add(
                "SIG_ENCODING",
                f"the signature is {candidate.encoding}-encoded, the definition says "
                f"{self.encoding}",
                f'set webhook.verification.encoding to "{candidate.encoding}"',
                pointer="/webhook/verification/encoding",
            )
            reasons.append(f"{candidate.encoding} encoding")
        elif candidate.upper_hex:
            add(
                "SIG_HEX_CASE",
                "the signature matches except for letter case: the provider sends upper-case hex "
                "and the runtime compares strings",
                'have the provider send lower-case hex (or base64 with encoding "base64"); no '
                "definition change fixes the case",
            )
            reasons.append("upper-case hex")
        elif candidate.encoding == "base64" and candidate.value != encode_digest(
            candidate.raw, "base64"
        ):
            add(
                "SIG_ENCODING",
                "the signature is URL-safe or unpadded base64; the runtime compares it with "
                "standard padded base64",
                "have the provider send standard base64",
            )
            reasons.append("base64 variant")
        if algorithm != self.algorithm:
            if algorithm in ("sha1", "sha256"):
                fix = f'set webhook.verification.type to "hmac-{algorithm}"'
            else:
                fix = (
                    "the runtime supports only hmac-sha256 and hmac-sha1: switch the provider "
                    "to SHA-256"
                )
            add(
                "SIG_ALGORITHM",
                f"the signature is HMAC-{algorithm.upper()}, the definition says "
                f"HMAC-{self.algorithm.upper()}",
                fix,
                pointer="/webhook/verification/type",
            )
            reasons.append(f"HMAC-{algorithm.upper()}")
        if not secret.runtime and secret.variant == "as-is":
            runtime_source = (
                self.context.resolution.resolved_from if self.context.resolution else None
            )
            add(
                "SIG_WRONG_SECRET_SOURCE",
                f"the request was signed with {secret.source}.{key}, but the runtime uses "
                f"{runtime_source}.{key}, which holds a different value",
                (
                    f"remove or correct credentials.{key} on the install (the registration "
                    "request's mapping may store the wrong field)"
                    if secret.source == "auth.config"
                    else f"make auth.config.{key} and credentials.{key} agree"
                ),
            )
            reasons.append(f"{secret.source} secret")
        if secret.variant != "as-is":
            explain = {
                "trimmed": "with surrounding whitespace removed",
                "whsec-stripped": "without its whsec_ prefix",
                "whsec-base64-decoded": "as the base64-decoded bytes after whsec_",
                "base64-decoded": "as base64-decoded bytes",
                "hex-decoded": "as hex-decoded bytes",
            }[secret.variant]
            fix = {
                "trimmed": f"remove the whitespace from {secret.source}.{key}",
                "whsec-stripped": f"store the secret in {secret.source}.{key} without 'whsec_'",
            }.get(
                secret.variant,
                "the runtime uses the secret string as-is; the provider's "
                "key derivation cannot be expressed in the definition",
            )
            add(
                "SIG_SECRET_FORMAT",
                f"the signature matches only with the {secret.source} secret {explain}",
                fix,
            )
            reasons.append(f"secret {secret.variant}")
        if tier == "body":
            add(
                "SIG_BODY_MODIFIED",
                f"the signature matches the body {label}: the bytes received are not the bytes "
                "that were signed (a proxy, tunnel or test script re-encoded them)",
                "send the body exactly as signed (curl --data-binary @file, not -d or --json; "
                "no JSON re-serialisation in between)",
            )
            reasons.append(f"body {label}")
        if self.scheme is not None:
            self._scheme_unverified()
        return "matches only with: " + ", ".join(reasons) if reasons else "matches after correction"

    def _scheme_unverified(self) -> None:
        scheme = self.scheme
        assert scheme is not None
        self.context.add(
            "SIG_UNSUPPORTED_SCHEME",
            f"the headers carry a {scheme.title} signature ({scheme.name}): "
            f"{scheme.description}. The runtime verifies only an HMAC of the raw body and "
            "cannot verify it",
            f"no definition change makes {scheme.name} signatures pass; ask Karzoun for "
            f"{scheme.name} support or use a provider option that signs the raw body",
        )

    def _nothing_matched(self) -> str:
        if self.scheme is not None:
            self._scheme_unverified()
            return f"{self.scheme.title} signature: the runtime cannot verify it"
        resolution = self.context.resolution
        assert resolution is not None
        if not self.candidates:
            self.context.add(
                "SIG_MISMATCH",
                f"{self.header_name} holds {_short(self.received_raw)!r}, which is neither hex "
                "nor base64 of a SHA digest",
                "check the provider's signature format; this header may not carry an HMAC",
            )
            return "received value is not a digest"
        self.context.add(
            "SIG_MISMATCH",
            f"no secret, algorithm, encoding or body variant reproduces {self.header_name}: the "
            f"secret is wrong ({resolution.resolved_from}.{resolution.key}, "
            f"{secret_hint(resolution.value)})",
            f"copy the signing secret from the provider's webhook settings into "
            f"{resolution.resolved_from}.{resolution.key}"
            + (
                ""
                if resolution.resolved_from == "auth.config"
                else f" (the install's credentials; --credential {resolution.key}=... here)"
            ),
        )
        return "wrong secret: nothing matched"


def _short(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _body_variants(body: bytes) -> Iterator[tuple[str, bytes]]:
    """Bodies a provider may have signed before something altered the bytes in transit."""
    seen = {body}

    def emit(label: str, content: bytes) -> Iterator[tuple[str, bytes]]:
        if content not in seen:
            seen.add(content)
            yield label, content

    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        document = None
    else:
        yield from emit(
            "re-serialized as compact JSON",
            json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode(),
        )
        yield from emit(
            "re-serialized as compact JSON with \\u escapes",
            json.dumps(document, separators=(",", ":")).encode(),
        )
        yield from emit(
            "re-serialized with Python's json.dumps spacing", json.dumps(document).encode()
        )
        yield from emit(
            "re-serialized as pretty JSON (2 spaces)",
            json.dumps(document, indent=2, ensure_ascii=False).encode(),
        )
        yield from emit(
            "re-serialized as pretty JSON (4 spaces)",
            json.dumps(document, indent=4, ensure_ascii=False).encode(),
        )
    if body.endswith(b"\r\n"):
        yield from emit("with the trailing CRLF removed", body[:-2])
    if body.endswith(b"\n"):
        yield from emit("with the trailing newline removed", body[:-1])
    else:
        yield from emit("with a trailing newline added", body + b"\n")
    if b"\r\n" in body:
        yield from emit("with CRLF line endings turned into LF", body.replace(b"\r\n", b"\n"))
    elif b"\n" in body:
        yield from emit("with LF line endings turned into CRLF", body.replace(b"\n", b"\r\n"))
    bom = b"\xef\xbb\xbf"
    if body.startswith(bom):
        yield from emit("without its UTF-8 BOM", body[3:])
    else:
        yield from emit("with the UTF-8 BOM it lost in transit", bom + body)
    if document is not None:
        yield from emit("with trailing whitespace removed", body.rstrip())


# --- timestamps -------------------------------------------------------------------------------


def _timestamp_check(context: _Context, scheme: Scheme | None, detect: bool) -> float | None:
    """Age of the request's timestamp; provider schemes are only looked for when `detect`."""
    request = context.request
    header = context.config.get("timestampHeader")
    raw: str | None = None
    label = ""
    if isinstance(header, str) and request.header(header):
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
    reference = request.received_at or context.now
    age = reference.timestamp() - sent
    if abs(age) > STALE_AFTER_SECONDS:
        when = (
            "when it was received"
            if request.received_at
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
