"""tools/resend.py: what the latency printed after a re-send measures."""

from __future__ import annotations

import types

import httpx
import pytest
from app_support import recording_app

from whdebug.model.request import CapturedRequest
from whdebug.tools import resend as resend_module
from whdebug.tools.resend import resend, resend_all

REQUEST = CapturedRequest("POST", "/hooks", "", (("Content-Type", "application/json"),),
                          b'{"id":1}')
SLOW_SETUP = 100.0
"""Seconds the fake clock moves while an httpx client is built (its TLS context)."""


@pytest.fixture
def slow_client_setup(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A clock for resend that moves only while an httpx.Client is built; the clients built."""
    now = [0.0]
    built: list[int] = []
    monkeypatch.setattr(resend_module, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
    original = httpx.Client.__init__

    def slow_init(self: httpx.Client, *args: object, **kwargs: object) -> None:
        now[0] += SLOW_SETUP
        built.append(1)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(httpx.Client, "__init__", slow_init)
    return built


def test_the_latency_is_the_request_not_building_the_client(
        slow_client_setup: list[int]) -> None:
    # Building an httpx client loads the CA certificates (20 to 120 ms): `send` printed
    # "200 in 111 ms" for an answer curl timed at 2 ms on loopback.
    with recording_app(status=200, body=b"ok") as app:
        answer = resend(REQUEST, app.url)
    assert answer.status == 200 and answer.body == b"ok"
    assert answer.elapsed < SLOW_SETUP


def test_repeats_share_one_client_and_each_is_timed_alone(
        slow_client_setup: list[int]) -> None:
    with recording_app(status=200, body=b"ok") as app:
        answers = resend_all(REQUEST, app.url, 3)
        assert len(app.received) == 3
    assert [answer.status for answer in answers] == [200, 200, 200]
    assert all(answer.elapsed < SLOW_SETUP for answer in answers)
    assert len(slow_client_setup) == 1
