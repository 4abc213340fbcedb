"""Every result table of the four modules writes to FITS, VOTable and ECSV and reads back.

The tables come from real calls against the sandboxes. Each is written with
the user's plain ``table.write(path)`` (format from the extension) with every
warning turned into an error, then read back, with ``Table.read`` (the file as
it is: row count, column names) and with ``ResultTable.read`` (the values and
types the module gave: times, nested records, non-ASCII text, meta).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest
import pyvo
import requests
from astropy import units as u
from astropy.io.votable import parse as parse_votable
from astropy.table import Column, Table, join, vstack
from astropy.time import Time
from astropy.utils.exceptions import AstropyDeprecationWarning
from erfa import ErfaWarning

from astroquery_ext._base import ResultTable
from astroquery_ext.atlas import AtlasClass
from astroquery_ext.grad300 import SCAN_TYPES, Grad300Class
from astroquery_ext.results import calls, prepare_table
from astroquery_ext.tupli import Filter, TupliClass

EXTENSIONS = {"fits": "fits", "votable": "xml", "ascii.ecsv": "ecsv"}


def _quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(*args, **kwargs)


def _atlas(sb, tmp):
    client = AtlasClass(server=sb.url("atlas"))
    client.login(token=sb.credentials("atlas")["token"])
    info = sb.info("atlas")
    ids = info["example_ids"][:3]
    pos = info["positions"][0]
    parts = _quiet(client.get_objects, ids + [info["missing_id"]], show_progress=False)
    out = {"atlas.query_region": client.query_region(f"{pos['ra']} {pos['dec']}", 60 * u.arcsec),
           "atlas.query_objects": client.query_objects(ids, show_progress=False),
           "atlas.get_lightcurves": _quiet(client.get_lightcurves, ids + [info["missing_id"]], show_progress=False),
           "atlas.get_forced_photometry": client.get_forced_photometry(ids, show_progress=False),
           "atlas.query_list": client.query_list("good"),
           "atlas.query_custom_lists": _quiet(client.query_custom_lists, "vra"),
           "atlas.query_vra_scores": _quiet(client.query_vra_scores),
           "atlas.query_external_names": client.query_external_names("AT 2020tjh"),
           "atlas.query_region[empty]": _quiet(client.query_region, "12h00m00s -60d00m00s", 1 * u.arcsec)}
    for name in parts.keys():
        out[f"atlas.get_objects[{name}]"] = parts[name]
    return out


def _grad300(sb, tmp):
    client = Grad300Class(server=sb.url("grad300"))
    client.login(token=sb.credentials("grad300")["token"])
    out = {f"grad300.query[{kind}]": client.query(kind, row_limit=-1) for kind in SCAN_TYPES}
    out["grad300.query_source[casa]"] = client.query_source("casa")
    out["grad300.query_source[empty]"] = _quiet(client.query_source, "no-such-source")
    out["grad300.list_scans"] = client.list_scans("Images", limit=5)
    out["grad300.download_scans"] = client.download_scans(out["grad300.list_scans"][:2], tmp,
                                                          show_progress=False)
    return out


def _glance(sb, tmp):
    # The sandbox hands out its clients (Sandbox.client); before that, the Glance class knew the sandbox.
    client = sb.client("glance")
    client.login(open_browser=lambda url: requests.get(url, timeout=10))
    known = sb.info("glance")["known"]
    out = {f"glance.{name}": getattr(client, name)() for name in (
        "query_analyses", "query_papers", "query_confnotes", "query_pubnotes", "query_plots",
        "query_publications", "query_leading_groups", "query_subgroups", "query_triggers")}
    out["glance.get_analysis"] = client.get_analysis(known["analysis"][0])
    out["glance.get_paper"] = client.get_paper(known["paper"][0])
    out["glance.query_papers[empty]"] = _quiet(client.query_papers, 'referenceCode = "NONE-1999-01"')
    return out


def _tupli(sb, tmp):
    client = TupliClass(server=sb.url("tupli"))
    client.login("alice", password=sb.credentials("tupli", "alice")["password"])
    name = f"travel-{uuid.uuid4().hex[:8]}"
    bench = client.store_benchmark(json.dumps({"env": name}), {"name": name, "description": "Wärme ± 1 σ"})
    bench_id = bench["id"][0]
    artifact = client.store_artifact(b"weights", {"name": f"{name}.bin"})
    n = 4
    first = {"state": np.arange(n * 2, dtype=float).reshape(n, 2), "action": np.arange(n), "reward": [1.0] * n,
             "terminal": [False] * (n - 1) + [True], "info": [{"k": i} for i in range(n)]}
    second = [{"state": [float(i)], "action": i, "reward": 0.5} for i in range(3)]
    episodes = client.record_episodes(bench_id, [first, second], {"src": "travel"})
    mine = Filter("benchmark_id") == bench_id
    out = {"tupli.list_benchmarks": client.list_benchmarks(Filter("metadata.name") == name),
           "tupli.list_artifacts": client.list_artifacts(),
           "tupli.record_episodes": episodes,
           "tupli.list_episodes": client.list_episodes(mine),
           "tupli.list_episodes[include_tuples]": client.list_episodes(mine, include_tuples=True),
           "tupli.get_episode": client.get_episode(episodes["id"][0]),
           "tupli.get_tuples": client.get_tuples(mine),
           "tupli.list_groups": client.list_groups(),
           "tupli.list_users": client.list_users()}
    admin = TupliClass(server=sb.url("tupli"))
    admin.login("admin", password=sb.credentials("tupli", "admin")["password"])
    out["tupli.list_roles"] = admin.list_roles()
    for item in (*episodes["id"],):
        client.delete_episode(item)
    client.delete_artifact(artifact["id"][0])
    client.delete_benchmark(bench_id)
    return out


@pytest.fixture(scope="module")
def results(atlas_sandbox, grad300_sandbox, glance_sandbox, tupli_sandbox, tmp_path_factory):
    tables = {}
    for make, sb in ((_atlas, atlas_sandbox), (_grad300, grad300_sandbox), (_glance, glance_sandbox),
                     (_tupli, tupli_sandbox)):
        tables.update(make(sb, tmp_path_factory.mktemp("downloads")))
    return tables


NAMES = ([f"atlas.{n}" for n in ("query_region", "query_objects", "get_lightcurves", "get_forced_photometry",
                                  "query_list", "query_custom_lists", "query_vra_scores", "query_external_names",
                                  "query_region[empty]")]
         + [f"atlas.get_objects[{n}]" for n in ("object", "lc", "lcnondets", "fp", "sherlock_crossmatches",
                                                   "sherlock_classifications", "tns_crossmatches",
                                                   "external_crossmatches")]
         + [f"grad300.query[{k}]" for k in SCAN_TYPES]
         + ["grad300.query_source[casa]", "grad300.query_source[empty]", "grad300.list_scans",
            "grad300.download_scans"]
         + [f"glance.{n}" for n in ("query_analyses", "query_papers", "query_confnotes", "query_pubnotes",
                                    "query_plots", "query_publications", "query_leading_groups",
                                    "query_subgroups", "query_triggers", "get_analysis", "get_paper",
                                    "query_papers[empty]")]
         + [f"tupli.{n}" for n in ("list_benchmarks", "list_artifacts", "record_episodes", "list_episodes",
                                   "list_episodes[include_tuples]", "get_episode", "get_tuples", "list_groups",
                                   "list_users", "list_roles")])


def _same(a, b, where):
    """Values equal, as the module gave them; NaN equals NaN, masked equals masked."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a).tolist(), np.asarray(b).tolist()
    if isinstance(a, Table):
        a = [{n: r[n] for n in a.colnames} for r in a]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        a = a.item() if isinstance(a, np.generic) else a
        b = b.item() if isinstance(b, np.generic) else b
        assert a == b, f"{where}: {a!r} != {b!r}"


