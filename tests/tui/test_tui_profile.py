"""`whdebug tui --profile karzoun-tenant`: Karzoun tenant deliveries verified without a file."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from textual.widgets import TabbedContent
from tui_support import all_analysed, select, shown, store_with, wait_for

from whdebug.cli import main
from whdebug.cli.commands.tui import tui_options
from whdebug.errors import WhdebugError
from whdebug.model.request import CapturedRequest
from whdebug.store.store import Store
from whdebug.tools.profiles import KARZOUN_TENANT_PATH
from whdebug.tui.analysis import Analyzer, SharedStore
from whdebug.tui.app import WhdebugApp
from whdebug.tui.options import TuiOptions
from whdebug.tui.workspace import build_workspace

SIZE = (100, 30)
SECRET = "kz-tui-secret-41c"
NEW_SECRET = "kz-tui-rotated-secret-9d0"
TOKEN = "kz-tui-token-77e"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery(number: int, *, current: str = SECRET, previous: str | None = None,
             token: str = TOKEN) -> CapturedRequest:
    body = json.dumps({"version": 2, "id": f"evt_{number:04d}",
                       "event": "conversation.closed",
                       "data": {"conversation": {"id": number}}}).encode()
    headers = [("Content-Type", "application/json"),
               ("X-Karzoun-Signature-256", signature(current, body))]
    if previous is not None:
        headers.append(("X-Karzoun-Signature-256-Previous", signature(previous, body)))
    headers.append(("Karzoun-token", token))
    return CapturedRequest("POST", "/hooks/karzoun", headers=tuple(headers), body=body)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Newest first in the list: wrong token (0), previous secret (1), current secret (2)."""
    return store_with(tmp_path / "captures.db", [
        delivery(1),
        delivery(2, current=NEW_SECRET, previous=SECRET),
        delivery(3, token="not-the-token"),
    ])


def profile_app(store: Path, **changes: Any) -> WhdebugApp:
    options = TuiOptions(store_path=store, listen=False, profile="karzoun-tenant",
                         credentials={"secret": SECRET, "token": TOKEN}, **changes)
    return WhdebugApp(options, watch=False)


