"""`Filter`: the builder's wire form, its refusals, and round trips (unit + hypothesis)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings, strategies as st

from astroquery_ext.tupli import Filter


def test_each_operator_writes_its_wire_type():
    f = Filter("metadata.extra.n")
    assert (f == 3).to_dict() == {"type": "EQ", "key": "metadata.extra.n", "value": 3}
    assert (f != "x").to_dict() == {"type": "NE", "key": "metadata.extra.n", "value": "x"}
    assert (f > 1).to_dict()["type"] == "GT"
    assert (f >= 1).to_dict()["type"] == "GEQ"
    assert (f < 1).to_dict()["type"] == "LT"
    assert (f <= 1.5).to_dict() == {"type": "LEQ", "key": "metadata.extra.n", "value": 1.5}
    assert f.isin(("a", "b")).to_dict() == {"type": "IN", "key": "metadata.extra.n", "value": ["a", "b"]}
    assert (3 <= f).to_dict()["type"] == "GEQ"  # reflected comparison


def test_and_or_nest_and_flatten():
    a, b, c = Filter("a") == 1, Filter("b") == 2, Filter("c") == 3
    assert (a & b & c).to_dict() == {"type": "AND", "filters": [x.to_dict() for x in (a, b, c)]}
    mixed = (a | b) & c
    assert mixed.to_dict() == {"type": "AND", "filters": [
        {"type": "OR", "filters": [a.to_dict(), b.to_dict()]}, c.to_dict()]}
    assert Filter.any(a, b | c) == (a | b | c)
    assert repr(a | b) == "Filter.any(Filter('a') == 1, Filter('b') == 2)"


@pytest.mark.parametrize("key", ["", "a..b", ".a", "a.", "$where", "a.$gt", "a b", 3, None])
def test_bad_keys_are_refused(key):
    with pytest.raises((ValueError, TypeError), match="key"):
        Filter(key)


@pytest.mark.parametrize("build, match", [
    (lambda: Filter("a") == None, "cannot be None"),  # noqa: E711
    (lambda: Filter("a") == math.nan, "finite"),
    (lambda: Filter("a") > [1], "number or a string"),
    (lambda: Filter("a") > True, "number or a string"),
    (lambda: Filter("a").isin("abc"), "list"),
    (lambda: Filter("a").isin([]), "at least one"),
    (lambda: Filter("a") == object(), "JSON data"),
    (lambda: Filter("a") & (Filter("b") == 1), "names a field"),
    (lambda: (Filter("a") == 1) & {"type": "EQ"}, "combines Filter"),
    (lambda: Filter.all(), "empty AND"),
    (lambda: Filter.any(), "empty OR"),
    (lambda: (Filter("a") == 1) > 2, "compares a field"),
    (lambda: 1 < Filter("a") < 3, "truth value"),
    (lambda: Filter("a").to_dict(), "names a field"),
])
def test_bad_conditions_raise_before_sending(build, match):
    with pytest.raises((ValueError, TypeError), match=match):
        build()


@pytest.mark.parametrize("wire, match", [
    ({"type": "eq", "key": "a", "value": 1}, "upper case"),
    ({"type": "EQ", "key": "a"}, "cannot be None"),
    ({"type": "AND", "filters": []}, "empty AND"),
    ({"type": "AND", "key": "a", "filters": [{"type": "EQ", "key": "a", "value": 1}]}, "not 'key'"),
    ({"type": "EQ", "key": "a", "value": 1, "extra": 1}, "unknown filter fields"),
    ([1], "dict"),
])
def test_from_dict_checks_the_wire_form(wire, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Filter.from_dict(wire)


def test_coerce_accepts_filters_dicts_and_pytupli_filters():
    pytupli_schema = pytest.importorskip("pytupli.schema")
    ours = Filter.coerce(Filter("metadata.name") == "x")
    assert Filter.coerce({"type": "EQ", "key": "metadata.name", "value": "x"}) == ours
    theirs = pytupli_schema.FilterEQ(key="metadata.name", value="x") & pytupli_schema.FilterGEQ(key="n", value=2)
    assert Filter.coerce(theirs) == {"type": "AND", "filters": [
        ours, {"type": "GEQ", "key": "n", "value": 2}]}
    assert Filter.coerce(None) is None
    with pytest.raises(TypeError, match="filter must be"):
        Filter.coerce("metadata.name == x")


# -- properties ------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
keys = st.lists(names, min_size=1, max_size=4).map(".".join)
scalars = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=10), st.booleans())
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=3)), max_leaves=6)
ordered = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5))


@st.composite
def leaves(draw):
    field = Filter(draw(keys))
    op = draw(st.sampled_from(["==", "!=", ">", ">=", "<", "<=", "isin"]))
    if op == "isin":
        return field.isin(draw(st.lists(scalars, min_size=1, max_size=4)))
    value = draw(values if op in ("==", "!=") else ordered)
    return {"==": field.__eq__, "!=": field.__ne__, ">": field.__gt__, ">=": field.__ge__,
            "<": field.__lt__, "<=": field.__le__}[op](value)


filters = st.recursive(leaves(), lambda inner: st.one_of(
    st.tuples(inner, inner).map(lambda p: p[0] & p[1]),
    st.tuples(inner, inner).map(lambda p: p[0] | p[1])), max_leaves=8)


def _well_formed(wire):
    if wire["type"] in ("AND", "OR"):
        assert set(wire) == {"type", "filters"} and wire["filters"]
        for child in wire["filters"]:
            assert child["type"] != wire["type"]  # flattened
            _well_formed(child)
    else:
        assert set(wire) == {"type", "key", "value"}
        assert wire["type"] in ("EQ", "NE", "GT", "GEQ", "LT", "LEQ", "IN")
        assert wire["value"] is not None
        if wire["type"] == "IN":
            assert isinstance(wire["value"], list) and wire["value"]


@settings(max_examples=100, deadline=None)
@given(filters)
def test_wire_form_is_json_well_formed_and_round_trips(f):
    wire = f.to_dict()
    text = json.dumps(wire, allow_nan=False)
    _well_formed(json.loads(text))
    again = Filter.from_dict(json.loads(text))
    assert again == f and again.to_dict() == wire and hash(again) == hash(f)


@settings(max_examples=40, deadline=None)
@given(filters)
def test_pytupli_reads_our_wire_form_as_the_same_filter(f):
    schema = pytest.importorskip("pytupli.schema")
    theirs = schema.BaseFilter.model_validate(f.to_dict()) if hasattr(schema, "BaseFilter") else None
    if theirs is not None:
        assert Filter.from_dict(theirs.model_dump()) == f


@settings(max_examples=60, deadline=None)
@given(st.lists(leaves(), min_size=2, max_size=5), st.booleans())
def test_chained_and_or_equal_all_any_with_flat_children(parts, use_and):
    nested = parts[0]
    for p in parts[1:]:
        nested = (nested & p) if use_and else (nested | p)
    group = Filter.all(*parts) if use_and else Filter.any(*parts)
    assert nested == group
    assert group.to_dict()["filters"] == [p.to_dict() for p in parts]
