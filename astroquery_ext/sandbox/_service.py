"""The contract between the sandbox harness and each service app.

A service app is a module ``astroquery_ext.sandbox.<name>`` with one function::

    def create_service(ctx: SandboxContext) -> SandboxService

It is called once, inside the server process, before the server starts
accepting connections. It may build its sample data (deterministically from
``ctx.seed``) under ``ctx.data_dir``, and returns the ASGI app plus what a
client needs to connect. The harness wraps the app with fault injection and
the ``/_sandbox/`` control routes, so apps never deal with either.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any, Callable

__all__ = ["SandboxContext", "SandboxService", "TokenLedger"]


@dataclasses.dataclass(frozen=True)
class SandboxContext:
    """What a service app gets to build itself."""

    #: The service name (``"atlas"``, ``"grad300"``, ...).
    name: str
    #: A directory owned by this service (SQLite files, synthesised FITS...).
    data_dir: Path
    #: Seed for all sample data: the same seed gives the same data.
    seed: int
    #: ``http://127.0.0.1:PORT``, known before the app is built (the socket is
    #: bound first), so apps can put absolute URLs in what they serve.
    origin: str
    #: Service-specific options (sizes of the sample data, throttle rates...),
    #: as given to ``Sandbox(services={name: options})``. JSON-serialisable.
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class SandboxService:
    """What a service app hands back to the harness."""

    #: The ASGI application.
    app: Callable
    #: Path of the API root a client is pointed at, e.g. ``"/api/"``.
    #: ``Sandbox.url(name)`` is ``origin + root``.
    root: str = "/"
    #: The default user's credentials: at least ``username`` and ``password``,
    #: plus ``token`` where the service uses static tokens.
    credentials: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Every sandbox user by name, each a dict like ``credentials`` plus
    #: whatever describes the account (roles, write access, staff...).
    users: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    #: Anything else a client or a test needs (OIDC endpoints, sizes...).
    #: JSON-serialisable.
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Puts what the service stores back as it was when it started, and starts its
    #: rate windows over (``POST /_sandbox/reset``; the pytest plugin calls it after
    #: each test). None: the service stores nothing.
    reset: Callable[[], Any] | None = None
    #: Adds the caller's own data, given as a JSON-able dict (file paths on this
    #: machine...); returns a JSON-able summary (``POST /_sandbox/load``). What it
    #: adds is gone after `reset`. None: the service loads nothing.
    load: Callable[[dict], Any] | None = None
    #: Test controls of this service: ``POST /_sandbox/<name>`` calls ``controls[name]()``
    #: and answers its JSON-serialisable result (`Sandbox.control`).
    controls: dict[str, Callable[[], Any]] = dataclasses.field(default_factory=dict)


class TokenLedger:
    """The access tokens a service issued, so that a test can expire them now (``"expire-access-tokens"``).

    ``mint(make)`` calls ``make(extra_seconds)`` for a token: JWTs whose only
    varying claim is ``exp`` in whole seconds repeat within a second, and a
    token equal to an expired one would be that one, so it is made again
    with one second more of life until it is new.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._issued: set[str] = set()
        self._expired: set[str] = set()

    def mint(self, make: Callable[[int], str], *, access: bool = True) -> str:
        extra = 0
        with self._lock:
            while (token := make(extra)) in self._expired:
                extra += 1
            if access:
                self._issued.add(token)
        return token

    def expired(self, token: str) -> bool:
        return token in self._expired

    def expire_all(self) -> int:
        """Expire every access token issued so far; returns how many."""
        with self._lock:
            count = len(self._issued)
            self._expired |= self._issued
            self._issued = set()
        return count
