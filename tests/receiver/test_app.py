"""The receiver: exact bytes stored before answering, answers per the definition, robustness."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import random
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from factories import NOW, SECRET, make_definition, sign
from paths import REPO
from rich.console import Console
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from whdebug.cli.output.serve import ConsoleSink, format_capture_line
from whdebug.engine import session as session_module
from whdebug.engine.analyze import DEFAULT_OPTIONS
from whdebug.errors import StoreError, WhdebugError
from whdebug.formats.http import format_http, parse_http
from whdebug.model.definition import load_definition
from whdebug.model.request import (
    Capture,
    CapturedRequest,
    ForwardResult,
    Reply,
    Secrets,
    Source,
)
from whdebug.receiver.app import CAPTURE_ID_HEADER, CaptureEvent, ReceiverSettings, create_app
from whdebug.receiver.server import (
    RunningServer,
    ServerSettings,
    bind_socket,
    is_loopback,
    reporting,
    running_receiver,
    start_app_in_loop,
)
from whdebug.store.store import Store

DEMO = REPO / "whdebug" / "demo"
LOOPBACK = ServerSettings(host="127.0.0.1", port=0, timeout_graceful_shutdown=1)
TIMEOUT = 5.0


def settings(**fields: Any) -> ReceiverSettings:
    return replace(ReceiverSettings(now=lambda: NOW), **fields)


@contextlib.asynccontextmanager
async def receiving(store_path: Path, receiver_settings: ReceiverSettings | None = None
                    ) -> AsyncIterator[RunningServer]:
    """A real uvicorn on a free loopback port, always stopped."""
    async with running_receiver(store_path, receiver_settings or settings(), LOOPBACK) as running:
        yield running


@contextlib.asynccontextmanager
async def asgi_client(store_path: Path, receiver_settings: ReceiverSettings
                      ) -> AsyncIterator[httpx.AsyncClient]:
    """The app without a socket, lifespan included, for answer logic."""
    app = create_app(store_path, receiver_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def capture_id(self) -> int:
        return int(self.headers[CAPTURE_ID_HEADER])


async def read_response(reader: asyncio.StreamReader) -> RawResponse:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines if line)
    length = int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
    return RawResponse(int(status_line.split()[1]), headers, body)


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def exchange(port: int, data: bytes) -> RawResponse:
    """Send exact bytes on a fresh connection and read one response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await read_response(reader)
    finally:
        await close(writer)


