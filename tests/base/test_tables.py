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
    assert meta["service"] == ["testbed"] and meta["query"] == ['{"offset":0}']
    assert meta["url"][0].startswith(client.server) and token not in meta["url"][0]
    assert meta["fetched"][0].endswith("Z")


def test_jwt_expiry_reads_exp_or_gives_none():
    import base64
    import json as jsonlib

    from astroquery_ext._base import jwt_expiry
    body = base64.urlsafe_b64encode(jsonlib.dumps({"exp": 1700000000}).encode()).rstrip(b"=").decode()
    assert jwt_expiry(f"h.{body}.s") == 1700000000.0
    assert jwt_expiry("not-a-jwt") is None and jwt_expiry(None) is None
    no_exp = base64.urlsafe_b64encode(b'{"sub": "x"}').rstrip(b"=").decode()
    assert jwt_expiry(f"h.{no_exp}.s") is None


# -- the typed decoder and the streamed array --------------------------------------------------

def _schema():
    from astroquery_ext._base.tables import RecordSchema
    return RecordSchema([Field("id", "int64"), Field("mag", "float64", unit="mag"), Field("name", "str"),
                         Field("ok", "bool"), Field("when", "time"), Field("tags", "object")])


BODY = ('[{"id": 1161600211221604900, "mag": -18.719, "name": "AT\\u00e9 \\"x\\"", "ok": true, '
        '"when": "2025-09-13T00:19:14Z", "tags": [1, {"a": null}], "extra": [false, 1e-5]},\n'
        ' {"id": 9007199254740993, "mag": 17, "ok": false, "name": null, "when": null},'
        '{"mag": null, "id": -5, "tags": "]},{[", "when": "2025-01-01T02:00:00+02:00"}]').encode()


def _table(stream_batches):
    schema = _schema()
    builder = schema.builder()
    for batch in stream_batches:
        builder.add(batch)
    return builder.table()


def test_typed_decoder_values_masks_units_and_times():
    t = _table([_schema().decoder().decode(BODY)])
    assert t["id"].dtype == np.int64 and t["id"].tolist() == [1161600211221604900, 9007199254740993, -5]
    assert t["mag"].unit == u.mag and t["mag"].mask.tolist() == [False, False, True] and t["mag"][1] == 17.0
    assert t["name"].tolist()[0] == 'ATé "x"' and t["name"].mask.tolist() == [False, True, True]
    assert t["ok"].mask.tolist() == [False, False, True]
    assert isinstance(t["when"], Time) and t["when"].mask.tolist() == [False, True, False]
    assert t["when"][2].isot == "2025-01-01T00:00:00.000"
    assert t["tags"][0] == [1, {"a": None}] and t["tags"][2] == "]},{["


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16, 61, 10_000])
def test_array_stream_gives_the_same_rows_whatever_the_block_size(size):
    from astroquery_ext._base.stream import ArrayStream
    stream = ArrayStream(_schema().decoder(), batch_bytes=size)
    batches = []
    for i in range(0, len(BODY), size):
        batches += stream.feed_batches(BODY[i:i + size])
    batches += stream.feed_batches(b"", final=True)
    whole = _table([_schema().decoder().decode(BODY)])
    streamed = _table(batches)
    assert streamed.colnames == whole.colnames and len(streamed) == 3 and stream.count == 3
    for name in ("id", "mag", "name", "ok"):
        assert streamed[name].tolist() == whole[name].tolist()
        assert np.ma.getmaskarray(streamed[name]).tolist() == np.ma.getmaskarray(whole[name]).tolist()
    assert list(streamed["tags"]) == list(whole["tags"])
    assert (streamed["when"][[0, 2]] == whole["when"][[0, 2]]).all()


