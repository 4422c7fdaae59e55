"""SecretSet: which values are secrets, every form they take, and masking that holds."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

import pytest

from whdebug.model.definition import parse_definition
from whdebug.model.secrecy import (
    MASK,
    QUERY_MASK,
    Secrets,
    SecretSet,
    config_secret_reason,
    is_secret_header,
    is_secret_param,
)

SIGNING = "prod-signing-value-777"
LEAKY = """const app = {
  ns: 'leaky', version: '1.0.0',
  auth: {
    type: 'apikey',
    sensitiveKeys: ['accessToken'],
    config: {signing: 'prod-signing-value-777', accessToken: '', region: 'eu-west'},
  },
  webhook: {verification: {type: 'hmac-sha256', headerName: 'X-Sig', secretKey: 'signing'}},
};"""


def test_the_verification_secret_is_a_secret_without_sensitive_keys() -> None:
    definition = parse_definition(LEAKY)
    secrets = SecretSet.build(definition)
    assert SIGNING in secrets.values
    assert "eu-west" not in secrets.values
    assert "verification" in (config_secret_reason(definition, "signing") or "")


def test_a_placeholder_sent_as_a_credential_names_a_secret() -> None:
    definition = parse_definition(json.dumps({
        "ns": "x", "auth": {"config": {"shopUser": "ck_live_value", "shopPass": "hunter2-value",
                                       "storeId": "store-77"}},
        "actions": {"list": {"headers": {"Authorization": "Basic [[shopUser]]:[[shopPass]]",
                                         "Store-Id": "[[storeId]]"}}},
    }))
    assert {"ck_live_value", "hunter2-value"} <= set(SecretSet.build(definition).values)
    assert "store-77" not in SecretSet.build(definition).values
    assert config_secret_reason(definition, "storeId") is None


def test_credentials_config_and_typed_values_are_secrets() -> None:
    secrets = SecretSet.build(None, Secrets({"webhookSecret": "cred-secret-1"},
                                            {"apiKey": "config-secret-2"}), typed=["typed-3-x"])
    assert set(secrets.values) == {"cred-secret-1", "config-secret-2", "typed-3-x"}
    assert SecretSet.build(None, Secrets({"k": "abc"})).unscanned == ('credential "k"',)


FORMS = {
    "raw": lambda s: s,
    "json": lambda s: json.dumps(s)[1:-1],
    "url": lambda s: quote(s, safe=""),
    "form": quote_plus,
    "hex": lambda s: s.encode().hex(),
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "basic-auth": lambda s: base64.b64encode(f"user:{s}".encode()).decode(),
    "basic-auth-2": lambda s: base64.b64encode(f"us:{s}".encode()).decode(),
    "basic-auth-3": lambda s: base64.b64encode(f"u:{s}".encode()).decode(),
    "urlsafe-base64": lambda s: base64.urlsafe_b64encode(b"\xff\xfe" + s.encode()).decode(),
}


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("secret", ["s3cr3t/value+with=chars \"q\"", "plain-secret-value-42"])
def test_every_form_is_masked_and_found(form: str, secret: str) -> None:
    secrets = SecretSet.build(None, Secrets({"webhookSecret": secret}))
    shown = FORMS[form](secret)
    text = f"Authorization-ish: {shown} end"
    masked = secrets.mask(text)
    assert MASK in masked
    assert shown not in masked
    leaks = secrets.find_leaks({"a.txt": b"line one\n" + text.encode()})
    assert [(leak.file, leak.secret, leak.line) for leak in leaks] == [
        ("a.txt", 'credential "webhookSecret"', 2)]


def test_scrub_walks_dataclasses_and_containers() -> None:
    @dataclass(frozen=True)
    class Inner:
        text: str
        items: tuple[str, ...]

    secrets = SecretSet.build(None, Secrets({"k": "topsecret"}))
    value = {"a": [Inner("x topsecret y", ("topsecret",))], "b": 3}
    assert secrets.scrub(value) == {"a": [Inner(f"x {MASK} y", (MASK,))], "b": 3}


def test_headers_credentials_masked_signatures_kept() -> None:
    secrets = SecretSet.build(None, Secrets({"k": "inner-secret"}))
    headers = [("Authorization", "Bearer abc.def"), ("X-Batch-Token", "tok-1"),
               ("X-Hub-Signature-256", "sha256=00ff"), ("Cookie", "a=b"),
               ("X-Note", "has inner-secret inside"), ("Content-Type", "application/json")]
    assert secrets.mask_headers(headers) == [
        ("Authorization", MASK), ("X-Batch-Token", MASK),
        ("X-Hub-Signature-256", "sha256=00ff"), ("Cookie", MASK),
        ("X-Note", MASK), ("Content-Type", "application/json")]
    assert secrets.mask_headers(headers, signatures=True)[2] == ("X-Hub-Signature-256", MASK)
    assert secrets.mask_headers([("X-Custom", "v")], also=["x-custom"]) == [("X-Custom", MASK)]


def test_query_masks_credential_params_and_keeps_the_rest_raw() -> None:
    secrets = SecretSet.build(None, Secrets({"k": "zzsecretzz"}))
    assert secrets.mask_query("a=%2F&token=abc&api_key=1&x=zzsecretzz&flag") == (
        f"a=%2F&token={QUERY_MASK}&api_key={QUERY_MASK}&x={QUERY_MASK}&flag")
    assert secrets.mask_target("/hook?access_token=abc") == f"/hook?access_token={QUERY_MASK}"
    assert is_secret_param("access_token") and not is_secret_param("page")
    assert is_secret_header("X-Api-Key") and not is_secret_header("X-Signature")


def test_short_values_are_not_masked() -> None:
    secrets = SecretSet.build(None, Secrets({"k": "ab"}))
    assert secrets.mask("ab cab") == "ab cab"
    assert not secrets


def _mask_head_reference(secrets: SecretSet, head: bytes) -> tuple[str, str] | None:
    """mask_head as first written: every form, every cut tried in turn."""
    from whdebug.model.secrecy import MASK, MIN_SECRET, _merged, _printable

    spans = []
    for form in secrets.forms:
        raw = form.encode("utf-8", "surrogatepass")
        start = head.find(raw)
        while start >= 0:
            spans.append((start, start + len(raw)))
            start = head.find(raw, start + 1)
        for cut in range(min(len(raw) - 1, len(head)), MIN_SECRET - 1, -1):
            if head.endswith(raw[:cut]):
                spans.append((len(head) - cut, len(head)))
                break
    if not spans:
        return None
    hex_parts: list[str] = []
    text, position = "", 0
    for start, end in sorted(_merged(spans)):
        hex_parts += [f"{byte:02x}" for byte in head[position:start]] + [MASK]
        text += _printable(head[position:start]) + MASK
        position = end
    hex_parts += [f"{byte:02x}" for byte in head[position:]]
    return " ".join(hex_parts), text + _printable(head[position:])


def test_mask_head_masks_what_trying_every_cut_masks() -> None:
    import random

    from whdebug.model.secrecy import NamedSecret

    chance = random.Random(3)
    masked = 0
    for _ in range(600):
        values = ["".join(chance.choice("abAB12+/=") for _ in range(chance.randint(4, 12)))
                  for _ in range(chance.randint(1, 3))]
        secrets = SecretSet([NamedSecret("s", value) for value in values])
        forms = [form.encode() for form in secrets.forms]
        for _ in range(5):
            parts: list[bytes] = []
            while sum(map(len, parts)) < 40:
                if chance.random() < 0.3:
                    form = chance.choice(forms)
                    parts.append(form[:chance.randint(1, len(form))])
                else:
                    parts.append(bytes(chance.choice(b"abAB12+/=xy")
                                       for _ in range(chance.randint(1, 5))))
            head = b"".join(parts)[:chance.randint(0, 32)]
            expected = _mask_head_reference(secrets, head)
            assert secrets.mask_head(head) == expected, (values, head)
            masked += expected is not None
    assert masked > 100