def _shape(table):
    """What writing must leave alone: column classes, dtypes, units, masks, and the meta."""
    columns = [(name, type(col).__name__, str(getattr(col, "dtype", "")), str(getattr(col, "unit", "")),
                int(np.count_nonzero(col.mask)) if getattr(col, "masked", False) or hasattr(col, "mask") else 0)
               for name, col in table.columns.items()]
    return columns, json.dumps(table.meta, sort_keys=True, default=str)


def _check_column(original, back, name):
    col, got = original[name], back[name]
    if isinstance(col, Time):
        assert isinstance(got, Time), f"{name}: {type(got).__name__}"
        mask = np.array(col.mask, bool) if col.masked else np.zeros(len(col), bool)
        got_mask = np.array(got.mask, bool) if got.masked else np.zeros(len(got), bool)
        assert (mask == got_mask).all(), name
        if (~mask).any():
            a, b = col[~mask], got[~mask]
            a, b = (a.unmasked if a.masked else a), (b.unmasked if b.masked else b)
            diff = np.abs((a.jd1 - b.jd1) + (a.jd2 - b.jd2)) * 86400.0
            assert np.nanmax(np.ma.getdata(diff)) < 1e-3, f"{name}: times differ by {diff.max()} s"
        return
    mask = np.ma.getmaskarray(col)
    assert (np.ma.getmaskarray(got) == mask).all() or col.dtype.kind in "OU", name
    assert col.unit == getattr(got, "unit", None), f"{name}: unit {col.unit} != {got.unit}"
    for i in range(len(col)):
        if mask.ndim == 1 and mask[i]:
            continue
        a, b = col[i], got[i]
        if isinstance(a, np.ma.core.MaskedConstant):
            continue
        if col.dtype.kind == "U" and a == "" and b is np.ma.masked:
            continue  # ECSV and FITS write an empty text as an empty field, which reads back as missing
        if col.dtype.kind == "O":
            _same(a, b, f"{name}[{i}]")
        else:
            _same(np.asarray(a).tolist(), np.asarray(b).tolist(), f"{name}[{i}]")


