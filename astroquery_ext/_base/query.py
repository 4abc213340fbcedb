"""`ServiceQuery`: what every service class of astroquery_ext is built on.

A service class sets three class attributes and writes its query methods::

    class AtlasClass(ServiceQuery):
        service = "atlas"          # names the env variables, keyring entry, cache dir
        conf = conf                # the module's astropy ConfigNamespace (read at call time)
        auth_scheme = "Token"      # how the Authorization header starts

        def login(self, token=None, ...):
            ...
            return self._set_auth(AuthState(token=..., scheme=self.auth_scheme))

        def query_region(self, ...):
            records = self._json("POST", "cone/", data={...}, auth="required", cache=cache)
            return self._table(records, FIELDS, ...)

What the base does for every request:

- ``server`` and ``timeout`` come from the constructor or, at call time, ``conf``;
- one ``requests.Session`` per object; the Authorization header is built per
  request from the current token, never set on the shared session;
- idempotent requests are retried with capped exponential backoff and jitter
  on connection errors, truncated bodies, 502/503/504 and 429 (waiting as
  ``Retry-After`` says); a write that is not idempotent is retried only when
  the server certainly did not act on it (429, or no connection made);
- a 401 on an authenticated request renews the token once (under a lock, so
  concurrent callers renew once) and repeats the request;
- failures raise the exceptions of :mod:`astroquery_ext._base.exceptions`,
  with the status, the server's own words and what to do;
- JSON answers of cacheable calls go through the safe `ResponseCache`;
- DEBUG logging shows method, URL (credentials redacted), status, size and
  time: never headers or bodies.
"""

from __future__ import annotations

import abc
import dataclasses
import email.utils
import functools
import hashlib
import http.client
import http.cookiejar
import json as jsonlib
import logging
import os
import random
import re
import threading
import time
import urllib.parse
import weakref
from typing import Any, Callable, ClassVar, Iterable, Mapping, TypeVar

import requests
import urllib3
from astroquery.query import LoginABCMeta, QueryWithLogin

from astroquery_ext import __version__
from astroquery_ext._base.args import row_limit_arg
from astroquery_ext._base.cache import ResponseCache, cache_key
from astroquery_ext._base.credentials import CredentialChain, TokenStore, env_var, no_prompt
from astroquery_ext._base.deadline import Deadline, deadline_adapter
from astroquery_ext._base.deadline import progress as body_progress
from astroquery_ext._base.redaction import redact, redact_url, register_secret, scrub_chain
from astroquery_ext._base.serialize import as_result, provenance
from astroquery_ext._base.shapes import CONTAINER, Shape
from astroquery_ext._base.tables import Field, decode_json, records_to_table, warn_if_empty, warn_truncated
from astroquery_ext._base.exceptions import (
    AstroqueryExtError, AuthorizationError, ConflictError, InvalidQueryError, LoginError, NotFoundError,
    RateLimitError, RemoteServiceError, ServiceTimeoutError)

__all__ = ["ServiceQuery", "AuthState", "Retryable", "TRANSIENT_ERRORS", "redact", "redact_url",
           "register_secret"]

log = logging.getLogger("astroquery_ext")

#: Body fields whose values are registered as secrets when sent.
_BODY_SECRET = re.compile(r"password|passwd|secret|token|api_?key|assertion|verifier", re.IGNORECASE)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})

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


class _RetryableStatus(Retryable):
    """A 429/502/503/504 answer; when the policy gives up, its mapped error is raised."""

    def __init__(self, client, response, method, url, state, *, acted, retry_after):
        super().__init__(f"HTTP {response.status_code}", acted=acted, retry_after=retry_after,
                         status=response.status_code)
        self._raise = lambda: client._raise_for_status(response, method, url, state)
        try:  # the error text, for the message if the policy gives up
            client._bounded_content(response, "", limit=_ERROR_BODY_LIMIT, strict=False)
        except Exception:  # noqa: BLE001 - a cut-off error body leaves the message without it
            response._content = b""
        response.close()

    def raise_error(self):
        self._raise()


#: How much of an error answer is read (its text goes into the message).
_ERROR_BODY_LIMIT = 1 << 20


class _TooDeep(ValueError):
    pass


def loads(content: bytes | str) -> Any:
    """``json.loads`` that turns a document nested too deeply for Python into a ``ValueError``."""
    try:
        return decode_json(content)
    except RecursionError:
        raise _TooDeep("the JSON is nested too deeply to be read") from None


def _json_or_none(response: requests.Response) -> Any:
    """The error answer's JSON value, or None when it is not JSON (or too deep)."""
    try:
        return loads(response.content)
    except ValueError:
        return None


#: Failures that may go away when the request is sent again: no connection,
#: a connection reset or cut off, a read timeout, `Retryable`.
TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError,
                    http.client.IncompleteRead, ConnectionError, Retryable)


# -- redaction: astroquery_ext._base.redaction (re-exported here) -----------------


# -- authentication state ------------------------------------------------------


@dataclasses.dataclass(frozen=True, repr=False)
class AuthState:
    """Who a client is logged in as. Immutable: a renewal makes a new one.

    Parameters
    ----------
    token : str
        The access token sent with each request.
    scheme : str
        The Authorization scheme (``"Bearer"``, ``"Token"``).
    principal : str, optional
        The user name, when known; it identifies the cache entries of this user.
    expires_at : float, optional
        When the token expires (seconds since the epoch).
    refresh_token : str, optional
        A token to get a new access token with.
    extra : dict
        Service-specific state (ID-token claims, exchanged tokens...).
    principal_checked : bool
        Whether the server vouched for ``principal`` (a password login, an ID
        token). False when it is only what the caller said (a token given
        with a user name): the cache then files this identity's answers under
        a hash of the token, so a token of B named "alice" never reads alice's.
    """

    token: str
    scheme: str = "Bearer"
    principal: str | None = None
    expires_at: float | None = None
    refresh_token: str | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: When the token was obtained (seconds since the epoch).
    obtained_at: float = dataclasses.field(default_factory=time.time)
    principal_checked: bool = True

    def __post_init__(self):
        # Remembered for redaction as long as this state lives (a renewal
        # makes a new state; nothing in use is ever forgotten).
        register_secret(self.token, owner=self)
        register_secret(self.refresh_token, owner=self)

    def header(self) -> dict[str, str]:
        return {"Authorization": f"{self.scheme} {self.token}"}

    def expired(self, margin: float = 0.0) -> bool:
        return self.expires_at is not None and time.time() + margin >= self.expires_at

    def renewal_due(self) -> bool:
        """Expired, or in the last quarter of its life (at most the last 30 s)."""
        if self.expires_at is None:
            return False
        lifetime = max(0.0, self.expires_at - self.obtained_at)
        return self.expired(margin=min(30.0, lifetime / 4))

    def fingerprint(self, service: str, server: str) -> str:
        """Names this identity in the cache: a hash, never the token."""
        who = f"user:{self.principal}" if self.principal and self.principal_checked else f"token:{self.token}"
        return hashlib.sha256(f"astroquery_ext\0{service}\0{server}\0{who}".encode()).hexdigest()[:32]

    def to_json(self) -> str:
        return jsonlib.dumps(dataclasses.asdict(self) | {"extra": dict(self.extra)})

    @classmethod
    def from_json(cls, text: str) -> "AuthState | None":
        try:
            data = jsonlib.loads(text)
            return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})
        except (ValueError, TypeError, KeyError):
            return None

    def __repr__(self) -> str:
        expires = ("never" if self.expires_at is None else
                   time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.expires_at)))
        return f"<AuthState principal={self.principal!r} expires={expires}>"


