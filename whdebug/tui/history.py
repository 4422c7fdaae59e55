"""The TUI's dedupe history: every capture's accepted transaction id, checked oldest first.

The rule is the one of every face (`whdebug.engine.session`): a capture is a duplicate when an
earlier capture of its group (one profile: one definition and its secrets) was accepted with
the same transaction id, however long ago. The TUI shows captures in any order and must not
replay a 100,000-capture store before it paints, so the history is filled in the background
and read at any point:

- one `DedupeHistory` per definition generation holds the ids of the store, oldest first, and
  one ReplaySession per group;
- a worker `check`s captures oldest first, in batches: their accepted transaction ids, computed
  without the history (`ReplaySession.accepted_id`, no diagnosis search), so it only computes;
- the app's handler `apply`s each batch in order, settling the ids into the group's session
  (`ReplaySession.settle`) and keeping them in a memo, the history's only state writer;
- a capture is analysed against `earlier(capture_id, group)`, the session's view of the
  captures before it. `pending(capture_id)` counts earlier captures not yet applied: while it
  is above 0 a "new" verdict is provisional (a duplicate is final at once: checking oldest
  first, the first capture recorded with an id is the earliest). The app settles provisional
  verdicts as batches arrive (`tui.analysis.Analyzer.settle`).

Workers read the sessions while the handler writes them; each read is one dict lookup, and
`pending` is read before the lookup, so a race can only make a verdict look provisional.
Deleting a capture rebuilds its group's history from the memo.
"""

from __future__ import annotations

import functools
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from whdebug.model.request import Capture
from whdebug.tui.workspace import Resolved, Workspace

if TYPE_CHECKING:
    from whdebug.engine import AnalysisOptions, DedupeIndex
    from whdebug.engine.session import ReplaySession


@dataclass(frozen=True, slots=True)
class Checked:
    """One capture as the history needs it."""

    capture_id: int
    group: str | None
    """None when no definition applies to it (it dedupes against nothing)."""
    transaction_id: str | None
    """The id the runtime records for it; None when it would not accept it."""