@pytest.mark.parametrize("fmt", list(EXTENSIONS))
@pytest.mark.parametrize("name", NAMES)
def test_result_table_round_trips(results, name, fmt, tmp_path):
    table = results[name]
    assert isinstance(table, ResultTable), f"{name} returned {type(table).__name__}"
    path = tmp_path / f"result.{EXTENSIONS[fmt]}"
    before = _shape(table)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table.write(path)  # the format from the extension, as a user writes it
        back = ResultTable.read(path)
        with warnings.catch_warnings():
            # astropy's own ECSV reader warns on dates before 1960 or past the leap-second table
            warnings.filterwarnings("ignore", message=".*dubious year", category=ErfaWarning)
            plain = Table.read(path)
        if not any(table[c].ndim > 1 for c in table.colnames):  # pandas has no multidimensional columns
            assert len(table.to_pandas()) == len(table)
    assert _shape(table) == before, "writing changed the table in memory"
    assert len(plain) == len(back) == len(table)
    assert plain.colnames == back.colnames == table.colnames
    for column in table.colnames:
        _check_column(table, back, column)
    if fmt == "votable":  # a VO client reads it as DAL results (RESOURCE type="results", QUERY_STATUS OK)
        results_ = pyvo.dal.DALResults(parse_votable(str(path)))
        assert len(results_) == len(table) and results_.fieldnames == tuple(table.colnames)
    for key in ("service", "url", "query", "retrieved"):
        if key in table.meta:
            found = {k.lower(): v for k, v in back.meta.items()}
            _same(table.meta[key], found[key], f"meta[{key}]")


def test_every_table_name_was_produced(results):
    assert sorted(results) == sorted(NAMES)


# -- combining results: vstack and join merge the meta, and what they give still writes ------------------

#: Per module: two results of different calls that stack, and two that join (left, right, keys).
STACKS = {"atlas": ("atlas.query_region", "atlas.query_region[empty]"),
          "grad300": ("grad300.query[TPI]", "grad300.query[Images]", "grad300.query_source[casa]"),
          "glance": ("glance.query_papers", "glance.get_paper", "glance.query_papers[empty]"),
          "tupli": ("tupli.list_episodes", "tupli.record_episodes")}
JOINS = {"atlas": ("atlas.query_objects", "atlas.get_forced_photometry", {"keys": "atlas_id"}),
         "grad300": ("grad300.list_scans", "grad300.download_scans", {"keys": "id"}),
         "glance": ("glance.query_analyses", "glance.get_analysis", {"keys": "referenceCode"}),
         "tupli": ("tupli.list_episodes", "tupli.get_tuples", {"keys_left": "id", "keys_right": "episode_id"})}


def _fits_unit(unit) -> bool:
    try:
        return unit is None or bool(unit.to_string(format="fits"))
    except ValueError:  # hourangle
        return False


@contextlib.contextmanager
def _strict():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # astropy's own text output of dates before 1960 or past the leap-second table (Glance's far dates)
        warnings.filterwarnings("ignore", message=".*dubious year", category=ErfaWarning)
        yield


def _combined(results, service, how):
    with _strict():  # MergeConflictWarning would be an error here
        if how == "vstack":
            parts = [results[name] for name in STACKS[service]]
            return vstack(parts), len(parts)
        left, right, keys = JOINS[service]
        return join(results[left], results[right], **keys), 2


@pytest.mark.parametrize("how", ["vstack", "join"])
@pytest.mark.parametrize("service", list(STACKS))
def test_combined_results_merge_their_meta_and_write(results, service, how, tmp_path):
    table, n_calls = _combined(results, service, how)
    assert isinstance(table, ResultTable) and len(table) > 0
    made = calls(table)
    assert len(made) == n_calls and {c["service"] for c in made} == {service}
    assert all(isinstance(c["query"], dict) and c["fetched"].endswith("Z") for c in made)
    for fmt, ext in EXTENSIONS.items():
        path = tmp_path / f"combined.{ext}"
        with _strict():
            table.write(path)
            back = ResultTable.read(path)
            plain = Table.read(path)
        assert len(back) == len(plain) == len(table) and back.colnames == plain.colnames == table.colnames, fmt
        assert calls(back) == made, fmt

    # A plain Table of it: ECSV writes it as astropy does; FITS holds the meta card by card (the columns a
    # FITS table can take as they are, all of them after prepare_table).
    plain = Table(table)
    with _strict():
        plain.write(tmp_path / "plain.ecsv")
        assert Table.read(tmp_path / "plain.ecsv").colnames == plain.colnames
        simple = Table({"row": np.arange(len(plain))}, meta=plain.meta)
        for name in plain.colnames:
            col = plain[name]
            if isinstance(col, Column) and col.dtype.kind in "biuf" and _fits_unit(col.unit):
                simple[name] = col
        simple.write(tmp_path / "plain.fits")
        back = Table.read(tmp_path / "plain.fits")
        assert len(back) == len(plain) and back.colnames == simple.colnames and calls(back) == made
        prepare_table(plain, "fits").write(tmp_path / "prepared.fits")
        assert Table.read(tmp_path / "prepared.fits").colnames == plain.colnames
        if how == "vstack" or service != "tupli":  # astropy's VOTable writer takes no 2-d text (tuples)
            prepare_table(plain, "votable").write(tmp_path / "plain.xml", format="votable")
            assert len(Table.read(tmp_path / "plain.xml")) == len(plain)


