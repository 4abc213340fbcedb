"""The exceptions and warnings of astroquery_ext.

Every error a service answers maps to one class below. Each message says what
happened (the HTTP status and the server's own words) and what to do. The
classes also derive from astroquery's exceptions of the same meaning, so code
written for astroquery (``except astroquery.exceptions.LoginError``) works.

Bad arguments never get this far: they raise `ValueError` or `TypeError`
naming the argument, before anything is sent.
"""

from __future__ import annotations

import sys

from astroquery import exceptions as _aq

from astroquery_ext._base.redaction import redact, redact_value, scrub_chain

from astroquery.exceptions import MaxResultsWarning, NoResultsWarning  # noqa: F401  (re-exported)

__all__ = [
    "AstroqueryExtError", "LoginError", "AuthorizationError", "NotFoundError",
    "ConflictError", "RateLimitError", "InvalidQueryError", "RemoteServiceError",
    "DownloadError", "ServiceTimeoutError", "NoResultsWarning", "MaxResultsWarning",
    "IncompleteResultWarning", "TableWriteError",
]


class AstroqueryExtError(Exception):
    """Base class of every error a service call raises.

    Attributes
    ----------
    status : int or None
        HTTP status, when there was an answer.
    detail : str or None
        The server's own words (its error message), when it gave any.
    url : str or None
        The URL asked, with any credential in it redacted.
    service : str or None
        The service name (``"atlas"``...).
    payload : dict or None
        The error answer's JSON object, when it was one (machine-readable codes).
    table : `~astropy.table.Table` or None
        What a call of many requests received before it failed (the finished
        chunks' rows, the pages before the missing one, the files downloaded,
        the records written), as the call would have returned it; None for a
        call of one request.
    """

    table = None

    def __init__(self, message: str, *, status: int | None = None, detail: str | None = None,
                 url: str | None = None, service: str | None = None, payload: dict | None = None):
        # No secret travels in an error: the message, the server's words and
        # its answer are redacted, and the exception being handled (which
        # becomes __context__, even under "raise ... from None") is scrubbed of
        # the requests objects that hold the token and the request body.
        super().__init__(redact(message))
        self.status = status
        self.detail = redact(detail) if isinstance(detail, str) else detail
        self.url = redact(url) if isinstance(url, str) else url
        self.service = service
        self.payload = redact_value(payload) if payload is not None else None
        scrub_chain(sys.exc_info()[1])

    def __setattr__(self, name, value):
        # Attributes set later (``error.existing = ...``) are redacted too.
        if name not in ("status", "service", "__traceback__") and not name.startswith("__"):
            value = redact(value) if isinstance(value, str) else (
                redact_value(value) if isinstance(value, (dict, list, tuple)) else value)
        super().__setattr__(name, value)


class LoginError(AstroqueryExtError, _aq.LoginError):
    """Not logged in, bad credentials, or a token that expired and cannot be renewed."""


class AuthorizationError(AstroqueryExtError):
    """Logged in, but this account may not do that (HTTP 403)."""


class NotFoundError(AstroqueryExtError, LookupError):
    """The record or file asked for does not exist (HTTP 404)."""


class ConflictError(AstroqueryExtError):
    """The request conflicts with what the service already holds (HTTP 409)."""


class InvalidQueryError(AstroqueryExtError, _aq.InvalidQueryError):
    """The service rejected the query as invalid (HTTP 400/422)."""


class RemoteServiceError(AstroqueryExtError, _aq.RemoteServiceError):
    """The service failed (5xx), answered something unreadable, or could not be reached."""


class RateLimitError(RemoteServiceError):
    """The service throttled us (HTTP 429) longer than the retry budget allows.

    ``retry_after`` is the number of seconds the server asked us to wait, if it said.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServiceTimeoutError(RemoteServiceError, TimeoutError):
    """The server did not complete its answer within the call's deadline.

    ``timeout`` bounds the connection, every read and the whole exchange: a
    server that answers too slowly (even one byte at a time) is cut off after
    about ``timeout`` seconds, and the call is not repeated.
    """


class DownloadError(RemoteServiceError):
    """A file could not be downloaded completely and correctly.

    Nothing is left at the final path; a partial ``.part`` file may be kept
    next to it so that the next attempt resumes.
    """


class TableWriteError(AstroqueryExtError, ValueError):
    """A value of a result table cannot be written to the format asked (the message names the column).

    Texts with a lone surrogate (no UTF-8 file holds one) and lists or dicts
    nested deeper than a writer can follow raise it; nothing is written.
    """


class IncompleteResultWarning(UserWarning):
    """The pages of a result did not add up (fewer records than the server's
    total, or records that came twice), and the call was asked not to fail."""


# Tracebacks, reprs and docs name the public path (astroquery_ext.exceptions.LoginError), not this module.
for _cls in (AstroqueryExtError, LoginError, AuthorizationError, NotFoundError, ConflictError,
             InvalidQueryError, RemoteServiceError, RateLimitError, DownloadError,
             ServiceTimeoutError, TableWriteError, IncompleteResultWarning):
    _cls.__module__ = "astroquery_ext.exceptions"
del _cls
