"""astroquery_ext.atlas over real HTTP against the ATLAS sandbox."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import requests
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time
from astroquery.utils import TableList

from astroquery_ext.atlas import Atlas, AtlasClass, UnknownIdsWarning, conf, parse_ids
from astroquery_ext.exceptions import (
    AuthorizationError, InvalidQueryError, LoginError, NoResultsWarning, RateLimitError, RemoteServiceError)
from astroquery_ext.results import calls
from astroquery_ext.sandbox import Fault, Sandbox

SN = 1000005291314656200
NEIGHBOUR = 1000003581314708200
SMALL = {"n_objects": 40, "lc_length": 12, "prewarm": False}


def _client(sandbox, user=None) -> AtlasClass:
    client = AtlasClass(server=sandbox.url("atlas"))
    client.login(token=sandbox.credentials("atlas", user)["token"], store_token=False)
    return client


def _paths(sandbox):
    return [entry["path"] for entry in sandbox.request_log("atlas")]


def _raw(sandbox, path, data):
    token = sandbox.credentials("atlas")["token"]
    return requests.post(sandbox.url("atlas") + path, data=data, headers={"Authorization": "Token " + token},
                         timeout=60).json()


@pytest.fixture
def atlas(atlas_sandbox):
    return _client(atlas_sandbox)


@pytest.fixture
def ids(atlas_sandbox):
    info = atlas_sandbox.info("atlas")
    return info["example_ids"]


# -- module shape ------------------------------------------------------------------

def test_singleton_and_conf_read_at_call_time(atlas_sandbox):
    assert isinstance(Atlas, AtlasClass) and Atlas.server == conf.server
    with conf.set_temp("server", atlas_sandbox.url("atlas")):
        assert Atlas.server == atlas_sandbox.url("atlas")
    assert "not logged in" in repr(AtlasClass())


# -- arguments checked before anything is sent --------------------------------------

@pytest.mark.parametrize("bad, match", [
    ([SN, 123], r"ids\[1\] = 123 is not an ATLAS object id"),
    (["100000529131465620"], r"ids\[0\] = '100000529131465620'"),
    ([str(SN) + "x"], "19-digit"),
    ([float(SN)], "floats lose digits"),
    ([True], "is not an ATLAS object id"),
    ([], "empty"),
])
def test_bad_ids_named(bad, match):
    with pytest.raises(ValueError, match=match):
        parse_ids(bad)


def test_ids_forms_are_exact_int64():
    big = 9_200_000_000_000_000_000  # above 2**53, below 2**63
    assert big > 2**53
    got = parse_ids([str(SN), np.int64(NEIGHBOUR), big, SN])
    assert got.dtype == np.int64 and got.tolist() == [SN, NEIGHBOUR, big]
    assert parse_ids(SN).tolist() == [SN] and parse_ids(f" {SN} ").tolist() == [SN]
    assert parse_ids(np.array([SN, NEIGHBOUR], dtype=np.uint64)).tolist() == [SN, NEIGHBOUR]
    assert parse_ids(Table({"id": [SN, NEIGHBOUR]})["id"]).tolist() == [SN, NEIGHBOUR]
    with pytest.raises(TypeError, match="float array"):
        parse_ids(np.array([SN], dtype=float))


def test_bad_arguments_send_nothing(atlas_sandbox, atlas):
    atlas_sandbox.clear_request_log("atlas")
    here = SkyCoord(0.0216 * u.deg, 31.7818 * u.deg)
    with pytest.raises(ValueError, match="over the server's limit of 300"):
        atlas.query_region(here, 301 * u.arcsec)
    with pytest.raises(ValueError, match="over the server's limit"):
        atlas.query_region(here, 0.1 * u.deg)
    with pytest.raises(ValueError, match="positive"):
        atlas.query_region(here, -1 * u.arcsec)
    with pytest.raises(ValueError, match="angle"):
        atlas.query_region(here, 5 * u.m)
    with pytest.raises(ValueError, match="request_type must be one of all, nearest, count"):
        atlas.query_region(here, 10 * u.arcsec, request_type="closest")
    with pytest.raises(ValueError, match="not a position"):
        atlas.query_region("M31", 10 * u.arcsec)
    with pytest.raises(TypeError, match="SkyCoord or a string"):
        atlas.query_region((1.0, 2.0), 10)
    with pytest.raises(ValueError, match=r"ids\[1\]"):
        atlas.get_lightcurves([SN, 42])
    with pytest.raises(ValueError, match="mjd_min"):
        atlas.get_objects([SN], mjd_min="yesterday")
    with pytest.raises(ValueError, match="main list ids are 0..13"):
        atlas.query_list(14)
    with pytest.raises(ValueError, match="unknown list name 'nope'"):
        atlas.query_list("nope")
    with pytest.raises(ValueError, match="can only be moved to main lists 3"):
        atlas.set_detection_list([SN], "good")
    with pytest.raises(ValueError, match="exactly one of"):
        atlas.query_custom_lists()
    with pytest.raises(ValueError, match="2 values for 1 ids"):
        atlas.set_vra_rank([SN], [1.0, 2.0])
    with pytest.raises(ValueError, match="ISO 8601 string"):
        atlas.query_vra_scores(since="last tuesday")
    with pytest.raises(ValueError, match="40-character"):
        atlas.login(token="abc")
    with conf.set_temp("chunk_size", 60_000), pytest.raises(ValueError, match="chunk_size"):
        atlas.get_objects([SN])
    assert atlas_sandbox.request_log("atlas") == []


# -- cone search ------------------------------------------------------------------------

def test_cone_all_nearest_count(atlas_sandbox, atlas):
    pair = atlas_sandbox.info("atlas")["fixture_pair"]
    here = SkyCoord(pair["ra"] * u.deg, pair["dec"] * u.deg)
    table = atlas.query_region(here, pair["radius"] * u.arcsec, cache=False)
    assert table["atlas_id"].tolist() == pair["ids"] and table["atlas_id"].dtype == np.int64
    assert table["separation"].unit == u.arcsec and list(table["separation"]) == sorted(table["separation"])
    assert table["name"][0] == "ATLAS20bbfr" and table["name"].mask[1]
    assert calls(table)[0]["query"]["radius"] == 60.0 and table.meta["service"] == ["atlas"]
    nearest = atlas.query_region(here, 1 * u.arcmin, request_type="Nearest", cache=False)
    assert len(nearest) == 1 and nearest["atlas_id"][0] == SN
    count = atlas.query_region(here, 60 * u.arcsec, request_type="count", cache=False)
    assert count.colnames == ["count"] and count["count"][0] == 2
    with pytest.warns(NoResultsWarning):
        empty = atlas.query_region("10.0 -80.0", 1 * u.arcsec, cache=False)
    assert len(empty) == 0 and empty.colnames == ["atlas_id", "separation", "name"]
    with pytest.warns(NoResultsWarning):
        assert len(atlas.query_region("10.0 -80.0", 1 * u.arcsec, request_type="nearest", cache=False)) == 0


def test_cone_coordinate_forms_are_sent_as_icrs_degrees(atlas):
    sexa = atlas.query_region("00:00:05.18 +31:46:54.4", 60 * u.arcsec, get_query_payload=True)
    degrees = atlas.query_region("0.0215833 31.7817778", 60 * u.arcsec, get_query_payload=True)
    assert sexa["url"].endswith("/api/cone/") and sexa["method"] == "POST"
    assert abs(float(sexa["data"]["ra"]) - float(degrees["data"]["ra"])) < 1e-6
    assert sexa["data"]["requestType"] == "all" and sexa["data"]["radius"] == "60.0"
    galactic = SkyCoord(l=120 * u.deg, b=-30 * u.deg, frame="galactic")
    sent = atlas.query_region(galactic, 1 * u.arcmin, get_query_payload=True)["data"]
    assert abs(float(sent["ra"]) - galactic.icrs.ra.deg) < 1e-9 and sent["radius"] == "60.0"
    hms = atlas.query_region("0h00m05.18s +31d46m54.4s", 5 * u.arcsec, get_query_payload=True)["data"]
    assert abs(float(hms["ra"]) - float(sexa["data"]["ra"])) < 1e-9


def test_cone_cache_per_user(atlas_sandbox):
    a = _client(atlas_sandbox)
    b = _client(atlas_sandbox, "reader")
    here = "41.00231 5.04645"
    atlas_sandbox.clear_request_log("atlas")
    first = a.query_region(here, 30 * u.arcsec)
    again = a.query_region(here, 30 * u.arcsec)
    assert _paths(atlas_sandbox) == ["/api/cone/"]
    assert first["atlas_id"].tolist() == again["atlas_id"].tolist() == [1024400381050245500]
    b.query_region(here, 30 * u.arcsec)  # another user: not served from A's entry
    assert _paths(atlas_sandbox) == ["/api/cone/"] * 2
    a.query_region(here, 30 * u.arcsec, cache=False)
    assert len(_paths(atlas_sandbox)) == 3
    a.logout()  # drops A's entries
    a.login(token=atlas_sandbox.credentials("atlas")["token"], store_token=False)
    a.query_region(here, 30 * u.arcsec)
    assert len(_paths(atlas_sandbox)) == 4


# -- objects, light curves, forced photometry ---------------------------------------

def test_get_objects_parts_and_missing_ids(atlas_sandbox, atlas, ids):
    missing = atlas_sandbox.info("atlas")["missing_id"]
    with pytest.warns(UnknownIdsWarning, match=str(missing)):
        parts = atlas.get_objects([str(i) for i in ids[:4]] + [missing], cache=False, show_progress=False)
    assert isinstance(parts, TableList) and parts.keys() == [
        "object", "lc", "lcnondets", "fp", "sherlock_crossmatches", "sherlock_classifications", "tns_crossmatches",
        "external_crossmatches"]
    assert parts["object"]["atlas_id"].tolist() == ids[:4]
    raw = _raw(atlas_sandbox, "objects/", {"objects": ",".join(map(str, ids[:4]))})
    for part in parts.keys():
        table = parts[part]
        assert table.colnames[0] == "atlas_id" and table["atlas_id"].dtype == np.int64
        assert table.meta["missing"] == [missing]
        if part != "object":
            assert len(table) == sum(len(r[part]) for r in raw), part
    assert parts["tns_crossmatches"]["external_designation"][0] == "2020tjh"
    lc = parts["lc"]
    first = raw[0]["lc"]
    rows = lc[lc["atlas_id"] == ids[0]]
    assert rows["mjd"].tolist() == [r["mjd"] for r in first]
    assert rows["mag"].tolist() == [r["mag"] for r in first] and rows["mag"].unit == u.mag
    assert isinstance(parts["object"]["date_inserted"], Time)


def test_all_ids_unknown_is_not_a_crash(atlas_sandbox, atlas):
    missing = atlas_sandbox.info("atlas")["missing_id"]
    with pytest.warns(UnknownIdsWarning), pytest.warns(NoResultsWarning):
        lc = atlas.get_lightcurves([missing], cache=False, show_progress=False)
    assert len(lc) == 0 and lc.meta["missing"] == [missing] and "detected" in lc.colnames


def test_lightcurves_merge_detections_and_limits(atlas_sandbox, atlas, ids):
    lc = atlas.get_lightcurves(ids[:3], cache=False, show_progress=False)
    raw = _raw(atlas_sandbox, "objects/", {"objects": ",".join(map(str, ids[:3]))})
    assert len(lc) == sum(len(r["lc"]) + len(r["lcnondets"]) for r in raw)
    assert lc["detected"].sum() == sum(len(r["lc"]) for r in raw)
    assert sorted(lc.groups.keys["atlas_id"].tolist()) == sorted(ids[:3])
    for group in lc.groups:
        assert np.all(np.diff(group["mjd"]) >= 0)
    limits = lc[~lc["detected"]]
    assert limits["mag"].mask.all() and not np.ma.getmaskarray(limits["mag5sig"]).any()
    # negative-flux and duplicate rows are kept and marked
    all_lc = atlas.get_lightcurves(ids, show_progress=False)
    negative = all_lc[all_lc["negative_flux"]]
    assert len(negative) and (negative["mag"] < 0).all() and (negative["det"] == 5).all()
    assert (all_lc["dup"] == -1).any()


def test_two_views_cost_one_round_of_requests(atlas_sandbox, atlas, ids):
    atlas_sandbox.clear_request_log("atlas")
    with conf.set_temp("chunk_size", 4):
        lc = atlas.get_lightcurves(ids, mjd_min=59000, show_progress=False)
        fp = atlas.get_forced_photometry(ids, mjd_min=59000, show_progress=False)
        objects = atlas.query_objects(ids, show_progress=False)
    assert _paths(atlas_sandbox) == ["/api/objects/"] * 3  # 10 ids, 4 per request
    assert len(lc) and lc["mjd"].min() > 59000
    assert fp["uJy"].unit == u.uJy and fp["mjd"].min() >= 59000
    assert (fp["uJy"] < 0).any()
    assert objects["atlas_id"].tolist() == ids
    # another mjd_min, or cache=False, asks again (in one request: default chunk_size)
    atlas.get_forced_photometry(ids, mjd_min=59001, show_progress=False)
    atlas.get_forced_photometry(ids, mjd_min=59000, cache=False, show_progress=False)
    assert len(_paths(atlas_sandbox)) == 5
    # the memo returns copies: a user's change does not leak into the next call
    lc.remove_column("mag")
    assert "mag" in atlas.get_lightcurves(ids, mjd_min=59000, show_progress=False).colnames
    with conf.set_temp("memo_timeout", 0):
        atlas.get_lightcurves(ids, mjd_min=59000, show_progress=False)
    assert len(_paths(atlas_sandbox)) == 6


def test_memo_is_per_user(atlas_sandbox, ids):
    a = _client(atlas_sandbox)
    atlas_sandbox.clear_request_log("atlas")
    a.get_lightcurves(ids[:2], show_progress=False)
    a.logout()
    a.login(token=atlas_sandbox.credentials("atlas", "reader")["token"], store_token=False)
    a.get_lightcurves(ids[:2], show_progress=False)
    assert _paths(atlas_sandbox) == ["/api/objects/"] * 2


def test_concurrent_chunks_keep_order_and_progress_bar(atlas_sandbox, atlas, ids, capsys):
    with conf.set_temp("chunk_size", 3), conf.set_temp("max_workers", 3):
        objects = atlas.query_objects(list(reversed(ids)), cache=False, show_progress=True)
    assert objects["atlas_id"].tolist() == list(reversed(ids))
    with conf.set_temp("max_workers", 99), pytest.raises(ValueError, match="max_workers"):
        atlas.get_objects(ids, cache=False)


def test_truncated_objects_answer_is_fetched_again():
    with Sandbox(mode="relaxed", services={"atlas": SMALL}, faults=[Fault("truncate", path="/api/objects/", nth=[1])]) as sb:
        client = _client(sb)
        client.retry_backoff = 0.01
        ids = sb.info("atlas")["example_ids"]
        lc = client.get_lightcurves(ids, show_progress=False)
        raw = _raw(sb, "objects/", {"objects": ",".join(map(str, ids))})
        assert len(lc) == sum(len(r["lc"]) + len(r["lcnondets"]) for r in raw)
        assert [e["path"] for e in sb.request_log("atlas")].count("/api/objects/") == 3


# -- lists ---------------------------------------------------------------------------------

def test_query_list_main_and_custom(atlas_sandbox, atlas):
    info = atlas_sandbox.info("atlas")
    good = atlas.query_list("good")
    assert len(good) == info["main_list_sizes"]["2"] and SN in good["atlas_id"]
    assert good["atlas_id"].dtype == np.int64 and good["ra"].unit == u.deg
    assert atlas.query_list(2)["atlas_id"].tolist() == good["atlas_id"].tolist()
    vra = atlas.query_list("vra")
    assert SN in vra["atlas_id"] and set(vra["object_group_id"]) == {73}
    assert atlas.query_list(73, custom=True)["atlas_id"].tolist() == vra["atlas_id"].tolist()
    bright = atlas.query_list("good", vra_min=5.0, rb_pix_max=0.999)
    assert 0 < len(bright) < len(good) and (bright["vra"] >= 5).all() and (bright["rb_pix"] <= 0.999).all()
    payload = atlas.query_list("good", since="2020-01-01", sherlock_class="SN", get_query_payload=True)
    assert payload["data"] == {"objectlistid": "2", "getcustomlist": "false",
                               "datethreshold": "2020-01-01T00:00:00Z", "sherlock_class": "SN"}
    with pytest.warns(NoResultsWarning):
        assert len(atlas.query_list(999, custom=True)) == 0


def test_filters_applied_on_servers_that_ignore_them():
    with Sandbox(mode="relaxed", services={"atlas": dict(SMALL, n_objects=80, list_filters=False)}) as sb:
        client = _client(sb)
        everything = client.query_list("eyeball")
        some = client.query_list("eyeball", vra_min=5)
        assert len(some) < len(everything) and (some["vra"] >= 5).all()


def test_custom_list_membership_add_remove(atlas_sandbox, atlas, ids):
    info = atlas_sandbox.info("atlas")
    oid, other = ids[6], ids[7]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atlas.remove_from_custom_list([oid, other], "cv")  # whatever the state was
    added = atlas.add_to_custom_list([oid, str(other)], "cv")
    assert added["ok"].tolist() == [True, True] and set(added["info"]) == {"Row created."}
    assert added["status"].tolist() == [201, 201] and added["atlas_id"].tolist() == [oid, other]
    members = atlas.query_custom_lists("cv")
    assert {oid, other} <= set(members["atlas_id"].tolist()) and set(members["list_id"]) == {40}
    assert 40 in atlas.query_custom_lists(atlas_id=oid)["list_id"]
    with pytest.warns(Warning, match="1 of 2 objectgroups calls"):
        again = atlas.add_to_custom_list([oid, info["missing_id"]], 40)
    assert again["ok"].tolist() == [True, False]
    assert again["info"].tolist() == ["Duplicate row. Cannot add row.", "Object does not exist."]
    removed = atlas.remove_from_custom_list([oid, other], "cv")
    assert removed["ok"].all() and removed["status"].tolist() == [204, 204]
    with pytest.warns(Warning, match="did not succeed"):
        twice = atlas.remove_from_custom_list([oid], "cv")
    assert twice["status"][0] == 400 and "does not exist" in twice["info"][0]
    assert oid not in atlas.query_custom_lists("cv")["atlas_id"]
    with pytest.warns(Warning):
        unknown = atlas.add_to_custom_list([oid], 999, )
    assert unknown["info"][0] == "Object group ID does not exist."


def test_detection_list_move(atlas_sandbox, atlas, ids):
    moved = atlas.set_detection_list([ids[5]], "galcand", insert_date="2026-01-02T03:04:05")
    assert moved["ok"][0] and moved["status"][0] == 200
    assert atlas.query_objects([ids[5]], cache=False, show_progress=False)["detection_list_id"][0] == 12
    atlas.set_detection_list([ids[5]], 4)


def test_external_names(atlas_sandbox, atlas):
    tns = atlas_sandbox.info("atlas")["tns_example"]
    table = atlas.query_external_names(["AT 2020tjh", "nothing-like-it"])
    assert table["atlas_id"].tolist() == [tns["id"]] and table["name"][0] == "2020tjh"
    assert table["matched_list"][0] == "Transient Name Server"
    assert table.meta["nomatch"] == ["nothing-like-it"]


# -- VRA -------------------------------------------------------------------------------------

def test_vra_scores_todo_rank(atlas_sandbox, atlas, ids):
    oid = ids[9]
    written = atlas.add_vra_scores([oid], preal=0.75, pgal=0.1, rank=4.5, is_gal_cand=1, debug=True)
    assert written["ok"].all()
    rows = atlas.query_vra_scores([oid], debug=True)
    last = rows[-1]
    assert last["preal"] == 0.75 and last["apiusername"] == "vra_bot" and last["debug"]
    assert last["atlas_id"] == oid and isinstance(rows["timestamp"], Time)
    recent = atlas.query_vra_scores(since=Time("2017-01-01"), min_row_id=int(last["row_id"]))
    assert int(last["row_id"]) in recent["row_id"]
    with pytest.raises(ValueError, match="only without ids"):
        atlas.query_vra_scores([oid], since="2020-01-01")
    ranked = atlas.set_vra_rank([oid, ids[8]], [2.5, 7.0], rank_alt1=1.0)
    assert ranked["ok"].all()
    ranks = atlas.query_vra_rank([oid, ids[8]])
    assert dict(zip(ranks["atlas_id"].tolist(), ranks["rank"].tolist())) == {oid: 2.5, ids[8]: 7.0}
    todo = atlas.add_vra_todo([oid])
    assert todo["info"][0] in ("Row created.", "Duplicate row. Cannot add row.") and todo["ok"][0]
    assert oid in atlas.query_vra_todo([oid])["atlas_id"]
    assert len(atlas.query_vra_todo(since="2000-01-01")) > 0


# -- errors and login ----------------------------------------------------------------------

def test_read_only_user_gets_403_with_hint(atlas_sandbox, ids):
    reader = _client(atlas_sandbox, "reader")
    with pytest.raises(AuthorizationError, match="403.*permission.*read-only") as info:
        reader.add_to_custom_list(ids[:2], "cv")
    assert info.value.status == 403


def test_401_texts_become_login_errors(atlas_sandbox):
    bad = AtlasClass(server=atlas_sandbox.url("atlas"))
    bad.login(token="f" * 40, store_token=False)
    with pytest.raises(LoginError, match="Invalid token") as info:
        bad.query_region("1 1", 1 * u.arcsec, cache=False)
    assert "f" * 40 not in str(info.value)
    inactive = _client(atlas_sandbox, "inactive")
    with pytest.raises(LoginError, match="User inactive or deleted"):
        inactive.query_list("good")
    with pytest.raises(LoginError, match="ASTROQUERY_EXT_ATLAS_TOKEN"):
        AtlasClass(server=atlas_sandbox.url("atlas")).query_region("1 1", 1 * u.arcsec)


def test_server_words_for_400_and_500(atlas_sandbox, atlas):
    # a main list id the client cannot check (the server's 500 page)
    atlas_sandbox.set_faults("atlas", [Fault("status", status=500, path="/api/objectlist/")])
    try:
        atlas.retry_backoff = 0.01
        with pytest.raises(RemoteServiceError, match="HTTP 500"):
            atlas.query_list("good")
    finally:
        atlas_sandbox.set_faults("atlas", [])
    with pytest.raises(InvalidQueryError, match="idthreshold: A valid integer is required"):
        atlas._json("POST", "vrascoreslist/", data={"idthreshold": "x"}, auth="required")


def test_password_login_stores_token_not_password(atlas_sandbox, monkeypatch, user_state):
    user = atlas_sandbox.credentials("atlas", "admin")
    monkeypatch.setenv("ASTROQUERY_EXT_ATLAS_PASSWORD", user["password"])
    client = AtlasClass(server=atlas_sandbox.url("atlas"))
    assert client.login(username="admin") is True
    assert client._auth.token == user["token"] and client._auth.principal == "admin"
    stored = list(user_state.keyring.entries.values())
    assert stored and not any(user["password"] in value for value in stored)
    # a new session logs in from the stored token without a password
    monkeypatch.delenv("ASTROQUERY_EXT_ATLAS_PASSWORD")
    monkeypatch.setenv("ASTROQUERY_EXT_ATLAS_USERNAME", "admin")
    other = AtlasClass(server=atlas_sandbox.url("atlas"))
    other.login()
    assert other._auth.token == user["token"]
    other.logout(forget=True)
    assert not user_state.keyring.entries
    monkeypatch.setenv("ASTROQUERY_EXT_ATLAS_PASSWORD", "wrong")
    with pytest.raises(LoginError, match="Unable to log in with provided credentials"):
        AtlasClass(server=atlas_sandbox.url("atlas")).login(username="admin")


def test_expired_token_renewed_through_env_credentials(monkeypatch):
    with Sandbox(mode="relaxed", services={"atlas": SMALL}) as sb:
        user = sb.credentials("atlas", "expired")
        client = AtlasClass(server=sb.url("atlas"))
        client.login(token=user["token"], store_token=False)
        with pytest.raises(LoginError, match="Token has expired.*ASTROQUERY_EXT_ATLAS_PASSWORD"):
            client.query_region("0.0216 31.7818", 60 * u.arcsec, cache=False)
        monkeypatch.setenv("ASTROQUERY_EXT_ATLAS_USERNAME", user["username"])
        monkeypatch.setenv("ASTROQUERY_EXT_ATLAS_PASSWORD", user["password"])
        sb.clear_request_log("atlas")
        table = client.query_region("0.0216 31.7818", 60 * u.arcsec, cache=False)
        assert len(table) == 2
        assert _paths(sb) == ["/api/cone/", "/api/auth-token/", "/api/cone/"]
        assert client._auth.token != user["token"] and client._auth.principal == user["username"]
        client.query_region("0.0216 31.7818", 60 * u.arcsec, request_type="count", cache=False)
        assert _paths(sb)[-1] == "/api/cone/" and len(_paths(sb)) == 4


def test_429_waits_for_retry_after_then_raises():
    with Sandbox(mode="relaxed", services={"atlas": dict(SMALL, throttle_rate=2, throttle_period=2)}) as sb:
        client = _client(sb)
        for _ in range(3):  # the third waits about a second, as Retry-After says, then succeeds
            client.query_region("0.0216 31.7818", 60 * u.arcsec, request_type="count", cache=False)
        statuses = [e["status"] for e in sb.request_log("atlas")]
        assert 429 in statuses and statuses[-1] == 200
    with Sandbox(mode="relaxed", services={"atlas": dict(SMALL, throttle_rate=1, throttle_period=3600)}) as sb:
        client = _client(sb)
        client.query_region("0.0216 31.7818", 60 * u.arcsec, cache=False)
        with pytest.raises(RateLimitError, match="100 requests per hour") as info:
            client.query_region("0.0216 31.7818", 60 * u.arcsec, cache=False)
        assert info.value.retry_after > 120


def test_token_never_in_cache_or_errors(atlas_sandbox, user_state):
    token = atlas_sandbox.credentials("atlas")["token"]
    client = _client(atlas_sandbox)
    client.query_region("0.0216 31.7818", 60 * u.arcsec)
    blobs = b"".join(p.read_bytes() for p in user_state.cache_dir.rglob("*") if p.is_file())
    assert blobs and token.encode() not in blobs
    assert token not in repr(client) and token not in repr(client._auth)
    assert json.dumps(client.query_region("0.0216 31.7818", 60 * u.arcsec).meta, default=str).find(token) == -1
