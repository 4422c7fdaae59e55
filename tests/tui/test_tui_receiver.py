"""End to end: the embedded receiver inside the running app takes a POST; the row appears."""

from __future__ import annotations

from pathlib import Path

import httpx
from tui_support import FIXTURES, fixture_request, wait_for

from whdebug.model.request import forwardable_headers
from whdebug.tui.app import WhdebugApp
from whdebug.tui.options import TuiOptions


async def test_posted_webhook_appears_with_its_verdict(tmp_path: Path) -> None:
    options = TuiOptions(store_path=tmp_path / "captures.db",
                         definition_path=FIXTURES / "definitions" / "github.json",
                         credentials={"webhookSecret": "fixture-github-webhook-secret"},
                         listen=True, port=0, discover_definition=False)
    app = WhdebugApp(options, watch=False, poll_interval=30)  # the receiver's callback, not polling
    request = fixture_request("github-pr-opened.http")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.receiver.listening, timeout=10)
        url = f"{app.receiver.base_url}{request.target}"
        assert "/miniapps/github/webhooks" in str(app.query_one("#header").content)  # type: ignore[attr-defined]
        async with httpx.AsyncClient() as client:
            answer = await client.post(url, content=request.body,
                                       headers=forwardable_headers(request))
        assert answer.status_code == 200
        await wait_for(pilot, lambda: app.rows.total == 1 and app.current is not None
                       and app.current.report is not None, timeout=10)
        assert app.current is not None and app.current.report is not None
        assert app.current.report.outcome.status == "fires"
        assert app.current.capture is not None
        assert app.current.capture.request.body == request.body
        assert "● listening" in str(app.query_one("#header").content)  # type: ignore[attr-defined]
