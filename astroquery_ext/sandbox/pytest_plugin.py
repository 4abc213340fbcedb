"""pytest plugin: the sandbox as fixtures for the tests of your own pipeline.

Installed with the package (entry point ``pytest11``, named after this module),
so any test folder gets, with no conftest and no import:

``atlas_sandbox``, ``grad300_sandbox``, ``glance_sandbox``, ``tupli_sandbox``
    The service running (started once per test session, the first time a test
    asks for it; only the services asked for), and the module's singleton
    (``Atlas``, ``Grad300``, ``Glance``, ``Tupli``) pointed at it and logged in
    as the sandbox's sample user for the duration of the test. The value is a
    `ServiceSandbox`: ``url``, ``credentials()``, ``users()``, ``client()``,
    ``set_faults()``, ``request_log()``, ``load_data()``...
``sandbox_user_state``
    The temporary user state every one of those fixtures uses: the astropy
    config and cache directories and an in-memory keyring (so nothing is read
    from or written to yours).

After each test: what it wrote to the service is gone (`Sandbox.reset`), its
faults are cleared, the singleton's configuration and login are what they were
before, and the temporary directories are left to pytest's ``tmp_path`` rules.

Production mode by default. ``@pytest.mark.sandbox(mode="relaxed",
atlas={"n_objects": 50})`` on a test, class or module chooses the mode (for all
services, or a dict by service) and options of each service; each distinct
choice is its own sandbox, started once per session.

``pytest -p no:astroquery_ext.sandbox.pytest_plugin`` switches the plugin off;
where plugins are not loaded automatically (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``),
``-p astroquery_ext.sandbox.pytest_plugin`` loads it. The documentation is
``docs/testing.rst`` ("Testing your pipeline").
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import pytest

__all__ = ["ServiceSandbox", "SandboxPool", "MemoryKeyring", "isolated_user_state", "SERVICES"]

#: The fixtures' services: (module, singleton name).
SERVICES = {"atlas": ("astroquery_ext.atlas", "Atlas"),
            "grad300": ("astroquery_ext.grad300", "Grad300"),
            "glance": ("astroquery_ext.glance", "Glance"),
            "tupli": ("astroquery_ext.tupli", "Tupli")}

_MARKER = ("sandbox(mode='production', atlas=None, grad300=None, glance=None, tupli=None, seed=0): "
           "the astroquery-ext sandbox this test's <service>_sandbox fixtures use: mode 'production' "
           "(the default) or 'relaxed', or a dict by service; each service's options as a dict")


def pytest_configure(config):
    config.addinivalue_line("markers", _MARKER)


# -- sandboxes, started once per session -----------------------------------------------------


class SandboxPool:
    """Sandboxes of one service each, started on first use and kept until `stop_all`.

    A sandbox is known by its service, mode, options and seed: asking twice
    for the same gives the same running sandbox.
    """

    def __init__(self):
        self._running: dict[str, Any] = {}

    @staticmethod
    def _key(service: str, mode: str, options: dict | None, seed: int) -> str:
        return json.dumps([service, mode, options or {}, seed], sort_keys=True, default=str)

    def get_many(self, wanted: Iterable[tuple[str, str, dict | None, int]]) -> list:
        """The sandboxes for ``(service, mode, options, seed)`` tuples, those not running started together."""
        from astroquery_ext.sandbox import Sandbox, start_all

        wanted = list(wanted)
        fresh = []
        for service, mode, options, seed in wanted:
            key = self._key(service, mode, options, seed)
            if key not in self._running:
                self._running[key] = Sandbox(services={service: dict(options or {})}, mode=mode, seed=seed)
                fresh.append(key)
        try:
            start_all(self._running[key] for key in fresh)
        except BaseException:
            for key in fresh:
                self._running.pop(key, None)
            raise
        return [self._running[self._key(*w)] for w in wanted]

    def get(self, service: str, mode: str = "production", options: dict | None = None, seed: int = 0):
        return self.get_many([(service, mode, options, seed)])[0]

    def stop_all(self) -> None:
        running, self._running = self._running, {}
        for sandbox in running.values():
            sandbox.stop()


class ServiceSandbox:
    """One service of a running `~astroquery_ext.sandbox.Sandbox`, as a test uses it.

    The calls of ``Sandbox`` that take a service name, without it.
    """

    def __init__(self, sandbox, service: str):
        self.sandbox = sandbox
        self.service = service

    @property
    def url(self) -> str:
        """The API root to point a client at."""
        return self.sandbox.url(self.service)

    @property
    def origin(self) -> str:
        return self.sandbox.origin(self.service)

    @property
    def mode(self) -> str:
        return self.sandbox.mode(self.service)

    def options(self) -> dict:
        return self.sandbox.options(self.service)

    def credentials(self, user: str | None = None) -> dict:
        """The sample user's credentials (the singleton is logged in as this user), or ``user``'s."""
        return self.sandbox.credentials(self.service, user)

    def users(self) -> dict[str, dict]:
        return self.sandbox.users(self.service)

    def info(self) -> dict:
        return self.sandbox.info(self.service)

    def client(self, **overrides):
        """A new client pointed at the sandbox, not logged in (see `login`)."""
        return self.sandbox.client(self.service, **overrides)

    def login(self, client, user: str | None = None, *, store_token: bool = False) -> bool:
        """Log ``client`` in as the sample user or ``user``, as that user would.

        ATLAS and GRAD300: with the user's token; Glance: through the
        sandbox's login page, approved at once; Tupli: with the password
        (from ``ASTROQUERY_EXT_TUPLI_PASSWORD`` for the call). ``store_token``
        as in the clients' ``login`` (stored logins go to the test's
        temporary keyring).
        """
        creds = self.credentials(user)
        if self.service in ("atlas", "grad300"):
            return client.login(token=creds["token"], store_token=store_token)
        if self.service == "glance":
            return client.login(open_browser=_headless_browser, login_hint=creds["username"],
                                store_token=store_token)
        previous = os.environ.get("ASTROQUERY_EXT_TUPLI_PASSWORD")
        os.environ["ASTROQUERY_EXT_TUPLI_PASSWORD"] = creds["password"]
        try:
            return client.login(creds["username"], store_token=store_token)
        finally:
            if previous is None:
                os.environ.pop("ASTROQUERY_EXT_TUPLI_PASSWORD", None)
            else:
                os.environ["ASTROQUERY_EXT_TUPLI_PASSWORD"] = previous

    def set_faults(self, faults: Iterable = ()) -> list[dict]:
        """Replace the fault rules (`~astroquery_ext.sandbox.Fault` or dicts); cleared after the test."""
        return self.sandbox.set_faults(self.service, faults)

    def faults(self) -> list[dict]:
        return self.sandbox.faults(self.service)

    def request_log(self) -> list[dict]:
        """The requests this test made so far: dicts with ``method``, ``path``, ``status``."""
        return self.sandbox.request_log(self.service)

    def clear_request_log(self) -> None:
        self.sandbox.clear_request_log(self.service)

    def load_data(self, **what) -> dict:
        """Add your own data for this test (see `Sandbox.load_data`); gone after the test."""
        return self.sandbox.load_data(self.service, **what)

    def reset(self) -> None:
        """What the service stores back as it was at start (done after every test)."""
        self.sandbox.reset(self.service)

    def __repr__(self) -> str:
        return f"<ServiceSandbox {self.service} {self.url} ({self.mode})>"


# -- the user's own state, kept out of reach ------------------------------------------------


@functools.lru_cache(maxsize=None)
def _memory_keyring_class():
    import keyring.backend
    import keyring.errors

    class MemoryKeyring(keyring.backend.KeyringBackend):
        """A keyring that lives in this process only."""

        priority = 1

        def __init__(self):
            super().__init__()
            self.entries: dict[tuple[str, str], str] = {}

        def get_password(self, service, username):
            return self.entries.get((service, username))

        def set_password(self, service, username, password):
            self.entries[(service, username)] = password

        def delete_password(self, service, username):
            if self.entries.pop((service, username), None) is None:
                raise keyring.errors.PasswordDeleteError(username)

    return MemoryKeyring


def __getattr__(name):  # MemoryKeyring without importing keyring when pytest loads the plugin
    if name == "MemoryKeyring":
        return _memory_keyring_class()
    raise AttributeError(name)


@contextlib.contextmanager
def isolated_user_state(root: Path) -> Iterator[Any]:
    """Astropy config and cache dirs under ``root`` and an in-memory keyring, for this process and
    (through ``XDG_CONFIG_HOME``, ``XDG_CACHE_HOME`` and a keyring that stores nothing) its children.

    Yields a namespace with ``config_dir``, ``cache_dir`` (the astropy dirs) and ``keyring``.
    """
    import keyring
    from astropy.config.paths import set_temp_cache, set_temp_config

    root = Path(root)
    env = {"XDG_CONFIG_HOME": str(root / "config"), "XDG_CACHE_HOME": str(root / "cache"),
           # Child processes: no keyring, so stored logins go to the 0600 file under the temporary config.
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    for kind in ("config", "cache"):
        (root / kind / "astropy").mkdir(mode=0o700, parents=True, exist_ok=True)
    saved_env = {k: os.environ.get(k) for k in env}
    # Credentials for the real services in the environment must not be picked up by a test.
    saved_env.update({k: v for k, v in os.environ.items() if k.startswith("ASTROQUERY_EXT_")})
    previous = keyring.get_keyring()
    ring = _memory_keyring_class()()
    try:
        for key in saved_env:
            os.environ.pop(key, None)
        os.environ.update(env)
        keyring.set_keyring(ring)
        with set_temp_cache(root / "cache"), set_temp_config(root / "config"):
            yield type("UserState", (), {"config_dir": root / "config" / "astropy",
                                         "cache_dir": root / "cache" / "astropy", "keyring": ring})
    finally:
        keyring.set_keyring(previous)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _astroquery_ext_sandboxes():
    pool = SandboxPool()
    yield pool
    pool.stop_all()


@pytest.fixture
def sandbox_user_state(tmp_path_factory):
    """The temporary astropy config and cache dirs and in-memory keyring of this test."""
    with isolated_user_state(tmp_path_factory.mktemp("astroquery-ext-user")) as state:
        yield state


def _marker_choice(node, service: str) -> tuple[str, str, dict, int]:
    marker = node.get_closest_marker("sandbox")
    kwargs = dict(marker.kwargs) if marker is not None else {}
    if marker is not None and marker.args:
        raise pytest.UsageError("@pytest.mark.sandbox takes keyword arguments only "
                                "(mode=..., seed=..., atlas={...}, ...)")
    unknown = set(kwargs) - {"mode", "seed", *SERVICES}
    if unknown:
        raise pytest.UsageError(f"@pytest.mark.sandbox: unknown argument(s) {', '.join(sorted(unknown))}; "
                                f"give mode=, seed= or options by service ({', '.join(SERVICES)})")
    mode = kwargs.get("mode", "production")
    if isinstance(mode, dict):
        mode = mode.get(service, "production")
    return service, mode, dict(kwargs.get(service) or {}), int(kwargs.get("seed", 0))


def _headless_browser(url: str) -> None:
    """The sandbox's login page approves at once: follow it to the client's loopback callback."""
    import requests

    from astroquery_ext._base.loopback import direct_to_loopback

    with direct_to_loopback(requests.Session()) as session:
        session.get(url, timeout=60)


@contextlib.contextmanager
def _singleton_on(service: str, sandbox: ServiceSandbox) -> Iterator[Any]:
    """The module's singleton pointed at ``sandbox`` and logged in; as it was afterwards."""
    module = importlib.import_module(SERVICES[service][0])
    client = getattr(module, SERVICES[service][1])
    settings = {"server": sandbox.url, **sandbox.info().get("client_settings", {})}
    saved = dict(vars(client))
    with contextlib.ExitStack() as stack:
        for name, value in settings.items():
            stack.enter_context(module.conf.set_temp(name, value))
        # A session and login of its own for the test; the one it had comes back afterwards.
        client._auth = None
        client._authenticated = False
        client._open_process_state()
        try:
            sandbox.login(client)
            yield client
        finally:
            try:
                client.logout()
            finally:
                client._session.close()
                vars(client).clear()
                vars(client).update(saved)


