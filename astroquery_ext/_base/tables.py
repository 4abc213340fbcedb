"""JSON answers to astropy Tables, the same way in every module: the one records-to-Table engine.

A service describes its columns once, as `Field` objects. The engine then
gives a Table whose columns and dtypes are the same whether the answer had a
million rows or none:

- integers are ``int64`` built from Python ints, so ids above 2**53 are exact
  (never through float); an integer beyond int64 keeps the whole column in
  ``object`` dtype, every value exact;
- missing values (``null`` or an absent key) are masked, never ``None`` objects;
- units are attached from the field (``deg``, ``arcsec``, ``mag``...);
- ``time`` fields become `~astropy.time.Time` (UTC) from ISO 8601 strings,
  with or without a ``Z`` or an offset (`~astroquery_ext._base.times`, the one time parser);
- lists and dicts go into ``object`` columns.

Two ways in, one way out:

- `records_to_table`: records already decoded to dicts (`decode_json`, the
  fastest untyped decoder, msgspec), any `Field` source (key, dotted path,
  function). Without fields, columns are inferred from the records.
- `RecordSchema`: for bulk answers whose columns are plain keys, a typed
  decoder (msgspec Structs) that reads only the declared keys, checks their
  types while decoding and leaves nothing else in memory; `TableBuilder`
  turns its rows (or dicts) into numpy columns batch by batch, so a very
  large answer is tabulated while it is still arriving.

A value of the wrong type is a `RemoteServiceError` that names the column
and the value (never a silent shift to another column or a wrong number); a
key the records lack is a masked column; keys the columns do not name are
ignored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import itertools
import json as _json
import operator
import threading
import warnings
from typing import Any, Callable, Iterable, Mapping, Sequence

import msgspec
import numpy as np
from astropy import units as u
from astropy.table import Column, MaskedColumn, Table

from astroquery_ext._base.times import time_column
from astroquery_ext._base.exceptions import MaxResultsWarning, NoResultsWarning, RemoteServiceError

__all__ = ["gc_paused", "Field", "records_to_table", "decode_json",
           "RecordSchema", "TableBuilder", "warn_if_empty",
           "warn_truncated", "DTYPES"]

DTYPES = ("int64", "float64", "bool", "str", "object", "time")

_GC_LOCK = threading.Lock()
_GC_STATE = {"depth": 0, "was_enabled": False}


@contextlib.contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector while a large result is parsed and tabulated.

    Parsing a large JSON answer allocates millions of objects that all stay
    alive, so the collector frees nothing, yet its passes (triggered by every
    allocation burst) can cost twice the parsing itself. Reference counting
    still frees everything as usual, and the collector runs again afterwards.
    Re-entrant across threads: the last one out restores the previous state.
    """
    with _GC_LOCK:
        if _GC_STATE["depth"] == 0:
            _GC_STATE["was_enabled"] = gc.isenabled()
            gc.disable()
        _GC_STATE["depth"] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_STATE["depth"] -= 1
            if _GC_STATE["depth"] == 0 and _GC_STATE["was_enabled"]:
                gc.enable()


# -- decoding ------------------------------------------------------------------------

def decode_json(body: bytes | bytearray | memoryview | str) -> Any:
    """Decode a JSON document to Python objects (dicts, lists, str, int, float, bool, None).

    msgspec's decoder: 3 to 4 times quicker than the standard library's on
    large answers, and every integer stays an exact Python int. Documents it
    refuses but `json` takes (``NaN``, ``Infinity``, numbers beyond a double)
    are decoded by `json`; a document neither takes raises `ValueError`.
    """
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        if isinstance(body, memoryview):
            body = body.tobytes()
        return _json.loads(body)  # raises json.JSONDecodeError (a ValueError) when it is not JSON


