"""What the app behind `serve --forward-to` answered, set against what the runtime answers.

The provider sees the runtime's answer, never the app's; when the two statuses differ, a
test against the app alone says something else than production will (a provider retries
on a non-2xx answer, and stops retrying on a 2xx one).
"""

from __future__ import annotations

from whdebug.engine.report import Finding, Outcome, finding
from whdebug.model.request import ForwardResult


def app_status_findings(forward: ForwardResult | None, outcome: Outcome) -> list[Finding]:
    """APP_STATUS_DIFFERS when the app's status is not the runtime's for this request."""
    if forward is None or forward.status is None or forward.status == outcome.http_status:
        return []
    app_ok = 200 <= forward.status < 300
    runtime_ok = 200 <= outcome.http_status < 300
    latency = f" in {forward.latency * 1000:.0f} ms" if forward.latency is not None else ""
    message = (f"your app answered {forward.status}{latency}, but the runtime answers "
               f"{outcome.http_status} for this request ({outcome.status}), and the provider "
               "sees the runtime's answer")
    if runtime_ok and not app_ok:
        message += ("; the provider gets a 2xx and does not retry, so a failure in your app "
                    "is not redelivered")
    elif app_ok and not runtime_ok:
        message += ("; your app accepted what the runtime refuses, and the provider "
                    "retries it")
    return [finding("APP_STATUS_DIFFERS", message, step="request")]
