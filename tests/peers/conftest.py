"""The seed clients run against the sandbox's default, production-like mode.

The shared ``<service>_sandbox`` fixtures of the suite are relaxed (see
``tests/conftest.py``); here they are overridden by production-mode ones, so
that a peer test shows what the unmodified seed client does against servers
that behave as the real ones. Where a seed client cannot work (a bug of its own
that production would expose too), the test is marked xfail, strict, with why.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def atlas_sandbox(sandboxes):
    return sandboxes.get("atlas", "production")


@pytest.fixture(scope="session")
def grad300_sandbox(sandboxes):
    return sandboxes.get("grad300", "production")


@pytest.fixture(scope="session")
def glance_sandbox(sandboxes):
    return sandboxes.get("glance", "production")


@pytest.fixture(scope="session")
def tupli_sandbox(sandboxes):
    return sandboxes.get("tupli", "production")
