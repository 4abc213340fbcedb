"""What the retry policy shares beyond one request: a circuit breaker for a batch, and a service's hourly quota.

**Circuit breaker.** A batch (downloads, chunks of ids, pages, per-id writes)
makes many calls, each with its own retry budget. Against a server that has
stopped answering, that budget is spent again by every remaining item: 20
downloads x 5 attempts took 98 s to give up. A `CircuitBreaker` is shared by
the calls of one batch (`bounded_map` and `download_many` engage one in each
of their workers): after ``threshold`` connection failures in a row (no
connection, a reset, a body cut off; not an HTTP error answer, which is the
server answering) with no success in between, it opens, and every attempt
of the batch after that (a retry or the next item) fails at once with a
`~astroquery_ext.exceptions.RemoteServiceError` saying the server stopped
answering. The batch then ends within a backoff or two, keeping what it
finished.

**Hourly quota.** A service that counts requests per hour (ATLAS: 100 per
user) declares it (``ServiceQuery.requests_per_hour``). A batch of one
request per item (ATLAS's per-id writes) then runs through a `QuotaGate`
(`quota_gate`): its cost against the quota is said before anything is sent;
at HTTP 429 the gate closes for every call of the batch and the items not yet
sent are reported, not sent (``on_rate_limit="return"``), or the first call
to meet it counts the ``Retry-After`` down on stderr while the others hold,
then all go on (``"wait"``). The retry policy consults the gate of the batch
its thread works for: no call of the batch retries a 429 on its own.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import logging
import math
import sys
import threading
import time
import warnings
from typing import Callable, TypeVar

from astropy.utils.exceptions import AstropyUserWarning

from astroquery_ext._base.exceptions import RateLimitError, RemoteServiceError
from astroquery_ext._base.redaction import redact

__all__ = ["CircuitBreaker", "current_breaker", "batch_breaker", "QuotaGate", "current_gate", "quota_gate",
           "ON_RATE_LIMIT"]

log = logging.getLogger("astroquery_ext")

T = TypeVar("T")

_local = threading.local()


class _Engaged:
    """What a batch shares with the calls its threads make: engaged in a thread, the retry policy
    there reports to it (`current_breaker`, `current_gate`)."""

    _slot = ""

    @contextlib.contextmanager
    def engaged(self):
        """Within the block, the retry policy in this thread goes through this object."""
        saved = getattr(_local, self._slot, None)
        setattr(_local, self._slot, self)
        try:
            yield self
        finally:
            setattr(_local, self._slot, saved)

    def wrap(self, func: Callable[..., T]) -> Callable[..., T]:
        """``func`` run with this object engaged (in whichever thread calls it)."""
        @functools.wraps(func)
        def engaged(*args, **kwargs):
            with self.engaged():
                return func(*args, **kwargs)
        return engaged


class CircuitBreaker(_Engaged):
    """Opens after ``threshold`` connection failures in a row across the calls of one batch.

    Parameters
    ----------
    threshold : int
        Consecutive connection failures (no success in between) that open it.
    """

    #: Default threshold: a few failures in a row, whichever calls of the batch they come from.
    THRESHOLD = 5
    _slot = "breaker"

    def __init__(self, threshold: int = THRESHOLD):
        self.threshold = threshold
        self._lock = threading.Lock()
        self._in_a_row = 0
        self.last: str | None = None  # the last failure, for the message
        self.open = False

    def succeeded(self) -> None:
        with self._lock:
            if not self.open:
                self._in_a_row = 0

    def failed(self, reason: str) -> bool:
        """A connection failure; True when the breaker is (now) open."""
        with self._lock:
            self._in_a_row += 1
            self.last = reason
            if self._in_a_row >= self.threshold:
                self.open = True
            return self.open

    def why(self) -> str:
        """Why the batch stopped, for messages."""
        return (f"the server stopped answering ({self._in_a_row} connection failures in a row in this batch, "
                f"the last: {self.last}); the batch stopped trying, and what it finished is kept")



# -- the retry policy's hooks: what the batch of this thread says about each attempt ----------------


def before_attempt(client, what: str, n: int = 0) -> None:
    """Raise if the batch this thread works for must not send attempt ``n``: its breaker is open, or its
    quota gate closed. The error's ``unsent`` is True when no attempt of this request was made."""
    breaker, gate = current_breaker(), current_gate()
    if breaker is not None and breaker.open:
        error = RemoteServiceError(f"{client.name}: {redact(what)} {'not sent' if n == 0 else 'not completed'}: "
                                   f"{redact(breaker.why())}. Try again later.", service=client.service)
        error.unsent = n == 0
        raise error
    if gate is not None and not gate.before_send():
        raise RateLimitError(f"{client.name}: {redact(what)} {gate.not_sent_info()}", retry_after=gate.retry_after,
                             service=client.service)


def attempt_succeeded() -> None:
    breaker, gate = current_breaker(), current_gate()
    if breaker is not None:
        breaker.succeeded()
    if gate is not None:
        gate.sent()


