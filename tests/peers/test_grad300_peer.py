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


def test_connect_forms(sb):
    cred = sb.credentials("grad300")
    with Grad300(sb.url("grad300"), token=cred["token"]) as c:
        assert c.base_api_url == sb.origin("grad300") + "/api/v1"
        assert c.test_token()["email"] == cred["username"]
    with Grad300(sb.origin("grad300"), user=cred["username"], password=cred["password"]) as c:
        assert c.test_token()["is_active"] is True
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
    # Without a file name, the client takes it from Content-Disposition.
    path = client.download_by_id(scan_type="OnOff", scan_id=2, destination_dir=tmp_path / "by_id")
    assert path.name == raw("scans/OnOff/", offset=1, limit=1).json()[0]["file_name"]
    with pytest.raises(FileExistsError):
        client.download_by_id(scan_type="OnOff", scan_id=2, destination_dir=tmp_path / "by_id")


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


def test_non_ascii_name_falls_back_to_quoted_filename(client, raw, sb, tmp_path):
    entry = sb.info("grad300")["special"]["non_ascii_name"]
    path = client.download_by_id(scan_type="TPI", scan_id=entry["id"], destination_dir=tmp_path)
    # The seed client reads only filename="..." (the ASCII fallback), not filename*=.
    assert path.name == entry["file_name"].replace("É", "E")
    assert path.stat().st_size == entry["size"]
