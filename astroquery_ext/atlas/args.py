"""The arguments of `~astroquery_ext.atlas.AtlasClass`, checked before anything is sent.

ATLAS ids (19 digits, never through a float: `parse_ids`), the server's lists
by name or id (`MAIN_LISTS`, `CUSTOM_LISTS`), times as MJDs or the server's
ISO text, the cone radius, per-id values of a write, and numbers as the
server parses them. The checks every service shares are in
`~astroquery_ext._base.args`; these are ATLAS's own.
"""

from __future__ import annotations

import numbers
import re

import numpy as np
from astropy import units as u
from astropy.time import Time

from astroquery_ext._base.args import angle_arg, iso_utc, time_arg

__all__ = ["parse_ids", "MAIN_LISTS", "CUSTOM_LISTS", "MOVABLE_LISTS", "MAX_RADIUS"]

#: Main ("detection") lists, by id.
MAIN_LISTS = {0: "garbage", 1: "follow_up", 2: "good", 3: "possible", 4: "eyeball", 5: "attic",
              6: "stars", 7: "agn", 8: "fasttrack", 9: "movers", 10: "magellanic_clouds",
              11: "pm_stars", 12: "galcand", 13: "duplicates"}
#: Custom lists ("object groups") known when this version was released; any
#: other custom list id can be passed as an integer.
CUSTOM_LISTS = {2: "mookodi", 14: "salt", 16: "mookodi_live", 17: "mookodi_peak", 40: "cv",
                56: "mdwarf", 72: "heloise", 73: "vra"}
#: Main lists that ``set_detection_list`` may move objects to (the server refuses others).
MOVABLE_LISTS = (3, 4, 12)

MAX_RADIUS = 300.0       # arcsec, the server's limit
_ID_TEXT = re.compile(r"\d{19}")


def _id_error(value, position, name):
    return ValueError(f"{name}[{position}] = {value!r} is not an ATLAS object id: expected a 19-digit "
                      f"integer such as 1000005291314656200 (an int or a str; floats lose digits)")


def parse_ids(ids, name: str = "ids") -> np.ndarray:
    """ATLAS ids as an int64 array, in the order given, duplicates dropped.

    Accepts one id or a sequence (list, tuple, numpy array, Table column) of
    ints or digit strings. Every id must have exactly 19 digits. Floats are
    refused: above 2**53 they no longer hold every digit.

    Raises
    ------
    ValueError, TypeError
        Naming the first bad id and its position.
    """
    if isinstance(ids, (str, bytes, numbers.Integral)) or (isinstance(ids, np.ndarray) and ids.ndim == 0):
        ids = [ids.item() if isinstance(ids, np.ndarray) else ids]
    if isinstance(ids, np.ma.MaskedArray) and np.ma.is_masked(ids):
        bad = int(np.flatnonzero(np.ma.getmaskarray(ids))[0])
        raise ValueError(f"{name}[{bad}] is masked (missing), not an ATLAS object id")
    if isinstance(ids, np.ndarray) and ids.dtype.kind in "iu":
        values = np.asarray(ids).ravel()
        if values.dtype.kind == "u" and values.size and values.max() > np.iinfo(np.int64).max:
            bad = int(np.argmax(values > np.iinfo(np.int64).max))
            raise _id_error(int(values[bad]), bad, name)
        values = values.astype(np.int64)
        outside = (values < 10**18) | (values >= 10**19)
        if outside.any():
            bad = int(np.argmax(outside))
            raise _id_error(int(values[bad]), bad, name)
    else:
        if isinstance(ids, np.ndarray) and ids.dtype.kind == "f":
            raise TypeError(f"{name} is a float array: ATLAS ids above 2**53 lose digits as floats; "
                            f"pass ints or strings")
        try:
            items = list(ids)
        except TypeError:
            raise TypeError(f"{name} must be an ATLAS id or a sequence of them; got {type(ids).__name__}") from None
        out = []
        for i, value in enumerate(items):
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, bytes):
                value = value.decode("ascii", "replace")
            if isinstance(value, str):
                text = value.strip()
                if not _ID_TEXT.fullmatch(text):
                    raise _id_error(value, i, name)
                number = int(text)
            elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
                number = int(value)
            else:
                raise _id_error(value, i, name)
            if not 10**18 <= number < 10**19 or number > np.iinfo(np.int64).max:
                raise _id_error(value, i, name)
            out.append(number)
        values = np.array(out, dtype=np.int64)
    if values.size == 0:
        raise ValueError(f"{name} is empty: give at least one ATLAS object id")
    _, first = np.unique(values, return_index=True)
    return values[np.sort(first)]


def _mjd_arg(value, name: str = "mjd_min") -> float | None:
    """An MJD bound from any time `time_arg` takes (a number is an MJD)."""
    moment = time_arg(value, name)
    return None if moment is None else float(moment.mjd)


def _datetime_arg(value, name: str) -> str | None:
    """A date/time bound as the ISO text the server takes (UTC), from any time `time_arg` takes."""
    moment = time_arg(value, name)
    return None if moment is None else iso_utc(moment)


def _radius_arg(radius) -> float:
    return float(angle_arg(radius, "radius", maximum=MAX_RADIUS * u.arcsec).to_value(u.arcsec))


def _list_arg(value, *, custom: bool | None) -> tuple[int, bool]:
    """(list id, is_custom) from a list name or id."""
    if isinstance(value, str):
        key = value.strip().lower()
        main = {v: k for k, v in MAIN_LISTS.items()}
        extra = {v: k for k, v in CUSTOM_LISTS.items()}
        if key in main and custom is not True:
            return main[key], False
        if key in extra and custom is not False:
            return extra[key], True
        raise ValueError(f"unknown list name {value!r}: main lists are {', '.join(MAIN_LISTS.values())}; "
                         f"custom lists are {', '.join(CUSTOM_LISTS.values())} (or pass a custom list id "
                         f"with custom=True)")
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"list must be a list name or an integer id; got {value!r}")
    value = int(value)
    custom = bool(custom)
    if not custom and not 0 <= value <= 13:
        raise ValueError(f"main list ids are 0..13; got {value} (for a custom list pass custom=True)")
    if custom and value < 0:
        raise ValueError(f"custom list ids are positive; got {value}")
    return value, custom


def _custom_list_arg(value) -> int:
    return _list_arg(value, custom=True)[0]


def _per_id(values, n: int, name: str) -> list:
    """A scalar repeated n times, or a sequence of length n."""
    if values is None or isinstance(values, (str, numbers.Number, np.generic, Time)) and np.ndim(values) == 0:
        return [values] * n
    values = list(values)
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} values for {n} ids")
    return values


def _num_text(value) -> str:
    """A number as the server parses it (repr keeps every digit of a float)."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (numbers.Integral, np.integer)):
        return str(int(value))
    return repr(float(value))
