"""`astroquery_ext.grad300` over real HTTP against the GRAD300 sandbox.

Most tests use the session's ``grad300_sandbox`` (default options). One small
sandbox of this module has the options of an older, stricter server (filters
ignored, RFC 5987 file names only, tokens that live two seconds) and takes the
fault rules.
"""

from __future__ import annotations

import dataclasses

import datetime as dt
import io
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import requests
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from astroquery_ext._base import (
    DownloadError, InvalidQueryError, LoginError, MaxResultsWarning, NoResultsWarning, NotFoundError)
from astroquery_ext.grad300 import SCAN_TYPES, Grad300, Grad300Class, conf
from astroquery_ext.results import calls
from astroquery_ext.sandbox import Fault, Sandbox

COLUMNS = ["id", "scan_type", "scan_name", "file_path", "size", "source", "ra", "ra_hours", "dec", "date",
           "date_obs", "date_end", "gain", "comment", "azimuth", "elevation", "nsamples", "ctime", "mtime"]


# -- fixtures -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sb(grad300_sandbox):
    return grad300_sandbox


@pytest.fixture(scope="module")
def raw(grad300_raw):
    return grad300_raw


@pytest.fixture(scope="module")
def catalogue(raw):
    out = {}
    for kind in SCAN_TYPES:
        out[kind], offset = [], 0
        while True:
            page = raw(f"scans/{kind}/", offset=offset, limit=1000).json()
            out[kind] += page
            offset += len(page)
            if len(page) < 1000:
                break
    return out


def _client(sandbox):
    client = Grad300Class(server=sandbox.url("grad300"))
    client.retry_backoff = 0.01
    return client


@pytest.fixture
def client(sb):
    client = _client(sb)
    client.login(token=sb.credentials("grad300")["token"])
    sb.clear_request_log("grad300")
    return client


@pytest.fixture
def password_env(sb, monkeypatch):
    cred = sb.credentials("grad300")
    monkeypatch.setenv("ASTROQUERY_EXT_GRAD300_PASSWORD", cred["password"])
    return cred


@pytest.fixture(scope="module")
def old_sb():
    """An older server: ignores filters, sends only ``filename*=``."""
    options = {"n_scans": {"TPI": 30, "Images": 12, "Spectrum": 6, "OnOff": 4}, "tpi_rows": [2000, 3000],
               "ignore_filters": True, "content_disposition": "rfc5987"}
    with Sandbox(services={"grad300": options}) as sandbox:
        yield sandbox


@pytest.fixture
def old(old_sb, monkeypatch):
    old_sb.set_faults("grad300", [])
    cred = old_sb.credentials("grad300")
    monkeypatch.setenv("ASTROQUERY_EXT_GRAD300_PASSWORD", cred["password"])
    client = _client(old_sb)
    client.login(cred["username"])
    old_sb.clear_request_log("grad300")
    return client


def log(sandbox, suffix=""):
    """Requests the sandbox answered (the server logs a download once its body is sent: settle first)."""
    entries, previous = sandbox.request_log("grad300"), None
    while entries != previous:
        time.sleep(0.05)
        previous, entries = entries, sandbox.request_log("grad300")
    return [e for e in entries if e["path"].endswith(suffix)]


def ids(table, kind=None):
    rows = table if kind is None else table[table["scan_type"] == kind]
    return [int(i) for i in rows["id"]]


def clean(catalogue, kind, n):
    """The first ``n`` scans of a type with ordinary names (not the hostile ones)."""
    return [r for r in catalogue[kind] if "evil" not in r["file_name"]][:n]


# -- module shape, configuration ----------------------------------------------------------

def test_public_names_and_conf_read_at_call_time(sb, monkeypatch):
    assert isinstance(Grad300, Grad300Class) and Grad300.service == "grad300"
    assert conf.server.endswith("/api/v1/")
    monkeypatch.setattr(conf, "server", sb.url("grad300"))
    assert Grad300.server == sb.url("grad300") and Grad300Class().server == sb.url("grad300")
    assert Grad300Class(server="http://h/api/v1/").server == "http://h/api/v1/"


