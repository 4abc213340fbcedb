"""Your own data in the sandbox: ATLAS objects with light curves, GRAD300 scans, from your files."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import MaskedColumn, Table

from astroquery_ext.exceptions import NoResultsWarning
from astroquery_ext.sandbox import Sandbox, SandboxError


@pytest.fixture(scope="module")
def sb():
    with Sandbox(services={"atlas": {"n_objects": 20, "lc_length": 6, "prewarm": False}, "grad300": {"n_scans": 8}},
                 mode="relaxed") as box:
        yield box


def _atlas(sb):
    client = sb.client("atlas")
    client.login(token=sb.credentials("atlas")["token"], store_token=False)
    return client


def test_atlas_objects_and_light_curves_from_your_files(sb, tmp_path):
    ids = [1101010101111111100, 1101010101111111200]
    Table({"atlas_id": ids, "ra": [150.1, 150.2], "dec": [2.2, 2.3],
           "name": ["ATLAS26mine", "ATLAS26other"]}).write(tmp_path / "objects.fits")
    Table({"atlas_id": [ids[0]] * 3 + [ids[1]], "mjd": [60000.1, 60001.2, 60002.3, 60000.5],
           "filter": ["o", "c", "o", "c"],
           "mag": MaskedColumn([17.5, 17.25, 99.0, 18.0], mask=[False, False, True, False]),
           "magerr": [0.05, 0.04, 0.0, 0.1], "mag5sig": [19.5, 19.4, 19.3, 19.6]}).write(tmp_path / "lc.ecsv")

    assert sb.load_data("atlas", objects=tmp_path / "objects.fits",
                        lightcurves=tmp_path / "lc.ecsv") == {"atlas_ids": ids}
    atlas = _atlas(sb)
    found = atlas.query_region("150.1 2.2", "5 arcsec", cache=False)
    assert list(found["atlas_id"]) == [ids[0]]
    curve = atlas.get_lightcurves([ids[0]], cache=False)
    detected = curve[~curve["mag"].mask] if hasattr(curve["mag"], "mask") else curve
    assert sorted(np.round(detected["mag"], 3).tolist()) == [17.25, 17.5]

    sb.reset("atlas")
    with pytest.warns(NoResultsWarning):
        assert len(atlas.query_region("150.1 2.2", "5 arcsec", cache=False)) == 0


def test_atlas_refuses_a_table_it_cannot_read_and_loads_nothing(sb, tmp_path):
    Table({"ra": [10.0]}).write(tmp_path / "bad.fits")
    with pytest.raises(SandboxError, match="needs the columns ra, dec; missing dec"):
        sb.load_data("atlas", objects=tmp_path / "bad.fits")
    Table({"atlas_id": [1101010101111111300], "ra": [1.0], "dec": [1.0]}).write(tmp_path / "one.fits")
    Table({"atlas_id": [5], "mjd": [60000.0], "filter": ["o"], "mag": [18.0]}).write(tmp_path / "orphan.fits")
    with pytest.raises(SandboxError, match="rows for ids not in objects"):
        sb.load_data("atlas", objects=tmp_path / "one.fits", lightcurves=tmp_path / "orphan.fits")
    assert sb.info("atlas")["n_objects"] == 20
    with pytest.warns(NoResultsWarning):
        assert len(_atlas(sb).query_region("1.0 1.0", "5 arcsec", cache=False)) == 0


def test_grad300_scans_from_your_files(sb, tmp_path):
    client = sb.client("grad300")
    client.login(token=sb.credentials("grad300")["token"], store_token=False)
    before = client.query("TPI", cache=False)
    with client.get_scan(before[0], cache=False) as hdul:
        hdul[0].header["OBJECT"] = "MYSOURCE"
        mine = tmp_path / "20260101-120000_TPI-MYPROJ-MYSOURCE_01#_01#.fits"
        hdul.writeto(mine)
    assert sb.load_data("grad300", scans=[mine])["scans"][0]["scan_type"] == "TPI"

    found = client.query("TPI", source="mysource", cache=False)
    assert list(found["file_name"]) == [mine.name] and found["source"][0] == "MYSOURCE"
    with client.get_scan(found[0], cache=False) as hdul, fits.open(mine) as original:
        assert hdul[0].header["OBJECT"] == "MYSOURCE"
        assert np.array_equal(hdul[1].data, original[1].data)

    sb.reset("grad300")
    assert len(client.query("TPI", cache=False)) == len(before)
