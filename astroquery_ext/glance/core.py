"""The Glance service class: CERN single sign-on, the nine searches, single records, web links.

Glance has search endpoints only (``GET /searchAnalysis`` ... ``/searchTrigger``),
each taking ``offset``, ``limit``, ``queryString`` (the query language of
:mod:`astroquery_ext.glance.dsl`), ``sortBy`` and ``sortDesc``, and answering
``{"numberOfResults": <total>, "results": [...]}``. The API accepts only
tokens obtained by an RFC 8693 exchange of the CERN login token for the
Glance audience: the login token (with its refresh token) is what is stored;
the exchanged token lives in memory only and is renewed before it expires.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import logging
import re
import threading
import time
import urllib.parse
import warnings
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np
from astropy.table import Table
from astropy.utils.exceptions import AstropyDeprecationWarning

from astroquery_ext._base import (
    AuthState, Field, LoginError, NotFoundError, RemoteServiceError, ServiceQuery, check_max_workers, env_var,
    fetch_offset_pages, gc_paused, keep_received)
from astroquery_ext._base.args import pattern_arg
from astroquery_ext._base.docs import shared_doc
from astroquery_ext._base.oauth import OAuthClient, OIDCEndpoints
from astroquery_ext._base.shapes import RECORDS, object_with
from astroquery_ext.glance import conf, dsl
from astroquery_ext.glance.fields import FIELDS

__all__ = ["Glance", "GlanceClass"]

log = logging.getLogger("astroquery_ext")

#: What a search page answers.
_SEARCH_ENVELOPE = object_with(results=RECORDS)

#: query mode -> (endpoint, plural noun for messages)
ENDPOINTS = {
    "analysis": ("searchAnalysis", "analyses"),
    "paper": ("searchPaper", "papers"),
    "confnote": ("searchConfnote", "CONF notes"),
    "pubnote": ("searchPubnote", "PUB notes"),
    "plot": ("searchPlot", "plots"),
    "publication": ("searchPublication", "publications"),
    "leadinggroup": ("searchLeadingGroup", "leading groups"),
    "subgroup": ("searchSubgroup", "subgroups"),
    "trigger": ("searchTrigger", "triggers"),
}

#: Settings a `GlanceClass` instance may override (else read from ``conf`` at call time).
SETTINGS = ("web_base_url", "issuer", "authorization_endpoint", "token_endpoint", "revocation_endpoint",
            "jwks_uri", "device_authorization_endpoint", "client_id", "scopes", "exchange_audience",
            "callback_host", "callback_port")

_METHODS = ("browser", "device", "manual")
_EXCHANGE_MARGIN = 60.0  # re-exchange this close to expiry (at most a quarter of the lifetime)


_CODE_RE = re.compile(r"\S+")
_PLAIN_CODE_RE = re.compile(r"[A-Za-z0-9._-]+")


def _url_code(code: str) -> str:
    """A reference code for a URL query (codes are plain: quoted only if they are not)."""
    return code if _PLAIN_CODE_RE.fullmatch(code) else urllib.parse.quote(code, safe="")


def _code_arg(value: Any, name: str = "ref_code") -> str:
    return pattern_arg(value.strip() if isinstance(value, str) else value, name, _CODE_RE,
                       "a reference code such as 'ANA-SUSY-2019-01' (a non-empty string without spaces)")


_QUERY_PARAMETERS = """Parameters
        ----------
        query : str or `~astroquery_ext.glance.dsl.Expression`, optional
            A query in the Glance query language (e.g. ``'status = "Phase 1 Active"'``),
            or an expression built with `~astroquery_ext.glance.dsl.F`. It is checked
            against the searchable fields of mode ``{mode!r}`` before anything is
            sent (`~astroquery_ext.glance.dsl.DSLError`, a `ValueError`, if invalid)
            and sent in canonical form. Default: all {what}.
        sort_by : str, optional
            A searchable field to sort on (``referenceCode``, ``creationDate``...).
        sort_desc : bool
            Sort in descending order (needs ``sort_by``).
        row_limit : int, optional
            At most this many rows in all (-1: all); default `ROW_LIMIT`
            (``conf.row_limit``). A cut result warns
            `~astroquery.exceptions.MaxResultsWarning`.
        max_workers : int, optional
            Page requests in flight at once; default ``conf.max_workers``.
        cache : bool
            Use the response cache within the endpoint's lifetime (an hour;
            see :ref:`astroquery_ext_cache`); False: ask the server.
        get_query_payload : bool
            Return the first page's request instead of sending it.

        Returns
        -------
        `~astropy.table.Table`
            One row per record; see ``astroquery_ext.glance.fields`` for the
            columns. ``record`` holds each whole record (a dict); ``meta`` the
            service, URL, query and time.
