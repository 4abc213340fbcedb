"""Where credentials come from, and where tokens are kept.

Resolution order for any secret (token, username, password):

1. the explicit argument;
2. the environment: ``ASTROQUERY_EXT_<SERVICE>_TOKEN``, ``..._USERNAME``,
   ``..._PASSWORD``;
3. the keyring, service name ``astroquery_ext.<service>`` (or, when no usable
   keyring exists, a ``0600`` file under the astropy config directory);
4. a prompt, only when standard input is a terminal;
5. otherwise a `~astroquery_ext.exceptions.LoginError` saying how to provide it.

Keyring failures (no backend, a locked or broken one) are caught on get, set
and delete, and fall back to the private file. A file lock (``filelock``:
POSIX and Windows alike) lets two processes that both want to refresh a
token do it once: the second one, after waiting, finds the fresh token.
"""

from __future__ import annotations

import contextlib
import contextvars
import getpass
import inspect
import json
import logging
import os
import sys
from pathlib import Path
from typing import Callable, ContextManager, Iterator

from astropy.config.paths import get_config_dir_path

from astroquery_ext._base.locks import held, lock_file_name
from astroquery_ext._base.private import private_dir, write_private
from astroquery_ext._base.exceptions import LoginError
from astroquery_ext._base.redaction import register_secret

__all__ = ["TokenStore", "CredentialChain", "env_var", "no_prompt"]

log = logging.getLogger("astroquery_ext")

_PROMPT_ALLOWED = contextvars.ContextVar("astroquery_ext_prompt_allowed", default=True)


@contextlib.contextmanager
def no_prompt() -> Iterator[None]:
    """Within this block, credential resolution never prompts."""
    token = _PROMPT_ALLOWED.set(False)
    try:
        yield
    finally:
        _PROMPT_ALLOWED.reset(token)


def env_var(service: str, kind: str) -> str:
    """``ASTROQUERY_EXT_<SERVICE>_<KIND>``."""
    return f"ASTROQUERY_EXT_{service.upper()}_{kind.upper()}"


def _keyring():
    """The keyring module, or None when it cannot be imported."""
    try:
        import keyring
        return keyring
    except Exception:  # pragma: no cover - keyring is a dependency, but may be broken
        return None


