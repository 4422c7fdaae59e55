"""The capture list's rows: every id in memory, summaries loaded a page at a time (no Textual).

Position 0 is the newest capture. All ids (a few MB for 100,000 captures) are read once, so
any position maps to an id at once; summaries are fetched from the store in pages around the
positions being drawn. A filter replaces the full list with a view of matching ids.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable

from whdebug.errors import WhdebugError
from whdebug.store.base import CaptureStore
from whdebug.store.store import CaptureSummary

PAGE_SIZE = 100
_MAX_CACHED = 20_000


class CaptureRows:
    def __init__(self, store: CaptureStore | None, *, page_size: int = PAGE_SIZE) -> None:
        self.store = store
        self.page_size = page_size
        self._ids: list[int] = []
        """Every capture id, oldest first."""
        self._summaries: dict[int, CaptureSummary] = {}
        self._view: list[int] | None = None
        """Filtered ids, newest first; None shows every capture."""
        self._view_index: dict[int, int] = {}
        self._preloaded: tuple[threading.Thread, list[list[int] | Exception]] | None = None

    def preload(self, then: Callable[[list[int]], None] | None = None) -> None:
        """Start reading every id in a thread: SQLite reads them without holding the GIL, so
        the app's start-up goes on meanwhile. The next `reload` takes them (or raises what
        reading them raised), once `then(ids)` has run in that thread too."""
        store = self.store
        if store is None:
            return
        read: list[list[int] | Exception] = []

        def read_ids() -> None:
            try:
                ids = store.ids()
            except Exception as error:  # raised by reload, on the caller's thread
                read.append(error)
                return
            read.append(ids)
            if then is not None:
                then(list(ids))

        thread = threading.Thread(target=read_ids, name="whdebug-read-ids", daemon=True)
        thread.start()
        self._preloaded = (thread, read)

    def reload(self) -> None:
        """Read every id from the store again (a few ms per 100,000 captures)."""
        preloaded, self._preloaded = self._preloaded, None
        if preloaded is not None:
            thread, read = preloaded
            thread.join()
            if isinstance(read[0], Exception):
                raise read[0]
            self._ids = read[0]
        else:
            self._ids = self.store.ids() if self.store is not None else []
        self._summaries.clear()

    def all_ids(self) -> list[int]:
        """Every capture id, oldest first (a copy; filters do not change it)."""
        return list(self._ids)

    @property
    def total(self) -> int:
        return len(self._ids)

    @property
    def latest_id(self) -> int | None:
        return self._ids[-1] if self._ids else None

    @property
    def filtered(self) -> bool:
        return self._view is not None

    def __len__(self) -> int:
        return len(self._view) if self._view is not None else len(self._ids)

    def id_at(self, position: int) -> int | None:
        if position < 0:
            return None
        if self._view is not None:
            return self._view[position] if position < len(self._view) else None
        if position >= len(self._ids):
            return None
        return self._ids[len(self._ids) - 1 - position]

    def position_of(self, capture_id: int) -> int | None:
        if self._view is not None:
            return self._view_index.get(capture_id)
        index = bisect_left(self._ids, capture_id)
        if index < len(self._ids) and self._ids[index] == capture_id:
            return len(self._ids) - 1 - index
        return None

    def ids_between(self, start: int, stop: int) -> list[int]:
        """Ids at positions start..stop-1 (clipped)."""
        ids = (self.id_at(position) for position in range(max(start, 0), max(stop, 0)))
        return [capture_id for capture_id in ids if capture_id is not None]

    # -- summaries -------------------------------------------------------------------------

    def summary(self, capture_id: int) -> CaptureSummary | None:
        return self._summaries.get(capture_id)

    def summary_at(self, position: int) -> CaptureSummary | None:
        """The summary at a position, loading its page from the store on a miss."""
        capture_id = self.id_at(position)
        if capture_id is None:
            return None
        found = self._summaries.get(capture_id)
        if found is None and self.store is not None:
            self._load_page(capture_id)
            found = self._summaries.get(capture_id)
        return found

    def _load_page(self, capture_id: int) -> None:
        assert self.store is not None
        if len(self._summaries) > _MAX_CACHED:
            self._summaries.clear()
        limit = self.page_size if self._view is None else 1
        try:
            page = self.store.page(before_id=capture_id + 1, limit=limit)
        except WhdebugError:  # drawn as an empty row; the poll reports the store's problem
            return
        for summary in page:
            self._summaries[summary.id] = summary

    def remember(self, summaries: Iterable[CaptureSummary]) -> None:
        for summary in summaries:
            self._summaries[summary.id] = summary

    # -- changes ---------------------------------------------------------------------------

    def add(self, summaries: Iterable[CaptureSummary]) -> list[CaptureSummary]:
        """New captures (any order); those not known yet, oldest first."""
        added = [s for s in sorted(summaries, key=lambda s: s.id)
                 if not self._ids or s.id > self._ids[-1]]
        for summary in added:
            self._ids.append(summary.id)
            self._summaries[summary.id] = summary
        return added

    def remove(self, capture_id: int) -> None:
        index = bisect_left(self._ids, capture_id)
        if index < len(self._ids) and self._ids[index] == capture_id:
            del self._ids[index]
        self._summaries.pop(capture_id, None)
        if self._view is not None and capture_id in self._view_index:
            self._view.remove(capture_id)
            self._reindex()

    # -- filtered view ---------------------------------------------------------------------

    def show_only(self, capture_ids: Iterable[int]) -> None:
        """Show only these captures (given newest first); more may be added with `extend`."""
        self._view = list(capture_ids)
        self._reindex()

    def extend(self, capture_ids: Iterable[int]) -> None:
        """Add matches to the filtered view, keeping it newest first."""
        if self._view is None:
            return
        new = [i for i in capture_ids if i not in self._view_index]
        if not new:
            return
        if not self._view or max(new) < self._view[-1]:
            self._view.extend(sorted(new, reverse=True))
        else:
            self._view = sorted({*self._view, *new}, reverse=True)
        self._reindex()

    def show_all(self) -> None:
        self._view = None
        self._view_index = {}

    def _reindex(self) -> None:
        assert self._view is not None
        self._view_index = {capture_id: index for index, capture_id in enumerate(self._view)}
