"""Lint the OAuth flow: the refresh configuration and the redirect URI the runtime expects."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from whdebug.engine.lint.templates import TOKEN_KEY, auth_block, auth_url, object_mapping
from whdebug.engine.locations import Location
from whdebug.engine.locations import def_finding as _def
from whdebug.engine.locations import where as _where
from whdebug.engine.report import Finding, Severity
from whdebug.engine.steps.triggers import kebab_ns
from whdebug.model.definition import Definition


def oauth_flow_defined(definition: Definition) -> bool:
    """The definition has an OAuth flow of its own (a token exchange or an auth URL)."""
    return auth_block(definition, "get_token") is not None or auth_url(definition) is not None




def refresh_findings(definition: Definition) -> list[Finding]:
    refresh = auth_block(definition, "refresh_token")
    token = auth_block(definition, "get_token")
    token_mapping = object_mapping(token[1]) if token is not None else []
    refresh_keys = [key for key in token_mapping if "refresh" in key.lower()]
    findings: list[Finding] = []
    if refresh is None:
        also = ("" if refresh_keys else
                ', and store the refresh token: "refreshToken": "$.refresh_token" in '
                "auth.get_token.mapping")
        findings.append(_def(
            "DEF_REFRESH_MISSING",
            "auth.type is oauth2 but auth has no refresh_token: when the provider's access "
            "token expires, actions return 401 until the user reconnects (the runtime "
            "refreshes on a 401, with auth.refresh_token and auto_refresh: true)",
            'add auth.refresh_token {"url": "<provider token endpoint>", "method": "POST", '
            '"body": {"grant_type": "refresh_token", "refresh_token": "[[refreshToken]]", '
            '"client_id": "{{client_id}}", "client_secret": "{{client_secret}}"}, "mapping": '
            '{"accessToken": "$.access_token", "refreshToken": "$.refresh_token"}} and '
            f'"auto_refresh": true{also}', ("auth", "refresh_token")))
        return findings
    if isinstance(refresh[1], dict) and TOKEN_KEY not in object_mapping(refresh[1]):
        findings.append(_def(
            "DEF_REFRESH_MISSING",
            f"{_where(refresh[0])}.mapping does not store {TOKEN_KEY}: the refreshed token is "
            "thrown away and actions keep sending the expired one (401)",
            f'add "{TOKEN_KEY}": "$.access_token" to {_where(refresh[0])}.mapping',
            (*refresh[0], "mapping")))
    auto = _auto_refresh(definition, refresh)
    if auto is None or auto[1] is not True:
        where: Location = auto[0] if auto is not None else ("auth", "auto_refresh")
        state = ("is missing" if auto is None
                 else f"is {json.dumps(auto[1])}, not the boolean true")
        findings.append(_def(
            "DEF_REFRESH_MISSING",
            f"{_where(where)} {state}: the runtime refreshes only when auto_refresh is true and "
            "an action request returns 401 (it then calls auth.refresh_token and the failed "
            "request is retried with the new token), so once the access token expires actions "
            "keep returning 401",
            f"set {_where(where)} to true", where))
    return findings


def _auto_refresh(definition: Definition,
                  refresh: tuple[Location, Any] | None) -> tuple[Location, Any] | None:
    found = auth_block(definition, "auto_refresh")
    if found is not None:
        return found
    if refresh is not None and isinstance(refresh[1], dict) and "auto_refresh" in refresh[1]:
        return (*refresh[0], "auto_refresh"), refresh[1]["auto_refresh"]
    return None


def redirect_findings(definition: Definition) -> list[Finding]:
    """`redirect_uri` in auth_url (a string or the documented `{url, ...}` object) and in
    get_token: it must be `{{redirect_uri}}`, which the runtime fills with
    `{SAAS_API_URL}/miniapps/{ns}/oauth2`."""
    findings: list[Finding] = []
    ns = kebab_ns(definition.ns) or "{ns}"  # the ns as DEF_NS_FORMAT's fix leaves it
    found = auth_url(definition)
    if found is not None:
        given = redirect_values(*found)
        if not given:
            findings += _missing_redirect(*found, ns)
        findings += [_literal_finding(path, value, url, ns) for path, value, url in given
                     if not _is_placeholder(value)]
    token = auth_block(definition, "get_token")
    if token is None:
        return findings
    token_given = redirect_values(*token)
    findings += [_literal_finding(path, value, url, ns) for path, value, url in token_given
                 if not _is_placeholder(value)]
    if found is not None and not token_given and any(
            _is_placeholder(value) for _, value, _ in redirect_values(*found)):
        findings.append(_def(
            "DEF_REDIRECT_URI",
            f"{_where(found[0])} passes {{{{redirect_uri}}}} but {_where(token[0])} does not: "
            "providers that follow RFC 6749 reject a code exchange without the same "
            "redirect_uri",
            f'add "redirect_uri": "{{{{redirect_uri}}}}" to {_where(token[0])}.body',
            token[0], "warning"))
    return findings


_QUERY_VALUE = re.compile(r"([?&])redirect_uri=([^&#]*)")
_CALLBACK_PATH = re.compile(r"/miniapps/([^/?#]+)/oauth2(/*)$")
_REQUEST_PARTS = ("params", "queryParams", "query", "body")


def redirect_values(path: Location, block: Any) -> list[tuple[Location, str, str | None]]:
    """Every redirect_uri a request block sends: (location, value, the URL it sits in or None
    when it is an object member)."""
    found: list[tuple[Location, str, str | None]] = []
    url_path, url = (path, block) if isinstance(block, str) else (
        (*path, "url"), block.get("url") if isinstance(block, dict) else None)
    if isinstance(url, str):
        found += [(url_path, match.group(2), url) for match in _QUERY_VALUE.finditer(url)]
    if isinstance(block, dict):
        for part in _REQUEST_PARTS:
            members = block.get(part)
            if isinstance(members, dict) and isinstance(members.get("redirect_uri"), str):
                found.append(((*path, part, "redirect_uri"), members["redirect_uri"], None))
    return found


def _is_placeholder(value: str) -> bool:
    return re.fullmatch(r"\{\{\s*redirect_uri\s*\}\}", value) is not None


def _register(ns: str) -> str:
    return f"register {{SAAS_API_URL}}/miniapps/{ns}/oauth2 with the provider (whdebug urls)"


def _missing_redirect(path: Location, block: Any, ns: str) -> list[Finding]:
    url_path, url = (path, block) if isinstance(block, str) else (
        (*path, "url"), block.get("url") if isinstance(block, dict) else None)
    if not isinstance(url, str):
        return []
    joiner = "&" if "?" in url else "?"
    fixed = f"{url}{joiner}redirect_uri={{{{redirect_uri}}}}"
    return [_def("DEF_REDIRECT_URI",
                 f"{_where(path)} does not pass {{{{redirect_uri}}}}: the provider cannot send "
                 "the user back to Karzoun, so the OAuth popup never closes",
                 f"set {_where(url_path)} to {json.dumps(fixed)}, and {_register(ns)}", url_path)]


def _literal_finding(path: Location, value: str, url: str | None, ns: str) -> Finding:
    """A redirect_uri that is not `{{redirect_uri}}`: what goes wrong with this value."""
    severity: Severity | None = None
    callback = _CALLBACK_PATH.search(urlsplit(value).path) if "{{" not in value else None
    expected = f"{{SAAS_API_URL}}/miniapps/{ns}/oauth2"
    if "{{" in value:
        why = (f"is not {{{{redirect_uri}}}}, the value the runtime fills with {expected}: the "
               "provider sends the user elsewhere and the OAuth popup never closes")
    elif callback is not None and callback.group(1) != ns:
        why = (f'names ns "{callback.group(1)}", but this definition\'s ns is "{ns}": the '
               "provider sends the user to another MiniApp's OAuth callback")
    elif callback is not None and callback.group(2):
        why = (f"ends in /oauth2/ (a trailing slash): the runtime's redirect URI is {expected} "
               "without it, and providers compare redirect URIs exactly, so authorization fails "
               "with a redirect_uri mismatch")
    elif callback is not None:
        host = urlsplit(value).netloc or "one host"
        why = (f"is hard-coded for {host}: it matches {expected} only there; the runtime fills "
               "{{redirect_uri}} for whichever Karzoun environment runs the flow")
        severity = "info"
    else:
        why = ("is not Karzoun's OAuth callback: the provider returns the user there instead of "
               "to Karzoun, so the OAuth popup never closes")
    if url is not None:
        literal = f"redirect_uri={value}"
        fixed = url.replace(literal, "redirect_uri={{redirect_uri}}", 1)
        fix = f"set {_where(path)} to {json.dumps(fixed)}"
    else:
        fix = f'set {_where(path)} to "{{{{redirect_uri}}}}"'
    return _def("DEF_REDIRECT_URI", f"{_where(path)} sends redirect_uri={value}, which {why}",
                f"{fix}, and {_register(ns)}", path, severity)
