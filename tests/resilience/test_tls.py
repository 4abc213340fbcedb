"""TLS is verified by default: each module refuses the sandbox's HTTPS until told to trust its CA.

The sandbox serves HTTPS with a certificate signed by a CA it generates
(``Sandbox(tls=True)``, ``sandbox.ca_file``). A client trusts it through
``client.verify = ca_file`` or ``REQUESTS_CA_BUNDLE``; a certificate failure is
one clear error at once (no retries: the answer would not change).
"""

from __future__ import annotations

import ssl

import pytest
import requests

from astroquery_ext.atlas import AtlasClass
from astroquery_ext.exceptions import RemoteServiceError
from astroquery_ext.grad300 import Grad300Class
from astroquery_ext.sandbox import Sandbox
from astroquery_ext.tupli import TupliClass

from ._helpers import Figures


@pytest.fixture(scope="module")
def tls_sandbox():
    services = {"atlas": {"n_objects": 30, "lc_length": 10, "prewarm": False},
                "grad300": {"n_scans": {"TPI": 4, "Images": 2, "Spectrum": 2, "OnOff": 2}},
                "glance": {"n_analyses": 40}, "tupli": {"bcrypt_rounds": 4}}
    with Sandbox(services=services, tls=True) as sandbox:
        yield sandbox


def _clients(sb):
    atlas = AtlasClass(server=sb.url("atlas"))
    grad = Grad300Class(server=sb.url("grad300"))
    tupli = TupliClass(server=sb.url("tupli"))
    glance = sb.client("glance")
    return atlas, grad, glance, tupli


def _use(sb, atlas, grad, glance, tupli, browser_verify):
    atlas.login(token=sb.credentials("atlas")["token"], store_token=False)
    assert len(atlas.query_list(2, cache=False)) >= 0
    grad.login(token=sb.credentials("grad300")["token"])
    assert len(grad.list_scans("TPI")) == 4
    cred = sb.credentials("tupli")
    tupli.login(cred["username"], cred["password"], store_token=False)
    assert tupli.whoami() == cred["username"]
    glance.login(open_browser=lambda url: requests.get(url, timeout=10, verify=browser_verify))
    assert len(glance.query_analyses()) == 40


def test_sandbox_serves_https_with_its_own_ca(tls_sandbox):
    assert tls_sandbox.tls and tls_sandbox.url("atlas").startswith("https://127.0.0.1:")
    assert tls_sandbox.ca_file.is_file()
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_sandbox.url("grad300"), timeout=10)
    context = ssl.create_default_context(cafile=str(tls_sandbox.ca_file))
    assert context.cert_store_stats()["x509_ca"] == 1
    for host in ("127.0.0.1", "localhost"):
        url = tls_sandbox.url("grad300").replace("127.0.0.1", host)
        assert requests.get(url + "utils/health-check/", timeout=10, verify=str(tls_sandbox.ca_file)).json() is True
    assert (tls_sandbox.data_dir / "tls" / "server-key.pem").stat().st_mode & 0o077 == 0


def test_every_module_refuses_an_unknown_ca_at_once(tls_sandbox, monkeypatch):
    atlas, grad, glance, tupli = _clients(tls_sandbox)
    sent = []  # every attempt of every client goes through requests' HTTPAdapter.send
    send = requests.adapters.HTTPAdapter.send
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send",
                        lambda self, request, **kwargs: sent.append(request.url) or send(self, request, **kwargs))
    before = {s: len(tls_sandbox.request_log(s)) for s in tls_sandbox.services}
    atlas.login(token=tls_sandbox.credentials("atlas")["token"], store_token=False)
    grad.login(token=tls_sandbox.credentials("grad300")["token"])
    calls = [lambda: atlas.query_list(2, cache=False), lambda: grad.list_scans("TPI"),
             lambda: tupli.login("alice", tls_sandbox.credentials("tupli")["password"], store_token=False),
             lambda: glance.login(method="device", open_browser=lambda url: None)]
    for call in calls:
        sent.clear()
        with pytest.raises(RemoteServiceError, match="TLS certificate could not be verified") as err:
            call()
        assert len(sent) == 1, f"a certificate failure is not retried: {sent}"
        assert "verify" in str(err.value) and "REQUESTS_CA_BUNDLE" in str(err.value)
    # no request reached any app: the handshake failed first
    assert {s: len(tls_sandbox.request_log(s)) for s in tls_sandbox.services} == before


def test_trusting_the_ca_with_the_verify_attribute(tls_sandbox):
    clients = _clients(tls_sandbox)
    for client in clients:
        client.verify = tls_sandbox.ca_file
        assert client.verify == str(tls_sandbox.ca_file)
    _use(tls_sandbox, *clients, browser_verify=str(tls_sandbox.ca_file))
    Figures.record("tls", "verify attribute", services=4)


def test_trusting_the_ca_with_requests_ca_bundle(tls_sandbox, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_sandbox.ca_file))
    _use(tls_sandbox, *_clients(tls_sandbox), browser_verify=True)


def test_a_verify_path_wins_over_the_environment(tls_sandbox, tmp_path, monkeypatch):
    # REQUESTS_CA_BUNDLE names some other CA: the client's own setting is what counts
    other = tmp_path / "other.pem"
    other.write_bytes(b"")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    grad = Grad300Class(server=tls_sandbox.url("grad300"))
    grad.verify = tls_sandbox.ca_file
    grad.login(token=tls_sandbox.credentials("grad300")["token"])
    assert len(grad.list_scans("Images")) == 2


def test_verification_cannot_be_switched_off(tmp_path):
    client = AtlasClass()
    with pytest.raises(ValueError, match="cannot be switched off"):
        client.verify = False
    with pytest.raises(ValueError, match="no CA bundle"):
        client.verify = tmp_path / "nope.pem"
    client.verify = None
    assert client.verify is True
