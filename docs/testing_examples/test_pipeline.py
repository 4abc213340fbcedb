"""A pipeline's tests, with the sandbox standing in for ATLAS and Tupli (no conftest needed)."""

import json

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from astroquery_ext.atlas import Atlas
from astroquery_ext.exceptions import RemoteServiceError
from astroquery_ext.sandbox import Fault
from astroquery_ext.tupli import Tupli


def brightest(coordinates, radius="60 arcsec"):
    """The pipeline under test: the object near a position that was brightest, and its magnitude."""
    objects = Atlas.query_region(coordinates, radius)
    curves = Atlas.get_lightcurves(objects["atlas_id"], show_progress=False)
    mag = np.ma.filled(curves["mag"], np.nan)
    curves = curves[curves["detected"] & (mag > 0)]         # detections of positive flux
    best = curves[np.argmin(curves["mag"])]
    return int(best["atlas_id"]), float(best["mag"])


def test_the_pipeline_against_the_sandbox(atlas_sandbox):
    pair = atlas_sandbox.info()["fixture_pair"]          # two sample objects 25" apart
    atlas_id, mag = brightest(f"{pair['ra']} {pair['dec']}")
    assert atlas_id in pair["ids"] and 10 < mag < 22
    paths = [entry["path"] for entry in atlas_sandbox.request_log()]
    assert paths == ["/api/cone/", "/api/objects/"]     # two requests, no more


def test_a_server_error_reaches_the_user(atlas_sandbox):
    atlas_sandbox.set_faults([Fault("status", status=500, path="/api/objects/")])
    with pytest.raises(RemoteServiceError):
        brightest("0.0216 31.7818")


def test_your_own_objects(atlas_sandbox, tmp_path):
    Table({"atlas_id": [1101010101111111100], "ra": [150.1], "dec": [2.2],
           "name": ["ATLAS26abc"]}).write(tmp_path / "objects.fits")
    Table({"atlas_id": [1101010101111111100] * 3, "mjd": [60000.1, 60001.2, 60002.3],
           "filter": ["o", "c", "o"], "mag": MaskedColumn([17.5, 16.9, 0.0], mask=[False, False, True]),
           "magerr": [0.05, 0.04, 0.0]}).write(tmp_path / "lightcurves.fits")
    atlas_sandbox.load_data(objects=tmp_path / "objects.fits", lightcurves=tmp_path / "lightcurves.fits")
    assert brightest("150.1 2.2", "5 arcsec") == (1101010101111111100, 16.9)


def test_a_write(tupli_sandbox):
    Tupli.store_benchmark(json.dumps({"env": "CartPole-v1"}), {"name": "my-benchmark"})
    assert "my-benchmark" in Tupli.list_benchmarks(cache=False)["name"]


def test_the_next_test_starts_clean(tupli_sandbox):
    assert "my-benchmark" not in Tupli.list_benchmarks(cache=False)["name"]


@pytest.mark.sandbox(mode="relaxed", atlas={"n_objects": 50})
def test_a_smaller_relaxed_atlas(atlas_sandbox):
    assert atlas_sandbox.mode == "relaxed" and atlas_sandbox.info()["n_objects"] == 50
