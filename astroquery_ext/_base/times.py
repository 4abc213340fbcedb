"""Times from servers, the one parser: ISO 8601 texts (with or without ``Z`` or an offset) to UTC.

- `parse_time`: one value to an aware `datetime` (None for null);
- `time_stamps` / `time_column`: many values to a `~astropy.time.Time` column
  (UTC, masked where missing) through integer days and fractions, never a
  Python object per value on the fast path.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

import numpy as np
from astropy.time import Time

__all__ = ["parse_time", "time_column", "time_stamps"]


def parse_time(value: Any) -> dt.datetime | None:
    """One ISO 8601 string (``Z``, offset or naive = UTC) as a naive UTC datetime; None for null or empty."""
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


def _empty_time() -> Time:
    col = Time(np.zeros(0), format="mjd", scale="utc")
    col.format = "isot"
    return col


def time_column(values: Sequence | np.ndarray, mask: np.ndarray | None = None) -> Time:
    """A `~astropy.time.Time` column (UTC, ``isot``) from ISO 8601 strings; None or ``""`` masked.

    All-UTC strings (``Z``, ``+00:00`` or none) are parsed by numpy at once;
    other offsets, `datetime` objects and dates go through `parse_time` one
    by one. An unreadable value raises `ValueError`. ``datetime64`` values
    (UTC; NaT masked) are taken as they are.
    """
    if len(values) == 0:
        return _empty_time()
    return _time_from_stamps(*time_stamps(values, mask))


def time_stamps(values: Sequence | np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(datetime64[us] UTC stamps, missing)`` of the values `time_column` takes."""
    n = len(values)
    array = values if isinstance(values, np.ndarray) else None
    if array is not None and array.dtype.kind == "M":
        stamps = array.astype("datetime64[us]")
        return stamps, (np.isnat(stamps) if mask is None else np.array(mask, dtype=bool) | np.isnat(stamps))
    if array is None or array.dtype.kind not in "UO":
        array = np.empty(n, dtype=object)
        array[:] = list(values)
    missing = np.zeros(n, bool) if mask is None else np.array(mask, dtype=bool)
    stamps = None
    if array.dtype.kind == "O":
        is_none = np.equal(array, None) | np.equal(array, "")
        missing |= is_none
        if all(type(v) is str for v in array[~missing]):
            array = np.where(missing, "2000-01-01", array).astype(str)
    else:
        missing |= array == ""
    if array.dtype.kind == "U":
        text = np.where(missing, "2000-01-01", array)
        text = np.char.rstrip(text, "Zz")
        utc = np.char.endswith(text, "+00:00")
        if utc.any():
            text = np.where(utc, np.char.replace(text, "+00:00", ""), text)
        if _plain_utc(text):
            try:
                stamps = text.astype("datetime64[us]")
            except ValueError:
                stamps = None
    if stamps is None:
        parsed = [None if m else parse_time(v) for v, m in zip(array.tolist(), missing)]
        stamps = np.array([p if p is not None else np.datetime64("NaT") for p in parsed], dtype="datetime64[us]")
    return stamps, missing | np.isnat(stamps)


def _plain_utc(text: np.ndarray) -> bool:
    """Whether numpy reads every one of ``text`` as it is meant: ``YYYY-MM-DD`` first and no UTC offset
    after it (numpy applies an offset with a warning, and reads ``20200101`` as a year)."""
    if len(text) == 0 or text.dtype.itemsize // 4 < 10:
        return False
    chars = np.ascontiguousarray(text).view("U1").reshape(len(text), -1)
    return bool((chars[:, 4] == "-").all() and (chars[:, 7] == "-").all()
                and not (np.char.find(text, "+") >= 0).any() and not (np.char.rfind(text, "-") > 7).any())


def _time_from_stamps(stamps: np.ndarray, missing: np.ndarray) -> Time:
    """The Time column of UTC ``datetime64[us]`` stamps, ``missing`` masked."""
    n = len(stamps)
    if missing.all():
        stamps = np.full(n, np.datetime64("2000-01-01T00:00:00", "us"))
    elif missing.any():
        stamps = stamps.copy()
        stamps[missing] = stamps[~missing][0]
    # Whole days and the fraction as two floats: exact to the microsecond and
    # vectorised (Time from datetime64 values parses each one in Python).
    micro = stamps.astype("datetime64[us]").astype(np.int64)
    days = np.floor_divide(micro, 86_400_000_000)
    fraction = (micro - days * 86_400_000_000) / 86_400_000_000.0
    col = Time(days.astype(np.float64) + 40587.0, fraction, format="mjd", scale="utc")
    col.format = "isot"
    if missing.any():
        col[missing] = np.ma.masked
    return col
