"""The receiver against hostile and careless clients: exact header names, slow clients, a
locked store, too many bodies at once, CONNECT, half-closed and vanished clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sqlite3
import struct
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from factories import NOW

from whdebug.model.request import Reply
from whdebug.receiver.app import CAPTURE_ID_HEADER, ReceiverSettings
from whdebug.receiver.guard import ConnectionLimits
from whdebug.receiver.server import RunningServer, ServerSettings, running_receiver
from whdebug.store.store import Store

pytestmark = pytest.mark.usefixtures("parser")  # on httptools and on h11


TIMEOUT = 5.0
SHORT = ConnectionLimits(header_timeout=0.5, body_timeout=0.5)


def settings(**fields: Any) -> ReceiverSettings:
    return replace(ReceiverSettings(now=lambda: NOW), **fields)


@contextlib.asynccontextmanager
async def receiving(store_path: Path, receiver: ReceiverSettings | None = None,
                    limits: ConnectionLimits | None = None) -> AsyncIterator[RunningServer]:
    server = ServerSettings(host="127.0.0.1", port=0, timeout_graceful_shutdown=1)
    if limits is not None:
        server = replace(server, limits=limits)
    async with running_receiver(store_path, receiver or settings(), server) as running:
        yield running


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "captures.db"


def stored(store_path: Path, capture_id: int) -> Any:
    with Store.open(store_path) as store:
        return store.get(capture_id)


def all_stored(store_path: Path) -> list[Any]:
    with Store.open(store_path) as store:
        return [store.get(capture_id) for capture_id in store.ids()]


async def read_all(reader: asyncio.StreamReader, timeout: float = TIMEOUT) -> bytes:
    """Everything until the server closes the connection."""
    return await asyncio.wait_for(reader.read(), timeout)


def response_of(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines if line)
    return int(status_line.split()[1]), headers, body


async def exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `data` (asking the server to close afterwards) and read the whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return response_of(await read_all(reader))
    finally:
        writer.close()


def request(target: str, body: bytes, *, method: str = "POST",
            headers: list[tuple[bytes, bytes]] | None = None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers or []]
    lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@contextlib.contextmanager
def locked(store_path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's connection holding the store's write lock."""
    connection = sqlite3.connect(store_path, isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    try:
        yield connection
    finally:
        connection.execute("ROLLBACK")
        connection.close()


class TestExactHeaderNames:
    async def test_names_are_stored_byte_for_byte_in_order(self, store_path: Path) -> None:
        sent = [(b"X-Dup", b"one"), (b"x-dup", b"two"), (b"X-DUP", b"three"),
                (b"content-TYPE", b"application/json"), (b"X-GitHub-Event", b"push"),
                (b"x-Hub-Signature-256", b"sha256=00")]
        async with receiving(store_path) as running:
            status, headers, _ = await exchange(running.port, request("/h", b"{}", headers=sent))
        assert status == 200
        capture = stored(store_path, int(headers[CAPTURE_ID_HEADER]))
        expected = [(b"Host", b"127.0.0.1"), (b"Connection", b"close"), *sent,
                    (b"Content-Length", b"2")]
        assert capture.request.headers == tuple(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in expected)
        # Lookups stay case-insensitive.
        assert capture.request.header_values("x-dup") == ["one", "two", "three"]

    async def test_names_stay_exact_on_a_keep_alive_connection(self, store_path: Path) -> None:
        first = b"POST /a HTTP/1.1\r\nHost: x\r\nX-First: 1\r\nContent-Length: 1\r\n\r\na"
        second = b"POST /b HTTP/1.1\r\nHost: x\r\nx-SECOND: 2\r\nContent-Length: 1\r\n\r\nb"
        async with receiving(store_path) as running:
            reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
            writer.write(first + second)  # pipelined: the second head waits in the parser
            await writer.drain()
            async with asyncio.timeout(TIMEOUT):
                while len(all_stored(store_path)) < 2:
                    await asyncio.sleep(0.02)
            writer.close()
        names = [[name for name, _ in capture.request.headers]
                 for capture in all_stored(store_path)]
        assert names == [["Host", "X-First", "Content-Length"],
                         ["Host", "x-SECOND", "Content-Length"]]


HEALTH = b"GET /_whdebug/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
PARTIAL_HEAD = b"POST /burst HTTP/1.1\r\nHost: x\r\n"
"""A request head never finished."""


def accepted_together(port: int, count: int, data: bytes) -> list[socket.socket]:
    """`count` connections, each sent `data`, opened with blocking sockets without yielding
    to the event loop: the kernel completes every handshake and holds the data, and the
    server (on this loop) accepts them all in one turn."""
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    for sock in sockets:
        sock.sendall(data)
    return sockets


async def answer_on(sock: socket.socket) -> bytes:
    """Everything the server sends on `sock` until it closes."""
    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=sock)
    answer = await read_all(reader)
    writer.close()
    return answer


