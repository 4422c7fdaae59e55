"""Lint the OAuth flow: the refresh configuration and the redirect URI the runtime expects."""

from __future__ import annotations

import json
import re
from typing import Any

from whdebug.engine.lint.templates import TOKEN_KEY, auth_block, auth_url, object_mapping
from whdebug.engine.locations import Location
from whdebug.engine.locations import def_finding as _def
from whdebug.engine.locations import where as _where
from whdebug.engine.report import Finding
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
            "token expires, actions return 401 until the user reconnects",
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
            f"{_where(where)} {state}: the runtime does not refresh the access token before it "
            "expires, so actions start returning 401",
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
    findings: list[Finding] = []
    found = auth_url(definition)
    ns = kebab_ns(definition.ns) or "{ns}"  # the ns as DEF_NS_FORMAT's fix leaves it
    register = f"register {{SAAS_API_URL}}/miniapps/{ns}/oauth2 with the provider (whdebug urls)"
    if found is not None and isinstance(found[1], str):
        path, url = found
        if not re.search(r"\{\{\s*redirect_uri\s*\}\}", url):
            literal = re.search(r"([?&])redirect_uri=([^&#]*)", url)
            if literal is not None:
                fixed = url[:literal.start(2)] + "{{redirect_uri}}" + url[literal.end(2):]
                message = (f"{_where(path)} sends redirect_uri={literal.group(2)}: the provider "
                           "returns the user there instead of to Karzoun, so the OAuth popup "
                           "never closes")
            else:
                joiner = "&" if "?" in url else "?"
                fixed = f"{url}{joiner}redirect_uri={{{{redirect_uri}}}}"
                message = (f"{_where(path)} does not pass {{{{redirect_uri}}}}: the provider "
                           "cannot send the user back to Karzoun, so the OAuth popup never "
                           "closes")
            findings.append(_def("DEF_REDIRECT_URI", message,
                                 f"set {_where(path)} to {json.dumps(fixed)}, and {register}",
                                 path))
            return findings
        token = auth_block(definition, "get_token")
        if token is not None and "redirect_uri" not in json.dumps(token[1]):
            findings.append(_def(
                "DEF_REDIRECT_URI",
                f"{_where(path)} passes {{{{redirect_uri}}}} but {_where(token[0])} does not: "
                "providers that follow RFC 6749 reject a code exchange without the same "
                "redirect_uri",
                f'add "redirect_uri": "{{{{redirect_uri}}}}" to {_where(token[0])}.body',
                token[0], "warning"))
    return findings
