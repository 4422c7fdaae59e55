"""HMAC primitives: digests, encodings, constant-time comparison, signed-content previews.

A large body's runtime digest is computed while the body is parsed (SPEC 6: a 64 MiB passing
body costs about one HMAC). The caller owns that work: `prefetch_runtime_digest` starts one
dedicated thread per large body and returns it as a `DigestThread`, which the caller joins
(`result()`, or `close()` when the digest is not needed). A thread per body, rather than a
pool, keeps the module free of global state and leaves nothing running between analyses;
its start-up (tens of microseconds) is noise beside hashing the megabyte it is used for, and
bodies under `PARALLEL_MIN_BODY` never start one.
"""

from __future__ import annotations

import base64
import hmac
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives import constant_time, hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from whdebug.engine._specs import VerificationSpec
from whdebug.engine.report import SignedContent
from whdebug.engine.signatures.secrets import resolve_secret
from whdebug.model.request import CapturedRequest, Secrets

ALGORITHMS = ("sha256", "sha1", "sha512")
TYPE_ALGORITHM = {"hmac-sha256": "sha256", "hmac-sha1": "sha1"}
#: Signature prefixes providers put before a digest (the runtime strips only the first two).
SIGNATURE_PREFIX = re.compile(r"^(sha256|sha1|sha512|v0|v1)[=,]")
HEX = re.compile(r"^[0-9a-fA-F]+$")
B64 = re.compile(r"^[A-Za-z0-9+/_-]+={0,2}$")

#: Bodies at least this large are verified in a worker thread while the body is parsed.
PARALLEL_MIN_BODY = 1024 * 1024


_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha1": hashes.SHA1, "sha512": hashes.SHA512}


def compute_hmac(secret: bytes, algorithm: str, content: bytes) -> bytes:
    """HMAC with `cryptography`, which keeps the GIL: on a busy receiver, releasing it for a
    2 KB body costs far more in thread hand-offs than the hash itself. A copy of an HMAC
    already keyed with the secret (remembered per secret and algorithm) skips the keying."""
    keyed = _KEYED.get((secret, algorithm))
    if keyed is None:
        keyed = crypto_hmac.HMAC(secret, _HASHES[algorithm]())
        if len(_KEYED) >= 256:  # the diagnosis search tries many secret forms
            _KEYED.clear()
        _KEYED[(secret, algorithm)] = keyed
    mac = keyed.copy()
    mac.update(content)
    return mac.finalize()


_KEYED: dict[tuple[bytes, str], crypto_hmac.HMAC] = {}
"""HMACs keyed with a secret and not yet fed (only ever copied)."""


def compute_hmac_releasing_gil(secret: bytes, algorithm: str, content: bytes) -> bytes:
    """The same digest via the standard library's one-shot OpenSSL HMAC, which releases the
    GIL: for a large body in a worker thread, so parsing proceeds at the same time."""
    return hmac.digest(secret, content, algorithm)


class DigestThread:
    """The runtime's HMAC of one large body, computed in its own thread (see the module doc)."""

    __slots__ = ("secret", "algorithm", "_thread", "_digest")

    def __init__(self, secret: bytes, algorithm: str, content: bytes) -> None:
        self.secret = secret
        self.algorithm = algorithm
        self._digest = b""
        started = threading.Event()

        def run() -> None:
            started.set()
            self._digest = compute_hmac_releasing_gil(secret, algorithm, content)

        self._thread = threading.Thread(target=run, name="whdebug-hmac", daemon=True)
        self._thread.start()
        # OpenSSL drops the GIL inside the HMAC; once the thread runs, the caller can parse
        # the body (a C call that keeps the GIL) and both proceed at once.
        started.wait()

    def result(self) -> bytes:
        """The digest, once the thread has finished."""
        self._thread.join()
        return self._digest

    def close(self) -> None:
        """Wait for the thread, so none outlives the analysis that started it."""
        self._thread.join()


def prefetch_runtime_digest(
    request: CapturedRequest,
    spec: VerificationSpec | None,
    auth_config: Mapping[str, Any],
    secrets: Secrets,
    *,
    nullish: bool = False,
) -> DigestThread | None:
    """Start the runtime's own HMAC in a thread when the body is large, else None."""
    if len(request.body) < PARALLEL_MIN_BODY or request.truncated:
        return None
    if spec is None or spec.type not in TYPE_ALGORITHM or not spec.secret_key:
        return None
    resolution = resolve_secret(spec.secret_key, auth_config, secrets)
    secret = resolution.nullish_value if nullish else resolution.value
    if secret is None:
        return None
    return DigestThread(secret.encode("utf-8"), TYPE_ALGORITHM[spec.type], request.body)


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
    try:
        return hmac.compare_digest(a, b)  # ASCII text (a hex or base64 digest): no copies
    except TypeError:
        return constant_time.bytes_eq(a.encode("latin-1", "replace"),
                                      b.encode("latin-1", "replace"))


_PRINTABLE = bytes(b if 32 <= b < 127 else 46 for b in range(256))


def describe_content(label: str, content: bytes) -> SignedContent:
    """Length and the first 32 bytes as hex and as text (non-printables shown as '.')."""
    head = content[:32]
    return SignedContent(
        label, len(content), head.hex(" "), head.translate(_PRINTABLE).decode("ascii")
    )
