"""Astroquery habits in every module: positions checked before sending, object names resolved."""

from __future__ import annotations

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
