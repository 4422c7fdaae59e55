"""The placeholder grammar of a definition: where `[[key]]` and `{{key}}` appear, and what
the runtime resolves them in (auth, actions, sources, sync)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from whdebug.engine.locations import Location
from whdebug.model.definition import CREDENTIAL, PARAMETER, Definition

__all__ = ["CREDENTIAL", "PARAMETER"]

SYSTEM_VALUES = ("webhookUrl", "subdomain", "uid")
OAUTH_SYSTEM_VALUES = ("redirect_uri", "code")
SOURCE_CONTAINERS = ("source", "sources", "rpc")
AUTH_URL_KEYS = ("auth_url", "authUrl", "authorization_url", "authorize_url")
TOKEN_KEY = "accessToken"
_NOT_RESOLVED_KEYS = frozenset({"mapping", "dataPath", "valueField", "labelField", "type",
                                "name", "title", "label", "description", "function", "fn",
                                "functionName", "auto_refresh", "x-source", "x-fallback"})


@dataclass(frozen=True, slots=True)
class Use:
    key: str
    path: Location


def resolved_strings(data: dict[str, Any]) -> Iterator[tuple[Location, str]]:
    """Every string the runtime resolves placeholders in: auth, actions, sources, sync."""
    auth = data.get("auth")
    if isinstance(auth, dict):
        for key, value in auth.items():
            if key not in ("config", "sensitiveKeys", "type", "form"):
                yield from strings(value, ("auth", key))
        config = auth.get("config")
        if isinstance(config, dict):
            for key, value in config.items():
                if isinstance(value, dict | list) or key in AUTH_URL_KEYS:
                    yield from strings(value, ("auth", "config", key))
    for path, action in actions(data):
        yield from strings(action.get("requests"), (*path, "requests"))
    for container in SOURCE_CONTAINERS:
        value = data.get(container)
        if isinstance(value, dict):
            yield from strings(value, (container,))
    sync = data.get("sync")
    if isinstance(sync, dict):
        for key in ("baseUrl", "headers", "resources"):
            yield from strings(sync.get(key), ("sync", key))


def strings(value: Any, path: Location) -> Iterator[tuple[Location, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, child in value.items():
            if key not in _NOT_RESOLVED_KEYS:
                yield from strings(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from strings(child, (*path, index))


def parameter_uses(parts: list[tuple[Location, Any]]) -> Iterator[tuple[Use, str]]:
    for base, value in parts:
        for path, text in strings(value, base):
            for key in placeholder_keys(PARAMETER, text):
                yield Use(key, path), text


def actions(data: dict[str, Any]) -> Iterator[tuple[Location, dict[str, Any]]]:
    actions = data.get("actions")
    if isinstance(actions, list):
        for index, action in enumerate(actions):
            if isinstance(action, dict):
                yield ("actions", index), action
    elif isinstance(actions, dict):
        for name, action in actions.items():
            if isinstance(action, dict):
                yield ("actions", name), action


def form_fields(action: dict[str, Any]) -> dict[str, str]:
    parameters = action.get("parameters")
    properties = parameters.get("properties") if isinstance(parameters, dict) else None
    if not isinstance(properties, dict):
        return {}
    return {key: "a form field" for key in properties}


def source_form_fields(definition: Definition, source: str) -> dict[str, str]:
    """Form fields of the actions whose parameters take values from `source`."""
    fields: dict[str, str] = {}
    for _, action in actions(definition.data):
        form = form_fields(action)
        parameters = action.get("parameters")
        properties = parameters.get("properties") if isinstance(parameters, dict) else None
        if not isinstance(properties, dict):
            continue
        if any(isinstance(spec, dict) and spec.get("x-source") == source
               for spec in properties.values()):
            fields.update(form)
    return fields


def install_form_fields(definition: Definition) -> list[str]:
    """The fields of `auth.form`, the install form (keyed by name, or a list of `{name}`)."""
    form = definition.auth.get("form")
    if isinstance(form, dict):
        return [key for key in form if isinstance(key, str)]
    names: list[str] = []
    for item in form if isinstance(form, list) else []:
        name = (item.get("name") or item.get("key")) if isinstance(item, dict) else None
        if isinstance(name, str):
            names.append(name)
    return names


def object_mapping(request: Any) -> list[str]:
    mapping = request.get("mapping") if isinstance(request, dict) else None
    return [key for key in mapping if isinstance(key, str)] if isinstance(mapping, dict) else []


def root_key(key: str) -> str:
    """`user.id` reads `user`; the first name is what must be produced."""
    return key.split(".", 1)[0].strip()


def placeholder_keys(pattern: re.Pattern[str], text: str) -> list[str]:
    """The keys of every placeholder of one kind in `text`, in order."""
    return [match.group(1) for match in pattern.finditer(text)]


def auth_block(definition: Definition, name: str) -> tuple[Location, Any] | None:
    """`auth.<name>`, or `auth.config.<name>` where some definitions put it."""
    if name in definition.auth:
        return ("auth", name), definition.auth[name]
    if name in definition.auth_config:
        return ("auth", "config", name), definition.auth_config[name]
    return None


def auth_url(definition: Definition) -> tuple[Location, Any] | None:
    """The OAuth authorization URL block, under whichever name the definition uses."""
    for key in AUTH_URL_KEYS:
        found = auth_block(definition, key)
        if found is not None:
            return found
    return None