ANONYMOUS = "anonymous"

# -- error answers ----------------------------------------------------------------

_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie", "form"})
_DETAIL_KEYS = ("detail", "error_description", "title", "message", "error", "Error")


def _validation_item(item: Any) -> str:
    """One FastAPI/pydantic validation error: ``where: msg``; ``where`` without the location kind."""
    if not isinstance(item, Mapping):
        return str(item)
    loc = [str(p) for p in item.get("loc") or () if p is not None]
    if len(loc) > 1 and loc[0] in _LOCATIONS:
        loc = loc[1:]
    elif loc and loc[0] in _LOCATIONS:
        loc = []
    msg = item.get("msg") or item.get("message") or item.get("type") or jsonlib.dumps(item, default=str)
    return f"{'.'.join(loc)}: {msg}" if loc else str(msg)


def _field_errors(body: Mapping, prefix: str = "") -> list[str]:
    """Django REST framework's ``{"field": ["msg", ...], "other": {"nested": [...]}}``."""
    parts = []
    for key, value in body.items():
        where = f"{prefix}{key}"
        if isinstance(value, Mapping):
            parts.extend(_field_errors(value, where + "."))
            continue
        text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(text if key == "non_field_errors" else f"{where}: {text}")
    return parts


def error_detail(body: Any, *, limit: int = 5) -> str | None:
    """The server's own words in a parsed JSON error answer, or None when it holds none.

    The one reading of error bodies for every service:

    - FastAPI validation errors, ``{"detail": [{"loc": ["query", "limit"], "msg": ...}, ...]}``:
      ``"limit: msg; ..."`` (the location kind dropped; at most ``limit``, then how many more);
    - ``{"detail": "text"}`` and the other usual keys (``error_description``, ``message``,
      ``error``...; RFC 7807's ``title: detail``);
    - Django REST framework field errors, ``{"field": ["msg", ...]}``: ``"field: msg"``
      (``non_field_errors`` without the key), nested objects with dotted names;
    - a bare list or string: as is, shortened.
    """
    if isinstance(body, Mapping):
        detail = body.get("detail")
        if isinstance(detail, list) and detail:
            parts = [_validation_item(item) for item in detail]
            more = len(parts) - limit
            return "; ".join(parts[:limit]) + (f"; and {more} more" if more > 0 else "")
        for key in _DETAIL_KEYS:
            value = body.get(key)
            if value:
                text = value if isinstance(value, str) else jsonlib.dumps(value, default=str)
                if key == "title" and isinstance(body.get("detail"), str) and body["detail"]:
                    text = f"{value}: {body['detail']}"
                return text
        if body:
            parts = _field_errors(body)
            more = len(parts) - limit
            return "; ".join(parts[:limit]) + (f"; and {more} more" if more > 0 else "")
        return None
    if isinstance(body, list) and body:
        return "; ".join(map(str, body))[:500]
    if isinstance(body, str) and body:
        return body[:500]
    return None
# -- processes -------------------------------------------------------------------
#
# A forked child inherits the parent's HTTP session (its pooled keep-alive
# sockets, shared with the parent: two processes writing requests on one socket
# read each other's answers) and its locks (held, perhaps, by a parent thread
# that does not exist in the child). Every live client gets a new session and
# new locks in the child, before the child runs any code of its own.

_CLIENTS: "weakref.WeakSet[ServiceQuery]" = weakref.WeakSet()


def _renew_after_fork() -> None:
    global _SECRETS_LOCK
    _SECRETS_LOCK = threading.Lock()
    for client in list(_CLIENTS):
        client._open_process_state()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_renew_after_fork)


class _OriginCookieJar(requests.cookies.RequestsCookieJar):
    """A cookie jar whose cookies go back only to the origin (host *and* port) that set them.

    Browsers' rules (and requests') scope a cookie by host alone, so a cookie
    from one server would go to any other server on the same host.
    """

    def extract_cookies(self, response, request):
        port = http.cookiejar.request_port(request)
        for cookie in self.make_cookies(response, request):
            if self._policy.set_ok(cookie, request):
                cookie.port, cookie.port_specified = port, True
                self.set_cookie(cookie)


class _ServiceMeta(LoginABCMeta):
    """astroquery's metaclass replaces ``login`` by a wrapper that returns None
    whenever a class defines ``_login``; service classes keep their own, wrapped
    so that a failed login leaves no password in its traceback's frames."""

    def __new__(mcls, name, bases, attrs):
        if "login" in attrs:
            attrs = dict(attrs, login=_forgetting_locals(attrs["login"]))
        return abc.ABCMeta.__new__(mcls, name, bases, attrs)


def _forgetting_locals(login):
    @functools.wraps(login)
    def wrapper(self, *args, **kwargs):
        try:
            return login(self, *args, **kwargs)
        except BaseException as exc:
            # The login's frames have finished: their locals (a password read or given for this
            # login, the request body) go; so do this frame's arguments (a deprecated password).
            scrub_chain(exc)
            args = kwargs = None  # noqa: F841
            raise
    return wrapper


