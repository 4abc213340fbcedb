"""The redirect URI's host name: providers match registered redirect URIs exactly."""

import urllib.parse

import pytest
import requests

from astroquery_ext._base.oauth import OAuthClient
from tests.base.test_oauth import endpoints
from tests.base.testbed_client import TestbedClass


def test_localhost_redirect_uri(glance_sandbox):
    oauth = OAuthClient(TestbedClass(server=glance_sandbox.url("glance")), endpoints(glance_sandbox.info("glance")))
    seen = []

    def browser(url):
        seen.append(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["redirect_uri"])
        answer = requests.get(url, allow_redirects=False, timeout=10)
        # the callback server listens on 127.0.0.1, whatever name the URI uses
        requests.get(answer.headers["Location"].replace("://localhost:", "://127.0.0.1:", 1), timeout=10)

    state = oauth.login_with_browser(open_browser=browser, timeout=20, redirect_host="localhost")
    assert state.principal == "alice"
    assert seen[0].startswith("http://localhost:") and seen[0].endswith("/callback")


def test_other_redirect_hosts_refused(glance_sandbox):
    oauth = OAuthClient(TestbedClass(server=glance_sandbox.url("glance")), endpoints(glance_sandbox.info("glance")))
    with pytest.raises(ValueError, match="redirect_host"):
        oauth.login_with_browser(redirect_host="evil.example", open_browser=lambda url: None, timeout=1)
