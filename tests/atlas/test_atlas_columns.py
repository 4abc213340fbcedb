"""The columnar decoding of objects/ answers gives exactly the tables the earlier row decoder gave.

``atlas_columns_digests.json`` holds, per case, table and column, a sha256 of
everything a user can see of the column: its class, dtype (string width
included), unit, description, mask, every value (for a `~astropy.time.Time`
its format, scale, ``jd1`` and ``jd2``), plus the row order, the column order
and the groups. It was recorded with the row decoder (msgspec Structs, one
Python object per value) before the columnar engine replaced it; the tests
compute the same digests from today's tables. Two kinds of answers:

- the sandbox's own data (real HTTP, several chunks in flight, an unknown id,
  an ``mjd_min`` cut);
- a crafted answer from a small test server: nulls and absent keys in every
  kind of column, ids above 2**53, unicode names and exposure names, times
  with offsets, a column that is null in every row, an empty light curve.

Regenerate after a deliberate change of the tables (say why in the commit)::

    ASTROQUERY_EXT_RECORD_DIGESTS=1 python -m pytest tests/atlas/test_atlas_columns.py
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import warnings

import numpy as np
import pytest
from astropy.time import Time

from astroquery_ext.atlas import AtlasClass, conf
from astroquery_ext.exceptions import RemoteServiceError
from astroquery_ext.sandbox import Sandbox
from astroquery_ext.sandbox._atlas_data import Catalogue
from tests.atlas.test_atlas_decoding import LC_ROW, NON_ROW, OID, OID2, answer, record  # noqa: F401 (fixture)

DIGESTS = pathlib.Path(__file__).with_name("atlas_columns_digests.json")
RECORD = bool(os.environ.get("ASTROQUERY_EXT_RECORD_DIGESTS"))
MISSING = 1132507360113744501


def _column_digest(col) -> str:
    h = hashlib.sha256()
    h.update(type(col).__name__.encode())
    if isinstance(col, Time):
        h.update(f"{col.format}|{col.scale}".encode())
        h.update(np.ascontiguousarray(col.jd1).tobytes())
        h.update(np.ascontiguousarray(col.jd2).tobytes())
        h.update(np.ascontiguousarray(np.ma.getmaskarray(col.mask)).tobytes())
        return h.hexdigest()
    h.update(f"{col.dtype.str}|{col.unit}|{col.info.description}".encode())
    h.update(np.ascontiguousarray(np.ma.getmaskarray(col)).tobytes())
    data = np.asarray(col.data if hasattr(col, "mask") else col)
    h.update(repr(data.tolist()).encode() if data.dtype.kind == "O" else np.ascontiguousarray(data).tobytes())
    return h.hexdigest()


def _table_digests(table) -> dict:
    out = {"_colnames": "|".join(table.colnames), "_rows": str(len(table)),
           "_missing": repr(table.meta.get("missing"))}
    if table.groups.keys is not None and "atlas_id" in table.groups.keys.colnames:
        out["_groups"] = repr((table.groups.indices.tolist(), table.groups.keys["atlas_id"].tolist(),
                               table.groups.keys.colnames, table.groups.keys.meta.get("grouped_by_table_cols", True)))
    for name in table.colnames:
        out[name] = _column_digest(table[name])
    return out


def _views(atlas: AtlasClass, ids, mjd_min=None) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parts = atlas.get_objects(ids, mjd_min=mjd_min, show_progress=False)
        tables = {f"parts.{name}": table for name, table in zip(parts.keys(), parts)}
        tables["lightcurves"] = atlas.get_lightcurves(ids, mjd_min=mjd_min, show_progress=False)
        tables["forced_photometry"] = atlas.get_forced_photometry(ids, mjd_min=mjd_min, show_progress=False)
        tables["objects"] = atlas.query_objects(ids, show_progress=False)
    return {name: _table_digests(table) for name, table in tables.items()}


def _check(case: str, got: dict) -> None:
    recorded = json.loads(DIGESTS.read_text()) if DIGESTS.exists() else {}
    if RECORD:
        recorded[case] = got
        DIGESTS.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
        return
    want = recorded[case]
    assert sorted(got) == sorted(want), case
    for table in want:
        differ = [k for k in want[table] if got[table].get(k) != want[table][k]]
        assert not differ, f"{case}: {table}: columns differ from the recorded tables: {differ}"
        assert sorted(got[table]) == sorted(want[table]), f"{case}: {table}: other columns"


@pytest.fixture(scope="module")
def small_atlas():
    with Sandbox(mode="relaxed", services={"atlas": {"n_objects": 60, "lc_length": 40, "prewarm": False}}) as sb:
        client = AtlasClass(server=sb.url("atlas"))
        client.login(token=sb.credentials("atlas")["token"], store_token=False)
        yield client, [obj["id"] for obj in Catalogue(n_objects=60, lc_length=40).objects][:40]


def test_sandbox_answers_give_the_recorded_tables(small_atlas):
    atlas, ids = small_atlas
    # Several chunks, two in flight, an unknown id among them.
    with conf.set_temp("memo_timeout", 0), conf.set_temp("chunk_size", 15), conf.set_temp("max_workers", 2):
        got = _views(atlas, ids[:20] + [MISSING] + ids[20:])
        _check("sandbox", got)
        _check("sandbox_mjd_min", _views(atlas, ids[:10], mjd_min=60000.0))
    assert int(got["lightcurves"]["_rows"]) > 1000


def test_light_curves_sorted_in_small_blocks_give_the_recorded_tables(small_atlas, monkeypatch):
    """The rows are sorted a block of whole objects at a time at large sizes; forced down to blocks of a
    few rows here, every view of the sandbox's answers is still the recorded one."""
    from astroquery_ext.atlas import _wire
    monkeypatch.setattr(_wire, "SORT_BLOCK", 7)
    atlas, ids = small_atlas
    with conf.set_temp("memo_timeout", 0), conf.set_temp("chunk_size", 15), conf.set_temp("max_workers", 2):
        got = _views(atlas, ids[:20] + [MISSING] + ids[20:])
    assert int(got["lightcurves"]["_rows"]) > 2 * 7
    _check("sandbox", got)


