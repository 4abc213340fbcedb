"""The unmodified atlasapiclient 1.2.0 against the ATLAS sandbox (spec section 7 recipe)."""

from __future__ import annotations

import numpy as np
import pytest
import requests
import yaml

atlasapiclient = pytest.importorskip("atlasapiclient")
from atlasapiclient import client as ac  # noqa: E402
from atlasapiclient.authentication import Token  # noqa: E402

from astroquery_ext.sandbox import Sandbox  # noqa: E402

pytestmark = pytest.mark.peers

SN = 1000005291314656200
NEIGHBOUR = 1000003581314708200
MISSING = 1132507360113744501


def _config(path, url, token):
    path.write_text(yaml.safe_dump({"token": str(token), "base_url": url}))
    return str(path)


@pytest.fixture
def cfg(atlas_sandbox, tmp_path):
    # base_url without the trailing slash: the client adds it
    return _config(tmp_path / "api_config.yaml", atlas_sandbox.url("atlas").rstrip("/"),
                   atlas_sandbox.credentials("atlas")["token"])


def _raw(sb, path, data):
    token = sb.credentials("atlas")["token"]
    return requests.post(sb.url("atlas") + path, data=data, headers={"Authorization": "Token " + token},
                         timeout=60).json()


def test_cone_search(cfg):
    cone = ac.ConeSearch(payload={"ra": 0.0216, "dec": 31.7818, "radius": 60, "requestType": "all"},
                         get_response=True, api_config_file=cfg)
    assert [row["object"] for row in cone.response_data] == [SN, NEIGHBOUR]
    nearest = ac.ConeSearch(payload={"ra": 0.0216, "dec": 31.7818, "radius": 5, "requestType": "nearest"},
                            get_response=True, api_config_file=cfg)
    assert nearest.response_data["objectname"] == "ATLAS20bbfr"
    with pytest.warns(Warning):
        over = ac.ConeSearch(payload={"ra": 1.0, "dec": 1.0, "radius": 400, "requestType": "count"},
                             api_config_file=cfg)
    with pytest.raises(ac.ATLASAPIClientError, match="400"):
        over.get_response()


def test_single_source(atlas_sandbox, cfg):
    single = ac.RequestSingleSourceData(atlas_id=str(SN), api_config_file=cfg)
    (rec,) = single.response_data
    assert rec["object"]["id"] == SN and rec["object"]["atlas_designation"] == "ATLAS20bbfr"
    raw = _raw(atlas_sandbox, "objects/", {"objects": str(SN)})[0]
    assert len(rec["lc"]) == len(raw["lc"]) > 0
    cut = rec["lc"][-1]["mjd"] - 10
    recent = ac.RequestSingleSourceData(atlas_id=str(SN), mjdthreshold=cut, api_config_file=cfg)
    assert [r["mjd"] for r in recent.response_data[0]["lc"]] == [r["mjd"] for r in rec["lc"] if r["mjd"] > cut]
    placeholder = ac.RequestSingleSourceData(atlas_id=str(MISSING), api_config_file=cfg)
    assert placeholder.response_data[0]["object"] == "AtlasDiffObjects matching query does not exist."


def test_multiple_sources_chunked(atlas_sandbox, cfg):
    ids = atlas_sandbox.info("atlas")["example_ids"] + [MISSING]
    multi = ac.RequestMultipleSourceData(array_ids=np.array(ids), mjdthreshold=59000, chunk_size=4,
                                         api_config_file=cfg)
    multi.chunk_get_response()
    got = multi.response_data
    assert len(got) == len(ids)
    assert [r["object"]["id"] for r in got[:-1]] == ids[:-1] and isinstance(got[-1]["object"], str)
    raw = _raw(atlas_sandbox, "objects/", {"objects": ",".join(map(str, ids)), "mjd": 59000})
    assert [len(r["lc"] or []) for r in got] == [len(r["lc"] or []) for r in raw]
    assert sum(len(r["lcnondets"] or []) for r in got) > 0


