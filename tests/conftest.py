"""Shared fixtures: sandbox servers started on demand, isolated user state.

Every service's sandbox is started at most once per test session (per xdist
worker), the first time a test asks for ``<service>_sandbox``, with the app's
own defaults (sized for tests). A test that needs other options or faults
starts its own ``Sandbox``.
"""

from __future__ import annotations

import os

import pytest

from astroquery_ext.sandbox import Sandbox


class _Sandboxes:
    def __init__(self):
        self._running: dict[str, Sandbox] = {}

    def get(self, name: str) -> Sandbox:
        if name not in self._running:
            self._running[name] = Sandbox(services=[name]).start()
        return self._running[name]

    def stop_all(self):
        for sandbox in self._running.values():
            sandbox.stop()
        self._running.clear()


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
def glance_sandbox(sandboxes):
    return sandboxes.get("glance")


@pytest.fixture(scope="session")
def tupli_sandbox(sandboxes):
    return sandboxes.get("tupli")


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch):
    """Loopback traffic must never go through a proxy configured on the machine."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for var in [v for v in os.environ if v.startswith("ASTROQUERY_EXT_")]:
        monkeypatch.delenv(var)
