"""The state one verification accumulates: request, verification settings, secret, findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from whdebug.engine._specs import VerificationSpec
from whdebug.engine.report import Finding
from whdebug.engine.report import finding as make_finding
from whdebug.engine.signatures.secrets import Resolution
from whdebug.model.request import CapturedRequest


@dataclass(slots=True)
class VerifyContext:
    request: CapturedRequest
    spec: VerificationSpec
    resolution: Resolution | None
    now: datetime
    received_at: datetime | None = None
    """When the request arrived (timestamp headers are judged against it); None for a file."""
    findings: list[Finding] = field(default_factory=list)

    def add(self, code: str, message: str, fix: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("step", "verify")
        self.findings.append(make_finding(code, message, fix, **kwargs))
