"""The capture receiver: a Starlette app that commits every request's exact bytes, then answers.

When the answer depends on the analysis (`strict`, challenge handling, or no analyst to defer
to), each request is analysed before its answer with the run's ReplaySession, and its dedupe
verdict is settled after the commit by `LiveHistory` (see whdebug.receiver.history): seeded
with the captures already in the store, off the request path, so answers never wait for it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from whdebug.engine import AnalysisOptions, Report
from whdebug.engine.analyze import DEFAULT_OPTIONS
from whdebug.engine.plan import Plan, compile_definition
from whdebug.engine.session import ReplaySession, accepted_transaction
from whdebug.model.definition import Definition
from whdebug.model.records import fast_init
from whdebug.model.request import Capture, CapturedRequest, Reply, Secrets
from whdebug.receiver.history import LiveHistory, Place
from whdebug.receiver.intake import (
    DEFAULT_MAX_INFLIGHT,
    BodyBudget,
    Intake,
    as_utc,
    disconnected,
    receive_request,
)
from whdebug.receiver.relay import ForwardEvent, Relay
from whdebug.store.base import CaptureStore, open_store
from whdebug.store.writer import CaptureWriter, describe_error

DEFAULT_MAX_BODY = 26_214_400
"""25 MiB: bodies above this are answered 413 and stored truncated."""
CAPTURE_ID_HEADER = "x-whdebug-capture-id"
"""Response header naming the stored capture, so a sender can find its row."""
INLINE_ANALYSIS_LIMIT = 65_536
"""Bodies up to this size are analysed on the event loop; larger ones in a worker thread."""
HISTORY_STOP_TIMEOUT = 15.0
"""Seconds shutdown waits for the dedupe history's seeding, so queued lines get verdicts."""
_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"

_log = logging.getLogger("whdebug.receiver.app")
T = TypeVar("T")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ReceiverSettings:
    """How the receiver analyses, answers and relays; the same for every request."""

    definition: Definition | None = None
    secrets: Secrets = field(default_factory=Secrets)
    strict: bool = False
    """Answer 401 when signature verification fails, as the runtime would."""
    max_body: int = DEFAULT_MAX_BODY
    max_inflight: int = DEFAULT_MAX_INFLIGHT
    """Request bodies buffered at once, over all requests; beyond it, answer 503."""
    forward_to: str | None = None
    """Relay each capture's exact bytes to this URL (the query string is appended)."""
    on_capture: Callable[[CaptureEvent], None] | None = None
    """Called on the event loop after each capture is stored and answered."""
    on_forward: Callable[[ForwardEvent], None] | None = None
    """Called on the event loop when a --forward-to relay finished or failed."""
    now: Callable[[], datetime] = _utc_now
    """The clock stamping `received_at` (injected in tests)."""
    options: AnalysisOptions = DEFAULT_OPTIONS
    analysis_now: datetime | None = None
    """`--now`: judge timestamps against this time instead of each request's arrival."""
    defer_analysis: Callable[[CaptureEvent], None] | None = None
    """When set, and the answer does not depend on the analysis (no `strict`, no challenge
    handling), stored captures go here instead of being analysed before the answer; this
    callback then owns the capture's `on_capture` line."""
    dedupe: bool = True
    """Judge each inline-analysed capture against every earlier one for `on_capture`
    (`duplicate_of`); a face that shows its own verdicts (the TUI) turns it off."""
    plan: Plan | None = field(init=False, default=None)
    """`definition` compiled once, for every request these settings serve."""

    def __post_init__(self) -> None:
        plan = compile_definition(self.definition) if self.definition is not None else None
        object.__setattr__(self, "plan", plan)


def undiagnosed(options: AnalysisOptions) -> AnalysisOptions:
    """`options` without the diagnosis of a failed signature (which scheme, secret or body
    would have matched): a capture's line and answer need only the verdict, and the search
    took about 1.1 ms per capture against 50 us for the rest of the analysis."""
    return replace(options, diagnose=False) if options.diagnose else options


@fast_init
@dataclass(frozen=True, slots=True)
class CaptureEvent:
    """One arrival as the console line and the TUI show it."""

    capture_id: int | None
    """None when the store refused the row (the request was answered 503)."""
    received_at: datetime
    method: str
    path: str
    query: str
    size: int
    truncated: bool
    response_status: int | None
    """None when the client disconnected before an answer could be sent."""
    wrong_path: bool = False
    """A definition is loaded and this is not `POST /miniapps/{ns}/webhooks`."""
    expected_path: str | None = None
    event: str | None = None
    event_if_verified: str | None = None
    """A rejected request's event: the one it carries once its signature verifies."""
    signature: str | None = None
    """pass | fail | skipped; None without a definition or analysis."""
    outcome: str | None = None
    """The report's outcome status (or `duplicate` against an earlier capture in the store)."""
    triggers: tuple[str, ...] = ()
    duplicate_of: int | str | None = None
    error: str | None = None
    """Why the capture was not stored, or why analysis failed."""

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[bytes, bytes], ...] = ()


