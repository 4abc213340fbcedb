"""The safe cache: identity-scoped, only good answers, private files, astroquery's switches."""

import stat

import pytest
from astroquery import cache_conf

from astroquery_ext._base import RemoteServiceError
from astroquery_ext.sandbox import Fault, Sandbox
from tests.base.conftest import requests_to
from tests.base.testbed_client import TestbedClass


def cache_files(client):
    return [p for p in client.cache_location.rglob("*") if p.is_file()]


def test_repeated_call_is_served_from_cache(client, alice, testbed_sandbox):
    client.login(token=alice["token"])
    before = len(requests_to(testbed_sandbox, "testbed", "/whoami"))
    first = client.whoami()
    second = client.whoami()
    assert first == second  # same server timestamp: the second came from the cache
    assert len(requests_to(testbed_sandbox, "testbed", "/whoami")) == before + 1


def test_cache_false_and_cache_active_off_always_ask(client, alice, testbed_sandbox):
    client.login(token=alice["token"])
    before = len(requests_to(testbed_sandbox, "testbed", "/whoami"))
    client.whoami(cache=False)
    client.whoami(cache=False)
    with cache_conf.set_temp("cache_active", False):
        client.whoami()
        client.whoami()
    assert len(requests_to(testbed_sandbox, "testbed", "/whoami")) == before + 4
    assert cache_files(client) == []


def test_user_b_is_never_served_user_a_entry(client, alice, bob, testbed_sandbox):
    client.login(token=alice["token"])
    assert client.whoami()["user"] == "alice"
    client.login(token=bob["token"])
    assert client.whoami()["user"] == "bob"
    other = TestbedClass(server=client.server)
    other.login(token=alice["token"])
    assert other.whoami()["user"] == "alice"


def test_no_secret_in_cache_files_and_private_modes(client, alice, monkeypatch):
    monkeypatch.setenv("ASTROQUERY_EXT_TESTBED_PASSWORD", alice["password"])
    client.login("alice")
    token = client._auth.token
    client.whoami()
    client.query_items()
    files = cache_files(client)
    assert files
    for path in files:
        data = path.read_bytes()
        assert token.encode() not in data and alice["password"].encode() not in data
        assert b"Authorization" not in data
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in [client.cache_location, *[p for p in client.cache_location.rglob("*") if p.is_dir()]]:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_logout_drops_that_identity_entries_only(client, alice, bob):
    client.login(token=bob["token"])
    client.whoami()
    client.login(token=alice["token"])
    client.whoami()
    dirs = {p.name for p in client.cache_location.iterdir()}
    assert len(dirs) == 2
    client.logout()
    assert len({p.name for p in client.cache_location.iterdir()}) == 1


def test_clear_cache_removes_everything(client, alice):
    client.login(token=alice["token"])
    client.whoami()
    assert cache_files(client)
    client.clear_cache()
    assert cache_files(client) == []


def test_error_and_truncated_answers_are_never_cached(alice):
    with Sandbox(services=["testbed"], faults=[Fault("status", status=500, path="/api/whoami", nth=[1]),
                                               Fault("truncate", path="/api/whoami", nth=[2])]) as sb:
        client = TestbedClass(server=sb.url("testbed"))
        client.max_retries = 0
        client.login(token=sb.credentials("testbed")["token"])
        with pytest.raises(RemoteServiceError, match="HTTP 500"):
            client.whoami()
        assert cache_files(client) == []
        with pytest.raises(RemoteServiceError, match="cut off"):
            client.whoami()
        assert cache_files(client) == []
        assert client.whoami()["user"] == "alice"
        assert len(cache_files(client)) == 1


def test_unparseable_answer_is_not_cached(client):
    client.max_retries = 1
    with pytest.raises(RemoteServiceError, match="not valid JSON"):
        client._json("GET", "notjson", cache=True)
    assert cache_files(client) == []


def test_damaged_entry_is_a_miss(client, alice, testbed_sandbox):
    client.login(token=alice["token"])
    client.whoami()
    (entry,) = cache_files(client)
    entry.write_bytes(entry.read_bytes()[:-3] + b"xyz")
    before = len(requests_to(testbed_sandbox, "testbed", "/whoami"))
    assert client.whoami()["user"] == "alice"
    assert len(requests_to(testbed_sandbox, "testbed", "/whoami")) == before + 1


def test_cache_timeout_expires_entries(client, alice, testbed_sandbox):
    client.login(token=alice["token"])
    client.whoami()
    before = len(requests_to(testbed_sandbox, "testbed", "/whoami"))
    with cache_conf.set_temp("cache_timeout", 0):
        client.whoami()
    assert len(requests_to(testbed_sandbox, "testbed", "/whoami")) == before + 1
