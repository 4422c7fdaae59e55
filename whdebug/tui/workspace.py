"""The definitions, secrets and per-capture profiles the TUI analyses with (no Textual here).

A profile says how one capture is analysed: which definition file, which secrets, which clock,
and which dedupe group it belongs to. The normal TUI has one default profile; the demo gives
every bundled capture its scenario's profile. `generation` increases on every change, so
cached reports of an older generation are known to be stale.

With a built-in profile (`whdebug tui --profile karzoun-tenant`) every capture resolves to
the profile's definition, built in code: no definition file is loaded, discovered or watched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from whdebug.errors import WhdebugError
from whdebug.model.definition import Definition, load_definition
from whdebug.model.request import Capture, Secrets

if TYPE_CHECKING:
    from whdebug.engine.plan import Plan
    from whdebug.tools.profiles import Profile as BuiltinProfile
    from whdebug.tui.options import TuiOptions


@dataclass(frozen=True, slots=True)
class Profile:
    definition_path: str | None
    credentials: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    now: datetime | None = None
    """Judge timestamps against this time; None: the capture's arrival time."""
    group: str = ""
    """Captures of one group dedupe against each other (one tenant install)."""
    name: str | None = None
    """A demo scenario name, shown in the request view."""
    use_credentials_file: bool = True
    """Merge the watched credentials file under `credentials`."""


@dataclass(frozen=True, slots=True)
class DefinitionSlot:
    path: str
    definition: Definition | None
    """The last definition that parsed; kept while the file has an error."""
    error: str | None = None
    builtin: bool = False
    """A built-in profile's definition (no file: `path` is `<profile NAME>`)."""
    _plan: Plan | None = field(init=False, default=None, repr=False, compare=False)

    @property
    def plan(self) -> Plan | None:
        """`definition` compiled once for every capture analysed with it; on first use, so
        the TUI draws its first frame before the engine is imported."""
        if self._plan is None and self.definition is not None:
            from whdebug.engine.plan import compile_definition

            object.__setattr__(self, "_plan", compile_definition(self.definition))
        return self._plan


@dataclass(frozen=True, slots=True)
class Resolved:
    """Everything `analyze` needs for one capture."""

    definition: Definition
    definition_path: str
    secrets: Secrets
    now: datetime | None
    group: str
    profile: Profile
    builtin: BuiltinProfile | None = None
    """The built-in profile to analyse with (`analyze_profile`), or None (`analyze`)."""
    slot: DefinitionSlot | None = None
    """The definition's slot, which compiles it once (None: compiled on each analysis)."""

    @property
    def plan(self) -> Plan | None:
        """`definition` compiled, or None."""
        return self.slot.plan if self.slot is not None else None

    def clock(self, capture: Capture) -> datetime:
        """When to judge the capture's timestamps: the profile's `now`, else its arrival."""
        return self.now or capture.source.received_at or datetime.now(UTC)


_WEBHOOK_PATH = re.compile(r"^/miniapps/([^/]+)/webhooks/?$")


