"""`Filter`: a Python builder for Tupli's JSON filter language.

Tupli's list endpoints take a filter tree::

    {"type": "EQ" | "NE" | "GT" | "GEQ" | "LT" | "LEQ" | "IN", "key": "dotted.path", "value": ...}
    {"type": "AND" | "OR", "filters": [<filter>, ...]}

`Filter` writes it with Python operators::

    >>> from astroquery_ext.tupli import Filter
    >>> f = (Filter("metadata.difficulty") == "easy") & (Filter("metadata.extra.n") >= 3)
    >>> f.to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'type': 'AND', 'filters': [{'type': 'EQ', 'key': 'metadata.difficulty', 'value': 'easy'},
                                {'type': 'GEQ', 'key': 'metadata.extra.n', 'value': 3}]}

``Filter(key)`` alone names a field; comparing it (``==``, ``!=``, ``<``,
``<=``, ``>``, ``>=``, `Filter.isin`) makes a condition; ``&`` and ``|``
combine conditions (nested ANDs and ORs are flattened). Everything the server
would reject, or would silently read another way, is refused here with a
`ValueError` or `TypeError` before anything is sent:

- keys are dotted paths of plain names: no empty parts, no ``$`` operators;
- values are JSON (str, int, float, bool, lists and dicts of those); ``None``
  cannot be matched (the server requires a value), nor can NaN or infinity;
- ordering comparisons take numbers or strings; `Filter.isin` takes a
  non-empty list;
- an empty AND or OR is refused: the server reads it as "match everything".

A condition compared with ``==`` to another condition is a structural
comparison (True or False); a condition cannot be used as a truth value,
so ``1 < Filter("x") < 3`` is an error rather than a silent half-filter.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Iterable, Mapping

__all__ = ["Filter"]

LEAF_TYPES = ("EQ", "NE", "GT", "GEQ", "LT", "LEQ", "IN")
GROUP_TYPES = ("AND", "OR")
_ORDERING = ("GT", "GEQ", "LT", "LEQ")
_KEY_PART = re.compile(r"[^\s.$][^\s.]*")
_MAX_DEPTH = 64


def _check_key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"a Filter key must be a str such as 'metadata.name'; got {type(key).__name__}")
    parts = key.split(".")
    if not key or not all(_KEY_PART.fullmatch(p) for p in parts):
        raise ValueError(f"a Filter key must be a dotted path of names without spaces or '$' "
                         f"(e.g. 'metadata.extra.score'); got {key!r}")
    return key


def _check_json(value: Any, where: str, depth: int = 0) -> Any:
    """``value`` as plain JSON data (tuples become lists), or a TypeError/ValueError."""
    if depth > _MAX_DEPTH:
        raise ValueError(f"{where} is nested too deeply")
    if value is None:
        raise ValueError(f"{where} cannot be None: Tupli filters cannot match null values")
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number; got {value!r}")
        return float(value)
    if hasattr(value, "dtype") and getattr(value, "shape", None) == ():  # numpy scalar
        return _check_json(value.item(), where, depth)
    if isinstance(value, (list, tuple)):
        return [_check_json(v, where, depth + 1) for v in value]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: dict keys must be str; got {k!r}")
            out[k] = _check_json(v, where, depth + 1)
        return out
    raise TypeError(f"{where} must be JSON data (str, int, float, bool, list, dict); "
                    f"got {type(value).__name__}")


class Filter:
    """A field of a Tupli record, or a condition on fields.

    Parameters
    ----------
    key : str
        Dotted path of the field, relative to what is listed: benchmarks and
        episodes use document paths (``metadata.name``, ``benchmark_id``,
        ``n_tuples``...); artifacts use paths relative to the artifact's
        metadata (``name``, ``benchmark_id``, ``extra.kind``...).

    Examples
    --------
    >>> from astroquery_ext.tupli import Filter
    >>> (Filter("n_tuples") > 100).to_dict()
    {'type': 'GT', 'key': 'n_tuples', 'value': 100}
    >>> Filter("metadata.name").isin(["a", "b"]) | (Filter("created_by") == "alice")
    Filter.any(Filter('metadata.name').isin(['a', 'b']), Filter('created_by') == 'alice')
    """

    __slots__ = ("type", "key", "value", "filters")

    def __init__(self, key: str):
        self.type: str | None = None
        self.key: str | None = _check_key(key)
        self.value: Any = None
        self.filters: tuple[Filter, ...] = ()

    # -- building --------------------------------------------------------------

    @classmethod
    def _leaf(cls, type_: str, key: str, value: Any) -> "Filter":
        where = f"the value compared with {key!r}"
        value = _check_json(value, where)
        if type_ in _ORDERING and (isinstance(value, bool) or not isinstance(value, (int, float, str))):
            raise TypeError(f"{where} must be a number or a string for an ordering comparison; "
                            f"got {type(value).__name__}")
        if type_ == "IN":
            if not isinstance(value, list):
                raise TypeError(f"isin() takes a list of values for {key!r}; got {type(value).__name__}")
            if not value:
                raise ValueError(f"isin() needs at least one value for {key!r}")
        node = object.__new__(cls)
        node.type, node.key, node.value, node.filters = type_, key, value, ()
        return node

    @classmethod
    def _group(cls, type_: str, filters: Iterable["Filter"]) -> "Filter":
        flat: list[Filter] = []
        for f in filters:
            f = cls._condition(f, f"Filter.{'all' if type_ == 'AND' else 'any'}()")
            flat.extend(f.filters if f.type == type_ else (f,))
        if not flat:
            raise ValueError(f"an empty {type_} would match everything on the server; "
                             "give at least one condition")
        node = object.__new__(cls)
        node.type, node.key, node.value, node.filters = type_, None, None, tuple(flat)
        return node

    @staticmethod
    def _condition(f: Any, where: str) -> "Filter":
        if not isinstance(f, Filter):
            raise TypeError(f"{where} combines Filter conditions; got {type(f).__name__}")
        if f.type is None:
            raise TypeError(f"{where}: Filter({f.key!r}) names a field but sets no condition; "
                            f"compare it, e.g. Filter({f.key!r}) == value")
        return f

    def _field(self, op: str) -> str:
        if self.type is not None:
            raise TypeError(f"'{op}' compares a field, e.g. Filter('metadata.name') {op} value; "
                            f"this is already a condition ({self!r})")
        return self.key

    @classmethod
    def all(cls, *filters: "Filter") -> "Filter":
        """All of the conditions (AND); at least one."""
        return cls._group("AND", filters)

    @classmethod
    def any(cls, *filters: "Filter") -> "Filter":
        """Any of the conditions (OR); at least one."""
        return cls._group("OR", filters)

    def __eq__(self, value):  # type: ignore[override]
        if self.type is None:
            return Filter._leaf("EQ", self.key, value)
        if not isinstance(value, Filter):
            return NotImplemented
        return self.to_dict() == value.to_dict() if value.type is not None else False

    def __ne__(self, value):  # type: ignore[override]
        if self.type is None:
            return Filter._leaf("NE", self.key, value)
        if not isinstance(value, Filter):
            return NotImplemented
        return not self.__eq__(value)

    def __hash__(self):
        if self.type is None:
            return hash(("field", self.key))
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __gt__(self, value):
        return Filter._leaf("GT", self._field(">"), value)

    def __ge__(self, value):
        return Filter._leaf("GEQ", self._field(">="), value)

    def __lt__(self, value):
        return Filter._leaf("LT", self._field("<"), value)

    def __le__(self, value):
        return Filter._leaf("LEQ", self._field("<="), value)

    def isin(self, values: Iterable[Any]) -> "Filter":
        """The field equals one of ``values`` (a non-empty list)."""
        key = self._field("isin()")
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
            raise TypeError(f"isin() takes a list of values for {key!r}; got {type(values).__name__}")
        return Filter._leaf("IN", key, list(values))

    def __and__(self, other):
        return Filter._group("AND", (self._condition(self, "&"), self._condition(other, "&")))

    def __or__(self, other):
        return Filter._group("OR", (self._condition(self, "|"), self._condition(other, "|")))

    def __rand__(self, other):
        return Filter._group("AND", (self._condition(other, "&"), self._condition(self, "&")))

    def __ror__(self, other):
        return Filter._group("OR", (self._condition(other, "|"), self._condition(self, "|")))

    def __bool__(self):
        raise TypeError("a Filter has no truth value: combine conditions with & and |, not "
                        "'and'/'or', and write 'a < x < b' as (Filter(x) > a) & (Filter(x) < b)")

    # -- wire form -------------------------------------------------------------

    def to_dict(self) -> dict:
        """The JSON filter the server reads."""
        if self.type is None:
            raise TypeError(f"Filter({self.key!r}) names a field but sets no condition; "
                            f"compare it, e.g. Filter({self.key!r}) == value")
        if self.type in GROUP_TYPES:
            return {"type": self.type, "filters": [f.to_dict() for f in self.filters]}
        return {"type": self.type, "key": self.key, "value": self.value}

    @classmethod
    def from_dict(cls, data: Mapping) -> "Filter":
        """Read a JSON filter (as `to_dict` writes it, or pytupli's ``model_dump()``), checking it."""
        return cls._from_dict(data, 0)

    @classmethod
    def _from_dict(cls, data: Any, depth: int) -> "Filter":
        if depth > _MAX_DEPTH:
            raise ValueError("the filter is nested too deeply")
        if hasattr(data, "model_dump"):  # a pytupli filter object
            data = data.model_dump()
        if not isinstance(data, Mapping):
            raise TypeError(f"a filter is a dict with 'type'; got {type(data).__name__}")
        type_ = data.get("type", "OR")
        type_ = getattr(type_, "value", type_)
        if type_ in GROUP_TYPES:
            if data.get("key") is not None or data.get("value") is not None:
                raise ValueError(f"a {type_} filter takes 'filters', not 'key'/'value'")
            return cls._group(type_, [cls._from_dict(f, depth + 1) for f in data.get("filters") or ()])
        if type_ not in LEAF_TYPES:
            raise ValueError(f"filter type must be one of {LEAF_TYPES + GROUP_TYPES} (upper case); "
                             f"got {type_!r}")
        if data.get("filters"):
            raise ValueError(f"a {type_} filter takes 'key' and 'value', not 'filters'")
        unknown = set(data) - {"type", "key", "value", "filters"}
        if unknown:
            raise ValueError(f"unknown filter fields: {sorted(unknown)}")
        return cls._leaf(type_, _check_key(data.get("key")), data.get("value"))

    @classmethod
    def coerce(cls, value: "Filter | Mapping | None", argument: str = "filter") -> dict | None:
        """The wire form of a `Filter`, a filter dict or a pytupli filter; None stays None."""
        if value is None:
            return None
        if isinstance(value, Filter):
            cls._condition(value, argument)
            return value.to_dict()
        if isinstance(value, Mapping) or hasattr(value, "model_dump"):
            return cls.from_dict(value).to_dict()
        raise TypeError(f"{argument} must be a Filter (e.g. Filter('metadata.name') == 'x'), a filter "
                        f"dict, or None; got {type(value).__name__}")

    def __repr__(self) -> str:
        if self.type is None:
            return f"Filter({self.key!r})"
        if self.type in GROUP_TYPES:
            name = "all" if self.type == "AND" else "any"
            return f"Filter.{name}({', '.join(map(repr, self.filters))})"
        if self.type == "IN":
            return f"Filter({self.key!r}).isin({self.value!r})"
        op = {"EQ": "==", "NE": "!=", "GT": ">", "GEQ": ">=", "LT": "<", "LEQ": "<="}[self.type]
        return f"Filter({self.key!r}) {op} {self.value!r}"
