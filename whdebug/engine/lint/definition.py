"""Lint a MiniApp definition: schema, naming, security and cross-references (DEF_* findings)."""

from __future__ import annotations

import ast
import difflib
import functools
import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped,unused-ignore]
from jsonschema.exceptions import best_match  # type: ignore[import-untyped,unused-ignore]

from whdebug.engine.lint.auth import check_auth
from whdebug.engine.lint.document import document_findings
from whdebug.engine.locations import Location
from whdebug.engine.locations import def_finding as _def
from whdebug.engine.locations import pointer as _pointer
from whdebug.engine.locations import where as _where
from whdebug.engine.patches import PatchOp
from whdebug.engine.patches import add as add_op
from whdebug.engine.patches import replace as replace_op
from whdebug.engine.plan import Plan, compile_definition, jsonpath_finding
from whdebug.engine.report import Finding, finding
from whdebug.engine.signatures.schemes import SCHEME_HEADERS
from whdebug.engine.steps.sync import handler_without_trigger_fix
from whdebug.engine.steps.triggers import kebab_ns, trigger_type
from whdebug.errors import DefinitionError
from whdebug.model.definition import Definition
from whdebug.model.secrecy import config_secret_reason

_NS = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
# semver.org's recommended pattern.
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_OAUTH_CLIENT_KEYS = {"clientid", "clientsecret"}
_SIGNED_TYPES = {"hmac-sha256", "hmac-sha1", "header-token"}
_REQUIRED_HINTS = {
    "ns": 'a lowercase kebab-case namespace such as "my-service"',
    "version": 'a semver string such as "1.0.0"',
    "event": "the exact event string the webhook extraction produces",
    "eventExtraction": '{"source": "body", "path": "$.event"}',
    "source": '"body", "header" or "query"',
    "path": 'a JSONPath for body ("$.type") or a header or query name',
    "parts": 'a list of {"source", "path"} lookups',
    "type": 'e.g. "hmac-sha256"',
    "headerName": 'the header carrying the signature, e.g. "X-Hub-Signature-256"',
    "secretKey": 'the credentials / auth.config key holding the secret, e.g. "webhookSecret"',
    "paths": 'a list of JSONPaths such as ["$.id"]',
    "basePath": 'a JSONPath to the customer object, e.g. "$.data.customer"',
}


def check_definition(definition: Definition, *, submission: bool = False) -> list[Finding]:
    """Every DEF_* finding for `definition`; `submission` judges it as a draft sent to Karzoun."""
    data = definition.data
    plan = compile_definition(definition)
    findings = _schema_findings(data)
    findings += _shape_findings(plan, findings)
    findings += document_findings(definition, plan, submission)
    findings += _identity_findings(data, submission)
    findings += _trigger_findings(data)
    findings += _override_findings(data)
    findings += _security_findings(definition, plan, submission)
    findings += _jsonpath_findings(plan, data)
    findings += _sync_findings(definition, plan)
    findings += _source_findings(definition)
    findings += check_auth(definition)
    return findings


def parse_finding(error: DefinitionError) -> Finding:
    """A DEF_PARSE finding for a definition that could not be read or parsed."""
    message = str(error)
    if "end of input" in message:
        fix = "close the bracket, brace or string that is still open at the end of the file"
    elif "lone UTF-16 surrogate" in message:
        fix = "write the character itself, or escape it as a whole surrogate pair"
    elif "template literal" in message:
        fix = ("write the value as a quoted string; whdebug reads template literals only when "
               "they hold no ${...}")
    elif "not found" in message or "directory" in message:
        fix = "pass the path of an existing definition file"
    else:
        fix = ("correct the syntax at that line and column; the file must be JSON, JSON5 or "
               "a JavaScript object literal (const app = {...};)")
    return finding("DEF_PARSE", message, fix, step="definition")


# --- schema -----------------------------------------------------------------------------


@functools.cache
def _validator() -> Any:
    text = (resources.files("whdebug") / "schema" / "miniapp.schema.json").read_text("utf-8")
    return Draft202012Validator(json.loads(text))


def _schema_findings(data: dict[str, Any]) -> list[Finding]:
    findings = [_schema_finding(best_match(error.context) if error.context else error)
                for error in _validator().iter_errors(data)]
    return sorted(findings, key=lambda found: found.pointer or "")


