"""replay's coverage line tells 'no triggers' from 'triggers that cannot fire'."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import run
from paths import REPO

DEMO = REPO / "whdebug" / "demo"


def test_coverage_names_unusable_triggers(tmp_path: Path) -> None:
    definition = json.loads((DEMO / "definitions" / "github.json").read_text())
    count = len(definition["triggers"])
    for trigger in definition["triggers"]:
        trigger["event"] = [trigger["event"]]
    path = tmp_path / "app.json"
    path.write_text(json.dumps(definition))
    result = run("replay", "--definition", str(path), "--file",
                 str(DEMO / "requests" / "acme-event-case.http"))
    assert result.exit_code == 1
    coverage = [line for line in result.output.splitlines() if line.startswith("coverage:")]
    assert coverage == [f"coverage: none of the {count} triggers can fire: no trigger has a "
                        "string event (see DEF_SCHEMA at /triggers)"]
