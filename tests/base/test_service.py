"""The service class: configuration at call time, login, logout, session hygiene."""

import logging

import pytest

from astroquery_ext._base import AuthorizationError, ConflictError, InvalidQueryError, LoginError, \
    NotFoundError, RemoteServiceError
from tests.base.testbed_client import TestbedClass, conf


def test_server_and_timeout_are_read_from_conf_at_call_time(testbed_sandbox, monkeypatch):
    client = TestbedClass()
    monkeypatch.setattr(conf, "server", testbed_sandbox.url("testbed"))
    monkeypatch.setattr(conf, "timeout", 7.5)
    assert client.server == testbed_sandbox.url("testbed")
    assert client.timeout == 7.5
    assert client.status(200)["detail"] == "status 200 as asked"
    override = TestbedClass(server="http://127.0.0.1:1/api/", timeout=3)
    assert (override.server, override.timeout) == ("http://127.0.0.1:1/api/", 3)


@pytest.mark.parametrize("kwargs, message", [
    ({"server": "ftp://x"}, r"server must be an http\(s\) URL"),
    ({"server": "nohost"}, r"server must be an http\(s\) URL"),
    ({"timeout": 0}, "timeout must be a positive number"),
    ({"timeout": "10"}, "timeout must be a positive number"),
])
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TestbedClass(**kwargs)


def test_login_returns_true_and_sends_token_per_request(client, alice, monkeypatch):
    monkeypatch.setenv("ASTROQUERY_EXT_TESTBED_PASSWORD", alice["password"])
    assert client.login("alice") is True
    assert client.authenticated()
    assert client.whoami()["user"] == "alice"
    assert "Authorization" not in client._session.headers
    assert alice["password"] not in repr(client)
    assert client._auth.token not in repr(client) and client._auth.token not in repr(client._auth)


def test_login_with_wrong_password_raises_login_error_with_server_words(client, monkeypatch):
    monkeypatch.setenv("ASTROQUERY_EXT_TESTBED_PASSWORD", "wrong")
    with pytest.raises(InvalidQueryError, match="Incorrect username or password"):
        client.login("alice")
    assert not client.authenticated()


def test_call_without_credentials_raises_login_error_that_says_what_to_do(client):
    with pytest.raises(LoginError) as info:
        client.whoami()
    message = str(info.value)
    assert "ASTROQUERY_EXT_TESTBED_USERNAME" in message
    assert "standard input is not a terminal" in message


def test_environment_credentials_are_used_without_login(client, alice, monkeypatch):
    monkeypatch.setenv("ASTROQUERY_EXT_TESTBED_USERNAME", "alice")
    monkeypatch.setenv("ASTROQUERY_EXT_TESTBED_PASSWORD", alice["password"])
    assert client.whoami()["user"] == "alice"


def test_logout_forgets_token_and_stored_session(client, alice, monkeypatch, user_state):
    monkeypatch.setenv("ASTROQUERY_EXT_TESTBED_PASSWORD", alice["password"])
    client.login("alice", store_password=True)
    assert ("astroquery_ext.testbed", f"session:alice@{client.server.rstrip('/')}") in user_state.keyring.entries
    client.logout(forget=True)
    assert not client.authenticated()
    assert user_state.keyring.entries == {}
    with pytest.raises(LoginError):
        client.whoami()


def test_fresh_instance_from_call_is_independent(client, alice):
    client.login(token=alice["token"])
    other = client(server=client.server)
    assert isinstance(other, TestbedClass) and not other.authenticated()


@pytest.mark.parametrize("code, exc, words", [
    (400, InvalidQueryError, "HTTP 400: status 400 as asked. Check the arguments"),
    (401, LoginError, "HTTP 401: status 401 as asked. Log in with Testbed.login()"),
    (403, AuthorizationError, "HTTP 403: status 403 as asked. This account is not allowed"),
    (404, NotFoundError, "HTTP 404: status 404 as asked. Check the identifier"),
    (409, ConflictError, "HTTP 409: status 409 as asked"),
    (422, InvalidQueryError, "HTTP 422"),
    (500, RemoteServiceError, "HTTP 500: status 500 as asked. The service failed; try again later"),
    (599, RemoteServiceError, "HTTP 500: Server Error."),
])
def test_error_statuses_map_to_exceptions_with_status_and_server_words(client, code, exc, words):
    client.max_retries = 0
    with pytest.raises(exc) as info:
        client.status(code)
    assert words in str(info.value)
    assert info.value.status == (500 if code == 599 else code)


def test_debug_log_shows_requests_but_no_secrets(client, alice, caplog):
    with caplog.at_level(logging.DEBUG, logger="astroquery_ext"):
        client.login(token=alice["token"])
        client.whoami()
        client.status(200)
    assert "GET" in caplog.text and "/api/whoami" in caplog.text
    assert alice["token"] not in caplog.text
