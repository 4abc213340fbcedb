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

`ServiceQuery` is a composition of the base's rooms, one concern each:

============================  =========================================================
room                          concern
============================  =========================================================
`~._base.http.HttpMixin`      session, deadlines, bounded bodies; ``_http``, ``_json``
`~._base.retry.RetryMixin`    the one retry policy every send path runs under
`~._base.errors.ErrorsMixin`  status -> exception, the server's words, what to do
`~._base.auth.AuthMixin`      the one login order, renewal across processes
`~._base.sessions.            stored logins: kept, forgotten (``logout(forget=True)``),
SessionsMixin`                moved (``export_session``/``import_session``)
this module                   configuration read at call time, the client's life
                              across fork and pickle, astroquery's cache API and
                              class attributes, result tables
============================  =========================================================
"""

from __future__ import annotations

import os
import threading
import urllib.parse
import weakref
from typing import Any, ClassVar, Mapping

from astroquery.query import QueryWithLogin

from astroquery_ext import __version__
from astroquery_ext._base.args import row_limit_arg
from astroquery_ext._base.auth import AuthMixin, AuthState, _ServiceMeta
from astroquery_ext._base.cache import ResponseCache
from astroquery_ext._base.credentials import CredentialChain, TokenStore
from astroquery_ext._base.errors import ErrorsMixin
from astroquery_ext._base.http import HttpMixin
from astroquery_ext._base.retry import RetryMixin
from astroquery_ext._base.raw import RawRequests
from astroquery_ext._base.redaction import redact_url
from astroquery_ext._base.result import as_result, provenance
from astroquery_ext._base.sessions import SessionsMixin
from astroquery_ext._base.tables import Field, records_to_table, warn_if_empty, warn_truncated

__all__ = ["ServiceQuery"]


# -- processes -------------------------------------------------------------------
#
# A forked child inherits the parent's HTTP session (its pooled keep-alive
# sockets, shared with the parent: two processes writing requests on one socket
# read each other's answers) and its locks (held, perhaps, by a parent thread
# that does not exist in the child). Every live client gets a new session and
# new locks in the child, before the child runs any code of its own; a login
# held in memory only is marked not to be renewed there (`AuthMixin._forked_login`).

_CLIENTS: "weakref.WeakSet[ServiceQuery]" = weakref.WeakSet()


def _renew_after_fork() -> None:
    for client in list(_CLIENTS):
        client._open_process_state()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_renew_after_fork)


class ServiceQuery(RawRequests, HttpMixin, RetryMixin, ErrorsMixin, AuthMixin, SessionsMixin, QueryWithLogin,
                   metaclass=_ServiceMeta):
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
    #: Cache lifetime (seconds) of the answers of read endpoints not in ``cache_ttls``
    #: (0: not cached). Each service states its lifetimes in docs/caching.rst.
    cache_ttl: ClassVar[float | None] = 24 * 3600.0
    #: Cache lifetime (seconds) per endpoint: the longest key that starts the
    #: endpoint's path (relative to ``server``) wins; 0: never cached.
    cache_ttls: ClassVar[Mapping[str, float]] = {}
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

    def _open_process_state(self) -> None:
        """What one process may not share with another: the HTTP session (its pooled
        sockets) and the locks. Made by the constructor, again in a forked child
        (before the child runs any code of its own), and in an unpickled copy.

        Services that hold locks or per-process objects of their own extend it
        (and name them in ``_process_local``).
        """
        # The parent's session is dropped, not closed: closing would shut
        # sockets the parent is still using.
        parent = vars(self).get("_pid")
        self._session = self._new_session()
        self._auth_lock = threading.RLock()
        self._pid = os.getpid()
        if parent is not None and parent != self._pid:  # a forked child
            self._auth = self._forked_login(vars(self).get("_auth"), parent)

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
        """Put the cache back in its default directory (astroquery's method; see `cache_location`)."""
        self._cache.root = None

    def clear_cache(self) -> None:
        """Remove every cached answer and file of this service."""
        self._cache.clear()

    # -- what downloads use (astroquery_ext._base.download.DownloadClient) ------------

    def get_streamed(self, url, read, *, headers, auth="optional", retries=None):
        """GET ``url`` with each successful answer passed to ``read`` (`_http` with ``read=``)."""
        return self._http("GET", url, headers=headers, stream=True, auth=auth, read=read, retries=retries)

    def file_cache_dir(self):
        """The private directory of the file cache of whoever is logged in."""
        return self._cache.file_dir(self._identity())

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
        "max_workers_limit", "auth_scheme", "cache_ttl", "cache_ttls", "service", "name",
        "get_streamed", "file_cache_dir"})

    def __dir__(self):
        hidden = self._HIDDEN if hasattr(type(self.conf), "row_limit") else self._HIDDEN | {"ROW_LIMIT"}
        return sorted(n for n in set(super().__dir__()) if not n.startswith("_") and n not in hidden)

    # -- result tables ------------------------------------------------------------

    def _provenance(self, path: str | None, query: Mapping[str, Any] | None = None, **extra) -> dict:
        """``table.meta`` of a result (`~astroquery_ext._base.result.provenance`); never credentials here."""
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
