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
import hmac
import json as jsonlib
import logging
import math
import os
import secrets
import time
from typing import Any, Callable, ClassVar, Mapping

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



# -- a stored session is used only for the password at hand ----------------------------


def password_check(password: str) -> str:
    """A salted scrypt hash of the password, kept with a stored session to tell a wrong password later."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2 ** 14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def password_matches(state: AuthState, password: str) -> bool:
    """Whether ``password`` is the one ``state`` was obtained with (False for a session stored without a check)."""
    check = state.extra.get("password_check")
    try:
        _, salt, digest = check.split("$")
        mine = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=2 ** 14, r=8, p=1, dklen=32)
    except (AttributeError, ValueError):
        return False
    return hmac.compare_digest(mine.hex(), digest)


# -- failed logins leave no password behind -----------------------------------------

#: The methods whose failures are scrubbed: each may hold a password in its frames.
SCRUBBED_METHODS = ("login", "signup", "change_password")


class _ServiceMeta(LoginABCMeta):
    """The one place where a failed call that handles a password is cleaned up.

    astroquery's metaclass replaces ``login`` by a wrapper that returns None
    whenever a class defines ``_login``; service classes keep their own. Each
    of `SCRUBBED_METHODS` a class defines is wrapped so that, when it fails,
    the finished frames of its traceback (and of the exceptions chained to
    it) lose their locals: a password read or given, the request body.
    """

    def __new__(mcls, name, bases, attrs):
        attrs = dict(attrs, **{n: _forgetting_locals(attrs[n]) for n in SCRUBBED_METHODS if n in attrs})
        return abc.ABCMeta.__new__(mcls, name, bases, attrs)


def _forgetting_locals(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except BaseException as exc:
            # The call's frames have finished: their locals go; so do this frame's
            # arguments (a password given as an argument).
            scrub_chain(exc)
            args = kwargs = None  # noqa: F841
            raise
    return wrapper


# -- the login state of a client --------------------------------------------------------


class AuthMixin:
    """The login state of a client: the one login order, renewal, logout.

    A service writes only how it obtains a token: `_obtain` (a user name and
    password exchanged for a token) or, for a login without a password
    (Glance's single sign-on), an ``obtain`` function given to `_log_in`;
    `_refresh` where the service can renew a token otherwise than by logging
    in again.
    """

    #: The Authorization scheme of this service.
    auth_scheme: ClassVar[str] = "Bearer"
    #: Statuses that mean "this token no longer works": the token is renewed
    #: once (``_refresh``) and the request repeated. Some services answer 403
    #: for an expired token.
    renew_statuses: ClassVar[frozenset] = frozenset({401})
    #: Whether the service logs in with a user name and password (exchanged by `_obtain`).
    uses_password: ClassVar[bool] = True
    #: Whether ``login(token=..., store_token=True)`` stores the token given (ATLAS's
    #: long-lived API tokens); elsewhere a token given is for this object only.
    stores_given_token: ClassVar[bool] = False

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
        """The user this object is logged in as, without asking the server.

        Returns
        -------
        str or None
            The user name; None when not logged in, or logged in with a token
            given directly (``token=`` or ``ASTROQUERY_EXT_<SERVICE>_TOKEN``)
            without a user name: the client cannot tell whose token it is.
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

    # -- the one login order --------------------------------------------------------------

    def _log_in(self, username: str | None = None, *, token: str | None = None, store_token: bool = True,
                reenter_password: bool = False, store_password: bool = False, password: str | None = None,
                obtain: Callable[[str | None], AuthState] | None = None,
                accept: Callable[[AuthState], bool] | None = None) -> bool:
        """The login order every service's ``login`` follows.

        1. A token given (``token``, else ``ASTROQUERY_EXT_<SERVICE>_TOKEN``
           when no user name is given): used as given, never renewed.
        2. The stored session of the user (``username``, the environment,
           ``conf.username``, else the user stored last), if usable: not
           expired and not due for renewal, else renewed (`_usable_session`);
           a session is used only for the password at hand, if one is.
        3. Otherwise obtained: ``obtain(username)``, or the password (``password``,
           the environment, the keyring, a prompt) exchanged by `_obtain`.
        4. Stored (``store_token``). Steps 2-4 hold the account's lock, across
           threads and processes: processes starting together log in once.
        """
        if token is not None or (username is None and os.environ.get(env_var(self.service, "token"))):
            return self._log_in_with_token(token, username, store_token)
        named = self._named_user(username)
        with self._auth_lock, self.store.lock(self._session_account(named or self._default_username())):
            if not reenter_password:
                stored = self._usable_session(named, password)
                if stored is not None and (accept is None or accept(stored)):
                    return self._set_auth(stored)
            state = obtain(named) if obtain is not None else self._obtain_with_password(
                named, password, reenter=reenter_password, keep=store_password)
            state = dataclasses.replace(state, extra=dict(state.extra, persist=store_token))
            if store_token:
                self._save_session(state)
            return self._set_auth(state)

    def _log_in_with_token(self, token: str | None, username: str | None, store_token: bool) -> bool:
        """Step 1: a token from elsewhere, used as given; ``username`` only names it (unchecked)."""
        where = "token" if token is not None else env_var(self.service, "token")
        token = self._check_given_token(token if token is not None else os.environ[where], where)
        register_secret(token)
        keep = store_token and self.stores_given_token and where == "token"
        state = AuthState(token=token, scheme=self.auth_scheme, principal=username,
                          principal_checked=username is None, expires_at=jwt_expiry(token),
                          extra={"direct": True, "persist": keep})
        if keep:
            with self.store.lock(self._session_account(username)):
                self._save_session(state)
        return self._set_auth(state)

    def _named_user(self, username: str | None = None) -> str | None:
        """The user named by the argument, ``ASTROQUERY_EXT_<SERVICE>_USERNAME`` or ``conf.username`` (no prompt)."""
        return username or os.environ.get(env_var(self.service, "username")) or \
            getattr(self.conf, "username", None) or None

    def _usable_session(self, named: str | None, password: str | None = None) -> AuthState | None:
        """Step 2, the one rule: the stored session if not expired and not due for renewal, else
        renewed; None when there is none, it cannot be renewed, or it is not for the password at hand."""
        stored = self._load_session(named)
        if stored is None:
            return None
        if self.uses_password and not stored.extra.get("direct"):
            at_hand = password if password is not None else self._password_at_hand(named or stored.principal)
            if at_hand is not None and not password_matches(stored, at_hand):
                return None  # a wrong password never "logs in" through a stored session
        if not stored.renewal_due():
            return stored
        try:
            return self._renew(stored, persist=True)
        except LoginError as exc:
            log.info("astroquery_ext: the stored %s session could not be renewed (%s); logging in again",
                     self.service, exc.detail or "refused")
            return None

    def _obtain_with_password(self, named: str | None, password: str | None, *, reenter: bool,
                              keep: bool) -> AuthState:
        """Step 3 for a password service: the user name and password found, exchanged by `_obtain`."""
        try:
            username = self.credentials.resolve("username", named, default=self._default_username())
        except LoginError as exc:
            raise self._no_user_error(exc) from None
        password = self.credentials.resolve("password", password, account=username, use_store=not reenter)
        try:
            state = self._obtain(username, password)
            if keep:
                self.store.set(username, password)
            return dataclasses.replace(state, extra=dict(state.extra, password_check=password_check(password)))
        finally:
            del password

    def _password_at_hand(self, username: str | None) -> str | None:
        """The password the environment or the keyring gives now (never a prompt), or None."""
        if not username:
            return None
        try:
            with no_prompt():
                return self.credentials.resolve("password", account=username, prompt=False)
        except LoginError:
            return None

    # Hooks a service overrides ------------------------------------------------

    def _obtain(self, username: str, password: str) -> AuthState:
        """Exchange a user name and password for a token: the one part of a login a
        password service writes (a `~astroquery_ext.exceptions.LoginError` when refused)."""
        raise NotImplementedError(f"{type(self).__name__} logs in without a password")

    def _check_given_token(self, token: Any, where: str) -> str:
        """A token given directly, checked (``where`` names its source for the message)."""
        if not isinstance(token, str) or not token.strip():
            raise ValueError(f"{where} must be a non-empty string (the value is not shown here)")
        return token.strip()

    def _no_user_error(self, exc: LoginError) -> LoginError:
        """The error when no user name can be found (a service may say more)."""
        return exc

    def _auto_login(self) -> None:
        """Log in without prompting (environment or keyring), or raise `~astroquery_ext.exceptions.LoginError`."""
        with no_prompt():
            self.login()

    def _auth_header(self, state: AuthState) -> dict[str, str]:
        """The Authorization header for a request made as ``state`` (Glance sends an exchanged token)."""
        return state.header()

    def _refresh(self, state: AuthState) -> AuthState | None:
        """A new token for ``state``; None when it cannot be had without asking the user.

        The base logs in again with the password at hand (environment or
        keyring, never a prompt); a service with refresh tokens overrides it.
        """
        username = state.principal or self._named_user()
        if not self.uses_password or not username:
            return None
        password = self._password_at_hand(username)
        if password is None:
            return None
        try:
            fresh = self._obtain(username, password)
        except LoginError:
            return None
        kept = {k: v for k, v in state.extra.items() if k != "direct"}  # persist, ...: as the login was
        return dataclasses.replace(fresh, extra={**kept, **fresh.extra, "password_check": password_check(password)})

    def _revoke(self, state: AuthState) -> None:
        """Tell the server the token is no longer needed (when it has a way)."""

    # -- renewal, across threads and processes ------------------------------------------

    @staticmethod
    def _keeps_login(state: AuthState) -> bool:
        """Whether ``state`` is stored for later processes (``login(store_token=True)``):
        the one signal, ``extra["persist"]``, that the base sets and reads."""
        return bool(state.extra.get("persist", False))

    def _renew(self, state: AuthState, *, persist: bool | None = None) -> AuthState | None:
        """Renew ``state`` once across threads and processes.

        Holds the account's lock. A token another thread or process obtained
        while we waited is used instead of asking the server again; a stored
        session renewed elsewhere is renewed from its (newest) refresh token,
        never from an older one this process holds. ``persist`` (default:
        whether ``state`` is kept) stores the fresh token for other processes.
        """
        if state.extra.get("forked_from"):
            raise self._forked_error(state)
        persist = self._keeps_login(state) if persist is None else persist
        with self._auth_lock:
            current = self._auth
            # "Due for renewal" is no reason to renew again: with short-lived tokens and a slow
            # login, the waiters would each find the fresh token already due and renew once more.
            if current is not None and current.token != state.token and current.principal == state.principal \
                    and not current.expired():
                return current  # another thread renewed while we waited
            with self.store.lock(self._session_account(state.principal)):
                base = state
                if persist:
                    stored = self._load_session(state.principal)
                    if stored is not None and stored.token != state.token:
                        if not stored.expired():
                            self._set_auth(stored)
                            return stored
                        if stored.refresh_token and stored.obtained_at >= state.obtained_at:
                            base = stored  # renewed elsewhere since: its refresh token is the live one
                fresh = self._refresh(base)
                if fresh is None:
                    return None
                if persist:
                    self._save_session(fresh)
                self._set_auth(fresh)
                return fresh

    def _forked_login(self, state: AuthState | None, parent: int) -> AuthState | None:
        """The login a forked child keeps. One held in memory only (``store_token=False``)
        with a refresh token is not renewed there: renewing would spend the single-use
        refresh token the parent and the other children hold too."""
        if state is None or not state.refresh_token or self._keeps_login(state):
            return state
        return dataclasses.replace(state, extra=dict(state.extra, forked_from=parent))

    def _forked_error(self, state: AuthState) -> LoginError:
        return LoginError(
            f"{self.name}: the login of this process (pid {os.getpid()}) was inherited by fork from process "
            f"{state.extra['forked_from']}, made with store_token=False, and its token has expired. It is not "
            f"renewed here: that would spend the refresh token the other processes hold and log them out. "
            f"Log in with store_token=True before forking (processes then share renewals through the stored "
            f"login), or log in in each worker.", service=self.service)

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
        if state is not None and state.renewal_due() and state.refresh_token \
                and (not state.extra.get("forked_from") or state.expired()):
            state = self._renew(state) or state
        return state

    def _identity(self, state: AuthState | None = None) -> str:
        """Who this client's requests are made as (or ``state``'s): names their cache entries."""
        return self._identity_of(self._auth if state is None else state)

    def _identity_of(self, state: AuthState | None) -> str:
        """The identity of requests made as ``state`` (`ANONYMOUS` for None)."""
        return ANONYMOUS if state is None else state.fingerprint(self.service, self.server)

    # -- processes: an unpickled copy, a fan-out --------------------------------------------

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
