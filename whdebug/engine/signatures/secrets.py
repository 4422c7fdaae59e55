"""Resolve the webhook secret as the runtime does: tenant credentials first, then auth.config."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from whdebug.model.records import fast_init
from whdebug.model.request import Secrets

Presence = Literal["present", "empty", "absent"]


@fast_init
@dataclass(frozen=True, slots=True)
class Resolution:
    """Where the secret for `key` comes from, and what each source holds."""

    key: str
    value: str | None
    """The secret the runtime would use under `||` (empty counts as missing)."""
    resolved_from: str | None
    credentials: Presence
    auth_config: Presence
    credentials_value: str | None
    auth_config_value: str | None
    nullish_value: str | None
    """The secret under `??` (an empty credential is kept)."""

    @property
    def differs_under_nullish(self) -> bool:
        return self.nullish_value != self.value


def _presence(value: Any) -> tuple[Presence, str | None]:
    if value is None:
        return "absent", None
    text = value if isinstance(value, str) else str(value)
    return ("present" if text else "empty"), text


_ABSENT: Any = None


def resolve_secret(
    key: str, definition_config: Mapping[str, Any], secrets: Secrets
) -> Resolution:
    """credentials[key] || auth.config[key]; `definition_config` is the definition's
    auth.config, which `--config` (secrets.config) overrides."""
    credentials, credentials_value = _presence(secrets.credentials.get(key, _ABSENT))
    config_value_raw = secrets.config.get(key, _ABSENT)
    if config_value_raw is None:
        config_value_raw = definition_config.get(key, _ABSENT)
    auth_config, config_value = _presence(config_value_raw)
    if credentials == "present":
        value, source = credentials_value, "credentials"
    elif auth_config == "present":
        value, source = config_value, "auth.config"
    else:
        value, source = None, None
    if credentials != "absent":
        nullish = credentials_value
    else:
        nullish = config_value if auth_config != "absent" else None
    return Resolution(
        key=key,
        value=value,
        resolved_from=source,
        credentials=credentials,
        auth_config=auth_config,
        credentials_value=credentials_value,
        auth_config_value=config_value,
        nullish_value=nullish,
    )


@lru_cache(maxsize=256)
def secret_hint(secret: str | bytes | None) -> str | None:
    """A masked description of a secret: its length and a short fingerprint, never its text."""
    if secret is None:
        return None
    data = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not data:
        return "empty"
    unit = "chars" if isinstance(secret, str) else "bytes"
    return f"{len(secret)} {unit}, fingerprint {hashlib.sha256(data).hexdigest()[:6]}"
