"""The two URLs to register with a provider: the OAuth redirect URI and the webhook URL."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import msgspec

from whdebug.engine.report import Finding, diagnosis
from whdebug.engine.steps.triggers import kebab_ns
from whdebug.errors import WhdebugError
from whdebug.model.definition import Definition

URLS_SCHEMA = "whdebug.urls/1"
_NS = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


class Endpoints(msgspec.Struct, frozen=True, tag_field="schema", tag=URLS_SCHEMA):
    """What to register, built from SAAS_API_URL and the definition's ns (`whdebug.urls/1`)."""

    ns: str
    version: str | None
    api_url: str
    """--api-url as given."""
    base: str
    """The SAAS_API_URL the URLs are built on (trailing slash, query and /miniapps removed)."""
    redirect_uri: str
    webhook_url: str
    uses_oauth: bool = msgspec.field(name="oauth")
    has_webhook: bool = msgspec.field(name="webhook")
    findings: tuple[Finding, ...]
    ok: bool = False
    """Set from the findings: none is an error or a warning."""

    def __post_init__(self) -> None:
        ok = not any(item.severity in ("error", "warning") for item in self.findings)
        msgspec.structs.force_setattr(self, "ok", ok)


def build_endpoints(definition: Definition, api_url: str) -> Endpoints:
    """The redirect URI and webhook URL for `definition` under `api_url`, with every problem."""
    ns = definition.ns
    if not ns:
        raise WhdebugError('the definition has no "ns": the URLs are built from it',
                           definition.path)
    findings: list[Finding] = []
    if not _NS.match(ns):
        findings.append(diagnosis(
            "DEF_NS_FORMAT", f'ns "{ns}" is not lowercase kebab-case: Karzoun rejects it, and '
            "a provider may not match a URL whose case it changes",
            f'rename ns to "{kebab_case(ns)}" (and every triggers[].type to '
            f'"miniapps:{kebab_case(ns)}")', step="urls", pointer="/ns"))
    base = _base(api_url.strip(), findings)
    uses_oauth = definition.auth.get("type") == "oauth2"
    has_webhook = bool(definition.webhook)
    if not uses_oauth:
        kind = definition.auth.get("type")
        findings.append(diagnosis(
            "URL_NOT_USED", f"auth.type is {kind!r}, not oauth2: the redirect URI is only "
            "needed for an OAuth app", None, step="urls"))
    if not has_webhook:
        findings.append(diagnosis(
            "URL_NOT_USED", "the definition has no webhook block: the webhook URL receives "
            "nothing until one is added", None, step="urls"))
    return Endpoints(ns, definition.version, api_url, base, f"{base}/miniapps/{ns}/oauth2",
                     f"{base}/miniapps/{ns}/webhooks", uses_oauth, has_webhook, tuple(findings))


def _base(api_url: str, findings: list[Finding]) -> str:
    """SAAS_API_URL as the runtime joins it: scheme://host[:port][/path] without a final '/'."""
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise WhdebugError(f"--api-url must be an absolute http(s) URL such as "
                           f"https://api.example.com, not {api_url!r}")
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    miniapps = path.find("/miniapps")
    kept = path[:miniapps] if miniapps >= 0 else path
    suggestion = f"pass --api-url {origin}{kept}"
    if parts.query or parts.fragment:
        findings.append(diagnosis(
            "URL_API_QUERY", "--api-url has a query or fragment, which cannot be part of "
            "SAAS_API_URL; it was dropped", suggestion, step="urls"))
    if parts.path.endswith("/"):
        findings.append(diagnosis(
            "URL_API_TRAILING_SLASH", f"--api-url ends with '/': joined as is, the URLs would "
            f"read {origin}{parts.path}/miniapps/... with a double slash, which many providers "
            "treat as a different URL", suggestion + " (no trailing slash)", step="urls"))
    if miniapps >= 0:
        findings.append(diagnosis(
            "URL_API_PATH", f"--api-url already contains {path[miniapps:]!r}: SAAS_API_URL is "
            "the API root and the runtime adds /miniapps/{ns}/... itself; the URLs below use "
            f"{origin}{kept}", suggestion, step="urls"))
    elif path:
        findings.append(diagnosis(
            "URL_API_PATH", f"--api-url has a path ({path}): the URLs below keep it; "
            "SAAS_API_URL is normally just the API origin", f"pass --api-url {origin} unless "
            f"your SAAS_API_URL really ends in {path}", step="urls"))
    if parts.scheme == "http" and (parts.hostname or "") not in _LOOPBACK:
        findings.append(diagnosis(
            "URL_API_NOT_HTTPS", "--api-url uses http: providers require an https redirect URI "
            "and most refuse to deliver webhooks over plain http",
            f"pass --api-url https://{parts.netloc}{kept}", step="urls"))
    return origin + kept


def kebab_case(name: str) -> str:
    """`GitHub_App` -> `git-hub-app`: the ns DEF_NS_FORMAT's fix sets (one rule for both)."""
    return kebab_ns(name) or "my-service"