def answer_headers(answer: _Answer, capture_id: int | None) -> list[tuple[bytes, bytes]]:
    """The headers of an answer, in the order they are sent."""
    headers = [(b"content-type", answer.content_type.encode("latin-1")),
               (b"content-length", str(len(answer.body)).encode("ascii"))]
    if capture_id is not None:
        headers.append((_CAPTURE_ID, str(capture_id).encode("ascii")))
    headers += answer.headers
    return headers


_CAPTURE_ID = CAPTURE_ID_HEADER.encode("ascii")


async def _send(send: Send, answer: _Answer, capture_id: int | None) -> None:
    headers = answer_headers(answer, capture_id)
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _error(status: int, message: str) -> _Answer:
    return _Answer(status, _json_bytes({"error": message}), _JSON)


_OK = _Answer(200, _json_bytes({"ok": True}), _JSON)
_OK_REPLY = Reply(_OK.status, _OK.body)


def _cut_answer(intake: Intake, settings: ReceiverSettings) -> _Answer | None:
    """The answer to a request whose body was not read whole, or to CONNECT (not a proxy)."""
    kept = (f"whdebug stored the headers and the first {intake.kept} body bytes"
            if intake.kept else "whdebug stored the headers and 0 body bytes")
    if intake.over:
        size = intake.capture.request.size
        announced = f" of {size} bytes" if intake.kept == 0 and size else ""
        return _error(413, f"body{announced} exceeds the receiver's --max-body "
                           f"({settings.max_body} bytes); {kept}")
    if intake.busy:
        return _Answer(503, _json_bytes({"error": (
            f"whdebug is holding too many request bodies at once (--max-inflight "
            f"{settings.max_inflight} bytes); {kept}; retry later")}), _JSON,
            ((b"retry-after", b"1"),))
    if intake.capture.request.method == "CONNECT":
        return _Answer(405, _json_bytes({"error": "CONNECT is not supported: whdebug receives "
                                                  "webhooks, it is not a proxy"}), _JSON,
                       ((b"allow", b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),))
    return None


def _configured_answer(definition: Plan) -> _Answer:
    """`webhook.response`: a string body is sent as text, anything else as JSON."""
    status, body = definition.response.status, definition.response.body
    if isinstance(body, str):
        return _Answer(status, body.encode("utf-8"), _TEXT)
    return _Answer(status, _json_bytes(body), _JSON)


def _challenge_answer(report: Report) -> _Answer:
    token = report.challenge.response_body
    if token is None:
        return _error(report.outcome.http_status, report.outcome.summary)
    try:
        json.loads(token)
    except ValueError:
        return _Answer(200, token.encode("utf-8"), _TEXT)
    return _Answer(200, token.encode("utf-8"), _JSON)


def _answer(definition: Plan, report: Report | None, strict: bool,
            wrong_path: bool) -> _Answer:
    """What the runtime would send; a wrong path gets a plain 200 (it would never get here)."""
    if wrong_path:
        return _OK
    if report is not None and report.challenge.detected:
        return _challenge_answer(report)
    if strict and report is not None and report.signature.verdict == "fail":
        return _error(401, "signature verification failed")
    return _configured_answer(definition)


def _is_wrong_path(definition: Plan, request: CapturedRequest) -> bool:
    return wrong_target(definition, request.method, request.path)


def wrong_target(definition: Plan, method: str, path: str) -> bool:
    """A definition is loaded and this is not `POST /miniapps/{ns}/webhooks`."""
    expected = definition.webhook_path
    if expected is None:
        return False
    return method.upper() != "POST" or path.rstrip("/") != expected


def _capture_event(capture: Capture, capture_id: int | None, answer: _Answer | None,
                   definition: Plan | None, report: Report | None, wrong_path: bool,
                   note: str | None) -> CaptureEvent:
    request, received_at = capture.request, capture.source.received_at
    assert received_at is not None
    return CaptureEvent(
        capture_id=capture_id,
        received_at=received_at,
        method=request.method,
        path=request.path,
        query=request.query,
        size=request.size,
        truncated=request.truncated,
        response_status=None if answer is None else answer.status,
        wrong_path=wrong_path,
        expected_path=definition.webhook_path if definition else None,
        event=report.event.value if report else None,
        event_if_verified=event_if_verified(report),
        signature=report.signature.verdict if report else None,
        outcome=report.outcome.status if report else None,
        triggers=report.outcome.triggers if report else (),
        error=note,
    )


