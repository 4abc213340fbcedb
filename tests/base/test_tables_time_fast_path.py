"""Time columns from ISO strings (the one parser, time_column): the vectorised path agrees with the per-value one."""

import datetime as dt

import numpy as np
import pytest
from astropy.time import Time

from astroquery_ext._base import Field, records_to_table
from astroquery_ext._base.times import time_column


@pytest.mark.parametrize("values", [
    ["2025-02-12T08:32:16Z", "2025-02-12T08:32:16.123456Z", None, "2025-02-12T08:32:16"],
    ["2025-02-12T08:32:16+00:00", "2025-02-13", "2025-02-12T08:32:16z"],
])
def test_fast_path_matches_the_general_parse(values):
    fast = time_column(values)
    assert fast.format == "isot" and fast.scale == "utc"
    mask = np.asarray(fast.mask) if np.ndim(fast.mask) else np.zeros(len(values), bool)
    assert list(mask) == [v is None for v in values]
    for got, value in zip(fast, values):
        if value is not None:
            expected = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
            expected = expected.replace(tzinfo=None) if expected.tzinfo is None else \
                expected.astimezone(dt.timezone.utc).replace(tzinfo=None)
            delta = (got - Time(expected, scale="utc")).sec
            assert abs(float(getattr(delta, "unmasked", delta))) < 1e-6


@pytest.mark.parametrize("values", [
    ["2025-02-12T09:32:16+01:00"],          # another offset: the general path converts it
    [dt.datetime(2025, 2, 12, 8, 32, 16)],   # not strings
    [None, None],                            # nothing to parse
])
def test_other_values_take_the_general_path(values):
    general = time_column(values)
    assert len(general) == len(values) and general.scale == "utc"
    table = records_to_table([{"t": v} for v in values], [Field("t", "time")])
    assert isinstance(table["t"], Time) and len(table) == len(values)


def test_offsets_are_converted_to_utc_either_way():
    table = records_to_table([{"t": "2025-02-12T09:32:16+01:00"}, {"t": "2025-02-12T08:32:16Z"}],
                             [Field("t", "time")])
    assert table["t"][0] == table["t"][1]


def test_values_of_plain_and_dotted_and_callable_sources():
    records = [{"a": 1, "b": {"c": 2}}, {"b": None}]
    assert Field("a", "int64").column_values(records) == [1, None]
    assert Field("x", "int64", source="b.c").column_values(records) == [2, None]
    assert Field("y", "int64", source=lambda r: len(r)).column_values(records) == [2, 1]


def test_unreadable_time_is_an_error_naming_the_value():
    with pytest.raises(ValueError, match="not a date"):
        time_column(["2025-02-12T08:32:16Z", "not a date"])


def test_empty_and_all_missing_times_keep_a_time_column():
    assert isinstance(time_column([]), Time) and len(time_column([])) == 0
    col = time_column([None, ""])
    assert isinstance(col, Time) and np.asarray(col.mask).tolist() == [True, True]