@dataclasses.dataclass(frozen=True)
class Field:
    """One column of a result table.

    Parameters
    ----------
    name : str
        Column name.
    dtype : str
        One of ``int64``, ``float64``, ``bool``, ``str``, ``object``, ``time``.
    source : str or callable, optional
        Where the value comes from: a key, a dotted path into nested dicts
        (``"phase1.state"``), or a function of the record. Default: ``name``.
    unit : str, optional
        An astropy unit string.
    description : str, optional
        Column description (shown by ``Table.info``).
    convert : callable, optional
        Applied to each value read from a key or a dotted path (None
        included), e.g. a list of dicts to the list of their names. Reading
        the path is then done column by column, shared by the fields of one
        prefix (``phase0.state``, ``phase0.startDate``).
    """

    name: str
    dtype: str
    source: str | Callable[[Mapping], Any] | None = None
    unit: str | None = None
    description: str | None = None
    convert: Callable[[Any], Any] | None = None

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"Field dtype must be one of {DTYPES}; got {self.dtype!r}")

    @property
    def key(self) -> str | None:
        """The record key the value is read from, or None for a dotted path or a function."""
        source = self.source if self.source is not None else self.name
        return source if isinstance(source, str) and "." not in source else None

    def value(self, record: Mapping) -> Any:
        source = self.source if self.source is not None else self.name
        if callable(source):
            return source(record)
        value: Any = record
        if source in record:
            value = record[source]
        else:
            for part in source.split("."):
                if not isinstance(value, Mapping) or part not in value:
                    value = None
                    break
                value = value[part]
        return value if self.convert is None else self.convert(value)

    def column_values(self, records: Sequence[Mapping], levels: dict | None = None) -> list:
        """``[self.value(r) for r in records]`` for a list of dicts, a level of the path at a time.

        ``levels`` (one dict for the fields of one batch) keeps each prefix's
        values, so ``phase0.state`` and ``phase0.startDate`` read ``phase0`` once.
        """
        source = self.source if self.source is not None else self.name
        if callable(source):
            return list(map(source, records))
        if "." not in source:
            values = list(map(dict.get, records, itertools.repeat(source)))  # 5x methodcaller("get")
        else:
            levels = {} if levels is None else levels
            parts = source.split(".")
            values, done = records, 0
            for k in range(len(parts), 0, -1):
                if (hit := levels.get(tuple(parts[:k]))) is not None:
                    values, done = hit, k
                    break
            for k in range(done, len(parts)):
                part = parts[k]
                values = [v.get(part) if type(v) is dict else v[part] if isinstance(v, Mapping) and part in v
                          else None for v in values]
                levels[tuple(parts[:k + 1])] = values
            if () not in levels:
                levels[()] = set().union(*records)  # the top-level keys
            if source in levels[()]:  # a key with a dot in it wins over the path, record by record
                values = [r[source] if source in r else v for r, v in zip(records, values)]
        return values if self.convert is None else list(map(self.convert, values))


# -- values to numpy -------------------------------------------------------------------

def _wrong_type(name: str, dtype: str, values: list, convert) -> RemoteServiceError:
    for i, v in enumerate(values):
        if v is None:
            continue
        try:
            convert(v)
        except (TypeError, ValueError, OverflowError):
            return RemoteServiceError(
                f"The server's answer has a value of the wrong type: column {name!r} (row {i}) is {v!r}, "
                f"where {dtype} was expected. Nothing was returned; report this to the service.")
    return RemoteServiceError(f"The server's answer has a value of the wrong type in column {name!r} "
                              f"(expected {dtype}); report this to the service.")


def _as_int(v):
    if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
        raise ValueError(v)
    return int(v)


def _as_float(v):
    if isinstance(v, bool):
        raise ValueError(v)
    return float(v)


def _object_array(values: list) -> np.ndarray:
    """A 1-D object array of ``values`` (lists stay elements, never a second dimension)."""
    return np.fromiter(values, dtype=object, count=len(values))


def _null_mask(values: list) -> np.ndarray | None:
    """Where ``values`` holds None, or None when nowhere (both at C speed)."""
    if None not in values:
        return None
    return np.equal(_object_array(values), None)