def event_if_verified(report: Report | None) -> str | None:
    """A rejected request's event once its signature verifies (None for any other)."""
    if_verified = report.outcome.if_verified if report is not None else None
    return if_verified.get("event") if if_verified else None


def _as_duplicate(event: CaptureEvent, duplicate_of: int | str | None) -> CaptureEvent:
    """The line of a capture the runtime drops as a duplicate of an earlier one."""
    if duplicate_of is None or event.outcome is None or event.wrong_path:
        return event
    return replace(event, outcome="duplicate", triggers=(), duplicate_of=duplicate_of)


def _defers(settings: ReceiverSettings, definition: Plan) -> bool:
    """The answer does not need the analysis, and a `defer_analysis` callback takes it."""
    return settings.defer_analysis is not None and not settings.strict and (
        definition.challenge is None)


class Receiver:
    """State shared by every request of one app: settings, the writer, dedupe, relays."""

    def __init__(self, writer: CaptureWriter, settings: ReceiverSettings) -> None:
        self.writer = writer
        self.settings = settings
        """Replace to reconfigure (e.g. an edited definition); read once per request."""
        self._before_run = writer.store.latest_id()
        """The newest capture before this run: the dedupe history starts with those."""
        self._inline: tuple[ReceiverSettings, ReplaySession, LiveHistory | None] | None = None
        self._relay = Relay(writer)
        self._budget = BodyBudget(settings.max_inflight)
        self._count = writer.store.count()
        """Rows in the store: those before the run plus this receiver's, for the health check
        (which must answer while the writer waits on a locked store)."""

    def _session(self, settings: ReceiverSettings) -> tuple[ReplaySession, LiveHistory | None]:
        """The run's session (and dedupe history) for these settings; new settings start anew,
        with every capture older than the first one they settle."""
        current = self._inline
        if current is None or current[0] is not settings:
            assert settings.definition is not None
            pinned, clock = settings.analysis_now, settings.now
            session = ReplaySession(
                settings.definition, settings.secrets, options=undiagnosed(settings.options),
                now=lambda capture: pinned or capture.source.received_at or clock())
            history = None
            if settings.dedupe:
                history = LiveHistory(session, self.writer.store.path, self._before_run,
                                      seed_first=current is None)
            current = self._inline = (settings, session, history)
        return current[1], current[2]

    def start(self) -> None:
        """At startup: begin seeding the dedupe history when answers need the analysis."""
        settings = self.settings
        if settings.plan is not None and not _defers(settings, settings.plan):
            history = self._session(settings)[1]
            if history is not None:
                history.start()

    async def capture(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI app for every path outside /_whdebug: store, then answer."""
        if scope["type"] != "http":
            return
        settings = self.settings
        definition = settings.plan
        budget = self._budget
        budget.limit = settings.max_inflight
        intake = await receive_request(
            scope, receive, received_at=as_utc(settings.now()), max_body=settings.max_body,
            budget=budget, reply=_OK_REPLY if definition is None else None)
        try:
            await self._store_and_answer(scope, send, settings, definition, intake)
        finally:
            budget.release(intake.held)

    async def _store_and_answer(self, scope: Scope, send: Send, settings: ReceiverSettings,
                                definition: Plan | None, intake: Intake) -> None:
        capture = intake.capture
        report: Report | None = None
        note: str | None = None
        deferred = definition is not None and _defers(settings, definition)
        session, history = (None, None) if definition is None or deferred else (
            self._session(settings))
        wrong_path = definition is not None and _is_wrong_path(definition, capture.request)
        answer = _cut_answer(intake, settings)
        if intake.gone:
            answer = None
        elif answer is not None:
            pass
        elif definition is None:
            answer = _OK
        elif session is None:
            answer = _OK if wrong_path else _configured_answer(definition)
        else:
            report, note = await self._analyze(capture, session)
            answer = _answer(definition, report, settings.strict, wrong_path)
        if answer is not None and (capture.reply is None or answer is not _OK):
            capture = replace(capture, reply=Reply(answer.status, answer.body))

        try:
            capture_id: int | None = await self.writer.insert(capture)
        except Exception as error:  # a full disk or locked store must not take the server down
            _log.warning("capture not stored: %s", describe_error(error))
            capture_id, note = None, f"not stored: {describe_error(error)}"
            if answer is not None:
                answer = _error(503, f"whdebug could not store the request: {error}")
        else:
            self._count += 1
        place = (history.reserve(capture_id)
                 if history is not None and capture_id is not None else None)
        if answer is not None and disconnected(scope):
            # The client left while the row was committed: record that nothing was sent.
            answer = None
            if capture_id is not None:
                await self._unanswered(capture_id)
        if answer is not None:
            await _send(send, answer, capture_id)

        event_sink = settings.on_capture
        if deferred and capture_id is not None and settings.defer_analysis is not None:
            event_sink = settings.defer_analysis
        event = _capture_event(capture, capture_id, answer, definition, report, wrong_path, note)
        if settings.forward_to and capture_id is not None and answer is not None:
            self._relay.send(capture_id, capture.request, settings.forward_to, settings.on_forward)
        if place is not None and history is not None and session is not None:
            analysed = report is not None or note is not None
            await self._settle(place, history, session, capture, report, analysed, event,
                               event_sink)
        elif event_sink is not None:
            self._notify(event_sink, event)

    async def _settle(self, place: Place, history: LiveHistory, session: ReplaySession,
                      capture: Capture, report: Report | None, analysed: bool,
                      event: CaptureEvent, sink: Callable[[CaptureEvent], None] | None) -> None:
        """Enter the capture into the history; its line is reported once it is settled.

        A capture answered without analysis (over --max-body, client gone) is analysed now,
        after its answer, so the history holds every capture in the store.
        """
        transaction_id = None
        try:
            if not analysed:
                report, _ = await self._analyze(capture, session)
            transaction_id = accepted_transaction(report) if report is not None else None
        finally:
            def settled(duplicate_of: str | int | None) -> None:
                if sink is not None:
                    self._notify(sink, _as_duplicate(event, duplicate_of))

            history.resolve(place, transaction_id, settled)

    async def _analyze(self, capture: Capture,
                       session: ReplaySession) -> tuple[Report | None, str | None]:
        """The engine's report (no dedupe yet), or why it failed (never failing the capture)."""
        request = capture.request
        try:
            if len(request.body) <= INLINE_ANALYSIS_LIMIT:
                return session.check(capture), None
            return await anyio.to_thread.run_sync(session.check, capture), None
        except Exception as error:
            _log.warning("analysis failed for %s %s: %s", request.method, request.path,
                         describe_error(error))
            return None, f"analysis failed: {describe_error(error)}"

    def _notify(self, on_capture: Callable[[CaptureEvent], None], event: CaptureEvent) -> None:
        try:
            on_capture(event)
        except Exception as error:
            _log.warning("capture callback failed: %s", describe_error(error))

    async def _unanswered(self, capture_id: int) -> None:
        try:
            await self.writer.call(lambda store: store.set_response(capture_id, None, None))
        except Exception as error:
            _log.warning("capture #%d: answer not recorded as unsent: %s", capture_id,
                         describe_error(error))

    async def health(self, request: Request) -> JSONResponse:
        """Answered from memory: never waits on the store or its writer."""
        return JSONResponse({"status": "ok", "captures": self._count})

    async def aclose(self, timeout: float = 5.0) -> None:
        """Finish pending relays (bounded), then commit what is queued and stop the writer."""
        await self._relay.aclose(timeout)
        history = self._inline[2] if self._inline is not None else None
        if history is not None:
            await history.aclose(HISTORY_STOP_TIMEOUT)
        await self.writer.aclose()


async def _reserved(scope: Scope, receive: Receive, send: Send) -> None:
    """Anything else under /_whdebug/ is not captured."""
    response = JSONResponse({"error": "reserved for whdebug"}, status_code=404)
    await response(scope, receive, send)


class ReceiverApp(Starlette):
    """Starlette for /_whdebug and the lifespan; every other request goes straight to capture.

    Captures skip routing and the error middlewares: it is the hot path, and `capture`
    handles its own failures (uvicorn answers 500 for anything that still escapes).
    """

    def __init__(self, receiver: Receiver) -> None:
        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            receiver.start()
            try:
                yield
            finally:
                await receiver.aclose()

        super().__init__(
            routes=[
                Route("/_whdebug/health", receiver.health, methods=["GET"]),
                Mount("/_whdebug", app=_reserved),
            ],
            lifespan=lifespan,
        )
        self.receiver = receiver
        self.state.receiver = receiver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_whdebug/"):
            await self.receiver.capture(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(store: CaptureStore | str | Path, settings: ReceiverSettings) -> ReceiverApp:
    """The receiver app; a path opens (and at shutdown closes) its own Store, now.

    `app.receiver` is the Receiver (swap `.settings` to reconfigure). Its writer thread
    starts with the first request and stops at lifespan shutdown.
    """
    owned = isinstance(store, str | Path)
    opened = open_store(store) if isinstance(store, str | Path) else store
    return ReceiverApp(Receiver(CaptureWriter(opened, close_store=owned), settings))
