"""The document schema of Karzoun's reference: required fields, HTTPS assets, the category list,
the auth block, and what stores the webhook verification secret (docs/lint.md maps each rule
to its docs page)."""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from whdebug.engine.lint.auth import Producer, credential_producers, source_entries
from whdebug.engine.lint.templates import actions, auth_block, install_form_fields
from whdebug.engine.locations import Location
from whdebug.engine.locations import def_finding as _def
from whdebug.engine.locations import where as _where
from whdebug.engine.plan import Plan
from whdebug.engine.report import Finding
from whdebug.model.definition import Definition

#: reference/document-schema: required top-level fields (ns and version are in the JSON Schema,
#: auth has its own finding), with what goes there.
REQUIRED_FIELDS: dict[str, str] = {
    "name": "the internal name, usually the same as ns",
    "type": "the type identifier, usually the same as ns",
    "title": "the display title in the Marketplace",
    "label": "a short label",
    "description": "the full description (markdown, with numbered setup steps)",
    "shortDescription": "a one-line summary, under about 120 characters",
    "status": '"private" (Karzoun sets "public" when it publishes the app)',
    "category": "one of the documented categories",
    "icon": "an HTTPS URL of the icon (SVG or PNG, square)",
    "logo": "an HTTPS URL of the logo",
    "docsUrl": "the link to your setup guide for end users",
}
#: guides/triggers: required trigger fields besides type (DEF_TRIGGER_TYPE) and event (JSON Schema).
TRIGGER_FIELDS: dict[str, str] = {
    "img": '"automation3.svg" (the Automation Builder icon file name)',
    "icon": 'a Lucide icon name such as "shopping-cart"',
    "label": "the human-readable label",
    "description": "help text saying when the trigger fires",
    "isCustom": "false for a standard trigger",
}
#: reference/document-schema, "Categories".
CATEGORIES = ("ecommerce", "productivity", "communication", "marketing", "developer", "payment",
              "social", "storage", "analytics", "crm")
_ASSETS = ("icon", "logo")
#: guides/actions and guides/dynamic-data-sources, "Request fields": the methods they list.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_OTHER_METHODS = ("HEAD", "OPTIONS")
#: The auth flow's requests (guides/authentication): objects with url and method.
_AUTH_REQUESTS = ("userDetails", "get_token", "refresh_token", "test_token")
_SIGNED_TYPES = {"hmac-sha256", "hmac-sha1", "header-token"}


def document_findings(definition: Definition, plan: Plan, submission: bool) -> list[Finding]:
    """Required fields (submission), assets, category, auth, webhook and the secret's producer."""
    data = definition.data
    findings: list[Finding] = []
    if submission:
        findings += _required_findings(data)
    findings += _request_findings(definition)
    findings += _asset_findings(data, submission)
    findings += _category_findings(data, submission)
    secret_key = _secret_key(plan)
    if data.get("auth") is None:
        findings.append(_auth_missing(secret_key))
    elif secret_key is not None:
        findings += _secret_producer_findings(definition, secret_key)
    if data.get("webhook") is None and definition.triggers:
        state = "null" if "webhook" in data else "absent"
        findings.append(_def(
            "DEF_WEBHOOK_ABSENT",
            f"webhook is {state} but the definition has {len(definition.triggers)} trigger(s): the "
            "document schema makes webhook optional, and the docs (the Dropbox example, "
            "\"Simple triggers without webhook processing\") do not say how those triggers "
            "fire without it, so whdebug has no webhook step to replay",
            'nothing to change for an actions-only app; to receive provider webhooks, add a '
            '"webhook" object with eventExtraction and verification', ("webhook",), "info"))
    return findings


def _required_findings(data: dict[str, Any]) -> list[Finding]:
    findings: list[Finding] = []
    ns = data.get("ns") if isinstance(data.get("ns"), str) else None
    for field, hint in REQUIRED_FIELDS.items():
        if data.get(field) in (None, ""):
            value = f'"{field}": "{ns}"' if field in ("name", "type") and ns else f'"{field}"'
            state = "is empty" if data.get(field) == "" else f'is missing "{field}"'
            message = (f"{field} {state}" if state == "is empty" else f"the definition {state}")
            findings.append(_def(
                "DEF_SCHEMA", f"{message}: the document schema requires it of every MiniApp",
                f"add {value} to the definition: {hint}", (field,)))
    triggers = data.get("triggers")
    for index, trigger in enumerate(triggers if isinstance(triggers, list) else []):
        if not isinstance(trigger, dict):
            continue
        for field, hint in TRIGGER_FIELDS.items():
            if trigger.get(field) is None:
                findings.append(_def(
                    "DEF_SCHEMA", f'triggers[{index}] is missing "{field}": the triggers guide '
                    "requires it of every trigger",
                    f'add "{field}" to triggers[{index}]: {hint}', ("triggers", index, field)))
    return findings


