"""astroquery_ext.glance: CERN SSO login, stored sessions, refresh, token exchange, logout and secrecy.

Everything runs against the sandbox's OIDC provider over real HTTP; its
``/_glance/stats`` counters show what the client asked of it.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import re
import socket
import threading
import time
import urllib.parse

import pytest
import requests

from astroquery_ext._base import LoginError
from astroquery_ext.sandbox import Sandbox


def browser(url):
    requests.get(url, timeout=10)


def no_browser(url):
    raise AssertionError("a stored session should have been used")


def stats(sandbox):
    return requests.get(sandbox.info("glance")["stats_url"], timeout=10).json()


def delta(before, after, *keys):
    return {k: after[k] - before[k] for k in keys}


def claims(token):
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def short_sandbox():
    """Device logins approve on the second poll; refresh tokens die after 2 s."""
    with Sandbox(services={"glance": {"device_auto_approve_after": 1, "refresh_token_ttl": 2}}) as sb:
        yield sb


def test_browser_login_pkce(glance_sandbox, user_state):
    client = glance_sandbox.client("glance")
    seen = []
    before = stats(glance_sandbox)
    assert client.login(open_browser=lambda url: (seen.append(url), browser(url))) is True
    assert delta(before, stats(glance_sandbox), "codes_redeemed", "authorizations") == {
        "codes_redeemed": 1, "authorizations": 1}
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(seen[0]).query))
    assert params["code_challenge_method"] == "S256" and params["client_id"] == "astroquery-ext"
    assert params["redirect_uri"].startswith("http://127.0.0.1:") and params["state"] and params["nonce"]
    state = client._auth
    assert state.principal == "alice" and state.extra["claims"]["email"] == "alice.archer@cern.ch"
    assert repr(client).endswith("logged in as 'alice'>")
    # the session (login + refresh token) is in the keyring, under this issuer and client
    (account, stored), = [(k[1], v) for k, v in user_state.keyring.entries.items()
                          if k[0] == "astroquery_ext.glance"]
    assert account == f"session:astroquery-ext@{glance_sandbox.info('glance')['issuer']}"
    assert json.loads(stored)["refresh_token"] == state.refresh_token


def test_callback_port_is_configurable(glance_sandbox):
    port = free_port()
    client = glance_sandbox.client("glance", callback_port=port)
    seen = []
    client.login(open_browser=lambda url: (seen.append(url), browser(url)), store_token=False)
    redirect = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(seen[0]).query))["redirect_uri"]
    assert redirect == f"http://127.0.0.1:{port}/callback"
    with pytest.raises(ValueError, match="method"):
        client.login(method="password")


def test_manual_login(glance_sandbox, capsys):
    client = glance_sandbox.client("glance")

    def paste(prompt):  # the user opens the printed URL elsewhere and pastes where the browser landed
        url = re.search(r"(http://\S+/auth\?\S+)", capsys.readouterr().out).group(1)
        return requests.get(url, allow_redirects=False, timeout=10).headers["Location"]

    assert client.login(method="manual", ask=paste, store_token=False)
    assert client._auth.principal == "alice"
    assert len(client.query_leading_groups(cache=False)) == 30


def test_device_login(short_sandbox):
    client = short_sandbox.client("glance")
    shown = []
    before = stats(short_sandbox)
    client.login(method="device", show=shown.append, store_token=False)
    assert shown[0]["user_code"] and shown[0]["verification_uri"]
    assert delta(before, stats(short_sandbox), "device_grants")["device_grants"] == 1
    assert client._auth.principal == "alice"
    assert len(client.query_triggers(cache=False)) == short_sandbox.info("glance")["counts"]["trigger"]


def test_offline_session(glance_sandbox):
    client = glance_sandbox.client("glance")
    client.login(open_browser=browser, offline=True)
    assert client._auth.extra["offline"] is True
    assert claims(client._auth.refresh_token)["typ"] == "Offline"
    # a stored online session is not reused when an offline one is asked for
    other = glance_sandbox.client("glance")
    assert other.login(open_browser=no_browser, offline=True) and other._auth.extra["offline"] is True


def test_stored_session_is_reused(glance_sandbox):
    glance_sandbox.client("glance").login(open_browser=browser)
    before = stats(glance_sandbox)
    later = glance_sandbox.client("glance")
    assert later.login(open_browser=no_browser)
    assert len(later.query_subgroups(cache=False)) > 0
    assert delta(before, stats(glance_sandbox), "codes_redeemed", "refreshes", "exchanges") == {
        "codes_redeemed": 0, "refreshes": 0, "exchanges": 1}
    # a query with no login in this object uses the stored session too
    assert len(glance_sandbox.client("glance").query_subgroups(cache=False)) > 0
    # force=True logs in afresh
    fresh = glance_sandbox.client("glance")
    fresh.login(open_browser=browser, force=True)
    assert stats(glance_sandbox)["codes_redeemed"] == before["codes_redeemed"] + 1


def test_not_logged_in(glance_sandbox):
    with pytest.raises(LoginError, match=r"Not logged in to Glance: call Glance.login\(\)"):
        glance_sandbox.client("glance").query_triggers(cache=False)


def _due(state):
    """The same session, in the last seconds of its access token's life."""
    now = time.time()
    return dataclasses.replace(state, expires_at=now + 1, obtained_at=now - 299)


