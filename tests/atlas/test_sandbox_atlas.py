"""The ATLAS sandbox app over real HTTP: the wire behaviour of shared/specs/atlas.md.

Tests that change shared state (token renewal, list moves) or need other
options start their own small sandbox; the rest use the session ``atlas_sandbox``.
"""

from __future__ import annotations


import pytest
import requests

from astroquery_ext.sandbox import Sandbox
from astroquery_ext.sandbox._atlas_data import Catalogue, atlas_id, atlas_id_position

MISSING = 1132507360113744501
SN = 1000005291314656200          # ATLAS20bbfr / 2020tjh, custom lists 2 and 73
NEIGHBOUR = 1000003581314708200   # 24.6" from SN


def _post(sb, path, data=None, user=None, **kw):
    headers = kw.pop("headers", None)
    if headers is None:
        headers = {"Authorization": "Token " + sb.credentials("atlas", user)["token"]}
    return requests.post(sb.url("atlas") + path, data=data, headers=headers, allow_redirects=False,
                         timeout=30, **kw)


@pytest.fixture(scope="module")
def small_options():
    return {"n_objects": 40, "lc_length": 20, "prewarm": False}


# -- authentication -------------------------------------------------------------

@pytest.mark.parametrize("header, detail", [
    (None, "Authentication credentials were not provided."),
    ("Bearer 0123456789abcdef0123456789abcdef01234567", "Authentication credentials were not provided."),
    ("Token", "Invalid token header. No credentials provided."),
    ("Token abc def", "Invalid token header. Token string should not contain spaces."),
    ("Token " + "f" * 40, "Invalid token."),
    ("user:expired", "Token has expired."),
    ("user:inactive", "User inactive or deleted."),
    ("user:noprofile", "Could not authenticate: Group has no profile. Please contact administrator."),
])
def test_401_texts(atlas_sandbox, header, detail):
    if header and header.startswith("user:"):
        header = "Token " + atlas_sandbox.credentials("atlas", header[5:])["token"]
    headers = {} if header is None else {"Authorization": header}
    r = _post(atlas_sandbox, "cone/", {"ra": 1, "dec": 1, "radius": 1, "requestType": "count"}, headers=headers)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Token"
    assert r.json() == {"detail": detail}


def test_query_token(atlas_sandbox):
    url = atlas_sandbox.url("atlas") + "cone/"
    token = atlas_sandbox.credentials("atlas")["token"]
    r = requests.get(url, params={"ra": 0.0216, "dec": 31.7818, "radius": 5, "requestType": "count",
                                  "token": token}, timeout=30)
    assert r.status_code == 200 and r.json() == {"count": 1}
    r = requests.get(url, params={"token": "abc-def"}, timeout=30)
    assert r.status_code == 401 and r.json() == {"detail": "Invalid token format."}


def test_users_described(atlas_sandbox):
    users = atlas_sandbox.users("atlas")
    assert atlas_sandbox.credentials("atlas")["username"] == "vra_bot"
    assert users["reader"]["write_access"] is False
    assert users["admin"]["staff"] is True
    assert users["inactive"]["active"] is False
    assert users["expired"]["token_expired"] is True
    assert all(len(u["token"]) == 40 for u in users.values())


@pytest.mark.parametrize("path, data", [
    ("vrarank/", {"objectid": SN, "rank": 1}),
    ("vrascores/", {"objectid": SN}),
    ("vratodo/", {"objectid": SN}),
    ("objectgroups/", {"objectid": SN, "objectgroupid": 73}),
    ("objectgroupsdelete/", {"objectid": SN, "objectgroupid": 73}),
    ("objectdetectionlist/", {"objectid": SN, "objectlist": 4}),
])
def test_read_only_user_cannot_write(atlas_sandbox, path, data):
    r = _post(atlas_sandbox, path, data, user="reader")
    assert r.status_code == 403
    assert r.json() == {"detail": "You do not have permission to perform this action."}
    assert "WWW-Authenticate" not in r.headers


