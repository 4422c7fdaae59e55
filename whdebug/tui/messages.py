"""Messages the app's workers and watchers post; handlers on the app own every state change."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from whdebug.store.store import CaptureSummary
from whdebug.tui.analysis import Analysis, RowVerdict
from whdebug.tui.history import Checked, DedupeHistory
from whdebug.tui.indexing import IndexState

if TYPE_CHECKING:
    from whdebug.tools.resend import Answer


class CapturesArrived(Message):
    """New captures were written to the store (by the embedded receiver or another process)."""

    def __init__(self, summaries: list[CaptureSummary]) -> None:
        super().__init__()
        self.summaries = summaries


class AnalysisCompleted(Message):
    """The selected capture was analysed."""

    def __init__(self, analysis: Analysis) -> None:
        super().__init__()
        self.analysis = analysis


class VerdictsComputed(Message):
    """Rows of the capture list were analysed (their event, signature and outcome are known)."""

    def __init__(self, verdicts: dict[int, RowVerdict], generation: int) -> None:
        super().__init__()
        self.verdicts = verdicts
        self.generation = generation


class HistoryChecked(Message):
    """The next captures of a dedupe history were checked (oldest first), ready to apply."""

    def __init__(self, history: DedupeHistory, checked: list[Checked]) -> None:
        super().__init__()
        self.history = history
        self.checked = checked


class IndexFilled(Message):
    """The analysis index's fill reached the next captures (oldest first): their verdicts,
    the dedupe history's entries, and (now and then) the index's counts by outcome."""

    def __init__(self, history: DedupeHistory, state: IndexState, checked: list[Checked],
                 verdicts: dict[int, RowVerdict], counts: dict[str, int] | None,
                 error: str | None = None) -> None:
        super().__init__()
        self.history = history
        self.state = state
        self.checked = checked
        self.verdicts = verdicts
        self.counts = counts
        self.error = error


class FilesChanged(Message):
    """Watched definition or credentials files were edited."""

    def __init__(self, paths: set[Path]) -> None:
        super().__init__()
        self.paths = paths

    def can_replace(self, message: Message) -> bool:
        # `message` is a newer pending one: it takes over this one's paths.
        if isinstance(message, FilesChanged):
            message.paths = message.paths | self.paths
            return True
        return False


class DefinitionReloaded(Message):
    """Definitions or credentials were (re)loaded; `errors` lists files that did not parse."""

    def __init__(self, generation: int, errors: list[str]) -> None:
        super().__init__()
        self.generation = generation
        self.errors = errors


class FilterProgressed(Message):
    """A filter scan found matches among the next captures."""

    def __init__(self, token: int, matches: list[int], scanned: int, done: bool,
                 summaries: list[CaptureSummary]) -> None:
        super().__init__()
        self.token = token
        self.matches = matches
        self.summaries = summaries
        self.scanned = scanned
        self.done = done


class ResendFinished(Message):
    """A re-send got an answer, or failed (`error`, one line)."""

    def __init__(self, url: str, answer: Answer | None, error: str | None = None) -> None:
        super().__init__()
        self.url = url
        self.answer = answer
        self.error = error


class SamplesSent(Message):
    """Sample deliveries went to the receiver: per event, the status it answered or why not."""

    def __init__(self, url: str, results: list[tuple[str, int | None, str | None]]) -> None:
        super().__init__()
        self.url = url
        self.results = results


class ReceiverChanged(Message):
    """The embedded receiver started, stopped or failed to start."""

    def __init__(self, listening: bool, url: str | None, error: str | None = None) -> None:
        super().__init__()
        self.listening = listening
        self.url = url
        self.error = error