class DedupeHistory:
    def __init__(self, generation: int, ids: Iterable[int]) -> None:
        self.generation = generation
        self.ids = sorted(ids)
        """Every capture id, oldest first; arrivals are appended."""
        self.checked = 0
        """`ids[:checked]` are in the history."""
        self.dispatched = 0
        """`ids[:dispatched]` were handed to a worker."""
        self._sessions: dict[str, ReplaySession] = {}
        self._lock = threading.Lock()
        self._accepted: dict[int, tuple[str, str]] = {}
        """The memo: capture id -> (group, accepted transaction id), for those accepted."""
        self._gone: set[int] = set()
        """Deleted while a worker was checking them: their results are skipped."""

    @property
    def total(self) -> int:
        return len(self.ids)

    @property
    def complete(self) -> bool:
        return self.checked >= len(self.ids)

    # -- the worker's side: compute only ----------------------------------------------------

    def check(self, capture_ids: Sequence[int], read: Callable[[int], Capture],
              workspace: Workspace, options: AnalysisOptions,
              pause: Callable[[], None] = lambda: None) -> list[Checked]:
        """The accepted transaction id of each capture (`pause` runs before each one)."""
        checked: list[Checked] = []
        for capture_id in capture_ids:
            pause()
            try:
                capture = read(capture_id)
                resolved = workspace.resolve(capture_id, capture.request.path)
                if resolved is None:
                    checked.append(Checked(capture_id, None, None))
                    continue
                accepted = self._session(resolved, options).accepted_id(capture)
            except Exception:  # an unreadable capture, or an engine failure: it claims no id
                checked.append(Checked(capture_id, None, None))
                continue
            checked.append(Checked(capture_id, resolved.group, accepted))
        return checked

    def register(self, resolved: Resolved, options: AnalysisOptions) -> str:
        """Make sure `resolved`'s group has a session (for results checked elsewhere, e.g. by
        the analysis index's fill); its group."""
        self._session(resolved, options)
        return resolved.group

    def _session(self, resolved: Resolved, options: AnalysisOptions) -> ReplaySession:
        from whdebug.engine.session import ReplaySession

        with self._lock:
            session = self._sessions.get(resolved.group)
            if session is None:
                analyzer = None
                if resolved.builtin is not None:
                    from whdebug.tools.profiles import analyze_profile

                    analyzer = functools.partial(analyze_profile, profile=resolved.builtin,
                                                 secrets=resolved.secrets)
                session = ReplaySession(resolved.definition, resolved.secrets,
                                        now=resolved.clock, options=options, analyzer=analyzer)
                self._sessions[resolved.group] = session
            return session

    # -- the handler's side: the only writer -------------------------------------------------

    def dispatch(self) -> list[int]:
        """The ids to check next, handed to one worker (empty while one is still at work)."""
        if self.checked < self.dispatched:
            return []
        chosen = self.ids[self.dispatched:]
        self.dispatched = len(self.ids)
        return chosen

    def apply(self, checked: Iterable[Checked]) -> bool:
        """Settle checked captures, in order; False when they are not the next ones."""
        for entry in checked:
            if entry.capture_id in self._gone:
                self._gone.discard(entry.capture_id)
                continue
            if self.complete or self.ids[self.checked] != entry.capture_id:
                return False
            session = self._sessions.get(entry.group) if entry.group is not None else None
            if entry.group is not None and session is not None:
                session.settle(entry.transaction_id, entry.capture_id)
                if entry.transaction_id is not None:
                    self._accepted[entry.capture_id] = (entry.group, entry.transaction_id)
            self.checked += 1
        return True

    def arrived(self, capture_ids: Iterable[int]) -> None:
        """New captures (newer than every id known) join the end of the history."""
        last = self.ids[-1] if self.ids else 0
        self.ids.extend(i for i in sorted(capture_ids) if i > last)

    def forget(self, capture_id: int) -> set[int]:
        """A capture was deleted: the captures whose dedupe verdict may change."""
        index = bisect_left(self.ids, capture_id)
        if index >= len(self.ids) or self.ids[index] != capture_id:
            return set()
        del self.ids[index]
        if index < self.checked:
            self.checked -= 1
        elif index < self.dispatched:
            self._gone.add(capture_id)
        if index < self.dispatched:
            self.dispatched -= 1
        forgotten = self._accepted.pop(capture_id, None)
        if forgotten is None:
            return set()
        group, transaction_id = forgotten
        session = self._sessions[group]
        session.restart_history()
        affected = set()
        for earlier in self.ids[:self.checked]:
            entry = self._accepted.get(earlier)
            if entry is not None and entry[0] == group:
                session.settle(entry[1], earlier)
                if entry[1] == transaction_id:
                    affected.add(earlier)
        return affected

    def fill(self, read: Callable[[int], Capture], workspace: Workspace,
             options: AnalysisOptions) -> None:
        """Check and apply everything not in the history yet, at once (no worker)."""
        while not self.complete:
            if not self.apply(self.check(self.dispatch(), read, workspace, options)):
                return

    # -- questions (any thread) ---------------------------------------------------------------

    def pending(self, capture_id: int) -> int:
        """Earlier captures not in the history yet (0: the capture's verdict is final)."""
        checked = self.checked
        return max(0, bisect_left(self.ids, capture_id) - checked)

    def earlier(self, capture_id: int, group: str) -> DedupeIndex:
        """The group's accepted ids from captures before `capture_id`, read-only."""
        session = self._sessions.get(group)
        return session.earlier_than(capture_id) if session is not None else _nothing()

    def duplicate_of(self, capture_id: int, group: str, transaction_id: str) -> int | None:
        """The earlier capture of the group that was accepted with this id, if any."""
        found = self.earlier(capture_id, group).lookup(transaction_id)
        return found if isinstance(found, int) else None


@functools.cache
def _nothing() -> DedupeIndex:
    """No earlier capture of the group is in the history yet (read-only)."""
    from whdebug.engine import DedupeIndex

    class Nothing(DedupeIndex):
        def record(self, transaction_id: str, source: str | int) -> None:
            """Read-only."""

    return Nothing()
