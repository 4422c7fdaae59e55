"""RPC sources without the network: resolve a source's request and turn a response into options."""

from __future__ import annotations

import base64
import difflib
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from whdebug.engine.bodypaths import compile_body_path, normalize_path
from whdebug.engine.lint.auth import credential_producers, source_entries
from whdebug.engine.lint.templates import (
    CREDENTIAL,
    OAUTH_SYSTEM_VALUES,
    PARAMETER,
    SYSTEM_VALUES,
)
from whdebug.engine.paths import MISSING, find_all, js_string, json_type
from whdebug.engine.report import Finding, Severity, diagnosis
from whdebug.errors import WhdebugError
from whdebug.model.definition import Definition
from whdebug.model.secrecy import Secrets, SecretSet

SOURCE_SCHEMA = "whdebug.source/1"
_MAX_SHOWN = 3
_ERROR_KEYS = ("error", "errors", "error_description", "message", "detail", "msg")
_QUERY_KEYS = ("params", "query", "queryParams", "qs")
_ROLES = {
    "auth.config": "the install form or Karzoun's global value",
    "auth.get_token.mapping": "the OAuth token exchange",
    "auth.refresh_token.mapping": "the token refresh",
    "auth.registrationRequests": "a registration request at install",
    "auth.userDetails.mapping": "install metadata from userDetails",
}
_GIVEN = {"credentials": "--credential/--credentials value", "--param": "--param value",
          "auth.config": "definition's auth.config value", "--config": "--config value"}


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class OptionsResult:
    """The dropdown a response produces, or why it is empty (its fields are its JSON)."""

    data_path: str
    items: int
    """How many items sat at dataPath (0 when it selected no array)."""
    options: tuple[Option, ...]
    findings: tuple[Finding, ...]
    ok: bool = field(init=False)
    """There are options and no error-level finding."""

    def __post_init__(self) -> None:
        ok = bool(self.options) and not any(f.severity == "error" for f in self.findings)
        object.__setattr__(self, "ok", ok)


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One `[[key]]` or `{{key}}` of the source request and what it resolved from."""

    text: str
    """As written: `[[accessToken]]`."""
    key: str
    where: str
    """url | query <name> | header <name> | body"""
    resolved_from: str | None
    """credentials | auth.config | --config | --param | None when nothing had a value."""
    given_empty: bool = False
    """A value was given (a credential) but it is the empty string."""


@dataclass(frozen=True, slots=True)
class ResolvedRequest:
    """The request the runtime would send for a source, with every secret it contains."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    placeholders: tuple[Placeholder, ...]
    secrets: SecretSet = field(repr=False, default_factory=SecretSet)
    """Every secret value substituted or derived, and the definition's own (for masking)."""

    @property
    def empty(self) -> list[Placeholder]:
        return [p for p in self.placeholders if p.resolved_from is None]


def find_source(definition: Definition, key: str) -> tuple[str, dict[str, Any]]:
    """The source `key` as (pointer, spec); the error names the defined sources."""
    entries = list(source_entries(definition))
    for path, name, spec in entries:
        if name == key:
            return "/" + "/".join(str(part) for part in path), spec
    names = [name for _, name, _ in entries]
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    hint = f'; did you mean "{close[0]}"?' if close else ""
    defined = ", ".join(names) if names else "none (no source, sources or rpc block)"
    raise WhdebugError(f'no source "{key}" in the definition (defined: {defined}){hint}',
                       definition.path)


# --- options from a response ----------------------------------------------------------------


