"""One login vocabulary in the four modules, and Glance's login service found from its issuer."""

from __future__ import annotations

import inspect
import pathlib
import re
import urllib.parse

import pytest
import requests
from astropy.utils.exceptions import AstropyDeprecationWarning

from astroquery_ext.atlas import AtlasClass
from astroquery_ext.exceptions import LoginError
from astroquery_ext.glance import GlanceClass
from astroquery_ext.glance import conf as glance_conf
from astroquery_ext.grad300 import Grad300Class
from astroquery_ext.tupli import TupliClass

CLASSES = {"Atlas": AtlasClass, "Grad300": Grad300Class, "Glance": GlanceClass, "Tupli": TupliClass}
#: The shared names: (kind, default). Services with passwords take all of them.
SHARED = {
    "username": (inspect.Parameter.POSITIONAL_OR_KEYWORD, None),
    "token": (inspect.Parameter.KEYWORD_ONLY, None),
    "store_password": (inspect.Parameter.KEYWORD_ONLY, False),
    "reenter_password": (inspect.Parameter.KEYWORD_ONLY, False),
    "store_token": (inspect.Parameter.KEYWORD_ONLY, True),
}
PASSWORDLESS = {"Glance"}  # CERN single sign-on: the password is typed at CERN's page
#: Old names kept for a deprecation period, each warning and pointing at the new one.
DEPRECATED = {"Tupli": {"password", "persist", "deprecated_password"}, "Glance": {"login_hint"}}
#: Names that mean one of the shared things and so must not appear under another name.
SYNONYMS = {"persist", "store", "keep", "login_hint", "user", "password", "api_key", "save_token"}


