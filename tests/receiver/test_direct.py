"""The answers and rows of capture requests, byte for byte, on a real socket.

On httptools, ReceiverProtocol serves a plain capture itself (whdebug.receiver.direct)
instead of running the ASGI cycle; everything else goes through the app. These tests pin
what a client receives and what is stored, and run each case both ways (`direct` on and
off): the answers, rows and events must be the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from factories import NOW, SECRET, make_definition, sign

from whdebug.model.request import Capture, Reply, Secrets
from whdebug.receiver.app import CaptureEvent, ReceiverSettings
from whdebug.receiver.protocol import ReceiverProtocol
from whdebug.receiver.server import RunningServer, ServerSettings, running_receiver
from whdebug.store.store import Store

TIMEOUT = 5.0
WEBHOOK = "/miniapps/acme/webhooks"
_DATE = re.compile(rb"\r\ndate: [^\r]*\r\n")


def settings(**fields: Any) -> ReceiverSettings:
    return replace(ReceiverSettings(now=lambda: NOW), **fields)


def deferring(events: list[CaptureEvent], **fields: Any) -> ReceiverSettings:
    """`serve --definition` with its analyst: answers from the definition, lines deferred."""
    return settings(definition=make_definition(), secrets=Secrets({"webhookSecret": SECRET}),
                    defer_analysis=events.append, **fields)


@pytest.fixture(params=["direct", "app"])
def path_taken(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The capture served by the protocol itself, or (`app`) through the ASGI app."""
    if request.param == "app":
        monkeypatch.setattr(ReceiverProtocol, "direct", False, raising=False)
    return str(request.param)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "captures.db"


@contextlib.asynccontextmanager
async def receiving(store_path: Path, receiver: ReceiverSettings,
                    ) -> AsyncIterator[RunningServer]:
    server = ServerSettings(host="127.0.0.1", port=0, timeout_graceful_shutdown=1)
    async with running_receiver(store_path, receiver, server) as running:
        yield running


def masked(answer: bytes) -> bytes:
    return _DATE.sub(b"\r\ndate: D\r\n", answer, count=1)


async def read_answer(reader: asyncio.StreamReader, head_only: bool = False) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    match = re.search(rb"\r\ncontent-length: (\d+)\r\n", head)
    length = 0 if head_only or match is None else int(match.group(1))
    return head + await asyncio.wait_for(reader.readexactly(length), TIMEOUT)