def extract_options(spec: Mapping[str, Any], document: Any, *, pointer: str = "") -> OptionsResult:
    """Apply dataPath, valueField and labelField to a parsed response, as the dropdown would."""
    raw_path = spec.get("dataPath")
    data_path = raw_path.strip() if isinstance(raw_path, str) and raw_path.strip() else "$"
    value_field, label_field = spec.get("valueField"), spec.get("labelField")
    findings: list[Finding] = []

    def add(code: str, message: str, fix: str | None, at: str = "dataPath",
            severity: Severity | None = None) -> None:
        findings.append(diagnosis(code, message, fix, step="source", severity=severity,
                                  pointer=f"{pointer}/{at}" if pointer else None))

    compiled = compile_body_path(data_path)
    if compiled.error is not None:
        add("SRC_DATAPATH_MISSING",
            f"dataPath {data_path!r} is not a valid JSONPath ({compiled.error})",
            'write dataPath as a dotted path such as "data.items"')
        return OptionsResult(data_path, 0, (), tuple(findings))
    found = find_all(data_path, document)
    error_text = _error_text(document)
    if not found or not isinstance(found[0], list):
        if error_text is not None:
            add("SRC_ERROR_BODY", f"the response is an error, not data: {error_text}",
                "fix the request that produced it first: the credentials it sends (--call "
                "shows which [[key]] went where), their scopes, the URL", at="url")
        if not found:
            message, fix = _missing_path(data_path, document)
            add("SRC_DATAPATH_MISSING", message, fix)
        else:
            message, fix = _not_array(data_path, found[0], document)
            add("SRC_NOT_ARRAY", message, fix)
        return OptionsResult(data_path, 0, (), tuple(findings))
    items: list[Any] = found[0]
    if not items:
        add("SRC_EMPTY", f"dataPath {data_path!r} is an empty array: the provider returned no "
            "items, so the dropdown is empty", "check the request's filters and the account's "
            "data; give the form field \"x-fallback\": \"input\" so users can type a value")
        return OptionsResult(data_path, 0, (), tuple(findings))
    objects = [item for item in items if isinstance(item, dict)]
    if len(objects) < len(items):
        kinds = Counter(json_type(item) for item in items if not isinstance(item, dict))
        shown = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
        add("SRC_ITEM_NOT_OBJECT", f"{len(items) - len(objects)} of {len(items)} items at "
            f"{data_path!r} are not objects ({shown}): valueField and labelField select nothing "
            "in them", "point dataPath at an array of objects", at="dataPath")
    options: list[Option] = []
    value_missing: list[int] = []
    label_missing: list[int] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        value = _field(item, value_field)
        label = _field(item, label_field)
        empty_label = label is MISSING or not js_string(label).strip()
        if empty_label:
            label_missing.append(index)  # also for an item left out for its value
        if value is MISSING:
            value_missing.append(index)
            continue
        options.append(Option(js_string(value), "" if label is MISSING else js_string(label)))
    if objects:
        _field_findings(add, "valueField", value_field, value_missing, objects, items)
        _field_findings(add, "labelField", label_field, label_missing, objects, items,
                        every_option=bool(options) and not any(o.label.strip() for o in options))
    _duplicate_findings(add, options)
    return OptionsResult(data_path, len(items), tuple(options), tuple(findings))


def _field(item: dict[str, Any], name: Any) -> Any:
    """The value at a dotted field path (`profile.real_name`); MISSING when absent or null."""
    if not isinstance(name, str) or not name.strip():
        return MISSING
    found = find_all(name.strip(), item)
    if not found or found[0] is None:
        return MISSING
    return found[0]


#: Item keys a role's value is most likely in, best first.
_PREFERRED = {"valueField": ("id", "uuid", "key", "code", "value", "slug"),
              "labelField": ("name", "title", "label", "display_name", "displayName",
                             "full_name", "fullName", "real_name", "username", "email")}
_LISTED = 8
"""Item indexes a message names before it counts the rest."""


def _indexes(missing: list[int]) -> str:
    shown = ", ".join(f"[{index}]" for index in missing[:_LISTED])
    more = f" and {len(missing) - _LISTED} more" if len(missing) > _LISTED else ""
    return f"item{'s' if len(missing) > 1 else ''} {shown}{more}"


def _guess(role: str, keys: list[str]) -> str | None:
    """The key a role most likely reads: a preferred name, never an id for a label."""
    preferred = next((key for key in _PREFERRED[role] if key in keys), None)
    if preferred is not None or role == "valueField":
        return preferred
    return next((key for key in keys if not key.lower().endswith("id")), None)


