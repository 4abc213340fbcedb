"""Retries, backoff, Retry-After, writes never repeated blindly, timeouts."""

import time

import pytest

from astroquery_ext._base import RateLimitError, RemoteServiceError
from astroquery_ext.sandbox import Fault, Sandbox
from tests.base.conftest import requests_to
from tests.base.testbed_client import TestbedClass, fresh_client


@pytest.fixture(scope="module")
def faulty():
    with Sandbox(services=["testbed"]) as sb:
        yield sb


@pytest.fixture
def fclient(faulty):
    return fresh_client(faulty, login=True)


@pytest.mark.parametrize("fault", [
    Fault("status", status=503, path="/api/whoami", nth=[1, 2]),
    Fault("status", status=502, path="/api/whoami", nth=[1, 2]),
    Fault("reset", path="/api/whoami", nth=[1, 2]),
    Fault("truncate", path="/api/whoami", nth=[1, 2]),
])
def test_idempotent_requests_are_retried(faulty, fclient, fault):
    faulty.set_faults("testbed", [fault])
    assert fclient.whoami(cache=False)["user"] == "alice"
    assert len(requests_to(faulty, "testbed", "/whoami")) == 3


def test_retry_budget_exhausted_raises_clear_error(faulty, fclient):
    faulty.set_faults("testbed", [Fault("status", status=503, path="/api/whoami")])
    fclient.max_retries = 2
    with pytest.raises(RemoteServiceError, match="HTTP 503.*try again later"):
        fclient.whoami(cache=False)
    assert len(requests_to(faulty, "testbed", "/whoami")) == 3


def test_429_waits_as_retry_after_says(faulty, fclient):
    faulty.set_faults("testbed", [Fault("status", status=429, retry_after=1, path="/api/whoami", nth=[1])])
    started = time.monotonic()
    assert fclient.whoami(cache=False)["user"] == "alice"
    assert time.monotonic() - started >= 1.0
    assert [e["status"] for e in requests_to(faulty, "testbed", "/whoami")] == [429, 200]


def test_429_longer_than_budget_raises_rate_limit_error(faulty, fclient):
    faulty.set_faults("testbed", [Fault("status", status=429, retry_after=3600, path="/api/whoami")])
    with pytest.raises(RateLimitError) as info:
        fclient.whoami(cache=False)
    assert info.value.retry_after == 3600
    assert "HTTP 429" in str(info.value)
    assert len(requests_to(faulty, "testbed", "/whoami")) == 1


def test_write_is_not_repeated_when_its_answer_is_lost(faulty, fclient):
    before = fclient.counters()["writes"]
    faulty.set_faults("testbed", [Fault("drop_response", method="POST", path="/api/things", nth=[1])])
    with pytest.raises(RemoteServiceError, match="was not repeated: check whether it took effect"):
        fclient.create_thing()
    assert fclient.counters()["writes"] == before + 1  # carried out once, not twice
    assert fclient.create_thing()["created"] == before + 2


def test_write_is_retried_after_429(faulty, fclient):
    before = fclient.counters()["writes"]
    faulty.set_faults("testbed", [Fault("status", status=429, retry_after=0, path="/api/things", nth=[1])])
    assert fclient.create_thing()["created"] == before + 1
    assert fclient.counters()["writes"] == before + 1


def test_slow_server_times_out(faulty, fclient):
    faulty.set_faults("testbed", [Fault("delay", seconds=3, path="/api/whoami")])
    fclient.timeout = 0.5
    fclient.max_retries = 1
    with pytest.raises(RemoteServiceError, match="timed out after 2 attempt"):
        fclient.whoami(cache=False)


def test_unreachable_server():
    client = TestbedClass(server="http://127.0.0.1:9/api/")
    client.max_retries = 1
    client.retry_backoff = 0.01
    with pytest.raises(RemoteServiceError, match="failed after 2 attempt"):
        client.status(200)