@pytest.mark.parametrize("seed", range(6))
def test_array_stream_decodes_in_place_whatever_the_spacing_blocks_and_batches(seed):
    """Batches are decoded inside the stream's buffer (their delimiters turned into brackets for the
    time of the decoding): any spacing, block size and batch size gives the elements of the whole body."""
    import random

    import msgspec

    from astroquery_ext._base.stream import ArrayStream
    rng = random.Random(seed)
    space = lambda: rng.choice(["", " ", "\n", " \t\r\n "])  # noqa: E731
    elements = [{"i": i, "s": "],[" * rng.randrange(3), "x": [rng.random(), None, {"k": "}"}]}
                for i in range(rng.randrange(0, 40))]
    body = ("[" + space() + ",".join(space() + msgspec.json.encode(e).decode() + space() for e in elements)
            + space() + "]" + space()).encode()
    stream = ArrayStream(msgspec.json.Decoder(list[dict]), batch_bytes=rng.choice([1, 50, 400, 1 << 20]))
    got, i = [], 0
    while i < len(body):
        size = rng.choice([1, 2, 5, 33, 200, 4096])
        got += [e for batch in stream.feed_batches(body[i:i + size]) for e in batch]
        i += size
    got += [e for batch in stream.feed_batches(b"", final=True) for e in batch]
    assert got == elements and stream.count == len(elements) and stream.done


@pytest.mark.parametrize("seed", range(8))
def test_array_stream_guessed_batches_give_the_elements_of_the_skip(seed):
    """With ``opening``, batches cut at a guessed boundary are decoded at once; a guess inside a string or a
    nested list (the opening appears there too) is wrong JSON and the skip takes over: same elements."""
    import random

    import msgspec

    from astroquery_ext._base.stream import ArrayStream
    rng = random.Random(seed)
    tricky = [',{"object":', '{"object":', "]", "[", '\\"', "x"]
    elements = [{"object": {"id": i, "name": rng.choice(tricky)},
                 "lc": [{"object": rng.choice(tricky)} for _ in range(rng.randrange(3))]}
                for i in range(rng.randrange(0, 60))]
    body = msgspec.json.encode(elements)
    results = []
    for opening in (None, b'{"object":'):
        stream = ArrayStream(msgspec.json.Decoder(list[dict]), batch_bytes=rng.choice([1, 50, 400]), opening=opening)
        got, i = [], 0
        while i < len(body):
            size = rng.choice([1, 7, 33, 200, 4096])
            got += [e for batch in stream.feed_batches(body[i:i + size]) for e in batch]
            i += size
        got += [e for batch in stream.feed_batches(b"", final=True) for e in batch]
        assert stream.count == len(elements) and stream.done
        results.append(got)
    assert results[0] == results[1] == elements


@pytest.mark.parametrize("body, error", [
    (BODY[:-30], "was cut off"),
    (b'[{"id": 1}] [', "after its end"),
    (b'[{"id": 1},, {"id": 2}]', "not valid JSON"),
    (b"", "is empty"),
])
def test_array_stream_cut_or_malformed_is_a_json_error(body, error):
    import json

    from astroquery_ext._base.stream import ArrayStream
    stream = ArrayStream(_schema().decoder())
    with pytest.raises(json.JSONDecodeError, match=error):
        for i in range(0, max(len(body), 1), 5):
            stream.feed_batches(body[i:i + 5])
        stream.feed_batches(b"", final=True)


@pytest.mark.parametrize("record, where", [
    ('{"id": "12"}', "$[1].id"), ('{"id": 1.5}', "$[1].id"), ('{"mag": "bright"}', "$[1].mag"),
    ('{"name": [1]}', "$[1].name"), ('{"ok": "yes"}', "$[1].ok"), ('{"when": 5}', "$[1].when"),
])
def test_a_value_of_the_wrong_type_is_an_error_naming_where_it_is(record, where):
    from astroquery_ext._base.stream import ArrayStream
    from astroquery_ext.exceptions import RemoteServiceError
    stream = ArrayStream(_schema().decoder(), "the test answer")
    with pytest.raises(RemoteServiceError, match="wrong type") as info:
        stream.feed_batches(f'[{{"id": 1}}, {record}]'.encode(), final=True)
    assert where in str(info.value) and "the test answer" in str(info.value)


