"""`replay` of many requests: one row each past a screenful, the full report of each request
that does not fire, then the summary; `--full` prints every report; JSON is unchanged."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_support import json_lines, run
from factories import SECRET, make_capture, make_definition

from whdebug.formats.har import format_har

WRONG = "0" * 64


def write_replay(tmp_path: Path, count: int) -> tuple[str, str]:
    """A HAR of `count` signed contact.created requests, the 3rd with a wrong signature."""
    captures = [
        make_capture({"event": "contact.created", "id": f"evt-{i}"},
                     received_at=datetime(2025, 11, 24, 15, 59, i % 60, tzinfo=UTC),
                     **({"signature": WRONG} if i == 2 else {}))
        for i in range(count)
    ]
    har = tmp_path / "many.har"
    har.write_bytes(format_har(captures))
    definition = tmp_path / "acme.json"
    definition.write_text(json.dumps(make_definition().data))
    return str(har), str(definition)


def replay(har: str, definition: str, *extra: str):  # type: ignore[no-untyped-def]
    return run("replay", "--definition", definition, "--file", har,
               "--credential", f"webhookSecret={SECRET}", "--now", "2025-11-24T16:00:05Z",
               *extra)


def test_past_a_screenful_each_request_is_one_row_then_the_failing_report(
        tmp_path: Path) -> None:
    har, definition = write_replay(tmp_path, 45)
    result = replay(har, definition)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["time", "method", "path", "size", "event", "sig", "outcome",
                                "top", "finding"]
    rows = lines[1:46]
    assert rows[0].split() == ["15:59:00", "POST", "/miniapps/acme/webhooks", "43",
                               "contact.created", "✓", "fires"]
    assert rows[2].split() == ["15:59:02", "POST", "/miniapps/acme/webhooks", "43", "-",
                               "✗", "rejected", "SIG_MISMATCH"]
    assert sum(row.split()[-1] == "fires" for row in rows) == 44
    # the full pipeline of the request that does not fire, and only of that one
    assert result.stdout.count("not a challenge request") == 1
    assert "rejected with 401" in result.stdout
    assert result.stdout.index("errors (1)") > result.stdout.index(rows[-1])
    assert result.stdout.count("errors (1)") == 1
    assert "summary: 45 requests — 44 fires · 1 rejected" in result.stdout


def test_full_prints_every_report(tmp_path: Path) -> None:
    har, definition = write_replay(tmp_path, 45)
    result = replay(har, definition, "--full")
    assert result.exit_code == 1, result.output
    assert result.stdout.count("not a challenge request") == 45
    assert "time      method" not in result.stdout
    assert "summary: 45 requests — 44 fires · 1 rejected" in result.stdout


def test_a_screenful_or_fewer_prints_full_reports(tmp_path: Path) -> None:
    har, definition = write_replay(tmp_path, 40)
    result = replay(har, definition)
    assert result.exit_code == 1, result.output
    assert result.stdout.count("not a challenge request") == 40
    assert "time      method" not in result.stdout


def test_json_is_the_same_with_many_requests(tmp_path: Path) -> None:
    har, definition = write_replay(tmp_path, 45)
    reports = json_lines(replay(har, definition, "--json"))
    assert len(reports) == 46 and reports[-1]["requests"] == 45
    assert [r["outcome"]["status"] for r in reports[:3]] == ["fires", "fires", "rejected"]
    assert reports[-1]["outcomes"] == {"fires": 44, "rejected": 1}


class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_shows_on_a_terminal_after_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    from whdebug.cli.output import progress as module

    clock = [100.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    stream = FakeTerminal(tty=True)
    progress = module.Progress(20_000, stream)
    progress.update(256)
    assert stream.getvalue() == ""  # under a second: nothing
    clock[0] += 1.5
    progress.update(5_120)
    assert stream.getvalue().endswith("replaying 5,120 of 20,000")
    progress.close()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_no_progress_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from whdebug.cli.output import progress as module

    clock = [100.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    stream = FakeTerminal(tty=False)
    progress = module.Progress(20_000, stream)
    clock[0] += 5
    progress.update(5_120)
    progress.close()
    assert stream.getvalue() == ""


def test_rows_never_show_a_secret_the_request_carries(tmp_path: Path) -> None:
    """A secret in the path or the event: the row masks it as the JSON report does."""
    captures = [make_capture({"event": "contact.created", "id": f"evt-{i}"},
                             received_at=datetime(2025, 11, 24, 15, 59, i % 60, tzinfo=UTC))
                for i in range(44)]
    captures.append(make_capture({"event": SECRET, "id": "evt-leak"}, path=f"/x/{SECRET}",
                                 received_at=datetime(2025, 11, 24, 15, 59, 59, tzinfo=UTC)))
    har = tmp_path / "leak.har"
    har.write_bytes(format_har(captures))
    definition = tmp_path / "acme.json"
    definition.write_text(json.dumps(make_definition().data))
    for workers in ("1", "2"):
        result = run("replay", "--definition", str(definition), "--file", str(har),
                     "--credential", f"webhookSecret={SECRET}", "--now",
                     "2025-11-24T16:00:05Z", env={"WHDEBUG_WORKERS": workers})
        assert result.exit_code == 1, result.output
        rows = result.stdout.splitlines()[1:46]
        assert rows[-1].split()[:2] == ["15:59:59", "POST"], rows[-1]
        assert SECRET not in result.stdout
        assert "REQ_WRONG_PATH" in rows[-1]


@pytest.mark.parametrize("as_json", [False, True])
def test_progress_reaches_a_real_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          as_json: bool) -> None:
    """`replay` (rows, and --json) draws the progress line on stderr when it is a terminal
    (a pty here; the one-second delay set to zero) and clears it at the end."""
    import os
    import pty
    import select
    import sys

    from whdebug.cli import main
    from whdebug.cli.output import progress

    har, definition = write_replay(tmp_path, 300)
    monkeypatch.setattr(progress, "_PROGRESS_AFTER", 0.0)
    monkeypatch.setenv("WHDEBUG_WORKERS", "1")
    master, slave = pty.openpty()
    terminal = os.fdopen(slave, "w")
    stdout = io.StringIO()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(sys, "stdout", stdout)
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(["replay", "--definition", definition, "--file", har, "--credential",
                  f"webhookSecret={SECRET}", "--now", "2025-11-24T16:00:05Z",
                  *(["--json"] if as_json else [])])
        terminal.flush()
        shown = b""
        while select.select([master], [], [], 0.5)[0]:
            shown += os.read(master, 65536)
    finally:
        terminal.close()
        os.close(master)
    assert exit_info.value.code == 1
    assert re.search(rb"\r\x1b\[Kreplaying 25[56] of 300", shown), shown  # after a block
    assert shown.endswith(b"\r\x1b[K")  # cleared before the summary
    output = stdout.getvalue()
    if as_json:
        assert len(output.splitlines()) == 301 and "replaying" not in output
    else:
        assert "summary: 300 requests" in output and "replaying" not in output