"""

#: The sections of the ``get_*`` methods but `get_analysis` (`shared_doc`).
_GET_DOC = """Parameters
----------
ref_code : str
    Its reference code, as above: matched exactly, else case-insensitively.
cache : bool
    Use the response cache within the endpoint's lifetime (an hour); False: ask the server.
get_query_payload : bool
    Return the request (``{"method", "url", "params"}``) instead of sending it.

Returns
-------
`~astropy.table.Table`
    One row, the columns of the matching ``query_*`` method (it stacks
    with them); ``table["record"][0]`` is the whole record as the server sends it.
    With ``get_query_payload=True``, the request (a dict).

Raises
------
`~astroquery_ext.exceptions.NotFoundError`
    No record has this reference code."""

#: The sections of the ``*_url`` methods (`shared_doc`).
_URL_DOC = """Parameters
----------
ref_code : str
    Its reference code (checked: a non-empty string without spaces).

Returns
-------
str
    The page's URL, built here: nothing is sent."""



#: Rows a ``get_*`` call asks for: the server matches codes case-insensitively, and the exact one wins.
_GET_ROWS = 10


class GlanceClass(ServiceQuery):
    """Search CERN ATLAS Glance: analyses, papers, CONF and PUB notes, plots, groups and triggers.

    Every ``query_*`` method returns an `~astropy.table.Table` of all the
    records that match (pages are fetched concurrently); ``get_*`` methods
    return one record as a one-row Table with the same columns. Log in once with `login`.

    Parameters
    ----------
    server : str, optional
        API root URL; default ``conf.server``.
    timeout : float, optional
        Seconds to wait for the server; default ``conf.timeout``.
    **settings
        Overrides, for this object only, of the ``conf`` items ``web_base_url``,
        ``issuer``, ``authorization_endpoint``, ``token_endpoint``,
        ``revocation_endpoint``, ``jwks_uri``, ``device_authorization_endpoint``,
        ``client_id``, ``scopes``, ``exchange_audience``, ``callback_host`` and
        ``callback_port`` (a sandbox's client: ``Sandbox.client("glance")``).

    Examples
    --------
    >>> from astroquery_ext.glance import Glance
    >>> Glance.login()                                              # doctest: +SKIP
    >>> Glance.query_analyses('status = "Phase 0 Active"')          # doctest: +SKIP
    """

    service = "glance"
    conf = conf
    auth_scheme = "Bearer"
    #: CERN single sign-on: the password is typed at CERN's page, never here.
    uses_password = False
    #: Glance records change slowly, but do change: cached answers live an hour.
    cache_ttl = 3600.0

    def __init__(self, *, server: str | None = None, timeout: float | None = None, **settings: Any):
        super().__init__(server=server, timeout=timeout)
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise TypeError(f"unknown setting(s) {', '.join(unknown)}; the settings are {', '.join(SETTINGS)}")
        self._settings = {k: v for k, v in settings.items() if v is not None}
        #: issuer -> its discovery document (``.well-known/openid-configuration``)
        self._discovered: dict[str, dict] = {}

    #: Exchanged tokens live in memory only: a pickle does not carry them.
    _process_local = ServiceQuery._process_local + ("_exchange_lock", "_exchanged", "_oauth")

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        # The settings chosen here (overridden, or set in this process's conf) go
        # with the copy, as ``server`` does; the endpoints of a chosen issuer are
        # discovered from it there (or come with ``_discovered``).
        state["_settings"] = {name: self._setting(name) for name in SETTINGS if self._explicit(name)}
        return state

    def _open_process_state(self) -> None:
        super()._open_process_state()
        self._exchange_lock = threading.Lock()
        if "_exchanged" not in vars(self):
            self._exchanged: dict[str, tuple[str, float | None, float]] = {}
        if "_oauth" in vars(self):
            self._oauth._jwks_lock = threading.Lock()
        else:
            self._oauth = OAuthClient(self, self._endpoints)

    # -- settings, read at call time ------------------------------------------------

    def _setting(self, name: str) -> Any:
        return self._settings[name] if name in self._settings else getattr(self.conf, name)

    @property
    def web_base_url(self) -> str:
        """Root of the Glance web pages (``conf.web_base_url`` unless overridden)."""
        return str(self._setting("web_base_url")).rstrip("/")

    def _explicit(self, name: str) -> bool:
        """Whether a setting was chosen (overridden here, or ``conf`` changed from its default)."""
        return name in self._settings or getattr(self.conf, name) != type(self.conf).__dict__[name].defaultvalue

    def _discover(self, issuer: str) -> dict:
        """The issuer's discovery document, fetched once per issuer and client object."""
        known = self._discovered.get(issuer)
        if known is not None:
            return known
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            document = self._json("GET", url, auth="none", cache=False)
        except (LoginError, NotFoundError, RemoteServiceError) as exc:
            raise LoginError(
                f"{self.name}: the login service's endpoints could not be found at {url} ({exc}). Check "
                f"the issuer (conf.issuer, or GlanceClass(issuer=...)): it is the realm URL, e.g. "
                f"'https://auth.cern.ch/auth/realms/cern'.", service=self.service) from None
        if not isinstance(document, Mapping) or document.get("issuer") != issuer:
            raise LoginError(
                f"{self.name}: {url} is not the discovery document of the issuer {issuer!r} (it names "
                f"{document.get('issuer') if isinstance(document, Mapping) else type(document).__name__!r}); "
                f"check conf.issuer.", service=self.service)
        self._discovered[issuer] = dict(document)
        return self._discovered[issuer]

    def _endpoints(self) -> OIDCEndpoints:
        """Where to log in. The endpoints of an issuer other than the default one are
        discovered from its ``.well-known/openid-configuration``, unless set one by one:
        a login against a local issuer never goes to the production endpoints."""
        issuer = self._setting("issuer")
        urls = ("authorization_endpoint", "token_endpoint", "jwks_uri", "revocation_endpoint",
                "device_authorization_endpoint")
        found: Mapping[str, Any] = {}
        if self._explicit("issuer") and not all(self._explicit(name) for name in urls):
            found = self._discover(issuer)

        def url(name: str):
            return self._setting(name) if self._explicit(name) or not found.get(name) else found[name]

        scopes = self._setting("scopes")
        scopes = tuple(scopes.split()) if isinstance(scopes, str) else tuple(scopes)
        return OIDCEndpoints(
            issuer=issuer, authorization_endpoint=url("authorization_endpoint"),
            token_endpoint=url("token_endpoint"), jwks_uri=url("jwks_uri"),
            client_id=self._setting("client_id"), revocation_endpoint=url("revocation_endpoint") or None,
            device_authorization_endpoint=url("device_authorization_endpoint") or None,
            scopes=scopes or ("openid",))

    # -- login ------------------------------------------------------------------------

    def login(self, username: str | None = None, *, token: str | None = None, store_token: bool = True,
              method: str = "browser", offline: bool = False, port: int | None = None,
              open_browser: Callable[[str], Any] | None = None, force: bool = False,
              timeout: float | None = None, ask: Callable[[str], str] | None = None,
              show: Callable[[dict], Any] | None = None, login_hint: str | None = None) -> bool:
        """Log in with CERN single sign-on (or with a token obtained elsewhere).

        A session stored by an earlier login (keyring, else a 0600 file) is
        reused without a browser, and refreshed when due; pass ``force=True``
        to log in afresh. Otherwise:

        - ``method="browser"``: authorization code with PKCE; the browser is
          sent back to a one-shot server on ``127.0.0.1:port``;
        - ``method="manual"``: the same, for a browser on another machine: the
          URL is printed and you paste the address the browser ends on;
        - ``method="device"``: a code to enter at a web page from any device.

        Parameters
        ----------
        username : str, optional
            The CERN user name to suggest to the login page (its ``login_hint``;
            browser and manual logins). The password is typed at CERN's page,
            never here.
        token : str, optional
            An API access token obtained elsewhere (also read from
            ``ASTROQUERY_EXT_GLANCE_TOKEN``); sent as is, never stored, not renewed.
        store_token : bool
            Keep the session (login and refresh tokens) in the keyring so that
            later logins, in this process or another, need no browser.
        method : {"browser", "manual", "device"}
            How to log in when no stored session can be used.
        offline : bool
            Ask for an offline session (``offline_access``): its refresh token
            does not expire with the browser session, for unattended jobs.
        port : int, optional
            Loopback port of the login redirect; default ``conf.callback_port``.
        open_browser : callable, optional
            Called with the login URL instead of opening the system browser.
        force : bool
            Ignore a stored session.
        timeout : float, optional
            Seconds to wait for the login to complete; default ``conf.login_timeout``.
        ask : callable, optional
            ``method="manual"``: reads the pasted address (default `input`).
        show : callable, optional
            ``method="device"``: called with the device-authorization answer
            (``user_code``, ``verification_uri_complete``...); default prints them.
        login_hint : str, optional
            Deprecated name of ``username``.

        Returns
        -------
        bool
            True; failures raise `~astroquery_ext.exceptions.LoginError`.
        """
        if login_hint is not None:
            warnings.warn(f"{self.name}.login(login_hint=...) is deprecated: use {self.name}.login(username)",
                          AstropyDeprecationWarning, stacklevel=3)
            username = username or login_hint
        if username is not None and (not isinstance(username, str) or not username.strip()):
            raise ValueError(f"username must be a non-empty string (the CERN user name); got {username!r}")
        if method not in _METHODS:
            raise ValueError(f"method must be one of {', '.join(map(repr, _METHODS))}; got {method!r}")
        timeout = float(self.conf.login_timeout if timeout is None else timeout)

        def obtain(named: str | None) -> AuthState:  # the browser, manual or device login
            if method == "device":
                return self._oauth.login_with_device(offline=offline, timeout=timeout, show=show)
            return self._oauth.login_with_browser(
                port=int(self._setting("callback_port") if port is None else port), timeout=timeout,
                offline=offline, open_browser=open_browser, manual=method == "manual", ask=ask or input,
                login_hint=named, redirect_host=self._setting("callback_host"))

        return self._log_in(username, token=token, store_token=store_token, reenter_password=force,
                            obtain=obtain, accept=(lambda stored: stored.extra.get("offline")) if offline else None)

    def _auto_login(self) -> None:
        # A query needs a login: a token in the environment or a stored session, never a browser.
        self._log_in(obtain=self._no_login_here)

    def _no_login_here(self, named: str | None) -> AuthState:
        raise LoginError(
            f"Not logged in to Glance: call {self.name}.login() (a browser login, once; the session is "
            f"kept in the keyring), {self.name}.login(method='device') on a machine without a browser, "
            f"or set {env_var(self.service, 'token')} to an API token.", service=self.service)

    # Hooks of the base --------------------------------------------------------------

    def _session_account(self, principal: str | None) -> str:
        # One stored session per login service and client (never shared between
        # production, staging and a sandbox), whoever is logged in.
        return f"session:{self._setting('client_id')}@{self._setting('issuer')}"

    def _refresh(self, state: AuthState) -> AuthState | None:
        if state.extra.get("direct") or not state.refresh_token:
            return None
        try:
            fresh = self._oauth.refresh(state)
        except LoginError as exc:
            if self._keeps_login(state):
                stored = self._load_session(None)
                if stored is not None and stored.refresh_token == state.refresh_token:
                    self.store.delete(self._session_account(None))  # dead: do not offer it again
            raise LoginError(
                f"{self.name}: the Glance session has expired or was revoked, and could not be renewed "
                f"({exc.detail or 'the login service refused the refresh token'}). Log in again with "
                f"{self.name}.login(force=True); use login(offline=True) for long unattended jobs.",
                status=exc.status, detail=exc.detail, url=exc.url, service=self.service) from None
        self._forget_exchanged(state.token)
        return fresh

    def _auth_header(self, state: AuthState) -> dict[str, str]:
        audience = self._setting("exchange_audience")
        if state.extra.get("direct") or not audience:
            return state.header()
        try:
            return {"Authorization": f"Bearer {self._exchanged_token(state, audience)}"}
        except LoginError:
            # The login service refused the exchange: the login token no longer works (it expired
            # or was revoked before its time). Renewed once, as a 401 would be.
            fresh = self._renew(state)
            if fresh is None:
                raise
            return {"Authorization": f"Bearer {self._exchanged_token(fresh, audience)}"}

    @staticmethod
    def _exchange_key(audience: str, base_token: str) -> str:
        return hashlib.sha256(f"{audience}\0{base_token}".encode()).hexdigest()

    def _exchanged_token(self, state: AuthState, audience: str) -> str:
        """The API token for ``state``: exchanged once, kept in memory, renewed before it expires."""
        key = self._exchange_key(audience, state.token)
        with self._exchange_lock:
            held = self._exchanged.get(key)
            if held is not None:
                token, expires_at, obtained = held
                margin = min(_EXCHANGE_MARGIN, ((expires_at or 0) - obtained) / 4)
                if expires_at is None or time.time() + margin < expires_at:
                    return token
            now = time.time()
            token, expires_at = self._oauth.exchange(state.token, audience)
            if len(self._exchanged) > 8:  # old login tokens' exchanges
                self._exchanged.clear()
            self._exchanged[key] = (token, expires_at, now)
            return token

    def _forget_exchanged(self, base_token: str | None = None) -> None:
        with self._exchange_lock:
            if base_token is None:
                self._exchanged.clear()
            else:
                self._exchanged.pop(self._exchange_key(self._setting("exchange_audience"), base_token), None)

    def _revoke(self, state: AuthState) -> None:
        self._forget_exchanged()
        if state.extra.get("direct"):
            return
        if state.refresh_token:
            self._oauth.revoke(state.refresh_token, "refresh_token")
        self._oauth.revoke(state.token, "access_token")

    def _session_scope(self) -> dict:
        # A session belongs to its login service and client as much as to the API server.
        return dict(super()._session_scope(), issuer=self._setting("issuer"), client_id=self._setting("client_id"))

    def logout(self, *, forget: bool = False) -> None:
        """Log out: revoke the session's tokens on the server and forget them here.

        The stored copy of the revoked session (now useless) is removed too,
        and this user's cache entries are dropped.

        Parameters
        ----------
        forget : bool
            Also remove (and revoke) a stored session that this object was not
            using, e.g. one left by another process.
        """
        state = self._auth
        stored = self._load_session(None)
        if forget and state is None and stored is not None:
            try:
                self._revoke(stored)
            except Exception as exc:  # logout must not fail because the server did
                log.warning("astroquery_ext: glance could not revoke the stored session on the server (%s); "
                            "it was removed locally", type(exc).__name__)
        super().logout(forget=forget)
        if not forget and state is not None and stored is not None and state.refresh_token \
                and stored.refresh_token == state.refresh_token:
            self.store.delete(self._session_account(None))
        self._forget_exchanged()

    # -- errors -------------------------------------------------------------------------

    def _error_hint(self, status: int, detail: str) -> str:
        if status == 403:
            return ("This account may not read ATLAS Glance (it needs ATLAS membership); log in as "
                    "another user with login(force=True).")
        if status == 400 and "limit" in (detail or "").lower():
            return "The server refused the page size: set conf.page_size to what it allows."
        if status == 400:
            return "Check the query (astroquery_ext.glance.dsl.fields(mode) lists the searchable fields)."
        return super()._error_hint(status, detail)

    # -- searches ---------------------------------------------------------------------

    def _query_string(self, query: Any, mode: str) -> str | None:
        if query is None:
            return None
        if not isinstance(query, (str, dsl.Expression)):
            raise TypeError(f"query must be a query string or an expression built with F(...); "
                            f"got {type(query).__name__}")
        return dsl.parse(query, mode).to_dsl()

    @staticmethod
    def _sort_field(sort_by: Any, mode: str) -> str | None:
        if sort_by is None:
            return None
        if not isinstance(sort_by, str) or not sort_by.strip():
            raise ValueError(f"sort_by must be a field name; got {sort_by!r}")
        name = dsl.normalize_field(sort_by.strip())
        known = dsl.fields(mode)
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else \
                f" (astroquery_ext.glance.dsl.fields({mode!r}) lists them)"
            raise ValueError(f"sort_by {sort_by!r} is not a searchable field of {ENDPOINTS[mode][1]}{hint}")
        return name

    def _search_params(self, mode: str, query: Any, sort_by: Any, sort_desc: Any) -> dict:
        params: dict[str, Any] = {}
        text = self._query_string(query, mode)
        if text is not None:
            params["queryString"] = text
        field = self._sort_field(sort_by, mode)
        if not isinstance(sort_desc, (bool, np.bool_)):
            raise ValueError(f"sort_desc must be True or False; got {sort_desc!r}")
        if field is not None:
            params["sortBy"] = field
            params["sortDesc"] = "true" if sort_desc else "false"
        elif sort_desc:
            raise ValueError("sort_desc=True needs sort_by (the field to sort on)")
        return params

    def _page(self, endpoint: str, params: Mapping, offset: int, limit: int, cache) -> tuple[list, int | None]:
        answer = self._json("GET", endpoint, params={"offset": offset, "limit": limit, **params},
                            auth="required", cache=cache, expect=_SEARCH_ENVELOPE)
        if answer is None:  # an empty body: expect= checks the envelope of any other answer
            raise RemoteServiceError(
                f"{self.name}: GET {endpoint} answered an empty body instead of the search envelope "
                f"{{'numberOfResults': ..., 'results': [...]}}. Check that the server URL is the API root "
                f"(…/atlas/analysis/api/).", url=self._url(endpoint), service=self.service)
        total = answer.get("numberOfResults")
        return answer["results"], (int(total) if isinstance(total, int) and not isinstance(total, bool) else None)

    def _search(self, mode: str, query: Any, *, sort_by: Any, sort_desc: Any, row_limit: Any,
                max_workers: Any, cache: bool | None, get_query_payload: bool = False) -> Table | dict:
        endpoint, what = ENDPOINTS[mode]
        params = self._search_params(mode, query, sort_by, sort_desc)
        row_limit = self._row_limit(row_limit)
        max_workers = check_max_workers(int(self.conf.max_workers) if max_workers is None else max_workers,
                                        self.max_workers_limit)
        page_size = int(self.conf.page_size)
        if page_size < 1:
            raise ValueError(f"conf.page_size must be at least 1; got {page_size}")
        first = page_size if row_limit is None else min(page_size, row_limit)
        if get_query_payload:
            return self._json("GET", endpoint, params={"offset": 0, "limit": first, **params},
                              get_query_payload=True)
        fields = [self._web_field(mode) if f.name == "web_url" else f for f in FIELDS[mode]]
        partial = functools.partial(self._table, fields=fields, path=endpoint, what=what, query=params,
                                    warn_empty=False)
        with gc_paused(), keep_received(partial, what):
            records, truncated = fetch_offset_pages(
                lambda offset, limit: self._page(endpoint, params, offset, limit, cache),
                page_size=page_size, row_limit=row_limit, max_workers=max_workers,
                what=f"{self.name}: GET {endpoint}")
            return self._table(records, fields, path=endpoint, what=what, query=params,
                               row_limit=row_limit, truncated=truncated)

    def _query_doc(mode):  # noqa: N805 - a decorator used in the class body
        endpoint, what = ENDPOINTS[mode]

        def wrap(func):
            parameters = _QUERY_PARAMETERS.format(mode=mode, what=what).rstrip()
            func.__doc__ = func.__doc__.format(endpoint=endpoint, what=what, parameters=parameters)
            return func
        return wrap

    @_query_doc("analysis")
    def query_analyses(self, query=None, *, sort_by=None, sort_desc=False, row_limit=None, max_workers=None,
                       cache=True, get_query_payload=False) -> Table:
        """All {what} that match a query (``GET /{endpoint}``), one row each.

        {parameters}

        Examples
        --------
        >>> Glance.query_analyses('status = "Phase 0 Active" AND groups.leadingGroup.name = SUSY')  # doctest: +SKIP
        """
        return self._search("analysis", query, sort_by=sort_by, sort_desc=sort_desc, row_limit=row_limit,
                            max_workers=max_workers, cache=cache, get_query_payload=get_query_payload)

    @_query_doc("paper")
    def query_papers(self, query=None, *, sort_by=None, sort_desc=False, row_limit=None, max_workers=None,
                     cache=True, get_query_payload=False) -> Table:
        """All {what} that match a query (``GET /{endpoint}``), one row each.

        {parameters}
        """
        return self._search("paper", query, sort_by=sort_by, sort_desc=sort_desc, row_limit=row_limit,
                            max_workers=max_workers, cache=cache, get_query_payload=get_query_payload)

    @_query_doc("confnote")
    def query_confnotes(self, query=None, *, sort_by=None, sort_desc=False, row_limit=None, max_workers=None,
                        cache=True, get_query_payload=False) -> Table:
        """All {what} that match a query (``GET /{endpoint}``), one row each.

        {parameters}
        """
        return self._search("confnote", query, sort_by=sort_by, sort_desc=sort_desc, row_limit=row_limit,
                            max_workers=max_workers, cache=cache, get_query_payload=get_query_payload)

    @_query_doc("pubnote")
    def query_pubnotes(self, query=None, *, sort_by=None, sort_desc=False, row_limit=None, max_workers=None,
                       cache=True, get_query_payload=False) -> Table:
        """All {what} that match a query (``GET /{endpoint}``), one row each.

        {parameters}
        """
        return self._search("pubnote", query, sort_by=sort_by, sort_desc=sort_desc, row_limit=row_limit,
                            max_workers=max_workers, cache=cache, get_query_payload=get_query_payload)

    @_query_doc("plot")
    def query_plots(self, query=None, *, sort_by=None, sort_desc=False, row_limit=None, max_workers=None,
                    cache=True, get_query_payload=False) -> Table:
        """All approval {what} that match a query (``GET /{endpoint}``), one row each.

        {parameters}
        """
        return self._search("plot", query, sort_by=sort_by, sort_desc=sort_desc, row_limit=row_limit,
                            max_workers=max_workers, cache=cache, get_query_payload=get_query_payload)

    @_query_doc("publication")
    def query_publications(self, query=None, *, sort_by=None, sort_desc=False, row_limit=None,
                           max_workers=None, cache=True, get_query_payload=False) -> Table:
        """All {what} that match a query (``GET /{endpoint}``), one row each.

        Publications are analyses, papers, CONF and PUB notes in one summary
        list; ``referenceCode`` matches temporary and final codes.

        {parameters}
        """
        return self._search("publication", query, sort_by=sort_by, sort_desc=sort_desc, row_limit=row_limit,
                            max_workers=max_workers, cache=cache, get_query_payload=get_query_payload)

    @_query_doc("leadinggroup")
    def query_leading_groups(self, query=None, *, sort_by=None, sort_desc=False, row_limit=None,
                             max_workers=None, cache=True, get_query_payload=False) -> Table:
        """All {what} that match a query (``GET /{endpoint}``); column ``name``.

        {parameters}
        """
        return self._search("leadinggroup", query, sort_by=sort_by, sort_desc=sort_desc, row_limit=row_limit,
                            max_workers=max_workers, cache=cache, get_query_payload=get_query_payload)

    @_query_doc("subgroup")
    def query_subgroups(self, query=None, *, sort_by=None, sort_desc=False, row_limit=None, max_workers=None,
                        cache=True, get_query_payload=False) -> Table:
        """All {what} that match a query (``GET /{endpoint}``); column ``name``.

        {parameters}
        """
        return self._search("subgroup", query, sort_by=sort_by, sort_desc=sort_desc, row_limit=row_limit,
                            max_workers=max_workers, cache=cache, get_query_payload=get_query_payload)

    @_query_doc("trigger")
    def query_triggers(self, query=None, *, sort_by=None, sort_desc=False, row_limit=None, max_workers=None,
                       cache=True, get_query_payload=False) -> Table:
        """All {what} that match a query (``GET /{endpoint}``); columns ``name``, ``year``, ``category.name``.

        {parameters}
        """
        return self._search("trigger", query, sort_by=sort_by, sort_desc=sort_desc, row_limit=row_limit,
                            max_workers=max_workers, cache=cache, get_query_payload=get_query_payload)

    del _query_doc

    # -- single records ---------------------------------------------------------------

    def _one_row(self, mode: str, record: dict, query: str) -> Table:
        """One record as a one-row Table with the columns of the matching ``query_*``."""
        endpoint, what = ENDPOINTS[mode]
        fields = [self._web_field(mode) if f.name == "web_url" else f for f in FIELDS[mode]]
        return self._table([record], fields, path=endpoint, what=what, query={"queryString": query},
                           warn_empty=False)

    def _get(self, mode: str, ref_code: Any, keys: tuple[str, ...], cache: bool | None,
             get_query_payload: bool = False) -> Table | dict:
        code = _code_arg(ref_code)
        endpoint, what = ENDPOINTS[mode]
        expr = None
        for key in keys:
            term = dsl.F(key) == code
            expr = term if expr is None else expr | term
        if get_query_payload:
            return self._get_payload(endpoint, expr.to_dsl())
        # A few rows, not one: the server matches case-insensitively; the exact code wins.
        answer, _total = self._page(endpoint, {"queryString": expr.to_dsl()}, 0, _GET_ROWS, cache)
        for exact in (True, False):
            for record in answer:
                codes = [record.get(k) for k in keys]
                if any(isinstance(c, str) and (c == code if exact else c.lower() == code.lower())
                       for c in codes):
                    return self._one_row(mode, record, expr.to_dsl())
        raise NotFoundError(f"{self.name}: no {mode} has the reference code {code!r} (searched "
                            f"{' and '.join(keys)}). Check the code.",
                            url=self._url(endpoint), service=self.service)

    def _get_payload(self, endpoint: str, query: str) -> dict:
        """The request a ``get_*`` call would send (``get_query_payload=True``)."""
        return self._json("GET", endpoint, params={"offset": 0, "limit": _GET_ROWS, "queryString": query},
                          get_query_payload=True)

    def get_analysis(self, ref_code: str, *, cache: bool = True, get_query_payload: bool = False) -> Table:
        """One analysis: a one-row Table with the columns of `query_analyses`.

        Parameters
        ----------
        ref_code : str
            Its reference code, e.g. ``"ANA-HDBS-2023-22"``.
        cache : bool
            Use the response cache within the endpoint's lifetime (an hour); False: ask the server.
        get_query_payload : bool
            Return the request (``{"method", "url", "params"}``) instead of sending it.

        Returns
        -------
        `~astropy.table.Table`
            One row, the columns of `query_analyses` (it stacks with them and
            writes to FITS, VOTable, ECSV). ``table["record"][0]`` is the whole
            record as the server sends it: camelCase keys (``referenceCode``,
            ``status``, ``groups``, ``phase0``, ``analysisTeam``, ``metadata``...),
            nested dicts and lists, dates as ISO strings.

        Raises
        ------
        `~astroquery_ext.exceptions.NotFoundError`
            No analysis has this code.
        """
        return self._get("analysis", ref_code, ("referenceCode",), cache, get_query_payload)

    @shared_doc(sections=_GET_DOC)
    def get_paper(self, ref_code: str, *, cache: bool = True, get_query_payload: bool = False) -> Table:
        """One paper, a one-row Table (see `get_analysis`); ``ref_code`` like ``"HDBS-2018-33"``.

        {sections}
        """
        return self._get("paper", ref_code, ("referenceCode",), cache, get_query_payload)

    @shared_doc(sections=_GET_DOC)
    def get_confnote(self, ref_code: str, *, cache: bool = True, get_query_payload: bool = False) -> Table:
        """One CONF note, a one-row Table (see `get_analysis`).

        By its temporary (``"CONF-SUSY-2023-04"``) or final
        (``"ATLAS-CONF-2023-009"``) reference code.

        {sections}
        """
        return self._get("confnote", ref_code, ("temporaryReferenceCode", "finalReferenceCode"), cache,
                         get_query_payload)

    @shared_doc(sections=_GET_DOC)
    def get_pubnote(self, ref_code: str, *, cache: bool = True, get_query_payload: bool = False) -> Table:
        """One PUB note, a one-row Table (see `get_analysis`).

        By its temporary (``"PUB-EGAM-2019-01"``) or final
        (``"ATL-PHYS-PUB-2019-029"``) reference code.

        {sections}
        """
        return self._get("pubnote", ref_code, ("temporaryReferenceCode", "finalReferenceCode"), cache,
                         get_query_payload)

    @shared_doc(sections=_GET_DOC)
    def get_plot(self, ref_code: str, *, cache: bool = True, get_query_payload: bool = False) -> Table:
        """One approval plot, a one-row Table (see `get_analysis`); ``ref_code`` like ``"PLOT-MUON-2018-08"``.

        {sections}
        """
        return self._get("plot", ref_code, ("referenceCode",), cache, get_query_payload)

    @shared_doc(sections=_GET_DOC)
    def get_publication(self, ref_code: str, *, cache: bool = True, get_query_payload: bool = False) -> Table:
        """The publication summary of any analysis, paper or note, as a one-row Table.

        The summary has ``type``, the codes, ``status``, ``shortTitle`` and
        ``groups``, the columns of `query_publications`; ``ref_code`` is any
        of the record's codes (temporary or final for notes).

        {sections}
        """
        code = _code_arg(ref_code)
        endpoint, _what = ENDPOINTS["publication"]
        query = (dsl.F("referenceCode") == code).to_dsl()
        if get_query_payload:
            return self._get_payload(endpoint, query)
        answer, _total = self._page(endpoint, {"queryString": query}, 0, _GET_ROWS, cache)
        keys = ("referenceCode", "temporaryReferenceCode", "finalReferenceCode")
        for exact in (True, False):
            for record in answer:
                if any(isinstance(record.get(k), str) and
                       (record[k] == code if exact else record[k].lower() == code.lower()) for k in keys):
                    return self._one_row("publication", record, query)
        raise NotFoundError(f"{self.name}: no publication with reference code {code!r}. Check the code.",
                            url=self._url(endpoint), service=self.service)

    # -- web pages --------------------------------------------------------------------

    #: record kind -> (web path, the reference-code keys its link uses, first found)
    _PAGES = {"analysis": ("analyses/details.php", ("referenceCode",)),
              "paper": ("papers/details.php", ("referenceCode",)),
              "confnote": ("confnotes/details", ("temporaryReferenceCode", "finalReferenceCode")),
              "pubnote": ("pubnotes/details", ("temporaryReferenceCode", "finalReferenceCode")),
              "plot": ("plots/details.php", ("referenceCode",))}

    def _web(self, kind: str, ref_code: Any) -> str:
        return self._link_prefix(kind) + _url_code(_code_arg(ref_code))

    def _link_prefix(self, kind: str) -> str:
        return f"{self.web_base_url}/{self._PAGES[kind][0]}?ref_code="

    @shared_doc(sections=_URL_DOC)
    def analysis_url(self, ref_code: str) -> str:
        """The web page of an analysis: ``{web_base_url}/analyses/details.php?ref_code=...``.

        {sections}
        """
        return self._web("analysis", ref_code)

    @shared_doc(sections=_URL_DOC)
    def paper_url(self, ref_code: str) -> str:
        """The web page of a paper: ``{web_base_url}/papers/details.php?ref_code=...``.

        {sections}
        """
        return self._web("paper", ref_code)

    @shared_doc(sections=_URL_DOC)
    def confnote_url(self, ref_code: str) -> str:
        """The web page of a CONF note (temporary or final code): ``{web_base_url}/confnotes/details?ref_code=...``.

        {sections}
        """
        return self._web("confnote", ref_code)

    @shared_doc(sections=_URL_DOC)
    def pubnote_url(self, ref_code: str) -> str:
        """The web page of a PUB note (temporary or final code): ``{web_base_url}/pubnotes/details?ref_code=...``.

        {sections}
        """
        return self._web("pubnote", ref_code)

    @shared_doc(sections=_URL_DOC)
    def plot_url(self, ref_code: str) -> str:
        """The web page of an approval plot: ``{web_base_url}/plots/details.php?ref_code=...``.

        {sections}
        """
        return self._web("plot", ref_code)

    def _web_field(self, mode: str) -> Field:
        """The ``web_url`` column: each record's page (publications: by their ``type``)."""
        prefixes = {kind: self._link_prefix(kind) for kind in self._PAGES}  # conf read once per table

        def link(kind, code):
            if type(code) is not str or not _CODE_RE.fullmatch(code):
                return None
            return prefixes[kind] + _url_code(code)

        if mode == "publication":
            types = {"analysis": "analysis", "paper": "paper", "conf note": "confnote", "confnote": "confnote",
                     "pub note": "pubnote", "pubnote": "pubnote"}

            def source(record):
                kind = types.get(str(record.get("type", "")).lower())
                code = record.get("finalReferenceCode") or record.get("referenceCode") or \
                    record.get("temporaryReferenceCode")
                return None if kind is None else link(kind, code)
        else:
            keys = self._PAGES[mode][1]

            def source(record):
                for key in keys:
                    code = record.get(key)
                    if code:
                        return link(mode, code)
                return None
        return Field("web_url", "str", source=source, description="The record's page on the Glance web site")


Glance = GlanceClass()