def test_records_with_a_value_of_the_wrong_type_raise_a_clear_error():
    from astroquery_ext.exceptions import RemoteServiceError
    for value, dtype in (("abc", "int64"), ({"a": 1}, "float64"), ([1], "str"), ("yes", "bool"), (1.5, "int64")):
        with pytest.raises(RemoteServiceError, match=rf"column 'x' \(row 1\) is .*where {dtype} was expected"):
            records_to_table([{"x": None}, {"x": value}], [Field("x", dtype)])


def test_decode_json_keeps_big_integers_exact_and_takes_what_json_takes():
    from astroquery_ext._base.tables import decode_json
    assert decode_json(b'[123456789012345678901234567890, 1.5]') == [123456789012345678901234567890, 1.5]
    assert np.isnan(decode_json(b"[NaN]")[0])
    with pytest.raises(ValueError):
        decode_json(b"{not json")


# -- what the engine's fast paths must not change -------------------------------------------------

def test_typed_rows_with_a_null_or_huge_integer_keep_every_value_exact():
    """A batch whose int column has a null, or an int beyond int64, cannot be one numpy record array:
    those columns are read value by value (masked null, exact ints in an object column)."""
    schema = _schema()
    builder = schema.builder()
    builder.add(schema.decoder().decode(b'[{"id": 1, "mag": 2}, {"id": null, "mag": null}]'))
    builder.add(schema.decoder().decode(b'[{"id": 3, "mag": 1.5}]'))
    t = builder.table()
    assert t["id"].dtype == np.int64 and t["id"].mask.tolist() == [False, True, False]
    assert t["id"].tolist()[::2] == [1, 3] and t["mag"].mask.tolist() == [False, True, False]
    builder = schema.builder()
    builder.add(schema.decoder().decode(b'[{"id": 36893488147419103232}, {"id": -1}]'))
    assert builder.table()["id"].tolist() == [2 ** 65, -1]


def test_convert_and_dotted_paths_read_column_by_column_give_what_each_record_gives():
    names = lambda items: [i["name"] for i in items] if type(items) is list else []  # noqa: E731
    fields = [Field("state", "str", source="phase.state"), Field("start", "str", source="phase.start.date"),
              Field("kw", "object", source="meta.keywords", convert=names),
              Field("upper", "str", source="name", convert=lambda v: v and v.upper())]
    records = [
        {"phase": {"state": "a", "start": {"date": "2020-01-01"}}, "meta": {"keywords": [{"name": "x"}]},
         "name": "n1"},
        {"phase": None, "meta": {"keywords": None}},                         # a level is null
        {"phase": "text", "meta": [], "name": "n3"},                           # a level is not a dict
        {"phase": {"state": "b"}, "phase.state": "literal", "meta": {}},      # a key with a dot wins
    ]
    table = records_to_table(records, fields)
    expected = [[f.value(r) for r in records] for f in fields]
    assert expected[0] == ["a", None, None, "literal"] and expected[2] == [["x"], [], [], []]
    assert [np.ma.filled(table["state"], "").tolist(), np.ma.filled(table["start"], "").tolist()] == \
        [[v or "" for v in expected[0]], [v or "" for v in expected[1]]]
    assert list(table["kw"]) == expected[2] and table["upper"].tolist()[0] == "N1"
    assert table["upper"].mask.tolist() == [False, True, False, True]


@pytest.mark.parametrize("offsets, rows, counts", [
    ([0, 2, 2, 5, 6], [0, 1, 2, 3, 4, 5], [2, 0, 3, 1]),  # the null list spans no rows (Arrow's JSON reader)
    ([0, 2, 4, 5, 6], [0, 1, 4, 5], [2, 0, 1, 1]),        # it spans two (other producers may): not taken
])
def test_the_rows_of_arrow_lists_leave_out_what_a_null_list_spans(offsets, rows, counts):
    import pyarrow as pa

    from astroquery_ext._base.columns import _list_rows
    lists = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array([{"v": i} for i in range(6)]),
                                     mask=pa.array([False, True, False, False]))
    for sliced, skip in ((lists, 0), (lists.slice(1), 1)):  # a slice: offsets not from 0
        got_rows, got_counts = _list_rows(sliced)
        assert got_rows.field("v").to_pylist() == rows[counts[0] if skip else 0:]
        assert got_counts.tolist() == counts[skip:]
