"""Offset/limit and cursor paging against the testbed, with request counts."""

import threading

import pytest

from astroquery_ext._base import bounded_map, fetch_offset_pages
from tests.base.conftest import requests_to
from tests.base.testbed_client import TestbedClass


@pytest.fixture
def authed(testbed_sandbox):
    client = TestbedClass(server=testbed_sandbox.url("testbed"))
    client.login(token=testbed_sandbox.credentials("testbed")["token"])
    testbed_sandbox.clear_request_log("testbed")
    return client


def test_all_pages_in_order_with_exactly_the_needed_requests(authed, testbed_sandbox):
    t = authed.query_items(page_size=40, cache=False)
    n = testbed_sandbox.info("testbed")["n_items"]
    assert len(t) == n and list(t["id"]) == sorted(t["id"])
    assert len(requests_to(testbed_sandbox, "testbed", "/items")) == -(-n // 40)


def test_cursor_pages(authed, testbed_sandbox):
    t = authed.query_cursor()
    assert len(t) == testbed_sandbox.info("testbed")["n_items"]
    assert len(authed.query_cursor(row_limit=50)) == 50


def test_unknown_total_stops_at_the_first_short_page():
    data = list(range(95))
    calls = []

    def fetch(offset, limit):
        calls.append(offset)
        return data[offset:offset + limit], None

    records, truncated = fetch_offset_pages(fetch, page_size=10, max_workers=3)
    assert records == data and not truncated
    assert max(calls) < 120  # at most one round past the end

    records, truncated = fetch_offset_pages(fetch, page_size=10, row_limit=30, max_workers=3)
    assert records == data[:30] and truncated


def test_bounded_map_respects_the_bound_and_order():
    active, peak, lock = [0], [0], threading.Lock()

    def work(x):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        import time
        time.sleep(0.01)
        with lock:
            active[0] -= 1
        return x * 2

    assert bounded_map(work, range(40), max_workers=4) == [x * 2 for x in range(40)]
    assert peak[0] <= 4


def test_bounded_map_raises_the_first_failure():
    def work(x):
        if x == 3:
            raise KeyError("boom")
        return x

    with pytest.raises(KeyError, match="boom"):
        bounded_map(work, range(10), max_workers=2)
