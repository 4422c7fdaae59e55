"""Lint the auth flow, actions and sources: which `[[key]]` and `{{key}}` placeholders resolve."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from whdebug.engine.lint.oauth import oauth_flow_defined, redirect_findings, refresh_findings
from whdebug.engine.lint.templates import (
    AUTH_URL_KEYS,
    CREDENTIAL,
    OAUTH_SYSTEM_VALUES,
    SOURCE_CONTAINERS,
    SYSTEM_VALUES,
    TOKEN_KEY,
    Use,
    actions,
    auth_block,
    auth_url,
    form_fields,
    install_form_fields,
    object_mapping,
    parameter_uses,
    placeholder_keys,
    resolved_strings,
    root_key,
    source_form_fields,
)
from whdebug.engine.locations import Location
from whdebug.engine.locations import def_finding as _def
from whdebug.engine.locations import where as _where
from whdebug.engine.report import Finding, Severity
from whdebug.model.definition import Definition

_MAX_PLACES = 3


@dataclass(frozen=True, slots=True)
class Producer:
    """One place that stores a value under `key` on the tenant's install."""

    key: str
    where: str
    """Readable location, e.g. `auth.get_token.mapping`."""
    bag: str
    """credentials | metadata (auth.form values count as credentials: docs/lint.md)"""




@dataclass(slots=True)
class _Context:
    """What a `{{key}}` may read at one point of the definition."""

    label: str
    fields: dict[str, str]
    """Available name -> what provides it (form field, auth.config, system value, ...)."""
    unknown_functions: list[str]


def check_auth(definition: Definition) -> list[Finding]:
    """DEF_* findings for placeholders, the OAuth flow, function steps and mapping styles."""
    data = definition.data
    oauth = definition.auth.get("type") == "oauth2"
    producers = credential_producers(definition)
    findings: list[Finding] = []
    credential_uses: list[Use] = []
    for path, text in resolved_strings(data):
        credential_uses += [Use(key, path) for key in placeholder_keys(CREDENTIAL, text)]
    token_finding = _token_finding(definition, credential_uses) if oauth else None
    if token_finding is not None:
        findings.append(token_finding)
        credential_uses = [use for use in credential_uses if root_key(use.key) != TOKEN_KEY]
    findings += _unresolved_credentials(definition, credential_uses, producers)
    findings += _parameter_findings(definition, producers)
    if oauth and oauth_flow_defined(definition):
        findings += refresh_findings(definition)
        findings += redirect_findings(definition)
    return findings




def credential_producers(definition: Definition) -> dict[str, list[Producer]]:
    """Every key a `[[key]]` can read, with what fills it (credentials first, then metadata)."""
    produced: dict[str, list[Producer]] = {}

    def add(key: str, where: str, bag: str) -> None:
        produced.setdefault(key, []).append(Producer(key, where, bag))

    for key in install_form_fields(definition):
        add(key, "auth.form", "credentials")
    for key in definition.auth_config:
        add(key, "auth.config", "credentials")
    for name in ("get_token", "refresh_token"):
        found = auth_block(definition, name)
        if found is not None and isinstance(found[1], dict):
            for key in object_mapping(found[1]):
                add(key, f"{_where(found[0])}.mapping", "credentials")
    registrations = auth_block(definition, "registrationRequests")
    if registrations is not None and isinstance(registrations[1], list):
        for index, request in enumerate(registrations[1]):
            for key in object_mapping(request):
                add(key, f"{_where((*registrations[0], index))}.mapping", "credentials")
    details = auth_block(definition, "userDetails")
    if details is not None and isinstance(details[1], dict):
        for key in object_mapping(details[1]):
            add(key, f"{_where(details[0])}.mapping", "metadata")
    return produced




def source_entries(definition: Definition) -> Iterator[tuple[Location, str, dict[str, Any]]]:
    """Every RPC source as (location, key, spec), from `source`, `sources` and `rpc`."""
    for container in SOURCE_CONTAINERS:
        value = definition.data.get(container)
        if isinstance(value, dict):
            for key, spec in value.items():
                if isinstance(spec, dict):
                    yield (container, key), key, spec


# --- [[key]] ----------------------------------------------------------------------------------