def _field_findings(add: Any, role: str, name: Any, missing: list[int],
                    objects: list[dict[str, Any]], items: list[Any], *,
                    every_option: bool = False) -> None:
    """One finding per role naming every item that lacks it; an error when no option would
    have a label (a dropdown of blank entries)."""
    if not missing:
        return
    code = "SRC_VALUE_MISSING" if role == "valueField" else "SRC_LABEL_MISSING"
    severity = "error" if every_option else None
    sample = items[missing[0]]
    keys = list(_key_paths(sample))
    scalar_keys = [key for key in keys if _is_label_like(_field(sample, key))]
    effect = ("those items are left out of the dropdown" if role == "valueField"
              else "every option shows an empty label" if every_option
              else "those options show an empty label")
    if not isinstance(name, str) or not name.strip():
        guess = _guess(role, scalar_keys)
        add(code, f"the source has no {role}: {effect}",
            f'set {role} to "{guess}"' if guess else f"set {role} to one of: {_list(keys)}",
            at=role, severity=severity)
        return
    closest = closest_keys(name, scalar_keys)
    where = "all" if len(missing) == len(objects) else f"{len(missing)} of {len(objects)}"
    hint = f"closest keys in item [{missing[0]}]: {_list(closest)}" if closest else \
        f"item [{missing[0]}] has: {_list(keys)}"
    if len(missing) < len(objects):
        fix = (f"check {role} against the items that lack it, or accept "
               + ("them being left out" if role == "valueField" else "empty labels for them"))
    elif closest:
        fix = f'set {role} to "{closest[0]}"'
    else:
        guess = _guess(role, scalar_keys) or (scalar_keys[0] if scalar_keys else "?")
        fix = f'set {role} to the item key that holds it, e.g. "{guess}"'
    add(code, f"{role} {name!r} is missing, null or empty in {where} items ({_indexes(missing)}):"
        f" {effect}; {hint}", fix, at=role, severity=severity)


def _is_label_like(value: Any) -> bool:
    """A value a dropdown can show or store: a string or a number, not a flag or an object."""
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _duplicate_findings(add: Any, options: list[Option]) -> None:
    values = Counter(option.value for option in options)
    repeated = [(value, count) for value, count in values.items() if count > 1]
    if repeated:
        shown = ", ".join(f"{value!r} x{count}" for value, count in repeated[:_MAX_SHOWN])
        add("SRC_DUPLICATE_VALUE", f"{_count(len(repeated), 'value')} more than once ({shown}): "
            "users cannot tell those options apart and the saved value is ambiguous",
            "point valueField at a unique id", at="valueField")
    labels = Counter(option.label for option in options if option.label)
    same = [(label, count) for label, count in labels.items() if count > 1]
    if same:
        shown = ", ".join(f"{label!r} x{count}" for label, count in same[:_MAX_SHOWN])
        add("SRC_DUPLICATE_LABEL", f"{_count(len(same), 'label')} more than once ({shown})",
            "point labelField at a more specific name", at="labelField")


def _count(number: int, noun: str) -> str:
    return f"1 {noun} appears" if number == 1 else f"{number} {noun}s appear"


def _missing_path(data_path: str, document: Any) -> tuple[str, str]:
    """Why `data_path` selects nothing: the deepest part that exists and what it holds."""
    keys = normalize_path(data_path).removeprefix("$").lstrip(".").split(".")
    node, found_at = document, "$"
    for key in keys:
        if isinstance(node, dict) and key in node:
            node, found_at = node[key], f"{found_at}.{key}"
        else:
            break
    where = "the response" if found_at == "$" else found_at
    if isinstance(document, list) and found_at == "$":
        return (f"dataPath {data_path!r} finds nothing: the response is a top-level array of "
                f"{len(document)} items", 'remove dataPath (or set it to "$")')
    if not isinstance(node, dict):
        return (f"dataPath {data_path!r} finds nothing: {where} is {json_type(node)}",
                "point dataPath at an array of items")
    arrays = [(key, value) for key, value in node.items() if isinstance(value, list)]
    prefix = "" if found_at == "$" else found_at[2:] + "."
    listing = ", ".join(f"{key} (array of {len(value)})" if isinstance(value, list) else key
                        for key, value in node.items()) or "no keys"
    message = f"dataPath {data_path!r} finds nothing; {where} has: {listing}"
    if len(arrays) == 1:
        return message, f'set dataPath to "{prefix}{arrays[0][0]}"'
    if arrays:
        choices = ", ".join(f'"{prefix}{key}"' for key, _ in arrays)
        return message, f"set dataPath to the array that holds the items: {choices}"
    nested = list(_array_paths(node, prefix))
    if nested:
        return message, f'set dataPath to "{nested[0]}"'
    return message, "this response holds no array: check the URL returns a list"