class TestSlowClients:
    async def test_a_trickled_head_is_cut_with_408(self, store_path: Path) -> None:
        async with receiving(store_path, limits=SHORT) as running:
            reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
            started = time.monotonic()

            async def trickle() -> None:
                writer.write(b"POST /slow HTTP/1.1\r\nHost: x\r\n")
                for _ in range(100):
                    writer.write(b"X-A: b\r\n")
                    await writer.drain()
                    await asyncio.sleep(0.05)

            sender = asyncio.create_task(trickle())
            try:
                answer = await read_all(reader, 3.0)
            finally:
                sender.cancel()
                writer.close()
            elapsed = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert 0.4 < elapsed < 2.0
        assert all_stored(store_path) == []

    async def test_a_silent_connection_is_closed(self, store_path: Path) -> None:
        async with receiving(store_path, limits=SHORT) as running:
            reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
            assert await read_all(reader, 3.0) == b""  # closed, nothing to answer
            writer.close()

    async def test_a_stalled_body_is_cut_and_stored_truncated(self, store_path: Path) -> None:
        async with receiving(store_path, limits=SHORT) as running:
            reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
            writer.write(b"POST /stall HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123")
            await writer.drain()
            assert await read_all(reader, 3.0) == b""
            writer.close()
            async with asyncio.timeout(TIMEOUT):
                while not all_stored(store_path):
                    await asyncio.sleep(0.02)
        [capture] = all_stored(store_path)
        assert capture.request.body == b"0123" and capture.request.truncated
        assert capture.request.size == 100 and capture.reply is None

    async def test_a_slow_but_steady_body_is_not_cut(self, store_path: Path) -> None:
        body = b"x" * 20
        async with receiving(store_path, limits=SHORT) as running:
            reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
            writer.write(request("/steady", b"")[:-len(b"Content-Length: 0\r\n\r\n")]
                         + b"Content-Length: 20\r\n\r\n")
            for offset in range(0, 20, 2):  # 1 s in all, never 0.5 s without a byte
                writer.write(body[offset:offset + 2])
                await writer.drain()
                await asyncio.sleep(0.1)
            status, headers, _ = response_of(await read_all(reader))
            writer.close()
        assert status == 200
        assert stored(store_path, int(headers[CAPTURE_ID_HEADER])).request.body == body

    async def test_at_the_cap_the_longest_waiting_connection_makes_room(
            self, store_path: Path) -> None:
        limits = ConnectionLimits(max_connections=10)
        async with receiving(store_path, limits=limits) as running:
            slow = [await asyncio.open_connection("127.0.0.1", running.port) for _ in range(10)]
            for _, writer in slow:
                writer.write(b"POST /slow HTTP/1.1\r\nHost: x\r\n")  # never finished
            await asyncio.sleep(0.2)
            started = time.monotonic()
            status, _, body = await exchange(running.port, b"GET /_whdebug/health HTTP/1.1\r\n"
                                                           b"Host: x\r\nConnection: close\r\n\r\n")
            elapsed = time.monotonic() - started
            first_reader = slow[0][0]
            assert await read_all(first_reader, 2.0) == b""  # the oldest one was closed
            for _, writer in slow:
                writer.close()
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert elapsed < 1.0

    async def test_a_connection_not_yet_read_is_not_the_one_making_room(
            self, store_path: Path) -> None:
        """A burst of connections accepted in one loop turn, before any of them is read: the
        first of them, which sent a whole request, must not be closed to make room for the
        rest (it looked like the longest waiting once the older ones were gone)."""
        limits = ConnectionLimits(max_connections=10)
        async with receiving(store_path, limits=limits) as running:
            slow = [await asyncio.open_connection("127.0.0.1", running.port) for _ in range(10)]
            for _, writer in slow:
                writer.write(b"POST /slow HTTP/1.1\r\nHost: x\r\n")  # never finished
                await writer.drain()
            await asyncio.sleep(0.2)
            [first] = accepted_together(running.port, 1, HEALTH)
            burst = accepted_together(running.port, 15, PARTIAL_HEAD)
            try:
                answer = await answer_on(first)
            finally:
                for sock in burst:
                    sock.close()
                for _, writer in slow:
                    writer.close()
        status, _, body = response_of(answer)
        assert status == 200 and json.loads(body)["status"] == "ok"

    async def test_a_burst_that_fills_the_cap_does_not_lock_out_its_last_member(
            self, store_path: Path) -> None:
        """A burst accepted in one loop turn fills the cap with connections not yet read (a
        slowloris reconnecting), and a health check arrives last in it: it must not be
        refused 503 because everyone else was still spared. Once they are read and found
        trickling a head, the one waiting longest makes room (the CI flake of
        test_slowloris: health got 503)."""
        limits = ConnectionLimits(max_connections=10)
        async with receiving(store_path, limits=limits) as running:
            # None of them is read before the health check is accepted.
            burst = accepted_together(running.port, 10, PARTIAL_HEAD)
            [last] = accepted_together(running.port, 1, HEALTH)
            try:
                answer = await answer_on(last)
                burst[0].settimeout(2.0)
                cut = burst[0].recv(100)  # the longest waiting made room: closed, no answer
            finally:
                for sock in burst:
                    sock.close()
        status, _, body = response_of(answer)
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert cut == b""


