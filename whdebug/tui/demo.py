"""The demo: bundled definitions and requests in a temporary store, one profile per scenario.

Definitions are copied next to the store so a new user can edit one and watch verdicts flip.
Requests get fixed arrival times (their scenario's clock), so the demo looks the same each run.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from whdebug.errors import WhdebugError
from whdebug.formats.read import from_file, read_request_file
from whdebug.model.request import Capture
from whdebug.store.store import Store
from whdebug.tui.workspace import Profile, Workspace

_FALLBACK_NOW = datetime(2025, 11, 24, 16, 0, 5, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DemoSetup:
    directory: Path
    store_path: Path
    workspace: Workspace
    scenarios: int
    captures: int


def demo_root() -> Traversable:
    return resources.files("whdebug") / "demo"


def _scenarios(root: Traversable, names: Collection[str] | None,
               demo_only: bool) -> list[dict[str, Any]]:
    try:
        data = json.loads((root / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise WhdebugError(f"the bundled demo data cannot be read: {error}") from None
    scenarios = data.get("scenarios") if isinstance(data, dict) else data
    if not isinstance(scenarios, list):
        raise WhdebugError("the bundled demo manifest is not a list of scenarios")
    chosen = [item for item in scenarios if isinstance(item, dict)
              and isinstance(item.get("definition"), str)
              and (item.get("demo", True) or not demo_only)
              and (names is None or item.get("name") in names)]
    if names is not None:
        chosen.sort(key=lambda item: list(names).index(item["name"]))
    return chosen


def _parse_now(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _read_requests(root: Traversable, files: list[Any]) -> list[Capture]:
    captures: list[Capture] = []
    for name in files:
        if not isinstance(name, str):
            continue
        with resources.as_file(root / name) as path:
            captures += [from_file(capture, name) for capture in read_request_file(path)]
    return captures


def _copy_definition(root: Traversable, name: str, directory: Path) -> Path:
    target = directory / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.write_bytes((root / name).read_bytes())
    return target


def build_demo(directory: Path) -> DemoSetup:
    """Fill `directory` with the demo's definitions and store; the workspace to analyse it with."""
    return build_scenarios(demo_root(), directory, demo_only=True)


def build_scenarios(root: Traversable, directory: Path, *, names: Collection[str] | None = None,
                    demo_only: bool = False) -> DemoSetup:
    """Store the scenarios of a manifest (`whdebug/demo` or `fixtures/`) with their profiles.

    Scenarios are stored last-first so the list, newest on top, reads in manifest order (or
    in the order of `names`).
    """
    scenarios = _scenarios(root, names, demo_only)
    if not scenarios:
        raise WhdebugError("the bundled demo has no scenarios")
    planned: list[tuple[dict[str, Any], Path, list[Capture]]] = []
    for scenario in scenarios:
        path = _copy_definition(root, scenario["definition"], directory)
        planned.append((scenario, path, _read_requests(root, scenario.get("files", []))))
    first_now = _parse_now(scenarios[0].get("now")) or _FALLBACK_NOW
    store_path = directory / "captures.db"
    store = Store.open(store_path)
    profiles: list[tuple[int, Profile]] = []
    by_definition: dict[Path, Profile] = {}
    try:
        moment = first_now - timedelta(seconds=10 * sum(len(p[2]) for p in planned))
        for scenario, path, requests in reversed(planned):
            profile = Profile(
                str(path), dict(scenario.get("credentials") or {}),
                dict(scenario.get("config") or {}), _parse_now(scenario.get("now")),
                group=str(scenario.get("name", path.stem)), name=scenario.get("name"),
                use_credentials_file=False)
            stamped = []
            for capture in requests:
                moment += timedelta(seconds=7)
                stamped.append(dataclasses.replace(capture, source=dataclasses.replace(
                    capture.source, received_at=moment, client="127.0.0.1")))
            for capture_id in store.insert_many(stamped):
                profiles.append((capture_id, profile))
            by_definition[path] = profile
    finally:
        store.close()
    default = by_definition[planned[0][1]]
    workspace = Workspace(dataclasses.replace(default, group="live", name=None, now=None))
    for _, path, _ in planned:
        if str(path) not in workspace.slots:
            workspace.load(str(path))
    workspace.overrides = dict(profiles)
    for path, profile in by_definition.items():
        definition = workspace.slots[str(path)].definition
        if definition is not None and definition.ns:
            workspace.by_ns[definition.ns] = dataclasses.replace(
                profile, group=f"live:{definition.ns}", name=None, now=None)
    return DemoSetup(directory, store_path, workspace, len(scenarios), len(profiles))


def remove_demo(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
