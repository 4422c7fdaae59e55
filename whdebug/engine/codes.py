"""What each finding code of the registry means: its one line, the runtime behaviour behind
it, its fix and the Karzoun docs page (`whdebug codes`, `whdebug explain`, docs/codes.md).

Severities are the registry's (engine/report.py); the prose is kept in `codes.toml` beside
this module, one table per code.
"""

from __future__ import annotations

import difflib
import functools
import tomllib
from dataclasses import dataclass
from importlib import resources

from whdebug.engine.report import FINDING_CODES, TROUBLESHOOTING_CODES, UPDATE_CODES, Severity

#: The part of the pipeline (or the command) a code belongs to, by its prefix.
GROUPS: tuple[tuple[str, str, str], ...] = (
    ("SIG_", "signature", "replay, serve, TUI"),
    ("EVT_", "event", "replay, serve, TUI"),
    ("CHALLENGE", "challenge", "replay, serve, TUI"),
    ("TX_", "dedupe", "replay, serve, TUI"),
    ("REQ_", "request", "replay, serve, TUI"),
    ("CUS_", "customer", "replay, serve, TUI"),
    ("SYNC_", "sync", "replay, sync"),
    ("DEF_", "definition", "check"),
    ("RDY_", "readiness", "check --samples"),
    ("UPD_", "update", "check --previous"),
    ("URL_", "urls", "urls"),
    ("SRC_", "source", "source"),
)
DOCS_SITE = "Karzoun MiniApp docs"


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """One code of the registry, explained."""

    code: str
    severity: Severity
    group: str
    commands: str
    """The commands (or faces) that report it."""
    summary: str
    runtime: str
    fix: str
    docs: str
    """The docs page, as a path of Karzoun's MiniApp docs site."""


def registry() -> dict[str, Severity]:
    """Every code of the registry with its default severity, in registry order."""
    return {**FINDING_CODES, **UPDATE_CODES, **TROUBLESHOOTING_CODES}


@functools.cache
def _texts() -> dict[str, dict[str, str]]:
    text = (resources.files("whdebug") / "engine" / "codes.toml").read_text("utf-8")
    return tomllib.loads(text)


def _group(code: str) -> tuple[str, str]:
    for prefix, group, commands in GROUPS:
        if code.startswith(prefix):
            return group, commands
    return "other", ""


def explain(code: str) -> CodeInfo | None:
    """The explanation of `code` (case-insensitive), or None when the registry has no such
    code. A code without prose yet is explained by its code and severity alone."""
    code = code.strip().upper().replace("-", "_")
    severity = registry().get(code)
    if severity is None:
        return None
    text = _texts().get(code, {})
    group, commands = _group(code)
    return CodeInfo(code, severity, group, commands, text.get("summary", ""),
                    text.get("runtime", ""), text.get("fix", ""), text.get("docs", ""))


def every_code() -> list[CodeInfo]:
    """Every code explained, grouped in pipeline order, registry order within a group."""
    infos = [info for code in registry() if (info := explain(code)) is not None]
    order = {group: index for index, (_, group, _) in enumerate(GROUPS)}
    return sorted(infos, key=lambda info: order.get(info.group, len(order)))


def close_codes(text: str, limit: int = 3) -> list[str]:
    """Registry codes close to `text` (a misspelling, a missing prefix, lower case)."""
    wanted = text.strip().upper().replace("-", "_")
    codes = list(registry())
    found = [code for code in codes if wanted and code.endswith("_" + wanted)]
    found += difflib.get_close_matches(wanted, codes, n=limit, cutoff=0.6)
    return list(dict.fromkeys(found))[:limit]
