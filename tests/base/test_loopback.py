"""Loopback is never reached through a proxy; every other server keeps requests' proxy behaviour."""

from __future__ import annotations

import http.server
import threading

import pytest
import requests

from astroquery_ext._base.loopback import direct_to_loopback, is_loopback
from astroquery_ext.atlas import AtlasClass

DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens, a proxy there refuses every connection


@pytest.mark.parametrize("url, loopback", [
    ("http://127.0.0.1:8000/api/", True), ("https://127.9.9.9/", True), ("http://[::1]:80/", True),
    ("http://localhost:1/", True), ("http://LOCALHOST./", True), ("http://a.localhost/", True),
    ("https://example.org/", False), ("http://127.0.0.1.example.org/", False),
    ("http://localhost.example.org/", False), ("http://10.0.0.1/", False), ("not a url", False),
    ("http://[::ffff:1.2.3.4]/", False),
])
def test_is_loopback(url, loopback):
    assert is_loopback(url) is loopback


@pytest.fixture
def dead_proxy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, DEAD)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_a_client_reaches_the_sandbox_past_a_dead_proxy(testbed_sandbox, dead_proxy):
    url = testbed_sandbox.url("testbed")
    with pytest.raises(requests.exceptions.ProxyError):  # what requests alone does
        requests.get(url + "whoami", timeout=10)
    client = AtlasClass(server=url)
    assert client._session.get(url + "whoami", timeout=10).status_code == 401  # the server's answer


def test_a_redirect_to_loopback_stays_direct(testbed_sandbox, dead_proxy):
    """A loopback server redirecting to another loopback port: followed without the proxy."""
    target = testbed_sandbox.url("testbed") + "whoami"

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        session = direct_to_loopback(requests.Session())
        answer = session.get(f"http://127.0.0.1:{server.server_port}/", timeout=10)
        assert answer.status_code == 401 and answer.url == target
    finally:
        server.shutdown()
        server.server_close()


def test_other_servers_keep_the_proxy(dead_proxy):
    session = direct_to_loopback(requests.Session())
    settings = session.merge_environment_settings("http://example.org/", {}, None, None, None)
    assert settings["proxies"]["http"] == DEAD
    client = AtlasClass(server="http://example.invalid/api/")
    with pytest.raises(requests.exceptions.ProxyError):  # sent to the (dead) proxy, as requests does
        client._session.get("http://example.invalid/api/", timeout=10)