# -- login ------------------------------------------------------------------------------

def test_password_login_test_token_and_no_secret_in_sight(sb, password_env):
    client = _client(sb)
    sb.clear_request_log("grad300")
    assert client.login(password_env["username"]) is True
    user = client.test_token()
    assert user["email"] == password_env["username"] and user["is_active"] is True
    assert [(e["method"], e["path"]) for e in sb.request_log("grad300")] == [
        ("POST", "/api/v1/login/access-token"), ("POST", "/api/v1/login/test-token")]
    assert "Authorization" not in client._session.headers
    assert password_env["password"] not in repr(client) and client._auth.token not in repr(client)
    assert "student@example.com" in repr(client)


def test_username_from_conf_and_environment_token(sb, password_env, monkeypatch):
    monkeypatch.setattr(conf, "username", password_env["username"])
    client = _client(sb)
    assert client.login() and client._auth.principal == password_env["username"]
    monkeypatch.setenv("ASTROQUERY_EXT_GRAD300_TOKEN", password_env["token"])
    client = _client(sb)
    sb.clear_request_log("grad300")
    assert client.login() is True and sb.request_log("grad300") == []  # a token: no request
    assert client._auth.expires_at > time.time()  # read from the JWT
    assert len(client.list_scans("OnOff", limit=2)) == 2


@pytest.mark.parametrize("user, password, words", [
    ("student@example.com", "wrong", "Incorrect email or password"),
    ("inactive@example.com", "inactive-secret", "Inactive user"),
])
def test_rejected_login_is_a_login_error_with_the_server_words(sb, monkeypatch, user, password, words):
    monkeypatch.setenv("ASTROQUERY_EXT_GRAD300_PASSWORD", password)
    client = _client(sb)
    with pytest.raises(LoginError, match=words) as info:
        client.login(user)
    assert password not in str(info.value) and not client.authenticated()


def test_no_credentials_says_what_to_do(sb):
    client = _client(sb)
    with pytest.raises(LoginError, match="ASTROQUERY_EXT_GRAD300_USERNAME"):
        client.query_source("sun")


def test_store_password_then_logout_forget(sb, password_env, monkeypatch, user_state):
    client = _client(sb)
    client.login(password_env["username"], store_password=True)
    assert user_state.keyring.entries[("astroquery_ext.grad300", password_env["username"])] == \
        password_env["password"]
    monkeypatch.delenv("ASTROQUERY_EXT_GRAD300_PASSWORD")
    client.logout()
    assert client.login(password_env["username"])  # from the keyring now
    client.get_scan(1, scan_type="OnOff")
    assert list(client.cache_location.rglob("*.fits"))
    client.logout(forget=True)
    assert user_state.keyring.entries == {} and not list(client.cache_location.rglob("*.fits"))
    with pytest.raises(LoginError):
        client.login(password_env["username"])


@pytest.mark.parametrize("which, error, words", [
    ("expired", LoginError, "Could not validate credentials.*log in again"),
    ("bad_signature", LoginError, "Could not validate credentials"),
    ("inactive_user", LoginError, "Inactive user"),
    ("unknown_user", NotFoundError, "User not found"),
])
def test_bad_tokens(sb, which, error, words):
    client = _client(sb)
    token = sb.info("grad300")["tokens"][which]
    client.login(token=token)
    with pytest.raises(error, match=words) as info:
        client.list_scans("TPI")
    assert token not in str(info.value) and info.value.status in (400, 403, 404)
    with pytest.raises(error):
        client.test_token()


