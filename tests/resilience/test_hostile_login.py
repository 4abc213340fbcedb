"""OAuth edges under attack (issue #14 item 8): a hostile login service on 127.0.0.1.

The provider below signs real RS256 ID tokens with a key of its own and
answers the token and device endpoints with whatever a test sets.
"""

from __future__ import annotations

import base64
import http.server
import json
import math
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from astroquery_ext._base import AuthState, LoginError
from astroquery_ext._base.oauth import OAuthClient, OIDCEndpoints
from tests.base.testbed_client import TestbedClass
from tests.resilience._helpers import Figures
from tests.resilience._hostile import _Base, _send

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
CLIENT = "astroquery-ext-test"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64(n: int) -> str:
    return _b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class Provider(_Base):
    """``token``: the token endpoint's next answers (a list; the last repeats): ``(status, body)``."""

    def __init__(self):
        self.token: list = []
        self.device: dict = {}
        self.polls = 0
        self.handler = type("Handler", (_ProviderHandler,), {})

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def endpoints(self) -> OIDCEndpoints:
        return OIDCEndpoints(issuer=self.issuer, authorization_endpoint=self.issuer + "/auth",
                             token_endpoint=self.issuer + "/token", jwks_uri=self.issuer + "/jwks",
                             client_id=CLIENT, device_authorization_endpoint=self.issuer + "/device")

    def id_token(self, **changes) -> str:
        now = time.time()
        claims = {"iss": self.issuer, "aud": CLIENT, "sub": "u-alice", "preferred_username": "alice",
                  "exp": now + 300, "iat": now}
        claims.update(changes)
        claims = {k: v for k, v in claims.items() if v is not ...}
        head = _b64(json.dumps({"alg": "RS256", "kid": "k1"}).encode())
        body = _b64(json.dumps(claims).encode())  # json.dumps writes NaN as NaN, as a hostile server may
        signature = KEY.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{head}.{body}.{_b64(signature)}"

    def client(self) -> OAuthClient:
        query = TestbedClass(server=self.issuer + "/")
        query.retry_backoff = 0.01
        return OAuthClient(query, self.endpoints())


class _ProviderHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _json(self, status, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        _send(self, status, {"Content-Type": "application/json"}, data)

    def do_GET(self):  # noqa: N802
        numbers = KEY.public_key().public_numbers()
        self._json(200, {"keys": [{"kty": "RSA", "kid": "k1", "n": _int_b64(numbers.n),
                                   "e": _int_b64(numbers.e)}]})

    def do_POST(self):  # noqa: N802
        owner: Provider = self.server.owner
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/device":
            return self._json(200, owner.device)
        owner.polls += 1
        status, body = owner.token[0] if len(owner.token) == 1 else owner.token.pop(0)
        self._json(status, body)


@pytest.fixture
def provider():
    with Provider() as p:
        yield p


def _answer(provider, **changes):
    answer = {"access_token": "at-" + "x" * 30, "token_type": "Bearer", "expires_in": 300,
              "refresh_token": "rt-" + "y" * 30, "id_token": provider.id_token(), "scope": "openid"}
    answer.update(changes)
    return {k: v for k, v in answer.items() if v is not ...}


# -- ID-token claims ---------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, reason", [
    ({"exp": math.nan}, "exp"),
    ({"exp": "tomorrow"}, "exp"),
    ({"exp": ...}, "exp"),
    ({"iat": math.nan}, "iat"),
    ({"iat": [1]}, "iat"),
    ({"aud": [CLIENT, "another-client"]}, "azp"),
    ({"aud": [CLIENT, "another-client"], "azp": "another-client"}, "authorized party"),
    ({"sub": ...}, "subject"),
])
def test_id_tokens_with_bad_claims_are_refused(provider, changes, reason):
    """Attack: exp/iat NaN and several audiences without azp were accepted."""
    with pytest.raises(LoginError, match=reason):
        provider.client().verify_id_token(provider.id_token(**changes))
    Figures.record("login", f"id-token-{reason}", attacks=1, held=1)