def to_array(values: list, dtype: str, name: str = "?") -> tuple[np.ndarray, np.ndarray | None]:
    """One column's values as ``(data, mask or None)``; None is missing. ``time`` gives strings (or objects).

    ``int64`` beyond the int64 range gives an ``object`` array of the exact
    ints (None kept as a value). A value that cannot be read as ``dtype``
    raises `RemoteServiceError` naming the column and the value.
    """
    if dtype == "float64":
        try:
            data = np.array(values, dtype=np.float64)  # None -> nan
        except (TypeError, ValueError):
            try:
                data = np.array([np.nan if v is None else _as_float(v) for v in values], dtype=np.float64)
            except (TypeError, ValueError, OverflowError):
                raise _wrong_type(name, dtype, values, _as_float) from None
        else:
            if data.ndim != 1 or bool in set(map(type, values)):
                raise _wrong_type(name, dtype, values, _as_float)
        mask = np.isnan(data)
        return data, (mask if mask.any() else None)
    if dtype == "int64":
        if int in (types := set(map(type, values))) and types <= {int, type(None)}:
            mask = _null_mask(values)
            try:
                if mask is None:
                    return np.array(values, dtype=np.int64), None
                return np.array([0 if v is None else v for v in values], dtype=np.int64), mask
            except OverflowError:
                # An integer beyond int64 (JSON has no limit): every value exact, as a Python int.
                return _object_array(values), None
        mask = _null_mask(values)
        try:
            ints = [0 if v is None else _as_int(v) for v in values]
        except (TypeError, ValueError, OverflowError):
            raise _wrong_type(name, dtype, values, _as_int) from None
        try:
            return np.array(ints, dtype=np.int64) if ints else np.zeros(0, np.int64), mask
        except OverflowError:
            return _object_array([None if v is None else i for v, i in zip(values, ints)]), None
    if dtype == "bool":
        mask = _null_mask(values)
        if not set(map(type, values)) <= {bool, int, type(None)}:
            raise _wrong_type(name, dtype, values, lambda v: v if isinstance(v, (bool, int)) else int("x"))
        if mask is None:
            return np.array(values, dtype=bool), None
        return np.array([False if v is None else bool(v) for v in values], dtype=bool), mask
    if dtype in ("str", "time"):
        mask = _null_mask(values)
        if mask is not None:
            if mask.all():
                return np.zeros(len(values), dtype="U1"), mask
            values = ["" if v is None else v for v in values]
        types = set(map(type, values))
        if dtype == "time" and not types <= {str}:
            return _object_array(values), mask
        if types & {list, dict}:
            raise _wrong_type(name, dtype, values, lambda v: int("x") if isinstance(v, (list, dict)) else v)
        return _str_array(values, types), mask
    return _object_array(values), None  # object: None stays a value (e.g. a list that is absent)


def _str_array(values: list, types: set) -> np.ndarray:
    """A numpy unicode array of ``values``; texts of one length (names, codes, times) at C speed.

    numpy drops trailing NULs from its texts: a column with a text that ends in
    one is an ``object`` array of the texts as received.
    """
    if not values:
        return np.zeros(0, dtype="U1")
    if types == {str}:
        lengths = list(map(len, values))
        width = max(lengths)
        if min(lengths) == width and width:
            array = np.frombuffer("".join(values).encode("utf-32-le"), dtype=f"<U{width}").copy()
        else:
            array = np.array(values, dtype=f"U{max(width, 1)}")
        if int(np.char.str_len(array).sum()) != sum(lengths):
            return _object_array(values)
        return array
    return np.array(values, dtype=str)



_EMPTY = {"float64": np.float64, "int64": np.int64, "bool": bool, "str": "U1", "time": "U1", "object": object}


def finish_column(field: Field, data: np.ndarray, mask: np.ndarray | None):
    """Data and mask of a whole column to a Column, MaskedColumn or Time."""
    if field.dtype == "time":
        return time_column(data, mask)
    unit = u.Unit(field.unit) if field.unit else None
    if mask is not None and mask.any() and data.dtype.kind != "O":
        return MaskedColumn(data, name=field.name, mask=mask, unit=unit, description=field.description)
    return Column(data, name=field.name, unit=unit, description=field.description)


# -- typed decoding ----------------------------------------------------------------------

_RECORD_KIND = {"int64": np.int64, "float64": np.float64}
_TYPES = {"int64": int | None, "float64": float | None, "bool": bool | int | None,
          "str": str | int | float | bool | None, "time": str | None, "object": Any}


class RecordSchema:
    """A typed decoder for records whose columns are plain keys, and its table builder.

    Parameters
    ----------
    fields : list of Field
        The columns. A field whose source is a dotted path or a function, or
        that has a ``convert``, is not read by the typed decoder (its column
        is built from ``extra`` in `TableBuilder.add`, or masked).
    name : str
        Name of the record type (shown in decoding errors).

    Notes
    -----
    Decoding checks each declared key's type (``int64``: an integer of any
    size; ``float64``: any number; ``str``: text, numbers are written out;
    ``time``: text; ``bool``: true/false or 0/1) and skips every other key
    without building it. A wrong type raises `RemoteServiceError` with the
    JSON path of the value (``$[12].lc[3].mag``).
    """

    def __init__(self, fields: Sequence[Field], name: str = "Record"):
        self.fields = list(fields)
        typed = [(i, f) for i, f in enumerate(self.fields) if f.key is not None and f.convert is None]
        # Attribute names are private (f0, f1...): any JSON key works, even "class" or "id".
        self.attrs: list[str | None] = [None] * len(self.fields)
        spec, rename = [], {}
        for i, f in typed:
            attr = f"f{i}"
            self.attrs[i] = attr
            spec.append((attr, _TYPES[f.dtype], None))
            rename[attr] = f.key
        self.type = msgspec.defstruct(name, spec, rename=rename, gc=False, omit_defaults=False)
        # One decoded row as a numpy record (numbers in place, other values as objects): a batch of
        # rows becomes columns in one C loop (`TableBuilder`), with no Python call per value.
        self.record_dtype = np.dtype([(f"f{i}", _RECORD_KIND.get(f.dtype, object)) for i, f in typed])

    def decoder(self, container=list) -> msgspec.json.Decoder:
        """A decoder of ``container[record]`` (or of the record type itself with ``container=None``)."""
        return msgspec.json.Decoder(self.type if container is None else container[self.type])

    def builder(self, prefix: Sequence[Field] = ()) -> "TableBuilder":
        """A `TableBuilder` for these records, with ``prefix`` columns first (given to ``add`` as ``extra``)."""
        return TableBuilder(self.fields, prefix=prefix, schema=self)