def _schema_finding(error: Any) -> Finding:
    path: Location = tuple(error.absolute_path)
    where = _where(path)
    kind, expected, instance = error.validator, error.validator_value, error.instance
    if kind == "required":
        name = _required_name(error.message)
        hint = _REQUIRED_HINTS.get(name)
        return _def("DEF_SCHEMA", f'{where} is missing "{name}"',
                    f'add "{name}" to {where}' + (f": {hint}" if hint else ""), (*path, name))
    if kind == "type":
        wanted = " or ".join(_article(t) for t in _as_list(expected))
        message, fix = f"{where} must be {wanted}, not {_js_type(instance)}", \
            f"change {where} to {wanted}"
    elif kind == "enum":
        choices = ", ".join(json.dumps(choice) for choice in expected)
        message = f"{where} is {_show(instance, path)}; allowed: {choices}"
        spelled = [c for c in expected if _squash(c) == _squash(instance)]
        fix = (f"set {where} to {json.dumps(spelled[0])}" if spelled
               else f"set {where} to one of {choices}")
    elif kind in ("minLength", "minItems"):
        message, fix = f"{where} is empty", f"give {where} a value or remove it"
    elif kind == "uniqueItems":
        message = f"{where} lists the same entry twice"
        fix = f"remove the repeated entry in {where}"
    elif kind in ("minimum", "maximum"):
        message = f"{where} is {_show(instance, path)}, outside the allowed range"
        fix = f"set {where} to a value from 100 to 599" if path[-1:] == ("statusCode",) \
            else f"correct {where}"
    else:
        message, fix = f"{where}: {error.message[:160]}", f"correct {where} to match the schema"
    return _def("DEF_SCHEMA", message, fix, path)


def _shape_findings(plan: Plan, schema: list[Finding]) -> list[Finding]:
    """The Plan's DEF_SCHEMA findings at places the JSON Schema did not already flag."""
    flagged = [f.pointer for f in schema if f.pointer is not None]
    return [f for f in plan.findings if f.code == "DEF_SCHEMA" and f.pointer is not None
            and not any(f.pointer == p or f.pointer.startswith(p + "/") for p in flagged)]


def _required_name(message: str) -> str:
    quoted = message.removesuffix(" is a required property")
    try:
        return str(ast.literal_eval(quoted))
    except (ValueError, SyntaxError):
        return quoted


# --- naming and triggers ----------------------------------------------------------------


def _identity_findings(data: dict[str, Any], submission: bool) -> list[Finding]:
    findings: list[Finding] = []
    ns, version = data.get("ns"), data.get("version")
    if isinstance(ns, str) and ns and not _NS.match(ns):
        findings.append(_def(
            "DEF_NS_FORMAT", f"ns {json.dumps(ns)} is not lowercase kebab-case",
            f'rename ns to "{kebab_ns(ns)}" (lowercase letters and digits, single hyphens, '
            f'starting with a letter) and set every triggers[].type to "{trigger_type(ns)}"',
            ("ns",), patch=_ns_patch(data)))
    if isinstance(version, str) and version and not _SEMVER.match(version):
        semver = _semver_suggestion(version)
        findings.append(_def(
            "DEF_VERSION", f"version {json.dumps(version)} is not a semver string",
            f'set version to "{semver}"' if semver
            else 'set version to MAJOR.MINOR.PATCH, such as "1.0.0"', ("version",),
            patch=(replace_op("/version", semver),) if semver else None))
    if data.get("status") == "public":
        findings.append(_def(
            "DEF_STATUS_PUBLIC",
            'status is "public": only Karzoun publishes a MiniApp'
            + (", a submitted draft must be private" if submission else ""),
            'set status to "private" (Karzoun sets "public" when it publishes the app)',
            ("status",), "error" if submission else "warning",
            patch=(replace_op("/status", "private"),)))
    return findings


def _ns_patch(data: dict[str, Any]) -> tuple[PatchOp, ...]:
    """DEF_NS_FORMAT's fix: the kebab-case ns, and every trigger type derived from it."""
    ns = data.get("ns")
    ops = [replace_op("/ns", kebab_ns(ns if isinstance(ns, str) else None))]
    triggers = data.get("triggers")
    for index, trigger in enumerate(triggers if isinstance(triggers, list) else []):
        if isinstance(trigger, dict) and trigger.get("type") != trigger_type(ns):
            path = f"/triggers/{index}/type"
            ops.append(replace_op(path, trigger_type(ns)) if "type" in trigger
                       else PatchOp("add", path, trigger_type(ns)))
    return tuple(ops)