def test_missing_token_on_a_server_request_is_401_login_error(sb, raw):
    response = requests.get(sb.url("grad300") + "scans/TPI/", proxies={"http": None})
    assert response.status_code == 401  # what the client would get: it always logs in first
    client = _client(sb)
    with pytest.raises(LoginError, match="No username"):
        client.list_scans("TPI")


def test_expired_token_logs_in_again_when_the_password_is_at_hand(old_sb, old):
    # The login's token has expired on the server (the sandbox's own expired token of the same user; no
    # clock to outrun): the server answers 403, the client logs in again with the password at hand.
    old.logout(forget=True)
    old.login(old_sb.credentials("grad300")["username"], store_token=False)
    old._set_auth(dataclasses.replace(old._auth, token=old_sb.info("grad300")["tokens"]["expired"]))
    old_sb.clear_request_log("grad300")
    table = old.list_scans("OnOff", limit=2)
    assert len(table) == 2
    assert [(e["path"].rsplit("/", 2)[-2], e["status"]) for e in log(old_sb)] == [
        ("OnOff", 403), ("login", 200), ("OnOff", 200)]


# -- listings -------------------------------------------------------------------------------

def test_list_scans_is_one_page_with_units_and_times(client, sb, catalogue):
    table = client.list_scans("spectrum", offset=3, limit=7)
    expected = catalogue["Spectrum"][3:10]
    assert ids(table) == [r["id"] for r in expected]
    assert table.colnames == COLUMNS and set(table["scan_type"]) == {"Spectrum"}
    assert table["ra"].unit == u.deg and table["ra_hours"].unit == u.hourangle
    assert table["ra"][0] == pytest.approx(expected[0]["ra"] * 15) and table["ra_hours"][0] == expected[0]["ra"]
    assert isinstance(table["date"], Time) and table["date"][0] == Time(expected[0]["date"])
    assert table["size"].dtype == np.int64 and table["size"].unit == u.byte
    assert table.meta["service"] == ["grad300"] and calls(table)[0]["query"]["offset"] == 3
    (entry,) = log(sb)
    assert entry["path"] == "/api/v1/scans/Spectrum/"


def test_get_query_payload_sends_nothing(client, sb):
    payload = client.list_scans("Images", limit=5, source="sun", date_from=dt.datetime(2025, 2, 5),
                                get_query_payload=True)
    assert payload["url"] == sb.url("grad300") + "scans/Images/"
    assert payload["params"] == {"offset": 0, "limit": 5, "source": "sun", "date_from": "2025-02-05T00:00:00Z"}
    assert log(sb) == []


def test_query_all_types_pages_concurrently(client, sb, catalogue, monkeypatch):
    monkeypatch.setattr(conf, "page_size", 40)
    table = client.query()
    for kind in SCAN_TYPES:
        assert ids(table, kind) == [r["id"] for r in catalogue[kind]]
    assert list(dict.fromkeys(table["scan_type"])) == list(SCAN_TYPES)
    # Per type: the first page, then rounds of max_workers pages until a
    # short one, so at most max_workers - 1 pages past the end.
    for kind in SCAN_TYPES:
        pages = [e for e in log(sb, f"/scans/{kind}/") if e["status"] == 200]
        needed = len(catalogue[kind]) // 40 + 1
        assert needed <= len(pages) <= needed + 3


def test_query_keeps_max_workers_requests_in_flight(client, sb, catalogue, monkeypatch):
    monkeypatch.setattr(conf, "page_size", 10)
    sb.set_faults("grad300", [Fault("delay", seconds=0.05, path="/api/v1/scans/*/")])
    try:
        start = time.perf_counter()
        table = client.query(max_workers=2)
        elapsed = time.perf_counter() - start
    finally:
        sb.set_faults("grad300", [])
    assert len(table) == sum(len(v) for v in catalogue.values())
    n = len(log(sb, "/"))
    # With 2 in flight, n requests of 50 ms each take at least n/2 * 50 ms.
    assert elapsed >= n / 2 * 0.05 * 0.9


