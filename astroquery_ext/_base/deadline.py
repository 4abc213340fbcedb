"""Deadlines that hold whatever the server does: a wall-clock bound on a whole exchange.

``requests`` bounds the connect and each single read by ``timeout``, but a
server that sends one byte a second never lets a read time out, and a call
lasts as long as it likes. A `Deadline` bounds the whole exchange: every
socket opened or reused by ``requests`` in the thread while the deadline is
active is registered with it (through the connection classes that
`deadline_adapter` mounts), and when the time is up one watchdog thread shuts
those sockets down. The blocked read returns at once, and the code that asked
sees ``deadline.expired`` and raises a clear error instead of retrying.

Use it around any exchange the request layer does not read itself (a
streamed download that is read after ``_http`` returns)::

    with client._deadline(seconds, what="GET /files/x") as deadline:
        response = client._http("GET", url, stream=True)
        for block in response.iter_content(1 << 16):
            ...
    # on expiry: the read fails, and deadline.error() is the error to raise

Deadlines nest: a socket is watched by every deadline active in its thread.

A body that keeps arriving is not a slow server: code that reads a body
block by block calls `progress` with each block's size, and every deadline
active in the thread moves on by ``size / MIN_RATE`` seconds. A large
download at any usable speed goes on; a server trickling bytes below
``MIN_RATE`` is still stopped at about the timeout.

Progress alone would let a server that drips bytes just faster than
``MIN_RATE`` (padding, an endless chunked body) hold a call for ever. So one
call (all its attempts) also has a `CallBound`, which no progress moves past:
``total_timeout`` seconds when the service's ``conf.total_timeout`` sets it,
else ``AUTO_FACTOR`` times ``timeout``, raised for a body whose length is
announced to what that length needs at ``MIN_RATE`` (``timeout + length /
MIN_RATE``): a large file on a slow link completes, a drip does not.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time
import weakref

import requests.adapters
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["Deadline", "CallBound", "total_timeout_item", "deadline_adapter", "progress", "MIN_RATE", "AUTO_FACTOR"]

#: Bytes per second below which a body does not move a deadline on (16 KiB/s:
#: far below any usable link, far above a server that trickles to hold a call).
MIN_RATE = 16 * 1024

#: Without ``total_timeout``: a call may last this many times ``timeout`` (more for a body
#: of announced length: ``timeout + length / MIN_RATE``).
AUTO_FACTOR = 10

_local = threading.local()


class CallBound:
    """The total bound of one call, all its attempts and waits included: progress never moves a
    `Deadline` past it.

    Parameters
    ----------
    timeout : float
        The wait for progress (the per-read timeout).
    total : float, optional
        The bound in seconds (a service's ``conf.total_timeout``); None or 0:
        ``AUTO_FACTOR * timeout``, raised by `allow` for an announced length.
    """

    def __init__(self, timeout: float, total: float | None = None):
        self.timeout = float(timeout)
        self.auto = not total
        self.seconds = AUTO_FACTOR * self.timeout if self.auto else float(total)
        self.started = time.monotonic()

    @property
    def at(self) -> float:
        return self.started + self.seconds

    def allow(self, length: "int | str | None") -> None:
        """A body of ``length`` bytes is announced: an automatic bound grows to what it needs at ``MIN_RATE``."""
        if self.auto and length is not None and str(length).isdigit():
            self.seconds = max(self.seconds, self.timeout + int(length) / MIN_RATE)

    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def describe(self) -> str:
        """The bound, for messages."""
        if self.auto:
            return f"the call's total bound of {self.seconds:g} s (conf.total_timeout unset: {AUTO_FACTOR} x timeout, " \
                   f"or what an announced length needs at {MIN_RATE // 1024} KiB/s)"
        return f"the call's total bound of {self.seconds:g} s (conf.total_timeout)"


def _active() -> list["Deadline"]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


class _Watchdog:
    """One thread per process that fires deadlines when they pass."""

    def __init__(self):
        self._cond = threading.Condition()
        self._heap: list = []
        self._count = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = None

    def add(self, deadline: "Deadline") -> None:
        with self._cond:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._heap = [e for e in self._heap if e[2]() is not None]
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="astroquery_ext-deadlines", daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, (deadline.at, next(self._count), weakref.ref(deadline)))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and (self._heap[0][2]() is None or self._heap[0][2]().done):
                        heapq.heappop(self._heap)
                    wait = (self._heap[0][0] - time.monotonic()) if self._heap else None
                    if wait is not None and wait <= 0:
                        _, _, ref = heapq.heappop(self._heap)
                        break
                    self._cond.wait(wait)
            deadline = ref()
            if deadline is None:
                continue
            if deadline.at > time.monotonic():  # moved on by progress() since it was queued
                with self._cond:
                    heapq.heappush(self._heap, (deadline.at, next(self._count), ref))
                continue
            deadline._fire()


_WATCHDOG = _Watchdog()


class Deadline:
    """A wall-clock limit on one exchange with a server (a context manager).

    Parameters
    ----------
    seconds : float
        How long the exchange may last, from entering the ``with`` block.
    what : str
        The exchange, for the error message (``"GET /api/items"``).
    bound : CallBound, optional
        The total bound of the call this exchange is part of: neither
        ``seconds`` nor progress moves the limit past it.
    """

    def __init__(self, seconds: float, what: str = "the request", *, bound: CallBound | None = None):
        self.seconds = float(seconds)
        self.what = what
        self.bound = bound
        self.at = time.monotonic() + self.seconds
        self.expired = False
        #: Whether it expired at the call's total bound (not for want of progress).
        self.at_bound = False
        self.done = False
        self._sockets: list = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        """Seconds left (0 when expired)."""
        return max(0.0, self.at - time.monotonic())

    def extend(self, seconds: float) -> None:
        """Move the limit on by ``seconds`` (no effect once it has passed)."""
        with self._lock:
            if not self.expired:
                self.at = self._capped(self.at + seconds)

    def _capped(self, at: float) -> float:
        return at if self.bound is None else min(at, self.bound.at)

    def watch(self, sock) -> None:
        """Shut ``sock`` down when the deadline passes (at once if it has)."""
        if sock is None:
            return
        with self._lock:
            if not self.expired:
                self._sockets.append(sock)
                return
        _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.expired = True
            self.at_bound = self.bound is not None and self.bound.passed()
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shutdown(sock)

    def __enter__(self) -> "Deadline":
        self.at = self._capped(time.monotonic() + self.seconds)
        _active().append(self)
        _WATCHDOG.add(self)
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            self.done = True
            self._sockets = []
        stack = _active()
        if self in stack:
            stack.remove(self)


def total_timeout_item(module: str):
    """The ``total_timeout`` item of every service's ``conf`` (in ``module``): the total bound of one call."""
    from astropy import config

    return config.ConfigItem(
        0.0, f"Longest time in seconds one call (all its attempts) may take, however the server keeps "
        f"sending. 0: automatic, {AUTO_FACTOR} times timeout, or for an answer of announced length what "
        f"that length needs at {MIN_RATE // 1024} KiB/s, whichever is longer (timeout is the longest wait "
        f"for progress).", module=module)


def progress(nbytes: int) -> None:
    """``nbytes`` of a body arrived: every deadline active in this thread moves on by ``nbytes / MIN_RATE`` s."""
    if nbytes > 0:
        for deadline in _active():
            deadline.extend(nbytes / MIN_RATE)


def _shutdown(sock) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _watch_current(sock) -> None:
    for deadline in _active():
        deadline.watch(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def connect(self):
        super().connect()
        _watch_current(self.sock)

    def request(self, *args, **kwargs):
        if self.sock is not None:  # a reused connection
            _watch_current(self.sock)
        return super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self):
        super().connect()
        _watch_current(self.sock)

    def request(self, *args, **kwargs):
        if self.sock is not None:
            _watch_current(self.sock)
        return super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _DeadlineAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter with connections that register their sockets with the active deadlines."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
        return manager


def deadline_adapter(**kwargs) -> requests.adapters.HTTPAdapter:
    """An ``HTTPAdapter`` (same keywords) whose sockets `Deadline` can stop."""
    return _DeadlineAdapter(**kwargs)