def _token_finding(definition: Definition, uses: list[Use]) -> Finding | None:
    token_uses = [use for use in uses if root_key(use.key) == TOKEN_KEY]
    if not token_uses:
        return None
    found = auth_block(definition, "get_token")
    mapping = found[1].get("mapping") if found is not None and isinstance(found[1], dict) else None
    if isinstance(mapping, dict) and TOKEN_KEY in mapping:
        return None
    places = _places(token_uses)
    if found is None:
        return _def(
            "DEF_TOKEN_NOT_MAPPED",
            f"[[{TOKEN_KEY}]] is used ({places}) but auth has no get_token: the OAuth code is "
            "never exchanged for a token, so every request sends an empty token and gets 401",
            'add auth.get_token {"url": "<provider token endpoint>", "method": "POST", "body": '
            '{"grant_type": "authorization_code", "code": "{{code}}", "redirect_uri": '
            '"{{redirect_uri}}", "client_id": "{{client_id}}", "client_secret": '
            '"{{client_secret}}"}, "mapping": {"accessToken": "$.access_token", '
            '"refreshToken": "$.refresh_token"}}', ("auth", "get_token"))
    where = _where(found[0])
    mapping_path: Location = (*found[0], "mapping")
    if isinstance(mapping, list):
        names = {item.get("name"): item.get("value") for item in mapping if isinstance(item, dict)}
        value = names.get(TOKEN_KEY) or "$.access_token"
        fix = (f"write {where}.mapping as an object: {{\"{TOKEN_KEY}\": {json.dumps(value)}}}; "
               "only an object mapping stores credentials")
        return _def("DEF_TOKEN_NOT_MAPPED",
                    f"{where}.mapping is an array, so the token response is not stored as "
                    f"[[{TOKEN_KEY}]] ({places}) and those requests get 401", fix, mapping_path)
    keys = list(mapping) if isinstance(mapping, dict) else []
    similar = _similar_token_key(keys)
    if similar is not None:
        assert isinstance(mapping, dict)
        fix = (f'rename {where}.mapping.{similar} to "{TOKEN_KEY}" (keep its path '
               f'{json.dumps(mapping[similar])}), or use [[{similar}]] everywhere')
        pointer: Location = (*mapping_path, similar)
    else:
        fix = (f'add "{TOKEN_KEY}": "$.access_token" to {where}.mapping (the JSONPath of the '
               "access token in the provider's token response)")
        pointer = mapping_path
    stored = ", ".join(keys) if keys else "nothing"
    return _def("DEF_TOKEN_NOT_MAPPED",
                f"[[{TOKEN_KEY}]] is used ({places}) but {where}.mapping stores {stored}: "
                "the token is never saved, so those requests get 401", fix, pointer)


def _similar_token_key(keys: list[str]) -> str | None:
    squashed = {re.sub(r"[^a-z]", "", key.lower()): key for key in keys}
    for candidate in ("accesstoken", "token", "authtoken", "bearertoken"):
        if candidate in squashed:
            return squashed[candidate]
    return None


def _unresolved_credentials(definition: Definition, uses: list[Use],
                            producers: dict[str, list[Producer]]) -> list[Finding]:
    by_key: dict[str, list[Use]] = {}
    for use in uses:
        if root_key(use.key) not in producers:
            by_key.setdefault(root_key(use.key), []).append(use)
    findings: list[Finding] = []
    for key, key_uses in by_key.items():
        first = key_uses[0]
        findings.append(_def(
            "DEF_PLACEHOLDER_UNRESOLVED",
            f"[[{key}]] ({_places(key_uses)}) is filled by nothing: [[key]] reads the install's "
            f"credentials, then its metadata. {_producer_summary(definition, producers)}",
            _credential_fix(definition, key, producers), first.path))
    return findings


def _producer_summary(definition: Definition, producers: dict[str, list[Producer]]) -> str:
    by_place: dict[str, list[str]] = {}
    for entries in producers.values():
        for producer in entries:
            by_place.setdefault(producer.where, []).append(producer.key)
    if not by_place:
        return "This definition has no producer at all (no auth.config keys, no mapping)."
    parts = [f"{where} ({', '.join(keys)})" for where, keys in by_place.items()]
    missing = [name for name in ("get_token", "refresh_token", "registrationRequests",
                                 "userDetails") if auth_block(definition, name) is None]
    text = "Producers here: " + "; ".join(parts)
    if missing:
        text += "; not defined: " + ", ".join(missing)
    return text + "."