class Workspace:
    """Mutated on the UI thread only; analysis threads read it and compare `generation`."""

    def __init__(
        self,
        default: Profile,
        *,
        credentials_path: Path | None = None,
        missing_part: str = "empty",
        nullish: bool = False,
        builtin: BuiltinProfile | None = None,
    ) -> None:
        self.default = default
        self.builtin = builtin
        """A built-in profile every capture is analysed with (no definition files then)."""
        self.builtin_slot = (
            DefinitionSlot(builtin.definition.path or f"<profile {builtin.name}>",
                           builtin.definition, builtin=True)
            if builtin is not None else None)
        self.credentials_path = credentials_path
        self.missing_part = missing_part
        self.nullish = nullish
        self.generation = 0
        self.slots: dict[str, DefinitionSlot] = {}
        self.overrides: dict[int, Profile] = {}
        """Profiles of single captures (the demo's scenarios)."""
        self.by_ns: dict[str, Profile] = {}
        """Profiles for new captures on `/miniapps/{ns}/webhooks` (demo: one per definition)."""
        self.credentials_file: dict[str, Any] = {}
        self.credentials_error: str | None = None
        if default.definition_path is not None and builtin is None:
            self.load(default.definition_path)
        if credentials_path is not None:
            self.reload_credentials()

    # -- loading ---------------------------------------------------------------------------

    def load(self, path: str) -> DefinitionSlot:
        """(Re)read a definition; on error keep the last good one and record the message."""
        previous = self.slots.get(path)
        try:
            definition = load_definition(path)
        except WhdebugError as error:
            slot = DefinitionSlot(path, previous.definition if previous else None, str(error))
        except Exception as error:  # a definition must never take the TUI down
            message = f"{path}: cannot load: {type(error).__name__}: {error}"
            slot = DefinitionSlot(path, previous.definition if previous else None, message)
        else:
            slot = DefinitionSlot(path, definition, None)
        self.slots[path] = slot
        self.generation += 1
        return slot

    def reload_credentials(self) -> str | None:
        """Re-read the credentials file; the error message, or None when it loaded."""
        if self.credentials_path is None:
            return None
        self.generation += 1
        try:
            data = json.loads(self.credentials_path.read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            self.credentials_error = f"{self.credentials_path}: credentials file not found"
        except (OSError, UnicodeDecodeError) as error:
            self.credentials_error = f"{self.credentials_path}: cannot read: {error}"
        except ValueError as error:
            self.credentials_error = f"{self.credentials_path}: not JSON: {error}"
        else:
            if isinstance(data, dict):
                self.credentials_file = data
                self.credentials_error = None
            else:
                self.credentials_error = f"{self.credentials_path}: not a JSON object"
        return self.credentials_error

    def use_definition(self, path: str) -> DefinitionSlot:
        """Analyse every capture with this definition from now on (the `d` key)."""
        slot = self.load(path)
        self.default = replace(self.default, definition_path=path)
        self.overrides = {
            capture_id: replace(profile, definition_path=path)
            for capture_id, profile in self.overrides.items()
        }
        self.by_ns = {}
        return slot

    def bump(self) -> None:
        """Mark every cached analysis stale (the options changed)."""
        self.generation += 1

    # -- questions -------------------------------------------------------------------------

    def watched_paths(self) -> list[Path]:
        paths = [Path(path) for path in self.slots]
        if self.credentials_path is not None:
            paths.append(self.credentials_path)
        return paths

    def definition_errors(self) -> list[str]:
        return [slot.error for slot in self.slots.values() if slot.error]

    def errors(self) -> list[str]:
        """Every current load error (definitions, credentials), one line each."""
        messages = self.definition_errors()
        if self.credentials_error:
            messages.append(self.credentials_error)
        return messages

    def profile_for(self, capture_id: int, path: str) -> Profile:
        profile = self.overrides.get(capture_id)
        if profile is not None:
            return profile
        match = _WEBHOOK_PATH.match(path)
        if match is not None and match.group(1) in self.by_ns:
            return self.by_ns[match.group(1)]
        return self.default

    @property
    def single_group(self) -> bool:
        """True when every capture has the default profile (no per-capture profiles)."""
        return not self.overrides and not self.by_ns

    def group_of(self, capture_id: int, path: str) -> str:
        return self.profile_for(capture_id, path).group

    def definition_of(self, profile: Profile) -> tuple[DefinitionSlot | None, Definition | None]:
        if self.builtin_slot is not None:
            return self.builtin_slot, self.builtin_slot.definition
        if profile.definition_path is None:
            return None, None
        slot = self.slots.get(profile.definition_path)
        return slot, (slot.definition if slot else None)

    def resolve(self, capture_id: int, path: str) -> Resolved | None:
        """How to analyse this capture; None when no definition is loaded for it."""
        profile = self.profile_for(capture_id, path)
        slot, definition = self.definition_of(profile)
        if slot is None or definition is None:
            return None
        return Resolved(definition, slot.path, self.secrets_of(profile),
                        profile.now, profile.group, profile, self.builtin, slot)

    def secrets_of(self, profile: Profile) -> Secrets:
        """The profile's credentials over the watched credentials file, and its config."""
        credentials: dict[str, Any] = {}
        if profile.use_credentials_file:
            credentials.update(self.credentials_file)
        credentials.update(profile.credentials)
        return Secrets(credentials=credentials, config=dict(profile.config))

    def default_secrets(self) -> Secrets:
        return self.secrets_of(self.default)

    @property
    def default_definition(self) -> Definition | None:
        return self.definition_of(self.default)[1]


def build_workspace(options: TuiOptions, directory: Path | None = None) -> Workspace:
    """The workspace for `whdebug` / `whdebug tui`: one profile from the command line.

    With `options.profile` every capture is analysed with that built-in profile: no
    definition file is loaded or discovered (an unknown name raises WhdebugError).
    """
    builtin = None
    definition_path = options.definition_path
    if options.profile is not None:
        from whdebug.tools.profiles import get_profile

        builtin = get_profile(options.profile)
        definition_path = None
    elif definition_path is None and options.discover_definition:
        definition_path = find_definition(directory or Path.cwd())
    profile = Profile(str(definition_path) if definition_path else None,
                      dict(options.credentials), dict(options.config), options.now)
    return Workspace(profile, credentials_path=options.credentials_path,
                     missing_part=options.missing_part, nullish=options.nullish,
                     builtin=builtin)


def find_definition(directory: Path) -> Path | None:
    """The only MiniApp definition (an object with `ns` and `webhook`) in a directory, if
    there is exactly one: `*.json`, or `*.js` / `*.json5` written as Karzoun's docs write
    definitions (a JavaScript object, comments, unquoted keys)."""
    from whdebug.errors import DefinitionError
    from whdebug.model.definition import parse_definition

    found: list[Path] = []
    try:
        candidates = sorted(path for pattern in ("*.json", "*.json5", "*.js")
                            for path in directory.glob(pattern))
    except OSError:
        return None
    for candidate in candidates[:200]:
        try:
            if not candidate.is_file() or candidate.stat().st_size > 4 * 1024 * 1024:
                continue
            data = parse_definition(candidate.read_text(encoding="utf-8-sig"),
                                    str(candidate)).data
        except (OSError, ValueError, DefinitionError):
            continue
        if "ns" in data and "webhook" in data:
            found.append(candidate)
    return found[0] if len(found) == 1 else None
