"""The OAuth/OIDC layer against the Glance sandbox's provider (real HTTP, real RS256 keys)."""

import base64
import json
import time
import urllib.parse

import pytest
import requests

from astroquery_ext._base import LoginError
from astroquery_ext._base.oauth import OAuthClient, OIDCEndpoints, decode_jwt_unverified, verify_rs256
from astroquery_ext.sandbox import Sandbox
from tests.base.testbed_client import TestbedClass


def endpoints(info, **overrides):
    values = dict(issuer=info["issuer"], authorization_endpoint=info["authorization_endpoint"],
                  token_endpoint=info["token_endpoint"], jwks_uri=info["jwks_uri"], client_id=info["client_id"],
                  revocation_endpoint=info["revocation_endpoint"],
                  device_authorization_endpoint=info["device_authorization_endpoint"])
    values.update(overrides)
    return OIDCEndpoints(**values)


@pytest.fixture
def oauth(glance_sandbox):
    query = TestbedClass(server=glance_sandbox.url("glance"))
    return OAuthClient(query, endpoints(glance_sandbox.info("glance")))


def browser(url):
    """A headless browser: follow the provider's auto-approving redirect to our loopback server."""
    requests.get(url, timeout=10)


def test_pkce_login_refresh_exchange(oauth, glance_sandbox):
    state = oauth.login_with_browser(open_browser=browser, timeout=20)
    assert state.principal == "alice" and state.refresh_token and state.expires_at > time.time()
    assert state.extra["claims"]["email"] == "alice.archer@cern.ch"
    fresh = oauth.refresh(state)
    assert fresh.token != state.token and fresh.refresh_token != state.refresh_token  # rotation
    with pytest.raises(LoginError, match="refused by the login service"):
        oauth.refresh(state)  # the rotated-out refresh token is dead
    token, expires_at = oauth.exchange(fresh.token, glance_sandbox.info("glance")["exchange_audience"])
    _, claims, _, _ = decode_jwt_unverified(token)
    assert claims["aud"] == glance_sandbox.info("glance")["exchange_audience"]
    response = requests.get(glance_sandbox.url("glance") + "searchAnalysis?limit=1",
                            headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200 and response.json()["numberOfResults"] > 0


def test_offline_session(oauth):
    state = oauth.login_with_browser(open_browser=browser, timeout=20, offline=True)
    assert state.extra["offline"] is True


def test_redirects_without_this_logins_state_are_ignored(oauth):
    """Any local process can reach the callback port: a wrong or missing state neither ends nor fails the login."""
    seen = []

    def forged_then_real(url):
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        for query in (f"code=abc&state=not-{params['state']}", "error=access_denied&error_description=hacked",
                      "code=abc"):
            seen.append(requests.get(f"{params['redirect_uri']}?{query}", timeout=10).status_code)
        browser(url)

    state = oauth.login_with_browser(open_browser=forged_then_real, timeout=20)
    assert state.principal == "alice"
    assert seen == [400, 400, 400]


def test_only_forged_redirects_time_out(oauth):
    def forged(url):
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        requests.get(f"{params['redirect_uri']}?error=access_denied&error_description=hacked", timeout=10)

    with pytest.raises(LoginError, match="no login came back within 2 s") as info:
        oauth.login_with_browser(open_browser=forged, timeout=2)
    assert "hacked" not in str(info.value)


def test_timeout_without_redirect(oauth):
    with pytest.raises(LoginError, match="no login came back within 1 s"):
        oauth.login_with_browser(open_browser=lambda url: None, timeout=1)


def test_manual_fallback(oauth):
    def ask(prompt, holder={}):  # the user pastes where the browser ended
        return holder["landed"]

    holder = {}
    original = oauth.authorization_url

    def capture(*args, **kwargs):
        url = original(*args, **kwargs)
        answer = requests.get(url, allow_redirects=False, timeout=10)
        holder["landed"] = answer.headers["Location"]
        return url

    oauth.authorization_url = capture
    state = oauth.login_with_browser(manual=True, ask=lambda prompt: holder["landed"])
    assert state.principal == "alice"


def test_device_flow():
    with Sandbox(services={"glance": {"device_auto_approve_after": 1}}) as sb:
        oauth = OAuthClient(TestbedClass(server=sb.url("glance")), endpoints(sb.info("glance")))
        shown = []
        state = oauth.login_with_device(show=shown.append, timeout=30)
        assert state.principal == "alice" and shown[0]["user_code"]


def forge(token, **changes):
    header, claims, _, signature = decode_jwt_unverified(token)
    claims.update(changes)
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc(header)}.{enc(claims)}." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def test_id_token_checks(oauth, glance_sandbox):
    info = glance_sandbox.info("glance")
    answer = requests.post(info["token_endpoint"], timeout=10, data={
        "grant_type": "password", "username": "alice", "password": "alice-password",
        "client_id": info["client_id"], "scope": "openid"}).json()
    good = answer["id_token"]
    assert oauth.verify_id_token(good)["preferred_username"] == "alice"
    with pytest.raises(LoginError, match="signature does not verify"):
        oauth.verify_id_token(forge(good, preferred_username="mallory"))
    with pytest.raises(LoginError, match="nonce does not match"):
        oauth.verify_id_token(good, nonce="other")
    wrong_issuer = OAuthClient(oauth._query, endpoints(info, issuer="https://evil.example/realms/cern"))
    with pytest.raises(LoginError, match="issuer"):
        wrong_issuer.verify_id_token(good)
    wrong_client = OAuthClient(oauth._query, endpoints(info, client_id="someone-else"))
    with pytest.raises(LoginError, match="audience"):
        wrong_client.verify_id_token(good)
    header = dict(decode_jwt_unverified(good)[0], alg="none")
    unsigned = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode() + \
        "." + good.split(".")[1] + "."
    with pytest.raises(LoginError, match="algorithm 'none'"):
        oauth.verify_id_token(unsigned)


def test_expired_id_token_is_refused(oauth, glance_sandbox, monkeypatch):
    import types

    import astroquery_ext._base.oauth as oauth_module
    info = glance_sandbox.info("glance")
    answer = requests.post(info["token_endpoint"], timeout=10, data={
        "grant_type": "password", "username": "alice", "password": "alice-password",
        "client_id": info["client_id"], "scope": "openid"}).json()
    _, claims, _, _ = decode_jwt_unverified(answer["id_token"])
    later = claims["exp"] + oauth_module.LEEWAY + 1
    monkeypatch.setattr(oauth_module, "time", types.SimpleNamespace(time=lambda: later))
    with pytest.raises(LoginError, match="it has expired"):
        oauth.verify_id_token(answer["id_token"])


def test_verify_rs256_rejects_short_keys():
    assert verify_rs256(2 ** 1023 + 1, 65537, b"x", b"\x00" * 128) is False
