import pytest

from tests.base.testbed_client import TestbedClass


@pytest.fixture
def client(testbed_sandbox):
    """A fresh testbed client with fast retries."""
    c = TestbedClass(server=testbed_sandbox.url("testbed"))
    c.retry_backoff = 0.01
    return c


@pytest.fixture
def alice(testbed_sandbox):
    return testbed_sandbox.credentials("testbed", "alice")


@pytest.fixture
def bob(testbed_sandbox):
    return testbed_sandbox.credentials("testbed", "bob")


def requests_to(sandbox, service, path):
    return [e for e in sandbox.request_log(service) if e["path"].endswith(path)]