def test_auth_token_errors(atlas_sandbox):
    url = atlas_sandbox.url("atlas") + "auth-token/"
    r = requests.post(url, data={}, timeout=30)
    assert r.status_code == 400
    assert r.json() == {"username": ["This field is required."], "password": ["This field is required."]}
    r = requests.post(url, data={"username": "vra_bot", "password": "nope"}, timeout=30)
    assert r.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}
    r = requests.post(url, data={"username": "inactive", "password": "inactive-password"}, timeout=30)
    assert r.status_code == 400
    cred = atlas_sandbox.credentials("atlas")
    r = requests.post(url, json={"username": cred["username"], "password": cred["password"]}, timeout=30)
    body = r.json()
    assert r.status_code == 200 and body["token"] == cred["token"] and body["refreshed"] is False
    assert 0 < body["expires_in"] <= 86400
    assert requests.get(url, timeout=30).status_code == 405


def test_token_expiry_and_renewal(small_options):
    # The tokens expire when the test says so (the sandbox's control), not while it works.
    with Sandbox(mode="relaxed", services={"atlas": dict(small_options, token_ttl=600)}) as sb:
        url = sb.url("atlas")
        cred = sb.credentials("atlas")
        data = {"ra": 1, "dec": 1, "radius": 1, "requestType": "count"}
        assert _post(sb, "cone/", data).status_code == 200
        assert sb.control("atlas", "expire-access-tokens") >= 1
        r = _post(sb, "cone/", data)
        assert (r.status_code, r.json()) == (401, {"detail": "Token has expired."})
        # the staff token never expires
        assert _post(sb, "cone/", data, user="admin").status_code == 200
        r = requests.post(url + "auth-token/", data={"username": cred["username"], "password": cred["password"]})
        new = r.json()
        assert new["refreshed"] is True and len(new["token"]) == 40 and new["token"] != cred["token"]
        assert 590 < new["expires_in"] <= 600  # token_ttl
        assert _post(sb, "cone/", data).json() == {"detail": "Invalid token."}
        r = _post(sb, "cone/", data, headers={"Authorization": "Token " + new["token"]})
        assert r.status_code == 200
        again = requests.post(url + "auth-token/", data={"username": cred["username"],
                                                          "password": cred["password"]}).json()
        assert again["token"] == new["token"] and again["refreshed"] is False


# -- throttling ---------------------------------------------------------------

def test_throttle_429(small_options):
    with Sandbox(mode="relaxed", services={"atlas": dict(small_options, throttle_rate=5, anon_throttle_rate=2)}) as sb:
        data = {"ra": 1, "dec": 1, "radius": 1, "requestType": "count"}
        # 401s do not count; 400s and every endpoint share one budget
        for _ in range(3):
            assert _post(sb, "cone/", data, headers={}).status_code == 401
        assert _post(sb, "cone/", {}).status_code == 400
        assert _post(sb, "objects/", {"objects": str(MISSING)}).status_code == 200
        for _ in range(3):
            assert _post(sb, "cone/", data).status_code == 200
        r = _post(sb, "vrascoreslist/", {})
        assert r.status_code == 429
        wait = int(r.headers["Retry-After"])
        assert 0 < wait <= 3600
        assert r.json() == {"detail": f"Request was throttled. Expected available in {wait} seconds."}
        # per user: another user still has its budget
        assert _post(sb, "cone/", data, user="reader").status_code == 200
        # anonymous throttle on auth-token/
        url = sb.url("atlas") + "auth-token/"
        codes = [requests.post(url, data={"username": "x", "password": "y"}).status_code for _ in range(3)]
        assert codes == [400, 400, 429]


# -- cone ------------------------------------------------------------------------

