"""What the search compares against: signature values found in the request, and HMAC keys."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from whdebug.engine.signatures.digests import B64, HEX
from whdebug.engine.signatures.edits import Variant

#: A word before a digest that the runtime does not strip: `v1=`, `hmac-sha256=`, `HMAC `.
UNKNOWN_PREFIX = re.compile(r"^(?P<prefix>[A-Za-z][\w.-]*(?:=|,|:|\s+))(?P<digest>\S+)$")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A signature value from the request, decoded to digest bytes."""

    label: str
    value: str
    raw: bytes
    encoding: str
    upper_hex: bool
    other_header: str | None = None
    prefix: str | None = None
    """A prefix before the digest that the runtime does not strip."""


def decode_candidates(
    label: str, value: str, other_header: str | None = None, prefix: str | None = None
) -> list[Candidate]:
    """The digests `value` may encode (hex, base64 or URL-safe base64)."""
    value = value.strip()
    out: list[Candidate] = []
    if len(value) >= 16 and len(value) % 2 == 0 and HEX.match(value):
        out.append(
            Candidate(label, value, bytes.fromhex(value), "hex", value != value.lower(),
                      other_header, prefix)
        )
    if len(value) >= 16 and B64.match(value):
        padded = value + "=" * (-len(value) % 4)
        for decoder in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                raw = decoder(padded)
            except (binascii.Error, ValueError):
                continue
            if len(raw) in (20, 32, 64):
                out.append(Candidate(label, value, raw, "base64", False, other_header, prefix))
                break
    return out


def prefixed_candidates(label: str, value: str) -> list[Candidate]:
    """The digest after an unknown prefix (`v1=<hex>`, `HMAC <b64>`), when there is one."""
    match = UNKNOWN_PREFIX.match(value.strip())
    if match is None:
        return []
    return decode_candidates(f"{label} after {match.group('prefix')!r}", match.group("digest"),
                             prefix=match.group("prefix"))


@dataclass(frozen=True, slots=True)
class Key:
    """One HMAC key the search tries: a secret source in one derivation."""

    source: str
    variant: str
    value: bytes
    runtime: bool
    hint: str | None = None
    canonical: bool = False
    """The derivation the provider's libraries use (under a provider scheme)."""


@dataclass(frozen=True, slots=True)
class Hit:
    """The first combination that reproduced a signature value."""

    tier: str
    key: Key
    algorithm: str
    label: str
    content: bytes
    candidate: Candidate
    variant: Variant | None = None
