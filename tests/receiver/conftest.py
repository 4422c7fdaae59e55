"""The receiver runs on httptools by default and on h11 with WHDEBUG_HTTP_PARSER=h11: the
protocol-level tests ask for `parser` to run on both. `serve` runs on uvloop: the hardening
tests also run their embedded receivers in a uvloop loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from whdebug.receiver.server import PARSER_VARIABLE


@pytest.fixture(params=["httptools", "h11"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The HTTP parser under test (servers started in the test, and their child processes)."""
    monkeypatch.setenv(PARSER_VARIABLE, request.param)
    return str(request.param)


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item
                                  ) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """test_hardening.py's async tests run on asyncio's loop and on uvloop's; the others
    on asyncio's (the hook must always name at least one)."""
    factories: dict[str, Any] = {"asyncio": asyncio.new_event_loop}
    if item.path.name != "test_hardening.py":
        return factories
    try:
        import uvloop
    except ImportError:
        return factories
    factories["uvloop"] = uvloop.new_event_loop
    return factories
