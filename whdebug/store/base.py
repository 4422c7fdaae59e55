"""The capture store interface, and `open_store`: SQLite for a path, PostgreSQL for a URL.

`--store PATH` (or WHDEBUG_STORE) names an SQLite file; `--store postgresql://...` a shared
PostgreSQL database (`whdebug[postgres]`). Both implement `CaptureStore`, the calls the
receiver, the CLI and the TUI make. The SQLite-only parts (file modes, WAL) stay in
`store.py`; PostgreSQL's (LISTEN/NOTIFY, reconnecting) in `postgres.py`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, TypeGuard

from whdebug.errors import StoreError, WhdebugError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from whdebug.model.request import Capture, CapturedRequest
    from whdebug.store.analyses import AnalysisRow, AnalysisSet, FilterTerm
    from whdebug.store.store import CaptureSummary

StoreLocation = str | Path
"""A store: a Path (SQLite file) or a `postgresql://` URL kept as a str."""

_URL = re.compile(r"^postgres(?:ql)?://", re.IGNORECASE)
_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class CaptureStore(Protocol):
    """What every face uses of a capture store (one thread at a time per instance)."""

    @property
    def path(self) -> StoreLocation: ...

    def close(self) -> None: ...

    def __enter__(self) -> CaptureStore: ...

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None: ...

    def insert(self, capture: Capture | CapturedRequest) -> int: ...

    def insert_many(self, captures: Iterable[Capture | CapturedRequest]) -> list[int]: ...

    def set_response(self, capture_id: int, status: int | None, body: bytes | None) -> None: ...

    def set_forward(self, capture_id: int, status: int | None, body: bytes | None,
                    error: str | None, headers: Iterable[tuple[str, str]] | None = None,
                    latency: float | None = None) -> None: ...

    def get(self, capture_id: int) -> Capture: ...

    def forward_error(self, capture_id: int) -> str | None: ...

    def page(self, *, before_id: int | None = None, limit: int = 100) -> list[CaptureSummary]: ...

    def since(self, after_id: int | None, *, limit: int | None = None) -> list[CaptureSummary]:
        ...

    def latest_id(self) -> int | None: ...

    def count(self) -> int: ...

    def ids(self, last: int | None = None) -> list[int]: ...

    def delete(self, capture_id: int) -> None: ...

    def prune(self, older_than: timedelta, *, keep_last: int = 0) -> int: ...


def is_store_url(location: object) -> bool:
    """True for a `postgresql://` (or `postgres://`) store URL."""
    return isinstance(location, str) and bool(_URL.match(location))


def store_location(text: str | Path | None, env: Mapping[str, str] | None = None,
                   ) -> StoreLocation:
    """`--store TEXT` as a location: a URL stays a str, anything else is a Path; None means
    WHDEBUG_STORE when set, else `.whdebug/captures.db` under the current directory."""
    from whdebug.store.store import default_store_path

    if text is None or text == "":
        environ = os.environ if env is None else env
        text = environ.get("WHDEBUG_STORE") or None
        if text is None:
            return default_store_path(environ)
    if isinstance(text, Path):
        return text
    return text if is_store_url(text) else Path(text)


def display_location(location: StoreLocation) -> str:
    """The location for messages and banners: a URL's password is never shown."""
    if not is_store_url(location):
        return str(location)
    from whdebug.store.postgres import mask_url

    return mask_url(str(location))


class IndexedStore(CaptureStore, Protocol):
    """A store that keeps the analysis index (whdebug.store.index): SQLite
    (whdebug.store.analyses) and PostgreSQL (whdebug.store.pg_analyses). Callers check
    `supports_index` first."""

    def analysis_salt(self) -> bytes: ...

    def open_analysis_set(self, fingerprint: str, parts: Mapping[str, str]) -> AnalysisSet: ...

    def other_analysis_sets(self, set_id: int) -> list[AnalysisSet]: ...

    def carry_analyses(self, source: int, target: int, outcomes: Sequence[str]) -> int: ...

    def put_analyses(self, set_id: int, rows: Iterable[AnalysisRow]) -> None: ...

    def analyses_between(self, set_id: int, first: int, last: int) -> dict[int, AnalysisRow]:
        ...

    def analysis_counts(self, set_id: int) -> dict[str, int]: ...

    def captures_between(self, first: int, last: int) -> list[Capture]:
        """The whole captures with ids first..last, oldest first, in one query (the index's
        fill reads them a range at a time; without it, it reads them one by one)."""
        ...

    def summaries(self, capture_ids: Sequence[int]) -> list[CaptureSummary]: ...

    def filter_analyses(self, set_id: int | None, terms: Sequence[FilterTerm], *,
                        first: int = 0, last: int = ..., limit: int | None = None
                        ) -> list[int]: ...


def supports_index(store: object) -> TypeGuard[IndexedStore]:
    """True when the store keeps analysis sets (both stores: SQLite and PostgreSQL, through
    whdebug.store.analyses and whdebug.store.pg_analyses)."""
    return all(hasattr(store, name) for name in (
        "analysis_salt", "open_analysis_set", "other_analysis_sets", "carry_analyses",
        "put_analyses", "analyses_between", "analysis_counts", "filter_analyses"))


def indexed(store: object) -> IndexedStore:
    """The store as an index keeper; callers check `supports_index` first."""
    if not supports_index(store):
        raise WhdebugError("this capture store keeps no analysis index")
    return store


def open_store(location: StoreLocation, *, create: bool = True) -> CaptureStore:
    """Open the store at `location` (a Path or str path: SQLite; a URL: PostgreSQL)."""
    if is_store_url(location):
        from whdebug.store.postgres import PostgresStore

        return PostgresStore.open(str(location))
    from whdebug.store.store import Store

    return Store.open(location, create=create)


def store_exists(location: StoreLocation) -> bool:
    """False only for an SQLite file that does not exist (a database URL may be created)."""
    return is_store_url(location) or Path(location).exists()


def parse_age(text: str) -> timedelta:
    """`7d`, `12h`, `30m`, `90s`, `2w` as a timedelta; StoreError otherwise."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise StoreError("--older-than wants a number and a unit (s, m, h, d or w), e.g. 7d",
                         text)
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


Watcher = Callable[[], None]
"""Called (on a background thread) whenever another process may have added captures."""
