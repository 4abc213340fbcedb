"""A batch of transfers that Ctrl-C stops within a second: the machinery of `download_many`.

- `Batch`: what the transfers of one batch share: a stop flag, the responses
  being read (to abort them: a socket shut down wakes a blocked read, which
  closing alone does not) and the ``.part`` files in use (removed on cancel).
- `run_batch`: ``[one(job) for job in jobs]`` on at most ``max_workers``
  daemon threads; an exception in the calling thread (Ctrl-C) cancels the
  batch, waits a short grace for the workers and removes the ``.part`` files.
- `Cancelled`: raised inside a worker whose batch was cancelled.

What one transfer does is `~astroquery_ext._base.download`'s concern.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from astroquery_ext._base.files import _remove

__all__ = ["Batch", "Cancelled", "run_batch"]

T = TypeVar("T")
R = TypeVar("R")

#: How long a cancelled batch waits for its workers before returning.
_CANCEL_GRACE = 1.0


class Cancelled(Exception):
    """Raised inside a worker when its batch is cancelled."""


class Batch:
    """What a batch shares: a stop flag, the open responses (to abort them) and the ``.part`` files in use."""

    def __init__(self):
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._responses: set = set()
        self.parts: set[Path] = set()

    def check(self) -> None:
        if self.stop.is_set():
            raise Cancelled()

    @contextlib.contextmanager
    def track(self, response) -> Iterator[None]:
        with self._lock:
            self._responses.add(response)
        try:
            if self.stop.is_set():
                _abort(response)
            yield
        finally:
            with self._lock:
                self._responses.discard(response)

    def cancel(self) -> None:
        self.stop.set()
        with self._lock:
            responses = list(self._responses)
        for response in responses:
            _abort(response)


def _abort(response) -> None:
    """Wake a thread blocked reading ``response``: shut its socket down (closing alone does not wake a read)."""
    try:
        connection = getattr(response.raw, "connection", None) or getattr(response.raw, "_connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, AttributeError):
        pass


def run_batch(one: Callable[[T], R], jobs: list[T], max_workers: int, batch: Batch) -> list[R]:
    """``[one(job) for job in jobs]``, ``max_workers`` at once; on an exception in this thread, cancel all.

    The workers are daemon threads: a cancelled batch does not hold up the
    interpreter's exit while a worker waits for a server (a thread pool's
    workers are joined at exit). This thread waits on a bare lock that the
    last worker releases, not on a `threading.Event`: Ctrl-C landing just
    after an Event's inner lock was taken leaves that lock held, and the
    next wait on it (the grace below) hangs for good.
    """
    try:
        if max_workers <= 1 or len(jobs) <= 1:
            return [one(job) for job in jobs]
        results: list = [None] * len(jobs)
        pending = iter(list(enumerate(jobs)))
        lock = threading.Lock()
        left = [min(max_workers, len(jobs))]
        finished = threading.Lock()
        finished.acquire()  # released by the last worker to end

        def worker() -> None:
            try:
                while not batch.stop.is_set():
                    with lock:
                        item = next(pending, None)
                    if item is None:
                        return
                    index, job = item
                    try:
                        results[index] = one(job)
                    except BaseException as exc:  # a bug, not a failed file: raised in the caller's thread
                        results[index] = exc
                        batch.stop.set()
            finally:
                with lock:
                    left[0] -= 1
                    last = left[0] == 0
                if last:
                    finished.release()

        for _ in range(left[0]):
            threading.Thread(target=worker, name="astroquery_ext-download", daemon=True).start()
        while not finished.acquire(timeout=0.25):  # a timed wait: Ctrl-C is seen within a quarter second
            pass
        for value in results:
            if isinstance(value, BaseException):
                raise value
        return results
    except BaseException:
        # Ctrl-C: stop now, do not wait for the files in flight beyond a short grace.
        batch.cancel()
        if "finished" in locals():
            finished.acquire(timeout=_CANCEL_GRACE)
        for part in list(batch.parts):
            _remove(part)
        raise
