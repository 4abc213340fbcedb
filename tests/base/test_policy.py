"""The base's batch policy (`astroquery_ext._base.policy`): any service may declare an hourly quota, and the
calls of one batch share a circuit breaker."""

from __future__ import annotations

import warnings

import pytest

from astroquery_ext._base import bounded_map
from astroquery_ext._base.policy import CircuitBreaker, quota_gate
from astroquery_ext.exceptions import RateLimitError, RemoteServiceError
from astroquery_ext.sandbox import Fault
from tests.base.conftest import requests_to
from tests.base.testbed_client import TestbedClass


class QuotaTestbed(TestbedClass):
    """A service that counts requests per hour: it only declares it."""
    requests_per_hour = 3


def _writes(client, n, on_rate_limit):
    gate = quota_gate(client, "things", n, on_rate_limit)

    def one(i):
        try:
            client.create_thing()
            return "sent"
        except RateLimitError as exc:
            return f"not sent {exc.status or 0}: {gate.not_sent_info()}"
    return gate, bounded_map(gate.wrap(one), range(n), max_workers=1)


def test_any_service_may_declare_an_hourly_quota(testbed_sandbox, user_state, alice):
    client = QuotaTestbed(server=testbed_sandbox.url("testbed"))
    client.login(token=alice["token"])
    testbed_sandbox.clear_request_log("testbed")
    testbed_sandbox.set_faults("testbed", [Fault("status", status=429, retry_after=3000, path="*/things",
                                                 nth=list(range(4, 100)))])
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gate, outcomes = _writes(client, 5, "return")
    finally:
        testbed_sandbox.set_faults("testbed", [])
    # Said before sending: 5 requests against 3 per hour.
    assert any("5 id(s) = 5 request(s)" in str(w.message) and "quota of 3 requests per hour" in str(w.message)
               for w in caught)
    assert outcomes[:3] == ["sent"] * 3
    assert outcomes[3].startswith("not sent 429: not sent: hourly quota used up (HTTP 429); send again after 20")
    assert outcomes[4].startswith("not sent 0: not sent: hourly quota used up")
    assert 2990 < gate.retry_after <= 3000
    # The 429 was neither waited out nor repeated, and the 5th write never sent.
    assert len(requests_to(testbed_sandbox, "testbed", "/things")) == 4
    with pytest.raises(ValueError, match="on_rate_limit must be"):
        quota_gate(client, "things", 1, "later")


def test_the_breaker_opens_after_consecutive_connection_failures_only():
    breaker = CircuitBreaker(threshold=3)
    for _ in range(5):  # failures with successes in between never open it
        breaker.failed("ConnectionError")
        breaker.failed("ConnectionError")
        breaker.succeeded()
    assert not breaker.open
    assert [breaker.failed("ConnectionError") for _ in range(3)] == [False, False, True]
    breaker.succeeded()  # once open, it stays open for the batch
    assert breaker.open and "3 connection failures in a row" in breaker.why()


def test_a_batch_against_a_dead_server_gives_up_at_once(user_state):
    client = TestbedClass(server="http://127.0.0.1:9/api/")  # nothing listens on port 9
    client.retry_backoff = 0.01

    def one(i):
        try:
            client.counters()
            return "ok"
        except RemoteServiceError as exc:
            return str(exc)
    outcomes = bounded_map(one, range(10), max_workers=1)
    # Each of the first items spends its attempts (5 each); the breaker then stops the rest unsent.
    assert "stopped answering" in outcomes[0] and all("stopped answering" in o for o in outcomes[1:])
