"""Argument helpers: every argument of a public method is checked here, before anything is sent.

One helper per kind of argument, named ``<kind>_arg``, used by all four
service modules. Each returns the value in the one form the module needs and
raises `ValueError` (a bad value) or `TypeError` (a value of the wrong kind)
whose message names the argument, what is allowed, and what was given.

========================  =============================================================
helper                    takes
========================  =============================================================
`angle_arg`               a `~astropy.units.Quantity` angle, an `~astropy.coordinates.Angle`
                          string (``"1 arcmin"``, ``"0d0m30s"``), or a bare number of
                          **degrees** (astroquery's reading); a bare number over the
                          service's cap is refused with a hint to give units
`position_arg`            a `~astropy.coordinates.SkyCoord`, a string in degrees or
                          sexagesimal (RA in [0, 360), Dec in [-90, 90]), or an object
                          name (`resolve_name`: Sesame, as ``SkyCoord.from_name``)
`time_arg`                a `~astropy.time.Time`, a `datetime.datetime` (naive = UTC),
                          a `datetime.date`, an ISO 8601 string, or a number of MJD
`float_arg`, `int_arg`    numbers (bools refused), with optional bounds
`bool_arg`                True or False (numpy bools too)
`text_arg`                a non-empty string without control characters
`pattern_arg`             a string matching a regular expression (ids, codes)
`choice_arg`              one of a fixed set of words (case-insensitive, with aliases)
`row_limit_arg`           a positive integer, or -1 for all rows
`ids_arg`                 one value or a sequence of them, each checked, order kept,
                          duplicates dropped
========================  =============================================================
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from astropy import units as u
from astropy.coordinates import Angle, SkyCoord
from astropy.time import Time

__all__ = ["angle_arg", "position_arg", "resolve_name", "time_arg", "float_arg", "int_arg", "bool_arg", "text_arg",
           "pattern_arg", "choice_arg", "row_limit_arg", "ids_arg"]

def _is_number(value: Any) -> bool:
    return isinstance(value, (numbers.Real, np.number)) and not isinstance(value, (bool, np.bool_))


def _scalar(value: Any, name: str) -> Any:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, (np.ndarray, list, tuple)):
        raise TypeError(f"{name} must be one value, not a sequence; got {value!r}")
    return value


# -- numbers ----------------------------------------------------------------------------------


def float_arg(value: Any, name: str, *, optional: bool = True, minimum: float | None = None,
              maximum: float | None = None, positive: bool = False) -> float | None:
    """A finite float (a number or a dimensionless Quantity); None passes when ``optional``."""
    if value is None:
        if optional:
            return None
        raise TypeError(f"{name} is required: give a number")
    value = _scalar(value, name)
    if isinstance(value, u.Quantity):
        try:
            value = value.to_value(u.dimensionless_unscaled)
        except u.UnitsError:
            raise TypeError(f"{name} must be a plain number; got a Quantity in {value.unit}") from None
    if not _is_number(value):
        raise TypeError(f"{name} must be a number; got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be positive; got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum:g}; got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum:g}; got {value!r}")
    return value


def int_arg(value: Any, name: str, *, optional: bool = False, minimum: int | None = None,
            maximum: int | None = None) -> int | None:
    """An integer (Python or numpy; bools and floats refused) within bounds."""
    if value is None and optional:
        return None
    value = _scalar(value, name)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}; got {value!r}")
    return value


def bool_arg(value: Any, name: str) -> bool:
    """True or False (a numpy bool too); anything else is a TypeError (``"false"`` is truthy)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def row_limit_arg(value: Any, name: str = "row_limit") -> int:
    """The number of rows a whole call may return: a positive integer, or -1 for all rows."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be a positive integer, or -1 for all rows; got {value!r}")
    value = int(value)
    if value == -1 or value >= 1:
        return value
    raise ValueError(f"{name} must be a positive integer, or -1 for all rows; got {value!r}")


# -- text -------------------------------------------------------------------------------------


def text_arg(value: Any, name: str, *, optional: bool = False, exact: bool = False) -> str | None:
    """A non-empty string without control characters.

    Surrounding spaces are removed, or refused with ``exact=True`` (names the
    server stores as given).
    """
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a non-empty string; got {value!r}")
    stripped = value.strip()
    if not stripped:
        raise ValueError(f"{name} must be a non-empty string; got {value!r}")
    if exact and stripped != value:
        raise ValueError(f"{name} must not have surrounding spaces; got {value!r}")
    if any(not c.isprintable() for c in value):
        raise ValueError(f"{name} must not contain control characters; got {value!r}")
    return value if exact else stripped


def pattern_arg(value: Any, name: str, pattern: "re.Pattern[str] | str", what: str) -> str:
    """A string that matches ``pattern`` in full; ``what`` says in words what is expected.

    Returns a plain `str` (a value read from a Table cell is a ``numpy.str_``).
    """
    pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{name} must be {what}; got {value!r}")
    return str(value)


def errors_arg(errors: Any) -> str:
    """``errors=`` of a batch call: ``"raise"`` (the first failure, carrying what succeeded) or ``"ignore"``."""
    if errors not in ("raise", "ignore"):
        raise ValueError(f"errors must be 'raise' or 'ignore'; got {errors!r}")
    return errors


def choice_arg(value: Any, name: str, choices: Sequence[str], *,
               aliases: Mapping[str, str] | None = None) -> str:
    """One of ``choices`` (case-insensitive; ``aliases`` maps other spellings), in its canonical spelling."""
    if isinstance(value, str):
        key = value.strip()
        for choice in choices:
            if key.casefold() == choice.casefold():
                return choice
        if aliases and key.casefold() in aliases:
            return aliases[key.casefold()]
    raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))} (case-insensitive); got {value!r}")


def ids_arg(values: Any, name: str, item: Callable[[Any, str], Any], *,
            scalar_types: tuple = (str, bytes, numbers.Integral)) -> list:
    """One value or a sequence of them, each checked by ``item(value, "name[i]")``.

    The order is kept and duplicates are dropped (the first is kept); an
    empty sequence is refused.
    """
    if isinstance(values, scalar_types) or (isinstance(values, np.ndarray) and values.ndim == 0):
        values = [values.item() if isinstance(values, np.ndarray) else values]
    try:
        items = list(values)
    except TypeError:
        raise TypeError(f"{name} must be one value or a sequence of them; got {type(values).__name__}") from None
    if not items:
        raise ValueError(f"{name} is empty: give at least one")
    out = {}
    for i, value in enumerate(items):
        checked = item(value, f"{name}[{i}]")
        out.setdefault(checked, None)
    return list(out)


# -- angles and positions ---------------------------------------------------------------------


def angle_arg(value: Any, name: str, *, optional: bool = False, positive: bool = True,
              maximum: u.Quantity | None = None, minimum: u.Quantity | None = None,
              hint_unit: u.UnitBase = u.arcsec) -> Angle | None:
    """An angle: a Quantity, an Angle string (``"1 arcmin"``), or a bare number of degrees.

    Bare numbers are degrees, as everywhere in astroquery. A bare number over
    ``maximum`` is refused with a message that suggests giving units (it was
    almost certainly meant in ``hint_unit``), so it never silently means
    something else.

    Returns
    -------
    `~astropy.coordinates.Angle`
    """
    if value is None:
        if optional:
            return None
        raise TypeError(f"{name} is required: give an angle such as 30 * u.arcsec or '1 arcmin'")
    bare = False
    value = _scalar(value, name)
    if isinstance(value, u.Quantity):
        try:
            angle = Angle(value)
        except u.UnitsError:
            raise ValueError(f"{name} must be an angle; got {value} (unit {value.unit})") from None
    elif isinstance(value, str):
        text = value.strip()
        try:
            angle = Angle(text)
        except u.UnitsError:  # a number without a unit, in a string
            try:
                angle = Angle(float(text), u.deg)
                bare = True
            except ValueError:
                raise ValueError(f"{name} {value!r} is not an angle: give e.g. '30 arcsec', '1 arcmin', "
                                 f"'0.5 deg' or a Quantity") from None
        except ValueError:
            raise ValueError(f"{name} {value!r} is not an angle: give e.g. '30 arcsec', '1 arcmin', "
                             f"'0.5 deg' or a Quantity") from None
    elif _is_number(value):
        angle = Angle(float(value), u.deg)
        bare = True
    else:
        raise TypeError(f"{name} must be an angle (a Quantity such as 30 * u.arcsec, a string such as "
                        f"'1 arcmin', or a number of degrees); got {value!r}")
    if not angle.isscalar:
        raise ValueError(f"{name} must be one angle, not {angle.size}")
    if not math.isfinite(angle.deg):
        raise ValueError(f"{name} must be finite; got {value!r}")
    if positive and not angle.deg > 0:
        raise ValueError(f"{name} must be a positive angle; got {value!r}")
    if minimum is not None and angle < minimum:
        raise ValueError(f"{name} must be at least {minimum}; got {value!r}")
    if maximum is not None and angle > maximum:
        limit = maximum.to(hint_unit)
        if bare:
            raise ValueError(
                f"{name}={value!r} is read as {float(angle.deg):g} degrees (bare numbers are degrees, as in "
                f"astroquery), over the server's limit of {limit:g}. Give units: {name}={value!r} * "
                f"u.{hint_unit.to_string()} or {name}='{value} {hint_unit.to_string()}'.")
        raise ValueError(f"{name} {angle.to(hint_unit):g} is over the server's limit of {limit:g} (the server "
                         f"refuses larger values rather than clipping them)")
    return angle


def _ra_dec_texts(text: str) -> tuple[str, str] | None:
    """The RA and Dec parts of a position string, when its form says where they are."""
    parts = text.replace(",", " ").split()
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 6:  # "hh mm ss.s +dd mm ss"
        return " ".join(parts[:3]), " ".join(parts[3:])
    return None


def _float_text(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _check_range(ra_text: str, dec_text: str, name: str, value: str) -> None:
    """RA in [0, 360) degrees and Dec in [-90, 90], checked before SkyCoord wraps RA (400 -> 40)."""
    ra, dec = _float_text(ra_text), _float_text(dec_text)
    # Degrees as written are checked as they are; hours go through a conversion in which 24h comes out
    # as 359.99999999999994 deg, so those are held to 360 less a rounding's width.
    top = 360.0 if ra is not None else 360 - 1e-9
    try:
        ra = Angle(ra_text, unit=u.hourangle).deg if ra is None else ra
        dec = Angle(dec_text, unit=u.deg).deg if dec is None else dec
    except (ValueError, u.UnitsError, TypeError):
        return  # not this form: SkyCoord says what is wrong
    if not 0 <= ra < top:
        raise ValueError(f"{name} {value!r}: RA {ra:.6g} deg is outside [0, 360)")
    if not -90 <= dec <= 90:
        raise ValueError(f"{name} {value!r}: Dec {dec:g} deg is outside [-90, 90]")


def _looks_like_position(text: str) -> bool:
    return bool(re.fullmatch(r"[\s\d.:,+\-hdmsHDMS°'\"]+", text)) and any(c.isdigit() for c in text)


def resolve_name(name: str, argument: str = "coordinates") -> SkyCoord:
    """An object name to its ICRS position, as astroquery does (`~astropy.coordinates.SkyCoord.from_name`).

    Sesame is asked (``astropy.coordinates.name_resolve.sesame_url``); a name
    it does not know, or no resolver reachable, is a `ValueError` that says so.
    """
    from astropy.coordinates.name_resolve import NameResolveError, sesame_url

    try:
        return SkyCoord.from_name(name, frame="icrs")
    except NameResolveError as exc:
        words = str(exc)
        if "All Sesame queries failed" in words:
            raise ValueError(f"{argument} {name!r} is not a position, and no name resolver could be reached "
                             f"to resolve it (tried {', '.join(sesame_url.get())}). Give a position (degrees "
                             f"or sexagesimal, or a SkyCoord), or set "
                             f"astropy.coordinates.name_resolve.sesame_url to a resolver you can reach") from None
        raise ValueError(f"{argument} {name!r} is not a position, and the name resolver does not know it as a "
                         f"name ({words.splitlines()[0]})") from None


def position_arg(value: Any, name: str = "coordinates") -> SkyCoord:
    """One ICRS position from a SkyCoord, a string in degrees (``"10.68 41.27"``) or sexagesimal
    (``"00:42:44.3 +41:16:09"``, RA in hours), or an object name (resolved by `resolve_name`).

    RA must be in [0, 360) degrees and Dec in [-90, 90]: ``"400 0"`` is a
    `ValueError`, not RA 40 degrees.
    """
    if isinstance(value, SkyCoord):
        coord = value
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError(f"{name} is empty: give a position or an object name")
        parts = _ra_dec_texts(text)
        if parts is not None and _looks_like_position(text):
            _check_range(*parts, name, value)
        coord = None
        if parts is not None and None not in map(_float_text, parts):
            coord = SkyCoord(float(parts[0]) * u.deg, float(parts[1]) * u.deg, frame="icrs")
        if coord is None and _looks_like_position(text):
            for unit in (None, (u.hourangle, u.deg)):
                try:
                    coord = SkyCoord(text, unit=unit, frame="icrs")
                    break
                except (ValueError, u.UnitsError, TypeError):
                    continue
            if coord is None:
                raise ValueError(f"{name} {value!r} is not a position: give degrees ('0.0216 31.7818') or "
                                 f"sexagesimal ('00:00:05.18 +31:46:54.4'), an object name, or a SkyCoord")
        if coord is None:
            coord = resolve_name(text, name)
    else:
        raise TypeError(f"{name} must be a SkyCoord or a string (a position or an object name); "
                        f"got {type(value).__name__}")
    if not coord.isscalar:
        raise ValueError(f"{name} must be one position, not an array of them")
    icrs = coord.icrs
    if not (np.isfinite(icrs.ra.deg) and np.isfinite(icrs.dec.deg)):
        raise ValueError(f"{name} {value!r} are not finite")
    return icrs


# -- times ------------------------------------------------------------------------------------

_TIME_HELP = ("an astropy Time, a datetime (naive means UTC), an ISO 8601 string such as "
              "'2024-02-22' or '2024-02-22T10:00:00Z', or a number of MJD such as 60362.5")


def time_arg(value: Any, name: str, *, optional: bool = True) -> Time | None:
    """One moment, as a scalar UTC `~astropy.time.Time`.

    Takes a `~astropy.time.Time`, a `datetime.datetime` (naive = UTC; aware
    ones are converted), a `datetime.date` (its midnight UTC), an ISO 8601
    string (``Z`` or an offset; none = UTC), or a number of MJD.
    Use ``.mjd`` or `iso_utc` on the result for the wire.
    """
    if value is None:
        if optional:
            return None
        raise TypeError(f"{name} is required: give {_TIME_HELP}")
    value = _scalar(value, name)
    try:
        if isinstance(value, Time):
            moment = value
        elif isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
            moment = Time(value, scale="utc")
        elif isinstance(value, dt.date):
            moment = Time(dt.datetime(value.year, value.month, value.day), scale="utc")
        elif isinstance(value, str):
            text = value.strip()
            if not text:
                raise ValueError("empty")
            try:
                stamp = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
            except ValueError:
                moment = Time(text, scale="utc")  # other ISO forms astropy reads ('2024-02-22 10:00')
            else:
                if stamp.tzinfo is not None:
                    stamp = stamp.astimezone(dt.timezone.utc).replace(tzinfo=None)
                moment = Time(stamp, scale="utc")
        elif _is_number(value):
            mjd = float(value)
            if not math.isfinite(mjd):
                raise ValueError("not finite")
            moment = Time(mjd, format="mjd", scale="utc")
        else:
            raise TypeError(type(value).__name__)
    except TypeError:
        raise TypeError(f"{name} must be {_TIME_HELP}; got {value!r}") from None
    except ValueError:
        raise ValueError(f"{name} must be {_TIME_HELP}; got {value!r}") from None
    if not moment.isscalar:
        raise ValueError(f"{name} must be one time, not {len(moment)}")
    return moment.utc


def iso_utc(moment: Time, *, fraction: bool = False) -> str:
    """``moment`` as ISO 8601 text in UTC with a ``Z``: ``2024-02-22T10:00:00Z``."""
    text = moment.utc.strftime("%Y-%m-%dT%H:%M:%S.%f" if fraction else "%Y-%m-%dT%H:%M:%S")
    return text + "Z"


def to_datetime(moment: Time) -> dt.datetime:
    """``moment`` as an aware UTC `datetime.datetime`."""
    return moment.utc.to_datetime(timezone=dt.timezone.utc)


__all__ += ["iso_utc", "to_datetime"]
