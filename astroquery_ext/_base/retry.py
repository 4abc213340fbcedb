"""The one retry policy: what is tried again, how often, how long to wait.

`RetryMixin` (part of `~astroquery_ext._base.query.ServiceQuery`) runs every
attempt of every send path, plain requests, streamed answers and bodies,
downloads, through `RetryMixin._retrying`:

- an attempt asks for another by raising a transient error: no connection, a
  connection reset or cut off, a read timeout (`TRANSIENT_ERRORS`), or
  `Retryable` (an answer cut short or unreadable, HTTP 429/502/503/504);
- capped exponential backoff with jitter, or what ``Retry-After`` asks
  (`RetryMixin._retry_after`); a server asking for longer than
  ``retry_max_wait`` is answered at once;
- a request that is not idempotent is repeated only when the server surely
  did not act on it;
- a batch's circuit breaker and quota gate (`~astroquery_ext._base.policy`)
  have their say before each attempt.

What one attempt sends and reads is `~astroquery_ext._base.http`'s concern.
"""

from __future__ import annotations

import email.utils
import http.client
import logging
import random
import re
import time
from typing import Callable, TypeVar

import requests
import urllib3

from astroquery_ext._base import policy
from astroquery_ext._base.exceptions import RemoteServiceError
from astroquery_ext._base.redaction import redact

__all__ = ["RetryMixin", "Retryable", "TRANSIENT_ERRORS"]

log = logging.getLogger("astroquery_ext")

T = TypeVar("T")


# -- what the retry policy tries again ----------------------------------------


class Retryable(Exception):
    """Raised inside an attempt to ask the retry policy (`ServiceQuery._retrying`) for another one.

    A ``read`` callback raises it for an answer that was cut short or is
    unreadable; the request layer raises it for HTTP 429/502/503/504.

    Parameters
    ----------
    reason : str
        What went wrong, for the final message.
    acted : bool
        Whether the server may have acted on the request (then a request that
        is not idempotent is not repeated).
    retry_after : float, optional
        Seconds the server asked us to wait.
    message : str, optional
        The whole message of the `RemoteServiceError` raised when the policy
        gives up (default: one built from ``reason``).
    """

    def __init__(self, reason: str, *, acted: bool = True, retry_after: float | None = None,
                 message: str | None = None, status: int | None = None, url: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.acted = acted
        self.retry_after = retry_after
        self.message = message
        self.status = status
        self.url = url

    def raise_error(self) -> None:
        """Raise the error this failure maps to when the policy gives up, if it has one (an error
        answer: `RateLimitError` for a 429...); else return."""


#: Failures that may go away when the request is sent again: no connection,
#: a connection reset or cut off, a read timeout, `Retryable`.
TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError,
                    http.client.IncompleteRead, ConnectionError, Retryable)


