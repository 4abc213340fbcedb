"""The GRAD300 sandbox over real HTTP: the wire protocol of ``specs/grad300.md``.

Raw ``requests`` against the session's ``grad300_sandbox`` (default options),
plus one small sandbox with non-default options.
"""

from __future__ import annotations

import io
import re
import time
import warnings
from datetime import datetime, timezone

import numpy as np
import pytest
import requests
from astropy.io import fits
from astropy.table import Table

from astroquery_ext.sandbox import Sandbox
from astroquery_ext.sandbox import _grad300_data as app

SCAN_TYPES = ("TPI", "Images", "Spectrum", "OnOff")
RECORD_KEYS = ["id", "file_path", "file_name", "size", "ctime", "mtime", "object", "ra", "dec",
               "gain", "comment", "date", "date_obs", "date_end", "azimuth", "elevation",
               "nsamples"]


@pytest.fixture(scope="module")
def sb(grad300_sandbox):
    return grad300_sandbox


@pytest.fixture(scope="module")
def url(sb):
    return sb.url("grad300")


@pytest.fixture(scope="module")
def http(sb):
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {sb.credentials('grad300')['token']}"
    yield session
    session.close()


@pytest.fixture(scope="module")
def catalogue(sb, url, http):
    """Every record of every type, fetched in pages of 1000."""
    out = {}
    for scan_type in SCAN_TYPES:
        records, offset = [], 0
        while True:
            page = http.get(f"{url}scans/{scan_type}/", params={"offset": offset, "limit": 1000}).json()
            records += page
            offset += len(page)
            if len(page) < 1000:
                break
        out[scan_type] = records
    return out


def _plain():
    session = requests.Session()
    session.trust_env = False
    return session


# -- URL layout, login, tokens -----------------------------------------------------

def test_url_layout(sb, url):
    assert url == sb.origin("grad300") + "/api/v1/"
    info = sb.info("grad300")
    assert info["api_prefix"] == "/api/v1"
    assert _plain().get(url + "utils/health-check/").json() is True
    openapi = _plain().get(url + "openapi.json").json()
    assert "/api/v1/scans/{scan_type}/" in openapi["paths"]