async def answers(port: int, data: bytes, count: int = 1, head_only: bool = False,
                  ) -> tuple[list[bytes], bool]:
    """Send `data` on one connection; `count` answers (date masked), and whether the
    server closed the connection after them."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        got = [masked(await read_answer(reader, head_only)) for _ in range(count)]
        try:
            rest = await asyncio.wait_for(reader.read(1), 0.3)
            closed = rest == b""
        except TimeoutError:
            closed = False
        return got, closed
    finally:
        writer.close()


def rows(store_path: Path) -> list[Capture]:
    with Store.open(store_path) as store:
        return [store.get(capture_id) for capture_id in store.ids()]


async def eventually(check: Any) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not check():
            await asyncio.sleep(0.02)


def post(target: str, body: bytes, *extra: bytes, version: bytes = b"1.1") -> bytes:
    head = [b"POST " + target.encode() + b" HTTP/" + version, b"Host: 127.0.0.1", *extra,
            b"Content-Length: " + str(len(body)).encode()]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


OK_ANSWER = (b'HTTP/1.1 200 OK\r\ndate: D\r\ncontent-type: application/json\r\n'
             b'content-length: 11\r\nx-whdebug-capture-id: %d\r\n\r\n{"ok":true}')


@pytest.mark.usefixtures("path_taken")
class TestPlainServe:
    async def test_keep_alive_answers_and_rows(self, store_path: Path) -> None:
        events: list[CaptureEvent] = []
        first = post("/hook?a=1&b=%20", b'{"n": 1}', b"X-Name-AS-Sent: v1")
        second = post("/hook", b"\x00\xff raw", b"x-dup: 1", b"X-Dup: 2")
        async with receiving(store_path, settings(on_capture=events.append)) as running:
            got, closed = await answers(running.port, first + second, count=2)
            await eventually(lambda: len(events) == 2)
        assert got == [OK_ANSWER % 1, OK_ANSWER % 2] and not closed
        one, two = rows(store_path)
        assert (one.request.method, one.request.path, one.request.query) == (
            "POST", "/hook", "a=1&b=%20")
        assert one.request.headers == (("Host", "127.0.0.1"), ("X-Name-AS-Sent", "v1"),
                                       ("Content-Length", "8"))
        assert one.request.body == b'{"n": 1}' and two.request.body == b"\x00\xff raw"
        assert two.request.headers[1:3] == (("x-dup", "1"), ("X-Dup", "2"))
        assert one.reply == two.reply == Reply(200, b'{"ok":true}')
        assert one.source.received_at == NOW and one.source.client is not None
        assert one.source.client.startswith("127.0.0.1:")
        assert [(e.capture_id, e.method, e.path, e.query, e.size, e.truncated,
                 e.response_status) for e in events] == [
            (1, "POST", "/hook", "a=1&b=%20", 8, False, 200),
            (2, "POST", "/hook", "", 6, False, 200)]

    async def test_http_1_0_and_connection_close_are_answered_then_closed(
            self, store_path: Path) -> None:
        closing = OK_ANSWER.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n")
        async with receiving(store_path, settings()) as running:
            got, closed = await answers(running.port, post("/old", b"{}", version=b"1.0"))
            assert got == [closing % 1] and closed
            got, closed = await answers(running.port, post("/c", b"{}", b"Connection: close"))
            assert got == [closing % 2] and closed
        assert [row.request.http_version for row in rows(store_path)] == ["1.0", "1.1"]

    async def test_a_request_without_a_body(self, store_path: Path) -> None:
        data = b"GET /probe?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
        async with receiving(store_path, settings()) as running:
            got, _ = await answers(running.port, data)
        assert got == [OK_ANSWER % 1]
        [row] = rows(store_path)
        assert (row.request.method, row.request.body, row.request.size) == ("GET", b"", 0)

    async def test_head_gets_the_head_only(self, store_path: Path) -> None:
        data = b"HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n" + post("/after", b"{}")
        async with receiving(store_path, settings()) as running:
            got, _ = await answers(running.port, data, count=1, head_only=True)
        assert got[0] == (OK_ANSWER % 1)[: -len(b'{"ok":true}')]

    async def test_a_forwarded_client_is_stored_as_the_proxy_says(
            self, store_path: Path) -> None:
        data = post("/fwd", b"{}", b"X-Forwarded-For: 203.0.113.9", b"X-Forwarded-Proto: https")
        async with receiving(store_path, settings()) as running:
            got, _ = await answers(running.port, data)
        assert got == [OK_ANSWER % 1]
        [row] = rows(store_path)
        assert row.source.client == "203.0.113.9:0"
        assert row.request.header("x-forwarded-for") == "203.0.113.9"

    async def test_a_body_cut_by_the_client_is_stored_truncated(
            self, store_path: Path) -> None:
        events: list[CaptureEvent] = []
        async with receiving(store_path, settings(on_capture=events.append)) as running:
            sock = socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT)
            sock.sendall(b"POST /cut HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123")
            await asyncio.sleep(0.1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            await eventually(lambda: events)
        [row] = rows(store_path)
        assert row.request.body == b"0123" and row.request.truncated
        assert row.request.size == 100 and row.reply is None
        assert events[0].response_status is None and events[0].capture_id == 1


@pytest.mark.usefixtures("path_taken")
class TestDeferredDefinition:
    async def test_the_configured_answer_and_the_deferred_line(self, store_path: Path) -> None:
        body = b'{"event": "contact.created", "id": "evt-1"}'
        events: list[CaptureEvent] = []
        printed: list[CaptureEvent] = []
        data = post(WEBHOOK, body, b"X-Signature: " + sign(body).encode())
        async with receiving(store_path, deferring(events, on_capture=printed.append)
                             ) as running:
            got, _ = await answers(running.port, data)
            await eventually(lambda: events)
        [row] = rows(store_path)
        assert got == [OK_ANSWER % 1]  # the base definition's webhook.response
        assert row.reply == Reply(200, b'{"ok":true}')
        assert printed == [] and [e.capture_id for e in events] == [1]
        assert events[0].wrong_path is False and events[0].outcome is None

    async def test_a_wrong_path_gets_the_plain_ok(self, store_path: Path) -> None:
        events: list[CaptureEvent] = []
        async with receiving(store_path, deferring(events)) as running:
            got, _ = await answers(running.port, post("/elsewhere", b"{}"))
            await eventually(lambda: events)
        assert got == [OK_ANSWER % 1]
        assert events[0].wrong_path and events[0].expected_path == WEBHOOK
        assert rows(store_path)[0].reply == Reply(200, b'{"ok":true}')

    async def test_a_text_response_is_sent_as_text(self, store_path: Path) -> None:
        events: list[CaptureEvent] = []
        receiver = deferring(events)
        receiver = replace(receiver, definition=make_definition(
            response={"statusCode": 202, "body": "accepted"}))
        async with receiving(store_path, receiver) as running:
            got, _ = await answers(running.port, post(WEBHOOK, b"{}"))
        assert got == [b"HTTP/1.1 202 Accepted\r\ndate: D\r\n"
                       b"content-type: text/plain; charset=utf-8\r\ncontent-length: 8\r\n"
                       b"x-whdebug-capture-id: 1\r\n\r\naccepted"]


class TestKeepAliveTimeout:
    """An idle keep-alive connection is closed after uvicorn's keep-alive timeout, counted
    from its last answer; each new request starts the count again."""

    @pytest.mark.usefixtures("path_taken")
    async def test_idle_connections_close_busy_ones_stay(
            self, store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        from whdebug.receiver import server as server_module

        real = server_module.uvicorn_config

        def short_keep_alive(*args: Any, **kwargs: Any) -> Any:
            config = real(*args, **kwargs)
            config.timeout_keep_alive = 1
            return config

        monkeypatch.setattr(server_module, "uvicorn_config", short_keep_alive)
        async with receiving(store_path, settings()) as running:
            reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
            try:
                for number in range(1, 4):  # 0.6 s apart: each inside the timeout
                    writer.write(post("/k", b"{}"))
                    await writer.drain()
                    assert masked(await read_answer(reader)) == OK_ANSWER % number
                    await asyncio.sleep(0.6)
                started = asyncio.get_running_loop().time()
                assert await asyncio.wait_for(reader.read(1), TIMEOUT) == b""  # closed
                waited = asyncio.get_running_loop().time() - started
                assert 0.2 < waited < 4.0, waited  # ~0.4 s: 1 s after the last answer
            finally:
                writer.close()