def test_a_good_id_token_and_several_audiences_with_our_azp_pass(provider):
    oauth = provider.client()
    assert oauth.verify_id_token(provider.id_token())["sub"] == "u-alice"
    assert oauth.verify_id_token(provider.id_token(aud=[CLIENT, "other"], azp=CLIENT))["sub"] == "u-alice"


# -- token answers ---------------------------------------------------------------------------------------

def _session(provider) -> AuthState:
    claims = provider.client().verify_id_token(provider.id_token())
    return AuthState(token="old-" + "a" * 30, principal="alice", refresh_token="rt-" + "r" * 30,
                     expires_at=time.time() + 10, extra={"claims": claims, "persist": False})


@pytest.mark.parametrize("mutation", [
    {"access_token": {"value": "x"}}, {"access_token": ["t"]}, {"access_token": 12345678},
    {"access_token": ""}, {"access_token": "two words"}, {"access_token": ...},
    {"expires_in": "soon"}, {"expires_in": math.nan}, {"expires_in": -5},
    {"refresh_token": {"a": 1}}, {"id_token": 123}, {"scope": ["openid"]},
])
def test_malformed_token_answers_give_a_clear_login_error(provider, mutation):
    """Attack: malformed answers raised TypeError/AttributeError, or sent a dict as the bearer token."""
    provider.token = [(200, _answer(provider, **mutation))]
    with pytest.raises(LoginError, match="login service's answer"):
        provider.client().refresh(_session(provider))


@pytest.mark.parametrize("body", [b"[1, 2]", b"null", b'"ok"'])
def test_token_answers_that_are_not_objects_are_refused(provider, body):
    provider.token = [(200, body)]
    with pytest.raises(LoginError, match="answer"):
        provider.client().refresh(_session(provider))


def test_a_refreshed_id_token_for_another_subject_is_refused(provider):
    """Attack: a refresh answered with another user's ID token switched the identity (and the cache's)."""
    provider.token = [(200, _answer(provider, id_token=provider.id_token(sub="u-mallory",
                                                                         preferred_username="mallory")))]
    with pytest.raises(LoginError, match="another user"):
        provider.client().refresh(_session(provider))
    provider.token = [(200, _answer(provider, id_token=...))]  # no new ID token on refresh: allowed
    assert provider.client().refresh(_session(provider)).principal == "alice"


def test_device_login_without_an_id_token_is_refused(provider):
    provider.device = {"device_code": "dc-" + "d" * 30, "user_code": "ABCD", "verification_uri": "http://x/",
                       "interval": 1, "expires_in": 30}
    provider.token = [(200, _answer(provider, id_token=...))]
    with pytest.raises(LoginError, match="without an ID token"):
        provider.client().login_with_device(show=lambda start: None, timeout=10)


# -- device flow -----------------------------------------------------------------------------------------

def test_device_flow_interval_zero_is_clamped(provider):
    """Attack: interval 0 polled the token endpoint 4,013 times in 3 s."""
    provider.device = {"device_code": "dc-" + "d" * 30, "user_code": "ABCD", "verification_uri": "http://x/",
                       "interval": 0, "expires_in": 3}
    provider.token = [(400, {"error": "authorization_pending"})]
    with pytest.raises(LoginError, match="not approved in time"):
        provider.client().login_with_device(show=lambda start: None, timeout=3)
    assert 1 <= provider.polls <= 4
    Figures.record("login", "device-interval-0", polls_in_3s=provider.polls)


def test_terminal_escape_codes_from_the_server_are_not_printed(provider, capsys):
    provider.device = {"device_code": "dc-" + "d" * 30, "user_code": "AB\x1b[2J\x1b]0;pwned\x07CD",
                       "verification_uri": "http://x/\x1b[31mred", "interval": 1, "expires_in": 1.5}
    provider.token = [(400, {"error": "authorization_pending"})]
    with pytest.raises(LoginError):
        provider.client().login_with_device(timeout=1.5)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "ABCD" in out and "http://x/red" in out


def test_device_answer_without_codes_is_a_login_error(provider):
    provider.device = {"interval": 1}
    with pytest.raises(LoginError, match="no device code"):
        provider.client().login_with_device(show=lambda start: None, timeout=2)
