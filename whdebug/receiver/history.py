"""The inline receiver's dedupe history: one ReplaySession per run, seeded off the event loop.

With `--strict` or challenge handling the answer depends on the analysis, so the receiver
analyses a request before it answers (`ReplaySession.check`, which reads no history: the
runtime answers a duplicate like any delivery). The dedupe verdict only completes the console
line, so it is settled after the capture is committed, in capture-id order:

- the writer resolves a batch of inserts in id order, in one event-loop callback, so requests
  resume, and `reserve` their place in the history, in id order;
- a capture's accepted transaction id may come later (wrong-path and truncated captures are
  answered without analysis and analysed afterwards, so the history holds every capture, as
  `whdebug replay --all` sees them); places settle strictly in order, each once its id and
  every earlier place are known.

Captures already in the store before this run start the history. A thread with its own store
connection seeds the session with them, oldest first, while the receiver serves: answers never
wait for it; lines of the run's first captures wait (in order) until it is done. Captures that
another process writes to the same store during the run are not in this history.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread

from whdebug.engine.session import ReplaySession
from whdebug.store.base import StoreLocation, open_store
from whdebug.store.writer import describe_error

_log = logging.getLogger("whdebug.receiver.app")

Settled = Callable[[str | int | None], None]
"""Called on the event loop with the earlier capture a capture duplicates (or None)."""


@dataclass(slots=True)
class Place:
    """One capture's place in the history, reserved in id order, settled once its id is known."""

    capture_id: int
    transaction_id: str | None = None
    known: bool = False
    then: Settled | None = None


class LiveHistory:
    """The session's history for one receiver run: seeded in a thread, settled on the loop."""

    def __init__(self, session: ReplaySession, store_path: StoreLocation, before: int | None,
                 *, seed_first: bool = True) -> None:
        """Seed with the captures up to id `before` (None: the store held none), or, without
        `seed_first`, with every capture older than the first one reserved."""
        self.session = session
        self._store_path = store_path
        self._before = before
        self._boundary_known = seed_first
        self._places: deque[Place] = deque()
        self._ready = seed_first and before is None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def ready(self) -> bool:
        """The earlier captures are in the history: places settle as soon as they are known."""
        return self._ready

    def start(self) -> None:
        """Start seeding in a thread (call on the event loop; idempotent)."""
        if self._ready or self._thread is not None or not self._boundary_known:
            return
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._seed, name="whdebug-dedupe-seed",
                                        daemon=True)
        self._thread.start()

    def reserve(self, capture_id: int) -> Place:
        """The next capture's place (call right after its commit, so in id order)."""
        if not self._boundary_known:
            self._before, self._boundary_known = capture_id - 1, True
            self._ready = self._before < 1
        place = Place(capture_id)
        self._places.append(place)
        self.start()
        return place

    def resolve(self, place: Place, transaction_id: str | None, then: Settled) -> None:
        """The capture's accepted transaction id is known; `then` gets its verdict in order."""
        place.transaction_id, place.known, place.then = transaction_id, True, then
        self._settle()

    def _settle(self) -> None:
        while self._ready and self._places and self._places[0].known:
            place = self._places.popleft()
            duplicate_of = self.session.settle(place.transaction_id, place.capture_id)
            if place.then is not None:
                try:
                    place.then(duplicate_of)
                except Exception as error:
                    _log.warning("capture callback failed: %s", describe_error(error))

    def _seed(self) -> None:
        """The thread: seed the session with every capture up to `before`, oldest first."""
        problem = None
        try:
            with open_store(self._store_path, create=False) as store:
                for capture_id in store.ids():
                    if self._stop.is_set() or capture_id > (self._before or 0):
                        break
                    try:
                        self.session.seed(store.get(capture_id))
                    except Exception as error:  # one unreadable capture does not stop the rest
                        _log.warning("capture #%d not in the dedupe history: %s", capture_id,
                                     describe_error(error))
        except Exception as error:
            problem = describe_error(error)
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._seeded, problem)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

    def _seeded(self, problem: str | None) -> None:
        if problem is not None:
            _log.warning("earlier captures not in the dedupe history: %s", problem)
        self._ready = True
        self._settle()

    async def aclose(self, timeout: float) -> None:
        """Let seeding finish (bounded), then settle every place whose id is known."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            await anyio.to_thread.run_sync(thread.join, timeout)
            self._stop.set()
            if thread.is_alive():
                await anyio.to_thread.run_sync(thread.join)
        self._ready = True
        self._settle()
        for place in self._places:  # requests cut off by the shutdown: settle what is known
            place.known = True
        self._settle()
