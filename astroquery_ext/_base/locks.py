"""Locks that hold across threads and processes, on every OS.

`held(path)` holds the lock of ``path``: a thread lock (re-entrant in the
thread that holds it) plus, at the outermost level, a file lock from the
``filelock`` library, so other processes wait too (``fcntl`` on POSIX,
``msvcrt`` on Windows). Used for stored logins (one renewal across
processes) and the file cache (one download of a file at a time).
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator

import filelock

__all__ = ["held"]


class _Lock:
    """The thread lock of one path, and while held, its file lock."""

    def __init__(self, path: str):
        self.thread_lock = threading.RLock()
        self.depth = 0
        # One FileLock object per path and process; threads are ordered by thread_lock.
        self.file_lock = filelock.FileLock(path, mode=0o600, thread_local=False)


_LOCKS: dict[str, _Lock] = {}
_GUARD = threading.Lock()


def _forget_after_fork() -> None:
    # A forked child has only the thread that forked: locks held by the parent's
    # other threads would never be released here. The child starts with none;
    # the file locks still order it against other processes.
    global _LOCKS, _GUARD
    _LOCKS = {}
    _GUARD = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_after_fork)


@contextlib.contextmanager
def held(path: str | os.PathLike) -> Iterator[None]:
    """Hold the lock whose lock file is ``path``, across threads and processes. Re-entrant.

    The lock file is created (mode 0600) if missing and left in place; its
    directory must exist.
    """
    key = os.fspath(path)
    with _GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = _Lock(key)
    with lock.thread_lock:
        if lock.depth == 0:
            lock.file_lock.acquire()
        lock.depth += 1
        try:
            yield
        finally:
            lock.depth -= 1
            if lock.depth == 0:
                lock.file_lock.release()


def lock_file_name(name: str) -> str:
    """A lock file name for ``name``: letters, digits and ``-_.`` kept, the rest ``_``."""
    return "." + "".join(c if c.isalnum() or c in "-_." else "_" for c in name) + ".lock"