def _credential_fix(definition: Definition, key: str,
                    producers: dict[str, list[Producer]]) -> str:
    close = _closest(key, list(producers))
    if close is not None:
        return f"write [[{close}]] (filled by {producers[close][0].where})"
    if key in SYSTEM_VALUES or key in OAUTH_SYSTEM_VALUES:
        return f"write {{{{{key}}}}}: it is a system value, read with {{{{...}}}}, not [[...]]"
    for name in ("get_token", "refresh_token", "registrationRequests"):
        found = auth_block(definition, name)
        if found is None:
            continue
        requests = found[1] if isinstance(found[1], list) else [found[1]]
        for request in requests:
            mapping = request.get("mapping") if isinstance(request, dict) else None
            if isinstance(mapping, list) and any(
                    isinstance(item, dict) and item.get("name") == key for item in mapping):
                return (f"write {_where(found[0])} mapping as an object "
                        f'{{"{key}": "<JSONPath>"}}: only an object mapping stores credentials')
    if install_form_fields(definition):
        return (f'add "{key}" to auth.form (the install form) if each install brings its own '
                f'value: "{key}": {{"type": "password", "label": "...", "required": true}}; or '
                f'store it from a response: "{key}": "$.<path>" in auth.get_token.mapping')
    if key in definition.sensitive_keys:
        return (f'add "{key}": "" to auth.config (it is already in auth.sensitiveKeys) so the '
                "install form asks for it")
    return (f'add "{key}": "" to auth.config so the install form asks for it, or store it from '
            f'a response: "{key}": "$.<path>" in auth.get_token.mapping (credentials) or '
            "auth.userDetails.mapping (metadata)")


# --- {{key}} ----------------------------------------------------------------------------------


def _parameter_findings(definition: Definition,
                        producers: dict[str, list[Producer]]) -> list[Finding]:
    findings: list[Finding] = []
    base = _base_fields(definition)
    auth_context = _Context("the auth flow", dict(base), [])
    for name in ("auth_url", "get_token", "refresh_token", "test_token", "userDetails",
                 "registrationRequests"):
        found = auth_url(definition) if name == "auth_url" else auth_block(definition, name)
        if found is not None:
            findings += _unresolved_parameters(definition, [found], auth_context, producers)
    for path, action in actions(definition.data):
        findings += _action_findings(definition, path, action, base, producers)
    all_fields = dict(base)
    for _, action in actions(definition.data):
        all_fields.update(form_fields(action))
    for path, key, spec in source_entries(definition):
        fields = dict(base)
        fields.update(source_form_fields(definition, key) or all_fields)
        findings += _unresolved_parameters(definition, [(path, spec)],
                                           _Context(_where(path), fields, []), producers)
    sync = definition.data.get("sync")
    if isinstance(sync, dict):
        parts: list[tuple[Location, Any]] = [
            (("sync", key), sync[key]) for key in ("baseUrl", "headers", "resources")
            if key in sync]
        findings += _unresolved_parameters(definition, parts, _Context("sync", dict(base), []),
                                           producers)
    return findings


def _base_fields(definition: Definition) -> dict[str, str]:
    fields = {key: "a system value" for key in SYSTEM_VALUES}
    if definition.auth.get("type") == "oauth2":
        fields.update({key: "an OAuth system value" for key in OAUTH_SYSTEM_VALUES})
    fields.update({key: "an install form field (auth.form)"
                   for key in install_form_fields(definition)})
    fields.update({key: "auth.config" for key in definition.auth_config})
    details = auth_block(definition, "userDetails")
    if details is not None and isinstance(details[1], dict):
        fields.update({key: "metadata (userDetails.mapping)"
                       for key in object_mapping(details[1])})
    return fields