def test_meta_names_of_earlier_versions_read_with_a_deprecation_warning(results):
    lc = results["atlas.get_lightcurves"]
    with pytest.warns(AstropyDeprecationWarning, match=r"meta\['missing'\]"):
        assert lc.meta["missing_ids"] == lc.meta["missing"]
    with pytest.warns(AstropyDeprecationWarning, match=r"meta\['fetched'\]"):
        assert Table(lc).meta["retrieved"] == lc.meta["fetched"][0]  # a plain Table's copy too
    episode = results["tupli.get_episode"]
    with pytest.warns(AstropyDeprecationWarning, match=r"meta\['header'\]"):
        assert episode.meta["episode"] == json.loads(episode.meta["header"][0]) and "id" in episode.meta["episode"]
    with pytest.raises(KeyError):
        lc.meta["no-such-key"]


# -- the result vocabulary (docs/results.rst) ---------------------------------------------------------------

def _vocabulary():
    """The rows of the vocabulary table in docs/results.rst: {column: (unit, modules, earlier names)}."""
    lines = (Path(__file__).parents[1] / "docs" / "results.rst").read_text().splitlines()
    start = lines.index("One name per quantity")
    borders = [i for i in range(start, len(lines)) if lines[i].startswith("====")][:3]
    spans = [(m.start(), m.end()) for m in re.finditer(r"=+", lines[borders[0]])]
    spans[-1] = (spans[-1][0], None)
    rows = {}
    for line in lines[borders[1] + 1:borders[2]]:
        quantity, column, unit, modules, earlier = (line[a:b].strip() for a, b in spans)
        rows[column] = (unit, set(modules.split()), set(earlier.split()))
    return rows


VOCABULARY = _vocabulary()


def test_the_vocabulary_table_is_read():
    assert {"ra", "dec", "mjd", "exptime", "scan_name", "mag"} <= set(VOCABULARY)
    assert VOCABULARY["mjd"][2] == {"mjd_obs"} and VOCABULARY["exptime"] == ("s", {"atlas"}, {"texp"})


@pytest.mark.parametrize("name", NAMES)
def test_every_module_names_its_columns_by_the_vocabulary(results, name):
    table, module = results[name], name.split(".")[0]
    earlier = set().union(*(e for _, _, e in VOCABULARY.values()))
    assert not earlier & set(table.colnames), f"{name}: earlier names {earlier & set(table.colnames)}"
    for column in set(table.colnames) & set(VOCABULARY):
        unit, modules, _ = VOCABULARY[column]
        col = table[column]
        assert module in modules, f"{name}: {column!r} is in the vocabulary, but not listed for {module}"
        if unit.startswith("Time"):
            assert isinstance(col, Time), f"{name}: {column} is not a Time"
        elif unit.startswith("MJD"):
            assert col.dtype == np.float64 and col.unit is None, f"{name}: {column}"
        elif unit == "int64":
            assert col.dtype == np.int64, f"{name}: {column} is {col.dtype}"
        elif unit != "--":
            assert col.unit == u.Unit(unit), f"{name}: {column} has unit {col.unit}, the vocabulary {unit}"


def test_renamed_columns_still_read_under_their_old_names(results):
    fp, scans = results["atlas.get_forced_photometry"], results["grad300.query[TPI]"]
    for table, old, new in ((fp, "mjd_obs", "mjd"), (fp, "texp", "exptime"), (fp, "dm", "magerr"),
                            (scans, "file_name", "scan_name")):
        with pytest.warns(AstropyDeprecationWarning, match=f"'{old}' is now called '{new}'"):
            assert list(table[old]) == list(table[new])
        with pytest.warns(AstropyDeprecationWarning):
            assert table[0][old] == table[0][new]
    with pytest.raises(KeyError):
        fp["no-such-column"]
