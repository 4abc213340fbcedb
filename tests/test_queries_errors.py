"""Queries, errors and notebooks, the same in the four modules, over real HTTP against the sandbox.

- arguments: angles, times and row limits in every form astroquery users give
  them, checked by the helpers of ``_base/args.py`` before anything is sent;
- results in the order asked; cache lifetimes per endpoint;
- errors: advice that names real parameters, an unreachable server named with
  the setting to check, a wrong API root recognised, error bodies (FastAPI,
  Django REST framework) read one way;
- notebooks: a progress bar in Jupyter, public exception paths.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import re
import socket
import time
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import Angle
from astropy.time import Time

from astroquery_ext._base import no_prompt
from astroquery_ext._base.args import angle_arg, row_limit_arg, time_arg
from astroquery_ext._base.errors import error_detail
from astroquery_ext.atlas import AtlasClass, UnknownIdsWarning
from astroquery_ext.exceptions import (
    InvalidQueryError, LoginError, MaxResultsWarning, NoResultsWarning, NotFoundError, RemoteServiceError)
from astroquery_ext.glance import GlanceClass
from astroquery_ext.grad300 import Grad300Class
from astroquery_ext.tupli import TupliClass


@pytest.fixture
def atlas(atlas_sandbox):
    client = AtlasClass(server=atlas_sandbox.url("atlas"))
    client.retry_backoff = 0.01
    client.login(token=atlas_sandbox.credentials("atlas")["token"], store_token=False)
    atlas_sandbox.clear_request_log("atlas")
    return client


@pytest.fixture
def grad300(grad300_sandbox):
    client = Grad300Class(server=grad300_sandbox.url("grad300"))
    client.retry_backoff = 0.01
    client.login(token=grad300_sandbox.credentials("grad300")["token"])
    grad300_sandbox.clear_request_log("grad300")
    return client


def sent(sandbox, service):
    return [e for e in sandbox.request_log(service) if not e["path"].startswith("/_sandbox")]


# -- angles --------------------------------------------------------------------------------------


def test_radius_in_every_form_astroquery_takes(atlas, atlas_sandbox):
    def radius(value):
        return float(atlas.query_region("0.0216 31.7818", value, get_query_payload=True)["data"]["radius"])

    assert radius(30 * u.arcsec) == pytest.approx(30)
    assert radius("1 arcmin") == pytest.approx(60)
    assert radius("0d0m45s") == pytest.approx(45)
    assert radius(Angle("0.01 deg")) == pytest.approx(36)
    assert radius(0.02) == pytest.approx(72)          # a bare number is degrees, as in astroquery
    assert radius("0.02") == pytest.approx(72)
    assert radius(np.float32(0.01)) == pytest.approx(36, rel=1e-6)
    # a bare number over the server's cap was meant in other units: refused, with the fix
    with pytest.raises(ValueError, match=r"radius=20 is read as 20 degrees .* Give units: radius=20 \* u.arcsec"):
        atlas.query_region("0.0216 31.7818", 20)
    with pytest.raises(ValueError, match="over the server's limit of 300 arcsec"):
        atlas.query_region("0.0216 31.7818", "6 arcmin")
    with pytest.raises(ValueError, match="radius .* is not an angle"):
        atlas.query_region("0.0216 31.7818", "wide")
    with pytest.raises(ValueError, match="radius must be an angle"):
        atlas.query_region("0.0216 31.7818", 3 * u.s)
    with pytest.raises(TypeError, match="radius must be one value"):
        atlas.query_region("0.0216 31.7818", [1, 2])
    assert sent(atlas_sandbox, "atlas") == []
    # and the query runs: an Angle string gives the same rows as the Quantity
    same = atlas.query_region("0.0216 31.7818", "1 arcmin", cache=False)
    assert list(same["atlas_id"]) == list(atlas.query_region("0.0216 31.7818", 60 * u.arcsec, cache=False)["atlas_id"])


def test_list_bounds_take_angles(atlas, atlas_sandbox):
    payload = atlas.query_list("good", ra_min=10 * u.deg, ra_max="3h", dec_min=-0.5, get_query_payload=True)
    assert payload["data"]["ra_gte"] == "10.0" and float(payload["data"]["ra_lte"]) == pytest.approx(45.0)
    assert payload["data"]["dec_gte"] == "-0.5"
    with pytest.raises(ValueError, match="ra_min must be an angle"):
        atlas.query_list("good", ra_min=10 * u.m)
    with pytest.raises(TypeError, match="vra_min must be a number"):
        atlas.query_list("good", vra_min="high")
    assert sent(atlas_sandbox, "atlas") == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoResultsWarning)
        every = atlas.query_list("good")
        east = atlas.query_list("good", ra_min=180 * u.deg)
    assert len(east) < len(every) and (np.asarray(east["ra"]) >= 180).all()


# -- times ---------------------------------------------------------------------------------------


def test_one_time_helper_for_every_form():
    expected = Time("2024-02-22T10:00:00", scale="utc")
    for value in (expected, "2024-02-22T10:00:00", "2024-02-22T10:00:00Z", "2024-02-22T11:00:00+01:00",
                  "2024-02-22 10:00", dt.datetime(2024, 2, 22, 10), expected.mjd, np.float64(expected.mjd),
                  dt.datetime(2024, 2, 22, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5)))):
        assert abs((time_arg(value, "t") - expected).sec) < 1e-3, value
    assert time_arg(dt.date(2024, 2, 22), "t").isot == "2024-02-22T00:00:00.000"
    with pytest.raises(TypeError, match="since must be an astropy Time, .* or a number of MJD"):
        time_arg(True, "since")
    with pytest.raises(ValueError, match="since must be one time"):
        time_arg(Time(["2024-01-01", "2024-01-02"]), "since")


def test_atlas_times_in_every_form(atlas, atlas_sandbox):
    iso = atlas.query_list("good", since="2024-02-22T10:00:00", get_query_payload=True)["data"]["datethreshold"]
    mjd = atlas.query_list("good", since=Time("2024-02-22T10:00:00").mjd, get_query_payload=True)
    when = atlas.query_list("good", since=dt.datetime(2024, 2, 22, 10), get_query_payload=True)
    assert iso == mjd["data"]["datethreshold"] == when["data"]["datethreshold"] == "2024-02-22T10:00:00Z"
    assert sent(atlas_sandbox, "atlas") == []
    # mjd_min takes ISO text and datetimes too, and filters the same rows
    ids = [int(i) for i in atlas.query_list("good", cache=False)["atlas_id"][:3]]
    cut = 60000.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (NoResultsWarning, UnknownIdsWarning))
        by_number = atlas.get_lightcurves(ids, mjd_min=cut, cache=False)
        by_text = atlas.get_lightcurves(ids, mjd_min=Time(cut, format="mjd").isot, cache=False)
        by_datetime = atlas.get_lightcurves(ids, mjd_min=Time(cut, format="mjd").to_datetime(), cache=False)
    assert len(by_number) == len(by_text) == len(by_datetime)
    assert len(by_number) == 0 or float(np.min(by_number["mjd"])) > cut


def test_grad300_dates_in_every_form(grad300, grad300_sandbox):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoResultsWarning)
        everything = grad300.query(scan_type="TPI")
    cut = Time(np.sort(everything["date"])[len(everything) // 2])
    by_time = grad300.query_date_range(cut, scan_type="TPI", cache=False)
    by_mjd = grad300.query_date_range(cut.mjd, scan_type="TPI", cache=False)
    by_iso = grad300.query_date_range(cut.isot + "Z", scan_type="TPI", cache=False)
    assert len(by_time) == len(by_mjd) == len(by_iso) == int((everything["date"] >= cut).sum())


def test_row_limit_helper():
    assert row_limit_arg(5) == 5 and row_limit_arg(-1) == -1 and row_limit_arg(np.int64(3)) == 3
    for bad in (0, -2):
        with pytest.raises(ValueError, match="row_limit must be a positive integer, or -1 for all rows"):
            row_limit_arg(bad)
    for bad in (2.0, True, "10"):
        with pytest.raises(TypeError, match="row_limit must be a positive integer"):
            row_limit_arg(bad)
    assert angle_arg(None, "r", optional=True) is None


def test_grad300_row_limit_is_the_total_over_scan_types(grad300, grad300_sandbox):
    with pytest.warns(MaxResultsWarning, match="row_limit=3"):
        three = grad300.query(row_limit=3)
    assert len(three) == 3  # not 3 per scan type
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaxResultsWarning)
        every = grad300.query(row_limit=-1)
    assert len(every) > 12
    assert [(r["scan_type"], r["id"]) for r in three] == [(r["scan_type"], r["id"]) for r in every[:3]]
    payloads = grad300.query(row_limit=3, get_query_payload=True)
    assert [p["params"]["limit"] for p in payloads] == [3, 3, 3, 3]


# -- results in the order asked, cache lifetimes ------------------------------------------------------


def test_light_curves_come_back_in_the_order_asked(atlas, atlas_sandbox):
    ids = [int(i) for i in atlas.query_list("good", cache=False)["atlas_id"][:6]]
    asked = ids[::-1] if ids[::-1] != sorted(ids) else ids  # any order but sorted
    assert asked != sorted(asked)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoResultsWarning)
        lc = atlas.get_lightcurves(asked, cache=False)
        fp = atlas.get_forced_photometry(asked)
    with_rows = [i for i in asked if i in set(lc["atlas_id"].tolist())]
    assert [int(k) for k in lc.groups.keys["atlas_id"]] == with_rows
    for oid, group in zip(with_rows, lc.groups):
        assert set(group["atlas_id"].tolist()) == {oid}
        assert (np.diff(np.asarray(group["mjd"])) >= 0).all()
    fp_rows = [i for i in asked if i in set(fp["atlas_id"].tolist())]
    assert [int(k) for k in fp.groups.keys["atlas_id"]] == fp_rows
    objects = atlas.query_objects(asked)
    assert [int(i) for i in objects["atlas_id"]] == asked


def _age_entries(root: Path, seconds: float) -> int:
    """Make every cache entry under ``root`` look ``seconds`` old (as if that time had passed)."""
    n = 0
    for path in root.rglob("*.entry"):
        header, _, payload = path.read_bytes().partition(b"\n")
        meta = json.loads(header)
        meta["created"] = time.time() - seconds
        path.write_bytes(json.dumps(meta, separators=(",", ":")).encode() + b"\n" + payload)
        n += 1
    return n


def test_atlas_cone_search_is_cached_minutes_not_a_day(atlas, atlas_sandbox):
    def cones():
        return sum(e["path"].endswith("/cone/") for e in sent(atlas_sandbox, "atlas"))

    atlas.query_region("0.0216 31.7818", 60 * u.arcsec)
    atlas.query_region("0.0216 31.7818", 60 * u.arcsec)
    assert cones() == 1
    assert _age_entries(Path(atlas.cache_location), 240) >= 1
    atlas.query_region("0.0216 31.7818", 60 * u.arcsec)
    assert cones() == 1  # 4 minutes old: still served
    _age_entries(Path(atlas.cache_location), 301)
    atlas.query_region("0.0216 31.7818", 60 * u.arcsec)
    assert cones() == 2  # over 5 minutes old: tonight's detections are asked for again


def test_lists_are_never_cached(atlas, atlas_sandbox):
    for _ in range(2):
        atlas.query_list("good")
        atlas.query_custom_lists("vra")
    paths = [e["path"] for e in sent(atlas_sandbox, "atlas")]
    assert sum(p.endswith("/objectlist/") for p in paths) == 2
    assert sum(p.endswith("/objectgroupslist/") for p in paths) == 2
    assert not list(Path(atlas.cache_location).rglob("*.entry"))


def test_caching_page_states_the_lifetimes_the_code_uses():
    text = (Path(__file__).resolve().parents[1] / "docs" / "caching.rst").read_text()
    stated = {}
    for service, endpoint, seconds in re.findall(r"^\s*(\w+)\s+``([^`]+)``\s+(\d+)\s", text, re.MULTILINE):
        stated[(service, endpoint)] = float(seconds)
    clients = {"atlas": AtlasClass(), "grad300": Grad300Class(), "glance": GlanceClass(), "tupli": TupliClass()}
    assert len(stated) >= 8
    for (service, endpoint), seconds in stated.items():
        client = clients[service]
        assert client._cache_ttl(client._url(endpoint)) == seconds, (service, endpoint)


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [AtlasClass, Grad300Class, TupliClass])
def test_login_advice_names_real_parameters(cls):
    client = cls(server="http://127.0.0.1:9/")
    params = set(inspect.signature(cls.login).parameters)
    with no_prompt(), pytest.raises(LoginError) as err:
        client.login(username="someone") if "username" in params else client.login()
    message = str(err.value)
    named = set(re.findall(r"\b(\w+)=", message))
    assert named <= params, f"{sorted(named - params)} are not parameters of {cls.__name__}.login: {message}"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("cls, call", [
    (AtlasClass, lambda c: c.query_region("1 1", 5 * u.arcsec)),
    (Grad300Class, lambda c: c.list_scans("TPI")),
    (GlanceClass, lambda c: c.query_triggers()),
    (TupliClass, lambda c: c.list_benchmarks()),
])
def test_unreachable_server_names_the_url_and_the_setting(cls, call, monkeypatch):
    port = _closed_port()
    url = f"http://127.0.0.1:{port}/api/"
    client = cls(server=url)
    client.max_retries = 1
    client.retry_backoff = 0.01
    monkeypatch.setenv(f"ASTROQUERY_EXT_{client.service.upper()}_TOKEN", "0" * 40)
    with pytest.raises(RemoteServiceError) as err:
        call(client)
    message = str(err.value)
    assert f"127.0.0.1:{port}" in message and "server= argument" in message and "check the server URL" in message
    # the same server from conf: the message names the conf item
    with cls.conf.set_temp("server", url):
        plain = cls()
        plain.max_retries = 0
        with pytest.raises(RemoteServiceError, match=rf"astroquery_ext\.{cls.service}\.conf\.server"):
            call(plain)


@pytest.mark.parametrize("service, make, call, root", [
    ("atlas", AtlasClass, lambda c: c.query_region("1 1", 5 * u.arcsec, cache=False), "/"),
    ("grad300", Grad300Class, lambda c: c.list_scans("TPI", cache=False), "/api/"),
    ("tupli", TupliClass, lambda c: c.list_benchmarks(), "/api/"),
])
def test_a_wrong_api_root_is_named(service, make, call, root, sandboxes, monkeypatch):
    sb = sandboxes.get(service)
    monkeypatch.setenv(f"ASTROQUERY_EXT_{service.upper()}_TOKEN",
                       sb.credentials(service).get("token") or "0" * 40)
    client = make(server=sb.origin(service) + root)
    with pytest.raises(NotFoundError, match="the server URL looks wrong") as err:
        call(client)
    assert f"server is '{sb.origin(service) + root}'" in str(err.value)
    assert "Check the identifier" not in str(err.value)


def test_a_missing_record_is_not_a_wrong_url(grad300):
    with pytest.raises(NotFoundError) as err:
        grad300.get_scan(987654, scan_type="TPI", cache=False)
    assert "Scan not found" in str(err.value) and "looks wrong" not in str(err.value)


def test_error_bodies_are_read_one_way(grad300, atlas, tupli_sandbox):
    # FastAPI validation errors (GRAD300): the parameter's name, not its location kind
    with pytest.raises(InvalidQueryError, match=r"HTTP 422: limit: Input should be less than or equal to 1000"):
        grad300.list_scans("TPI", limit=5000)
    # Django REST framework field errors (ATLAS)
    with pytest.raises(InvalidQueryError, match=r"dec: This field is required\.; radius: This field is required"):
        atlas._json("POST", "cone/", data={"ra": "1.0"}, auth="required")
    assert error_detail({"detail": [{"loc": ["body", "metadata", "name"], "msg": "Field required"},
                                    {"loc": ["query", "limit"], "msg": "too big"}]}) == \
        "metadata.name: Field required; limit: too big"
    assert error_detail({"non_field_errors": ["Unable to log in."], "password": ["Too short.", "Too common."]}) \
        == "Unable to log in.; password: Too short. Too common."
    assert error_detail({"detail": [{"loc": ["query", str(i)], "msg": "bad"} for i in range(7)]}).endswith(
        "; and 2 more")
    assert error_detail({"title": "Bad Request", "status": 400}) == "Bad Request"
    assert error_detail({}) is None and error_detail(None) is None


# -- notebooks ----------------------------------------------------------------------------------------


def test_exceptions_show_their_public_path():
    import astroquery_ext.exceptions as public

    for name in public.__all__:
        cls = getattr(public, name)
        if cls.__module__.startswith("astroquery_ext"):
            assert cls.__module__ == "astroquery_ext.exceptions", name
    assert UnknownIdsWarning.__module__ == "astroquery_ext.atlas"
    import traceback
    try:
        raise public.LoginError("x")
    except public.LoginError as exc:
        assert "astroquery_ext.exceptions.LoginError: x" in "".join(traceback.format_exception(exc))


def test_docstrings_cite_exceptions_one_way():
    root = Path(__file__).resolve().parents[1] / "astroquery_ext"
    other = []
    for path in root.rglob("*.py"):
        if "sandbox" in path.parts:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"astroquery_ext\._base(\.exceptions)?\.\w+Error", line):
                other.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert not other, "\n".join(other)


def test_progress_bar_shows_in_jupyter(atlas_sandbox, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    token = atlas_sandbox.credentials("atlas")["token"]
    code = (
        "import warnings\n"
        "from astroquery_ext.atlas import AtlasClass, conf\n"
        "conf.chunk_size = 2  # three requests: long work, which shows progress\n"
        f"atlas = AtlasClass(server={atlas_sandbox.url('atlas')!r})\n"
        f"atlas.login(token={token!r}, store_token=False)\n"
        "ids = [int(i) for i in atlas.query_list('good', cache=False)['atlas_id'][:5]]\n"
        "with warnings.catch_warnings():\n"
        "    warnings.simplefilter('ignore')\n"
        "    lc = atlas.get_lightcurves(ids, cache=False)\n"
        "print('rows', len(lc))\n")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=120,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = notebook.cells[0].outputs
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    stdout = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
    assert "rows" in stdout
    assert "5/5" in stderr.replace(" ", "") and "100" in stderr, stderr[-500:]