class TableBuilder:
    """Rows added batch by batch as numpy chunks, stacked into one Table at the end.

    Parameters
    ----------
    fields : list of Field
        The columns built from the rows.
    prefix : list of Field
        Columns whose values are given with each batch (``add(rows, name=array)``),
        put first; e.g. the object id each row belongs to.
    schema : RecordSchema, optional
        When the rows are that schema's Structs.
    """

    def __init__(self, fields: Sequence[Field], *, prefix: Sequence[Field] = (),
                 schema: RecordSchema | None = None):
        self.fields = list(fields)
        self.prefix = list(prefix)
        self.schema = schema
        self._chunks: dict[str, list] = {f.name: [] for f in self.prefix + self.fields}
        self._rows = 0

    def __len__(self) -> int:
        return self._rows

    def _records(self, rows: Sequence) -> np.ndarray | None:
        """The schema's Structs as one numpy record array, or None when a number does not fit its column
        (a null int, an int beyond int64: those columns are then read one by one)."""
        try:
            return np.fromiter(map(msgspec.structs.astuple, rows), dtype=self.schema.record_dtype,
                               count=len(rows))
        except (TypeError, ValueError, OverflowError):
            return None

    def _values(self, index: int, field: Field, rows: Sequence, dicts: bool = False,
                records: np.ndarray | None = None, levels: dict | None = None) -> list | np.ndarray:
        if self.schema is not None:
            attr = self.schema.attrs[index]
            if attr is None:
                return [None] * len(rows)
            if records is not None:
                column = records[attr]
                # Numbers as they are (None read as NaN, a JSON answer decoded by msgspec has no NaN);
                # other values as the list of the decoded objects.
                return np.ascontiguousarray(column) if column.dtype != object else column.tolist()
            getter = operator.attrgetter(attr)
            if field.dtype in ("float64", "int64"):
                # Read at C speed. numpy reads None as NaN for floats; a JSON answer decoded by msgspec
                # has no NaN, so NaN marks exactly the nulls (masked in _add).
                try:
                    return np.fromiter(map(getter, rows), dtype=np.float64 if field.dtype == "float64"
                                       else np.int64, count=len(rows))
                except (TypeError, ValueError, OverflowError):
                    pass
            return list(map(getter, rows))
        if dicts:
            return field.column_values(rows, levels)
        return [field.value(r) for r in rows]

    def add(self, rows: Sequence, **extra) -> None:
        """Add one batch of rows (dicts, or the schema's Structs); ``extra``: the prefix columns' values."""
        n = len(rows)
        if n == 0:
            return
        for f in self.prefix:
            values = extra[f.name]
            if isinstance(values, np.ndarray) and values.dtype != object:
                self._chunks[f.name].append((values, None))
            else:
                self._chunks[f.name].append(to_array(list(values), f.dtype, f.name))
        dicts = self.schema is None and set(map(type, rows)) == {dict}
        records = self._records(rows) if self.schema is not None else None
        levels: dict = {}  # the values of each dotted path's prefixes, read once for all fields
        for i, f in enumerate(self.fields):
            values = self._values(i, f, rows, dicts, records, levels)
            if isinstance(values, np.ndarray):
                mask = np.isnan(values) if values.dtype == np.float64 else None
                self._chunks[f.name].append((values, mask if mask is not None and mask.any() else None))
            else:
                self._chunks[f.name].append(to_array(values, f.dtype, f.name))
        self._rows += n

    def add_arrays(self, n: int, columns: Mapping[str, tuple]) -> None:
        """Add one batch of ``n`` rows given as columns: ``{name: (data, mask or None)}``, prefix included."""
        if n:
            for f in self.prefix + self.fields:
                self._chunks[f.name].append(columns[f.name])
            self._rows += n

    def extend(self, other: "TableBuilder") -> None:
        """Add the rows of ``other`` (a builder of the same columns) after these."""
        for name, chunks in other._chunks.items():
            self._chunks[name].extend(chunks)
        self._rows += other._rows

    @property
    def names(self) -> list[str]:
        """The columns' names, in order (the prefix first)."""
        return [f.name for f in self.prefix + self.fields]

    def stacked(self, name: str) -> tuple[Field, np.ndarray, np.ndarray | None]:
        """One column of every row added: ``(field, data, mask or None)``, before `finish_column`."""
        for field in self.prefix + self.fields:
            if field.name == name:
                return (field, *self._stack(field, self._chunks[name]))
        raise KeyError(name)

    def table(self, meta: Mapping[str, Any] | None = None) -> Table:
        """The Table of every row added (same columns and dtypes when none was)."""
        fields = self.prefix + self.fields
        table = Table(self._columns(fields), names=[f.name for f in fields], copy=False)
        if meta:
            table.meta.update(meta)
        return table

    def _columns(self, fields: Sequence[Field]) -> list:
        """Each field's finished column, in order."""
        return [finish_column(f, *self._stack(f, self._chunks[f.name])) for f in fields]

    @staticmethod
    def _stack(field: Field, chunks: list) -> tuple[np.ndarray, np.ndarray | None]:
        """One column's chunks ``(data, mask or None)`` as one ``(data, mask or None)``."""
        if not chunks:
            return np.zeros(0, dtype=_EMPTY[field.dtype]), None
        if len(chunks) == 1:
            return chunks[0]
        kinds = {c[0].dtype.kind for c in chunks}
        if "O" in kinds and len(kinds) > 1:  # an int64 column that went beyond int64 in one batch
            parts = []
            for d, m in chunks:
                d = d.astype(object)
                if m is not None:
                    d[m] = None
                parts.append(d)
            return np.concatenate(parts), None
        data = np.concatenate([c[0] for c in chunks])
        masked = any(c[1] is not None for c in chunks)
        mask = np.concatenate([c[1] if c[1] is not None else np.zeros(len(c[0]), bool)
                               for c in chunks]) if masked else None
        return data, mask


