"""Shared fixtures: sandbox servers started on demand, isolated user state.

Every service's sandbox is started at most once per test session (per xdist
worker), the first time a test asks for ``<service>_sandbox``, with the app's
own data sizes, in the sandbox's **relaxed** mode, named here on purpose: the
suite makes thousands of requests (ATLAS allows 100 an hour in production) and
tests our clients apart from the real servers' known bugs. A ``Sandbox(...)``
started without ``mode=`` is production-like: the tests of production's
behaviour (``tests/*/test_sandbox_*_production.py``, the quota tests) use that.
A test that needs other options or faults starts its own ``Sandbox``.
"""

from __future__ import annotations

import os

import keyring
import keyring.backends.fail
import pytest
from astropy.config.paths import set_temp_cache, set_temp_config

from astroquery_ext.sandbox import Sandbox
# The fixtures below of the same names as the plugin's (atlas_sandbox...) override them: the suite
# shares one relaxed sandbox per service for the session; the plugin's machinery does the work.
from astroquery_ext.sandbox.pytest_plugin import MemoryKeyring, SandboxPool

# Helper scripts run by tests in a subprocess (they read sys.argv): not test modules.
collect_ignore_glob = ["peers/_*.py"]


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run the tests marked slow (the full-size resilience matrix)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow (tox -e resilience)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


#: The mode of the shared sandboxes of the suite (see the module docs).
SUITE_MODE = "relaxed"


class _Sandboxes(SandboxPool):
    """The plugin's pool of sandboxes, in the suite's mode unless told otherwise."""

    def get(self, name: str, mode: str = SUITE_MODE, options: dict | None = None, seed: int = 0) -> Sandbox:
        return super().get(name, mode, options, seed)


@pytest.fixture(scope="session")
def sandboxes():
    registry = _Sandboxes()
    yield registry
    registry.stop_all()


@pytest.fixture(scope="session")
def testbed_sandbox(sandboxes):
    return sandboxes.get("testbed")


@pytest.fixture(scope="session")
def atlas_sandbox(sandboxes):
    return sandboxes.get("atlas")


@pytest.fixture(scope="session")
def grad300_sandbox(sandboxes):
    return sandboxes.get("grad300")


@pytest.fixture(scope="session")
def http():
    """A plain requests session that ignores proxy settings: raw HTTP to a sandbox, as a test sees the wire.
    (Test modules that need another client define their own ``http``.)"""
    import requests

    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()


@pytest.fixture(scope="module")
def grad300_raw(grad300_sandbox):
    """GET a path under the GRAD300 API root with the default user's token: the server's own answers,
    which the module and peer tests compare results with."""
    import requests

    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {grad300_sandbox.credentials('grad300')['token']}"
    root = grad300_sandbox.url("grad300")

    def get(path, **params):
        response = session.get(root + path, params=params)
        response.raise_for_status()
        return response

    yield get
    session.close()


@pytest.fixture(scope="session")
def glance_sandbox(sandboxes):
    return sandboxes.get("glance")


@pytest.fixture(scope="session")
def tupli_sandbox(sandboxes):
    return sandboxes.get("tupli")


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch):
    """The tests' own raw requests (plain requests, urllib) to a sandbox must not go through a proxy
    configured on the machine. The package's clients need no NO_PROXY (tests/base/test_loopback.py)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for var in [v for v in os.environ if v.startswith("ASTROQUERY_EXT_")]:
        monkeypatch.delenv(var)


@pytest.fixture(autouse=True)
def user_state(tmp_path_factory, monkeypatch):
    """Every test gets its own astropy cache and config dirs and an in-memory keyring.

    Yields a namespace with ``cache_dir``, ``config_dir`` and ``keyring``.
    """
    cache_dir = tmp_path_factory.mktemp("cache")
    config_dir = tmp_path_factory.mktemp("config")
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    try:
        with set_temp_cache(cache_dir), set_temp_config(config_dir):
            yield type("UserState", (), {"cache_dir": cache_dir / "astropy",
                                         "config_dir": config_dir / "astropy", "keyring": ring})
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def no_keyring():
    """No usable keyring backend (as on a headless server)."""
    keyring.set_keyring(keyring.backends.fail.Keyring())
