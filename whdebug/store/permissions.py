"""Who else could change the capture store: symlinks and group- or world-writable modes.

A store holds every captured request, signatures and tokens included, and replays trust
what it holds. It is opened only when nobody else can swap it: neither the file nor its
directory is a symlink (one could point at another user's file), and neither is writable by
the group or by others (they could replace the file, or plant its -wal/-journal files).
Each refusal is one line naming the fix.
"""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

from whdebug.errors import StoreError

__all__ = ["check_store_path"]

_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


def check_store_path(path: Path) -> None:
    """Refuse a store file or directory that is a symlink or group-/world-writable.

    Only the file and the directory holding it are checked (symlinks higher up, such as a
    home directory on another volume, are the system's layout, not a swap of the store).
    """
    if os.name != "posix":
        return
    directory = path.parent if str(path.parent) else Path(".")
    _check(directory, "capture store directory", f"chmod 700 {shlex.quote(str(directory))}")
    _check(path, "capture store", f"chmod 600 {shlex.quote(str(path))}")


def _check(path: Path, what: str, fix: str) -> None:
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as error:
        raise StoreError(f"cannot read {what}: {error.strerror}", str(path)) from None
    if stat.S_ISLNK(status.st_mode):
        kind = "directory" if what.endswith("directory") else "file"
        raise StoreError(f"{what} is a symlink, which whdebug does not follow; give --store "
                         f"the real path, or replace the link with the {kind} itself",
                         str(path))
    if status.st_mode & _OTHERS_WRITE:
        who = ("group- and world-writable" if status.st_mode & stat.S_IWGRP
               and status.st_mode & stat.S_IWOTH
               else "world-writable" if status.st_mode & stat.S_IWOTH else "group-writable")
        raise StoreError(f"{what} is {who}, so others could replace what it holds; "
                         f"fix: {fix}", str(path))
