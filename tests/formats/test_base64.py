"""Bodies in HAR and capture exports: the fast base64 decoder gives binascii's strict answer."""

from __future__ import annotations

import binascii
import random

import pytest

from whdebug.formats.capture_json import decode_base64


def strict(text: str) -> bytes | None:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


def test_same_bytes_and_same_refusals_as_binascii_strict() -> None:
    chance = random.Random(7)
    alphabet = "ABCab01+/=-_ \n*\r"
    for _ in range(20_000):
        text = "".join(chance.choice(alphabet) for _ in range(chance.randint(0, 13)))
        try:
            decoded: bytes | None = decode_base64(text)
        except ValueError:
            decoded = None
        assert decoded == strict(text), repr(text)
    assert decode_base64("+1CA=") == b"\xfbP\x80"  # binascii accepts it, msgspec does not


def test_refusal_names_the_problem() -> None:
    with pytest.raises(ValueError, match="^invalid base64: "):
        decode_base64("aGk*")
