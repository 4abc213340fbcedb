"""Stored logins: kept per user and server, found again, forgotten, moved on purpose.

`SessionsMixin` (part of `~astroquery_ext._base.query.ServiceQuery`) files a
login in the `~astroquery_ext._base.credentials.TokenStore` (the keyring,
else a 0600 file) under one account per user *and* server, remembers who
logged in last (a user name, no secret), forgets every stored secret of the
service and server on ``logout(forget=True)``, and moves a login to another
process or machine with `~SessionsMixin.export_session` /
`~SessionsMixin.import_session`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import logging
from typing import Iterable

from astroquery_ext._base.auth import AuthState, password_check
from astroquery_ext._base.redaction import register_secret

__all__ = ["SessionsMixin", "SESSION_PREFIX"]

log = logging.getLogger("astroquery_ext")

#: How an exported session starts (the rest is opaque).
SESSION_PREFIX = "astroquery-ext-session:"
#: What an exported session never carries: a check of the password (a salted hash) stays home.
_NOT_EXPORTED = ("password_check", "forked_from")


class SessionsMixin:
    """The stored logins of a client's service and server."""

    # -- where a session is filed -------------------------------------------------------

    def _session_account(self, principal: str | None) -> str:
        """Keyring account of a stored session: one per user *and* server, so a
        sandbox or staging login never shadows a production one."""
        return f"session:{principal or 'default'}@{self.server.rstrip('/')}"

    def _where(self) -> str:
        """This client's server, as stored logins are filed under it."""
        return self.server.rstrip("/")

    def _default_username(self) -> str | None:
        """The user name a bare ``login()`` uses when neither the argument, the
        environment nor ``conf.username`` gives one: the original's user in an
        unpickled copy, else the user of the login stored last for this server."""
        hint = getattr(self, "_principal_hint", None)
        if hint:
            return hint
        return self.store.last_user(self._where())

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

    # -- logout, forget -----------------------------------------------------------------

    def logout(self, *, forget: bool = False) -> None:
        """Forget the token held in memory and drop this user's cache entries.

        Parameters
        ----------
        forget : bool
            Also remove every secret stored for this service and server (stored
            logins and refresh tokens of every user who logged in here, their
            stored passwords, the record of who logged in last), whether or not
            this object or process logged in: a later ``login(username)`` asks
            for the password again.
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
            self._forget_stored(state)

    def _forget_stored(self, state: AuthState | None) -> None:
        """Remove every stored secret of this service and server (see `logout`)."""
        where = self._where()
        users = set(self.store.known_users(where))
        users.update(u for u in (self.store.last_user(where), state and state.principal) if u)
        accounts = {self._session_account(None), *(self._session_account(u) for u in users)}
        accounts.update(a for a in self.store.file_accounts() if a.startswith("session:") and a.endswith("@" + where))
        accounts.update(self._stored_accounts(state))
        if self.uses_password:
            accounts.update(users)  # their stored passwords (keyring account = user name)
        for account in sorted(accounts):
            with self.store.lock(account):
                self.store.delete(account)
        self.store.forget_server(where)

    def _password_changed(self, username: str, password: str) -> None:
        """After a password change: the stored session of ``username`` is used for the new password
        only (the old one, at hand in the environment or keyring, no longer "logs in" through it)."""
        with self.store.lock(self._session_account(username)):
            stored = self._load_session(username)
            if stored is not None and stored.principal == username:
                self._save_session(dataclasses.replace(
                    stored, extra=dict(stored.extra, password_check=password_check(password))))

    def _forget_user(self, username: str) -> None:
        """Remove what is stored for one user of this server (a deleted account)."""
        self.store.delete(self._session_account(username))
        if self.uses_password:
            self.store.delete(username)
        if self.store.last_user(self._where()) == username:
            self.store.remember_user(self._where(), None)

    def _stored_accounts(self, state: AuthState | None) -> Iterable[str]:
        """More keyring accounts ``logout(forget=True)`` removes (a service's own)."""
        return ()

    # -- a login moved on purpose --------------------------------------------------------

    def _session_scope(self) -> dict:
        """What an exported session is valid for; `import_session` refuses it elsewhere."""
        return {"service": self.service, "server": self._where()}

    def export_session(self) -> str:
        """This object's login as text that `import_session` resumes elsewhere.

        The text holds the tokens (and refresh token) of the login: it is a
        secret, like a password. Move it only over a channel you would trust
        with your password; it is never logged or shown in a repr.

        Returns
        -------
        str
            An opaque text, ``astroquery-ext-session:...``.

        Raises
        ------
        LoginError
            Not logged in, and no login is found without prompting.
        """
        state = self._current_auth("required")
        data = json.loads(state.to_json())
        data["extra"] = {k: v for k, v in data["extra"].items() if k not in _NOT_EXPORTED}
        text = SESSION_PREFIX + base64.urlsafe_b64encode(
            json.dumps({"scope": self._session_scope(), "state": data}).encode()).decode()
        register_secret(text)
        return text

    def import_session(self, text: str, *, store_token: bool = True) -> bool:
        """Log in with a session exported by `export_session` (in another process or machine).

        Parameters
        ----------
        text : str
            What `export_session` returned. A secret: see there.
        store_token : bool
            Keep the login (keyring, else a 0600 file) for later processes, as
            ``login(store_token=True)`` does.

        Returns
        -------
        bool
            True.

        Raises
        ------
        ValueError
            ``text`` is not an exported session, or it is for another service
            or server (its value is never shown).
        """
        state = self._read_session(text)
        state = dataclasses.replace(state, extra=dict(state.extra, persist=store_token))
        with self._auth_lock, self.store.lock(self._session_account(state.principal)):
            if store_token:
                self._save_session(state)
            return self._set_auth(state)

    def _read_session(self, text: str) -> AuthState:
        if not isinstance(text, str) or not text.startswith(SESSION_PREFIX):
            raise ValueError(f"import_session: not a session exported by export_session() "
                             f"(it starts with {SESSION_PREFIX!r}; the value is not shown here)")
        register_secret(text)
        try:
            data = json.loads(base64.urlsafe_b64decode(text[len(SESSION_PREFIX):].encode()))
            scope, state = data["scope"], AuthState.from_json(json.dumps(data["state"]))
        except (ValueError, TypeError, KeyError, binascii.Error):
            scope, state = None, None
        if not isinstance(scope, dict) or state is None:
            raise ValueError("import_session: the exported session is damaged (the value is not shown here)")
        mine = self._session_scope()
        if scope != mine:
            differ = ", ".join(f"{k} {scope.get(k)!r} (this client: {v!r})" for k, v in mine.items()
                               if scope.get(k) != v)
            raise ValueError(f"import_session: the session is for another {differ or 'scope'}; it was not "
                             f"used. Import it into a client of that server ({self.name}.server = ...).")
        return state
