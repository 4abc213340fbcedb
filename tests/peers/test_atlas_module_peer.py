"""astroquery_ext.atlas and the unmodified atlasapiclient 1.2.0 agree on the same sandbox data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import yaml
from astropy import units as u
from astropy.coordinates import SkyCoord

atlasapiclient = pytest.importorskip("atlasapiclient")
from atlasapiclient import client as ac  # noqa: E402

from astroquery_ext.atlas import AtlasClass, conf  # noqa: E402

pytestmark = pytest.mark.peers

SN = 1000005291314656200


@pytest.fixture
def cfg(atlas_sandbox, tmp_path):
    path = tmp_path / "api_config.yaml"
    path.write_text(yaml.safe_dump({"token": atlas_sandbox.credentials("atlas")["token"],
                                    "base_url": atlas_sandbox.url("atlas")}))
    return str(path)


@pytest.fixture
def ours(atlas_sandbox):
    client = AtlasClass(server=atlas_sandbox.url("atlas"))
    client.login(token=atlas_sandbox.credentials("atlas")["token"], store_token=False)
    return client


def _same(values, expected):
    """Equal element by element, a masked value standing for None."""
    got = [None if v is np.ma.masked else v for v in np.ma.asarray(values).tolist()]
    return got == list(expected)


def test_cone_search_agrees(atlas_sandbox, cfg, ours):
    info = atlas_sandbox.info("atlas")
    for ra, dec, radius in [(p["ra"], p["dec"], 60.0) for p in info["positions"][:3]] + [
            (info["cluster"]["ra"], info["cluster"]["dec"], info["cluster"]["radius"])]:
        seed = ac.ConeSearch(payload={"ra": ra, "dec": dec, "radius": radius, "requestType": "all"},
                             get_response=True, api_config_file=cfg).response_data
        table = ours.query_region(SkyCoord(ra * u.deg, dec * u.deg), radius * u.arcsec, cache=False)
        assert table["atlas_id"].tolist() == [row["object"] for row in seed]
        assert np.allclose(table["separation"], [row["separation"] for row in seed], rtol=0, atol=1e-9)
        assert _same(table["name"], [row["objectname"] for row in seed])
    nearest = ac.ConeSearch(payload={"ra": 0.0216, "dec": 31.7818, "radius": 60, "requestType": "nearest"},
                            get_response=True, api_config_file=cfg).response_data
    mine = ours.query_region("0.0216 31.7818", 60 * u.arcsec, request_type="nearest", cache=False)
    assert mine["atlas_id"][0] == nearest["object"] and mine["separation"][0] == nearest["separation"]


def test_single_object_data_agrees(atlas_sandbox, cfg, ours):
    seed = ac.RequestSingleSourceData(atlas_id=str(SN), api_config_file=cfg).response_data[0]
    parts = ours.get_objects(SN, cache=False, show_progress=False)
    assert parts["object"]["atlas_id"][0] == seed["object"]["id"]
    assert parts["object"]["atlas_designation"][0] == seed["object"]["atlas_designation"]
    for part in ("lc", "lcnondets", "fp"):
        assert len(parts[part]) == len(seed[part])
    lc = parts["lc"]
    for key in ("mjd", "mag", "magerr", "mag5sig", "det", "dup", "expname", "filter", "atlas_metadata_id"):
        assert _same(lc[key], [row[key] for row in seed["lc"]]), key
    assert _same(parts["lcnondets"]["exposure_id"], [row["id"] for row in seed["lcnondets"]])
    assert _same(parts["fp"]["uJy"], [row["uJy"] for row in seed["fp"]])
    assert _same(parts["tns_crossmatches"]["external_designation"],
                 [row["external_designation"] for row in seed["tns_crossmatches"]])
    # the merged light curve holds the same detections and limits
    curve = ours.get_lightcurves(SN, show_progress=False)
    det = curve[curve["detected"]]
    assert sorted(det["mjd"].tolist()) == sorted(row["mjd"] for row in seed["lc"])
    limits = curve[~curve["detected"]]
    assert sorted(limits["mag5sig"].tolist()) == sorted(row["mag5sig"] for row in seed["lcnondets"])


def test_multi_object_data_agrees(atlas_sandbox, cfg, ours):
    info = atlas_sandbox.info("atlas")
    ids = info["example_ids"] + [info["missing_id"]]
    seed = ac.RequestMultipleSourceData(array_ids=np.array(ids), mjdthreshold=59500, chunk_size=4,
                                        api_config_file=cfg)
    seed.chunk_get_response_quiet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with conf.set_temp("chunk_size", 4):
            lc = ours.get_lightcurves(ids, mjd_min=59500, cache=False, show_progress=False)
            fp = ours.get_forced_photometry(ids, mjd_min=59500, show_progress=False)
    records = {rec["object"]["id"]: rec for rec in seed.response_data if isinstance(rec["object"], dict)}
    assert lc.meta["missing"] == [info["missing_id"]]
    for key, group in zip(lc.groups.keys["atlas_id"], lc.groups):
        rec = records[int(key)]
        det = group[group["detected"]]
        assert det["mjd"].tolist() == [row["mjd"] for row in rec["lc"]]
        assert det["mag"].tolist() == [row["mag"] for row in rec["lc"]]
        assert (~group["detected"]).sum() == len(rec["lcnondets"])
    assert len(lc.groups) == sum(1 for rec in records.values() if rec["lc"] or rec["lcnondets"])
    assert len(fp) == sum(len(rec["fp"]) for rec in records.values())
    seed_ujy = sorted(row["uJy"] for rec in records.values() for row in rec["fp"] if row["uJy"] is not None)
    assert sorted(fp["uJy"].compressed().tolist() if hasattr(fp["uJy"], "compressed") else fp["uJy"].tolist()) \
        == seed_ujy


def test_list_reads_agree(cfg, ours):
    for name in ("good", "eyeball", "vra", "mookodi"):
        seed = ac.RequestATLASIDsFromWebServerList(name, api_config_file=cfg)
        mine = ours.query_list(name)
        assert sorted(mine["atlas_id"].tolist()) == sorted(seed.atlas_id_list_int), name
    table = ac.RequestCustomListsTable(payload={"objectgroupid": 73}, get_response=True,
                                       api_config_file=cfg).response_data
    mine = ours.query_custom_lists("vra")
    assert mine["atlas_id"].tolist() == [row["transient_object_id"] for row in table]
    assert mine["row_id"].tolist() == [row["id"] for row in table]
    scores = ac.RequestVRAScores(payload={"datethreshold": "2017-01-01"}, get_response=True,
                                 api_config_file=cfg).response_data
    mine = ours.query_vra_scores(since="2017-01-01")
    assert mine["row_id"].tolist() == [row["id"] for row in scores]
    assert _same(mine["preal"], [row["preal"] for row in scores])


def test_custom_list_write_and_delete_agree(atlas_sandbox, cfg, ours):
    oid = atlas_sandbox.info("atlas")["example_ids"][3]
    members = lambda: ours.query_custom_lists("heloise")["atlas_id"].tolist()  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours.remove_from_custom_list([oid], "heloise")
    # the seed writes, we see it and remove it
    write = ac.WriteToCustomList(array_ids=np.array([oid]), list_name="heloise", get_response=True,
                                 api_config_file=cfg)
    assert write.response_data == {"objectgroupid": oid, "info": "Row created."}
    assert oid in members()
    removed = ours.remove_from_custom_list([oid], "heloise")
    assert removed["ok"][0] and oid not in members()
    # we write, the seed sees it and removes it
    added = ours.add_to_custom_list([oid], 72)
    assert added["info"][0] == "Row created."
    table = ac.RequestCustomListsTable(payload={"objectgroupid": 72}, get_response=True,
                                       api_config_file=cfg).response_data
    assert oid in [row["transient_object_id"] for row in table]
    remove = ac.RemoveFromCustomList(array_ids=np.array([oid]), list_name="heloise", api_config_file=cfg)
    remove.get_response()
    assert remove.response_data == "No Content" and oid not in members()
