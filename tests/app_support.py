"""A real app on a loopback port: a Starlette app served by uvicorn in a thread that records
every request it receives and answers with a chosen status, body, headers and delay."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class RecordingApp:
    """What the app answers (change it between requests) and what it received."""

    status: int = 200
    body: bytes = b'{"ok":true}'
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    delay: float = 0.0
    statuses: list[int] = field(default_factory=list)
    """Statuses to answer in turn before falling back to `status` (a flaky app)."""
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def header(self, index: int, name: str) -> str | None:
        return next((value for key, value in self.received[index].headers
                     if key.lower() == name.lower()), None)

    async def _handle(self, request: Request) -> Response:
        self.received.append(Received(
            request.method, request.url.path, request.url.query,
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
            await request.body()))
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.statuses.pop(0) if self.statuses else self.status
        return Response(self.body, status_code=status, headers=self.headers)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def recording_app(**answer: object) -> Iterator[RecordingApp]:
    """Serve a RecordingApp on 127.0.0.1 for the duration of the block."""
    app = RecordingApp(**answer)  # type: ignore[arg-type]
    starlette = Starlette(routes=[Route("/{path:path}", app._handle,
                                        methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(starlette, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the recording app did not start")
        time.sleep(0.01)
    app.url = f"http://127.0.0.1:{port}"
    try:
        yield app
    finally:
        server.should_exit = True
        thread.join(10)