def attempt_failed(client, exc: BaseException, what: str) -> bool:
    """A transient failure of an attempt, told to the batch this thread works for.

    Returns True when the request is to be sent again at once (the quota gate
    waited a 429 out: not a failure); raises when the batch says stop (the
    gate keeps the rest unsent, or the breaker opened); False: the retry
    policy decides as usual.
    """
    status = getattr(exc, "status", None)  # a Retryable: the server answered (429, 5xx, a bad body)
    gate = current_gate()
    if gate is not None and status == 429:
        if gate.throttled(exc.retry_after):
            return True
        exc.raise_error()  # the RateLimitError of that answer: not sent
    breaker = current_breaker()
    if breaker is not None and status is None and breaker.failed(getattr(exc, "reason", type(exc).__name__)):
        before_attempt(client, what, 1)  # raises the breaker's error
    return False


def current_breaker() -> CircuitBreaker | None:
    """The breaker of the batch this thread is working for, if any."""
    return getattr(_local, "breaker", None)


def batch_breaker() -> CircuitBreaker:
    """The breaker a new batch shares: the enclosing batch's if this thread works for one, else a new one."""
    return current_breaker() or CircuitBreaker()


# -- the hourly quota -----------------------------------------------------------------------------


#: What a per-item batch does at the hourly quota's HTTP 429.
ON_RATE_LIMIT = ("return", "wait")


def quota_gate(client, what: str, total: int, on_rate_limit: str, *, stacklevel: int = 3) -> "QuotaGate":
    """The gate of a batch of ``total`` requests (one per item) of ``client``, its cost said first.

    ``on_rate_limit`` is checked (`ValueError` before anything is sent), and
    the cost against ``client.requests_per_hour`` is logged, or warned when
    it is more than one hour's quota.
    """
    if on_rate_limit not in ON_RATE_LIMIT:
        raise ValueError(f"on_rate_limit must be 'return' (stop at the first HTTP 429 and return the "
                         f"outcomes so far) or 'wait' (wait as the server says, then go on); "
                         f"got {on_rate_limit!r}")
    gate = QuotaGate(what, total, wait=on_rate_limit == "wait")
    quota = client.requests_per_hour
    if quota is None:
        return gate
    message = (f"{gate.what}: {total} id(s) = {total} request(s), one per id, against the quota of "
               f"{quota} requests per hour per user (shared with every other call of this account)")
    if total <= quota:
        log.info(message)
        return gate
    then = ("stops at the first HTTP 429 and returns the outcomes so far, the ids not sent marked "
            "sent=False with when to retry (on_rate_limit='wait' waits instead)" if not gate.wait else
            "waits at each HTTP 429 as the server says, with a countdown (Ctrl-C stops it)")
    warnings.warn(f"{message}: more than one hour's quota, so at least {math.ceil(total / quota) - 1} h more "
                  f"of waiting. The call {then}.", AstropyUserWarning, stacklevel=stacklevel + 1)
    return gate


class QuotaGate(_Engaged):
    """How the calls of one batch meet a service's hourly quota (HTTP 429).

    ``wait=False``: the first 429 closes the gate; items not yet sent are not
    sent, and `not_sent_info` says when to send them. ``wait=True``: the first
    call to meet a 429 counts the ``Retry-After`` down on ``stream`` while the
    others hold before sending; then all go on.

    The retry policy consults the gate of the batch its thread works for
    (`engaged`, `wrap`): `before_send` before each attempt (False: not sent),
    `throttled` at each 429 (True: send the same request again), `sent` after
    a request went through.
    """

    _slot = "gate"

    def __init__(self, what: str, total: int, *, wait: bool, stream=None):
        self.what, self.total, self.wait = what.rstrip("/"), total, wait
        self.stream = stream if stream is not None else sys.stderr
        self.lock = threading.Lock()
        self.closed = False
        self.retry_after: float | None = None
        self.retry_at: float | None = None  # epoch seconds
        self.resume_at = 0.0  # monotonic
        self.done = 0

    def before_send(self) -> bool:
        while True:
            with self.lock:
                if self.closed:
                    return False
                delay = self.resume_at - time.monotonic()
            if delay <= 0:
                return True
            time.sleep(min(delay, 0.2))

    def sent(self) -> None:
        with self.lock:
            self.done += 1

    def throttled(self, retry_after: float | None) -> bool:
        """A 429: True to send the same request again (after waiting), False if it stays unsent."""
        wait_s = 60.0 if retry_after is None else max(1.0, float(retry_after))
        with self.lock:
            if not self.wait:
                if not self.closed:
                    self.closed = True
                    self.retry_after = wait_s
                    self.retry_at = time.time() + wait_s
                return False
            resume = time.monotonic() + wait_s
            counting = resume > self.resume_at + 0.5
            if counting:
                self.resume_at = resume
        if counting:
            self._countdown(wait_s)
        return True

    def _countdown(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            with self.lock:
                done = self.done
            minutes, secs = divmod(int(math.ceil(left)), 60)
            self.stream.write(f"\r{self.what}: hourly quota used up after {done} of {self.total} ids; "
                              f"going on in {minutes:02d}:{secs:02d} (Ctrl-C to stop) ")
            self.stream.flush()
            time.sleep(min(left, 1.0))
        self.stream.write("\n")
        self.stream.flush()

    def retry_at_iso(self) -> str:
        if self.retry_at is None:
            return ""
        return _dt.datetime.fromtimestamp(self.retry_at, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def not_sent_info(self) -> str:
        return (f"not sent: hourly quota used up (HTTP 429); send again after {self.retry_at_iso()}"
                if self.retry_at is not None else "not sent")


def current_gate() -> QuotaGate | None:
    """The quota gate of the batch this thread is working for, if any."""
    return getattr(_local, "gate", None)
