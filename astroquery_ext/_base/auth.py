"""Login: who a client is, how it logs in, keeps, renews and forgets a login.

- `AuthState`: one login (token, scheme, user, expiry, refresh token), immutable;
- JWT reading (`jwt_expiry`, `decode_jwt_unverified`), only to know when a
  token expires: no checks (`~astroquery_ext._base.oauth` checks ID tokens);
- `AuthMixin` (part of `~astroquery_ext._base.query.ServiceQuery`): the login
  state of one client, stored sessions (one per user and server, in the
  `~astroquery_ext._base.credentials.TokenStore`), renewal once across threads
  and processes under the account's lock, logout;
- the metaclass that clears a failed login's frames of their locals.
"""

from __future__ import annotations

import abc
import base64
import dataclasses
import functools
import hashlib
import json as jsonlib
import logging
import math
import os
import time
from typing import Any, ClassVar, Iterable, Mapping

from astroquery.query import LoginABCMeta

from astroquery_ext._base.credentials import env_var, no_prompt
from astroquery_ext._base.exceptions import LoginError
from astroquery_ext._base.redaction import register_secret, scrub_chain

__all__ = ["AuthState", "AuthMixin", "ANONYMOUS", "jwt_expiry", "decode_jwt_unverified"]

log = logging.getLogger("astroquery_ext")

#: The identity of requests made without a login (it files their cache entries).
ANONYMOUS = "anonymous"


# -- JWT reading (no checks) ------------------------------------------------------

def _number(value: Any) -> float | None:
    """A finite real number (not a bool, not NaN or infinity), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_jwt_unverified(token: str) -> tuple[dict, dict, bytes, bytes]:
    """``(header, claims, signing_input, signature)`` of a compact JWS; no checks."""
    try:
        head, body, sig = token.split(".")
        return (jsonlib.loads(_b64url_decode(head)), jsonlib.loads(_b64url_decode(body)),
                f"{head}.{body}".encode(), _b64url_decode(sig))
    except (ValueError, TypeError) as exc:
        raise LoginError(f"the ID token is not a well-formed JWT ({type(exc).__name__})") from None


def jwt_expiry(token: str | None) -> float | None:
    """The ``exp`` of a JWT, read without any check (only to know when to renew), or None."""
    try:
        claims = jsonlib.loads(_b64url_decode(token.split(".")[1]))
        exp = claims["exp"]
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return None
    return _number(exp)


# -- one login ------------------------------------------------------------------------


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



# -- failed logins leave no password behind -----------------------------------------


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


class AuthMixin:
    """The login state of a client: log in, keep, renew and forget a login."""

    #: The Authorization scheme of this service.
    auth_scheme: ClassVar[str] = "Bearer"
    #: Statuses that mean "this token no longer works": the token is renewed
    #: once (``_refresh``) and the request repeated. Some services answer 403
    #: for an expired token.
    renew_statuses: ClassVar[frozenset] = frozenset({401})

    def login(self, *args, **kwargs) -> bool:  # pragma: no cover - every service defines its own
        """Log in; returns True or raises `~astroquery_ext.exceptions.LoginError`."""
        raise NotImplementedError

    def _login(self, *args, **kwargs) -> bool:
        # astroquery's abstract hook; ``login`` is the real entry point here.
        return self.login(*args, **kwargs)

    def authenticated(self) -> bool:
        """Whether this object holds credentials (it does not ask the server).

        Returns
        -------
        bool
            True after a successful `login` and until `logout`.
        """
        return self._auth is not None

    def whoami(self) -> str | None:
        """The user this object is logged in as, when known (it does not ask the server).

        Returns
        -------
        str or None
            The user name; None when not logged in, or logged in with a
            token that names no user.
        """
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
        """Who this client's requests are made as (or ``state``'s): names their cache entries."""
        return self._identity_of(self._auth if state is None else state)

    def _identity_of(self, state: AuthState | None) -> str:
        """The identity of requests made as ``state`` (`ANONYMOUS` for None)."""
        return ANONYMOUS if state is None else state.fingerprint(self.service, self.server)


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