def _params(cls):
    return list(inspect.signature(cls.login).parameters.values())[1:]  # without self


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_login_signatures_share_one_vocabulary(name):
    params = _params(CLASSES[name])
    by_name = {p.name: p for p in params}
    assert params[0].name == "username", "the user name comes first everywhere"
    expected = {k: v for k, v in SHARED.items()
                if not (name in PASSWORDLESS and k in ("store_password", "reenter_password"))}
    for key, (kind, default) in expected.items():
        assert key in by_name, f"{name}.login has no {key!r}"
        assert (by_name[key].kind, by_name[key].default) == (kind, default), (name, key)
    if name in PASSWORDLESS:
        assert not {"store_password", "reenter_password", "password"} & set(by_name)
    stray = (set(by_name) & SYNONYMS) - DEPRECATED.get(name, set())
    assert not stray, f"{name}.login uses {stray} for a thing that has a shared name"
    # Only the shared names may be positional: everything else is keyword-only (or deprecated).
    positional = [p.name for p in params if p.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert positional == ["username"]
    doc = CLASSES[name].login.__doc__
    for old in DEPRECATED.get(name, set()) - {"deprecated_password"}:
        assert re.search(rf"\n\s+{old} : .*\n\s+Deprecated", doc), f"{name}.login documents {old} as deprecated"


def _row(name) -> str:
    parts, star = [], False
    for p in _params(CLASSES[name]):
        if p.kind == inspect.Parameter.VAR_POSITIONAL or p.name in DEPRECATED.get(name, set()):
            continue
        if p.kind == inspect.Parameter.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        parts.append(f"{p.name}={p.default!r}")
    return f"{name}.login({', '.join(parts)})"


def test_the_table_of_signatures_in_the_docs_is_the_code():
    page = (pathlib.Path(__file__).parents[1] / "docs" / "login.rst").read_text()
    for name in CLASSES:
        assert _row(name) in page, f"docs/login.rst does not show {_row(name)}"


def test_atlas_token_first_still_works_with_a_warning(atlas_sandbox, user_state):
    token = atlas_sandbox.credentials("atlas")["token"]
    client = AtlasClass(server=atlas_sandbox.url("atlas"))
    with pytest.warns(AstropyDeprecationWarning, match=r"login\(token=\.\.\.\)"):
        assert client.login(token, store_token=False) is True
    assert len(client.query_list("good")) > 0


def test_atlas_reenter_and_store_password(atlas_sandbox, user_state, monkeypatch):
    user = atlas_sandbox.credentials("atlas")
    monkeypatch.setenv("ASTROQUERY_EXT_ATLAS_PASSWORD", user["password"])
    client = AtlasClass(server=atlas_sandbox.url("atlas"))
    client.login(user["username"], store_password=True)
    assert user_state.keyring.entries[("astroquery_ext.atlas", user["username"])] == user["password"]
    monkeypatch.delenv("ASTROQUERY_EXT_ATLAS_PASSWORD")
    atlas_sandbox.clear_request_log("atlas")
    AtlasClass(server=atlas_sandbox.url("atlas")).login()  # the stored token: no request
    assert atlas_sandbox.request_log("atlas") == []
    # reenter_password: neither the stored token nor the stored password; no terminal here
    with pytest.raises(LoginError, match="No password"):
        AtlasClass(server=atlas_sandbox.url("atlas")).login(user["username"], reenter_password=True)


def test_a_query_finds_the_stored_login_on_its_own(grad300_sandbox, user_state, monkeypatch):
    user = grad300_sandbox.credentials("grad300")
    monkeypatch.setenv("ASTROQUERY_EXT_GRAD300_PASSWORD", user["password"])
    Grad300Class(server=grad300_sandbox.url("grad300")).login(user["username"])
    monkeypatch.delenv("ASTROQUERY_EXT_GRAD300_PASSWORD")
    fresh = Grad300Class(server=grad300_sandbox.url("grad300"))
    assert len(fresh.list_scans("TPI")) > 0  # _auto_login: the stored login of the last user
    assert fresh._auth.principal == user["username"]


# -- Glance: the endpoints of a chosen issuer are discovered ------------------------------------


def _stats(sandbox):
    return requests.get(sandbox.info("glance")["stats_url"], timeout=10).json()


@pytest.mark.parametrize("how", ["conf", "argument"])
def test_glance_device_login_against_a_local_issuer_stays_local(glance_sandbox, user_state, how):
    info = glance_sandbox.info("glance")
    settings = {"client_id": info["client_id"], "exchange_audience": info["exchange_audience"]}
    glance_sandbox.clear_request_log("glance")
    before = _stats(glance_sandbox)
    with glance_conf.set_temp("issuer", info["issuer"] if how == "conf" else glance_conf.issuer):
        if how == "argument":
            settings["issuer"] = info["issuer"]
        client = GlanceClass(server=glance_sandbox.url("glance"), **settings)
        endpoints = client._endpoints()
        # the user opens the page and approves (the sandbox's page approves as the default user)
        client.login(method="device", show=lambda start: requests.get(start["verification_uri_complete"], timeout=10),
                     store_token=False, timeout=30)
        triggers = client.query_triggers(cache=False)  # token exchange at the local issuer too
    for url in (endpoints.token_endpoint, endpoints.device_authorization_endpoint, endpoints.jwks_uri,
                endpoints.authorization_endpoint, endpoints.revocation_endpoint):
        assert url.startswith(info["issuer"] + "/"), url
    assert _stats(glance_sandbox)["device_grants"] - before["device_grants"] == 1
    paths = [e["path"] for e in glance_sandbox.request_log("glance")]
    assert paths.count(urllib.parse.urlsplit(info["discovery_url"]).path) == 1  # fetched once
    assert client._auth.principal == "alice"
    assert len(triggers) == info["counts"]["trigger"]


def test_glance_endpoints_set_one_by_one_win_over_discovery(glance_sandbox):
    info = glance_sandbox.info("glance")
    client = GlanceClass(server=glance_sandbox.url("glance"), issuer=info["issuer"],
                         token_endpoint="http://127.0.0.1:9/elsewhere/token")
    endpoints = client._endpoints()
    assert endpoints.token_endpoint == "http://127.0.0.1:9/elsewhere/token"
    assert endpoints.jwks_uri == info["jwks_uri"]


def test_glance_default_issuer_needs_no_discovery():
    endpoints = GlanceClass()._endpoints()  # production settings: nothing is fetched
    assert endpoints.token_endpoint == glance_conf.token_endpoint


def test_glance_issuer_without_discovery_document_says_what_to_check(glance_sandbox):
    bad = glance_sandbox.url("glance").rstrip("/") + "/no-such-realm"
    client = GlanceClass(server=glance_sandbox.url("glance"), issuer=bad)
    with pytest.raises(LoginError, match=r"\.well-known/openid-configuration.*conf\.issuer"):
        client.login(method="device", show=lambda start: None, store_token=False, timeout=5)
