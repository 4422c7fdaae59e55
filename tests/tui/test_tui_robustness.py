"""Bad input never crashes the TUI: each problem is a message on screen."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from textual.message import Message
from textual.widgets import Input
from tui_support import FIXTURES, fixture_request, select, shown, store_with, wait_for

from whdebug.model.request import CapturedRequest
from whdebug.tui.app import WhdebugApp
from whdebug.tui.messages import DefinitionReloaded
from whdebug.tui.options import TuiOptions

SIZE = (100, 30)
GITHUB = FIXTURES / "definitions" / "github.json"
CREDENTIALS = {"webhookSecret": "fixture-github-webhook-secret"}


def app_for(store: Path, definition: Path | None = GITHUB, **options: object) -> WhdebugApp:
    tui_options = TuiOptions(store_path=store, definition_path=definition,
                             credentials=CREDENTIALS, listen=False, discover_definition=False,
                             **options)  # type: ignore[arg-type]
    return WhdebugApp(tui_options, watch=False)


class TestBadStore:
    async def test_corrupt_store_is_a_banner_not_a_crash(self, tmp_path: Path) -> None:
        store = tmp_path / "captures.db"
        store.write_bytes(b"this is not sqlite at all\x00" * 200)
        app = app_for(store)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert app.store_error is not None
            assert shown(app, "#banner").startswith("Capture store:")
            assert app.query_one("#banner").has_class("-shown")
            for key in ("e", "s", "x", "c", "r", "slash", "escape", "down", "f"):
                await pilot.press(key)
            assert app.is_running
            assert "0 captures" in shown(app, "#header")


class TestBadDefinition:
    async def test_syntax_error_shows_a_banner_with_the_location(self, tmp_path: Path) -> None:
        broken = tmp_path / "broken.json"
        broken.write_text('{"ns": "github",\n  "webhook": {,}\n}\n')
        store = store_with(tmp_path / "captures.db", [fixture_request("github-pr-opened.http")])
        app = app_for(store, broken)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 0)
            banner = shown(app, "#banner")
            assert "Definition error" in banner and f"{broken}:2:" in banner
            assert "no definition loaded" in shown(app, "#pipeline-outcome")

    async def test_no_definition_invites_loading_one(self, tmp_path: Path) -> None:
        store = store_with(tmp_path / "captures.db", [fixture_request("github-pr-opened.http")])
        app = app_for(store, None)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 0)
            assert "press d" in shown(app, "#banner")
            await pilot.press("d")
            app.screen.query_one(Input).value = str(tmp_path)  # a directory, not a file
            await pilot.press("enter")
            await wait_for(pilot, lambda: "directory" in shown(app, "#banner"))
            await pilot.press("d")
            app.screen.query_one(Input).value = str(GITHUB)
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.current is not None
                           and app.current.report is not None)
            assert shown(app, "#pipeline-outcome").startswith("✓ fires")


class TestBodies:
    async def test_binary_and_25_mib_bodies_render_capped(self, tmp_path: Path) -> None:
        binary = fixture_request("github-pr-opened.http", body=bytes(range(256)) * 64)
        large_body = b'{"action":"opened","pad":"' + b"x" * (25 * 1024 * 1024) + b'"}'
        large = CapturedRequest("POST", "/miniapps/github/webhooks", body=large_body,
                                headers=(("Content-Type", "application/json"),
                                         ("X-GitHub-Event", "pull_request")))
        store = store_with(tmp_path / "captures.db", [binary, large])
        app = app_for(store)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("4")
            await select(pilot, app, 0)
            await wait_for(pilot, lambda: "bytes shown" in shown(app, "#request-body-title"))
            title = shown(app, "#request-body-title")
            assert "too large to pretty-print" in title and "first 64 KiB" in title
            assert len(shown(app, "#request-body")) <= 64 * 1024

            await select(pilot, app, 1)
            await wait_for(pilot, lambda: "binary body" in shown(app, "#request-body-title"))
            assert shown(app, "#request-body").startswith("00000000  00 01 02")
            await pilot.press("1")
            assert "rejected" in shown(app, "#pipeline-outcome")


class TestWatching:
    async def test_edits_on_disk_re_analyse_and_errors_keep_the_last_good(
            self, tmp_path: Path) -> None:
        definition = tmp_path / "github.json"
        shutil.copy(GITHUB, definition)
        credentials = tmp_path / "credentials.json"
        credentials.write_text(json.dumps({"webhookSecret": "not-the-secret"}))
        store = store_with(tmp_path / "captures.db", [fixture_request("github-push.http")])
        options = TuiOptions(store_path=store, definition_path=definition,
                             credentials_path=credentials, listen=False)
        app = WhdebugApp(options, watch=True)

        def outcome() -> str:
            return shown(app, "#pipeline-outcome").split("\n")[0]

        posted: list[Message] = []
        async with app.run_test(size=SIZE, message_hook=posted.append) as pilot:
            await select(pilot, app, 0)
            assert outcome().startswith("✗ rejected")

            credentials.write_text(json.dumps({"webhookSecret": "fixture-github-webhook-secret"}))
            await wait_for(pilot, lambda: outcome().startswith("? no-trigger"), timeout=10)

            data = json.loads(definition.read_text())
            data["triggers"].append({"type": "miniapps:github", "event": "push.",
                                     "label": "Push"})
            definition.write_text(json.dumps(data, indent=2))
            await wait_for(pilot, lambda: outcome().startswith("✓ fires"), timeout=10)

            definition.write_text(definition.read_text()[:-40])
            await wait_for(pilot, lambda: "Definition error" in shown(app, "#banner"),
                           timeout=10)
            assert outcome().startswith("✓ fires")
            assert app.query_one("#banner").has_class("-shown")
        reloads = [m for m in posted if isinstance(m, DefinitionReloaded)]
        assert len(reloads) >= 3 and not reloads[0].errors and reloads[-1].errors


async def test_the_header_counts_one_capture_in_the_singular(tmp_path: Path) -> None:
    store = store_with(tmp_path / "captures.db", [fixture_request("github-pr-opened.http")])
    app = app_for(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await wait_for(pilot, lambda: "1 capture" in shown(app, "#header"))
        assert "1 capture " in shown(app, "#header") + " "
        assert "1 captures" not in shown(app, "#header")