def test_refresh_rotates_and_persists(glance_sandbox, user_state):
    client = glance_sandbox.client("glance")
    client.login(open_browser=browser)
    old = client._auth
    client._set_auth(_due(old))
    before = stats(glance_sandbox)
    client.query_leading_groups(cache=False)
    assert delta(before, stats(glance_sandbox), "refreshes", "exchanges") == {"refreshes": 1, "exchanges": 1}
    new = client._auth
    assert new.token != old.token and new.refresh_token != old.refresh_token and new.principal == "alice"
    stored = json.loads(client.store.get(client._session_account(None)))
    assert stored["refresh_token"] == new.refresh_token
    info = glance_sandbox.info("glance")
    replay = requests.post(info["token_endpoint"], timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": old.refresh_token, "client_id": info["client_id"]})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


def test_two_threads_refresh_once(glance_sandbox):
    client = glance_sandbox.client("glance")
    client.login(open_browser=browser)
    client._set_auth(_due(client._auth))
    before = stats(glance_sandbox)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def work():
        try:
            barrier.wait()
            results.append(len(client.query_triggers(cache=False)))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(results) == 2
    assert delta(before, stats(glance_sandbox), "refreshes", "exchanges") == {"refreshes": 1, "exchanges": 1}


def test_expired_refresh_token(short_sandbox):
    client = short_sandbox.client("glance")
    client.login(open_browser=browser)
    time.sleep(2.2)  # the refresh token lives 2 s here
    client._set_auth(_due(client._auth))
    with pytest.raises(LoginError, match=r"session has expired or was revoked.*login\(force=True\)") as err:
        client.query_triggers(cache=False)
    assert err.value.status == 400
    assert client.store.get(client._session_account(None)) is None  # the dead session is not offered again
    with pytest.raises(LoginError, match="Not logged in"):
        short_sandbox.client("glance").query_triggers(cache=False)


def test_exchange_once_and_in_memory_only(glance_sandbox, user_state):
    info = glance_sandbox.info("glance")
    client = glance_sandbox.client("glance")
    client.login(open_browser=browser)
    before = stats(glance_sandbox)
    client.query_analyses(cache=False, max_workers=4)
    client.query_papers(cache=False)
    after = stats(glance_sandbox)
    assert delta(before, after, "exchanges")["exchanges"] == 1
    assert after["last_token_aud"] == info["exchange_audience"]
    (exchanged, _expires, _obtained), = client._exchanged.values()
    assert claims(exchanged)["aud"] == info["exchange_audience"]
    assert all(exchanged not in value for value in user_state.keyring.entries.values())
    # a client that does not exchange sends the login token, which this API refuses
    plain = glance_sandbox.client("glance", exchange_audience="")
    plain.login(open_browser=browser, store_token=False)
    with pytest.raises(LoginError, match="audience"):
        plain.query_triggers(cache=False)


def test_direct_token(glance_sandbox, monkeypatch):
    info = glance_sandbox.info("glance")
    login = requests.post(info["token_endpoint"], timeout=10, data={
        "grant_type": "password", "username": "bob", "password": "bob-password", "client_id": info["client_id"],
        "scope": "openid"}).json()
    api_token = requests.post(info["token_endpoint"], timeout=10, data={
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "client_id": info["client_id"],
        "subject_token": login["access_token"],
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "audience": info["exchange_audience"]}).json()["access_token"]
    before = stats(glance_sandbox)
    client = glance_sandbox.client("glance")
    client.login(token=api_token)
    assert len(client.query_triggers(cache=False)) > 0
    monkeypatch.setenv("ASTROQUERY_EXT_GLANCE_TOKEN", api_token)
    assert len(glance_sandbox.client("glance").query_triggers(cache=False)) > 0  # no login() call
    assert delta(before, stats(glance_sandbox), "exchanges", "refreshes") == {"exchanges": 0, "refreshes": 0}
    assert claims(client._auth.token)["exp"] == pytest.approx(client._auth.expires_at)
    client.logout()  # nothing to revoke for a token from elsewhere
    assert stats(glance_sandbox)["revocations"] == before["revocations"]


def test_logout_revokes(glance_sandbox, user_state):
    client = glance_sandbox.client("glance")
    client.login(open_browser=browser)
    client.query_triggers(cache=False)
    (exchanged, _, _), = client._exchanged.values()
    before = stats(glance_sandbox)
    client.logout()
    assert delta(before, stats(glance_sandbox), "revocations")["revocations"] == 2
    assert not client.authenticated() and client._exchanged == {}
    assert [k for k in user_state.keyring.entries if k[0] == "astroquery_ext.glance"] == []
    answer = requests.get(glance_sandbox.url("glance") + "searchTrigger", timeout=10,
                          headers={"Authorization": f"Bearer {exchanged}"})
    assert answer.status_code == 401
    with pytest.raises(LoginError, match="Not logged in"):
        client.query_triggers(cache=False)


def test_logout_forget_removes_a_stored_session(glance_sandbox, user_state):
    glance_sandbox.client("glance").login(open_browser=browser)
    assert [k for k in user_state.keyring.entries if k[0] == "astroquery_ext.glance"]
    before = stats(glance_sandbox)
    glance_sandbox.client("glance").logout(forget=True)
    assert delta(before, stats(glance_sandbox), "revocations")["revocations"] == 2
    assert [k for k in user_state.keyring.entries if k[0] == "astroquery_ext.glance"] == []


def test_file_store_without_keyring(glance_sandbox, user_state, no_keyring):
    client = glance_sandbox.client("glance")
    client.login(open_browser=browser)
    path = client.store.file
    assert path.exists() and oct(path.stat().st_mode & 0o777) == "0o600"
    assert glance_sandbox.client("glance").login(open_browser=no_browser)


def test_secrets_stay_secret(glance_sandbox, user_state, caplog):
    caplog.set_level(logging.DEBUG)
    client = glance_sandbox.client("glance")
    client.login(open_browser=browser)
    client._set_auth(_due(client._auth))
    client.query_analyses(cache=True)  # a refresh, an exchange and cached pages
    client.query_analyses(cache=True)
    state = client._auth
    secrets = [state.token, state.refresh_token] + [v[0] for v in client._exchanged.values()]
    assert len(secrets) == 3 and all(secrets)
    cache_files = [p for p in user_state.cache_dir.rglob("*") if p.is_file()]
    assert cache_files
    for path in cache_files:
        data = path.read_bytes()
        assert not any(s.encode() in data for s in secrets), path
    text = caplog.text + repr(client) + repr(state) + str(client.__dict__.get("_auth"))
    assert "searchAnalysis" in caplog.text  # the requests were logged...
    assert not any(s in text for s in secrets)  # ...without a token
    bad = glance_sandbox.client("glance")
    bad.login(token=state.token)  # the login token is refused by the API: the error must not echo it
    with pytest.raises(LoginError) as err:
        bad.query_triggers(cache=False)
    assert state.token not in str(err.value) and state.token not in repr(err.value)