def test_login_and_test_token(sb, url):
    cred = sb.credentials("grad300")
    assert cred["username"] == "student@example.com" and cred["password"]
    r = _plain().post(url + "login/access-token",
                      data={"username": cred["username"], "password": cred["password"]})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "token_type"} and body["token_type"] == "bearer"
    assert body["access_token"].count(".") == 2  # a JWT
    for method in ("GET", "POST"):
        me = _plain().request(method, url + "login/test-token",
                              headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.status_code == 200
        assert me.json()["email"] == cred["username"]
        assert set(me.json()) == {"email", "is_active", "is_superuser", "full_name", "id", "created_at"}
    me = _plain().get(url + "users/me", headers={"Authorization": f"Bearer {cred['token']}"})
    assert me.json()["id"] == cred["id"]


def test_users(sb):
    users = sb.users("grad300")
    assert users["student@example.com"]["is_active"]
    assert users["observer@example.com"]["is_superuser"]
    assert not users["inactive@example.com"]["is_active"]
    assert "token" not in users["inactive@example.com"]


@pytest.mark.parametrize("username,password,detail", [
    ("student@example.com", "wrong", "Incorrect email or password"),
    ("nobody@example.com", "x", "Incorrect email or password"),
    ("inactive@example.com", "inactive-secret", "Inactive user"),
])
def test_login_failures(url, username, password, detail):
    r = _plain().post(url + "login/access-token", data={"username": username, "password": password})
    assert r.status_code == 400
    assert r.json() == {"detail": detail}


def test_login_with_json_body_is_422(url):
    r = _plain().post(url + "login/access-token", json={"username": "a", "password": "b"})
    assert r.status_code == 422
    assert r.json() == {"detail": [
        {"type": "missing", "loc": ["body", "username"], "msg": "Field required", "input": None},
        {"type": "missing", "loc": ["body", "password"], "msg": "Field required", "input": None}]}


def test_token_errors(sb, url):
    tokens = sb.info("grad300")["tokens"]
    r = _plain().get(url + "scans/TPI/")
    assert (r.status_code, r.json()) == (401, {"detail": "Not authenticated"})
    assert r.headers["WWW-Authenticate"] == "Bearer"
    r = _plain().get(url + "scans/TPI/", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401
    cases = [("not-a-jwt", 403, "Could not validate credentials"),
             (tokens["expired"], 403, "Could not validate credentials"),
             (tokens["bad_signature"], 403, "Could not validate credentials"),
             (tokens["inactive_user"], 400, "Inactive user"),
             (tokens["unknown_user"], 404, "User not found")]
    for token, status, detail in cases:
        for path in ("scans/TPI/", "login/test-token", "scans/TPI/1/download"):
            r = _plain().get(url + path, headers={"Authorization": f"Bearer {token}"})
            assert (r.status_code, r.json()) == (status, {"detail": detail}), (path, detail)


def test_wrong_method_is_405(url, http):
    r = http.put(url + "login/test-token")
    assert (r.status_code, r.json()) == (405, {"detail": "Method Not Allowed"})


# -- listing -----------------------------------------------------------------------

def test_records_shape(sb, catalogue):
    counts = sb.info("grad300")["counts"]
    assert counts == {"TPI": 120, "Images": 105, "Spectrum": 45, "OnOff": 30}
    for scan_type, records in catalogue.items():
        assert len(records) == counts[scan_type]
        assert [r["id"] for r in records] == list(range(1, counts[scan_type] + 1))
        for rec in records:
            assert list(rec) == RECORD_KEYS
            assert isinstance(rec["id"], int) and isinstance(rec["size"], int)
            assert isinstance(rec["ra"], float) and 0 <= rec["ra"] < 24  # decimal hours
            assert isinstance(rec["dec"], float) and -90 <= rec["dec"] <= 90
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rec["date"])
            assert rec["date"] == rec["date_obs"] <= rec["date_end"]
            assert rec["gain"] is None
            assert rec["file_path"].endswith("/" + rec["file_name"])
            if scan_type == "TPI":
                assert rec["nsamples"] == (rec["size"] - 14400) // 124 or rec["size"] % 2880 == 0
            else:
                assert rec["azimuth"] is None and rec["elevation"] is None
            if scan_type == "Images":
                assert rec["nsamples"] is None
    tpi = catalogue["TPI"][0]
    assert re.fullmatch(r"\d{8}-\d{6}_TPI-[A-Z0-9_]+-[A-Z0-9]*_\d\d#_01#\.fits", tpi["file_name"])
    assert tpi["file_name"].startswith(tpi["date"][:10].replace("-", "") + "-")


def test_paging_is_consistent(url, http, catalogue):
    pages, offset = [], 0
    while True:
        page = http.get(url + "scans/Images/", params={"offset": offset, "limit": 17}).json()
        pages += page
        if len(page) < 17:
            break
        offset += 17
    assert pages == catalogue["Images"]
    assert http.get(url + "scans/Images/", params={"offset": 10_000}).json() == []
    # Default limit: 100.
    assert len(http.get(url + "scans/TPI/").json()) == 100


def test_listing_validation(url, http):
    r = http.get(url + "scans/TPI/", params={"limit": 5000})
    assert r.status_code == 422
    assert r.json() == {"detail": [{"type": "less_than_equal", "loc": ["query", "limit"],
                                    "msg": "Input should be less than or equal to 1000",
                                    "input": "5000", "ctx": {"le": 1000}}]}
    assert http.get(url + "scans/TPI/", params={"limit": 1000}).status_code == 200
    assert http.get(url + "scans/TPI/", params={"limit": 0}).status_code == 422
    assert http.get(url + "scans/TPI/", params={"offset": -1}).status_code == 422
    assert http.get(url + "scans/TPI/", params={"date_from": "yesterday"}).status_code == 422
    r = http.get(url + "scans/Image/")
    assert r.status_code == 422
    assert r.json() == {"detail": [{"type": "enum", "loc": ["path", "scan_type"],
                                    "msg": "Input should be 'TPI', 'Images', 'Spectrum' or 'OnOff'",
                                    "input": "Image",
                                    "ctx": {"expected": "'TPI', 'Images', 'Spectrum' or 'OnOff'"}}]}
    assert http.get(url + "scans/tpi/").status_code == 422  # case-sensitive


def test_listing_without_trailing_slash_redirects(url, http):
    r = http.get(url + "scans/TPI", params={"limit": 3}, allow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"].endswith("/api/v1/scans/TPI/?limit=3")


def test_filters(url, http, catalogue):
    tpi = catalogue["TPI"]
    got = http.get(url + "scans/TPI/", params={"source": "SU", "limit": 1000}).json()
    assert [r["id"] for r in got] == [r["id"] for r in tpi if "su" in r["object"]]
    assert got and all(r["object"] == "sun" for r in got)
    name = tpi[40]["file_name"]
    got = http.get(url + "scans/TPI/", params={"scan_name": name.lower()}).json()
    assert [r["id"] for r in got] == [tpi[40]["id"]]
    date = tpi[30]["date"]
    for lo, hi in ((date, date), (date[:-1], date[:-1] + "+00:00"), (date[:-1] + "+02:00", None)):
        params = {"date_from": lo, "limit": 1000}
        if hi:
            params["date_to"] = hi
        got = http.get(url + "scans/TPI/", params=params).json()
        lo_dt = datetime.fromisoformat(lo.replace("Z", "+00:00"))
        if lo_dt.tzinfo is None:
            lo_dt = lo_dt.replace(tzinfo=timezone.utc)
        hi_dt = datetime.fromisoformat(hi.replace("Z", "+00:00")).replace(tzinfo=timezone.utc) if hi else None
        want = [r["id"] for r in tpi
                if datetime.fromisoformat(r["date"].replace("Z", "+00:00")) >= lo_dt
                and (hi_dt is None or datetime.fromisoformat(r["date"].replace("Z", "+00:00")) <= hi_dt)]
        assert [r["id"] for r in got] == want
        assert want
    combined = http.get(url + "scans/Spectrum/", params={"source": "sun", "date_to": date}).json()
    assert all(r["object"] == "sun" and r["date"] <= date for r in combined)


# -- downloads ---------------------------------------------------------------------

def _ordinary(records):
    return next(r for r in records if r["id"] % 10 not in (7,) and r["id"] > 12)


def test_download_headers_and_body(url, http, catalogue):
    for scan_type in SCAN_TYPES:
        rec = _ordinary(catalogue[scan_type])
        r = http.get(f"{url}scans/{scan_type}/{rec['id']}/download")
        assert r.status_code == 200
        assert r.headers["Content-Length"] == str(rec["size"]) == str(len(r.content))
        assert r.headers["Content-Disposition"] == f'attachment; filename="{rec["file_name"]}"'
        assert r.headers["Accept-Ranges"] == "bytes"
        assert r.headers["Content-Type"] == "application/fits"
        assert r.headers["ETag"] and r.headers["Last-Modified"]
        assert r.content.startswith(b"SIMPLE  =                    T")
        assert len(r.content) % 2880 == 0
        again = http.get(f"{url}scans/{scan_type}/{rec['id']}/download")
        assert again.content == r.content and again.headers["ETag"] == r.headers["ETag"]


def test_download_errors(url, http):
    r = http.get(url + "scans/TPI/999999/download")
    assert (r.status_code, r.json()) == (404, {"detail": "Scan not found"})
    r = http.get(url + "scans/TPI/abc/download")
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "int_parsing"
    r = http.get(url + "scans/Imagez/1/download")
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "enum"
    assert _plain().get(url + "scans/TPI/1/download").status_code == 401


def test_range_requests(url, http, catalogue):
    rec = _ordinary(catalogue["TPI"])
    path = f"{url}scans/TPI/{rec['id']}/download"
    full = http.get(path).content
    size = len(full)
    cases = {"bytes=0-99": (0, 99), "bytes=100-": (100, size - 1), "bytes=-500": (size - 500, size - 1),
             f"bytes={size - 1}-{size + 100}": (size - 1, size - 1)}
    for header, (start, end) in cases.items():
        r = http.get(path, headers={"Range": header})
        assert r.status_code == 206, header
        assert r.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
        assert r.headers["Content-Length"] == str(end - start + 1)
        assert r.content == full[start:end + 1]
    for header in (f"bytes={size}-", "bytes=-0"):
        r = http.get(path, headers={"Range": header})
        assert r.status_code == 416
        assert r.headers["Content-Range"] == f"bytes */{size}"
    # Ignored: several ranges, malformed, or an If-Range that does not match.
    for headers in ({"Range": "bytes=0-1,5-6"}, {"Range": "lines=1-2"}, {"Range": "bytes=9-3"},
                    {"Range": "bytes=10-", "If-Range": '"stale"'}):
        r = http.get(path, headers=headers)
        assert r.status_code == 200 and r.content == full
    etag = http.get(path, headers={"Range": "bytes=0-0"}).headers["ETag"]
    r = http.get(path, headers={"Range": "bytes=10-", "If-Range": etag})
    assert r.status_code == 206 and r.content == full[10:]


def _get_fits(http, url, scan_type, scan_id):
    return http.get(f"{url}scans/{scan_type}/{scan_id}/download").content


def test_fits_layouts(url, http, catalogue):
    rec = _ordinary(catalogue["TPI"])
    table = Table.read(io.BytesIO(_get_fits(http, url, "TPI", rec["id"])), format="fits")
    assert len(table) == rec["nsamples"]
    assert table.colnames[:3] == ["JD", "Azimuth", "Elevation"]
    assert table.colnames[-10:] == [f"BBC{k:02d}u" for k in range(9, 17)] + ["CAL", "MARKER"]
    assert table.colnames[7:9] == ["LEFT_POL", "RIGHT_POL"] and len(table.colnames) == 19
    assert str(table["JD"].unit) == "d" and str(table["Azimuth"].unit) == "deg"
    assert table["BBC09u"].dtype.kind == "i" and table["LEFT_POL"].dtype.itemsize == 8
    assert table.meta["ORIGIN"] == "RADIOUNIVERSE_PRO"
    assert table.meta["RA"] == pytest.approx(rec["ra"]) and table.meta["OBJECT"].strip() == rec["object"]
    assert table["MARKER"][0] == "TPI 000" and set(table["CAL"]) <= {"OFF", "ON"}
    assert rec["size"] == 14400 + 124 * len(table) + (-124 * len(table)) % 2880

    rec = _ordinary(catalogue["Images"])
    with fits.open(io.BytesIO(_get_fits(http, url, "Images", rec["id"]))) as hdul:
        assert len(hdul) == 1
        n = hdul[0].data.shape[0]
        assert hdul[0].data.shape == (n, n) and n % 2 == 1 and hdul[0].data.dtype.name == "int16"
        head = hdul[0].header
        assert head["CRVAL1"] == pytest.approx(rec["ra"] * 15) and head["CDELT2"] < 0 < head["CDELT1"]
        assert head["CRPIX1"] == (n + 1) / 2 and head["EXTEND"] is False
        assert len(head) == 60
        assert rec["size"] == 5760 + 2 * n * n + (-2 * n * n) % 2880

    rec = _ordinary(catalogue["Spectrum"])
    with fits.open(io.BytesIO(_get_fits(http, url, "Spectrum", rec["id"]))) as hdul:
        assert len(hdul) == 2 and len(hdul[0].header) == 14
        data = hdul[1].data
        assert len(data) == rec["nsamples"] and hdul[1].header["NAXIS1"] == 16460
        assert data["LEFT_POL"].shape == (rec["nsamples"], 1024)
        assert list(data["STATUS"][:3]) == ["on", "off", "cal"]
        assert np.all(data["RIGHT_POL"][:, -1] == 0)

    rec = _ordinary(catalogue["OnOff"])
    with fits.open(io.BytesIO(_get_fits(http, url, "OnOff", rec["id"]))) as hdul:
        assert hdul[1].columns.names == ["REP", "DEV", "SB", "ON_TPI", "OFF_TPI", "CAL_TPI", "FLUX", "SEFD"]
        assert hdul[1].data["DEV"][0] == "bbc09"


def test_quirky_files_are_unpadded(sb, url, http, catalogue):
    assert sb.info("grad300")["quirky_rule"] == "id % 10 == 7"
    rec = catalogue["TPI"][16]
    assert rec["id"] == 17
    body = _get_fits(http, url, "TPI", 17)
    assert len(body) == rec["size"] == 14400 + 124 * rec["nsamples"]
    assert b"DIAMETER =                    3" in body[:14400]
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        table = Table.read(io.BytesIO(body), format="fits")
    assert len(table) == rec["nsamples"]


def test_special_scans(sb, url, http, catalogue):
    special = sb.info("grad300")["special"]
    names = {h["file_name"] for h in special["hostile"]}
    assert names == {"../../etc/evil.fits", "..\\..\\Windows\\System32\\evil.fits", "/tmp/absolute-evil.fits"}
    for entry in special["hostile"]:
        r = http.get(f"{url}scans/{entry['scan_type']}/{entry['id']}/download")
        assert r.headers["Content-Disposition"] == f'attachment; filename="{entry["file_name"]}"'
        assert len(r.content) == entry["size"]

    entry = special["non_ascii_name"]
    r = http.get(f"{url}scans/TPI/{entry['id']}/download", headers={"Range": "bytes=0-9"})
    disposition = r.headers["Content-Disposition"]
    assert "filename*=UTF-8''" in disposition and "CASSIOP%C3%89E%20A" in disposition
    assert 'filename="' in disposition and entry["file_name"] == catalogue["TPI"][entry["id"] - 1]["file_name"]

    entry = special["empty_tpi"]
    assert entry["size"] == 14400
    assert len(Table.read(io.BytesIO(_get_fits(http, url, "TPI", entry["id"])), format="fits")) == 0

    rec = catalogue["TPI"][special["corrupt_azel"]["id"] - 1]
    assert rec["azimuth"] is None and rec["elevation"] is None
    table = Table.read(io.BytesIO(_get_fits(http, url, "TPI", rec["id"])), format="fits")
    assert table["Elevation"].max() == 1e307

    rec = catalogue["TPI"][special["empty_object"]["id"] - 1]
    assert rec["object"] == "" and "-PROJ01-_" in rec["file_name"]


def test_generation_is_deterministic():
    params = app._Params({"n_scans": 60})
    first, special = app._generate(params, seed=3)
    again, _ = app._generate(params, seed=3)
    other, _ = app._generate(params, seed=4)
    assert [s["record"] for s in first] == [s["record"] for s in again]
    assert [s["record"] for s in first] != [s["record"] for s in other]
    assert app._Params({"n_scans": {"TPI": 5}}).counts == {"TPI": 5, "Images": 0, "Spectrum": 0, "OnOff": 0}


# -- options -------------------------------------------------------------------------

def test_options(tmp_path):
    options = {"n_scans": {"TPI": 12, "Images": 4, "Spectrum": 3, "OnOff": 2}, "tpi_rows": [10, 20],
               "ignore_filters": True, "content_disposition": "rfc5987", "quirks": "all",
               "require_auth": False, "max_limit": 10, "token_ttl": 1, "big_file_mb": 3,
               "specials": False}
    with Sandbox(services={"grad300": options}, data_dir=tmp_path) as box:
        url, info = box.url("grad300"), box.info("grad300")
        http = _plain()
        assert info["counts"] == {"TPI": 13, "Images": 4, "Spectrum": 3, "OnOff": 2}
        assert set(info["special"]) == {"big_file"}
        tpi = http.get(url + "scans/TPI/", params={"limit": 10}).json()  # no token needed
        assert len(tpi) == 10
        assert http.get(url + "scans/TPI/", params={"limit": 11}).status_code == 422
        ignored = http.get(url + "scans/TPI/", params={"limit": 10, "source": "zzz",
                                                       "date_from": "2100-01-01"}).json()
        assert ignored == tpi
        r = http.get(f"{url}scans/TPI/1/download")
        assert r.headers["Content-Disposition"].startswith("attachment; filename*=UTF-8''")
        assert "%23" in r.headers["Content-Disposition"]
        assert len(r.content) == tpi[0]["size"] == 14400 + 124 * tpi[0]["nsamples"]  # unpadded
        big = info["special"]["big_file"]
        assert big["id"] == 13 and 3 * 2 ** 20 - 124 < big["size"] <= 3 * 2 ** 20 + 2880
        r = http.get(f"{url}scans/TPI/{big['id']}/download", stream=True)
        assert int(r.headers["Content-Length"]) == big["size"]
        assert sum(len(c) for c in r.iter_content(1 << 16)) == big["size"]
        # Tokens live token_ttl seconds.
        cred = box.credentials("grad300")
        token = http.post(url + "login/access-token",
                          data={"username": cred["username"], "password": cred["password"]}).json()["access_token"]
        time.sleep(2.1)
        r = http.post(url + "login/test-token", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403
    # The catalogue is kept in data_dir and reused by a restart with the same options.
    with Sandbox(services={"grad300": options}, data_dir=tmp_path) as box:
        assert _plain().get(box.url("grad300") + "scans/TPI/", params={"limit": 10}).json() == tpi
