"""Watch definition and credentials files in a thread and report edits to a callback (no Textual).

Directories are watched rather than files, because editors often save by writing a new
file and renaming it over the old one, which a watch on the old file would miss.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path

DEBOUNCE_MS = 150


class FileWatcher:
    def __init__(self, on_change: Callable[[set[Path]], object]) -> None:
        self.on_change = on_change
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._files: frozenset[Path] = frozenset()

    @property
    def files(self) -> frozenset[Path]:
        return self._files

    def watch(self, files: Iterable[Path]) -> None:
        """(Re)start watching exactly these files."""
        wanted = frozenset(Path(path).resolve() for path in files)
        if wanted == self._files and self._thread is not None:
            return
        self.stop()
        self._files = wanted
        directories = sorted({str(path.parent) for path in wanted if path.parent.is_dir()})
        if not directories:
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(directories, wanted, self._stop),
            name="whdebug-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread = None

    def _run(self, directories: list[str], files: frozenset[Path],
             stop: threading.Event) -> None:
        try:
            import watchfiles  # loaded in the watching thread, after the first paint

            for changes in watchfiles.watch(*directories, debounce=DEBOUNCE_MS, step=50,
                                            stop_event=stop, rust_timeout=500,
                                            yield_on_timeout=False, recursive=False,
                                            ignore_permission_denied=True):
                changed = {Path(path).resolve() for _, path in changes} & files
                if changed and not stop.is_set():
                    self.on_change(changed)
        except Exception:  # a watcher failure only ends watching
            return
