"""What the CLI hands the TUI: store, definition, secrets, receiver and analysis settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from whdebug.store.base import StoreLocation

DEFAULT_PORT = 8787
DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class TuiOptions:
    store_path: StoreLocation | None = None
    """None means `default_store_path()` (WHDEBUG_STORE or .whdebug/captures.db)."""
    definition_path: Path | None = None
    """None: look for exactly one MiniApp definition in the current directory."""
    profile: str | None = None
    """A built-in profile name (`whdebug.tools.profiles`) used instead of any definition file."""
    credentials_path: Path | None = None
    """A JSON object file with the tenant's credentials; watched for edits."""
    credentials: Mapping[str, Any] = field(default_factory=dict)
    """--credential KEY=VALUE pairs; they win over the credentials file."""
    config: Mapping[str, Any] = field(default_factory=dict)
    """--config KEY=VALUE overrides of the definition's auth.config."""
    listen: bool = True
    port: int = DEFAULT_PORT
    host: str = DEFAULT_HOST
    missing_part: str = "empty"
    nullish: bool = False
    now: datetime | None = None
    """Judge timestamps against this time; None: each capture's own arrival time."""
    discover_definition: bool = True
    """With no definition_path, load the single `*.json` MiniApp in the current directory."""
    title: str = "whdebug"
    show_secrets: bool = False
    """Show credential-looking query parameters and headers as received (`--show-secrets`)."""
