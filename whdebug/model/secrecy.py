"""Secrets: every secret value of a run, its encoded forms, and the one place that masks them.

A `SecretSet` is built once per run from the definition, the install's credentials, the
`--config` overrides and any secret typed into the TUI. Every output path (reports, the CLI,
the TUI, exports, bundles, redaction, signing, sources, the receiver's console) masks through
it, so a secret found anywhere is masked everywhere.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, quote_plus

import msgspec

from whdebug.model.definition import CREDENTIAL
from whdebug.model.request import Secrets

if TYPE_CHECKING:
    from whdebug.model.definition import Definition

__all__ = ["MASK", "QUERY_MASK", "Leak", "NamedSecret", "SecretSet", "Secrets",
           "config_secret_reason", "config_secrets", "credential_placeholders",
           "is_secret_header", "is_secret_name", "is_secret_param", "placeholder_names"]

MASK = "[masked]"
"""What a masked value reads as, everywhere."""
QUERY_MASK = "masked"
"""A masked query value: URL-safe, so an exported URL or curl command still works."""
MIN_SECRET = 4
"""Shorter values are too likely to occur by chance to mask or scan for."""
_MIN_FRAGMENT = 8
"""A base64 fragment of a secret shorter than this would mask innocent text."""

_SECRET_NAME = re.compile(r"secret|token|password|passwd|key|credential|private", re.IGNORECASE)
_SECRET_HEADER = re.compile(
    r"authorization|cookie|token|secret|api-?key|password|session|credential", re.IGNORECASE)
_SIGNATURE_HEADER = re.compile(r"signature|hmac", re.IGNORECASE)
_SECRET_PARAM = re.compile(
    r"token|secret|api[-_]?key|^key$|password|passwd|^auth$|^code$|^sig$|signature|"
    r"credential|session", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class NamedSecret:
    """A secret value and how a message names it (never the value)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Leak:
    """A secret found in a file: which file, which secret (by name) and the line."""

    file: str
    secret: str
    line: int


def is_secret_name(key: str) -> bool:
    """True when a key's name says it holds a secret (`webhookSecret`, `apiKey`, `token`)."""
    return bool(_SECRET_NAME.search(key))


def is_secret_header(name: str, *, signatures: bool = False) -> bool:
    """A header whose value is a credential (Authorization, Cookie, X-Api-Key, X-Batch-Token).

    Signature headers are not secrets and are needed for debugging; `signatures=True`
    counts them too (support bundles leave nothing reusable in a header).
    """
    if _SIGNATURE_HEADER.search(name):
        return signatures
    return bool(_SECRET_HEADER.search(name))


def is_secret_param(name: str) -> bool:
    """A query or form parameter whose value is a credential (`token`, `api_key`, `code`)."""
    return bool(_SECRET_PARAM.search(name))


def placeholder_names(value: Any) -> set[str]:
    """Every key a `[[key]]` placeholder names anywhere inside `value`."""
    names: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            names.update(CREDENTIAL.findall(item))
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return names


def credential_placeholders(value: Any) -> set[str]:
    """Keys that `[[key]]` placeholders send as credentials: inside a credential header
    (`Authorization: 'Basic [[consumerKey]]:[[consumerSecret]]'`, `X-Api-Token`) or a
    credential parameter (`client_secret`, `refresh_token`). `Store-Id: '[[storeId]]'` is
    not one."""
    names: set[str] = set()
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(child, str) and (is_secret_header(str(key))
                                               or is_secret_param(str(key))):
                    names.update(CREDENTIAL.findall(child))
                else:
                    stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)
    return names


def config_secret_reason(definition: Definition, key: str) -> str | None:
    """Why `auth.config[key]` holds a secret, or None when nothing says it does."""
    if key in definition.sensitive_keys:
        return "listed in auth.sensitiveKeys"
    verification = definition.webhook.get("verification")
    if isinstance(verification, dict) and verification.get("secretKey") == key:
        return "the webhook verification secret (webhook.verification.secretKey)"
    if is_secret_name(key):
        return "looks like a secret (add it to auth.sensitiveKeys)"
    if key in credential_placeholders(definition.data):
        return f"sent to the provider as a credential ([[{key}]])"
    return None