def _sensitive_patch(data: dict[str, Any], key: str) -> tuple[PatchOp, ...] | None:
    """Add `key` to auth.sensitiveKeys (creating the list when there is none)."""
    auth = data.get("auth")
    if not isinstance(auth, dict):
        return None
    keys = auth.get("sensitiveKeys")
    if isinstance(keys, list):
        return (PatchOp("add", "/auth/sensitiveKeys/-", key),)
    return (PatchOp("add", "/auth/sensitiveKeys", [key]),)


def _semver_suggestion(version: str) -> str | None:
    numbers = re.fullmatch(r"[vV]?(\d+)(?:\.(\d+))?(?:\.(\d+))?", version.strip())
    if numbers is None:
        return None
    return ".".join(str(int(n or 0)) for n in numbers.groups())


def _override_findings(data: dict[str, Any]) -> list[Finding]:
    """DEF_TX_PATHS_NOT_JOINED: an override listing several paths with no separator (the
    Salla example's). The webhooks guide joins path values only with a separator; without
    one the first non-empty may win, as for transactionId.paths. Both readings are said, and
    the fix (a separator) makes them agree."""
    webhook = data.get("webhook")
    spec = webhook.get("transactionId") if isinstance(webhook, dict) else None
    if not isinstance(spec, dict) or spec.get("separator") or not isinstance(
            spec.get("overrides"), dict):
        return []
    given = spec.get("paths")
    paths: list[Any] = given if isinstance(given, list) else []
    fallbacks = len(paths) > 1
    findings = []
    for event, entry in spec["overrides"].items():
        listed = entry.get("paths") if isinstance(entry, dict) else None
        if not isinstance(listed, list) or len(listed) < 2 or not all(
                isinstance(path, str) for path in listed):
            continue
        first, rest = listed[0], ", ".join(listed[1:])
        fix = ('add "separator": "_" to webhook.transactionId: the paths are then joined '
               "under either reading")
        if fallbacks:
            fix += (f"; but it would join transactionId.paths too ({', '.join(map(str, paths))}"
                    "), now tried in turn: give the override a separator only if the docs' "
                    "reading is what you mean")
        findings.append(_def(
            "DEF_TX_PATHS_NOT_JOINED",
            f"transactionId.overrides[{json.dumps(event)}] lists {len(listed)} paths and "
            "transactionId has no separator, and the docs join path values only with one: if "
            "the first non-empty wins, as for transactionId.paths, the runtime takes "
            f"{first} alone, {rest} is never read while {first} is found, and a later "
            f"{json.dumps(event)} about the same object is dropped as a duplicate; if the "
            "runtime joins them anyway, the id is what the override meant",
            fix, ("webhook", "transactionId", "overrides", event, "paths"),
            patch=None if fallbacks else (add_op("/webhook/transactionId/separator", "_"),)))
    return findings


def _trigger_findings(data: dict[str, Any]) -> list[Finding]:
    findings: list[Finding] = []
    triggers, ns = data.get("triggers"), data.get("ns")
    if not isinstance(triggers, list):
        return findings
    expected = f"miniapps:{ns}" if isinstance(ns, str) and ns else None
    bad_ns = expected is not None and not _NS.match(str(ns))
    first_index: dict[str, int] = {}
    for index, trigger in enumerate(triggers):
        if not isinstance(trigger, dict):
            continue
        kind, event = trigger.get("type"), trigger.get("event")
        if bad_ns and kind != expected:
            # Renaming the ns (DEF_NS_FORMAT) sets every type: one fix, not two that disagree.
            found = f"is {json.dumps(kind)}" if isinstance(kind, str) else "is missing"
            findings.append(_def(
                "DEF_TRIGGER_TYPE", f"triggers[{index}].type {found}, which does not match ns "
                f"{json.dumps(ns)}",
                f'rename ns to "{kebab_ns(ns)}" and set every triggers[].type to '
                f'"{trigger_type(ns)}" (the DEF_NS_FORMAT fix)', ("triggers", index, "type"),
                patch=_ns_patch(data)))
        elif expected is not None and kind != expected:
            found = f"is {json.dumps(kind)}" if isinstance(kind, str) else "is missing"
            op = replace_op if "type" in trigger else add_op
            findings.append(_def(
                "DEF_TRIGGER_TYPE", f'triggers[{index}].type {found}, expected "{expected}"',
                f'set triggers[{index}].type to "{expected}"', ("triggers", index, "type"),
                patch=(op(f"/triggers/{index}/type", expected),)))
        if isinstance(event, str) and event:
            if event in first_index:
                findings.append(_def(
                    "DEF_DUPLICATE_TRIGGER",
                    f'triggers[{index}] repeats event "{event}" of triggers[{first_index[event]}]',
                    f"remove triggers[{index}] or give it a different event",
                    ("triggers", index, "event"),
                    patch=(PatchOp("remove", f"/triggers/{index}"),)))
            else:
                first_index[event] = index
    return findings