def _action_findings(definition: Definition, path: Location, action: dict[str, Any],
                     base: dict[str, str], producers: dict[str, list[Producer]]) -> list[Finding]:
    findings: list[Finding] = []
    fields = dict(base)
    fields.update(form_fields(action))
    context = _Context(_where(path), fields, [])
    requests = action.get("requests")
    if not isinstance(requests, list):
        return findings
    held: dict[str, tuple[Location, Any]] = {}
    """Keys stored only by an earlier object mapping: key -> (mapping location, its JSONPath)."""
    flagged: set[Location] = set()
    functions = _functions(definition.data, action)
    for index, step in enumerate(requests):
        step_path: Location = (*path, "requests", index)
        if not isinstance(step, dict):
            continue
        if step.get("type") == "function":
            findings += _function_findings(step, step_path, functions, context)
            continue
        for use, _ in parameter_uses([(step_path, step)]):
            key = root_key(use.key)
            if key in context.fields or key not in held:
                continue
            mapping_path, value = held[key]
            if mapping_path in flagged:
                continue
            flagged.add(mapping_path)
            findings.append(_mapping_style_finding(mapping_path, held, use, step_path, value))
        findings += _unresolved_parameters(definition, [(step_path, step)], context, producers,
                                           skip=set(held))
        mapping = step.get("mapping")
        if isinstance(mapping, list):
            for item in mapping:
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    context.fields[item["name"]] = f"the array mapping of {_where(step_path)}"
        elif isinstance(mapping, dict):
            for key, value in mapping.items():
                held.setdefault(key, ((*step_path, "mapping"), value))
    return findings


def _mapping_style_finding(mapping_path: Location, held: dict[str, tuple[Location, Any]],
                           use: Use, later: Location, value: Any) -> Finding:
    keys = [key for key, (where, _) in held.items() if where == mapping_path]
    array = json.dumps([{"name": key, "value": held[key][1]} for key in keys])
    return _def(
        "DEF_MAPPING_STYLE",
        f"{_where(later)} needs {{{{{root_key(use.key)}}}}} from {_where(mapping_path)}, "
        "which is an "
        "object mapping: an object mapping is the action's output and is not forwarded to later "
        "requests (an array mapping [{name, value}] is)",
        f"write {_where(mapping_path)} as an array: {array}", mapping_path)


def _unresolved_parameters(definition: Definition, parts: list[tuple[Location, Any]],
                           context: _Context, producers: dict[str, list[Producer]],
                           skip: set[str] | None = None) -> list[Finding]:
    by_key: dict[str, list[Use]] = {}
    for use, text in parameter_uses(parts):
        key = root_key(use.key)
        if key in context.fields or (skip and key in skip):
            continue
        if _is_redirect_value(use, text):
            continue  # DEF_REDIRECT_URI names the fix
        by_key.setdefault(key, []).append(use)
    findings: list[Finding] = []
    for key, uses in by_key.items():
        severity: Severity | None = None
        unless = ""
        if context.unknown_functions:
            severity = "info"
            unless = (" (unless function " + ", ".join(context.unknown_functions) +
                      " returns it: whdebug cannot see function outputs)")
        findings.append(_def(
            "DEF_PARAM_UNRESOLVED",
            f"{{{{{key}}}}} ({_places(uses)}) is not a form field, an earlier request's array "
            f"mapping, a function output, an install-form (auth.form) field, an auth.config key "
            f"or a system value in "
            f"{context.label}{unless}; it resolves to an empty string",
            _parameter_fix(definition, key, context, producers), uses[0].path, severity))
    return findings


def _parameter_fix(definition: Definition, key: str, context: _Context,
                   producers: dict[str, list[Producer]]) -> str:
    close = _closest(key, list(context.fields))
    if close is not None:
        return f"write {{{{{close}}}}} ({context.fields[close]})"
    if key in producers:
        return (f"write [[{key}]]: it is a credential ({producers[key][0].where}), read with "
                "[[...]], not {{...}}")
    if context.label.startswith("actions"):
        return (f'add "{key}" to {context.label}.parameters.properties, or forward it from an '
                f'earlier request with an array mapping [{{"name": "{key}", "value": "$.<path>"}}]'
                f', or add it to auth.form if it is an install setting')
    return (f'add "{key}" to auth.form if each install has its own value (a store URL, a shop '
            f'domain): "{key}": {{"type": "text", "label": "...", "required": true}}; only if '
            f'one value serves every tenant, set "{key}": "<value>" in auth.config. Defined '
            f"here: {_names(context.fields)}")


