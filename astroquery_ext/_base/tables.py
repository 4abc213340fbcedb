"""JSON records to astropy Tables, the same way in every module.

A service describes its columns once, as `Field` objects; `records_to_table`
then gives a Table whose columns and dtypes are the same whether the answer
had a thousand rows or none:

- integers are ``int64`` built from Python ints, so ids above 2**53 are exact
  (never through float);
- missing values (``null`` or an absent key) are masked, never ``None`` objects;
- units are attached from the field (``deg``, ``arcsec``, ``mag``...);
- ``time`` fields become `~astropy.time.Time` (UTC) from ISO 8601 strings,
  with or without a ``Z`` or an offset;
- lists and dicts go into ``object`` columns.

Without fields, columns are inferred from the records (first-seen key order).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import threading
import warnings
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
from astropy import units as u
from astropy.table import Column, MaskedColumn, Table
from astropy.time import Time

from astroquery_ext._base.exceptions import MaxResultsWarning, NoResultsWarning

__all__ = ["gc_paused", "Field", "records_to_table", "parse_time", "warn_if_empty", "warn_truncated", "DTYPES"]

DTYPES = ("int64", "float64", "bool", "str", "object", "time")

_MISSING = object()

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
    """

    name: str
    dtype: str
    source: str | Callable[[Mapping], Any] | None = None
    unit: str | None = None
    description: str | None = None

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"Field dtype must be one of {DTYPES}; got {self.dtype!r}")

    def values(self, records: Sequence[Mapping]) -> list:
        """``[self.value(r) for r in records]``, quicker for a plain key of dicts."""
        source = self.source if self.source is not None else self.name
        if isinstance(source, str) and "." not in source and all(type(r) is dict for r in records):
            return [r.get(source) for r in records]
        return [self.value(r) for r in records]

    def value(self, record: Mapping) -> Any:
        source = self.source if self.source is not None else self.name
        if callable(source):
            return source(record)
        if source in record:
            return record[source]
        value: Any = record
        for part in source.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return None
            value = value[part]
        return value


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO 8601 string (``Z``, offset or naive = UTC) or a number of MJD as a naive UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    text = str(value).strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return parsed


def _utc_isot_column(values: list) -> Time | None:
    """Fast path: every value an ISO string in UTC (``Z``, ``+00:00`` or none) or None.

    astropy's C parser reads the whole column at once; anything it does not
    take (other offsets, numbers, datetimes) returns None for the general path.
    """
    texts, mask = [], []
    filler = None
    for v in values:
        if v is None:
            texts.append(None)
            mask.append(True)
            continue
        if not isinstance(v, str):
            return None
        if v.endswith(("Z", "z")):
            v = v[:-1]
        elif v.endswith("+00:00"):
            v = v[:-6]
        texts.append(v)
        mask.append(False)
        filler = filler or v
    if filler is None:
        return None
    try:
        col = Time(np.array([filler if t is None else t for t in texts]), format="isot", scale="utc")
    except ValueError:
        return None
    if any(mask):
        col[np.array(mask)] = np.ma.masked
    return col


def _column(name: str, dtype: str, values: list, unit: str | None, description: str | None):
    mask = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    masked = bool(mask.any())
    if dtype == "time":
        fast = _utc_isot_column(values)
        if fast is not None:
            return fast
        stamps = [parse_time(v) for v in values]
        mask = np.fromiter((s is None for s in stamps), dtype=bool, count=len(stamps))
        if not len(stamps):
            col = Time(np.zeros(0), format="mjd", scale="utc")
            col.format = "isot"
            return col
        filler = next((s for s in stamps if s is not None), dt.datetime(2000, 1, 1))
        col = Time([s if s is not None else filler for s in stamps], scale="utc")
        col.format = "isot"
        if mask.any():
            col[mask] = np.ma.masked
        return col
    if dtype == "int64":
        ints = [0 if v is None else int(v) for v in values]
        try:
            data = np.array(ints, dtype=np.int64)
        except OverflowError:
            # An integer beyond int64 (JSON has no limit): keep every value exact
            # as a Python int rather than wrap or round it.
            return _column(name, "object", values, unit, description)
    elif dtype == "float64":
        data = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    elif dtype == "bool":
        data = np.array([False if v is None else bool(v) for v in values], dtype=bool)
    elif dtype == "str":
        texts = ["" if v is None else str(v) for v in values]
        data = np.array(texts, dtype=str) if texts else np.array([], dtype="U1")
    else:
        data = np.empty(len(values), dtype=object)
        for i, v in enumerate(values):
            data[i] = v
        masked = False  # None stays a value in object columns (e.g. a list that is absent)
    cls = MaskedColumn if masked else Column
    kwargs = {"mask": mask} if masked else {}
    return cls(data, name=name, unit=u.Unit(unit) if unit else None, description=description, **kwargs)


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
        The records, as parsed from JSON.
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
    columns = [_column(f.name, f.dtype, f.values(records), f.unit, f.description) for f in fields]
    table = Table(columns, names=[f.name for f in fields], copy=False)
    if meta:
        table.meta.update(meta)
    return table


def warn_if_empty(table: Table, what: str) -> Table:
    """Warn `NoResultsWarning` when ``table`` has no rows; returns the table."""
    if len(table) == 0:
        warnings.warn(f"No {what} matched the query.", NoResultsWarning, stacklevel=3)
    return table


def warn_truncated(row_limit: int, what: str) -> None:
    """Warn `MaxResultsWarning`: the result was cut at ``row_limit`` rows."""
    warnings.warn(f"The {what} were truncated at row_limit={row_limit}; more match the query. "
                  f"Pass a larger row_limit (or -1 for all).", MaxResultsWarning, stacklevel=3)