# --- security ---------------------------------------------------------------------------


def _security_findings(definition: Definition, plan: Plan, submission: bool) -> list[Finding]:
    findings: list[Finding] = []
    webhook, sensitive = definition.data.get("webhook"), definition.sensitive_keys
    verification = webhook.get("verification") if isinstance(webhook, dict) else None
    spec = plan.verification
    if isinstance(webhook, dict) and (
            verification is None or (spec is not None and spec.type == "none")):
        state = "is missing" if verification is None else 'type is "none"'
        findings.append(_def(
            "DEF_VERIFICATION_NONE",
            f"webhook.verification {state}: anyone who knows the webhook URL can fire triggers",
            'set webhook.verification to {"type": "hmac-sha256", "headerName": "<provider '
            'signature header>", "secretKey": "webhookSecret"} and add "webhookSecret" to '
            "auth.sensitiveKeys", ("webhook", "verification")))
    if spec is not None and spec.type in _SIGNED_TYPES:
        key = spec.secret_key
        if key and key not in sensitive and isinstance(definition.data.get("auth"), dict):
            findings.append(_def(
                "DEF_SECRET_NOT_SENSITIVE",
                f'webhook.verification.secretKey "{key}" is not listed in auth.sensitiveKeys, '
                "so its value is not treated as a secret",
                f'add "{key}" to auth.sensitiveKeys', ("auth", "sensitiveKeys"),
                patch=_sensitive_patch(definition.data, key)))
    if spec is not None and spec.type in ("hmac-sha256", "hmac-sha1") and spec.header_name:
        scheme = SCHEME_HEADERS.get(spec.header_name.lower())
        if scheme is not None:
            who, sends = scheme
            findings.append(_def(
                "DEF_SCHEME_UNVERIFIABLE",
                f"webhook.verification checks {spec.header_name} as an HMAC of the raw body, "
                f"but {who} sends {sends}: the runtime strips only a sha256=/sha1= prefix and "
                "signs nothing but the body, so every real delivery gets 401",
                "no verification setting makes these signatures pass: ask Karzoun whether the "
                f"runtime supports {who}'s signing scheme (if the provider can also send a "
                "static token in a header, type header-token checks that)",
                ("webhook", "verification", "headerName")))
    oauth = definition.auth.get("type") == "oauth2"
    for key, value in definition.auth_config.items():
        reason = config_secret_reason(definition, key)
        if value in (None, "", [], {}) or reason is None:
            continue
        path: Location = ("auth", "config", key)
        if oauth and re.sub(r"[^a-z]", "", key.lower()) in _OAUTH_CLIENT_KEYS:
            findings.append(_def(
                "DEF_SECRET_IN_SUBMISSION",
                f"auth.config.{key} holds a value: allowed for a public OAuth app, whose "
                "client credentials Karzoun keeps for every tenant",
                f'nothing to change for a public OAuth app; set auth.config.{key} to "" if '
                "each tenant brings its own OAuth client", path, "info"))
            continue
        why = "is listed in auth.sensitiveKeys" if key in sensitive else (
            "is the webhook verification secret" if reason.startswith("the webhook")
            else "is sent to the provider as a credential" if reason.startswith("sent to")
            else "looks like a secret")
        fix = f'set auth.config.{key} to "" (Karzoun or each tenant provides it); test with ' \
              f"--config {key}=VALUE or --credential {key}=VALUE instead"
        if key not in sensitive:
            fix += f', and add "{key}" to auth.sensitiveKeys'
        findings.append(_def(
            "DEF_SECRET_IN_SUBMISSION",
            f'auth.config.{key} holds a value and "{key}" {why}: a submitted definition '
            "must not carry secrets", fix, path, "error" if submission else "warning"))
    return findings


# --- JSONPath ---------------------------------------------------------------------------


def _jsonpath_findings(plan: Plan, data: dict[str, Any]) -> list[Finding]:
    """The Plan's JSONPath errors, and those of the data sources' dataPath."""
    findings = [f for f in plan.findings if f.code == "DEF_BAD_JSONPATH"]
    for container in ("sources", "rpc"):
        for name, source in _dict(data.get(container)).items():
            data_path = _dict(source).get("dataPath")
            if isinstance(data_path, str):
                bad = jsonpath_finding(data_path, (container, name, "dataPath"))
                findings += [bad] if bad is not None else []
    return findings


# --- sync, sources ----------------------------------------------------------------------


