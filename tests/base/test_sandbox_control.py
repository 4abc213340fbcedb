"""The sandbox's own control routes, as benchmarks and tests use them."""

import requests


def test_cpu_seconds_counts_the_server_process_work_and_is_not_logged(testbed_sandbox):
    before = testbed_sandbox.cpu_seconds("testbed")
    testbed_sandbox.clear_request_log("testbed")
    health = testbed_sandbox.url("testbed").rstrip("/") + "/status/200"
    with requests.Session() as session:
        for _ in range(200):
            session.get(health, timeout=10)
    after = testbed_sandbox.cpu_seconds("testbed")
    assert isinstance(after, float) and after > before > 0
    # the control routes themselves never appear in the request log
    assert {e["path"] for e in testbed_sandbox.request_log("testbed")} == {"/api/status/200"}
