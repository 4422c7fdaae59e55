"""Group commit: one thread owns the capture store and commits waiting inserts together."""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import anyio.to_thread

from whdebug.errors import StoreError
from whdebug.model.request import Capture
from whdebug.store.base import CaptureStore as Store
from whdebug.store.base import display_location

T = TypeVar("T")
_log = logging.getLogger("whdebug.receiver.app")


def describe_error(error: BaseException) -> str:
    """`Type: message`, or just the type when the message is empty."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


CHECKPOINT_COMMITS = 64
"""Commits on the loop between two checkpoints at most (see _Checkpointer)."""
CHECKPOINT_BYTES = 8 * 1024 * 1024
"""Body bytes committed on the loop between two checkpoints at most."""
REWIND_FRAMES = 1000
"""WAL frames (pages) a passive checkpoint may leave behind before the loop copies the rest
itself, so that the WAL starts over (SQLite's own autocheckpoint threshold)."""
REWIND_WAIT = 0.5
"""Seconds the checkpointer waits for a commit to take its `rewind` before it copies the
rest itself (a burst that ended leaves nothing behind in the WAL for long)."""


class _Checkpointer:
    """Copies an SQLite store's WAL back into its database file on its own thread and
    connection, so that the event loop, which commits the batches, never does it.

    SQLite checkpoints inside the commit that crosses `wal_autocheckpoint` (1000 pages):
    it copies some 16 MB into the database file and syncs both files, and the loop stood
    still meanwhile: under the bench's load, 1 commit in 40 took 5 to 55 ms, 28% of the
    loop's commit time, and that was serve's p99 latency. With the loop's connection set to
    `wal_autocheckpoint = 0`, this thread runs `wal_checkpoint(PASSIVE)` (which never blocks
    a writer) after every CHECKPOINT_COMMITS commits or CHECKPOINT_BYTES of bodies.
    Durability is SQLite's own either way: a committed row is in the WAL.

    A passive checkpoint alone never let the WAL start over under a steady load: SQLite
    rewinds the WAL only when a write begins with every frame copied back, and the loop
    committed more frames while each checkpoint ran. The WAL grew by the whole load (296 MB
    for 40,000 captures of 2 kB) and every commit wrote into new file pages. So when this
    thread's checkpoint leaves more than REWIND_FRAMES frames in the WAL, it sets `rewind`,
    and the loop (or the writer thread) checkpoints, once, before its next commit: a copy of
    the few commits made meanwhile and two flushes, about once per 2,000 captures of 2 KB.
    (A FULL checkpoint from this thread instead seldom got the write lock between the
    loop's back-to-back commits.) That commit then starts the WAL over, unless a reader
    still reads from it; if one does, the next round tries again. Until the committer has
    tried, this thread starts no checkpoint of its own, which would make that one busy,
    except when no commit comes within REWIND_WAIT: then it copies the rest itself, and
    the next commit, whenever it comes, starts the WAL over.
    """

    def __init__(self, path: Any) -> None:
        self._path = path
        self._wake = threading.Event()
        self._stopping = False
        self.commits = 0
        self.bytes = 0
        self.rewind = False
        """Set here, taken by the loop: checkpoint the rest before the next commit."""
        self._thread = threading.Thread(target=self._run, name="whdebug-wal-checkpoint",
                                        daemon=True)
        self._thread.start()

    def committed(self, rows: int, size: int) -> None:
        self.commits += 1
        self.bytes += size
        if self.rewind:  # the committer checkpoints next: this thread keeps out of its way
            return
        if self.commits >= CHECKPOINT_COMMITS or self.bytes >= CHECKPOINT_BYTES:
            self.commits = self.bytes = 0
            self._wake.set()

    def before_commit(self, connection: sqlite3.Connection) -> None:
        """Called by the committer, on the store's connection, before each commit: when
        `rewind` is set, copy the frames committed since this thread's last checkpoint, so
        that this commit starts the WAL over. Tried once each time this thread asks: a
        reader holding frames must not make every commit checkpoint."""
        if self.rewind:
            self.rewind = False
            _rewind(connection)

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(
                f"file:{quote(str(self._path.absolute()))}?mode=rw", uri=True,
                isolation_level=None)
        except sqlite3.Error as error:
            _log.warning("WAL checkpoints stay in the commits: %s", describe_error(error))
            return
        try:
            while True:
                asked = self._wake.wait(REWIND_WAIT if self.rewind else None)
                self._wake.clear()
                if self._stopping:
                    return
                if not asked:  # no commit came to take the rewind: copy the rest here
                    self.rewind = False
                try:
                    (_, frames, _) = connection.execute(
                        "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    # Commits during this checkpoint left frames behind it (an idle WAL
                    # is all copied now, and the next commit starts it over by itself).
                    if asked and frames > REWIND_FRAMES:
                        self._wake.clear()  # the committer's checkpoint goes first
                        self.rewind = True
                except sqlite3.Error as error:  # the next one tries again
                    _log.warning("WAL checkpoint failed: %s", describe_error(error))
        finally:
            connection.close()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(5.0)


@dataclass(slots=True)
class _Job:
    """One store operation from one request: an insert (grouped) or any other call."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any] | None
    """Resolved with the outcome (None when `then` takes it instead)."""
    capture: Capture | None = None
    call: Callable[[Store], Any] | None = None
    then: Callable[[Any, BaseException | None], None] | None = None
    """Called on the loop with (id, None) or (None, error), without a future's callback."""


class CaptureWriter:
    """The one thread that owns the Store; inserts waiting together commit in one transaction.

    While a batch commits, new requests queue up and form the next batch, so the number of
    commits per second stays bounded while every request still awaits its own durable row.
    The jobs one event loop turn submits reach the thread together, in one hand-over: the
    thread wakes (and takes the GIL from the loop) once per turn, not once per request.
    When the thread is idle and a turn brought only inserts into an SQLite store, the loop
    commits them itself, without waiting for any lock (see `_commit_now`): no thread
    hand-off at all. A store locked by another process makes that attempt fail at once,
    and the batch goes to the thread, which waits for the lock while the loop serves on.
    A store that commits on an event loop (`insert_many_async`: PostgreSQL) gets its inserts
    from the loop directly (see `_commit_on_loop`); the thread keeps every other call.
    """

    def __init__(self, store: Store, *, close_store: bool, max_batch: int = 256) -> None:
        self.store = store
        self._close_store = close_store
        self._max_batch = max_batch
        self._jobs: queue.SimpleQueue[list[_Job] | None] = queue.SimpleQueue()
        self._pending: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        """Jobs submitted during the current turn of each loop, not yet handed over."""
        self._queued = 0
        """Hand-overs the thread has not finished with (0: the thread is idle)."""
        self._waits: int | None = None
        """The store's busy timeout (ms) while the loop has set it to 0, else None."""
        self._checkpointer: _Checkpointer | None = None
        self._autocheckpoint: int | None = None
        """The connection's `wal_autocheckpoint` before the checkpointer took over."""
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._on_loop: list[_Job] = []
        """Inserts waiting for the loop's next batch (a store with `insert_many_async`)."""
        self._loop_task: asyncio.Task[None] | None = None
        """The task committing `_on_loop` batches one after another (None: idle)."""
        self._store_loop: asyncio.AbstractEventLoop | None = None
        """The loop whose batches the store commits itself (its async connection's)."""

    async def insert(self, capture: Capture) -> int:
        """Commit one capture (with whatever else is waiting); its id once durable."""
        future = self._submit(capture=capture)
        assert future is not None
        result: int = await future
        return result

    def insert_then(self, capture: Capture,
                    then: Callable[[int | None, BaseException | None], None]) -> None:
        """`insert` for a caller without a coroutine: `then(id, None)` once the capture's
        batch is durable, or `then(None, error)`, called on the event loop (straight after
        the commit, with no future in between). Call on the event loop."""
        self._submit(capture=capture, then=then)

    async def call(self, operation: Callable[[Store], T]) -> T:
        """Run any store operation on the writer thread, after inserts already queued."""
        future = self._submit(call=operation)
        assert future is not None
        result: T = await future
        return result

    def _submit(self, **work: Any) -> asyncio.Future[Any] | None:
        """Queue one job for this loop turn's hand-over; its future (None with `then`)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future() if work.get("then") is None else None
        with self._lock:
            if self._closed:
                raise StoreError("capture store is closed", display_location(self.store.path))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="whdebug-capture-writer", daemon=True
                )
                self._thread.start()
            pending = self._pending.get(loop)
            if pending is None:
                pending = self._pending[loop] = []
                loop.call_soon(self._hand_over, loop)
            pending.append(_Job(loop, future, **work))
        return future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        """End of a loop turn: its jobs are committed now, or go to the thread as one item."""
        with self._lock:
            jobs = self._pending.pop(loop, None)
            if not jobs:
                return
            settled = None
            if self._queued == 0 and not self._closed:
                if self._commit_on_loop(jobs, loop):
                    return
                settled = self._commit_now(jobs)
            if settled is None:
                self._queued += 1
                self._jobs.put(jobs)
                return
        _settle(settled)  # outside the lock: a `then` may submit the next request's insert

    def _commit_on_loop(self, jobs: list[_Job], loop: asyncio.AbstractEventLoop) -> bool:
        """Hand inserts to the loop's own batches when the store commits on an event loop
        (PostgreSQL: `insert_many_async`); whether it took them. While a batch is in flight,
        the next one gathers, as on the thread, but no thread waits for the GIL to send it
        or to wake the loop with its outcome."""
        if getattr(self.store, "insert_many_async", None) is None or any(
                job.capture is None for job in jobs) or self._store_loop not in (None, loop):
            return False
        self._store_loop = loop
        self._on_loop += jobs
        if self._loop_task is None:
            self._loop_task = loop.create_task(self._commit_batches())
        return True

    async def _commit_batches(self) -> None:
        """Commit `_on_loop` one batch at a time until it is empty."""
        store: Any = self.store
        try:
            while self._on_loop:
                batch = self._on_loop[:self._max_batch]
                del self._on_loop[:len(batch)]
                settled: list[tuple[_Job, Any, BaseException | None]]
                try:
                    ids = await store.insert_many_async([job.capture for job in batch])
                except Exception as error:  # every request of the batch is answered 503
                    settled = [(job, None, error) for job in batch]
                else:
                    settled = [(job, new_id, None)
                               for job, new_id in zip(batch, ids, strict=True)]
                _settle(settled)
        finally:
            self._loop_task = None

    def _commit_now(self, jobs: list[_Job]) -> list[tuple[_Job, Any, BaseException | None]] | None:
        """Commit inserts on the loop when the store can say at once that it is locked
        (SQLite: busy timeout 0); their outcomes, or None (nothing written) when it cannot or
        is locked."""
        connection = getattr(self.store, "_connection", None)
        if not isinstance(connection, sqlite3.Connection) or any(
                job.capture is None for job in jobs):
            return None
        try:
            if self._waits is None:  # the timeout stays 0 until the thread needs it again
                (synchronous,) = connection.execute("PRAGMA synchronous").fetchone()
                if int(synchronous) >= 2:  # FULL fsyncs every commit: never on the loop
                    return None
                (waits,) = connection.execute("PRAGMA busy_timeout").fetchone()
                connection.execute("PRAGMA busy_timeout = 0")
                self._waits = int(waits)
                if self._checkpointer is None:
                    self._take_checkpoints(connection)
            if self._checkpointer is not None:
                self._checkpointer.before_commit(connection)
            ids = self.store.insert_many(job.capture for job in jobs if job.capture)
        except Exception as error:
            if "locked" in str(error):  # the thread waits for the lock, the loop serves on
                return None
            return [(job, None, error) for job in jobs]  # as the thread would: 503s
        if self._checkpointer is not None:
            self._checkpointer.committed(len(jobs), _body_bytes(jobs))
        return [(job, new_id, None) for job, new_id in zip(jobs, ids, strict=True)]

    def _take_checkpoints(self, connection: sqlite3.Connection) -> None:
        """Move the WAL checkpoints out of the loop's commits (see _Checkpointer)."""
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() != "wal":
            return
        (pages,) = connection.execute("PRAGMA wal_autocheckpoint").fetchone()
        if int(pages) <= 0:
            return
        self._checkpointer = _Checkpointer(self.store.path)
        connection.execute("PRAGMA wal_autocheckpoint = 0")
        self._autocheckpoint = int(pages)

    def _give_back_checkpoints(self) -> None:
        """At close: stop the checkpointer; the store's connection checkpoints as before."""
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is None:
            return
        checkpointer.stop()
        connection = getattr(self.store, "_connection", None)
        if isinstance(connection, sqlite3.Connection) and self._autocheckpoint is not None:
            try:
                connection.execute(f"PRAGMA wal_autocheckpoint = {self._autocheckpoint}")
            except sqlite3.Error:  # closing anyway
                pass

    async def aclose(self) -> None:
        """Commit what is queued, stop the thread, and close the store if we own it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        task = self._loop_task
        if task is not None:  # the loop's batches commit before the thread's last ones
            await asyncio.shield(task)
        closer = getattr(self.store, "close_async", None)
        if closer is not None and self._store_loop is asyncio.get_running_loop():
            await closer()
        with self._lock:
            thread = self._thread
            for jobs in self._pending.values():  # submitted in this very turn
                self._jobs.put(jobs)
            self._pending.clear()
        if thread is None:
            self._give_back_checkpoints()
            if self._close_store:
                self.store.close()
            return
        self._jobs.put(None)
        await anyio.to_thread.run_sync(thread.join)
        self._give_back_checkpoints()

    def _run(self) -> None:
        try:
            self._drain()
        except BaseException as error:  # a bug here must not leave requests waiting forever
            _log.error("capture writer stopped: %s", describe_error(error))
            with self._lock:
                self._closed = True
            failure = StoreError(f"capture writer stopped: {error}",
                                 display_location(self.store.path))
            stranded: list[tuple[_Job, Any, BaseException | None]] = []
            with self._lock:
                leftovers = [*self._pending.values()]
                self._pending.clear()
            while not self._jobs.empty():
                jobs = self._jobs.get_nowait()
                if jobs is not None:
                    leftovers.append(jobs)
            stranded += [(job, None, failure) for jobs in leftovers for job in jobs]
            _wake(stranded)
        finally:
            if self._close_store:
                self._give_back_checkpoints()
                self.store.close()

    def _drain(self) -> None:
        """Take whatever is queued as one batch, commit it, repeat until the stop marker."""
        while True:
            first = self._jobs.get()
            if first is None:
                return
            batch = list(first)
            taken, stop = 1, False
            while len(batch) < self._max_batch:
                try:
                    jobs = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if jobs is None:
                    stop = True
                    break
                batch += jobs
                taken += 1
            self._process(batch)
            with self._lock:
                self._queued = 0 if stop else max(0, self._queued - taken)
            if stop:
                return

    def _process(self, batch: list[_Job]) -> None:
        if self._waits is not None:  # the thread waits for a lock as the store was opened
            connection = getattr(self.store, "_connection", None)
            if isinstance(connection, sqlite3.Connection):
                try:
                    connection.execute(f"PRAGMA busy_timeout = {self._waits}")
                except sqlite3.Error:
                    pass
            self._waits = None
        settled: list[tuple[_Job, Any, BaseException | None]] = []
        inserts = [job for job in batch if job.capture is not None]
        if inserts:
            connection = getattr(self.store, "_connection", None)
            if self._checkpointer is not None and isinstance(connection, sqlite3.Connection):
                self._checkpointer.before_commit(connection)  # no commit on the loop meanwhile
            try:
                ids = self.store.insert_many(job.capture for job in inserts if job.capture)
            except Exception as error:  # every request of the batch is answered 503
                settled += [(job, None, error) for job in inserts]
            else:
                settled += [(job, new_id, None) for job, new_id in zip(inserts, ids, strict=True)]
                checkpointer = self._checkpointer
                if checkpointer is not None:
                    checkpointer.committed(len(inserts), _body_bytes(inserts))
        # Other calls (set_forward, count) only ever concern rows committed earlier.
        for job in batch:
            if job.call is not None:
                try:
                    settled.append((job, job.call(self.store), None))
                except Exception as error:
                    settled.append((job, None, error))
        _wake(settled)


def _rewind(connection: sqlite3.Connection) -> None:
    """One passive checkpoint on the committer's connection (see _Checkpointer)."""
    try:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error as error:
        _log.warning("WAL checkpoint failed: %s", describe_error(error))


def _body_bytes(jobs: list[_Job]) -> int:
    """The body bytes a batch of inserts committed (a Capture or a bare CapturedRequest)."""
    total = 0
    for job in jobs:
        item: Any = job.capture
        if item is not None:
            total += len(getattr(item, "request", item).body)
    return total


def _wake(settled: Iterable[tuple[_Job, Any, BaseException | None]]) -> None:
    """Resolve futures with one wake-up per event loop, not one per request."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, Any, BaseException | None]]] = {}
    for item in settled:
        by_loop.setdefault(item[0].loop, []).append(item)
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, items)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


def _settle(items: list[tuple[_Job, Any, BaseException | None]]) -> None:
    for job, value, error in items:
        then = job.then
        if then is not None:
            try:
                then(value, error)
            except Exception as failure:  # one caller's bug must not strand the others
                _log.error("capture writer callback failed: %s", describe_error(failure))
            continue
        if job.future is None or job.future.done():
            continue
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(value)