def _not_array(data_path: str, value: Any, document: Any) -> tuple[str, str]:
    message = f"dataPath {data_path!r} selects {json_type(value)}, not an array"
    if isinstance(value, dict):
        prefix = "" if data_path in ("$", "") else normalize_path(data_path)[2:] + "."
        arrays = list(_array_paths(value, prefix))
        if arrays:
            return (message + f"; arrays inside it: {_list(arrays)}",
                    f'set dataPath to "{arrays[0]}"')
        message += f"; its keys: {_list(list(value))}"
    elsewhere = list(_array_paths(document, ""))
    if elsewhere:
        return (message + f"; arrays in the response: {_list(elsewhere)}",
                f'set dataPath to "{elsewhere[0]}"')
    return message, "point dataPath at an array of items"


def _array_paths(node: Any, prefix: str, depth: int = 3) -> Iterator[str]:
    """Dotted paths of arrays under `node`, breadth first, `depth` levels down."""
    level = [(prefix, node)]
    for _ in range(depth):
        following = []
        for path, value in level:
            if not isinstance(value, dict):
                continue
            for key, child in value.items():
                if isinstance(child, list):
                    yield f"{path}{key}"
                elif isinstance(child, dict):
                    following.append((f"{path}{key}.", child))
        level = following


def _key_paths(item: Any, prefix: str = "", depth: int = 3) -> Iterator[str]:
    """Every dotted key path of an object, `depth` levels down (`profile.real_name`)."""
    if not isinstance(item, dict) or depth == 0:
        return
    for key, value in item.items():
        yield prefix + key
        if isinstance(value, dict):
            yield from _key_paths(value, f"{prefix}{key}.", depth - 1)


def closest_keys(name: str, keys: list[str], limit: int = _MAX_SHOWN) -> list[str]:
    """Key paths most like `name`: same last name first, then by spelling."""
    last = name.rsplit(".", 1)[-1].lower()
    same_last = [key for key in keys if key.rsplit(".", 1)[-1].lower() == last]
    spelled = difflib.get_close_matches(name, keys, n=limit, cutoff=0.5)
    by_last = {key.rsplit(".", 1)[-1]: key for key in keys}
    spelled_last = [by_last[k] for k in
                    difflib.get_close_matches(last, list(by_last), n=limit, cutoff=0.6)]
    ordered: list[str] = []
    for key in same_last + spelled + spelled_last:
        if key not in ordered and key != name:
            ordered.append(key)
    return ordered[:limit]


def _error_text(document: Any) -> str | None:
    """The error a provider put in its body (`{"ok": false, "error": "invalid_auth"}`)."""
    if not isinstance(document, dict):
        return None
    parts = [f"{key} = {_short(document[key])}" for key in _ERROR_KEYS if key in document]
    if document.get("ok") is False or document.get("success") is False:
        return ", ".join(parts) or "ok = false"
    if parts and not any(isinstance(value, list) and value and key not in _ERROR_KEYS
                         for key, value in document.items()):
        return ", ".join(parts)
    return None


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return repr(text) if len(text) <= 120 else repr(text[:120]) + "…"


def _list(values: list[str]) -> str:
    shown = ", ".join(values[:8])
    return shown + (f", … ({len(values)} in all)" if len(values) > 8 else "") if values else "-"


# --- resolving the request ----------------------------------------------------------------------


