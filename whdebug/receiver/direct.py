"""Plain captures served by the protocol itself, without the ASGI request cycle.

The hot path of `whdebug serve`. For a request whose answer does not need the analysis (no
definition, or `serve --definition` with its analyst process) and that is a plain capture,
ReceiverProtocol (on httptools) does not start an ASGI task: it hands the parsed request
here once its body is whole, and writes the answer it is given. The capture is built from
the same scope by the same `captured`, committed by the same writer (answered only after
its batch is durable), answered with the same bytes and reported to the same sinks as
through `Receiver.capture`; tests/receiver/test_direct.py runs every case both ways.

A plain capture is one the protocol can read whole without flow control and that the app
would not treat specially: not under /_whdebug/, not HEAD, CONNECT or an upgrade, no
`Expect: 100-continue`, no chunked body, a Content-Length (or none: no body) up to
DIRECT_BODY_LIMIT and `--max-body`, room in `--max-inflight`, no X-Forwarded-For or
X-Forwarded-Proto (uvicorn's proxy-headers middleware would rewrite the client), and a
connection whose writes are not paused. Anything else runs through ReceiverApp unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from starlette.types import Scope
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from whdebug.engine.plan import Plan
from whdebug.model.request import Capture, Reply
from whdebug.receiver.app import (
    _OK,
    _OK_REPLY,
    Receiver,
    ReceiverApp,
    ReceiverSettings,
    _Answer,
    _capture_event,
    _configured_answer,
    _defers,
    _error,
    answer_headers,
    wrong_target,
)
from whdebug.receiver.intake import as_utc, captured, disconnected, path_of
from whdebug.store.writer import describe_error

DIRECT_BODY_LIMIT = 65_536
"""Bodies up to this size are served directly: uvicorn's read buffer holds them whole
without pausing the connection (its HIGH_WATER_LIMIT)."""
DIRECT_ATTRIBUTE = "whdebug_direct"
"""The uvicorn.Config attribute caching the server's DirectCaptures (or None)."""

Respond = Callable[[int, list[tuple[bytes, bytes]], bytes], None]
"""Writes one answer: status, headers (after uvicorn's default ones), body."""

_log = logging.getLogger("whdebug.receiver.app")
_MISSING = object()


def direct_captures(config: Any, app: Any) -> DirectCaptures | None:
    """The server's DirectCaptures when it serves a ReceiverApp (found once per config)."""
    found: DirectCaptures | None | object = getattr(config, DIRECT_ATTRIBUTE, _MISSING)
    if found is _MISSING:
        inner = app.app if isinstance(app, ProxyHeadersMiddleware) else app
        found = DirectCaptures(inner.receiver) if isinstance(inner, ReceiverApp) else None
        setattr(config, DIRECT_ATTRIBUTE, found)
    return found if isinstance(found, DirectCaptures) else None