# -- records (dicts) to a Table ------------------------------------------------------------

def _infer_dtype(values: Iterable[Any]) -> str:
    kinds = set()
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            kinds.add("bool")
        elif isinstance(v, int):
            kinds.add("int64" if -2**63 <= v < 2**63 else "object")  # beyond int64: kept exact
        elif isinstance(v, float):
            kinds.add("float64")
        elif isinstance(v, str):
            kinds.add("str")
        else:
            kinds.add("object")
    if not kinds:
        return "str"
    if len(kinds) == 1:
        return kinds.pop()
    if kinds == {"int64", "float64"}:
        return "float64"
    return "object"


def records_to_table(records: Sequence[Mapping], fields: Sequence[Field] | None = None, *,
                     meta: Mapping[str, Any] | None = None) -> Table:
    """Build a Table from JSON records.

    Parameters
    ----------
    records : sequence of dict
        The records, as decoded from JSON (`decode_json`).
    fields : sequence of Field, optional
        The columns; default: inferred from the records' keys.
    meta : dict, optional
        Put into ``table.meta`` (provenance: service, URL, query, time).
    """
    if fields is None:
        names: dict[str, None] = {}
        for record in records:
            for key in record:
                names.setdefault(key, None)
        fields = [Field(name, _infer_dtype(r.get(name) for r in records)) for name in names]
    builder = TableBuilder(fields)
    builder.add(records)
    return builder.table(meta)


def warn_if_empty(table: Table, what: str) -> Table:
    """Warn `NoResultsWarning` when ``table`` has no rows; returns the table."""
    if len(table) == 0:
        warnings.warn(f"No {what} matched the query.", NoResultsWarning, stacklevel=3)
    return table


def warn_truncated(row_limit: int, what: str) -> None:
    """Warn `MaxResultsWarning`: the result was cut at ``row_limit`` rows."""
    warnings.warn(f"The {what} were truncated at row_limit={row_limit}; more match the query. "
                  f"Pass a larger row_limit (or -1 for all).", MaxResultsWarning, stacklevel=3)