def raw_request(target: str, body: bytes, *, method: str = "POST",
                headers: list[tuple[bytes, bytes]] | None = None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1".encode(), b"Host: 127.0.0.1"]
    lines += [name + b": " + value for name, value in headers or []]
    lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def stored(store_path: Path, capture_id: int) -> Capture:
    with Store.open(store_path) as store:
        return store.get(capture_id)


def store_count(store_path: Path) -> int:
    with Store.open(store_path) as store:
        return store.count()


async def eventually(check: Any, timeout: float = TIMEOUT) -> None:
    """Poll `check()` until truthy (for work done after the answer, e.g. forwarding)."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "captures.db"


TWO_MIB = random.Random(3).randbytes(2 * 1024 * 1024)
BODIES = {
    "invalid-utf8": b'{"a": "\xff\xfe\xc3\x28"}\x80',
    "nul-bytes": b"a\x00b\x00\x00{}",
    "crlf": b'{"event": "x"}\r\n\r\n',
    "trailing-spaces": b'{"event": "x"}   \n  \t',
    "empty": b"",
    "two-mib": TWO_MIB,
}


class TestByteFidelity:
    @pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
    async def test_body_headers_and_target_round_trip(self, store_path: Path,
                                                      body: bytes) -> None:
        target = "/hooks/a%2Fb%7E?a=1&a=2&b=%20x%2F&c=caf%C3%A9&empty="
        headers = [(b"X-Dup", b"one"), (b"Content-Type", b"application/json"),
                   (b"X-Dup", b"two"), (b"X-Latin", b"caf\xe9")]
        async with receiving(store_path) as running:
            response = await exchange(running.port, raw_request(target, body, headers=headers))
        assert response.status == 200
        capture = stored(store_path, response.capture_id)
        assert capture.request.body == body
        assert capture.request.size == len(body) and not capture.request.truncated
        assert capture.request.path == "/hooks/a%2Fb%7E"
        assert capture.request.query == "a=1&a=2&b=%20x%2F&c=caf%C3%A9&empty="
        assert capture.request.header_values("x-dup") == ["one", "two"]
        assert capture.request.header_values("x-latin") == ["caf\xe9"]  # latin-1: one char per byte
        assert capture.request.method == "POST" and capture.request.http_version == "1.1"
        assert capture.source.client is not None and capture.source.client.startswith("127.0.0.1:")
        assert capture.reply == Reply(200, b'{"ok":true}')
        exported = parse_http(format_http(capture.request))
        assert exported.body == body
        assert exported.headers == capture.request.headers
        assert exported.target == capture.request.target

    async def test_headers_keep_order_and_duplicates(self, store_path: Path) -> None:
        headers = [(b"B", b"1"), (b"A", b"2"), (b"b", b"3"), (b"Set-Thing", b"x, y")]
        async with receiving(store_path) as running:
            response = await exchange(running.port, raw_request("/h", b"{}", headers=headers))
        capture = stored(store_path, response.capture_id)
        names = [(name, value) for name, value in capture.request.headers
                 if name.lower() in ("a", "b", "set-thing")]
        assert names == [("B", "1"), ("A", "2"), ("b", "3"), ("Set-Thing", "x, y")]

    async def test_any_method_and_chunked_body(self, store_path: Path) -> None:
        chunked = (b"PATCH /any/where HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"3\r\nab\x00\r\n4\r\n\r\n \xff\r\n0\r\n\r\n")
        async with receiving(store_path) as running:
            response = await exchange(running.port, chunked)
        capture = stored(store_path, response.capture_id)
        request = capture.request
        assert (request.method, request.path, request.body) == ("PATCH", "/any/where",
                                                                b"ab\x00\r\n \xff")


class TestOversize:
    async def test_announced_oversize_is_413_and_stored_truncated(self, store_path: Path) -> None:
        body = b"x" * 5000
        async with receiving(store_path, settings(max_body=1000)) as running:
            response = await exchange(running.port, raw_request("/big", body))
            after = await exchange(running.port, raw_request("/small", b"ok"))
        assert response.status == 413
        assert "max-body" in json.loads(response.body)["error"]
        capture = stored(store_path, response.capture_id)
        request = capture.request
        assert request.truncated and request.size == 5000 and request.body == b""
        assert capture.reply is not None and capture.reply.status == 413
        assert capture.request.header("content-length") == "5000"
        assert stored(store_path, after.capture_id).request.body == b"ok"

    async def test_chunked_oversize_keeps_the_first_bytes(self, store_path: Path) -> None:
        chunk = bytes(range(256)) * 4
        chunks = b"".join(b"400\r\n" + chunk + b"\r\n" for _ in range(3))
        data = (b"POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                + chunks + b"0\r\n\r\n")
        async with receiving(store_path, settings(max_body=1500)) as running:
            response = await exchange(running.port, data)
        assert response.status == 413
        capture = stored(store_path, response.capture_id)
        assert capture.request.truncated and capture.request.body == (chunk * 2)[:1500]
        assert capture.request.size > 1500

    async def test_expect_continue_gets_413_without_uploading(self, store_path: Path) -> None:
        head = (b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n"
                b"Expect: 100-continue\r\n\r\n")
        async with receiving(store_path) as running:
            response = await exchange(running.port, head)
        assert response.status == 413
        assert stored(store_path, response.capture_id).request.size == 99999999


class TestConcurrency:
    async def test_hundreds_of_requests_from_many_clients(self, store_path: Path) -> None:
        clients, per_client = 40, 8
        async with receiving(store_path) as running:
            async def client(number: int) -> list[tuple[int, bytes]]:
                results = []
                async with httpx.AsyncClient(base_url=running.url, timeout=TIMEOUT) as http:
                    for sequence in range(per_client):
                        body = f'{{"client": {number}, "n": {sequence}}}'.encode()
                        response = await http.post("/miniapps/acme/webhooks", content=body)
                        assert response.status_code == 200
                        results.append((int(response.headers[CAPTURE_ID_HEADER]), body))
                return results

            per_client_results = await asyncio.gather(*(client(n) for n in range(clients)))
        ids = [capture_id for results in per_client_results for capture_id, _ in results]
        assert len(ids) == len(set(ids)) == clients * per_client
        for results in per_client_results:  # each client's later request got a later id
            client_ids = [capture_id for capture_id, _ in results]
            assert client_ids == sorted(client_ids)
        with Store.open(store_path) as store:
            assert sorted(store.ids()) == sorted(ids)
            for results in per_client_results:
                for capture_id, body in results:
                    assert store.get(capture_id).request.body == body


class TestAnswers:
    async def test_challenge_answered_as_json(self, store_path: Path) -> None:
        definition = load_definition(DEMO / "definitions" / "slack.json")
        challenge = parse_http((DEMO / "requests" / "slack-challenge.http").read_bytes())
        events: list[CaptureEvent] = []
        async with asgi_client(store_path, settings(definition=definition, strict=True,
                                                    on_capture=events.append)) as client:
            response = await client.post("/miniapps/slack/webhooks", content=challenge.body,
                                         headers=list(challenge.headers))
        token = json.loads(challenge.body)["challenge"]
        assert response.status_code == 200
        assert response.json() == {"challenge": token}
        assert response.headers["content-type"] == "application/json"
        assert events[0].outcome == "challenge"

    async def test_bare_token_challenge_is_text(self, store_path: Path) -> None:
        definition = make_definition(challengeResponse={
            "identifyField": "type", "identifyValue": "url_verification",
            "challengePath": "$.challenge"})
        async with asgi_client(store_path, settings(definition=definition)) as client:
            response = await client.post("/miniapps/acme/webhooks",
                                         json={"type": "url_verification", "challenge": "tok-1"})
        assert response.status_code == 200 and response.text == "tok-1"
        assert response.headers["content-type"].startswith("text/plain")

    @pytest.mark.parametrize(("strict", "good", "status"),
                             [(True, True, 200), (True, False, 401), (False, False, 200)])
    async def test_strict_mode_rejects_bad_signatures(self, store_path: Path, strict: bool,
                                                      good: bool, status: int) -> None:
        body = b'{"event": "contact.created", "id": "evt-1"}'
        signature = sign(body) if good else sign(body, "wrong-secret")
        events: list[CaptureEvent] = []
        receiver_settings = settings(definition=make_definition(), strict=strict,
                                     secrets=Secrets({"webhookSecret": SECRET}),
                                     on_capture=events.append)
        async with asgi_client(store_path, receiver_settings) as client:
            response = await client.post("/miniapps/acme/webhooks", content=body,
                                         headers={"X-Signature": signature})
        assert response.status_code == status
        capture = stored(store_path, int(response.headers[CAPTURE_ID_HEADER]))
        assert capture.request.body == body
        assert capture.reply is not None and capture.reply.status == status
        assert events[0].signature == ("pass" if good else "fail")
        assert events[0].outcome == ("fires" if good else "rejected")
        assert events[0].event == ("contact.created" if good else None)

    async def test_configured_response_is_sent(self, store_path: Path) -> None:
        definition = make_definition(response={"statusCode": 202, "body": {"received": 1}})
        async with asgi_client(store_path, settings(definition=definition)) as client:
            response = await client.post("/miniapps/acme/webhooks", content=b"{}")
        assert response.status_code == 202 and response.json() == {"received": 1}

    async def test_wrong_path_is_captured_and_flagged(self, store_path: Path) -> None:
        events: list[CaptureEvent] = []
        receiver_settings = settings(definition=make_definition(), strict=True,
                                     on_capture=events.append)
        async with asgi_client(store_path, receiver_settings) as client:
            response = await client.post("/miniapps/acme/webhook?x=1", content=b"{}")
        assert response.status_code == 200 and response.json() == {"ok": True}
        assert events[0].wrong_path and events[0].expected_path == "/miniapps/acme/webhooks"
        assert stored(store_path, events[0].capture_id or 0).request.query == "x=1"
        assert "wrong path" in format_capture_line(events[0]).plain

    async def test_duplicate_transaction_flagged_against_earlier_capture(
            self, store_path: Path) -> None:
        body = b'{"event": "deal.won", "id": "evt-7"}'
        events: list[CaptureEvent] = []
        receiver_settings = settings(definition=make_definition(), on_capture=events.append,
                                     secrets=Secrets({"webhookSecret": SECRET}))
        async with asgi_client(store_path, receiver_settings) as client:
            for _ in range(2):
                await client.post("/miniapps/acme/webhooks", content=body,
                                  headers={"X-Signature": sign(body)})
        assert [event.outcome for event in events] == ["fires", "duplicate"]
        assert events[1].duplicate_of == events[0].capture_id
        line = format_capture_line(events[1]).plain
        assert f"duplicate of #{events[0].capture_id}" in line and "sig ✓" in line

    async def test_engine_failure_answers_default_and_still_captures(
            self, store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        def explode(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom")

        monkeypatch.setattr(session_module, "analyze", explode)
        events: list[CaptureEvent] = []
        receiver_settings = settings(definition=make_definition(), strict=True,
                                     on_capture=events.append)
        async with asgi_client(store_path, receiver_settings) as client:
            response = await client.post("/miniapps/acme/webhooks", content=b"\xff")
        assert response.status_code == 200 and response.json() == {"ok": True}
        assert events[0].error == "analysis failed: RuntimeError: boom"
        assert stored(store_path, events[0].capture_id or 0).request.body == b"\xff"

    async def test_store_failure_answers_503_and_keeps_serving(
            self, store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        real_insert_many = Store.insert_many
        failures = iter([StoreError("disk is full", "captures.db")])

        def insert_many(store: Store, requests: Any) -> list[int]:
            failure = next(failures, None)
            if failure is not None:
                raise failure
            return real_insert_many(store, requests)

        monkeypatch.setattr(Store, "insert_many", insert_many)
        events: list[CaptureEvent] = []
        async with asgi_client(store_path, settings(on_capture=events.append)) as client:
            refused = await client.post("/h", content=b"first")
            accepted = await client.post("/h", content=b"second")
        assert refused.status_code == 503 and "disk is full" in refused.json()["error"]
        assert CAPTURE_ID_HEADER not in refused.headers
        assert events[0].capture_id is None and "not stored" in (events[0].error or "")
        assert accepted.status_code == 200
        accepted_id = int(accepted.headers[CAPTURE_ID_HEADER])
        assert stored(store_path, accepted_id).request.body == b"second"

    async def test_health_counts_and_reserved_paths_are_not_captured(
            self, store_path: Path) -> None:
        async with asgi_client(store_path, settings()) as client:
            assert (await client.get("/_whdebug/health")).json() == {"status": "ok",
                                                                   "captures": 0}
            await client.post("/anything", content=b"1")
            await client.delete("/")
            assert (await client.get("/_whdebug/other")).status_code == 404
            assert (await client.post("/_whdebug/health")).status_code in (404, 405)
            assert (await client.get("/_whdebug/health")).json()["captures"] == 2
        assert store_count(store_path) == 2

    async def test_console_line_reads_without_colour(self, store_path: Path) -> None:
        body = b'{"event": "contact.created", "id": "evt-1"}'
        events: list[CaptureEvent] = []
        receiver_settings = settings(definition=make_definition(), on_capture=events.append,
                                     secrets=Secrets({"webhookSecret": SECRET}))
        async with asgi_client(store_path, receiver_settings) as client:
            await client.post("/miniapps/acme/webhooks", content=body * 200,
                              headers={"X-Signature": "00"})
            await client.post("/miniapps/acme/webhooks", content=body,
                              headers={"X-Signature": sign(body)})
        rejected, fired = (format_capture_line(event).plain for event in events)
        local = NOW.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        assert rejected.startswith(f"{local}  POST /miniapps/acme/webhooks  8.6 KB  -> 200")
        assert "sig ✗  rejected" in rejected
        assert fired.endswith(f"43 B  -> 200  contact.created  sig ✓  fires  "
                              f"#{events[1].capture_id}")


    async def test_large_body_is_analysed_off_the_loop(self, store_path: Path) -> None:
        body = json.dumps({"event": "deal.won", "id": "big", "pad": "x" * 3_000_000}).encode()
        events: list[CaptureEvent] = []
        receiver_settings = settings(definition=make_definition(), strict=True,
                                     secrets=Secrets({"webhookSecret": SECRET}),
                                     on_capture=events.append)
        async with asgi_client(store_path, receiver_settings) as client:
            response = await client.post("/miniapps/acme/webhooks", content=body,
                                         headers={"X-Signature": sign(body)})
        assert response.status_code == 200
        assert (events[0].signature, events[0].event, events[0].outcome) == (
            "pass", "deal.won", "fires")
        assert stored(store_path, events[0].capture_id or 0).request.body == body

    async def test_console_sink_writes_one_plain_line_per_capture(self, store_path: Path) -> None:
        output = io.StringIO()
        console = Console(file=output, width=200)  # not a terminal: no colour
        receiver_settings = reporting(settings(definition=make_definition()), ConsoleSink(console))
        async with asgi_client(store_path, receiver_settings) as client:
            await asyncio.gather(*(client.post("/miniapps/acme/webhooks", content=b"{}")
                                   for _ in range(3)))
            await client.put("/elsewhere", content=b"x")
            await asyncio.sleep(0)  # lines are flushed once per event-loop turn
        lines = output.getvalue().splitlines()
        assert len(lines) == 4
        assert all("POST /miniapps/acme/webhooks  2 B  -> 200  sig ✗  rejected" in line
                   for line in lines[:3])
        assert "PUT /elsewhere  1 B  -> 200  ⚠ wrong path, expected POST" in lines[3]
        assert "\x1b" not in output.getvalue()


class TestForwarding:
    async def test_forward_relays_exact_bytes_and_records_the_answer(
            self, store_path: Path) -> None:
        seen: list[tuple[str, str, list[tuple[bytes, bytes]], bytes]] = []

        async def target(request: Request) -> PlainTextResponse:
            seen.append((request.method, request.url.query, request.headers.raw,
                         await request.body()))
            return PlainTextResponse("got it", status_code=201)

        app = Starlette(routes=[Route("/hook", target, methods=["POST"])])
        local = await start_app_in_loop(app, LOOPBACK)
        try:
            body = b'{"a":"\xff"}\r\n'
            data = raw_request("/miniapps/acme/webhooks?q=%20&q=2", body,
                               headers=[(b"X-Dup", b"1"), (b"X-Dup", b"2"),
                                        (b"Connection", b"keep-alive")])
            async with receiving(store_path, settings(forward_to=f"{local.url}/hook")) as running:
                response = await exchange(running.port, data)
                with Store.open(store_path) as store:
                    await eventually(lambda: store.get(response.capture_id).forward)
                    capture = store.get(response.capture_id)
                    assert store.forward_error(response.capture_id) is None
        finally:
            await local.stop()
        assert response.status == 200
        forward = capture.forward
        assert forward is not None and (forward.status, forward.body) == (201, b"got it")
        assert forward.headers is not None
        assert ("content-type", "text/plain; charset=utf-8") in forward.headers
        assert forward.latency is not None and forward.latency > 0
        method, query, headers, relayed = seen[0]
        assert (method, query, relayed) == ("POST", "q=%20&q=2", body)
        assert [value for name, value in headers if name == b"x-dup"] == [b"1", b"2"]
        assert (b"content-length", str(len(body)).encode()) in headers
        assert not any(name in (b"connection", b"user-agent", b"accept") for name, _ in headers)

    async def test_down_target_is_recorded_without_failing(self, store_path: Path) -> None:
        closed = bind_socket("127.0.0.1", 0)
        port = closed.getsockname()[1]
        closed.close()
        async with receiving(store_path, settings(forward_to=f"http://127.0.0.1:{port}/x")
                             ) as running:
            response = await exchange(running.port, raw_request("/h", b"payload"))
            with Store.open(store_path) as store:
                await eventually(lambda: store.forward_error(response.capture_id))
                error = store.forward_error(response.capture_id)
                after = await exchange(running.port, raw_request("/h", b"next"))
        assert response.status == 200 and after.status == 200
        # In words an integrator acts on, as `send` says it (it was "ConnectError: All
        # connection attempts failed").
        assert error == "connection refused (is your app listening there?)"
        assert stored(store_path, response.capture_id).forward == ForwardResult(error=error)


@pytest.mark.usefixtures("parser")  # on httptools and on h11
class TestMalformedClients:
    async def good_request_is_captured(self, running: RunningServer, store_path: Path) -> None:
        response = await exchange(running.port, raw_request("/good", b"good"))
        assert response.status == 200
        assert stored(store_path, response.capture_id).request.body == b"good"

    async def test_truncated_body_is_recorded_and_server_survives(
            self, store_path: Path) -> None:
        async with receiving(store_path) as running:
            reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
            writer.write(b"POST /cut HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
            await writer.drain()
            await asyncio.sleep(0.05)
            await close(writer)
            await eventually(lambda: store_count(store_path) == 1)
            await self.good_request_is_captured(running, store_path)
        with Store.open(store_path) as store:
            cut = store.get(store.ids()[0])
        assert cut.request.body == b"0123456789"
        assert cut.request.truncated and cut.request.size == 100
        assert cut.reply is None

    @pytest.mark.parametrize("garbage", [
        b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\nbody",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
        b"GET /x HTTP/1.1\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 40) for i in range(2000))
        + b"\r\n",
        b"POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nok",  # HTTP/1.1 without Host
    ], ids=["bad-content-length", "tls-hello", "huge-header-block", "no-host"])
    async def test_protocol_errors_do_not_take_the_server_down(self, store_path: Path,
                                                               garbage: bytes) -> None:
        async with receiving(store_path) as running:
            reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
            writer.write(garbage)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), TIMEOUT)
            await close(writer)
            assert answer.startswith(b"HTTP/1.1 400")
            await self.good_request_is_captured(running, store_path)
        assert store_count(store_path) == 1

    async def test_five_hundred_headers_are_captured(self, store_path: Path) -> None:
        headers = [(b"X-H%d" % i, b"v%d" % i) for i in range(500)]
        async with receiving(store_path) as running:
            response = await exchange(running.port, raw_request("/many", b"{}", headers=headers))
            await self.good_request_is_captured(running, store_path)
        capture = stored(store_path, response.capture_id)
        assert capture.request.header_values("x-h499") == ["v499"]
        assert len(capture.request.headers) == 502

    async def test_slow_sender_does_not_block_others(self, store_path: Path) -> None:
        data = raw_request("/slow", b'{"slow": true}')
        async with receiving(store_path) as running:
            reader, writer = await asyncio.open_connection("127.0.0.1", running.port)

            async def trickle() -> RawResponse:
                for offset in range(0, len(data), 4):
                    writer.write(data[offset:offset + 4])
                    await writer.drain()
                    await asyncio.sleep(0.01)
                return await read_response(reader)

            slow = asyncio.create_task(trickle())
            try:
                await asyncio.sleep(0.05)
                await self.good_request_is_captured(running, store_path)
                assert not slow.done()
                slow_response = await asyncio.wait_for(slow, TIMEOUT)
            finally:
                await close(writer)
        assert stored(store_path, slow_response.capture_id).request.body == b'{"slow": true}'


class TestServer:
    async def test_port_in_use_is_one_line_error(self, store_path: Path) -> None:
        async with receiving(store_path) as running:
            with pytest.raises(WhdebugError) as raised:
                async with running_receiver(store_path, settings(),
                                            replace(LOOPBACK, port=running.port)):
                    pass
        assert str(raised.value) == (f"port {running.port} is already in use "
                                     f"(127.0.0.1:{running.port})")

    async def test_settings_swap_applies_to_the_next_request(self, store_path: Path) -> None:
        async with receiving(store_path) as running:
            before = await exchange(running.port, raw_request("/miniapps/acme/webhooks", b"{}"))
            assert running.receiver is not None
            running.receiver.settings = settings(definition=make_definition(), strict=True)
            after = await exchange(running.port, raw_request("/miniapps/acme/webhooks", b"{}"))
        assert (before.status, after.status) == (200, 401)

    @pytest.mark.parametrize(("host", "loopback"), [
        ("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True),
        ("0.0.0.0", False), ("::", False), ("192.168.1.10", False)])
    def test_is_loopback(self, host: str, loopback: bool) -> None:
        assert is_loopback(host) is loopback

    def test_bind_socket_reports_the_real_port(self) -> None:
        with bind_socket("127.0.0.1", 0) as sock:
            assert sock.family == socket.AF_INET and sock.getsockname()[1] > 0


class TestInlineHistory:
    """With --strict (answers need the analysis) the dedupe history is the receiver's own."""

    async def test_answers_do_not_wait_for_the_earlier_captures(
            self, store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        import threading

        from whdebug.engine.session import ReplaySession

        body = b'{"event": "deal.won", "id": "evt-9"}'
        with Store.open(store_path) as store:
            earlier = store.insert(Capture(CapturedRequest(
                "POST", "/miniapps/acme/webhooks", body=body,
                headers=(("X-Signature", sign(body)),)), Source(received_at=NOW)))
        gate = threading.Event()
        real_seed = ReplaySession.seed

        def slow_seed(session: ReplaySession, request: CapturedRequest) -> None:
            gate.wait(TIMEOUT)
            real_seed(session, request)

        monkeypatch.setattr(ReplaySession, "seed", slow_seed)
        events: list[CaptureEvent] = []
        receiver_settings = settings(definition=make_definition(), strict=True,
                                     secrets=Secrets({"webhookSecret": SECRET}),
                                     on_capture=events.append)
        async with asgi_client(store_path, receiver_settings) as client:
            first = await client.post("/miniapps/acme/webhooks", content=body,
                                      headers={"X-Signature": sign(body)})
            second = await client.post("/miniapps/acme/webhooks", content=b"{}",
                                       headers={"X-Signature": "00"})
            assert (first.status_code, second.status_code) == (200, 401)
            assert events == []  # answered while the history is still being read
            gate.set()
            await eventually(lambda: len(events) == 2)
        assert [(e.outcome, e.duplicate_of) for e in events] == [
            ("duplicate", earlier), ("rejected", None)]
        assert [e.capture_id for e in events] == [earlier + 1, earlier + 2]

    async def test_a_truncated_capture_still_claims_its_id(self, store_path: Path) -> None:
        """Answered 413 without analysis, it is analysed after the answer, as replay sees it."""
        body = b'{"event": "deal.won", "id": "evt-3"}'
        events: list[CaptureEvent] = []
        receiver_settings = settings(definition=make_definition(verification=None), strict=True,
                                     max_body=len(body), on_capture=events.append)
        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the body is read
            yield body
            yield b" "

        async with asgi_client(store_path, receiver_settings) as client:
            over = await client.post("/miniapps/acme/webhooks", content=chunks())
            again = await client.post("/miniapps/acme/webhooks", content=body)
        assert (over.status_code, again.status_code) == (413, 200)
        assert [e.outcome for e in events] == [None, "duplicate"]
        assert events[1].duplicate_of == int(over.headers[CAPTURE_ID_HEADER])


class TestDeferredAnalysis:
    """`serve --definition` hands analysis to its analyst process when answers allow it."""

    async def test_deferred_captures_skip_inline_analysis(self, store_path: Path) -> None:
        body = b'{"event": "contact.created", "id": "evt-1"}'
        deferred: list[CaptureEvent] = []
        printed: list[CaptureEvent] = []
        receiver_settings = settings(definition=make_definition(),
                                     secrets=Secrets({"webhookSecret": SECRET}),
                                     on_capture=printed.append, defer_analysis=deferred.append)
        async with asgi_client(store_path, receiver_settings) as client:
            response = await client.post("/miniapps/acme/webhooks", content=body,
                                         headers={"X-Signature": sign(body, "wrong-secret")})
        assert response.status_code == 200  # webhook.response: no --strict, no challenge
        assert printed == []
        assert [event.capture_id for event in deferred] == [
            int(response.headers[CAPTURE_ID_HEADER])]
        assert deferred[0].signature is None and deferred[0].outcome is None

    async def test_strict_answers_still_analyse_inline(self, store_path: Path) -> None:
        body = b'{"event": "contact.created", "id": "evt-1"}'
        deferred: list[CaptureEvent] = []
        printed: list[CaptureEvent] = []
        receiver_settings = settings(definition=make_definition(), strict=True,
                                     secrets=Secrets({"webhookSecret": SECRET}),
                                     on_capture=printed.append, defer_analysis=deferred.append)
        async with asgi_client(store_path, receiver_settings) as client:
            response = await client.post("/miniapps/acme/webhooks", content=body,
                                         headers={"X-Signature": sign(body, "wrong-secret")})
        assert response.status_code == 401
        assert deferred == [] and printed[0].outcome == "rejected"

    def test_analyst_completes_and_dedupes_in_order(self, store_path: Path) -> None:
        from whdebug.receiver.analyst import analyst_session, complete

        body = b'{"event": "contact.created", "id": "evt-1"}'
        good = Capture(CapturedRequest("POST", "/miniapps/acme/webhooks", body=body,
                                       headers=(("X-Signature", sign(body)),)),
                       Source(received_at=NOW))
        bad = Capture(CapturedRequest("POST", "/miniapps/acme/webhooks", body=body,
                                      headers=(("X-Signature", sign(body, "x")),)),
                      Source(received_at=NOW))
        with Store.open(store_path) as store:
            ids = store.insert_many([good, bad, good])
            session = analyst_session(make_definition(), Secrets({"webhookSecret": SECRET}),
                                      DEFAULT_OPTIONS, None)
            lines = [complete(i, store, session) for i in ids]
        assert [(e.outcome, e.signature, e.duplicate_of) for e in lines] == [
            ("fires", "pass", None), ("rejected", "fail", None), ("duplicate", "pass", ids[0])]

    def test_a_rejected_line_shows_the_event_it_carries(self, store_path: Path) -> None:
        # `serve --definition` printed "-> 200  sig ✗  rejected" with no event: which
        # delivery failed was only in the TUI ("(contact.created)") or a replay.
        from whdebug.receiver.analyst import analyst_session, complete

        body = b'{"event": "contact.created", "id": "evt-1"}'
        bad = Capture(CapturedRequest("POST", "/miniapps/acme/webhooks", body=body,
                                      headers=(("X-Signature", sign(body, "x")),)),
                      Source(received_at=NOW))
        with Store.open(store_path) as store:
            (capture_id,) = store.insert_many([bad])
            session = analyst_session(make_definition(), Secrets({"webhookSecret": SECRET}),
                                      DEFAULT_OPTIONS, None)
            line = complete(capture_id, store, session)
        assert (line.event, line.event_if_verified, line.outcome) == (
            None, "contact.created", "rejected")
        assert "  (contact.created)  sig ✗  rejected" in format_capture_line(line).plain

    def test_analyst_lines_mask_a_secret_sent_as_the_event(self, store_path: Path) -> None:
        """The line shows the event: a secret there is masked whether the request fires
        (only its event is checked) or not (the whole report is masked)."""
        from whdebug.receiver.analyst import analyst_session, complete

        definition = make_definition(triggers=[{"type": "miniapps:acme", "event": SECRET}])

        def signed(event: str) -> Capture:
            body = json.dumps({"event": event, "id": event}).encode()
            return Capture(CapturedRequest("POST", "/miniapps/acme/webhooks", body=body,
                                           headers=(("X-Signature", sign(body)),)),
                           Source(received_at=NOW))

        with Store.open(store_path) as store:
            wrongly_signed = signed(SECRET)
            wrongly_signed = dataclasses.replace(wrongly_signed, request=dataclasses.replace(
                wrongly_signed.request, headers=(("X-Signature", "00"),)))
            ids = store.insert_many([signed(SECRET), signed(f"{SECRET}.other"),
                                     wrongly_signed])
            session = analyst_session(definition, Secrets({"webhookSecret": SECRET}),
                                      DEFAULT_OPTIONS, None)
            lines = [complete(i, store, session) for i in ids]
        assert [(line.outcome, line.signature) for line in lines] == [
            ("fires", "pass"), ("no-trigger", "pass"), ("rejected", "fail")]
        assert [line.event for line in lines] == ["[masked]", "[masked].other", None]
        assert lines[2].event_if_verified == "[masked]"
        assert SECRET not in format_capture_line(lines[2]).plain
        assert not any(SECRET in trigger for line in lines for trigger in line.triggers)

    def test_lines_and_strict_answers_skip_the_failed_signatures_diagnosis(
            self, store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A line (the analyst's or an inline one) and a --strict answer show only the
        verdict: the search for what would have matched (about 1.1 ms a capture) never
        runs, and the verdict and outcome are those of a diagnosed replay."""
        from whdebug.engine.signatures import verify
        from whdebug.receiver.analyst import analyst_session, complete

        body = b'{"event": "contact.created", "id": "evt-1"}'
        bad = Capture(CapturedRequest("POST", "/miniapps/acme/webhooks", body=body,
                                      headers=(("X-Signature", sign(body, "wrong")),)),
                      Source(received_at=NOW))
        diagnosed = session_module.ReplaySession(
            make_definition(), Secrets({"webhookSecret": SECRET}), now=NOW).replay(bad)
        assert diagnosed.signature.verdict == "fail" and len(diagnosed.signature.attempts) > 1

        class Searched(Exception):
            pass

        def refuse(*args: Any, **kwargs: Any) -> None:
            raise Searched

        monkeypatch.setattr(verify, "DiagnosisSearch", refuse)
        with Store.open(store_path) as store:
            (capture_id,) = store.insert_many([bad])
            session = analyst_session(make_definition(), Secrets({"webhookSecret": SECRET}),
                                      DEFAULT_OPTIONS, None)
            line = complete(capture_id, store, session)
        assert (line.signature, line.outcome, line.error) == (
            diagnosed.signature.verdict, diagnosed.outcome.status, None)
        printed: list[CaptureEvent] = []
        receiver_settings = settings(definition=make_definition(), strict=True,
                                     secrets=Secrets({"webhookSecret": SECRET}),
                                     on_capture=printed.append)

        async def post() -> httpx.Response:
            async with asgi_client(store_path, receiver_settings) as client:
                return await client.post("/miniapps/acme/webhooks", content=body,
                                         headers={"X-Signature": sign(body, "wrong")})

        assert asyncio.run(post()).status_code == 401
        assert [(e.signature, e.outcome, e.error) for e in printed] == [
            ("fail", "rejected", None)]

    def test_analyst_seeds_with_the_captures_before_the_run(self, store_path: Path) -> None:
        from whdebug.receiver.analyst import analyst_session, complete, seed_history

        body = b'{"event": "contact.created", "id": "evt-1"}'
        good = Capture(CapturedRequest("POST", "/miniapps/acme/webhooks", body=body,
                                       headers=(("X-Signature", sign(body)),)),
                       Source(received_at=NOW))
        with Store.open(store_path) as store:
            earlier, live = store.insert_many([good, good])
            session = analyst_session(make_definition(), Secrets({"webhookSecret": SECRET}),
                                      DEFAULT_OPTIONS, None)
            seed_history(session, store, earlier)
            line = complete(live, store, session)
        assert (line.outcome, line.duplicate_of) == ("duplicate", earlier)

    def test_a_batch_read_at_once_gives_the_lines_read_one_by_one(
            self, store_path: Path) -> None:
        """The analyst reads a batch of ids in one query; the lines are those of reading
        each capture alone, a missing id included."""
        import io
        import pickle
        import struct

        from whdebug.receiver import analyst

        body = b'{"event": "contact.created", "id": "evt-1"}'
        signed = Capture(CapturedRequest("POST", "/miniapps/acme/webhooks", body=body,
                                         headers=(("X-Signature", sign(body)),)),
                         Source(received_at=NOW))
        bad = replace(signed, request=replace(signed.request,
                                              headers=(("X-Signature", "00"),)))
        wrong = replace(signed, request=replace(signed.request, path="/elsewhere"))
        with Store.open(store_path) as store:
            ids = store.insert_many([signed, bad, wrong, signed])
        batch = [*ids, ids[-1] + 1]  # the last one is not in the store

        def lines(frames: list[list[int]]) -> list[Any]:
            stream = io.BytesIO()
            for frame in frames:
                data = pickle.dumps(frame)
                stream.write(struct.pack("!I", len(data)) + data)
            stream.write(struct.pack("!I", 0))
            stream.seek(0)
            got: list[Any] = []

            class Sink:
                def lines(self, events: list[Any]) -> None:
                    got.extend(events)

            analyst._run(stream, str(store_path), make_definition().data, None,
                         {"webhookSecret": SECRET}, {}, DEFAULT_OPTIONS, None, Sink(), None)
            return [(e.capture_id, e.method, e.path, e.size, e.response_status, e.wrong_path,
                     e.event, e.signature, e.outcome, e.duplicate_of,
                     (e.error or "")[:22]) for e in got]

        together = lines([batch])
        assert together == lines([[capture_id] for capture_id in batch])
        assert [line[8] for line in together] == [
            "fires", "rejected", None, "duplicate", None]
        assert together[-1][-1].startswith("capture not readable")


def test_the_parser_does_not_depend_on_what_else_is_installed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With uvicorn's "auto", installing httptools swapped the parser and CI answered no 400s:
    the parser is named (httptools, or h11 with WHDEBUG_HTTP_PARSER=h11), never "auto"."""
    from uvicorn.protocols.http.h11_impl import H11Protocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from whdebug.receiver.protocol import H11ReceiverProtocol, ReceiverProtocol
    from whdebug.receiver.server import PARSER_VARIABLE, ServerSettings, uvicorn_config

    def protocol(stock: bool = False) -> Any:
        config = uvicorn_config(lambda *a: None, ServerSettings(host="127.0.0.1", port=0),
                                embedded=True, stock=stock)
        config.load()
        return config.http_protocol_class

    monkeypatch.delenv(PARSER_VARIABLE, raising=False)
    assert protocol() is ReceiverProtocol and issubclass(ReceiverProtocol, HttpToolsProtocol)
    assert protocol(stock=True) is HttpToolsProtocol
    monkeypatch.setenv(PARSER_VARIABLE, "h11")
    assert protocol() is H11ReceiverProtocol and issubclass(H11ReceiverProtocol, H11Protocol)
    assert protocol(stock=True) is H11Protocol


@pytest.mark.parametrize("color_system", ["truecolor", "256", "standard"])
def test_colour_lines_are_what_rich_would_print(color_system: str) -> None:
    """serve's console lines skip rich's layout engine on a terminal; the bytes must not
    change: every style's escape codes, truncation mark, error and id, as rich prints them."""
    from datetime import UTC, datetime

    from rich.text import Text

    from whdebug.cli.output.serve import capture_segments, write_lines

    event = CaptureEvent(capture_id=12, received_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                         method="POST", path="/miniapps/acme/webhooks", query="a=1",
                         size=7000, truncated=True, response_status=401, event="push",
                         signature="fail", outcome="rejected", duplicate_of=None,
                         error="analysis failed: boom")
    other = replace(event, capture_id=None, response_status=None, signature="pass",
                    outcome="fires", truncated=False, error=None)
    lines = [capture_segments(event), capture_segments(other)]
    ours, theirs = (Console(file=io.StringIO(), force_terminal=True, color_system=color_system,
                            width=80) for _ in range(2))  # narrower than the lines
    write_lines(ours, lines)
    theirs.print(Text("\n").join(Text.assemble(*line, no_wrap=True, overflow="ellipsis")
                                 for line in lines), soft_wrap=True, highlight=False)
    printed = ours.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[" in printed and "sig ✗" in printed and "#12" in printed
    assert printed == theirs.file.getvalue()  # type: ignore[attr-defined]