class DirectCaptures:
    """One receiver's direct path: decides per request, keeps the definition's answer."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self._configured: tuple[ReceiverSettings, _Answer | None, Reply | None] | None = None

    def start(self, scope: Scope, announced: int) -> DirectCapture | None:
        """At the start of a plain capture (its head read, `announced` body bytes to come):
        its handle, or None when the app must serve it (the answer needs the analysis, the
        body is over --max-body or the --max-inflight budget, which the app answers)."""
        receiver = self.receiver
        settings = receiver.settings
        definition = settings.plan
        answer, reply = _OK, _OK_REPLY
        if definition is not None:
            if not _defers(settings, definition):
                return None
            answer, reply = self._answer_of(settings, definition)  # type: ignore[assignment]
            if answer is None:
                return None
        if announced > settings.max_body:
            return None
        budget = receiver._budget
        budget.limit = settings.max_inflight
        if not budget.take(announced):
            return None
        return DirectCapture(receiver, settings, definition, answer, reply,
                             as_utc(settings.now()), announced)

    def _answer_of(self, settings: ReceiverSettings, definition: Plan,
                   ) -> tuple[_Answer | None, Reply | None]:
        """The definition's `webhook.response`, built once per settings (None: a status
        uvicorn cannot send, which the app handles)."""
        cached = self._configured
        if cached is None or cached[0] is not settings:
            answer = _configured_answer(definition)
            if answer.status not in STATUS_LINE:
                cached = (settings, None, None)
            else:
                cached = (settings, answer, Reply(answer.status, answer.body))
            self._configured = cached
        return cached[1], cached[2]


class DirectCapture:
    """One plain capture between its head and its answer."""

    __slots__ = ("answer", "announced", "definition", "receiver", "received_at", "reply",
                 "settings")

    def __init__(self, receiver: Receiver, settings: ReceiverSettings, definition: Plan | None,
                 answer: _Answer, reply: Reply, received_at: Any, announced: int) -> None:
        self.receiver = receiver
        self.settings = settings
        self.definition = definition
        self.answer = answer
        """The answer when the body arrives whole (on the webhook path, with a definition)."""
        self.reply = reply
        self.received_at = received_at
        self.announced = announced

    def finish(self, scope: Scope, body: bytes, gone: bool, respond: Respond) -> None:
        """The body is whole (or the client left: `gone`, stored truncated, no answer):
        commit the capture, then answer through `respond` and report it."""
        definition = self.definition
        path = path_of(scope)
        wrong_path = definition is not None and wrong_target(definition, scope["method"], path)
        answer: _Answer | None
        if gone:
            answer, reply = None, None
            capture = captured(scope, body, self.received_at, self.announced, True, None, path)
        else:
            answer, reply = (_OK, _OK_REPLY) if wrong_path else (self.answer, self.reply)
            capture = captured(scope, body, self.received_at, len(body), False, reply, path)
        try:
            self.receiver.writer.insert_then(
                capture, lambda new_id, failure: self._stored(
                    capture, answer, wrong_path, scope, respond, new_id, failure))
        except Exception as error:  # the writer is closed
            self._stored(capture, answer, wrong_path, scope, respond, None, error)

    def _stored(self, capture: Capture, answer: _Answer | None, wrong_path: bool, scope: Scope,
                respond: Respond, capture_id: int | None,
                failure: BaseException | None) -> None:
        """After the commit, as Receiver._store_and_answer does after `writer.insert`."""
        receiver = self.receiver
        note: str | None = None
        if failure is not None:
            _log.warning("capture not stored: %s", describe_error(failure))
            note = f"not stored: {describe_error(failure)}"
            if answer is not None:
                answer = _error(503, f"whdebug could not store the request: {failure}")
        else:
            receiver._count += 1
        if answer is not None and disconnected(scope):
            # The client left while the row was committed: record that nothing was sent.
            if capture_id is not None:
                task = asyncio.get_running_loop().create_task(
                    self._unanswered(capture, capture_id, wrong_path, note))
                _PENDING.add(task)
                task.add_done_callback(_PENDING.discard)
                return
            answer = None
        if answer is not None:
            respond(answer.status, answer_headers(answer, capture_id), answer.body)
        self._report(capture, capture_id, answer, wrong_path, note)

    async def _unanswered(self, capture: Capture, capture_id: int, wrong_path: bool,
                          note: str | None) -> None:
        try:
            await self.receiver._unanswered(capture_id)
        finally:
            self._report(capture, capture_id, None, wrong_path, note)

    def _report(self, capture: Capture, capture_id: int | None, answer: _Answer | None,
                wrong_path: bool, note: str | None) -> None:
        """The relay, the capture's event (to the analyst when it takes them), the budget."""
        receiver, settings, definition = self.receiver, self.settings, self.definition
        try:
            sink = settings.on_capture
            if definition is not None and capture_id is not None and (
                    settings.defer_analysis is not None):
                sink = settings.defer_analysis
            if settings.forward_to and capture_id is not None and answer is not None:
                receiver._relay.send(capture_id, capture.request, settings.forward_to,
                                     settings.on_forward)
            if sink is not None:
                receiver._notify(sink, _capture_event(capture, capture_id, answer, definition,
                                                      None, wrong_path, note))
        finally:
            receiver._budget.release(self.announced)


_PENDING: set[asyncio.Task[None]] = set()
"""Tasks recording that an answer was not sent (kept referenced until done)."""