def config_secrets(definition: Definition) -> tuple[NamedSecret, ...]:
    """The secret values a definition carries in auth.config, named by their key."""
    return tuple(NamedSecret(f"auth.config.{key} of the definition", value)
                 for key, value in definition.auth_config.items()
                 if isinstance(value, str) and config_secret_reason(definition, key) is not None)


class SecretSet:
    """Every secret value known to one run, and every form it may take in output."""

    __slots__ = ("by_name", "named", "values", "_forms", "_raw", "_firsts", "_by_header",
                 "_any_start")

    def __init__(self, named: Iterable[NamedSecret] = (), *, by_name: bool = True) -> None:
        unique: dict[str, NamedSecret] = {}
        for secret in named:
            if secret.value and secret.value not in unique:
                unique[secret.value] = secret
        self.named: tuple[NamedSecret, ...] = tuple(unique.values())
        self.values: tuple[str, ...] = tuple(sorted(
            (v for v in unique if len(v) >= MIN_SECRET), key=len, reverse=True))
        """Every maskable secret, longest first (so a secret inside another is masked whole)."""
        self._forms: tuple[str, ...] | None = None
        self._raw: tuple[tuple[bytes, ...], frozenset[bytes], int] | None = None
        self._firsts: frozenset[bytes] = frozenset()
        self._any_start: re.Pattern[bytes] | None = None
        """Where any form (whole or cut short) could begin: its first MIN_SECRET bytes."""
        self._by_header: dict[tuple[Any, bool, tuple[str, ...]], Any] = {}
        """By (a name, or a request's names), signatures and `also`: whether each masks."""
        self.by_name = by_name
        """Mask credential-looking headers and query parameters by their name (False under
        `--show-secrets`: they are shown as received; known secret values stay masked)."""

    @classmethod
    def build(cls, definition: Definition | None, secrets: Secrets | None = None,
              typed: Iterable[str] = ()) -> SecretSet:
        """The secrets of a run: credentials, --config values, secret auth.config values and
        any secret typed into the TUI."""
        config = config_secrets(definition) if definition is not None else ()
        return cls.of(secrets, config, typed)

    @classmethod
    def of(cls, secrets: Secrets | None, config: Iterable[NamedSecret] = (),
           typed: Iterable[str] = ()) -> SecretSet:
        """`build`, with the definition's secrets already found (`config_secrets`)."""
        named: list[NamedSecret] = []
        if secrets is not None:
            named += [NamedSecret(f'credential "{key}"', value)
                      for key, value in secrets.credentials.items() if isinstance(value, str)]
            named += [NamedSecret(f'--config "{key}"', value)
                      for key, value in secrets.config.items() if isinstance(value, str)]
        named += config
        named += [NamedSecret("a secret typed into the TUI", value) for value in typed]
        return cls(named)

    def __bool__(self) -> bool:
        return bool(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def with_values(self, *values: str, name: str = "a secret typed into the TUI") -> SecretSet:
        """This set plus more secret values."""
        return SecretSet((*self.named, *(NamedSecret(name, value) for value in values)),
                         by_name=self.by_name)

    def showing_names(self, show: bool = True) -> SecretSet:
        """This set, with credential-looking headers and parameters shown as received when
        `show` (`--show-secrets`); the known secret values stay masked."""
        return SecretSet(self.named, by_name=not show) if show else self

    @property
    def unscanned(self) -> tuple[str, ...]:
        """Names of the secrets too short to mask or scan for."""
        return tuple(s.name for s in self.named if len(s.value) < MIN_SECRET)

    @property
    def forms(self) -> tuple[str, ...]:
        """Every text form of every secret, longest first: as is, JSON-escaped, URL-encoded,
        hex, base64 (standard and URL-safe, at any alignment, as in a Basic-auth header)."""
        if self._forms is None:
            found: set[str] = set()
            for value in self.values:
                found.update(encoded_forms(value))
            self._forms = tuple(sorted(found, key=len, reverse=True))
        return self._forms

    def _raw_forms(self) -> tuple[tuple[bytes, ...], frozenset[bytes], int]:
        """The forms as bytes, every proper beginning of them (MIN_SECRET bytes or more) and
        the longest such beginning."""
        if self._raw is None:
            raws = tuple(form.encode("utf-8", "surrogatepass") for form in self.forms)
            starts = frozenset(raw[:cut] for raw in raws
                               for cut in range(MIN_SECRET, len(raw)))
            self._raw = (raws, starts, max(map(len, starts), default=0))
            self._firsts = frozenset(start[:MIN_SECRET] for start in starts)
            beginnings = self._firsts.union(raw[:MIN_SECRET] for raw in raws)
            self._any_start = re.compile(b"|".join(
                re.escape(b) for b in sorted(beginnings))) if beginnings else None
        return self._raw

    def mask(self, text: str) -> str:
        """`text` with every form of every secret replaced by MASK."""
        for form in self.forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def contains(self, text: str) -> bool:
        """True when some form of some secret occurs in `text`."""
        forms = self._forms
        for form in forms if forms is not None else self.forms:
            if form in text:
                return True
        return False

    def scrub(self, value: Any) -> Any:
        """`value` (a string, or dataclasses, Structs, dicts, lists and tuples of them) masked."""
        if not self.values:
            return value
        if isinstance(value, str):
            return self.mask(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes = {f.name: self.scrub(getattr(value, f.name))
                       for f in dataclasses.fields(value) if f.init}
            return dataclasses.replace(value, **changes)
        if isinstance(value, msgspec.Struct):
            return msgspec.structs.replace(value, **{
                name: self.scrub(getattr(value, name)) for name in value.__struct_fields__})
        if isinstance(value, tuple):
            return tuple(self.scrub(item) for item in value)
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        if isinstance(value, dict):
            return {key: self.scrub(item) for key, item in value.items()}
        return value

    def mask_header(self, name: str, value: str, *, signatures: bool = False,
                    also: Iterable[str] = ()) -> str:
        """A header value as shown: MASK for a credential header, for a header holding a
        secret, and for the headers named in `also` (a header-token header)."""
        if self.by_name and self._secret_header(name, signatures, tuple(also)):
            return MASK
        if self.contains(value):
            return MASK
        return value

    def _secret_header(self, name: str, signatures: bool, also: tuple[str, ...]) -> bool:
        """Whether a header's name alone masks its value (remembered: names repeat)."""
        key = (name, signatures, also)
        known = self._by_header.get(key)
        if known is None:
            known = (name.lower() in {a.lower() for a in also}
                     or is_secret_header(name, signatures=signatures))
            if len(self._by_header) < 4096:
                self._by_header[key] = known
        return known

    def mask_headers(self, headers: Iterable[tuple[str, str]], *, signatures: bool = False,
                     also: Iterable[str] = ()) -> list[tuple[str, str]]:
        """Headers in order, names as sent, values through `mask_header`."""
        also = tuple(also)
        headers = tuple(headers)
        if not self.by_name and not self.values:
            return list(headers)
        if not self.contains("\n".join(value for _, value in headers)):
            # no secret in any value (each value is a part of the joined text): names mask
            if not self.by_name:
                return list(headers)
            names = tuple(name for name, _ in headers)
            masked = self._by_header.get((names, signatures, also))
            if masked is None:  # which of these names mask (remembered: requests repeat them)
                masked = tuple(self._secret_header(name, signatures, also) for name in names)
                if len(self._by_header) < 4096:
                    self._by_header[(names, signatures, also)] = masked
            return [(name, MASK if mask else value)
                    for (name, value), mask in zip(headers, masked, strict=True)]
        return [(name, self.mask_header(name, value, signatures=signatures, also=also))
                for name, value in headers]

    def masked_pairs(self, headers: tuple[tuple[str, str], ...],
                     also: tuple[str, ...] = ()) -> list[list[str]]:
        """`mask_headers` as [name, value] lists (a report's `headers`), made faster for the
        common case: no secret value in any header, names masking as before."""
        if not headers or (not self.by_name and not self.values):
            return [[name, value] for name, value in headers]
        names, values = zip(*headers, strict=True)
        if self.values and self.contains("\n".join(values)):
            return [[name, value] for name, value in self.mask_headers(headers, also=also)]
        if not self.by_name:
            return [[name, value] for name, value in headers]
        key = (names, False, also)
        masked = self._by_header.get(key)
        if masked is None:
            masked = tuple(self._secret_header(name, False, also) for name in names)
            if len(self._by_header) < 4096:
                self._by_header[key] = masked
        if not any(masked):
            return [[name, value] for name, value in headers]
        return [[name, MASK if mask else value]
                for (name, value), mask in zip(headers, masked, strict=True)]

    def mask_query(self, query: str) -> str:
        """A raw query string with credential-looking parameters and secrets masked.

        Parameters that need no masking keep their exact raw text.
        """
        if not query or (not self.by_name and not self.values):
            return query
        pieces = []
        for piece in query.split("&"):
            pairs = parse_qsl(piece, keep_blank_values=True)
            key = pairs[0][0] if pairs else piece.partition("=")[0]
            if self.by_name and is_secret_param(key) and "=" in piece:
                pieces.append(f"{piece.partition('=')[0]}={QUERY_MASK}")
            elif self.contains(piece):
                pieces.append(f"{piece.partition('=')[0]}={QUERY_MASK}" if "=" in piece
                              else QUERY_MASK)
            else:
                pieces.append(piece)
        return "&".join(pieces)

    def mask_target(self, target: str) -> str:
        """A request target (`/path?query`) with its query masked."""
        path, mark, query = target.partition("?")
        return f"{self.mask(path)}?{self.mask_query(query)}" if mark else self.mask(path)

    def mask_head(self, head: bytes) -> tuple[str, str] | None:
        """The first bytes of a body (a preview cut after N bytes) as (hex, text), with every
        secret masked, also one cut short at the end; None when no secret is in it."""
        known = self._raw if self._raw is not None else self._raw_forms()
        if self._any_start is None or self._any_start.search(head) is None:
            return None  # no form begins anywhere in it: the common case, in one C scan
        spans: list[tuple[int, int]] = []
        raws, starts, longest = known
        for raw in raws:
            start = head.find(raw)
            while start >= 0:
                spans.append((start, start + len(raw)))
                start = head.find(raw, start + 1)
        # a secret cut short at the end: the longest end of `head` that begins some form
        # (found from where a form's first MIN_SECRET bytes occur near the end)
        lowest = max(0, len(head) - longest)
        cut_at = len(head)
        for first in self._firsts:
            start = head.find(first, lowest)
            while 0 <= start < cut_at:
                if head[start:] in starts:
                    cut_at = start
                    break
                start = head.find(first, start + 1)
        if cut_at < len(head):
            spans.append((cut_at, len(head)))
        if not spans:
            return None
        hex_parts: list[str] = []
        text = ""
        position = 0
        for start, end in sorted(_merged(spans)):
            hex_parts += [f"{byte:02x}" for byte in head[position:start]] + [MASK]
            text += _printable(head[position:start]) + MASK
            position = end
        hex_parts += [f"{byte:02x}" for byte in head[position:]]
        return " ".join(hex_parts), text + _printable(head[position:])

    def find_leaks(self, files: Mapping[str, bytes]) -> list[Leak]:
        """Every file holding a secret in any of its forms (one Leak per file and secret)."""
        leaks: list[Leak] = []
        for file_name, data in files.items():
            for secret in self.named:
                if len(secret.value) < MIN_SECRET:
                    continue
                for form in encoded_forms(secret.value):
                    offset = data.find(form.encode("utf-8"))
                    if offset >= 0:
                        leaks.append(Leak(file_name, secret.name,
                                          data.count(b"\n", 0, offset) + 1))
                        break
        return leaks



def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _printable(raw: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 else "." for b in raw)


def encoded_forms(secret: str) -> set[str]:
    """The forms `secret` takes in headers, URLs, JSON and files."""
    raw = secret.encode("utf-8")
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             quote(secret, safe=""), quote_plus(secret), raw.hex(), raw.hex().upper()}
    forms.update(base64_fragments(raw))
    return {form for form in forms if len(form) >= MIN_SECRET}


def base64_fragments(raw: bytes) -> set[str]:
    """The base64 text that `raw` produces at each of the three byte alignments, in the
    standard and URL-safe alphabets: found inside any base64 (a Basic-auth `user:secret`,
    a token), whatever precedes it."""
    whole = base64.b64encode(raw).decode("ascii")
    urlsafe = base64.urlsafe_b64encode(raw).decode("ascii")
    fragments = {whole, whole.rstrip("="), urlsafe.rstrip("=")}
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode("ascii")
        # Characters that also depend on the bytes before or after the secret are dropped.
        start = 0 if shift == 0 else (shift * 4 + 2) // 3
        end = len(encoded) - (encoded.count("=") + (1 if (shift + len(raw)) % 3 else 0))
        core = encoded[start:end]
        if len(core) >= _MIN_FRAGMENT:
            fragments.add(core)
            fragments.add(core.replace("+", "-").replace("/", "_"))
    return fragments