def _sandbox_fixture(service: str):
    def fixture(request, _astroquery_ext_sandboxes, sandbox_user_state):
        # Every sandbox this test asks for is started together (their start-up overlaps).
        choices = {name: _marker_choice(request.node, name) for name in SERVICES
                   if f"{name}_sandbox" in request.fixturenames}
        choices.setdefault(service, _marker_choice(request.node, service))
        sandboxes = dict(zip(choices, _astroquery_ext_sandboxes.get_many(choices.values())))
        handle = ServiceSandbox(sandboxes[service], service)
        try:
            with _singleton_on(service, handle):
                handle.clear_request_log()  # the log shows the test's own requests, not the login's
                try:
                    yield handle
                finally:
                    handle.set_faults([])  # before the logout, which may talk to the server
        finally:
            handle.reset()

    fixture.__name__ = f"{service}_sandbox"
    fixture.__doc__ = (f"The {service} sandbox, its singleton pointed at it and logged in for this test "
                       f"(see astroquery_ext.sandbox.pytest_plugin).")
    return pytest.fixture(name=f"{service}_sandbox")(fixture)


atlas_sandbox = _sandbox_fixture("atlas")
grad300_sandbox = _sandbox_fixture("grad300")
glance_sandbox = _sandbox_fixture("glance")
tupli_sandbox = _sandbox_fixture("tupli")
