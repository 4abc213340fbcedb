"""The seed client ``grad300-client`` (unmodified) against the GRAD300 sandbox.

Pointed at the sandbox as ``specs/grad300.md`` §9 says: the sandbox URL (with
or without ``/api/v1``) as ``base_url``, with a password login or a token.
Every result is checked against the raw API.

The seed client writes downloads under the record's ``file_name`` without
sanitising it, so these tests never download the sandbox's hostile-name scans
(``info["special"]["hostile"]``) to disk.
"""

from __future__ import annotations

from datetime import datetime
from io import BytesIO

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

grad300_client = pytest.importorskip("grad300_client")

pytestmark = pytest.mark.peers

Grad300 = grad300_client.Grad300


@pytest.fixture(scope="module")
def sb(grad300_sandbox):
    return grad300_sandbox


@pytest.fixture(scope="module")
def raw(grad300_raw):
    return grad300_raw


@pytest.fixture(scope="module")
def client(sb):
    cred = sb.credentials("grad300")
    with Grad300(sb.url("grad300"), user=cred["username"], password=cred["password"]) as c:
        yield c


def _all(raw, scan_type):
    out, offset = [], 0
    while True:
        page = raw(f"scans/{scan_type}/", offset=offset, limit=1000).json()
        out += page
        offset += len(page)
        if len(page) < 1000:
            return out


def _hostile_ids(sb):
    return {(h["scan_type"], h["id"]) for h in sb.info("grad300")["special"].get("hostile", [])}


# Production is unknown on two points (specs/grad300.md §12 items 2 and 11), and the sandbox's default
# takes the more demanding choice: /login/test-token answers POST only (the template the backend forks),
# and file names with '#' come as RFC 5987 filename*= only (what Starlette's FileResponse sends). The
# seed client sends GET and reads only filename="...": against such a server it fails, which these
# strict xfails record; the same checks pass against the relaxed choices (test_token_get,
# content_disposition="quoted"), which the relaxed_sb tests below show.
SEED_GET_TEST_TOKEN = pytest.mark.xfail(
    strict=True, raises=grad300_client.Grad300Error,
    reason="seed client sends GET /login/test-token; the default sandbox, like the template the backend "
           "forks, answers POST only (production unknown: specs/grad300.md §12 item 2)")
SEED_QUOTED_FILENAME_ONLY = pytest.mark.xfail(
    strict=True, raises=AssertionError,
    reason="seed client reads only filename=\"...\" in Content-Disposition; for names with '#' the default "
           "sandbox sends RFC 5987 filename*= only, as Starlette's FileResponse does (production unknown: "
           "specs/grad300.md §6, §12 item 11), so the client falls back to <ScanType>_<id>.fits")


@pytest.fixture(scope="module")
def relaxed_sb(sandboxes):
    return sandboxes.get("grad300", "relaxed")


def _test_token_both_forms(box):
    cred = box.credentials("grad300")
    with Grad300(box.url("grad300"), token=cred["token"]) as c:
        assert c.test_token()["email"] == cred["username"]
    with Grad300(box.origin("grad300"), user=cred["username"], password=cred["password"]) as c:
        assert c.test_token()["is_active"] is True


@SEED_GET_TEST_TOKEN
def test_test_token(sb):
    _test_token_both_forms(sb)


def test_test_token_when_the_server_answers_get(relaxed_sb):
    _test_token_both_forms(relaxed_sb)


def test_connect_forms(sb):
    cred = sb.credentials("grad300")
    with Grad300(sb.url("grad300"), token=cred["token"]) as c:
        assert c.base_api_url == sb.origin("grad300") + "/api/v1"
        assert len(c.list("TPI", limit=1)) == 1
    with Grad300(sb.origin("grad300"), user=cred["username"], password=cred["password"]) as c:
        assert len(c.list("TPI", limit=1)) == 1
    with pytest.raises(grad300_client.AuthenticationError) as err:
        Grad300(sb.origin("grad300"), user=cred["username"], password="wrong")
    assert err.value.status_code == 400 and "Incorrect email or password" in str(err.value)
    with Grad300(sb.origin("grad300"), token=sb.info("grad300")["tokens"]["expired"]) as c:
        with pytest.raises(grad300_client.AuthenticationError):
            c.list("TPI")


def test_list(client, raw):
    table = client.list("Spectrum", limit=7, offset=3)
    expected = raw("scans/Spectrum/", offset=3, limit=7).json()
    assert list(table["id"]) == [r["id"] for r in expected]
    assert table.colnames[:13] == ["id", "scan_type", "file_name", "file_path", "size", "source", "ra",
                                   "dec", "date", "date_obs", "date_end", "gain", "comment"]
    assert list(table["size"]) == [r["size"] for r in expected]
    assert table["ra"][0] == pytest.approx(expected[0]["ra"])


def test_query_source_pages_through_everything(client, raw):
    table = client.query_source("casa", scan_type="TPI", page_size=10)
    expected = [r["id"] for r in _all(raw, "TPI") if "casa" in r["object"].casefold()]
    assert expected and list(table["id"]) == expected
    assert set(table["source"]) == {"casa"}
    # All four types, default page size (TPI has more than 100 scans: two pages).
    table = client.query_source("SUN")
    by_type = {t: [r["id"] for r in _all(raw, t) if "sun" in r["object"]]
               for t in ("TPI", "Images", "Spectrum", "OnOff")}
    assert len(table) == sum(len(v) for v in by_type.values())
    for scan_type, ids in by_type.items():
        assert list(table["id"][table["scan_type"] == scan_type]) == ids