def _requests(definition: Definition) -> list[tuple[Location, dict[str, Any], bool]]:
    """Every HTTP request of the definition: (location, object, whether a docs table marks
    its method required). Action steps of `type` "function" are not requests."""
    found: list[tuple[Location, dict[str, Any], bool]] = []
    for name in _AUTH_REQUESTS:
        block = auth_block(definition, name)
        if block is not None and isinstance(block[1], dict):
            found.append((block[0], block[1], False))
    registrations = definition.auth.get("registrationRequests")
    for index, item in enumerate(registrations if isinstance(registrations, list) else []):
        if isinstance(item, dict):
            found.append((("auth", "registrationRequests", index), item, False))
    for path, action in actions(definition.data):
        steps = action.get("requests")
        for index, step in enumerate(steps if isinstance(steps, list) else []):
            if isinstance(step, dict) and step.get("type", "http") == "http":
                found.append(((*path, "requests", index), step, True))
    for path, _, spec in source_entries(definition):
        found.append((path, spec, True))
    return found


def _request_findings(definition: Definition) -> list[Finding]:
    """A request with no url (the runtime has nowhere to send it), or no method or an unknown
    one. guides/actions and guides/dynamic-data-sources mark both required; the auth flow's
    requests have no such table, so a missing method there is a warning."""
    findings: list[Finding] = []
    for path, request, method_required in _requests(definition):
        where = _where(path)
        url, method = request.get("url"), request.get("method")
        no_url = not isinstance(url, str) or not url.strip()
        if no_url and method in (None, ""):  # an empty or elided block ({ /* ... */ })
            findings.append(_def(
                "DEF_REQUEST_INCOMPLETE",
                f"{where} has no url and no method: the runtime has no address to send this "
                "request to",
                f'add "url": "https://..." (the provider endpoint) and "method" (one of '
                f'{", ".join(METHODS)}) to {where}', path))
            continue
        if no_url:
            state = ("has no url" if url is None or isinstance(url, str)
                     else f"has url {json.dumps(url)}, not a string")
            findings.append(_def(
                "DEF_REQUEST_INCOMPLETE",
                f"{where} {state}: the runtime has no address to send this request to",
                f'add "url": "https://..." to {where}: the provider endpoint, with [[credential]] '
                "and {{parameter}} placeholders as needed", (*path, "url")))
        if method is None or method == "":
            findings.append(_def(
                "DEF_REQUEST_INCOMPLETE",
                f"{where} has no method: " + (
                    "the request fields table marks it required" if method_required else
                    "every request of the authentication guide gives one, and which method the "
                    "runtime uses without it is not documented"),
                f'add "method" to {where}: one of {", ".join(METHODS)} (what the provider '
                "endpoint expects)", (*path, "method"),
                None if method_required else "warning"))
        elif not isinstance(method, str) or method.upper() not in (*METHODS, *_OTHER_METHODS):
            close = (difflib.get_close_matches(method.upper(), METHODS, n=1, cutoff=0.75)
                     if isinstance(method, str) else [])
            findings.append(_def(
                "DEF_REQUEST_INCOMPLETE",
                f"{where}.method is {json.dumps(method)}, not an HTTP method "
                f"({', '.join(METHODS)})",
                f'set {where}.method to "{close[0]}"' if close else
                f"set {where}.method to one of {', '.join(METHODS)}", (*path, "method")))
    return findings


def _asset_findings(data: dict[str, Any], submission: bool) -> list[Finding]:
    findings: list[Finding] = []
    for field in _ASSETS:
        value = data.get(field)
        if not isinstance(value, str) or not value or value.lower().startswith("https://"):
            continue
        if value.lower().startswith("http://"):
            message = f"{field} is {json.dumps(value)}, a plain http URL"
            fix = f'set {field} to {json.dumps("https://" + value[len("http://"):])}'
        else:
            message = f"{field} is {json.dumps(value)}, not an HTTPS URL"
            fix = (f"host the {field} (SVG or PNG) on infrastructure you control and set {field} "
                   "to its HTTPS URL")
        findings.append(_def(
            "DEF_ASSET_NOT_HTTPS",
            f"{message}: the submission guide requires icon and logo on HTTPS URLs you control",
            fix, (field,), "error" if submission else "warning"))
    return findings


