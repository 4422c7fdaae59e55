"""When the signature header is missing (another header may carry it, or it is WooCommerce's
unsigned ping), and what a header token that differs from the secret is."""

from __future__ import annotations

import re

from whdebug.engine.report import Attempt
from whdebug.engine.signatures._context import VerifyContext
from whdebug.engine.signatures.digests import (
    ALGORITHMS,
    SIGNATURE_PREFIX,
    TYPE_ALGORITHM,
    compute_hmac,
    describe_content,
    encode_digest,
    equal,
)
from whdebug.engine.signatures.schemes import signature_like_headers
from whdebug.engine.signatures.secrets import secret_hint
from whdebug.model.request import CapturedRequest


def header_missing(
    context: VerifyContext, header_name: str, kind: str, secret: str | None, encoding: str
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
                    stripped = SIGNATURE_PREFIX.sub("", value.strip())
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


def diagnose_token(
    context: VerifyContext, header_name: str, received: str
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
        f"{header_name} ({secret_hint(received)}) does not equal the configured secret "
        f"({secret_hint(resolution.value)})",
        f"copy the token the provider sends into credentials.{resolution.key}",
    )
    return "token differs from the secret", attempts
