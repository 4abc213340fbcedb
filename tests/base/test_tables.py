"""JSON records to Tables: stable columns, exact int64, masked nulls, units, times."""

import numpy as np
import pytest
from astropy import units as u
from astropy.time import Time

from astroquery_ext._base import Field, MaxResultsWarning, NoResultsWarning, records_to_table

FIELDS = [Field("id", "int64"), Field("mag", "float64", unit="mag"), Field("name", "str"),
          Field("ok", "bool"), Field("when", "time"), Field("tags", "object"),
          Field("state", "str", source="phase.state")]

RECORDS = [
    {"id": 1_161_600_211_221_604_900, "mag": 18.5, "name": "AT2018cow", "ok": True,
     "when": "2025-09-13T00:19:14Z", "tags": ["a"], "phase": {"state": "active"}},
    {"id": 2 ** 53 + 1, "mag": None, "name": None, "ok": False, "when": None, "tags": [],
     "phase": None},
    {"id": 9_007_199_254_740_993, "name": "ünïcode", "when": "2020-09-15T00:00:00", "ok": True,
     "when_extra": 1, "phase": {"state": "done"}, "mag": 17},
]


def test_values_types_and_masks():
    t = records_to_table(RECORDS, FIELDS)
    assert t.colnames == [f.name for f in FIELDS]
    assert t["id"].dtype == np.int64
    assert list(t["id"]) == [1_161_600_211_221_604_900, 2 ** 53 + 1, 9_007_199_254_740_993]
    assert t["mag"].unit == u.mag and t["mag"].mask.tolist() == [False, True, False]
    assert t["name"][2] == "ünïcode" and bool(t["name"].mask[1])
    assert isinstance(t["when"], Time) and t["when"].mask.tolist() == [False, True, False]
    assert t["when"][0].isot == "2025-09-13T00:19:14.000"
    assert t["tags"][0] == ["a"] and t["state"].tolist()[0] == "active"
    assert bool(t["state"].mask[1])


def test_empty_result_keeps_columns_and_dtypes():
    t = records_to_table([], FIELDS)
    assert t.colnames == [f.name for f in FIELDS] and len(t) == 0
    assert t["id"].dtype == np.int64 and t["mag"].unit == u.mag


def test_inferred_columns():
    t = records_to_table([{"a": 1, "b": "x"}, {"a": 2 ** 60, "c": 1.5}])
    assert t.colnames == ["a", "b", "c"]
    assert t["a"].dtype == np.int64 and t["a"][1] == 2 ** 60
    assert bool(t["b"].mask[1]) and bool(t["c"].mask[0])


def test_time_with_offset_is_converted_to_utc():
    t = records_to_table([{"when": "2025-01-01T02:00:00+02:00"}], [Field("when", "time")])
    assert t["when"][0].isot == "2025-01-01T00:00:00.000"


def test_bad_dtype_is_rejected():
    with pytest.raises(ValueError, match="Field dtype must be one of"):
        Field("x", "float32")


def test_paging_warnings(testbed_sandbox):
    from tests.base.testbed_client import TestbedClass
    client = TestbedClass(server=testbed_sandbox.url("testbed"))
    client.login(token=testbed_sandbox.credentials("testbed")["token"])
    with pytest.warns(MaxResultsWarning, match="row_limit=30"):
        assert len(client.query_items(row_limit=30)) == 30
    with pytest.warns(NoResultsWarning), pytest.warns(MaxResultsWarning, match="row_limit=0"):
        assert len(client.query_items(row_limit=0)) == 0


def test_result_tables_carry_provenance_without_secrets(testbed_sandbox):
    from tests.base.testbed_client import TestbedClass
    client = TestbedClass(server=testbed_sandbox.url("testbed"))
    token = testbed_sandbox.credentials("testbed")["token"]
    client.login(token=token)
    meta = client._table([{"id": 1}], [Field("id", "int64")], path="items?token=" + token, what="items",
                         query={"offset": 0}).meta
    assert meta["service"] == "testbed" and meta["query"] == {"offset": 0}
    assert meta["url"].startswith(client.server) and token not in meta["url"]
    assert meta["retrieved"].endswith("+00:00")


def test_jwt_expiry_reads_exp_or_gives_none():
    import base64
    import json as jsonlib

    from astroquery_ext._base import jwt_expiry
    body = base64.urlsafe_b64encode(jsonlib.dumps({"exp": 1700000000}).encode()).rstrip(b"=").decode()
    assert jwt_expiry(f"h.{body}.s") == 1700000000.0
    assert jwt_expiry("not-a-jwt") is None and jwt_expiry(None) is None
    no_exp = base64.urlsafe_b64encode(b'{"sub": "x"}').rstrip(b"=").decode()
    assert jwt_expiry(f"h.{no_exp}.s") is None
