"""The diagnosis search: secret sources x algorithms x encodings x signed contents.

Tiers run cheapest first: the provider scheme (when the headers show one), the raw body
with every algorithm, the secret's other forms, the body edits under the scheme, the body
edits (`edits.py`: single byte edits, their pairs, then re-serialisations), and finally
timestamp-prefixed contents. The first tier with a match explains the failure
(`explain.py`, which the caller runs); when none matches, `explain.py` says why with the
evidence it has.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import constant_time

from whdebug.engine.report import Attempt
from whdebug.engine.signatures._context import VerifyContext
from whdebug.engine.signatures.candidates import (
    Candidate,
    Hit,
    Key,
    decode_candidates,
    prefixed_candidates,
)
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
from whdebug.engine.signatures.edits import Variant, body_variants
from whdebug.engine.signatures.schemes import (
    Scheme,
    detect_scheme,
    signature_like_headers,
    split_values,
)
from whdebug.engine.signatures.secrets import secret_hint
from whdebug.model.request import CapturedRequest
from whdebug.model.secrecy import SecretSet

Content = tuple[str, bytes, Variant | None]


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the caller knows beyond the request: other captures, the body the sender signed."""

    peers: Sequence[CapturedRequest] = ()
    expected_body: bytes | None = None
    expected_name: str = "--expected-body"
    secrets: SecretSet | None = None
    """Every secret of the run: masked in the body bytes a finding quotes."""


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
        evidence: Evidence | None = None,
    ) -> None:
        self.context = context
        self.algorithm = algorithm
        self.encoding = encoding
        self.header_name = header_name
        self.received_raw = received_raw
        self.received = received
        self.secret = secret
        self.digests = digests
        self.evidence = evidence or Evidence()
        self.request = context.request
        self.scheme = detect_scheme(self.request)
        self.candidates = self._candidates()
        self.scheme_candidates = [
            c for c in self.candidates
            if self.scheme is not None and c.label in {label for label, _ in self.scheme.candidates}
        ] or self.candidates
        self.tried = 0
        """HMACs computed by the search (each distinct key x algorithm x content)."""
        self.bodies_tried = 0
        """Body variants tried (edits of the received bytes)."""
        self.notes: list[str] = []
        """The evidence gathered when nothing matched."""

    def secret_forms(self) -> tuple[str, ...]:
        """The texts to mask where a finding quotes body bytes."""
        if self.evidence.secrets is not None:
            return self.evidence.secrets.forms
        resolution = self.context.resolution
        if resolution is None:
            return ()
        return tuple(v for v in (resolution.credentials_value, resolution.auth_config_value) if v)

    def secret_hint(self, source: str | None) -> str | None:
        resolution = self.context.resolution
        if resolution is None:
            return None
        value = (resolution.credentials_value if source == "credentials"
                 else resolution.auth_config_value)
        return secret_hint(value)

    def _candidates(self) -> list[Candidate]:
        request, header = self.request, self.header_name
        found: list[Candidate] = list(decode_candidates(f"header {header}", self.received))
        if not found:
            found += prefixed_candidates(f"header {header}", self.received)
        values = request.header_values(header)
        if len(values) > 1:
            for index, value in enumerate(values, 1):
                found += decode_candidates(
                    f"value {index} of {len(values)} {header} headers", strip_runtime_prefix(value)
                )
        elements = [SIGNATURE_PREFIX.sub("", item) for item in split_values(self.received_raw)]
        if len(elements) > 1 or (elements and elements[0] != self.received):
            for index, value in enumerate(elements, 1):
                found += decode_candidates(f"item {index} of the {header} list", value)
        for value in request.header_values(f"{header}-Previous"):
            found += decode_candidates(f"header {header}-Previous", strip_runtime_prefix(value))
        for name in signature_like_headers(request):
            if name.lower() in (header.lower(), f"{header}-previous".lower()):
                continue
            for value in request.header_values(name):
                found += decode_candidates(f"header {name}", SIGNATURE_PREFIX.sub("", value), name)
        if self.scheme is not None:
            for label, value in self.scheme.candidates:
                found += decode_candidates(label, value)
        unique: dict[tuple[bytes, str], Candidate] = {}
        for candidate in found:
            unique.setdefault((candidate.raw, candidate.label), candidate)
        return list(unique.values())

    def _sources(self) -> list[tuple[str, str]]:
        resolution = self.context.resolution
        assert resolution is not None
        out: list[tuple[str, str]] = []
        for source, value in (
            ("credentials", resolution.credentials_value),
            ("auth.config", resolution.auth_config_value),
        ):
            if value:
                out.append((source, value))
        out.sort(key=lambda item: item[0] != resolution.resolved_from)
        return out

    def _runtime(self, source: str) -> bool:
        resolution = self.context.resolution
        return resolution is not None and source == resolution.resolved_from

    def keys(self, variants: bool) -> list[Key]:
        """The secrets as-is, or (`variants`) in every other form they may be meant in."""
        out: list[Key] = []
        for source, value in self._sources():
            runtime = self._runtime(source)
            if not variants:
                out.append(Key(source, "as-is", value.encode(), runtime, secret_hint(value)))
                continue
            forms: list[tuple[str, bytes]] = []
            if value.strip() != value:
                forms.append(("trimmed", value.strip().encode()))
            if value.startswith("whsec_"):
                forms.append(("whsec-stripped", value[6:].encode()))
                try:
                    decoded = base64.b64decode(value[6:], validate=True)
                    forms.append(("whsec-base64-decoded", decoded))
                except (binascii.Error, ValueError):
                    pass
            elif len(value) >= 16 and B64.match(value):
                try:
                    decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
                    forms.append(("base64-decoded", decoded))
                except (binascii.Error, ValueError):
                    pass
            if len(value) >= 16 and len(value) % 2 == 0 and HEX.match(value):
                forms.append(("hex-decoded", bytes.fromhex(value)))
            out += [Key(source, variant, raw, False, secret_hint(value)) for variant, raw in forms]
        return out

    def scheme_keys(self, canonical_only: bool) -> list[Key]:
        """Each secret in the scheme's derivations, the provider libraries' one first."""
        assert self.scheme is not None
        out: list[Key] = []
        seen: set[tuple[str, bytes]] = set()
        for source, value in self._sources():
            derived = self.scheme.keys(value)
            forms = [(variant, raw, index == 0) for index, (variant, raw) in enumerate(derived)]
            if not canonical_only and value.strip() != value:
                forms += [("trimmed", raw, False) for _, raw in self.scheme.keys(value.strip())[:1]]
            for variant, raw, canonical in forms[:1] if canonical_only else forms:
                if (source, raw) in seen:
                    continue
                seen.add((source, raw))
                out.append(Key(source, variant, raw, self._runtime(source) and variant == "as-is",
                               secret_hint(value), canonical))
        return out

    def digest(self, secret: bytes, algorithm: str, label: str, content: bytes) -> bytes:
        key = (secret, algorithm, label)
        digest = self.digests.get(key)
        if digest is None:
            digest = compute_hmac(secret, algorithm, content)
            self.digests[key] = digest
            self.tried += 1
        return digest

    def _algorithms(self) -> list[str]:
        return [self.algorithm] + [a for a in ALGORITHMS if a != self.algorithm]

    def _variants(self, frame: Scheme | None) -> Iterator[Content]:
        for variant in body_variants(self.request.body):
            self.bodies_tried += 1
            if frame is None:
                yield variant.label, variant.content, variant
            else:
                yield (f"{frame.label} with the {variant.label}", frame.frame(variant.content),
                       variant)

    def _tiers(self) -> Iterator[tuple[str, list[Key], list[str], Iterator[Content]]]:
        body = self.request.body
        plain = self.keys(variants=False)
        scheme = self.scheme
        if scheme is not None:
            yield ("scheme", self.scheme_keys(False), ["sha256"],
                   iter([(scheme.label, scheme.frame(body), None)]))
        yield "raw", plain, self._algorithms(), iter([("raw-body", body, None)])
        yield "secret-format", self.keys(variants=True), self._algorithms(), iter(
            [("raw-body", body, None)])
        if scheme is not None:
            yield "scheme-body", self.scheme_keys(True), ["sha256"], self._variants(scheme)
        yield "body", plain, [self.algorithm], self._variants(None)
        timestamp_header = self.context.spec.timestamp_header
        if timestamp_header and self.request.header(timestamp_header):
            ts = (self.request.header(timestamp_header) or "").encode()
            yield (
                "timestamp",
                plain,
                [self.algorithm, "sha256"],
                iter([
                    ("{timestamp}.{body}", ts + b"." + body, None),
                    ("{timestamp}{body}", ts + body, None),
                    ("v0:{timestamp}:{body}", b"v0:" + ts + b":" + body, None),
                ]),
            )

    def run(self) -> tuple[Hit | None, list[Attempt]]:
        """The first combination that matches (None when nothing does) and every attempt."""
        attempts: list[Attempt] = []
        for tier, keys, algorithms, contents in self._tiers():
            hit: Hit | None = None
            for label, content, variant in contents:
                for key in keys:
                    for algorithm in dict.fromkeys(algorithms):
                        digest = self.digest(key.value, algorithm, label, content)
                        candidate = self._match(digest, tier.startswith("scheme"))
                        if (
                            candidate is None
                            and tier == "raw"
                            and key.runtime
                            and algorithm == self.algorithm
                        ):
                            continue  # the runtime attempt, already shown
                        attempts.append(
                            self._attempt(key, algorithm, label, content, digest, candidate)
                        )
                        if candidate is not None and hit is None:
                            hit = Hit(tier, key, algorithm, label, content, candidate, variant)
                if hit is not None and variant is not None:
                    break  # body edits: the smallest explanation wins
            if hit is not None:
                return hit, attempts
        return None, attempts

    def _match(self, digest: bytes, scheme: bool = False) -> Candidate | None:
        for candidate in self.scheme_candidates if scheme else self.candidates:
            if len(candidate.raw) == len(digest) and constant_time.bytes_eq(candidate.raw, digest):
                return candidate
        return None

    def _attempt(
        self,
        key: Key,
        algorithm: str,
        label: str,
        content: bytes,
        digest: bytes,
        candidate: Candidate | None,
    ) -> Attempt:
        encoding = candidate.encoding if candidate else self.encoding
        return Attempt(
            secret_source=key.source,
            algorithm=algorithm,
            encoding=encoding,
            content=label,
            match=candidate is not None,
            secret_variant=key.variant,
            secret_hint=key.hint,
            received_from=candidate.label if candidate else f"header {self.header_name}",
            received=candidate.value if candidate else self.received,
            computed=encode_digest(digest, encoding),
            signed=describe_content(label, content),
        )

    def verifies(self, content: bytes, request: CapturedRequest | None = None) -> bool:
        """Whether the runtime's secret reproduces a signature of `request` (this one by
        default) over `content` (framed by the request's scheme when there is one)."""
        request = request or self.request
        resolution = self.context.resolution
        if resolution is None or resolution.value is None:
            return False
        scheme = detect_scheme(request) if request is not self.request else self.scheme
        if scheme is not None:
            key = scheme.keys(resolution.value)[0][1]
            contents, algorithms = [scheme.frame(content)], ["sha256"]
            values = [value for _, value in scheme.candidates]
        else:
            key = resolution.value.encode()
            contents, algorithms = [content], [self.algorithm]
            values = [strip_runtime_prefix(v) for v in request.header_values(self.header_name)]
        wanted = [c.raw for v in values for c in decode_candidates("", v)]
        for signed in contents:
            for algorithm in algorithms:
                digest = compute_hmac(key, algorithm, signed)
                self.tried += 1
                if any(len(w) == len(digest) and constant_time.bytes_eq(w, digest)
                       for w in wanted):
                    return True
        return False