def test_query_date_range(client, raw):
    images = _all(raw, "Images")
    start = datetime.fromisoformat(images[20]["date"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(images[45]["date"].replace("Z", "+00:00"))
    table = client.query_date_range(date_from=start, date_to=end, scan_type="Images")
    assert list(table["id"]) == [r["id"] for r in images[20:46]]
    assert table["date"][0] == start and table["date"][0].tzinfo is not None
    table = client.query_date_range(date_from=start, date_to=end)  # every type
    assert set(table["scan_type"]) >= {"TPI", "Images"}
    assert all(start <= d <= end for d in table["date"])
    # The server sends aware dates (``Z``): the seed client's local filter then fails on
    # naive bounds, as spec §8.2 says the real service makes it do.
    with pytest.raises(TypeError):
        client.query_date_range(date_from=start.replace(tzinfo=None), scan_type="OnOff")


def test_download_to_memory(client, raw, sb):
    hostile = _hostile_ids(sb)
    rows = client.list("TPI", limit=30)
    row = next(r for r in rows if r["id"] > 12 and r["id"] % 10 != 7)
    table = client.download(row)
    expected = Table.read(BytesIO(raw(f"scans/TPI/{row['id']}/download").content), format="fits")
    assert isinstance(table, Table) and len(table) == row["nsamples"]
    assert table.colnames == expected.colnames
    assert np.array_equal(table["LEFT_POL"], expected["LEFT_POL"])

    image = next(r for r in client.list("Images", limit=20) if ("Images", r["id"]) not in hostile)
    hdul = client.download(image)
    try:
        body = raw(f"scans/Images/{image['id']}/download").content
        with fits.open(BytesIO(body)) as ref:
            assert np.array_equal(hdul[0].data, ref[0].data)
        assert hdul[0].header["CRVAL1"] == pytest.approx(image["ra"] * 15)
    finally:
        hdul.close()


def test_download_to_disk(client, raw, sb, tmp_path):
    hostile = _hostile_ids(sb)
    for scan_type in ("TPI", "Images", "Spectrum", "OnOff"):
        row = next(r for r in client.list(scan_type, limit=20) if (scan_type, r["id"]) not in hostile)
        path = client.download(row, destination_dir=tmp_path / scan_type)
        assert path.name == row["file_name"]
        assert path.read_bytes() == raw(f"scans/{scan_type}/{row['id']}/download").content
        assert path.stat().st_size == row["size"]


def _download_by_id_names_from_header(box, tmp_path):
    # Without a file name, the client takes it from Content-Disposition.
    cred = box.credentials("grad300")
    with Grad300(box.url("grad300"), token=cred["token"]) as c:
        path = c.download_by_id(scan_type="OnOff", scan_id=2, destination_dir=tmp_path / "by_id")
        first = [r for r in c.list("OnOff", limit=2) if r["id"] == 2][0]
        assert path.name == first["file_name"]
        with pytest.raises(FileExistsError):
            c.download_by_id(scan_type="OnOff", scan_id=2, destination_dir=tmp_path / "by_id")


@SEED_QUOTED_FILENAME_ONLY
def test_download_by_id_names_the_file_from_the_header(sb, tmp_path):
    _download_by_id_names_from_header(sb, tmp_path)


def test_download_by_id_with_a_quoted_filename_header(relaxed_sb, tmp_path):
    _download_by_id_names_from_header(relaxed_sb, tmp_path)


def test_download_by_scan_name(client, raw, tmp_path):
    spectrum = _all(raw, "Spectrum")[10]
    hdul = client.download_by_scan_name(spectrum["file_name"])
    try:
        assert len(hdul[1].data) == spectrum["nsamples"]
        assert hdul[1].header["NAXIS1"] == 16460
    finally:
        hdul.close()
    tpi = _all(raw, "TPI")[30]
    path = client.download_by_scan_name(tpi["file_name"], scan_type="TPI", destination_dir=tmp_path)
    assert path == tmp_path / tpi["file_name"]
    assert path.read_bytes() == raw(f"scans/TPI/{tpi['id']}/download").content
    with pytest.raises(LookupError):
        client.download_by_scan_name("no-such-scan.fits")


def _non_ascii_name(box, tmp_path):
    entry = box.info("grad300")["special"]["non_ascii_name"]
    cred = box.credentials("grad300")
    with Grad300(box.url("grad300"), token=cred["token"]) as c:
        path = c.download_by_id(scan_type="TPI", scan_id=entry["id"], destination_dir=tmp_path)
    assert path.stat().st_size == entry["size"]
    # The seed client reads only filename="..." (the ASCII fallback), not filename*=.
    assert path.name == entry["file_name"].replace("É", "E")


@SEED_QUOTED_FILENAME_ONLY
def test_non_ascii_name_falls_back_to_quoted_filename(sb, tmp_path):
    _non_ascii_name(sb, tmp_path)


def test_non_ascii_name_with_a_quoted_fallback(relaxed_sb, tmp_path):
    _non_ascii_name(relaxed_sb, tmp_path)