def _category_findings(data: dict[str, Any], submission: bool) -> list[Finding]:
    category = data.get("category")
    if not isinstance(category, str) or not category or category in CATEGORIES:
        return []
    choices = ", ".join(json.dumps(choice) for choice in CATEGORIES)
    squashed = re.sub(r"[^a-z]", "", category.lower())
    spelled = [c for c in CATEGORIES if c == squashed or c == squashed.removesuffix("s")]
    close = spelled or difflib.get_close_matches(squashed, CATEGORIES, n=1, cutoff=0.75)
    fix = (f"set category to {json.dumps(close[0])}" if close
           else f"set category to one of {choices}")
    return [_def(
        "DEF_CATEGORY_UNKNOWN",
        f"category {json.dumps(category)} is not a Marketplace category; the document schema "
        f"lists {choices}", fix, ("category",), "error" if submission else "warning")]


def _secret_key(plan: Plan) -> str | None:
    spec = plan.verification
    if spec is None or spec.type not in _SIGNED_TYPES or not spec.secret_key:
        return None
    return spec.secret_key


def _auth_missing(secret_key: str | None) -> Finding:
    config = f'{{"{secret_key}": ""}}' if secret_key else "{}"
    sensitive = f'["{secret_key}"]' if secret_key else "[]"
    also = (f'; webhook.verification.secretKey "{secret_key}" has nowhere to come from, so '
            "every delivery would be rejected with 401" if secret_key else "")
    return _def(
        "DEF_AUTH_MISSING",
        "the definition has no auth block: the document schema requires it (auth.type decides "
        f"the install form or the OAuth popup, auth.config holds the install's values){also}",
        f'add "auth": {{"type": "bearer_token", "config": {config}, "sensitiveKeys": '
        f"{sensitive}}} (or the auth your provider uses: guides/authentication)", ("auth",))


def _secret_producer_findings(definition: Definition, key: str) -> list[Finding]:
    producers = credential_producers(definition)
    stored = [p for p in producers.get(key, []) if p.bag == "credentials"]
    if stored:
        return []
    metadata = [p for p in producers.get(key, []) if p.bag == "metadata"]
    note = (f" {metadata[0].where} stores it in metadata, which this lookup does not read."
            if metadata else "")
    return [_def(
        "DEF_SECRET_NO_PRODUCER",
        f'webhook.verification.secretKey "{key}" is stored by nothing: the runtime reads the '
        f'install\'s credentials["{key}"], then auth.config["{key}"], so every delivery would be '
        f"rejected with 401.{note} {_secret_producers(definition, producers)}",
        _secret_fix(definition, key), ("webhook", "verification", "secretKey"))]


def _secret_fix(definition: Definition, key: str) -> str:
    stored = ("; or store it in credentials from auth.get_token.mapping or an "
              "auth.registrationRequests mapping (a secret the provider returns)")
    if install_form_fields(definition):
        return (f'add "{key}": {{"type": "password", "label": "Webhook secret", "required": '
                f'true}} to auth.form so each install enters its own, and add "{key}" to '
                f"auth.sensitiveKeys{stored}")
    return (f'add "{key}": "" to auth.config so the install form asks for it (a per-install '
            f'secret; Karzoun fills a global one, as for Salla), and add "{key}" to '
            f"auth.sensitiveKeys{stored}")


def _secret_producers(definition: Definition, producers: dict[str, list[Producer]]) -> str:
    by_place: dict[str, list[str]] = {}
    for entries in producers.values():
        for producer in entries:
            if producer.bag == "credentials":
                by_place.setdefault(producer.where, []).append(producer.key)
    parts = [f"{where} ({', '.join(keys)})" for where, keys in by_place.items()]
    missing = ["auth.form" if name == "form" else name
               for name in ("config", "form", "get_token", "registrationRequests")
               if not _defined(definition, name)]
    text = ("Producers here: " + "; ".join(parts)) if parts else "Nothing here stores credentials"
    return text + ("; not defined: " + ", ".join(
        "auth.config" if name == "config" else name for name in missing) if missing else "") + "."


def _defined(definition: Definition, name: str) -> bool:
    if name == "config":
        return bool(definition.auth_config)
    if name == "form":
        return definition.auth.get("form") not in (None, {}, [])
    found = auth_block(definition, name)
    return found is not None and found[1] not in (None, {}, [])