class TestStoreAndMemory:
    async def test_health_answers_while_the_store_is_locked(self, store_path: Path) -> None:
        async with receiving(store_path) as running:
            with locked(store_path):
                blocked = asyncio.create_task(
                    exchange(running.port, request("/waits", b"{}")))
                await asyncio.sleep(0.3)  # the writer is now waiting on the lock
                started = time.monotonic()
                status, _, body = await exchange(
                    running.port,
                    b"GET /_whdebug/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                elapsed = time.monotonic() - started
                assert not blocked.done()
            waited, _, _ = await asyncio.wait_for(blocked, 10)
        assert waited == 200 and len(all_stored(store_path)) == 1  # committed once unlocked
        assert status == 200 and json.loads(body) == {"status": "ok", "captures": 0}
        assert elapsed < 1.0

    async def test_bodies_beyond_the_in_flight_budget_get_503(self, store_path: Path) -> None:
        async with receiving(store_path, settings(max_inflight=1000)) as running:
            reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
            writer.write(b"POST /first HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         b"Content-Length: 800\r\n\r\n" + b"a" * 100)  # holds 800 bytes
            await writer.drain()
            await asyncio.sleep(0.2)
            status, headers, body = await exchange(running.port,
                                                   request("/second", b"b" * 800))
            writer.write(b"a" * 700)
            await writer.drain()
            first_status, _, _ = response_of(await read_all(reader))
            writer.close()
            after, _, _ = await exchange(running.port, request("/third", b"c" * 800))
        assert status == 503 and headers.get("retry-after") == "1"
        message = json.loads(body)["error"]
        assert "--max-inflight 1000 bytes" in message and "0 body bytes" in message
        assert (first_status, after) == (200, 200)
        refused = stored(store_path, int(headers[CAPTURE_ID_HEADER]))
        assert refused.request.truncated and refused.request.size == 800
        assert refused.reply is not None and refused.reply.status == 503

    async def test_413_says_exactly_what_was_kept(self, store_path: Path) -> None:
        chunked = (b"POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                   b"Connection: close\r\n\r\n" + b"400\r\n" + b"z" * 1024 + b"\r\n0\r\n\r\n")
        async with receiving(store_path, settings(max_body=1000)) as running:
            announced = await exchange(running.port, request("/big", b"y" * 5000))
            streamed = await exchange(running.port, chunked)
        assert announced[0] == streamed[0] == 413
        assert json.loads(announced[2])["error"] == (
            "body of 5000 bytes exceeds the receiver's --max-body (1000 bytes); whdebug stored "
            "the headers and 0 body bytes")
        assert json.loads(streamed[2])["error"] == (
            "body exceeds the receiver's --max-body (1000 bytes); whdebug stored the headers "
            "and the first 1000 body bytes")
        assert len(stored(store_path, int(streamed[1][CAPTURE_ID_HEADER])).request.body) == 1000


class TestOddClients:
    async def test_connect_gets_a_clean_405(self, store_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.WARNING)
        connect = (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
                   b"Connection: close\r\n\r\n")
        async with receiving(store_path) as running:
            status, headers, body = await exchange(running.port, connect)
            after, _, _ = await exchange(running.port, request("/after", b"ok"))
        assert status == 405 and "not a proxy" in json.loads(body)["error"]
        assert "post" in headers["allow"] and after == 200
        assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
        capture = stored(store_path, int(headers[CAPTURE_ID_HEADER]))
        assert capture.request.method == "CONNECT" and capture.reply.status == 405

    async def test_a_half_closed_client_still_gets_its_answer(self, store_path: Path) -> None:
        async with receiving(store_path) as running:
            with socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT) as sock:
                sock.sendall(request("/half", b'{"half": true}'))
                sock.shutdown(socket.SHUT_WR)
                received = b""
                while chunk := await asyncio.to_thread(sock.recv, 65536):
                    received += chunk
        status, headers, _ = response_of(received)
        assert status == 200
        capture = stored(store_path, int(headers[CAPTURE_ID_HEADER]))
        assert capture.reply == Reply(200, b'{"ok":true}')

    async def test_a_client_gone_before_the_answer_records_no_answer(
            self, store_path: Path) -> None:
        events: list[Any] = []
        async with receiving(store_path, settings(on_capture=events.append)) as running:
            with locked(store_path):  # the commit waits, the client leaves meanwhile
                sock = socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT)
                sock.sendall(request("/gone", b'{"gone": true}'))
                await asyncio.sleep(0.2)
                # A reset, not a FIN (a FIN may be a half-close, which still gets an answer).
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
                await asyncio.sleep(0.2)
            async with asyncio.timeout(TIMEOUT):
                while not events:
                    await asyncio.sleep(0.02)
        [capture] = all_stored(store_path)
        assert capture.request.body == b'{"gone": true}' and not capture.request.truncated
        assert capture.reply is None
        assert events[0].response_status is None


class TestDescriptorExhaustion:
    def test_emfile_is_one_line_per_interval(self, caplog: pytest.LogCaptureFixture) -> None:
        import errno

        from whdebug.receiver.guard import emfile_reporter

        others: list[dict[str, Any]] = []
        handler = emfile_reporter(lambda loop, context: others.append(context))
        loop = asyncio.new_event_loop()
        try:
            with caplog.at_level(logging.WARNING, logger="whdebug.receiver"):
                for _ in range(2048):  # one wake-up of CPython's accept loop
                    handler(loop, {"message": "socket.accept() out of system resource",
                                   "exception": OSError(errno.EMFILE, "Too many open files")})
                handler(loop, {"message": "something else", "exception": ValueError("x")})
        finally:
            loop.close()
        lines = [record.getMessage() for record in caplog.records]
        assert len(lines) == 1 and lines[0].startswith("out of file descriptors")
        assert [context["message"] for context in others] == ["something else"]

    def test_the_cap_is_below_the_descriptor_limit(self) -> None:
        import resource

        from whdebug.receiver.guard import LIMITS_ATTRIBUTE
        from whdebug.receiver.server import uvicorn_config

        config = uvicorn_config(lambda *a: None, ServerSettings(port=0), embedded=True)
        cap = getattr(config, LIMITS_ATTRIBUTE).max_connections
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert 0 < cap < soft


def upload(port: int, body: bytes) -> tuple[bytes, OSError | None]:
    """A client without Expect: 100-continue: send the whole upload, then read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        head = (b"POST /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body))
        received = b""
        try:
            sock.sendall(head + body)
            while chunk := sock.recv(65536):
                received += chunk
        except OSError as error:
            return received, error
        return received, None


class TestEarlyAnswers:
    """An answer given before the upload ended reaches the client (no connection reset)."""

    async def test_413_reaches_a_client_still_uploading(self, store_path: Path) -> None:
        body = b"u" * (16 * 1024 * 1024)
        async with receiving(store_path, settings(max_body=1000)) as running:
            answers = await asyncio.gather(*(asyncio.to_thread(upload, running.port, body)
                                             for _ in range(4)))
        for received, error in answers:
            assert error is None and received.startswith(b"HTTP/1.1 413 ")
            assert b"0 body bytes" in received

    async def test_503_reaches_a_client_still_uploading(self, store_path: Path) -> None:
        body = b"u" * (16 * 1024 * 1024)
        async with receiving(store_path, settings(max_inflight=1000)) as running:
            received, error = await asyncio.to_thread(upload, running.port, body)
        assert error is None and received.startswith(b"HTTP/1.1 503 ")