def test_list_reads(atlas_sandbox, cfg):
    good = ac.RequestATLASIDsFromWebServerList("good", api_config_file=cfg)
    raw = _raw(atlas_sandbox, "objectlist/", {"objectlistid": 2, "getcustomlist": False})
    assert sorted(good.atlas_id_list_int) == sorted(row["id"] for row in raw) and raw
    vra = ac.RequestATLASIDsFromWebServerList("vra", api_config_file=cfg)
    assert SN in vra.atlas_id_list_int
    table = ac.RequestCustomListsTable(payload={"objectgroupid": 73}, get_response=True, api_config_file=cfg)
    assert SN in [row["transient_object_id"] for row in table.response_data]
    scores = ac.RequestVRAScores(payload={"datethreshold": "2017-01-01"}, get_response=True, api_config_file=cfg)
    assert scores.response_data and all("preal" in row for row in scores.response_data)


def test_custom_list_write_and_delete(atlas_sandbox, cfg):
    oid = atlas_sandbox.info("atlas")["example_ids"][8]
    members = lambda: [r["transient_object_id"] for r in  # noqa: E731
                       _raw(atlas_sandbox, "objectgroupslist/", {"objectgroupid": 40})]
    if oid in members():
        ac.RemoveFromCustomList(array_ids=np.array([oid]), list_name="cv", api_config_file=cfg).get_response()
    write = ac.WriteToCustomList(array_ids=np.array([oid]), list_name="cv", get_response=True,
                                 api_config_file=cfg)
    assert write.response_data == {"objectgroupid": oid, "info": "Row created."}
    assert oid in members()
    remove = ac.RemoveFromCustomList(array_ids=np.array([oid]), list_name="cv", api_config_file=cfg)
    remove.get_response()
    assert remove.response_data == "No Content"
    assert oid not in members()
    # the 1.2.0 comma payload for several ids: the server rejects it
    with pytest.raises(ac.ATLASAPIClientError, match="400"):
        ac.WriteToCustomList(array_ids=np.array([oid, SN]), list_name="cv", get_response=True,
                             api_config_file=cfg)


def test_vra_writes(atlas_sandbox, cfg):
    oid = atlas_sandbox.info("atlas")["example_ids"][9]
    w = ac.WriteToVRAScores(payload={"objectid": oid, "preal": 0.25, "debug": 1}, get_response=True,
                            api_config_file=cfg)
    assert w.response_data == {"objectid": oid, "info": "Row created."}
    rows = ac.RequestVRAScores(payload={"objects": str(oid), "debug": True}, get_response=True,
                               api_config_file=cfg).response_data
    assert rows[-1]["preal"] == 0.25 and rows[-1]["apiusername"] == "vra_bot"
    rank = ac.WriteToVRARank(payload={"objectid": oid, "rank": 3.5}, get_response=True, api_config_file=cfg)
    assert rank.response_data["info"] == "Row created."


def test_expired_token_refresh_flow(tmp_path, monkeypatch):
    with Sandbox(services={"atlas": {"n_objects": 30, "lc_length": 10, "prewarm": False}}) as sb:
        user = sb.credentials("atlas", "expired")
        cfg = _config(tmp_path / "api_config.yaml", sb.url("atlas"), user["token"])
        monkeypatch.setattr(Token, "get_username_password",
                            staticmethod(lambda: (user["username"], user["password"])))
        cone = ac.ConeSearch(payload={"ra": 0.0216, "dec": 31.7818, "radius": 60, "requestType": "count"},
                             get_response=True, api_config_file=cfg)
        assert cone.response_data == {"count": 2}
        new = yaml.safe_load(open(cfg))["token"]
        assert len(new) == 40 and new != user["token"]
        check = requests.post(sb.url("atlas") + "auth-token/",
                              data={"username": user["username"], "password": user["password"]}).json()
        assert check == {"token": new, "expires_in": check["expires_in"], "refreshed": False}
        # a read-only account gets 403, which the client reports as a bare status
        ro = _config(tmp_path / "ro.yaml", sb.url("atlas"), sb.credentials("atlas", "reader")["token"])
        with pytest.raises(ac.ATLASAPIClientError, match="403"):
            ac.WriteToToDo(payload={"objectid": SN}, get_response=True, api_config_file=ro)
