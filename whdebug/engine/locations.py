"""Places in a definition: JSON pointers, readable paths, and DEF_* findings that point there."""

from __future__ import annotations

import json
import re

from whdebug.engine.patches import PatchOp
from whdebug.engine.report import Finding, Severity, finding

Part = str | int
Location = tuple[Part, ...]
_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*")


def def_finding(code: str, message: str, fix: str, path: Location,
                severity: Severity | None = None,
                patch: tuple[PatchOp, ...] | None = None) -> Finding:
    """A definition finding with its JSON pointer (and its fix as a patch, when mechanical)."""
    return finding(code, message, fix, step="definition", severity=severity,
                   pointer=pointer(path), patch=patch)


def pointer(path: Location) -> str:
    """RFC 6901 JSON pointer: `/triggers/0/type`."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def where(path: Location) -> str:
    """A readable location: `triggers[0].type`, `sync.webhooks.handlers["order.created"]`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text or "the definition"