def resolve_source_request(
    definition: Definition,
    spec: Mapping[str, Any],
    *,
    credentials: Mapping[str, Any],
    config: Mapping[str, Any],
    params: Mapping[str, str],
) -> ResolvedRequest:
    """The source's request with `[[key]]` and `{{key}}` filled as the runtime would."""
    merged_config = {k: v for k, v in definition.auth_config.items() if isinstance(v, str)}
    merged_config.update({k: v for k, v in config.items() if isinstance(v, str)})
    resolver = _Resolver(credentials, merged_config, set(config), params)
    url = resolver.fill(_text(spec.get("url")), "url")
    query = [(str(name), resolver.fill(js_string(value), f"query {name}"))
             for name, value in _query(spec).items()]
    if query:
        parts = urlsplit(url)
        joined = "&".join(filter(None, [parts.query, urlencode(query)]))
        url = urlunsplit(parts._replace(query=joined))
    headers: list[tuple[str, str]] = []
    raw_headers = spec.get("headers")
    for name, template in (raw_headers.items() if isinstance(raw_headers, dict) else []):
        value = resolver.fill(js_string(template), f"header {name}")
        if (str(name).lower() == "authorization" and isinstance(template, str)
                and template.startswith("Basic ") and _has_placeholder(template)):
            encoded = base64.b64encode(value[len("Basic "):].encode()).decode()
            resolver.secrets.add(encoded)
            value = "Basic " + encoded  # the runtime base64-encodes `Basic user:pass`
        # A field value has no surrounding whitespace (RFC 9110 5.5): `Bearer [[token]]`
        # with an empty token is sent as `Bearer`, not refused as an illegal header.
        headers.append((str(name), value.strip(" \t")))
    method = _text(spec.get("method")).upper() or "GET"
    body = _body(spec, resolver, headers) if method not in ("GET", "HEAD") else None
    secrets = SecretSet.build(definition, Secrets(credentials, config)).with_values(
        *resolver.secrets, name="a value filled into the source request")
    return ResolvedRequest(method, url, tuple(headers), body, tuple(resolver.used), secrets)


class _Resolver:
    """Fills placeholders and remembers each one and every secret it put in."""

    def __init__(self, credentials: Mapping[str, Any], config: Mapping[str, str],
                 overridden: set[str], params: Mapping[str, str]) -> None:
        self.credentials, self.config, self.overridden = credentials, config, overridden
        self.params = params
        self.used: list[Placeholder] = []
        self.secrets: set[str] = set()

    def fill(self, template: str, where: str) -> str:
        text = CREDENTIAL.sub(lambda match: self._credential(match.group(0), match.group(1),
                                                             where), template)
        return PARAMETER.sub(lambda match: self._parameter(match.group(0), match.group(1),
                                                           where), text)

    def _credential(self, text: str, key: str, where: str) -> str:
        value = self.credentials.get(key)
        if value is None or value == "":
            self.used.append(Placeholder(text, key, where, None, given_empty=value == ""))
            return ""
        resolved = js_string(value)
        self.secrets.add(resolved)
        self.used.append(Placeholder(text, key, where, "credentials"))
        return resolved

    def _parameter(self, text: str, key: str, where: str) -> str:
        if key in self.params:
            self.used.append(Placeholder(text, key, where, "--param"))
            return self.params[key]
        value = self.config.get(key)
        if value:
            origin = "--config" if key in self.overridden else "auth.config"
            self.used.append(Placeholder(text, key, where, origin))
            return value
        self.used.append(Placeholder(text, key, where, None))
        return ""


def _body(spec: Mapping[str, Any], resolver: _Resolver,
          headers: list[tuple[str, str]]) -> bytes | None:
    body = spec.get("body")
    if body is None:
        return None
    filled = _fill_tree(body, resolver)
    if spec.get("bodyType") == "form" and isinstance(filled, dict):
        return urlencode({k: js_string(v) for k, v in filled.items()}).encode()
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return json.dumps(filled).encode()


def _fill_tree(value: Any, resolver: _Resolver) -> Any:
    if isinstance(value, str):
        return resolver.fill(value, "body")
    if isinstance(value, dict):
        return {key: _fill_tree(child, resolver) for key, child in value.items()}
    if isinstance(value, list):
        return [_fill_tree(child, resolver) for child in value]
    return value


