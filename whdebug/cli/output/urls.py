"""Human output of `whdebug urls`: the URLs to register and what is wrong with the input."""

from __future__ import annotations

from rich.console import Console

from whdebug.cli.output.blocks import render_findings, render_verdict
from whdebug.cli.output.text import safe_text
from whdebug.tools.endpoints import Endpoints


def render_urls(console: Console, endpoints: Endpoints) -> None:
    """`whdebug urls`: the two URLs, then what is wrong with the input."""
    console.print(safe_text(f"{endpoints.ns}@{endpoints.version or '?'}: register these with the "
                            "provider", "bold"))
    rows = [("OAuth redirect URI", endpoints.redirect_uri,
             "GET" + ("" if endpoints.uses_oauth else ", not an OAuth app")),
            ("Webhook URL       ", endpoints.webhook_url,
             "POST" + ("" if endpoints.has_webhook else ", no webhook block"))]
    for label, url, note in rows:
        line = safe_text(f"{label}  ")
        line.append_text(safe_text(url, "bold"))
        line.append_text(safe_text(f"  ({note})", "dim"))
        console.print(line, soft_wrap=True)  # a URL is never cut or wrapped
    if endpoints.findings:
        console.print()
        render_findings(console, endpoints.findings)
    console.print()
    render_verdict(console, endpoints.ok, "ok: copy the URLs exactly (no trailing slash)",
             "check the warnings above before registering")
