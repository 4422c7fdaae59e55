"""The receiver runs on httptools by default and on h11 with WHDEBUG_HTTP_PARSER=h11: the
protocol-level tests ask for `parser` to run on both."""

from __future__ import annotations

import pytest

from whdebug.receiver.server import PARSER_VARIABLE


@pytest.fixture(params=["httptools", "h11"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The HTTP parser under test (servers started in the test, and their child processes)."""
    monkeypatch.setenv(PARSER_VARIABLE, request.param)
    return str(request.param)
