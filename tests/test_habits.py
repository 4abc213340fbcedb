"""Astroquery habits in every module: positions checked before sending, object names resolved."""

from __future__ import annotations

import io
import sys

import pytest
from astropy import units as u
from astropy.coordinates.name_resolve import sesame_url

from astroquery_ext.atlas import AtlasClass


@pytest.fixture(scope="module")
def atlas(atlas_sandbox):
    client = AtlasClass(server=atlas_sandbox.url("atlas"))
    client.login(token=atlas_sandbox.credentials("atlas")["token"])
    return client


def _sent(sandbox):
    return len(sandbox.request_log("atlas"))


@pytest.mark.parametrize("position, match", [
    ("400 0", r"RA 400 deg is outside \[0, 360\)"),
    ("-0.5 10", r"RA -0.5 deg is outside"),
    ("10 -91", r"Dec -91 deg is outside \[-90, 90\]"),
    ("24:00:00 +10:00:00", r"RA 360 deg is outside"),
])
def test_positions_out_of_range_raise_before_sending(atlas, atlas_sandbox, position, match):
    before = _sent(atlas_sandbox)
    with pytest.raises(ValueError, match=match):
        atlas.query_region(position, 10 * u.arcsec)
    with pytest.raises(ValueError, match=match):
        atlas.query_region(position, 10 * u.arcsec, get_query_payload=True)
    assert _sent(atlas_sandbox) == before


def test_an_object_name_is_resolved_by_the_local_resolver(atlas, atlas_sandbox):
    root = atlas_sandbox.url("atlas").removesuffix("api/")
    pair = atlas_sandbox.info("atlas")["fixture_pair"]
    with sesame_url.set([root + "sesame/"]):
        payload = atlas.query_region("ATLAS20bbfr", 60 * u.arcsec, get_query_payload=True)
        by_name = atlas.query_region("AT 2020tjh", pair["radius"] * u.arcsec, cache=False)
        with pytest.raises(ValueError, match="does not know it as a name"):
            atlas.query_region("no such object", 10 * u.arcsec)
    assert float(payload["data"]["ra"]) == pytest.approx(0.02158) and float(payload["data"]["dec"]) == pytest.approx(
        31.78178)
    assert by_name["atlas_id"].tolist() == pair["ids"]


def test_no_reachable_resolver_is_a_clear_error(atlas, atlas_sandbox):
    before = _sent(atlas_sandbox)
    with sesame_url.set(["http://127.0.0.1:9/sesame/"]):  # nothing listens on port 9
        with pytest.raises(ValueError, match="no name resolver could be reached .*sesame_url"):
            atlas.query_region("ATLAS20bbfr", 10 * u.arcsec)
    assert _sent(atlas_sandbox) == before


# -- get_query_payload=True on every get_* method: the request, nothing sent --------------------------------

def _get_calls(sandboxes):
    from astroquery_ext.grad300 import Grad300Class
    from astroquery_ext.tupli import TupliClass

    atlas_sb, grad_sb, glance_sb, tupli_sb = (sandboxes.get(s) for s in ("atlas", "grad300", "glance", "tupli"))
    atlas = AtlasClass(server=atlas_sb.url("atlas"))
    ids = atlas_sb.info("atlas")["example_ids"][:2]
    grad = Grad300Class(server=grad_sb.url("grad300"))
    glance = glance_sb.client("glance")
    tupli = TupliClass(server=tupli_sb.url("tupli"))
    episode = "0" * 32
    return {
        "atlas": (atlas_sb, {name: (lambda f=getattr(atlas, name): f(ids, get_query_payload=True))
                             for name in ("get_objects", "get_lightcurves", "get_forced_photometry")}),
        "grad300": (grad_sb, {"get_scan": lambda: grad.get_scan(7, scan_type="TPI", get_query_payload=True)}),
        "glance": (glance_sb, {name: (lambda f=getattr(glance, name): f("ANA-SUSY-2019-01", get_query_payload=True))
                               for name in ("get_analysis", "get_paper", "get_confnote", "get_pubnote",
                                            "get_plot", "get_publication")}),
        "tupli": (tupli_sb, {"get_episode": lambda: tupli.get_episode(episode, get_query_payload=True),
                             "get_tuples": lambda: tupli.get_tuples(get_query_payload=True)}),
    }


def test_every_get_method_returns_its_request_with_get_query_payload(sandboxes):
    from astroquery_ext.atlas import Atlas
    from astroquery_ext.glance import Glance
    from astroquery_ext.grad300 import Grad300
    from astroquery_ext.tupli import Tupli

    calls = _get_calls(sandboxes)
    for service, client in (("atlas", Atlas), ("grad300", Grad300), ("glance", Glance), ("tupli", Tupli)):
        sandbox, methods = calls[service]
        # get_json is the raw escape hatch (docs/raw.rst): it sends what it is given, by definition
        public = {n for n in dir(client) if n.startswith("get_") and callable(getattr(client, n))} - {"get_json"}
        assert public == set(methods), f"{service}: get_* methods without a test here: {public - set(methods)}"
        before = len(sandbox.request_log(service))
        for name, call in methods.items():
            payload = call()
            requests = payload if isinstance(payload, list) else [payload]
            assert requests and all(r["method"] in ("GET", "POST") and r["url"].startswith(sandbox.url(service))
                                    for r in requests), (service, name, payload)
        assert len(sandbox.request_log(service)) == before, f"{service}: a get_* call sent a request"


def test_row_limit_is_offered_only_where_it_is_honoured():
    from astroquery_ext.atlas import Atlas
    from astroquery_ext.glance import Glance
    from astroquery_ext.grad300 import Grad300
    from astroquery_ext.tupli import Tupli

    for client in (Grad300, Glance):  # paged listings: row_limit cuts them, ROW_LIMIT is the default
        assert "ROW_LIMIT" in dir(client) and client.ROW_LIMIT >= -1
    for client in (Atlas, Tupli):  # answers are never paged: no ROW_LIMIT, not even in tab completion
        assert "ROW_LIMIT" not in dir(client) and not hasattr(client, "ROW_LIMIT")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_only_for_long_work(atlas, atlas_sandbox, monkeypatch):
    from astroquery_ext.atlas import conf

    ids = atlas_sandbox.info("atlas")["example_ids"][:3]
    shown = _Terminal()
    monkeypatch.setattr(sys, "stderr", shown)
    atlas.get_lightcurves(ids[:1], cache=False)  # one object, one request: no bar
    assert shown.getvalue() == ""
    with conf.set_temp("chunk_size", 1):  # three requests: a bar
        atlas.get_lightcurves(ids, cache=False)
    assert shown.getvalue() != ""