class RetryMixin:
    """The retry policy of every request (`_retrying`) and its settings."""

    #: Retry budget for one request (attempts after the first).
    max_retries: int = 4
    #: First backoff delay (seconds); doubles per attempt, with jitter.
    retry_backoff: float = 0.5
    #: Longest single wait (seconds), for backoff and for ``Retry-After``; a
    #: server asking for longer gets a `~astroquery_ext.exceptions.RateLimitError` at once.
    retry_max_wait: float = 120.0

    def _backoff(self, attempt: int) -> float:
        return min(self.retry_max_wait, self.retry_backoff * 2 ** attempt) * random.uniform(0.5, 1.0)

    @staticmethod
    def _retry_after(response: requests.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                return None

    # -- the retry policy (one for every send path) ---------------------------------

    def _retrying(self, attempt: Callable[[int], T], *, what: str, idempotent: bool = True,
                  retries: int | None = None) -> T:
        """Run ``attempt(n)`` for n = 0, 1, ... until it returns: the one retry policy.

        Plain requests (`_http`), streamed responses (``_http(read=...)``),
        streamed bodies (``_http(data=<callable>)``) and downloads all go
        through here. An attempt asks for another one by raising a transient
        error: a connection refused, reset or cut off, a read timeout
        (`TRANSIENT_ERRORS`), or `Retryable` (an answer that was cut short or
        unreadable, a 429/502/503/504 status). The policy:

        - at most ``retries`` (default ``max_retries``) attempts after the first;
        - waits ``retry_backoff * 2**n`` (capped at ``retry_max_wait``) with
          jitter, or what ``Retry-After`` asks; a server asking for longer than
          ``retry_max_wait`` gets an answer at once;
        - a request that is not ``idempotent`` is repeated only when the server
          surely did not act on it (no connection made, or HTTP 429);
        - when it stops: a `Retryable` status answer raises its mapped error
          (`RateLimitError`...), anything else a `RemoteServiceError` naming
          ``what``, the number of attempts and what to do.

        Parameters
        ----------
        attempt : callable
            ``attempt(n) -> value``; ``n`` counts from 0.
        what : str
            The operation, for messages (``"POST /objects/"``).

        A batch (`bounded_map`, `download_many`, a per-item write under a
        quota) shares its circuit breaker and its quota gate with the calls
        its threads make (`astroquery_ext._base.policy`): an open breaker or
        a closed gate ends an attempt before it is sent, and the gate, not
        this loop, decides about an HTTP 429.
        """
        budget = self.max_retries if retries is None else retries
        n = 0
        while True:
            # The batch this thread works for (its circuit breaker, its quota gate) has a say too.
            policy.before_attempt(self, what, n)
            try:
                value = attempt(n)
                policy.attempt_succeeded()
                return value
            except requests.exceptions.SSLError as exc:
                raise self._tls_error(what, exc) from None
            except TRANSIENT_ERRORS as exc:
                if policy.attempt_failed(self, exc, what):
                    continue
                if isinstance(exc, Retryable):
                    acted, wait = exc.acted, exc.retry_after
                else:
                    # Without an answer we cannot know whether a write was
                    # carried out, unless the connection was never made.
                    acted = not (isinstance(exc, requests.exceptions.ConnectTimeout)
                                 or "NewConnectionError" in repr(exc))
                    wait = None
                wait = self._backoff(n) if wait is None else wait
                if n >= budget or (acted and not idempotent) or wait > self.retry_max_wait:
                    self._give_up(exc, what=what, attempts=n + 1, repeatable=idempotent or not acted)
                log.debug("%s: %s: attempt %d failed (%s); again in %.2f s", self.service, what, n + 1,
                          type(exc).__name__, wait)
                time.sleep(wait)
                n += 1

    def _give_up(self, exc: BaseException, *, what: str, attempts: int, repeatable: bool) -> None:
        """Raise the error for a transient failure the policy will not try again."""
        if isinstance(exc, Retryable):
            exc.raise_error()  # an error answer (429, 502...) raises its mapped error
        if isinstance(exc, Retryable) and exc.message:
            raise RemoteServiceError(f"{exc.message} ({attempts} attempt(s))", status=exc.status,
                                     url=exc.url, service=self.service) from None
        what_happened = ("timed out" if isinstance(exc, requests.Timeout) else
                         "was cut off" if isinstance(exc, (Retryable, requests.exceptions.ChunkedEncodingError,
                                                           urllib3.exceptions.ProtocolError,
                                                           http.client.IncompleteRead))
                         else "failed")
        reason = exc.reason if isinstance(exc, Retryable) else type(exc).__name__
        advice = ("Try again later." if repeatable else
                  "The request changes data on the server and was not repeated: check "
                  "whether it took effect before sending it again.")
        if what_happened == "failed" or isinstance(exc, requests.exceptions.ConnectTimeout):
            url = re.search(r"https?://\S+", what)
            advice = self._unreachable_hint(url.group(0) if url else self.server) + " " + advice
        raise RemoteServiceError(f"{self.name}: {redact(what)} {what_happened} after {attempts} attempt(s): "
                                 f"{redact(reason)}. {advice}", service=self.service) from None