def _query(spec: Mapping[str, Any]) -> dict[str, Any]:
    for key in _QUERY_KEYS:
        value = spec.get(key)
        if isinstance(value, dict):
            return value
    return {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _has_placeholder(text: str) -> bool:
    return bool(CREDENTIAL.search(text) or PARAMETER.search(text))


# --- explaining a failed call -----------------------------------------------------------------


def placeholder_origin(definition: Definition, placeholder: Placeholder) -> str:
    """Where the runtime gets a placeholder's value, in one phrase."""
    if placeholder.text.startswith("[["):
        producers = credential_producers(definition).get(placeholder.key, [])
        if not producers:
            return "nothing in the definition fills it (see DEF_PLACEHOLDER_UNRESOLVED)"
        return " or ".join(f"{p.where} ({_ROLES.get(p.where.split('[')[0], p.bag)})"
                           for p in producers)
    if placeholder.key in SYSTEM_VALUES or placeholder.key in OAUTH_SYSTEM_VALUES:
        return "a system value the runtime supplies (pass it with --param)"
    if placeholder.key in definition.auth_config:
        return "auth.config"
    return "the action form (pass it with --param)"


def empty_placeholder_findings(definition: Definition,
                               request: ResolvedRequest) -> list[Finding]:
    """One finding per placeholder that had no value (the runtime would send an empty string)."""
    findings: list[Finding] = []
    seen: set[str] = set()
    for placeholder in request.empty:
        if placeholder.text in seen:
            continue
        seen.add(placeholder.text)
        fix = (f"pass --credential {placeholder.key}=VALUE (or --credentials FILE)"
               if placeholder.text.startswith("[[") else
               f"pass --param {placeholder.key}=VALUE" + (
                   f" or --config {placeholder.key}=VALUE"
                   if placeholder.key in definition.auth_config else ""))
        state = (f"is empty: the credential {placeholder.key} you gave is an empty string, so "
                 "it is sent empty" if placeholder.given_empty
                 else "has no value: it would be sent empty")
        findings.append(diagnosis(
            "SRC_PLACEHOLDER_EMPTY", f"{placeholder.text} in {placeholder.where} {state}; at "
            f"runtime it comes from {placeholder_origin(definition, placeholder)}", fix,
            step="source"))
    return findings


def unauthorized_finding(definition: Definition, request: ResolvedRequest,
                         status: int) -> Finding:
    """What a 401/403 means for this source: which `[[key]]` was sent and where it comes from."""
    sent = [p for p in request.placeholders if p.text.startswith("[[")]
    if not sent:
        message = (f"the provider answered {status} and the request carries no [[key]] at all: "
                   "the source sends no credentials")
        fix = 'add the provider\'s auth header, e.g. "headers": {"Authorization": "Bearer ' \
              '[[accessToken]]"}'
        return diagnosis("SRC_UNAUTHORIZED", message, fix, step="source")
    described = "; ".join(
        f"{p.text} in {p.where} ({_given(p)}; at runtime it comes from "
        f"{placeholder_origin(definition, p)})" for p in _unique(sent))
    message = f"the provider answered {status}: it rejected what was sent: {described}"
    fix = ("check the value is current (an expired OAuth token needs refresh_token and "
           "auto_refresh: true), has the scopes this endpoint needs, and that the header format "
           "matches the provider (e.g. 'Bearer [[accessToken]]')")
    return diagnosis("SRC_UNAUTHORIZED", message, fix, step="source")


def _given(placeholder: Placeholder) -> str:
    if placeholder.resolved_from is None:
        return "sent EMPTY"
    return "your " + _GIVEN.get(placeholder.resolved_from, placeholder.resolved_from)


def _unique(placeholders: list[Placeholder]) -> list[Placeholder]:
    seen: dict[tuple[str, str], Placeholder] = {}
    for placeholder in placeholders:
        seen.setdefault((placeholder.text, placeholder.where), placeholder)
    return list(seen.values())