def _sync_findings(definition: Definition, plan: Plan) -> list[Finding]:
    findings: list[Finding] = []
    handlers = definition.sync_handlers
    if "ecommerce" in definition.webhook:
        patch: tuple[PatchOp, ...] | None = None
        if handlers:
            message = "webhook.ecommerce is deprecated and sync.webhooks.handlers already exists"
            fix = "remove webhook.ecommerce; sync.webhooks.handlers handles these events"
            patch = (PatchOp("remove", "/webhook/ecommerce"),)
        else:
            message = "webhook.ecommerce is deprecated: new definitions must use sync"
            fix = ("move each handler to sync.webhooks.handlers, keyed by its trigger event, "
                   "then remove webhook.ecommerce")
        findings.append(_def("DEF_LEGACY_ECOMMERCE", message, fix, ("webhook", "ecommerce"),
                             patch=patch))
    events = definition.trigger_events
    for event in handlers:
        if event in events:
            continue
        fix, patch = handler_without_trigger_fix(event, handlers, plan.triggers, plan.ns)
        findings.append(_def(
            "DEF_HANDLER_WITHOUT_TRIGGER",
            f'sync handler "{event}" matches no triggers[].event', fix,
            ("sync", "webhooks", "handlers", event), patch=patch))
    return findings


def _source_findings(definition: Definition) -> list[Finding]:
    findings: list[Finding] = []
    for container in ("sources", "rpc"):
        for name in _dict(definition.data.get(container)):
            if not name.startswith("rpc_"):
                renamed = "rpc_" + re.sub(r"^rpc[-_]?", "", name, flags=re.IGNORECASE)
                findings.append(_def(
                    "DEF_SOURCE_KEY", f'{container}.{name} is not named "rpc_..."',
                    f'rename {container}.{name} to "{renamed}" and every "x-source" naming it',
                    (container, name)))
    defined = list(definition.sources)
    for path, holder in _walk(definition.data, ()):
        source = holder.get("x-source")
        if not isinstance(source, str):
            continue
        where = _where(path)
        if source not in defined:
            close = _closest(source, defined)
            bare = source.removeprefix("rpc_")
            if bare in defined:
                fix = f'rename the source "{bare}" to "{source}"'
            elif close:
                fix = f'change {where}["x-source"] to "{close}"'
            else:
                fix = f'define "{source}" under sources (or correct {where}["x-source"])'
            findings.append(_def(
                "DEF_XSOURCE_UNKNOWN", f'{where} takes values from source "{source}", which is '
                "not defined in sources or rpc", fix, (*path, "x-source")))
        fallback = holder.get("x-fallback")
        if fallback != "input":
            state = ("has no \"x-fallback\"" if fallback is None
                     else f'has "x-fallback": {_show(fallback, path)}')
            findings.append(_def(
                "DEF_XSOURCE_NO_FALLBACK",
                f'{where} {state}: when source "{source}" fails, users cannot type a value',
                f'add "x-fallback": "input" to {where}', (*path, "x-fallback"),
                patch=(PatchOp("add", _pointer((*path, "x-fallback")), "input"),)))
    return findings


def _walk(value: Any, path: Location) -> Iterator[tuple[Location, dict[str, Any]]]:
    """Every object in the document that has an `x-source` key."""
    if isinstance(value, dict):
        if "x-source" in value:
            yield path, value
        for key, child in value.items():
            yield from _walk(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _walk(child, (*path, index))


# --- helpers ----------------------------------------------------------------------------








def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _closest(value: Any, choices: list[str]) -> str | None:
    if not isinstance(value, str) or not choices:
        return None
    for choice in choices:
        if choice.lower() == value.lower():
            return choice
    matches = difflib.get_close_matches(value, choices, n=1, cutoff=0.75)
    return matches[0] if matches else None


def _squash(value: Any) -> str:
    """`HMAC_SHA256`, `hmac-sha256` alike, and `orders`, `order`: lower case, no plural s."""
    return re.sub(r"[^a-z0-9]", "", str(value).lower()).removesuffix("s")


def _article(json_type: str) -> str:
    return f"an {json_type}" if json_type[0] in "aeiou" else f"a {json_type}"


def _js_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    names = {dict: "an object", list: "an array", str: "a string", float: "a number"}
    return names.get(type(value), "null")


def _show(value: Any, path: Location) -> str:
    """A short rendering of a value for a message; never a value from auth.config."""
    if path[:2] == ("auth", "config"):
        return _js_type(value)
    text = json.dumps(value)
    return text if len(text) <= 40 else _js_type(value)