def test_cone(atlas_sandbox):
    r = _post(atlas_sandbox, "cone/", {"ra": 0.0216, "dec": 31.7818, "radius": 60, "requestType": "all"})
    rows = r.json()
    assert [row["object"] for row in rows] == [SN, NEIGHBOUR]
    assert rows[0]["objectname"] == "ATLAS20bbfr" and rows[1]["objectname"] is None
    assert rows[0]["separation"] < 1 and 24 < rows[1]["separation"] < 25
    r = _post(atlas_sandbox, "cone/", {"ra": 0.0216, "dec": 31.7818, "radius": 5, "requestType": "nearest"})
    assert r.json()["object"] == SN
    r = _post(atlas_sandbox, "cone/", {"ra": 150, "dec": 60, "radius": 1, "requestType": "nearest"})
    assert (r.status_code, r.json()) == (200, {})
    cluster = atlas_sandbox.info("atlas")["cluster"]
    r = _post(atlas_sandbox, "cone/", {"ra": cluster["ra"], "dec": cluster["dec"], "radius": 60,
                                       "requestType": "all"})
    seps = [row["separation"] for row in r.json()]
    assert len(seps) >= cluster["min_count"] >= 3 and seps == sorted(seps)


def test_cone_validation(atlas_sandbox):
    r = _post(atlas_sandbox, "cone/", {"ra": 150, "dec": 60, "radius": 300.5, "requestType": "nearest"})
    assert (r.status_code, r.json()) == (400, {"error": "Max radius is 300 arcsec."})
    assert _post(atlas_sandbox, "cone/", {"ra": 150, "dec": 60, "radius": 300, "requestType": "count"}).ok
    r = _post(atlas_sandbox, "cone/", {"ra": "00:00:05.18", "dec": 1, "radius": 5, "requestType": "Nearest"})
    assert r.status_code == 400
    assert r.json() == {"ra": ["A valid number is required."],
                        "requestType": ['"Nearest" is not a valid choice.']}


# -- transport -------------------------------------------------------------------

def test_trailing_slash_301_then_bodyless_get(atlas_sandbox):
    data = {"ra": 1, "dec": 1, "radius": 1, "requestType": "count"}
    r = _post(atlas_sandbox, "cone", data)
    assert r.status_code == 301 and r.headers["Location"] == "/api/cone/"
    # requests follows a 301 for a POST as a GET without body: validation fails
    token = atlas_sandbox.credentials("atlas")["token"]
    r = requests.post(atlas_sandbox.url("atlas") + "cone", data=data,
                      headers={"Authorization": "Token " + token}, timeout=30)
    assert r.status_code == 400 and r.history[0].status_code == 301
    assert r.json()["ra"] == ["This field is required."]


def test_html_404_and_405(atlas_sandbox):
    r = _post(atlas_sandbox, "nosuchthing/", {})
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html")
    token = atlas_sandbox.credentials("atlas")["token"]
    r = requests.put(atlas_sandbox.url("atlas") + "cone/", headers={"Authorization": "Token " + token})
    assert (r.status_code, r.json()) == (405, {"detail": 'Method "PUT" not allowed.'})


def test_json_and_get_bodies(atlas_sandbox):
    token = atlas_sandbox.credentials("atlas")["token"]
    payload = {"ra": 0.0216, "dec": 31.7818, "radius": 60, "requestType": "count"}
    r = requests.post(atlas_sandbox.url("atlas") + "cone/", json=payload,
                      headers={"Authorization": "Token " + token})
    assert r.json() == {"count": 2}
    r = requests.get(atlas_sandbox.url("atlas") + "cone/", params=payload,
                     headers={"Authorization": "Token " + token})
    assert r.json() == {"count": 2}


# -- objects ---------------------------------------------------------------------

def test_unknown_id_placeholder(atlas_sandbox):
    r = _post(atlas_sandbox, "objects/", {"objects": f"{MISSING}, {SN},{MISSING}"})
    body = r.json()
    assert r.status_code == 200 and len(body) == 3
    assert body[0] == {"object": "AtlasDiffObjects matching query does not exist.", "lc": None,
                       "lcnondets": None, "fp": None, "sherlock_crossmatches": None,
                       "sherlock_classifications": None, "tns_crossmatches": None,
                       "external_crossmatches": None}
    assert body[1]["object"]["id"] == SN and body[2] == body[0]


