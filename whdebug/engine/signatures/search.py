"""The diagnosis search: secret sources x algorithms x encodings x signed contents."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives import constant_time

from whdebug.engine.bodytext import utf8
from whdebug.engine.report import Attempt
from whdebug.engine.signatures._context import VerifyContext
from whdebug.engine.signatures.digests import (
    ALGORITHMS,
    B64,
    HEX,
    SIGNATURE_PREFIX,
    compute_hmac,
    describe_content,
    encode_digest,
    strip_runtime_prefix,
)
from whdebug.engine.signatures.schemes import (
    Scheme,
    detect_scheme,
    signature_like_headers,
    split_values,
    standard_webhooks_keys,
)
from whdebug.engine.signatures.secrets import secret_hint

#: Bodies larger than this skip the re-serialisation variants (each costs a full HMAC).
VARIANT_BODY_LIMIT = 4 * 1024 * 1024


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
    if len(value) >= 16 and len(value) % 2 == 0 and HEX.match(value):
        out.append(
            _Candidate(
                label, value, bytes.fromhex(value), "hex", value != value.lower(), other_header
            )
        )
    if len(value) >= 16 and B64.match(value):
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


class DiagnosisSearch:
    """Tries secret sources x algorithms x encodings x signed contents, cheapest first."""

    def __init__(
        self,
        context: VerifyContext,
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
        elements = [SIGNATURE_PREFIX.sub("", item) for item in split_values(self.received_raw)]
        if len(elements) > 1 or (elements and elements[0] != self.received):
            for index, value in enumerate(elements, 1):
                found += _decode_candidates(f"item {index} of the {header} list", value)
        for value in request.header_values(f"{header}-Previous"):
            found += _decode_candidates(f"header {header}-Previous", strip_runtime_prefix(value))
        for name in signature_like_headers(request):
            if name.lower() in (header.lower(), f"{header}-previous".lower()):
                continue
            for value in request.header_values(name):
                found += _decode_candidates(f"header {name}", SIGNATURE_PREFIX.sub("", value), name)
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
                forms += standard_webhooks_keys(value)
            elif len(value) >= 16 and B64.match(value):
                try:
                    decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
                    forms.append(("base64-decoded", decoded))
                except (binascii.Error, ValueError):
                    pass
            if len(value) >= 16 and len(value) % 2 == 0 and HEX.match(value):
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
        timestamp_header = self.context.spec.timestamp_header
        if timestamp_header and self.request.header(timestamp_header):
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
                f"{shorten(self.received_raw)!r}"
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
                f"{self.header_name} holds {shorten(self.received_raw)!r}, which is neither hex "
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


def shorten(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _body_variants(body: bytes) -> Iterator[tuple[str, bytes]]:
    """Bodies a provider may have signed before something altered the bytes in transit."""
    seen = {body}

    def emit(label: str, content: bytes) -> Iterator[tuple[str, bytes]]:
        if content not in seen:
            seen.add(content)
            yield label, content

    try:
        reserialized = list(_reserialized(body))
    except RecursionError:  # parsed, but too deep to write back out
        reserialized = []
    for label, content in reserialized:
        yield from emit(label, content)
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
    if reserialized:
        yield from emit("with trailing whitespace removed", body.rstrip())


def _reserialized(body: bytes) -> Iterator[tuple[str, bytes]]:
    """The body parsed and written back the ways a proxy or framework re-serializes JSON."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return
    # a lone surrogate is written as its \\u escape, as JSON.stringify does
    yield ("re-serialized as compact JSON",
           utf8(json.dumps(document, separators=(",", ":"), ensure_ascii=False)))
    yield ("re-serialized as compact JSON with \\u escapes",
           json.dumps(document, separators=(",", ":")).encode())
    yield "re-serialized with Python's json.dumps spacing", json.dumps(document).encode()
    yield ("re-serialized as pretty JSON (2 spaces)",
           utf8(json.dumps(document, indent=2, ensure_ascii=False)))
    yield ("re-serialized as pretty JSON (4 spaces)",
           utf8(json.dumps(document, indent=4, ensure_ascii=False)))