class ServiceQuery(QueryWithLogin, metaclass=_ServiceMeta):
    """Base class of the astroquery_ext service classes.

    Parameters
    ----------
    server : str, optional
        The service's API root URL; default ``conf.server``, read at call time.
    timeout : float, optional
        Seconds to wait for the server; default ``conf.timeout``, read at call time.
    """

    #: Service name: ``ASTROQUERY_EXT_<SERVICE>_*`` variables, keyring service
    #: ``astroquery_ext.<service>``, cache dir ``astroquery_ext/<service>``.
    service: ClassVar[str] = ""
    #: The module's ``conf`` (an astropy ``ConfigNamespace`` with ``server`` and ``timeout``).
    conf: ClassVar[Any] = None
    #: The Authorization scheme of this service.
    auth_scheme: ClassVar[str] = "Bearer"
    #: Cache lifetime (seconds) of the answers of read endpoints not in ``cache_ttls``
    #: (0: not cached). Each service states its lifetimes in docs/caching.rst.
    cache_ttl: ClassVar[float | None] = 24 * 3600.0
    #: Cache lifetime (seconds) per endpoint: the longest key that starts the
    #: endpoint's path (relative to ``server``) wins; 0: never cached.
    cache_ttls: ClassVar[Mapping[str, float]] = {}
    #: Retry budget for one request (attempts after the first).
    max_retries: int = 4
    #: First backoff delay (seconds); doubles per attempt, with jitter.
    retry_backoff: float = 0.5
    #: Longest single wait (seconds), for backoff and for ``Retry-After``; a
    #: server asking for longer gets a `~astroquery_ext.exceptions.RateLimitError` at once.
    retry_max_wait: float = 120.0
    #: Largest answer body read into memory (bytes, after decompression): a
    #: gzip answer that expands past it (a decompression bomb) is refused.
    max_answer_bytes: int = 512 << 20
    #: Upper bound of ``max_workers`` for concurrent pages and downloads.
    max_workers_limit: ClassVar[int] = 16
    #: Statuses that mean "this token no longer works": the token is renewed
    #: once (``_refresh``) and the request repeated. Some services answer 403
    #: for an expired token.
    renew_statuses: ClassVar[frozenset] = frozenset({401})
    #: Attributes that belong to one process: never pickled, made anew in a
    #: forked child and in an unpickled copy (`_open_process_state`). The
    #: login state is among them: a pickle holds no token.
    _process_local: ClassVar[tuple[str, ...]] = ("_session", "_auth_lock", "_auth", "_authenticated", "_pid")

    def __init__(self, *, server: str | None = None, timeout: float | None = None):
        super().__init__()
        self._user_agent = f"astroquery_ext/{__version__} {self._session.headers['User-Agent']}"
        if server is not None:
            self._check_server(server)
        if timeout is not None:
            self._check_timeout(timeout)
        self._server = server
        self._timeout = timeout
        self._verify: bool | str = True
        self._cache = ResponseCache(self.service)
        self.store = TokenStore(self.service)
        self.credentials = CredentialChain(self.service, self.store, f"{self.name}.login()", type(self).login)
        #: After unpickling: the login to find again (environment, then the
        #: stored login), as whom; False when the original was not logged in.
        self._resume: str | bool | None = False
        self._auth: AuthState | None = None
        self._authenticated = False
        self._open_process_state()
        _CLIENTS.add(self)

    # -- processes: fork and pickle -----------------------------------------------------

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        # Not astroquery's response hook: it logs request headers (tokens) at DEBUG.
        session.hooks["response"] = [self._log_response]
        # Sockets that a Deadline can stop (timeout bounds the whole exchange).
        adapter = deadline_adapter(pool_connections=4, pool_maxsize=self.max_workers_limit * 2)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = self._user_agent
        session.cookies = _OriginCookieJar()  # cookies scoped to host and port
        return session

    def _open_process_state(self) -> None:
        """What one process may not share with another: the HTTP session (its pooled
        sockets) and the locks. Made by the constructor, again in a forked child
        (before the child runs any code of its own), and in an unpickled copy.

        Services that hold locks or per-process objects of their own extend it
        (and name them in ``_process_local``).
        """
        # The parent's session is dropped, not closed: closing would shut
        # sockets the parent is still using.
        self._session = self._new_session()
        self._auth_lock = threading.RLock()
        self._pid = os.getpid()

    def __getstate__(self) -> dict:
        """The pickled client: its settings, never a token, password or refresh token.

        The copy logs in again where it is unpickled, on its first request that
        needs a login (environment variables, then the login stored by
        ``login(..., store_token=True)``), and opens its own HTTP session.
        """
        state = {k: v for k, v in vars(self).items() if k not in self._process_local}
        # The copy talks to the server this client talks to now, whatever the
        # configuration of the process it lands in (a spawned worker has its own ``conf``).
        state["_server"], state["_timeout"] = self.server, self.timeout
        state["_principal_hint"] = None
        auth = self._auth
        if auth is not None:
            state["_resume"] = auth.principal or True
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._auth = None
        self._authenticated = False
        self._open_process_state()
        _CLIENTS.add(self)

    def _resume_login(self) -> None:
        """In an unpickled copy of a logged-in client: log in as the original did, without prompting."""
        with self._auth_lock:
            resume, self._resume = self._resume, False
            if self._auth is not None or not resume:
                return
            self._principal_hint = resume if isinstance(resume, str) else None
            try:
                self._auto_login()
            except LoginError as exc:
                raise LoginError(
                    f"{self.name} was logged in where it was pickled, but this process (pid {os.getpid()}) "
                    f"finds no login: a pickle carries no token. Before fanning out, log in with "
                    f"store_token=True (the default) where the workers can read the keyring or "
                    f"the credential file, or set {env_var(self.service, 'token')} in the workers' "
                    f"environment. ({exc})", service=self.service) from None
            finally:
                self._principal_hint = None

    def _login_once(self, auth: str = "required") -> None:
        """Log in now, once, before a call fans out to threads (instead of each thread trying).

        Does what the first request would do: logs in without prompting when
        ``auth="required"`` and not logged in, finds the login of an unpickled
        copy again, renews a token that is due; every thread then shares the result.
        """
        if auth != "none":
            self._current_auth(auth)

    # -- configuration, read at call time ---------------------------------------

    @staticmethod
    def _check_server(server: str) -> None:
        if not isinstance(server, str) or urllib.parse.urlsplit(server).scheme not in ("http", "https") \
                or not urllib.parse.urlsplit(server).netloc:
            raise ValueError(f"server must be an http(s) URL such as 'https://host/api/'; got {server!r}")

    @staticmethod
    def _check_timeout(timeout: float) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}")

    @property
    def server(self) -> str:
        """The API root URL (the constructor's ``server``, else ``conf.server``)."""
        return self._server if self._server is not None else self.conf.server

    @server.setter
    def server(self, value: str | None) -> None:
        if value is not None:
            self._check_server(value)
        self._server = value

    @property
    def timeout(self) -> float:
        """Seconds to wait for the server (the constructor's ``timeout``, else ``conf.timeout``)."""
        return self._timeout if self._timeout is not None else float(self.conf.timeout)

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        if value is not None:
            self._check_timeout(value)
        self._timeout = value

    @property
    def verify(self) -> bool | str:
        """How the server's TLS certificate is checked: True (the default CAs) or a CA bundle path.

        True trusts the CAs requests trusts (certifi's, or the bundle named by
        the ``REQUESTS_CA_BUNDLE`` environment variable). A path (a PEM file
        or a directory of them) trusts exactly those CAs, e.g. a private CA of
        your site or of ``Sandbox(tls=True)``. Verification cannot be switched off.
        """
        return self._verify

    @verify.setter
    def verify(self, value: "bool | str | os.PathLike | None") -> None:
        if value is None or value is True:
            self._verify = True
            return
        if value is False:
            raise ValueError("TLS verification cannot be switched off; to trust a private server, "
                             "give the path of its CA certificate (client.verify = '/path/to/ca.pem')")
        path = os.fspath(value)
        if not os.path.exists(path):
            raise ValueError(f"verify: no CA bundle at {path!r}")
        self._verify = path

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.server.rstrip("/") + "/" + path.lstrip("/")

    def __repr__(self) -> str:
        who = self._auth.principal if self._auth and self._auth.principal else None
        state = f"logged in as {who!r}" if who else ("logged in" if self._auth else "not logged in")
        return f"<{type(self).__name__} server={self.server!r} {state}>"

    # -- astroquery's cache API -------------------------------------------------

    @property
    def cache_location(self):
        """Directory of this service's cache (astroquery's attribute name)."""
        return self._cache.root

    @cache_location.setter
    def cache_location(self, value) -> None:
        self._cache.root = value

    def reset_cache_location(self) -> None:
        self._cache.root = None

    def clear_cache(self) -> None:
        """Remove every cached answer and file of this service."""
        self._cache.clear()

    def _cache_ttl(self, url: str) -> float | None:
        """The cache lifetime of an endpoint (``cache_ttls``, else ``cache_ttl``)."""
        root = self.server.rstrip("/") + "/"
        path = url[len(root):] if url.startswith(root) else url.lstrip("/")
        keys = [k for k in self.cache_ttls if path.startswith(k)]
        return self.cache_ttls[max(keys, key=len)] if keys else self.cache_ttl

    # -- astroquery's class attributes ------------------------------------------

    @property
    def TIMEOUT(self) -> float:
        """astroquery's name of `timeout` (seconds to wait for the server); setting it sets `timeout`."""
        return self.timeout

    @TIMEOUT.setter
    def TIMEOUT(self, value: float | None) -> None:
        self.timeout = value

    @property
    def ROW_LIMIT(self) -> int:
        """astroquery's row limit: the most rows a query call returns (-1: all).

        Default ``conf.row_limit``, read at call time; setting it overrides
        ``conf`` for this object (None: back to ``conf``). A service whose
        answers are never paged has none: setting it raises `AttributeError`.
        """
        self._check_row_limit_supported()
        value = self.__dict__.get("_row_limit_override")
        return row_limit_arg(self.conf.row_limit if value is None else value, "conf.row_limit")

    @ROW_LIMIT.setter
    def ROW_LIMIT(self, value: int | None) -> None:
        self._check_row_limit_supported()
        self.__dict__["_row_limit_override"] = None if value is None else row_limit_arg(value, "ROW_LIMIT")

    def _check_row_limit_supported(self) -> None:
        if not hasattr(type(self.conf), "row_limit"):
            raise AttributeError(
                f"{self.name} has no ROW_LIMIT: {self.service} answers are not paged and its calls return "
                f"every row the server sends. Select fewer rows with the query's own arguments, or cut "
                f"the result table (table[:n]).")

    def _row_limit(self, row_limit: Any) -> int | None:
        """The total rows a call may return: its ``row_limit`` argument, else `ROW_LIMIT`; None: all."""
        value = self.ROW_LIMIT if row_limit is None else row_limit_arg(row_limit)
        return None if value == -1 else value

    # -- tab completion ------------------------------------------------------------

    #: Attributes that are machinery, not for users: hidden from ``dir()``
    #: (tab completion), still there for code that knows them.
    _HIDDEN: ClassVar[frozenset] = frozenset({
        "store", "credentials", "renew_statuses", "retry_backoff", "max_retries", "retry_max_wait",
        "max_workers_limit", "auth_scheme", "cache_ttl", "cache_ttls", "service", "name"})

    def __dir__(self):
        return sorted(n for n in set(super().__dir__()) if not n.startswith("_") and n not in self._HIDDEN)

    # -- login ---------------------------------------------------------------------

    def login(self, *args, **kwargs) -> bool:  # pragma: no cover - every service defines its own
        """Log in; returns True or raises `~astroquery_ext.exceptions.LoginError`."""
        raise NotImplementedError

    def _login(self, *args, **kwargs) -> bool:
        # astroquery's abstract hook; ``login`` is the real entry point here.
        return self.login(*args, **kwargs)

    def authenticated(self) -> bool:
        """Whether this object holds credentials (it does not ask the server)."""
        return self._auth is not None

    def whoami(self) -> str | None:
        """The user this object is logged in as, when known; None when not logged in or
        logged in with a token that names no user (it does not ask the server)."""
        state = self._auth
        return state.principal if state is not None else None

    def _set_auth(self, auth: AuthState) -> bool:
        with self._auth_lock:
            if self._auth is None or self._identity(self._auth) != self._identity(auth):
                self._session.cookies.clear()  # cookies of another user (or of no one) must not carry over
            self._auth = auth
            self._authenticated = True
            self._resume = False
        return True

    def _login_with_given_token(self, token: str | None, username: str | None) -> bool | None:
        """Log in with ``token=``, or (no ``username`` given) ``ASTROQUERY_EXT_<SERVICE>_TOKEN``.

        Such a token comes from elsewhere: it is used as given, never stored
        and never renewed. Returns None when there is no such token, so that
        ``login()`` goes on with the user name and password.
        """
        if token is None and (username is not None or not os.environ.get(env_var(self.service, "token"))):
            return None
        from astroquery_ext._base.oauth import jwt_expiry  # oauth imports this module

        token = self.credentials.resolve("token", token, prompt=False)
        return self._set_auth(AuthState(token=token, scheme=self.auth_scheme, expires_at=jwt_expiry(token),
                                        extra={"persist": False}))

    @staticmethod
    def _keeps_login(state: AuthState) -> bool:
        """Whether ``state`` is stored for later processes (``login(store_token=True)``):
        the one signal, ``extra["persist"]``, that every service sets and the base reads."""
        return bool(state.extra.get("persist", False))

    def _default_username(self) -> str | None:
        """The user name a bare ``login()`` uses when neither the argument, the
        environment nor ``conf.username`` gives one: the original's user in an
        unpickled copy, else the user of the login stored last for this server."""
        hint = getattr(self, "_principal_hint", None)
        if hint:
            return hint
        return self.store.last_user(self._where())

    def logout(self, *, forget: bool = False) -> None:
        """Forget the token held in memory and drop this user's cache entries.

        Parameters
        ----------
        forget : bool
            Also remove the credentials stored in the keyring (or the file store).
        """
        with self._auth_lock:
            state, self._auth = self._auth, None
            self._authenticated = False
            self._session.cookies.clear()
        if state is not None:
            self._cache.drop_identity(state.fingerprint(self.service, self.server))
            try:
                self._revoke(state)
            except Exception as exc:  # logout must not fail because the server did
                log.warning("astroquery_ext: %s could not revoke the token on the server (%s); "
                            "it was forgotten locally", self.service, type(exc).__name__)
        if forget:
            for account in self._stored_accounts(state):
                self.store.delete(account)
            if state is None or not state.principal or self.store.last_user(self._where()) == state.principal:
                self.store.remember_user(self._where(), None)

    # Hooks a service overrides ------------------------------------------------

    def _auto_login(self) -> None:
        """Log in without prompting (environment or keyring), or raise `~astroquery_ext.exceptions.LoginError`."""
        with no_prompt():
            self.login()

    def _auth_header(self, state: AuthState) -> dict[str, str]:
        """The Authorization header for a request made as ``state`` (Glance sends an exchanged token)."""
        return state.header()

    def _refresh(self, state: AuthState) -> AuthState | None:
        """Get a new token for ``state`` from the server; None when this service cannot."""
        return None

    def _revoke(self, state: AuthState) -> None:
        """Tell the server the token is no longer needed (when it has a way)."""

    def _stored_accounts(self, state: AuthState | None) -> Iterable[str]:
        """Keyring accounts ``logout(forget=True)`` removes."""
        return ()

    # Stored sessions (tokens that can be renewed) -----------------------------

    def _session_account(self, principal: str | None) -> str:
        """Keyring account of a stored session: one per user *and* server, so a
        sandbox or staging login never shadows a production one."""
        return f"session:{principal or 'default'}@{self.server.rstrip('/')}"

    def _where(self) -> str:
        """This client's server, as stored logins are filed under it."""
        return self.server.rstrip("/")

    def _save_session(self, state: AuthState) -> str:
        account = self._session_account(state.principal)
        where = self.store.set(account, state.to_json())
        if state.principal and account != self._session_account(None):  # sessions stored per user
            # How a bare login() in a new process finds it (a user name, kept
            # apart from the secrets).
            self.store.remember_user(self._where(), state.principal)
        return where

    def _load_session(self, principal: str | None) -> AuthState | None:
        """The stored session of ``principal``; for None, the newest of the unnamed
        session and the last stored user's."""
        accounts = [self._session_account(principal)]
        if principal is None:
            last = self._default_username()
            if last and self._session_account(last) not in accounts:
                accounts.append(self._session_account(last))
        found = []
        for account in accounts:
            stored = self.store.get(account)
            state = AuthState.from_json(stored) if stored else None
            if state is not None:
                found.append(state)
        return max(found, key=lambda s: s.obtained_at) if found else None

    def _renew(self, state: AuthState, *, persist: bool | None = None) -> AuthState | None:
        """Renew ``state`` once across threads and processes.

        Holds the account's lock; if another thread or process renewed while
        we waited, its fresh token is used instead of asking the server again.
        ``persist`` (default: whether ``state`` is kept, `_keeps_login`) stores
        the fresh token for other processes.
        """
        persist = self._keeps_login(state) if persist is None else persist
        # A token another thread or process obtained while we waited is used
        # unless it has expired: "due for renewal" is no reason to log in again
        # (with short-lived tokens and a slow login, the waiters would each
        # find the fresh token already due and renew once more).
        with self._auth_lock:
            if self._auth is not None and self._auth is not state and self._auth.token != state.token \
                    and not self._auth.expired():
                return self._auth  # another thread renewed while we waited
            with self.store.lock(self._session_account(state.principal)):
                if persist:
                    stored = self._load_session(state.principal)
                    if stored is not None and stored.token != state.token and not stored.expired():
                        self._set_auth(stored)
                        return stored
                fresh = self._refresh(state)
                if fresh is None:
                    return None
                if persist:
                    self._save_session(fresh)
                self._set_auth(fresh)
                return fresh

    def _current_auth(self, auth: str) -> AuthState | None:
        if auth == "none":
            return None
        state = self._auth
        if state is None and self._resume:
            self._resume_login()
            state = self._auth
        if state is None and auth == "required":
            with self._auth_lock:  # concurrent first requests log in once
                if self._auth is None:
                    self._auto_login()
                state = self._auth
        if state is not None and state.renewal_due() and state.refresh_token:
            state = self._renew(state) or state
        return state

    def _identity(self, state: AuthState | None = None) -> str:
        state = self._auth if state is None else state
        return ANONYMOUS if state is None else state.fingerprint(self.service, self.server)

    # -- HTTP ------------------------------------------------------------------------

    def _log_response(self, response: requests.Response, *args, **kwargs) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s -> %s (%s bytes, %.3f s)", response.request.method,
                      redact_url(response.request.url), response.status_code,
                      response.headers.get("Content-Length", "?"), response.elapsed.total_seconds())

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
                  retries: int | None = None, max_wait: float | None = None) -> T:
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
        max_wait : float, optional
            The longest ``Retry-After`` of an HTTP 429 waited out (default
            ``retry_max_wait``); a caller that handles a quota itself passes 0
            and gets the `RateLimitError` at once.
        """
        budget = self.max_retries if retries is None else retries
        n = 0
        while True:
            try:
                return attempt(n)
            except requests.exceptions.SSLError as exc:
                raise self._tls_error(what, exc) from None
            except TRANSIENT_ERRORS as exc:
                if isinstance(exc, Retryable):
                    acted, wait = exc.acted, exc.retry_after
                else:
                    # Without an answer we cannot know whether a write was
                    # carried out, unless the connection was never made.
                    acted = not (isinstance(exc, requests.exceptions.ConnectTimeout)
                                 or "NewConnectionError" in repr(exc))
                    wait = None
                wait = self._backoff(n) if wait is None else wait
                limit = self.retry_max_wait
                if max_wait is not None and isinstance(exc, Retryable) and exc.status == 429:
                    limit = max_wait
                if n >= budget or (acted and not idempotent) or wait > limit:
                    self._give_up(exc, what=what, attempts=n + 1, repeatable=idempotent or not acted)
                log.debug("%s: %s: attempt %d failed (%s); again in %.2f s", self.service, what, n + 1,
                          type(exc).__name__, wait)
                time.sleep(wait)
                n += 1

    def _give_up(self, exc: BaseException, *, what: str, attempts: int, repeatable: bool) -> None:
        """Raise the error for a transient failure the policy will not try again."""
        if isinstance(exc, _RetryableStatus):
            exc.raise_error()
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

    def _tls_error(self, what: str, exc: Exception) -> RemoteServiceError:
        # Not transient: repeating the handshake gives the same answer.
        reason = re.search(r"certificate verify failed: ([^'\"()]+)", repr(exc))
        reason = reason.group(1).strip() if reason else "TLS handshake failed"
        return RemoteServiceError(
            f"{self.name}: {redact(what)}: the server's TLS certificate could not be "
            f"verified ({redact(reason)}). If it is signed by a private CA, trust that CA: "
            f"{self.name}.verify = '/path/to/ca.pem', or set REQUESTS_CA_BUNDLE.", service=self.service)

    def _send(self, method: str, url: str, **kwargs) -> requests.Response:
        """One request, no retry (`_retrying` decides about those)."""
        kwargs.setdefault("timeout", (min(10.0, self.timeout), self.timeout))
        if self._verify is not True:
            kwargs.setdefault("verify", self._verify)  # per request: REQUESTS_CA_BUNDLE would win over the session's
        return self._session.request(method, url, **kwargs)

    def _deadline(self, timeout=None, *, what: str = "the request") -> Deadline:
        """A `Deadline` for one exchange: ``timeout`` (default the client's) plus a little slack.

        The per-read timeout (``timeout``) stops a silent server first, and
        that is retried; the deadline stops a server that keeps sending too
        slowly, and that is not. A body that keeps arriving moves it on: the
        loops that read bodies block by block (``_bounded_content``,
        downloads, ``read_ahead``) report each block to
        `astroquery_ext._base.deadline.progress`, so a large answer at any
        usable speed completes. A ``read=`` function of a module that reads
        the body itself should do the same.
        """
        if isinstance(timeout, tuple):
            timeout = max(t for t in timeout if t is not None)
        seconds = self.timeout if timeout is None else float(timeout)
        return Deadline(seconds + max(1.0, 0.25 * seconds), what)

    def _bounded_content(self, response: requests.Response, what: str, *, limit: int | None = None,
                         strict: bool = True) -> bytes:
        """Read the whole (decoded) body, at most ``limit`` bytes (default ``max_answer_bytes``).

        Past the limit: `RemoteServiceError` (``strict``), else the body cut
        at the limit. The body is then ``response.content`` as usual.
        """
        if response._content is not False:  # already read
            return response.content
        limit = self.max_answer_bytes if limit is None else limit
        blocks, size = [], 0
        for block in response.iter_content(1 << 16):
            size += len(block)
            body_progress(len(block))
            if size > limit:
                response.close()
                if not strict:
                    blocks.append(block[:len(block) - (size - limit)])
                    break
                encoding = response.headers.get("Content-Encoding", "")
                raise RemoteServiceError(
                    f"{self.name}: {what} answered more than {limit:,} bytes"
                    f"{f' once decompressed ({encoding})' if encoding else ''}; the answer was refused "
                    f"(a body this large is a fault or an attack: report it to the service if it persists).",
                    status=response.status_code, url=redact_url(response.url or ""), service=self.service)
            blocks.append(block)
        response._content = b"".join(blocks)
        response._content_consumed = True
        return response._content

    def _http(self, method: str, path: str, *, params=None, data=None, json=None, files=None,
              headers: "Mapping[str, str] | Callable[[], Mapping[str, str]] | None" = None, auth: str = "optional",
              idempotent: bool | None = None, stream: bool = False, retries: int | None = None,
              timeout=None, read: Callable[[requests.Response], T] | None = None,
              max_wait: float | None = None) -> Any:
        """Send a request (auth, retry policy, one renewal on 401); raise on any error status.

        Parameters
        ----------
        headers : dict or callable, optional
            Extra request headers; a callable is called once per attempt (a
            download's ``Range`` depends on what the last attempt wrote).
        data : dict, bytes, str, or callable
            The body. A callable is a body factory: called once per attempt
            for a fresh streamed body (file uploads), so that the request can
            be repeated like any other. A file object or generator given
            directly cannot be sent twice: no retry, no renewal.
        auth : {"required", "optional", "none"}
            ``required`` logs in without prompting if needed (else `~astroquery_ext.exceptions.LoginError`);
            ``optional`` sends the token if logged in; ``none`` never sends it.
        idempotent : bool, optional
            Whether repeating the request is harmless; default: by HTTP method.
        read : callable, optional
            ``read(response) -> value`` for a successful answer: its body is
            read inside the retry policy (a body cut off while ``read`` runs,
            or ``read`` raising `Retryable`, repeats the whole request), the
            response is closed afterwards, and ``_http`` returns ``value``.
            Without it ``_http`` returns the response itself.
        max_wait : float, optional
            The longest ``Retry-After`` of an HTTP 429 waited out (default
            ``retry_max_wait``); ``0`` raises `RateLimitError` at the first 429.

        Returns
        -------
        requests.Response, or what ``read`` returned
        """
        method = method.upper()
        url = self._url(path)
        what = f"{method} {urllib.parse.urlsplit(redact_url(url)).path}"
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        for body in (data, json):  # a credential sent in a body is masked wherever it is echoed
            if isinstance(body, Mapping):
                for key, value in body.items():
                    if isinstance(key, str) and _BODY_SECRET.search(key):
                        register_secret(value)
        factory = data if callable(data) else None
        replayable = files is None and (factory is not None or data is None
                                        or isinstance(data, (bytes, str, Mapping, list, tuple)))
        if not replayable:
            retries = 0  # a streamed body cannot be sent twice
        # Always streamed underneath: the body is read here, bounded in size
        # (decompression bombs) and under the deadline, unless the caller reads it.
        kwargs = dict(params=params, json=json, files=files, stream=True)
        if timeout is not None:
            kwargs["timeout"] = timeout
        renewed = False

        def attempt(n: int):
            deadline = self._deadline(kwargs.get("timeout"), what=what)
            try:
                with deadline:
                    result = one_attempt()
            except Exception as exc:
                if deadline.expired and not isinstance(exc, AstroqueryExtError):
                    raise deadline_error(deadline) from None
                raise
            if deadline.expired:  # cut off by the deadline, though what arrived looked whole
                if isinstance(result, requests.Response):
                    result.close()
                raise deadline_error(deadline)
            return result

        def deadline_error(deadline: Deadline) -> ServiceTimeoutError:
            return ServiceTimeoutError(
                f"{self.name}: {what} did not complete within {deadline.seconds:g} s (timeout={self.timeout:g}): "
                f"the server answers too slowly and the call was stopped. Try again later, or raise "
                f"{self.name}.timeout if the service is slow but working.", url=redact_url(url),
                service=self.service)

        def one_attempt():
            nonlocal renewed
            while True:  # a renewal repeats at once; it is not a failure
                state = self._current_auth(auth)
                request_headers = dict((headers() if callable(headers) else headers) or {})
                if state is not None:
                    request_headers.update(self._auth_header(state))
                response = self._send(method, url, headers=request_headers,
                                      data=factory() if factory is not None else data, **kwargs)
                status = response.status_code
                if status in self.renew_statuses and state is not None and not renewed and replayable:
                    renewed = True
                    if self._renew(state) is not None:
                        response.close()
                        continue
                if status == 429 or status in RETRY_STATUSES:
                    raise _RetryableStatus(self, response, method, url, state,
                                           acted=status != 429, retry_after=self._retry_after(response))
                if status >= 400:
                    self._raise_for_status(response, method, url, state)
                response.auth_state = state  # who asked: _json files the cache entry under them
                if read is None:
                    if not stream:
                        self._bounded_content(response, what)
                    return response
                try:
                    return read(response)
                finally:
                    response.close()

        try:
            return self._retrying(attempt, what=what, idempotent=idempotent, retries=retries, max_wait=max_wait)
        except BaseException as exc:
            # The attempts' frames have finished: their locals (the request headers with the token,
            # the response) go, so that no debugger or error tracker shows them. Line numbers stay.
            scrub_chain(exc)
            raise

    # -- errors ------------------------------------------------------------------------

    def _error_detail(self, response: requests.Response) -> str:
        """The server's own words from an error answer (see `error_detail`)."""
        self._bounded_content(response, "", limit=_ERROR_BODY_LIMIT, strict=False)
        body = _json_or_none(response)
        detail = error_detail(body)
        if detail is not None:
            return redact(detail)
        text = re.sub(r"<[^>]+>", " ", response.text or "")
        text = " ".join(text.split())
        return redact(text[:300]) if text else response.reason or ""

    def _server_setting(self) -> str:
        """Where ``server`` comes from, for messages."""
        where = "the server= argument" if self._server is not None else \
            f"astroquery_ext.{self.service}.conf.server"
        return f"{self.name}.server is {redact_url(self.server)!r} (from {where})"

    def _unreachable_hint(self, url: str) -> str:
        """Advice when no connection could be made to ``url``."""
        host = urllib.parse.urlsplit(url).netloc.rsplit("@", 1)[-1]
        return (f"No connection could be made to {host}: check the server URL ({self._server_setting()}) "
                f"and the network.")

    @staticmethod
    def _route_missing(detail: str) -> bool:
        """Whether a 404's words are a web framework's "no such page" (not a service's "no such record")."""
        text = " ".join((detail or "").split()).lower().rstrip(".")
        return (text in ("", "not found", "404 not found", "404") or text.startswith(("not found ", "no such endpoint"))
                or "requested resource was not found" in text or "requested url was not found" in text)

    def _error_hint(self, status: int, detail: str) -> str:
        """What the user should do about an error status (services may refine)."""
        if status == 404 and self._route_missing(detail):
            default = getattr(type(self.conf).__dict__.get("server"), "defaultvalue", None)
            return (f"The server has no such endpoint: the server URL looks wrong. It must be the API root"
                    f"{f' (like {default!r})' if default else ''}; {self._server_setting()}.")
        if status == 401:
            return (f"Log in with {self.name}.login(), or check that the token is valid "
                    f"and not expired.")
        if status == 403:
            return "This account is not allowed to do this; log in as a user who is, or ask the service's administrators."
        if status == 404:
            return "Check the identifier or name; it does not exist on this server."
        if status == 409:
            return "It already exists; use the existing one or change what you send."
        if status in (400, 422):
            return "Check the arguments of the call."
        if status == 429:
            return "The service limits the request rate: wait and try again, or make fewer requests."
        if status >= 500:
            return "The service failed; try again later, and report it to the service if it persists."
        return "Check the request."

    def _raise_for_status(self, response: requests.Response, method: str, url: str,
                          state: AuthState | None) -> None:
        status = response.status_code
        detail = self._error_detail(response)
        safe_url = redact_url(url)
        path = urllib.parse.urlsplit(safe_url).path
        message = (f"{self.name}: {method} {path} answered HTTP {status}"
                   f"{': ' + detail.rstrip('. ') if detail else ''}. {self._error_hint(status, detail)}")
        body = _json_or_none(response)
        kwargs = dict(status=status, detail=detail or None, url=safe_url, service=self.service,
                      payload=body if isinstance(body, dict) else None)
        response.close()
        if status == 429:
            raise RateLimitError(message, retry_after=self._retry_after(response), **kwargs)
        raise self._error_class(status, detail)(message, **kwargs)

    def _error_class(self, status: int, detail: str) -> type:
        """The exception class for an error status (services may refine, e.g. by ``detail``)."""
        if status == 401:
            return LoginError
        if status == 403:
            return AuthorizationError
        if status == 404:
            return NotFoundError
        if status == 409:
            return ConflictError
        if status == 429:
            return RateLimitError
        if status in (400, 405, 413, 414, 415, 422):
            return InvalidQueryError
        return RemoteServiceError

    # -- JSON with the cache -----------------------------------------------------

    def _json(self, method: str, path: str, *, params=None, data=None, json=None,
              auth: str = "optional", cache: bool | None = False, ttl: float | None = None,
              idempotent: bool | None = None, get_query_payload: bool = False,
              empty: Any = None, headers: Mapping[str, str] | None = None,
              expect: Shape | None = None) -> Any:
        """A request whose answer is JSON, parsed; cached when ``cache`` allows.

        Parameters
        ----------
        cache : bool or None
            False: never cached (writes, token calls). True/None: cached when
            ``astroquery.cache_conf.cache_active`` is on (None is the default
            of user-facing ``cache=`` arguments).
        ttl : float, optional
            Lifetime of the entry; default the endpoint's (``cache_ttls``,
            else ``cache_ttl``). 0: never cached.
        get_query_payload : bool
            Return the request (method, URL, parameters, body) instead of sending it.
        empty : object
            What an empty body (HTTP 204) parses to.
        headers : dict, optional
            Extra headers for this request (never put in the cache key; never
            an Authorization header: that comes from the login state).
        expect : Shape, optional
            The shape the endpoint declares (`~astroquery_ext._base.shapes`).
            An answer of another shape raises `RemoteServiceError` and is
            never cached. Without it a cached answer must at least be a list
            or an object.
        """
        method = method.upper()
        url = self._url(path)
        if cache not in (None, True, False) or get_query_payload not in (True, False):
            bad, value = ("cache", cache) if cache not in (None, True, False) else \
                ("get_query_payload", get_query_payload)
            raise TypeError(f"{bad} must be True or False; got {value!r}")
        if get_query_payload:
            payload = {"method": method, "url": url}
            payload.update({k: v for k, v in (("params", params), ("data", data), ("json", json))
                            if v is not None})
            return payload
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        if ttl is None:
            ttl = self._cache_ttl(url)
        use_cache = cache is not False and ResponseCache.active(cache) and ttl != 0
        if use_cache:
            self._login_once(auth)  # the cache entry is filed under who asks
            identity = self._identity()
            key = cache_key(server=self.server, method=method, url=url, params=params, data=data,
                            json=json)
            hit = self._cache.get(identity, key, ttl)
            if hit is not None:
                log.debug("%s %s: answered from the cache", method, redact_url(url))
                return loads(hit[0])
        where = urllib.parse.urlsplit(redact_url(url)).path

        def parse(response: requests.Response):
            content = self._bounded_content(response, f"{method} {where}")
            if not content.strip():
                return empty, None, response.status_code, response.auth_state
            try:
                return loads(content), content, response.status_code, response.auth_state
            except _TooDeep:
                raise RemoteServiceError(
                    f"{self.name}: {method} {where} answered JSON nested too deeply to be read "
                    f"({len(content)} bytes); the answer was refused. Report it to the service if it "
                    f"persists.", status=response.status_code, url=redact_url(url),
                    service=self.service) from None
            except ValueError:
                raise Retryable("the body is not valid JSON", message=(
                    f"{self.name}: {method} {where} answered HTTP {response.status_code} with a body that "
                    f"is not valid JSON ({len(content)} bytes). Try again later; report it to the service "
                    f"if it persists."), status=response.status_code, url=redact_url(url)) from None

        value, content, status, asked_as = self._http(
            method, url, params=params, data=data, json=json, auth=auth, idempotent=idempotent,
            headers=headers, read=parse)
        if content is None:
            return value
        shape = expect if expect is not None else (CONTAINER if use_cache else None)
        if shape is not None and not shape.accepts(value):
            self._check_answer(value, where)  # a refusal the service knows raises its own error
            raise self._unexpected(value, shape, method, where, status)
        if use_cache:
            # Filed under the identity that asked (captured when the attempt
            # was sent), never under whoever is logged in when it returns.
            who = ANONYMOUS if asked_as is None else asked_as.fingerprint(self.service, self.server)
            self._cache.put(who, key, content, method=method,
                            path=urllib.parse.urlsplit(url).path, status=status)
        return value

    def _check_answer(self, answer: Any, path: str) -> None:
        """Hook: raise the service's own error for a refusal it answers with HTTP 200 (ATLAS's
        ``{"info": ...}``). Called for answers that do not have the endpoint's shape."""

    def _unexpected(self, value: Any, shape: Shape, method: str, path: str, status: int) -> RemoteServiceError:
        words = None
        if isinstance(value, dict):
            for key in ("detail", "info", "error", "Error", "message"):
                if isinstance(value.get(key), str):
                    words = redact(value[key])
                    break
        preview = redact(jsonlib.dumps(value, default=str))
        preview = preview if len(preview) <= 200 else preview[:200] + "..."
        return RemoteServiceError(
            f"{self.name}: {method} {path} answered something unexpected (HTTP {status}): {preview} instead of "
            f"{shape.describe}. Nothing was cached. The service may be throttling or in maintenance: try "
            f"again later, and report it to the service if it persists.", status=status, detail=words,
            url=redact_url(self._url(path)), service=self.service)

    # -- result tables ------------------------------------------------------------

    def _provenance(self, path: str | None, query: Mapping[str, Any] | None = None, **extra) -> dict:
        """``table.meta`` of a result (`~astroquery_ext._base.serialize.provenance`); never credentials here."""
        return provenance(self.service, None if path is None else redact_url(self._url(path)), query, **extra)

    def _table(self, records, fields: "list[Field] | None", *, path: str, what: str,
               query: Mapping[str, Any] | None = None, row_limit: int | None = None,
               truncated: bool = False, warn_empty: bool = True):
        """Records to a Table with provenance in ``meta``; warns when empty or truncated.

        Parameters
        ----------
        path : str
            The endpoint asked (for ``meta["url"]``).
        what : str
            Plural noun for the warnings ("scans", "analyses").
        query : dict, optional
            The query parameters, for ``meta["query"]`` (never put credentials here).
        """
        table = as_result(records_to_table(records, fields, meta=self._provenance(path, query)))
        if truncated:
            warn_truncated(row_limit, what)
        if warn_empty:
            warn_if_empty(table, what)
        return table