def _is_redirect_value(use: Use, text: str) -> bool:
    """A `{{...}}` given as the OAuth redirect_uri in the auth flow (DEF_REDIRECT_URI covers it)."""
    if use.path[:1] != ("auth",) or not any(
            part in use.path[1:3] for part in (*AUTH_URL_KEYS, "get_token")):
        return False
    if use.path[-1:] == ("redirect_uri",):
        return True
    return re.search(r"redirect_uri=\{\{\s*" + re.escape(use.key) + r"\s*\}\}", text) is not None


# --- function steps ---------------------------------------------------------------------------


def _functions(data: dict[str, Any], action: dict[str, Any]) -> dict[str, Any]:
    known: dict[str, Any] = {}
    for container in (data.get("functions"), action.get("functions")):
        if isinstance(container, dict):
            known.update(container)
        elif isinstance(container, list):
            known.update({item["name"]: item for item in container
                          if isinstance(item, dict) and isinstance(item.get("name"), str)})
    return known


def _function_findings(step: dict[str, Any], path: Location, functions: dict[str, Any],
                       context: _Context) -> list[Finding]:
    name_key = next((key for key in ("function", "fn", "functionName", "name")
                     if isinstance(step.get(key), str)), None)
    name = step[name_key] if name_key else None
    findings: list[Finding] = []
    if name is None or name not in functions:
        close = _closest(name, list(functions)) if name else None
        defined = ", ".join(functions) if functions else "none: there is no functions block"
        what = f'names function "{name}"' if name else "names no function"
        if close is not None:
            fix = f'write "{close}"'
        elif name:
            fix = f'define functions.{name}, or name one of the defined functions'
        else:
            fix = 'add "function": "<name of an entry in functions>"'
        findings.append(_def(
            "DEF_FUNCTION_UNKNOWN",
            f"{_where(path)} is a function step and {what}, which is not defined "
            f"(defined: {defined}); the action fails at this step", fix,
            (*path, name_key) if name_key else path))
    outputs = _function_outputs(step, functions.get(name) if name else None)
    if outputs is None:
        context.unknown_functions.append(f'"{name}"' if name else f"at {_where(path)}")
    else:
        context.fields.update({key: f"the output of function {name}" for key in outputs})
    return findings


def _function_outputs(step: dict[str, Any], function: Any) -> list[str] | None:
    """Names a function step is known to produce, or None when the definition does not say."""
    mapping = step.get("mapping")
    if isinstance(mapping, list):
        return [item["name"] for item in mapping
                if isinstance(item, dict) and isinstance(item.get("name"), str)]
    if isinstance(mapping, dict):
        return list(mapping)
    for key in ("output", "outputKey", "resultKey", "as"):
        if isinstance(step.get(key), str):
            return [step[key]]
    if isinstance(function, dict):
        for key in ("outputs", "returns"):
            value = function.get(key)
            if isinstance(value, list):
                return [item for item in value if isinstance(item, str)]
            if isinstance(value, dict):
                return list(value)
    return None


# --- OAuth: refresh and redirect ----------------------------------------------------------------












# --- walking the definition -------------------------------------------------------------------
















# --- helpers ----------------------------------------------------------------------------------




def _places(uses: list[Use]) -> str:
    shown = ", ".join(_where(use.path) for use in uses[:_MAX_PLACES])
    more = len(uses) - _MAX_PLACES
    return f"in {shown}" + (f" and {more} more" if more > 0 else "")


def _names(fields: dict[str, str]) -> str:
    names = sorted(fields)
    return ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")


def _closest(value: Any, choices: list[str]) -> str | None:
    if not isinstance(value, str) or not choices:
        return None
    for choice in choices:
        if choice.lower() == value.lower() or _squash(choice) == _squash(value):
            return choice
    matches = difflib.get_close_matches(value, choices, n=1, cutoff=0.8)
    return matches[0] if matches else None


def _squash(value: str) -> str:
    return re.sub(r"[^a-z0-9]", "", value.lower())





