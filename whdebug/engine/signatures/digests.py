"""HMAC primitives: digests, encodings, constant-time comparison, signed-content previews."""

from __future__ import annotations

import base64
import hmac
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from cryptography.hazmat.primitives import constant_time, hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from whdebug.engine.report import SignedContent
from whdebug.engine.signatures.secrets import resolve_secret
from whdebug.model.definition import Definition
from whdebug.model.request import CapturedRequest, Secrets

ALGORITHMS = ("sha256", "sha1", "sha512")
TYPE_ALGORITHM = {"hmac-sha256": "sha256", "hmac-sha1": "sha1"}
#: Signature prefixes providers put before a digest (the runtime strips only the first two).
SIGNATURE_PREFIX = re.compile(r"^(sha256|sha1|sha512|v0|v1)[=,]")
HEX = re.compile(r"^[0-9a-fA-F]+$")
B64 = re.compile(r"^[A-Za-z0-9+/_-]+={0,2}$")

#: Bodies at least this large are verified in a worker thread while the body is parsed.
PARALLEL_MIN_BODY = 1024 * 1024
_pool: ThreadPoolExecutor | None = None


_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha1": hashes.SHA1, "sha512": hashes.SHA512}


def compute_hmac(secret: bytes, algorithm: str, content: bytes) -> bytes:
    """HMAC with `cryptography`, which keeps the GIL: on a busy receiver, releasing it for a
    2 KB body costs far more in thread hand-offs than the hash itself."""
    mac = crypto_hmac.HMAC(secret, _HASHES[algorithm]())
    mac.update(content)
    return mac.finalize()


def compute_hmac_releasing_gil(secret: bytes, algorithm: str, content: bytes) -> bytes:
    """The same digest via the standard library's one-shot OpenSSL HMAC, which releases the
    GIL: for a large body in a worker thread, so parsing proceeds at the same time."""
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
        return compute_hmac_releasing_gil(secret_bytes, algorithm, request.body)

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