class TestProfileAnalysis:
    async def test_pipeline_shows_each_deliverys_verdict(self, store: Path) -> None:
        app = profile_app(store)
        async with app.run_test(size=SIZE) as pilot:
            assert app.rows.total == 3
            await select(pilot, app, 2)
            outcome = shown(app, "#pipeline-outcome")
            assert outcome.splitlines()[0].startswith("✓ fires"), outcome
            assert "No findings." in shown(app, "#pipeline-findings")
            assert app.current is not None and app.current.report is not None
            assert app.current.report.profile is not None
            assert app.current.report.profile["secret_matched"] == "current"

            await select(pilot, app, 1)
            assert "fires" in shown(app, "#pipeline-outcome").splitlines()[0]
            findings = shown(app, "#pipeline-findings")
            assert "SIG_PREVIOUS_SECRET" in findings
            assert "rotating the webhook secret" in findings

            await select(pilot, app, 0)
            outcome = shown(app, "#pipeline-outcome")
            assert outcome.splitlines()[0].startswith("✗ rejected"), outcome
            assert "SIG_TOKEN_MISMATCH" in shown(app, "#pipeline-findings")

    async def test_list_counts_and_signature_tab(self, store: Path) -> None:
        app = profile_app(store)
        async with app.run_test(size=SIZE) as pilot:
            await all_analysed(pilot, app)
            assert app.analyzer is not None
            statuses = [app.analyzer.verdict(app.rows.id_at(p) or 0) for p in range(3)]
            assert [v.status if v else None for v in statuses] == [
                "rejected", "fires", "fires"]
            await select(pilot, app, 1)
            app.query_one(TabbedContent).active = "signature"
            await wait_for(pilot, lambda: shown(app, "#signature-verdict").startswith("✓ pass"))

    async def test_header_names_the_profile_and_the_receiver_path(self, store: Path) -> None:
        app = profile_app(store)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 0)
            state = app.header_bar.state
            assert state is not None
            assert state.definition == "karzoun-tenant"
            assert state.receiver_url is not None
            assert state.receiver_url.endswith(KARZOUN_TENANT_PATH)
            assert "/miniapps/" not in state.receiver_url
            assert "No definition loaded" not in shown(app, "#banner")
            assert app.workspace.watched_paths() == []

    async def test_definition_file_is_ignored(self, store: Path, tmp_path: Path) -> None:
        """--profile wins: no definition is loaded, discovered or watched."""
        app = profile_app(store, definition_path=tmp_path / "missing.json")
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 2)
            assert app.workspace.slots == {}
            assert "fires" in shown(app, "#pipeline-outcome").splitlines()[0]

    async def test_a_rejected_delivery_does_not_dedupe_its_redelivery(
            self, tmp_path: Path) -> None:
        """The dedupe pre-pass checks the token too: only accepted deliveries record their id."""
        path = store_with(tmp_path / "redelivery.db", [
            delivery(7, token="not-the-token"),
            delivery(7),
            delivery(7),
        ])
        app = profile_app(path)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 1)
            assert "fires" in shown(app, "#pipeline-outcome").splitlines()[0]
            await select(pilot, app, 0)
            assert "duplicate" in shown(app, "#pipeline-outcome").splitlines()[0]
            assert "TX_DUPLICATE" in shown(app, "#pipeline-findings")

    def test_the_dedupe_history_uses_the_profile(self, tmp_path: Path) -> None:
        """The history checks each earlier delivery with the profile (token included)."""
        path = store_with(tmp_path / "prepass.db", [
            delivery(7, token="not-the-token"),
            delivery(7),
            delivery(7),
        ])
        options = TuiOptions(store_path=path, listen=False, profile="karzoun-tenant",
                             credentials={"secret": SECRET, "token": TOKEN})
        analyzer = Analyzer(SharedStore(Store.open(path)), build_workspace(options))
        try:
            analyzer.fill_history()
            assert analyzer.analyse(2).verdict.status == "fires"
            assert analyzer.analyse(3).verdict.status == "duplicate"
        finally:
            analyzer.store.close()

    async def test_without_the_token_it_is_not_checked(self, store: Path) -> None:
        options = TuiOptions(store_path=store, listen=False, profile="karzoun-tenant",
                             credentials={"secret": SECRET})
        app = WhdebugApp(options, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, 0)
            assert "fires" in shown(app, "#pipeline-outcome").splitlines()[0]
            assert "SIG_TOKEN_MISMATCH" not in shown(app, "#pipeline-findings")


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


class TestCommandLine:
    def test_unknown_profile_is_one_line(self) -> None:
        result = run_cli("tui", "--profile", "nope")
        assert result.exit_code == 2
        lines = result.stderr.splitlines()
        assert lines == ["whdebug: unknown profile 'nope' (known: karzoun-tenant)"]

    def test_profile_and_definition_exclude_each_other(self, tmp_path: Path) -> None:
        result = run_cli("tui", "--profile", "karzoun-tenant", "--definition",
                         str(tmp_path / "app.json"))
        assert result.exit_code == 2
        lines = result.stderr.splitlines()
        assert len(lines) == 1
        assert lines[0].startswith(
            "whdebug: give --definition FILE or --profile NAME, not both")

    def test_a_known_profile_reaches_the_terminal_check(self) -> None:
        result = run_cli("tui", "--profile", "karzoun-tenant", "--credential", "secret=s3")
        assert result.exit_code == 2
        assert result.stderr.splitlines() == [
            "whdebug: the TUI needs a terminal; use whdebug replay/serve/list"]

    def test_options_carry_the_profile(self) -> None:
        options = tui_options({"profile_name": "karzoun-tenant",
                               "credential_pairs": ("secret=s3", "token=t0")})
        assert options.profile == "karzoun-tenant"
        assert dict(options.credentials) == {"secret": "s3", "token": "t0"}
        with pytest.raises(WhdebugError, match="unknown profile 'nope'"):
            tui_options({"profile_name": "nope"})