def test_every_column_can_be_written(small_atlas):
    """Each column is the table's own writable array, as in any astropy Table, not a read-only view of
    the decoder's buffers: for one object (one batch of the answer) and for several chunks."""
    atlas, ids = small_atlas
    with conf.set_temp("memo_timeout", 0), conf.set_temp("chunk_size", 15), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for asked in (ids[:1], ids):
            parts = atlas.get_objects(asked, show_progress=False)
            tables = dict(zip(parts.keys(), parts))
            tables["lightcurves"] = atlas.get_lightcurves(asked, show_progress=False)
            for name, table in tables.items():
                for col in table.itercols():
                    if len(col) and not isinstance(col, Time):
                        col[0] = col[0]  # raises ValueError for a read-only array
                        assert np.asarray(col).flags.writeable, (len(asked), name, col.info.name)
            assert len(tables["lc"]) and len(tables["lcnondets"]) and len(tables["fp"])


UNICODE_ROW = dict(LC_ROW, expname="03a58111o0595ö", pointing="SW064S09–é", filter="ø", mjd=58120.5,
                   atlas_metadata_id=2 ** 62 + 5, date_inserted="2017-12-24T09:34:02+02:00")
NULL_ROW = {**{k: None for k in LC_ROW}, "mjd": 58121.25, "filter": "c"}


def _crafted() -> list:
    first = record(OID, [LC_ROW, UNICODE_ROW, NULL_ROW, {k: v for k, v in LC_ROW.items() if k in ("mjd", "mag")}],
                   [NON_ROW, dict(NON_ROW, input="in-ß", reference=None, mjd=58100.5, filename=None),
                    dict(NON_ROW, mjd=58101.5, date_inserted="2017-12-12T13:23:57.250+00:00")],
                   fp=[{"mjd_obs": 58111.3, "uJy": 12.5, "duJy": None, "filter": "o", "id": 9, "limiting_mag": True,
                        "date_inserted": "2018-01-01T00:00:00Z"},
                       {"mjd_obs": 58110.3, "uJy": None, "filter": None, "id": 2 ** 60, "limiting_mag": None}])
    first["object"].update(atlas_designation="ATLAS17ñöß", other_designation=None, detection_list_id=2,
                           date_inserted="2017-12-24T07:34:02Z", vra=None, realbogus_factor=0.25)
    second = record(OID2, [dict(LC_ROW, mjd=58300.1)], [])
    second["object"].update(atlas_designation="ATLAS18日本", vra=0.75)
    placeholder = {"object": "AtlasDiffObjects matching query does not exist.", "lc": None, "lcnondets": None,
                   "fp": None, "sherlock_crossmatches": None, "sherlock_classifications": None,
                   "tns_crossmatches": None, "external_crossmatches": None}
    return [first, placeholder, second]


def test_crafted_answer_with_nulls_big_ids_and_unicode_gives_the_recorded_tables(answer):
    set_body, atlas = answer
    set_body(_crafted())
    _check("crafted", _views(atlas, [OID, MISSING, OID2]))


@pytest.mark.parametrize("where", ["lc", "object", "sherlock_crossmatches"])
def test_deeply_nested_answer_is_the_packages_error(answer, where):
    set_body, atlas = answer
    deep = b"[" * 50_001 + b"]" * 50_001
    good = json.dumps(record(OID, [LC_ROW])).encode()
    if where == "object":
        bad = b'{"object":' + deep + b',"lc":[]}'
    else:
        bad = json.dumps(record(OID2, [LC_ROW])).encode()[:-1] + f',"{where}":'.encode() + deep + b"}"
    set_body(b"[" + good + b"," + bad + b"]")
    with pytest.raises(RemoteServiceError, match="nested too deeply"):
        atlas.get_lightcurves([OID, OID2], show_progress=False)


def test_an_exact_integer_column_only_detections_have_is_none_for_the_limits(answer):
    """``det`` beyond int64 in one detection: the column holds exact ints (object), and the merged rows of
    the non-detections, which have no ``det``, hold None there, the null of exact values in every table."""
    set_body, atlas = answer
    set_body([record(OID, [dict(LC_ROW, det=2 ** 70, mjd=58120.5)], [dict(NON_ROW, mjd=58121.5)])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lc = atlas.get_lightcurves([OID], cache=False, show_progress=False)
    assert lc["detected"].tolist() == [True, False]
    assert lc["det"].dtype == object and lc["det"][0] == 2 ** 70 and lc["det"][1] is None  # not a mask