class TokenStore:
    """Secrets of one service: the keyring, else a private file.

    Parameters
    ----------
    service : str
        Service name; the keyring service is ``astroquery_ext.<service>``.
    """

    def __init__(self, service: str):
        self.service = service
        self.keyring_service = f"astroquery_ext.{service}"

    # The file fallback ------------------------------------------------------

    @property
    def directory(self) -> Path:
        return get_config_dir_path() / "astroquery_ext" / "credentials"

    @property
    def file(self) -> Path:
        return self.directory / f"{self.service}.json"

    def _read_file(self) -> dict[str, str]:
        try:
            with open(self.file, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("astroquery_ext: ignoring an unreadable credential file %s", self.file)
            return {}
        return data if isinstance(data, dict) else {}

    def _write_file(self, data: dict[str, str]) -> None:
        private_dir(self.directory)
        write_private(self.file, json.dumps(data).encode())

    # Public API ---------------------------------------------------------------

    def get(self, account: str) -> str | None:
        """The stored secret for ``account``, or None."""
        keyring = _keyring()
        if keyring is not None:
            try:
                value = keyring.get_password(self.keyring_service, account)
                if value is not None:
                    return value
            except Exception as exc:  # NoKeyringError, locked collections, D-Bus errors...
                log.debug("keyring get failed for %s (%s); using the file store",
                          self.keyring_service, type(exc).__name__)
        return self._read_file().get(account)

    def set(self, account: str, secret: str) -> str:
        """Store a secret; returns where it went: ``"keyring"`` or ``"file"``."""
        keyring = _keyring()
        if keyring is not None:
            try:
                keyring.set_password(self.keyring_service, account, secret)
                # A stale file copy must not outlive the keyring one.
                self._delete_from_file(account)
                return "keyring"
            except Exception as exc:
                log.info("astroquery_ext: no usable keyring (%s); storing the %s credential in %s "
                         "(mode 0600)", type(exc).__name__, self.service, self.file)
        with self.lock(account):
            data = self._read_file()
            data[account] = secret
            self._write_file(data)
        return "file"

    def delete(self, account: str) -> None:
        """Forget the secret for ``account`` everywhere it may be stored."""
        keyring = _keyring()
        if keyring is not None:
            try:
                keyring.delete_password(self.keyring_service, account)
            except Exception:  # PasswordDeleteError (absent), NoKeyringError...
                pass
        self._delete_from_file(account)

    def _delete_from_file(self, account: str) -> None:
        if not self.file.exists():
            return
        with self.lock(account):
            data = self._read_file()
            if data.pop(account, None) is not None:
                self._write_file(data)

    def lock(self, account: str) -> ContextManager[None]:
        """Hold the lock of one account, across threads and processes (a file lock,
        portable through ``filelock``). Re-entrant."""
        private_dir(self.directory)
        return held(self.directory / lock_file_name(f"{self.service}.{account}"))

    def file_accounts(self) -> list[str]:
        """The accounts held in the file store (the keyring cannot list its entries)."""
        return sorted(self._read_file())

    # Who logged in last (user names, not secrets) -----------------------------

    @property
    def users_file(self) -> Path:
        """``<astropy config dir>/astroquery_ext/last_users.json``: per service and server,
        the user whose login was stored last (a private file; it holds no secret)."""
        return self.directory.parent / "last_users.json"

    def _read_users(self) -> dict[str, str]:
        try:
            with open(self.users_file, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def last_user(self, where: str) -> str | None:
        """The user whose login was stored last for ``where`` (a server URL), or None."""
        value = self._read_users().get(f"{self.service} {where}")
        return value if isinstance(value, str) and value else None

    def remember_user(self, where: str, username: str | None) -> None:
        """Note ``username`` as the last user of ``where`` (and one who logged in there); None
        forgets who was last."""
        key = f"{self.service} {where}"
        with self.lock("last_users"):
            data = self._read_users()
            known = data.setdefault("known", {})
            users = known.setdefault(key, []) if isinstance(known, dict) else []
            if username is not None and username not in users:
                users.append(username)
            elif data.get(key) == username or (username is None and key not in data):
                return
            if username is None:
                del data[key]
            else:
                data[key] = username
            write_private(self.users_file, json.dumps(data, indent=1).encode())

    def known_users(self, where: str) -> list[str]:
        """Every user whose login was stored for ``where`` (a server URL)."""
        known = self._read_users().get("known")
        users = known.get(f"{self.service} {where}") if isinstance(known, dict) else None
        return [u for u in users if isinstance(u, str)] if isinstance(users, list) else []

    def forget_server(self, where: str) -> None:
        """Forget who logged in to ``where``: the last user and every known one."""
        key = f"{self.service} {where}"
        with self.lock("last_users"):
            data = self._read_users()
            known = data.get("known") if isinstance(data.get("known"), dict) else {}
            if key not in data and key not in known:
                return
            data.pop(key, None)
            known.pop(key, None)
            write_private(self.users_file, json.dumps(data, indent=1).encode())

    def __repr__(self) -> str:
        return f"<TokenStore {self.keyring_service}>"


class CredentialChain:
    """Resolve credentials for one service in the documented order.

    Parameters
    ----------
    service : str
        The service name.
    store : TokenStore
        Where stored secrets live.
    login_hint : str
        How to log in, for error messages (e.g. ``"Atlas.login(token=...)"``).
    """

    def __init__(self, service: str, store: TokenStore, login_hint: str, login: Callable | None = None):
        self.service = service
        self.store = store
        self.login_hint = login_hint
        #: The service's ``login`` function, so that advice names only its real parameters.
        self.login = login

    def _advice(self, kind: str) -> str:
        """How to give a missing credential, naming only parameters ``login`` has."""
        params = set(inspect.signature(self.login).parameters) if self.login is not None else set()
        call = self.login_hint.split("(")[0]
        ways = []
        if kind in params:
            ways.append(f"pass {kind}=... to {call}()")
        ways.append(f"set the environment variable {env_var(self.service, kind)}")
        flag = "store_password" if kind == "password" else "store_token" if kind == "token" else None
        keyring_cmd = f"keyring set {self.store.keyring_service} <user name>"
        if kind == "password" and flag in params:
            ways.append(f"store it in the keyring (service {self.store.keyring_service!r}, account = user name) "
                        f"by logging in once with {call}({'username=..., ' if 'username' in params else ''}"
                        f"store_password=True), or with `{keyring_cmd}`")
        elif kind == "password":
            ways.append(f"store it in the keyring (service {self.store.keyring_service!r}, account = user name) "
                        f"with `{keyring_cmd}`")
        elif kind == "token" and flag in params:
            ways.append(f"log in once with {call}(token=..., store_token=True) to keep it")
        elif kind == "username":
            ways.append(f"set astroquery_ext.{self.service}.conf.username")
        return ", ".join(ways[:-1]) + ", or " + ways[-1] if len(ways) > 1 else ways[0]

    @staticmethod
    def interactive() -> bool:
        """Whether a prompt may be shown (a terminal, and not inside `no_prompt`)."""
        if not _PROMPT_ALLOWED.get():
            return False
        try:
            return sys.stdin is not None and sys.stdin.isatty()
        except (AttributeError, ValueError):
            return False

    def _find(self, kind, explicit, *, account, default, prompt, use_store, ask) -> str | None:
        if explicit is not None:
            if not isinstance(explicit, str) or not explicit:
                raise ValueError(f"{kind} must be a non-empty string")
            return explicit
        value = os.environ.get(env_var(self.service, kind))
        if value:
            return value
        if use_store and account is not None:
            value = self.store.get(account)
            if value:
                return value
        if default:
            return default
        if prompt and self.interactive():
            label = f"{self.service} {kind}" + (f" for {account}" if account and kind == "password" else "")
            reader = ask or (input if kind == "username" else getpass.getpass)
            value = reader(f"{label}: ")
            if value:
                return value
        return None

    def resolve(self, kind: str, explicit: str | None = None, *, account: str | None = None,
                default: str | None = None, prompt: bool = True, use_store: bool = True,
                ask: Callable[[str], str] | None = None) -> str:
        """One credential, from the first source that has it.

        Parameters
        ----------
        kind : {"token", "username", "password"}
            What to find; names the environment variable and the message.
        explicit : str, optional
            A value the caller gave: used as is.
        account : str, optional
            Keyring account to look under (a username for passwords).
        default : str, optional
            Used after the environment and the store (e.g. ``conf.username``).
        prompt : bool
            Ask on the terminal as a last resort (never when stdin is not a TTY).
        use_store : bool
            Look in the keyring / file store.
        """
        value = self._find(kind, explicit, account=account, default=default, prompt=prompt,
                           use_store=use_store, ask=ask)
        if value is not None:
            if kind != "username":
                register_secret(value)  # masked wherever a server might echo it
            return value
        raise LoginError(
            f"No {kind} for {self.service}: {self._advice(kind)}."
            + ("" if self.interactive() else " (No prompt: standard input is not a terminal.)"),
            service=self.service)
