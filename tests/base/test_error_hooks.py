"""Service hooks on error answers: which statuses renew the token, which exception a status raises."""

import pytest

from astroquery_ext._base import AuthorizationError, LoginError
from tests.base.conftest import requests_to
from tests.base.testbed_client import TestbedClass


class RenewOn403(TestbedClass):
    """A service whose server answers 403 for an expired token."""

    renew_statuses = frozenset({401, 403})
    refreshed = 0

    def _refresh(self, state):
        type(self).refreshed += 1
        return state

    def _error_class(self, status, detail):
        return LoginError if status == 403 else super()._error_class(status, detail)


def test_default_403_is_an_authorization_error_without_renewal(client, testbed_sandbox):
    client.login(token="any-token-at-all")
    testbed_sandbox.clear_request_log("testbed")
    with pytest.raises(AuthorizationError, match="HTTP 403"):
        client.status(403)
    assert len(requests_to(testbed_sandbox, "testbed", "/status/403")) == 1


def test_a_service_can_renew_on_403_and_map_it_to_login_error(testbed_sandbox):
    client = RenewOn403(server=testbed_sandbox.url("testbed"))
    client.retry_backoff = 0.01
    client.login(token="any-token-at-all")
    testbed_sandbox.clear_request_log("testbed")
    with pytest.raises(LoginError, match="status 403 as asked"):
        client.status(403)
    assert RenewOn403.refreshed == 1  # renewed once, the request repeated once, then raised
    assert len(requests_to(testbed_sandbox, "testbed", "/status/403")) == 2