def test_query_source_and_scan_name(client, catalogue):
    table = client.query_source("CasA")  # case-insensitive substring of the target
    for kind in SCAN_TYPES:
        assert ids(table, kind) == [r["id"] for r in catalogue[kind] if "casa" in r["object"]]
    name = catalogue["TPI"][20]["file_name"]
    table = client.query_scan_name(name[:15].lower(), scan_type="tpi")
    assert ids(table) == [r["id"] for r in catalogue["TPI"] if name[:15].lower() in r["file_name"].lower()]


def test_query_date_range_accepts_naive_aware_time_and_strings(client, catalogue):
    images = catalogue["Images"]
    start, end = images[20]["date"], images[45]["date"]
    aware = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
    naive = aware.replace(tzinfo=None)
    paris = aware.astimezone(dt.timezone(dt.timedelta(hours=1)))
    expected = [r["id"] for r in images[20:46]]
    for date_from in (aware, naive, paris, Time(start), start, start.replace("Z", "")):
        table = client.query_date_range(date_from, end, scan_type="Images")
        assert ids(table) == expected, date_from
    everything = client.query_date_range(date_to=end)
    assert all(t <= Time(end) for t in everything["date"]) and len(everything) > len(expected)


def test_row_limit_warns_and_empty_result_is_typed(client, catalogue):
    with pytest.warns(MaxResultsWarning):
        table = client.query("TPI", row_limit=5)
    assert ids(table) == [r["id"] for r in catalogue["TPI"][:5]]
    with pytest.warns(NoResultsWarning):
        empty = client.query_source("no-such-target")
    assert len(empty) == 0 and empty.colnames == COLUMNS and isinstance(empty["date"], Time)
    assert empty["id"].dtype == np.int64


def test_filters_are_applied_locally_when_the_server_ignores_them(old, old_sb):
    everything = old.query()
    casa = old.query_source("casa")
    assert len(casa) == sum("casa" in s for s in everything["source"]) and len(casa) < len(everything)
    cut = everything["date"][10]
    later = old.query_date_range(date_from=cut.datetime)
    assert len(later) == sum(everything["date"] >= cut)


def test_422_detail_is_readable(client):
    with pytest.raises(InvalidQueryError, match=r"answered HTTP 422: limit: Input should be less than or equal to 1000"):
        client.list_scans("TPI", limit=5000)


