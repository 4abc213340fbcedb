"""Property-based fuzzing (hypothesis) of the parsers and builders the modules share with users.

Builds on ``tests/glance/test_dsl.py`` and ``tests/tupli/test_tupli_filters.py``
(which fuzz the DSL and the Filter builder offline): here the DSL trees go
to the Glance sandbox's own query parser, and the table builders, id and
coordinate parsers get hostile input (nulls everywhere, ids above 2**53 and
2**63, unicode, empty and huge pages).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import requests
from astropy.coordinates import SkyCoord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astroquery_ext._base.tables import Field, records_to_table
from astroquery_ext.atlas import parse_ids
from astroquery_ext._base.args import position_arg as _position
from astroquery_ext.exceptions import InvalidQueryError

from ._helpers import Figures

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

INT64_MAX = 2**63 - 1
big_ints = st.one_of(st.integers(-2**53, 2**53), st.integers(2**53, INT64_MAX), st.integers(-2**63, -2**53))
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
scalars = st.one_of(st.none(), st.booleans(), big_ints, st.floats(allow_nan=False), texts)
json_values = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                           st.dictionaries(texts, kids, max_size=3)), max_leaves=6)
keys = st.sampled_from(["id", "name", "ra", "flag", "ütf", "nested", "n"])
records = st.lists(st.dictionaries(keys, json_values, max_size=6), max_size=30)


# -- JSON records -> Table -----------------------------------------------------------------------

@FAST
@given(records)
def test_inferred_tables_keep_every_value(rows):
    rows = json.loads(json.dumps(rows))   # exactly what a server's JSON parses to
    table = records_to_table(rows)
    names = list(dict.fromkeys(k for r in rows for k in r))
    assert table.colnames == names
    assert len(table) == (len(rows) if names else 0)   # an astropy Table without columns has no rows
    for name in names:
        col = table[name]
        mask = np.ma.getmaskarray(col) if hasattr(col, "mask") else np.zeros(len(col), bool)
        for i, r in enumerate(rows):
            value = r.get(name)
            if col.dtype.kind == "O":
                assert col[i] == value or (value is None and col[i] is None)
            elif value is None:
                assert mask[i], (name, i)
            else:
                assert not mask[i]
                got = col[i].item() if hasattr(col[i], "item") else col[i]
                if col.dtype.kind in "iu":
                    assert isinstance(value, int) and got == value   # exact: never through a float
                else:
                    assert got == value


@FAST
@given(st.lists(st.one_of(st.none(), st.integers(-2**63, INT64_MAX)), max_size=40))
def test_declared_int64_columns_are_exact_and_masked(values):
    table = records_to_table([{"id": v} for v in values], [Field("id", "int64")])
    assert table["id"].dtype == np.int64
    for v, got, m in zip(values, table["id"].tolist() if len(values) else [],
                         np.ma.getmaskarray(table["id"])):
        assert (got is None and v is None) or (got == v and not m)


@FAST
@given(st.lists(st.one_of(st.integers(2**63, 2**64 + 5), st.integers(-2**70, -2**63 - 1)), min_size=1, max_size=5),
       st.lists(big_ints, max_size=5))
def test_ints_beyond_int64_are_kept_not_crashed_or_wrapped(huge, ordinary):
    rows = [{"id": v} for v in ordinary + huge]
    for table in (records_to_table(rows), records_to_table(rows, [Field("id", "int64")])):
        assert [table["id"][i] for i in range(len(rows))] == [r["id"] for r in rows]


@pytest.mark.parametrize("n", [0, 1, 50_000])
def test_empty_and_huge_pages_keep_columns_and_dtypes(n):
    fields = [Field("id", "int64"), Field("name", "str"), Field("mag", "float64", unit="mag"),
              Field("seen", "time"), Field("flag", "bool"), Field("extra", "object")]
    rows = [{"id": 2**62 + i, "name": "\u00e9t\u00e9" * (i % 3) or None, "mag": None if i % 5 else i / 7,
             "seen": "2024-02-29T12:00:00Z" if i % 2 else None, "flag": None, "extra": {"i": i}}
            for i in range(n)]
    table = records_to_table(rows, fields)
    assert table.colnames == [f.name for f in fields] and len(table) == n
    assert table["id"].dtype == np.int64 and table["mag"].unit == "mag"
    if n:
        assert int(table["id"][-1]) == 2**62 + n - 1
        assert np.ma.getmaskarray(table["flag"]).all()


# -- ids and coordinates ---------------------------------------------------------------------------

atlas_ids = st.integers(10**18, 2 * 10**18 - 1)


@FAST
@given(st.lists(atlas_ids, min_size=1, max_size=20), st.sampled_from(["int", "str", "np", "mixed"]))
def test_atlas_ids_parse_exactly_in_every_form(ids, form):
    given_ids = {"int": ids, "str": [str(i) for i in ids], "np": np.array(ids, dtype=np.int64),
                 "mixed": [str(i) if k % 2 else np.int64(i) for k, i in enumerate(ids)]}[form]
    got = parse_ids(given_ids)
    assert got.dtype == np.int64 and sorted(set(got.tolist())) == sorted(set(ids))


@FAST
@given(st.lists(st.one_of(texts, st.floats(), st.booleans(), st.none(), st.integers(), st.binary(max_size=8)),
                min_size=1, max_size=5))
def test_atlas_ids_reject_garbage_with_a_value_error(values):
    try:
        parse_ids(values)
    except (ValueError, TypeError) as exc:
        assert str(exc)
    # accepted only if every entry is a valid 19-digit id


@FAST
@given(st.floats(0, 360, exclude_max=True), st.floats(-90, 90))
def test_degree_strings_round_trip(ra, dec):
    coord = _position(f"{ra!r} {dec!r}")
    assert abs(coord.ra.deg - ra) < 1e-9 or abs(abs(coord.ra.deg - ra) - 360) < 1e-9
    assert abs(coord.dec.deg - dec) < 1e-9


@FAST
@given(st.one_of(texts, st.from_regex(r"[+-]?\d{1,3}[: ]\d{1,2}[: ]\d{1,2}(\.\d+)? [+-]?\d{1,2}[: ]\d{1,2}[: ]\d{1,2}",
                                      fullmatch=True)))
def test_any_text_is_a_position_or_a_value_error(text):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            coord = _position(text)
        except ValueError as exc:
            assert "coordinates" in str(exc)
            return
    assert isinstance(coord, SkyCoord) and coord.isscalar
    assert np.isfinite(coord.ra.deg) and -90 <= coord.dec.deg <= 90


# -- Glance DSL trees against the sandbox's parser --------------------------------------------------

@pytest.fixture(scope="module")
def glance_client(glance_sandbox):
    client = glance_sandbox.client("glance")
    client.login(open_browser=lambda url: requests.get(url, timeout=10))
    return client


def test_dsl_trees_are_understood_by_the_server(glance_client):
    from tests.glance.test_dsl import moded_trees
    from astroquery_ext.glance.core import ENDPOINTS
    methods = {mode: f"query_{name}" for mode, name in
               [("analysis", "analyses"), ("paper", "papers"), ("confnote", "confnotes"),
                ("pubnote", "pubnotes"), ("plot", "plots"), ("publication", "publications"),
                ("leadinggroup", "leading_groups"), ("subgroup", "subgroups"), ("trigger", "triggers")]}
    assert set(methods) == set(ENDPOINTS)
    seen = []

    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(moded_trees)
    def run(mode_tree):
        mode, tree = mode_tree
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                getattr(glance_client, methods[mode])(tree, row_limit=5, cache=False)
            except InvalidQueryError as exc:   # the server refused what our parser accepted
                raise AssertionError(f"{mode}: {tree.to_dsl()!r}: {exc}") from None
        seen.append(mode)

    run()
    Figures.record("fuzz", "glance DSL trees sent to the server", examples=len(seen))