def test_objects_record_shape_and_mjd(atlas_sandbox):
    fp_id = atlas_sandbox.info("atlas")["object_with_fp"]
    full = _post(atlas_sandbox, "objects/", {"objects": str(fp_id)}).json()[0]
    assert list(full) == ["object", "lc", "lcnondets", "fp", "sherlock_crossmatches",
                          "sherlock_classifications", "tns_crossmatches", "external_crossmatches"]
    assert {"vra", "rb_pix", "detection_list_id", "atlas_designation"} <= set(full["object"])
    lc = full["lc"]
    assert len(lc) > 5 and all(row["id"] == fp_id for row in lc)
    assert {row["filter"] for row in full["lc"] + full["lcnondets"]} <= {"c", "o"}
    assert [row["mjd"] for row in lc] == sorted(row["mjd"] for row in lc)
    assert all("mag5sig" in row for row in full["lcnondets"])
    fp = full["fp"]
    assert fp and all({"uJy", "duJy", "texp"} <= set(row) for row in fp)
    row = fp[0]
    ujy = row["peakfit"] * row["major"] * row["minor"] / row["texp"] * 10 ** (
        -0.4 * (row["zp"] + row["apfit"] - 23.9))
    assert row["uJy"] == pytest.approx(ujy, abs=1e-3)
    cut = lc[len(lc) // 2]["mjd"]
    part = _post(atlas_sandbox, "objects/", {"objects": str(fp_id), "mjd": cut}).json()[0]
    assert [r["mjd"] for r in part["lc"]] == [r["mjd"] for r in lc if r["mjd"] > cut]
    assert [r["mjd_obs"] for r in part["fp"]] == [r["mjd_obs"] for r in fp if r["mjd_obs"] >= cut]
    assert part["object"] == full["object"]


def test_objects_many_ids_and_errors(atlas_sandbox):
    ids = atlas_sandbox.info("atlas")["example_ids"]
    body = _post(atlas_sandbox, "objects/", {"objects": ",".join(map(str, ids + ids[:2]))}).json()
    assert [rec["object"]["id"] for rec in body] == ids + ids[:2]
    r = _post(atlas_sandbox, "objects/", {"objects": f"{SN},abc"})
    assert r.status_code == 500 and r.headers["Content-Type"].startswith("text/html")
    r = _post(atlas_sandbox, "objects/", {"objects": ",".join([str(SN)] * 50001)})
    assert r.json() == {"info": "Max number of objects for each requests is 50,000"}
    assert _post(atlas_sandbox, "objects/", {"mjd": "x"}).json() == {
        "objects": ["This field is required."], "mjd": ["A valid number is required."]}


def test_objects_answer_has_content_length_and_is_one_json_list(atlas_sandbox):
    """The answer goes out in pieces, but on the wire it is what Django sends: a
    Content-Length body (never chunked) holding one JSON list, with the missing
    id's placeholder in its place."""
    ids = atlas_sandbox.info("atlas")["example_ids"][:3]
    r = _post(atlas_sandbox, "objects/", {"objects": ",".join(map(str, [ids[0], MISSING] + ids[1:]))})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert "Transfer-Encoding" not in r.headers
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert r.content.startswith(b'[{"object":{') and r.content.endswith(b"}]")  # compact, as DRF's renderer
    body = r.json()
    assert [rec["object"]["id"] if isinstance(rec["object"], dict) else None for rec in body] == \
        [ids[0], None] + ids[1:]


def test_negative_flux_and_dup_rows_exist(atlas_sandbox):
    ids = atlas_sandbox.info("atlas")["example_ids"]
    body = _post(atlas_sandbox, "objects/", {"objects": ",".join(map(str, ids))}).json()
    lc = [row for rec in body for row in rec["lc"]]
    assert any(row["mag"] < 0 and row["det"] == 5 for row in lc)
    assert any(row["dup"] == -1 for row in lc)
    assert any(row["uJy"] < 0 for rec in body for row in rec["fp"])


def test_externalxmlist(atlas_sandbox):
    body = _post(atlas_sandbox, "externalxmlist/", {"externalObjects": "2020tjh,2099zzz"}).json()
    assert len(body) == 2 and body[1] == []
    assert body[0][0]["transient_object_id"] == SN and body[0][0]["matched_list"] == "Transient Name Server"


# -- lists and writes --------------------------------------------------------------

def test_objectlist(atlas_sandbox):
    rows = _post(atlas_sandbox, "objectlist/", {"objectlistid": 2, "getcustomlist": "False"}).json()
    assert rows and all(row["detection_list_id"] == 2 for row in rows)
    assert "images_id" in rows[0] and "object_group_id" not in rows[0]
    custom = _post(atlas_sandbox, "objectlist/", {"objectlistid": 73, "getcustomlist": "True"}).json()
    assert SN in [row["id"] for row in custom] and custom[0]["object_group_id"] == 73
    assert _post(atlas_sandbox, "objectlist/", {"objectlistid": 14}).status_code == 500
    r = _post(atlas_sandbox, "objectlist/", {"objectlistid": 4, "datethreshold": "22/02/2024"})
    assert r.status_code == 400 and "Datetime has wrong format" in r.json()["datethreshold"][0]


def test_custom_list_write_delete(atlas_sandbox):
    oid, group = atlas_sandbox.info("atlas")["example_ids"][6], 14
    _post(atlas_sandbox, "objectgroupsdelete/", {"objectid": oid, "objectgroupid": group})
    r = _post(atlas_sandbox, "objectgroups/", {"objectid": oid, "objectgroupid": group})
    assert (r.status_code, r.json()) == (201, {"objectgroupid": oid, "info": "Row created."})
    r = _post(atlas_sandbox, "objectgroups/", {"objectid": oid, "objectgroupid": group})
    assert r.json()["info"] == "Duplicate row. Cannot add row."
    assert _post(atlas_sandbox, "objectgroups/", {"objectid": MISSING, "objectgroupid": group}).json() == {
        "objectid": MISSING, "info": "Object does not exist."}
    assert _post(atlas_sandbox, "objectgroups/", {"objectid": oid, "objectgroupid": 999}).json() == {
        "objectgroupid": 999, "info": "Object group ID does not exist."}
    assert _post(atlas_sandbox, "objectgroups/", {"objectid": f"{oid},{SN}", "objectgroupid": group}).json() == {
        "objectid": ["A valid integer is required."]}
    rows = _post(atlas_sandbox, "objectgroupslist/", {"objectid": oid}).json()
    assert group in [row["object_group_id"] for row in rows]
    r = _post(atlas_sandbox, "objectgroupsdelete/", {"objectid": oid, "objectgroupid": group})
    assert r.status_code == 204 and r.content == b""
    r = _post(atlas_sandbox, "objectgroupsdelete/", {"objectid": oid, "objectgroupid": group})
    assert r.status_code == 400 and r.json()["info"].startswith("Object group ID does not exist or")
    assert _post(atlas_sandbox, "objectgroupsdelete/", {"objectid": f"{oid},{SN}",
                                                        "objectgroupid": group}).status_code == 500
    get = requests.get(atlas_sandbox.url("atlas") + "objectgroups/",
                       headers={"Authorization": "Token " + atlas_sandbox.credentials("atlas")["token"]})
    assert get.json() == {"Error": "GET is not implemented for this service."}


def test_vra_tables(atlas_sandbox):
    oid = atlas_sandbox.info("atlas")["example_ids"][7]
    r = _post(atlas_sandbox, "vrascores/", {"objectid": oid, "preal": 0.5, "rank": 4.2, "rank_alt2": 1})
    assert (r.status_code, r.json()) == (201, {"objectid": oid, "info": "Row created."})
    _post(atlas_sandbox, "vrascores/", {"objectid": oid, "debug": "1"})
    rows = _post(atlas_sandbox, "vrascoreslist/", {"objects": f"{oid},junk"}).json()
    assert rows and all(row["debug"] is False and row["transient_object_id"] == oid for row in rows)
    assert rows[-1]["apiusername"] == "vra_bot" and rows[-1]["rank"] == 4.2
    last = rows[-1]["id"]
    polled = _post(atlas_sandbox, "vrascoreslist/", {"idthreshold": last}).json()
    assert polled[0]["id"] == last and any(row["debug"] is True for row in polled)
    assert _post(atlas_sandbox, "vrarank/", {"objectid": oid}).json() == {"rank": ["This field is required."]}
    for rank in (1.5, 2.5):
        assert _post(atlas_sandbox, "vrarank/", {"objectid": oid, "rank": rank}).status_code == 201
    ranks = _post(atlas_sandbox, "vraranklist/", {"objects": str(oid)}).json()
    assert len(ranks) == 1 and ranks[0]["rank"] == 2.5
    _post(atlas_sandbox, "vratodo/", {"objectid": oid, "insertdate": "2026-07-06T06:25:21Z"})
    assert _post(atlas_sandbox, "vratodo/", {"objectid": oid}).json()["info"] == "Duplicate row. Cannot add row."
    todo = _post(atlas_sandbox, "vratodolist/", {"objects": str(oid)}).json()
    assert todo == [{"transient_object_id": oid, "timestamp": "2026-07-06T06:25:21Z"}]


def test_detection_list_move_and_persistence(tmp_path, small_options):
    opts = {"atlas": small_options}
    with Sandbox(mode="relaxed", services=opts, data_dir=tmp_path) as sb:
        oid = sb.info("atlas")["example_ids"][2]
        r = _post(sb, "objectdetectionlist/", {"objectid": oid, "objectlist": 2})
        assert (r.status_code, r.json()["info"]) == (200, "Error updating row.")
        r = _post(sb, "objectdetectionlist/", {"objectid": oid, "objectlist": 3})
        assert (r.status_code, r.json()["info"]) == (200, "Row created.")
        # GET performs the write, even for a read-only user (a server bug kept on purpose)
        r = requests.get(sb.url("atlas") + "objectdetectionlist/",
                         params={"objectid": oid, "objectlist": 12,
                                 "token": sb.credentials("atlas", "reader")["token"]})
        assert r.json()["info"] == "Row created."
        assert _post(sb, "objectgroups/", {"objectid": oid, "objectgroupid": 72}).json()["info"] == "Row created."
        token = requests.post(sb.url("atlas") + "auth-token/",
                              data={"username": "expired", "password": "expired-password"}).json()["token"]
    with Sandbox(mode="relaxed", services=opts, data_dir=tmp_path) as sb:
        rec = _post(sb, "objects/", {"objects": str(oid)}).json()[0]["object"]
        assert rec["detection_list_id"] == 12
        rows = _post(sb, "objectgroupslist/", {"objectgroupid": 72}).json()
        assert oid in [row["transient_object_id"] for row in rows]
        assert sb.credentials("atlas", "expired")["token"] == token
        assert _post(sb, "cone/", {"ra": 1, "dec": 1, "radius": 1, "requestType": "count"},
                     user="expired").status_code == 200


# -- sample data -----------------------------------------------------------------

def test_ids_encode_positions_and_data_is_deterministic():
    assert atlas_id(*atlas_id_position(1161600211221604900)) == 1161600211221604900
    a, b = Catalogue(seed=3, n_objects=30, lc_length=10), Catalogue(seed=3, n_objects=30, lc_length=10)
    assert a.objects == b.objects
    assert a.rows_json(7, "lc", None) == b.rows_json(7, "lc", None)
    assert Catalogue(seed=4, n_objects=30, lc_length=10).objects != a.objects
    for rec in a.objects[5:]:
        ra, dec = atlas_id_position(rec["id"])
        assert abs(dec - rec["dec"]) < 5 / 3600 and len(str(rec["id"])) == 19