@pytest.mark.parametrize("call, message", [
    (lambda c: c.list_scans("Radio"), "scan_type must be one of 'TPI', 'Images', 'Spectrum', 'OnOff'"),
    (lambda c: c.query("maps"), "scan_type must be one of"),
    (lambda c: c.list_scans("TPI", offset=-1), "offset must be an integer >= 0"),
    (lambda c: c.list_scans("TPI", limit=0), "limit must be an integer >= 1"),
    (lambda c: c.list_scans("TPI", limit=2.5), "limit must be an integer"),
    (lambda c: c.query(row_limit=-3), "row_limit must be"),
    (lambda c: c.query(max_workers=0), "max_workers must be an integer from 1"),
    (lambda c: c.query(source=""), "source must be a non-empty string"),
    (lambda c: c.query_source(None), "source must be a non-empty string"),
    (lambda c: c.query_date_range(), "needs date_from, date_to or both"),
    (lambda c: c.query_date_range("yesterday"), "date_from must be an astropy Time, a datetime"),
    (lambda c: c.query_date_range(object()), "date_from must be an astropy Time, a datetime"),
    (lambda c: c.query_date_range("2025-03-01", "2025-02-01"), "date_to .* is before date_from"),
    (lambda c: c.get_scan(5), "scan_type is needed with a scan id"),
    (lambda c: c.get_scan({"id": 5}), "needs 'id' and 'scan_type'"),
    (lambda c: c.get_scan(5, scan_type="x"), "scan_type must be one of"),
    (lambda c: c.download_scans([{"id": 1, "scan_type": "TPI"}], errors="maybe"), "errors must be"),
    (lambda c: c.download_scans([{"id": 1, "scan_type": "TPI"}], max_workers=99), "max_workers"),
    (lambda c: c.download_scans([{"id": 1, "scan_type": "TPI"}] * 2), "same scan more than once"),
    (lambda c: c.download_scans([{"scan_type": "TPI"}]), "row 0 needs 'id'"),
])
def test_bad_arguments_raise_before_any_request(client, sb, call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(client)
    assert log(sb) == []


def test_bad_argument_types(client, sb):
    with pytest.raises(TypeError, match="row_or_id"):
        client.get_scan(3.5)
    with pytest.raises(TypeError, match="rows must be"):
        client.download_scans("TPI 1")
    assert log(sb) == []


# -- files in memory ------------------------------------------------------------------------------

def test_get_scan_tpi_is_an_hdulist_and_the_cache_makes_no_request(client, sb, raw, catalogue):
    record = catalogue["TPI"][13]
    row = client.list_scans("TPI", offset=13, limit=1)[0]
    sb.clear_request_log("grad300")
    hdul = client.get_scan(row)
    assert isinstance(hdul, fits.HDUList)
    table = Table.read(hdul[1])
    assert len(log(sb, "/download")) == 1
    again = Table.read(client.get_scan(row)[1])  # from the cache, checked against the size
    assert len(log(sb)) == 1 and np.array_equal(again["JD"], table["JD"])
    client.get_scan(record["id"], scan_type="TPI", cache=False)
    assert len(log(sb, "/download")) == 2
    expected = Table.read(io.BytesIO(raw(f"scans/TPI/{record['id']}/download").content), hdu=1)
    assert isinstance(table, Table) and len(table) == record["nsamples"]
    assert table.colnames == expected.colnames and np.array_equal(table["LEFT_POL"], expected["LEFT_POL"])
    assert table["Azimuth"].unit == u.deg
    files = list(client.cache_location.rglob("*.fits"))
    assert len(files) == 1 and files[0].stat().st_size == record["size"]
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"


def test_cache_file_of_the_wrong_size_is_not_reused(client, sb, catalogue):
    row = client.list_scans("OnOff", limit=1)[0]
    client.get_scan(row)
    (path,) = client.cache_location.rglob("*.fits")
    path.write_bytes(path.read_bytes()[:-100])
    sb.clear_request_log("grad300")
    hdul = client.get_scan(row)
    assert len(log(sb, "/download")) == 1 and path.stat().st_size == row["size"]
    assert hdul[1].data is not None


def test_get_scan_other_types_are_hdulists(client, raw, catalogue):
    image = clean(catalogue, "Images", 3)[2]
    hdul = client.get_scan(image["id"], scan_type="images")
    with fits.open(io.BytesIO(raw(f"scans/Images/{image['id']}/download").content)) as ref:
        assert np.array_equal(hdul[0].data, ref[0].data)
    assert hdul[0].header["CRVAL1"] == pytest.approx(image["ra"] * 15)
    spectrum = client.get_scan(catalogue["Spectrum"][0]["id"], scan_type="Spectrum")
    assert spectrum[1].data["LEFT_POL"].shape == (catalogue["Spectrum"][0]["nsamples"], 1024)


def test_archive_quirks_do_not_warn_and_special_files_read(client, sb):
    special = sb.info("grad300")["special"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for kind in SCAN_TYPES:  # id 7: written as RadioUniversePRO does (no padding, DIAMETER card)
            result = client.get_scan(7, scan_type=kind)
            assert isinstance(result, fits.HDUList) and len(result) > 0
            assert result[-1].header["DIAMETER"] == 3  # "DIAMETER =" read as the value it is meant to be
        empty = Table.read(client.get_scan(special["empty_tpi"]["id"], scan_type="TPI")[1])
        assert len(empty) == 0 and "LEFT_POL" in empty.colnames
        corrupt = Table.read(client.get_scan(special["corrupt_azel"]["id"], scan_type="TPI")[1])
        azimuth = np.abs(corrupt["Azimuth"])  # garbage rows, served as the archive has them
        assert np.any((azimuth > 0) & (azimuth < 1e-300)) or np.any(azimuth > 1e300)


def test_unknown_scan_is_not_found(client):
    with pytest.raises(NotFoundError, match="Scan not found"):
        client.get_scan(99999, scan_type="TPI")


# -- files on disk ------------------------------------------------------------------------------------

def test_download_scans_to_disk_then_exists_then_overwrite(client, sb, raw, catalogue, tmp_path):
    with pytest.warns(MaxResultsWarning):
        rows = client.query("OnOff", row_limit=3)
    sb.clear_request_log("grad300")
    result = client.download_scans(rows, tmp_path, show_progress=False)
    assert result.colnames == ["id", "scan_type", "scan_name", "local_path", "bytes", "status", "error"]
    assert list(result["status"]) == ["downloaded"] * 3
    for out, rec in zip(result, catalogue["OnOff"][:3]):
        path = tmp_path / rec["file_name"]
        assert out["local_path"] == str(path) and out["bytes"] == rec["size"]
        assert path.read_bytes() == raw(f"scans/OnOff/{rec['id']}/download").content
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(r["file_name"] for r in catalogue["OnOff"][:3])
    sb.clear_request_log("grad300")
    again = client.download_scans(rows, tmp_path, show_progress=False)
    assert list(again["status"]) == ["exists"] * 3 and log(sb) == []
    forced = client.download_scans(rows[:1], tmp_path, overwrite=True, show_progress=False)
    assert list(forced["status"]) == ["downloaded"] and len(log(sb, "/download")) == 1


def test_hostile_names_stay_inside_the_directory(client, sb, raw, tmp_path):
    hostile = sb.info("grad300")["special"]["hostile"]
    rows = [client.list_scans("Images", offset=h["id"] - 1, limit=1)[0] for h in hostile]
    target = tmp_path / "inner"
    result = client.download_scans(rows, target, show_progress=False)
    assert sorted(p.name for p in target.iterdir()) == ["absolute-evil.fits", "evil.fits", "evil_Images-7.fits"]
    assert [p.name for p in tmp_path.iterdir()] == ["inner"]
    for out, h in zip(result, hostile):
        assert os.path.dirname(out["local_path"]) == str(target)
        assert open(out["local_path"], "rb").read() == raw(f"scans/Images/{h['id']}/download").content
    assert list(result["scan_name"]) == [h["file_name"] for h in hostile]


def test_non_ascii_and_header_names(client, sb, tmp_path, old):
    entry = sb.info("grad300")["special"]["non_ascii_name"]
    result = client.download_scans([client.query("TPI", row_limit=-1)[entry["id"] - 1]], tmp_path,
                                   show_progress=False)
    assert (tmp_path / entry["file_name"]).stat().st_size == entry["size"]
    assert result["scan_name"][0] == entry["file_name"]
    # No file name in the row: it comes from Content-Disposition (here only filename*=).
    name = old.list_scans("TPI", offset=1, limit=1)["scan_name"][0]
    result = old.download_scans({"id": 2, "scan_type": "TPI"}, tmp_path / "by_id", show_progress=False)
    assert os.path.basename(result["local_path"][0]) == name


def test_resume_after_a_connection_drop_mid_file(old, old_sb, tmp_path):
    row = old.list_scans("TPI", limit=1)[0]
    old_sb.set_faults("grad300", [Fault("truncate", path="/api/v1/scans/*/download", nth=[1], fraction=0.4)])
    old_sb.clear_request_log("grad300")
    result = old.download_scans(row, tmp_path, show_progress=False)
    assert result["status"][0] == "downloaded" and result["bytes"][0] == row["size"]
    assert [e["status"] for e in log(old_sb, "/download")] == [200, 206]
    old_sb.set_faults("grad300", [])
    reference = Table.read(old.get_scan(row, cache=False)[1])
    assert np.array_equal(Table.read(tmp_path / row["scan_name"], hdu=1)["JD"], reference["JD"])
    assert [p.name for p in tmp_path.iterdir()] == [row["scan_name"]]


def test_a_truncated_body_is_never_accepted(old, old_sb, tmp_path):
    rows = old.list_scans("TPI", limit=2)
    old.max_retries = 1
    old_sb.set_faults("grad300", [Fault("truncate", path="/api/v1/scans/TPI/1/download", fraction=0.5)])
    with pytest.raises(DownloadError, match="1 of 2 downloads failed") as info:
        old.download_scans(rows, tmp_path, show_progress=False)
    assert list(info.value.table["status"]) == ["error", "downloaded"]
    assert not (tmp_path / rows["scan_name"][0]).exists()
    assert (tmp_path / (rows["scan_name"][0] + ".part")).exists()  # kept, to resume
    table = old.download_scans(rows, tmp_path, errors="ignore", show_progress=False)
    assert list(table["status"]) == ["error", "exists"] and "broke" in table["error"][0]
    with pytest.raises(DownloadError):
        old.get_scan(rows[0])
    assert not list(old.cache_location.rglob("*.fits"))


def test_scans_by_name_in_memory_and_to_a_directory(client, raw, catalogue, tmp_path):
    spectrum = catalogue["Spectrum"][10]
    hdul = client.get_scan(spectrum["file_name"])
    assert isinstance(hdul, fits.HDUList) and len(hdul[1].data) == spectrum["nsamples"]
    tpi = catalogue["TPI"][30]
    result = client.download_by_scan_name(tpi["file_name"], tmp_path, scan_type="TPI")
    assert isinstance(result, Table) and len(result) == 1 and result["status"][0] == "downloaded"
    path = Path(result["local_path"][0])
    assert path == tmp_path / tpi["file_name"]
    assert path.read_bytes() == raw(f"scans/TPI/{tpi['id']}/download").content
    with pytest.raises(NotFoundError, match="no scan is named"):
        client.download_by_scan_name("no-such-scan.fits", tmp_path)
    with pytest.raises(NotFoundError, match="no scan is named"):
        client.get_scan("no-such-scan.fits")
    with pytest.raises(LookupError):
        client.download_by_scan_name(tpi["file_name"], tmp_path, scan_type="OnOff")


def test_no_token_in_cache_files_or_errors(client, sb, tmp_path):
    token = sb.credentials("grad300")["token"]
    client.query("OnOff")
    client.get_scan(1, scan_type="OnOff")
    for path in client.cache_location.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes()
    with pytest.raises(NotFoundError) as info:
        client.get_scan(123456, scan_type="OnOff")
    assert token not in str(info.value) and token not in repr(info.value.__dict__)


def test_a_stored_session_is_reused_without_the_password(sb, password_env, monkeypatch, user_state):
    first = _client(sb)
    assert first.login(password_env["username"]) is True
    account = f"session:{password_env['username']}@{first.server.rstrip('/')}"
    assert ("astroquery_ext.grad300", account) in user_state.keyring.entries
    assert password_env["password"] not in user_state.keyring.entries[("astroquery_ext.grad300", account)]
    monkeypatch.delenv("ASTROQUERY_EXT_GRAD300_PASSWORD")
    sb.clear_request_log("grad300")
    later = _client(sb)
    assert later.login(password_env["username"]) is True          # no password anywhere: the stored token
    assert log(sb, "/login/access-token") == []
    assert later.test_token()
    later.logout(forget=True)
    assert ("astroquery_ext.grad300", account) not in user_state.keyring.entries
