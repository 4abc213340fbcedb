"""The result vocabulary: what every returned table is and what its ``meta`` holds.

- `ResultTable` (rows: `ResultRow`): the `~astropy.table.Table` every module
  returns (`as_result`); columns renamed to the vocabulary still read under
  their old names, with a warning (`RENAMED_COLUMNS`).
- `ResultMeta`: ``table.meta``, one list entry per call (`provenance`), so that
  ``vstack`` and ``join`` keep every call's details (`calls` reads them back),
  each value one a FITS card holds as it is (`_card`).

How a `ResultTable` is written to and read from FITS, VOTable and ECSV is
`~astroquery_ext._base.serialize`'s concern.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
import warnings
from typing import Any, Mapping

import numpy as np
from astropy.table import Column, Table
from astropy.time import Time
from astropy.utils.exceptions import AstropyDeprecationWarning
from erfa import ErfaWarning

__all__ = ["ResultTable", "ResultRow", "ResultMeta", "RENAMED_COLUMNS", "PROVENANCE_KEYS", "as_result",
           "provenance", "calls"]

_PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]*$")


# -- meta: per-call details that astropy merges and a FITS header holds ----------------------

#: The per-call keys of ``table.meta``, one entry per call in each (see :doc:`/results`).
PROVENANCE_KEYS = ("service", "url", "query", "fetched")
#: Meta keys of earlier versions, readable under their old name (with a warning) for one release.
_OLD_META = {"retrieved": "fetched", "missing_ids": "missing", "unmatched": "nomatch", "retry_after": "retry_in",
             "n_episodes": "episodes", "download_dir": "savedir", "episode": "header"}


class ResultMeta(dict):
    """``table.meta`` of a result: a dict whose values are lists, so that astropy merges them.

    ``vstack`` and ``join`` concatenate lists, so the details of each call
    (service, URL, query as JSON text, time) survive a combination without a
    ``MergeConflictWarning``; every key has at most 8 characters and every
    value is a number or printable ASCII text, so a plain
    `~astropy.table.Table` writes it to a FITS header card by card. The names
    earlier versions used (``retrieved``, ``missing_ids``...) still read, with
    an `~astropy.utils.exceptions.AstropyDeprecationWarning`.
    """

    def __missing__(self, key):
        new = _OLD_META.get(key)
        if new is None or new not in self:
            raise KeyError(key)
        warnings.warn(f"table.meta[{key!r}] is deprecated and will be removed in the next release; "
                      f"use table.meta[{new!r}] (a list, one entry per call)", AstropyDeprecationWarning,
                      stacklevel=2)
        value = dict.__getitem__(self, new)
        if key == "episode":
            return json.loads(value[0])
        if key in ("retrieved", "retry_after", "n_episodes", "download_dir"):
            return value[0]
        return value

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default


def _register_yaml():
    from astropy.io.misc.yaml import AstropyDumper

    AstropyDumper.add_representer(ResultMeta, lambda dumper, data: dumper.represent_dict(dict(data)))


_register_yaml()


def _card(value: Any) -> Any:
    """``value`` as a FITS card holds it: numbers and printable ASCII as they are, the rest as ASCII JSON."""
    if isinstance(value, (bool, np.bool_, int, np.integer, float, np.floating)) and _card_value(value):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, str) and _card_value(value):
        return value
    return json.dumps(_plain(value), ensure_ascii=True, allow_nan=True, separators=(",", ":"))


def provenance(service: str, url: str | None = None, query: Mapping[str, Any] | None = None,
               **extra) -> ResultMeta:
    """The ``meta`` of one call's result: ``service``, ``url``, ``query`` (JSON text), ``fetched`` (UTC).

    Every value is a list, one entry per call (``extra`` lists, such as the
    ids not found, are kept as lists and concatenated when tables are
    combined). Never put credentials in ``query`` or ``extra``.
    """
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    meta = ResultMeta(service=[service], url=[url or ""], query=[_card(dict(query or {}))], fetched=[now])
    for key, value in extra.items():
        if len(key) > 8:
            raise ValueError(f"meta key {key!r} is longer than a FITS keyword (8 characters)")
        meta[key] = [_card(v) for v in value] if isinstance(value, (list, tuple)) else [_card(value)]
    return meta


def calls(table: Table) -> list[dict]:
    """The calls a result (or a combination of results) came from, as dicts with the query decoded.

    Reads the meta of a returned table, of ``vstack``/``join`` of several, and
    of a FITS file read with ``Table.read`` (upper-case keys, one value as a
    scalar).
    """
    meta = {str(k).lower(): (v if isinstance(v, list) else [v]) for k, v in table.meta.items()}
    n = max((len(meta.get(k, ())) for k in PROVENANCE_KEYS), default=0)
    out = []
    for i in range(n):
        call = {k: meta[k][i] if i < len(meta.get(k, ())) else None for k in PROVENANCE_KEYS}
        if isinstance(call["query"], str):
            call["query"] = json.loads(call["query"])
        out.append(call)
    return out


# -- column names of earlier versions -------------------------------------------------------

#: Columns renamed to the result vocabulary (:doc:`/results`): old name -> new name. The old names
#: still read (``table["mjd_obs"]``, ``row["texp"]``) with an AstropyDeprecationWarning until the
#: next release.
RENAMED_COLUMNS = {"mjd_obs": "mjd", "texp": "exptime", "dm": "magerr", "file_name": "scan_name"}


def _renamed(names, item):
    """The current name of ``item`` when it is a renamed column's old name (with the warning), else None."""
    new = RENAMED_COLUMNS.get(item) if isinstance(item, str) else None
    if new is None or item in names or new not in names:
        return None
    warnings.warn(f"column {item!r} is now called {new!r} (see the result vocabulary in the docs); the old "
                  f"name will stop working in the next release", AstropyDeprecationWarning, stacklevel=3)
    return new


class ResultRow(Table.Row):
    """A row of a `ResultTable`: renamed columns also read under their old names, with a warning."""

    def __getitem__(self, item):
        return super().__getitem__(_renamed(self._table.columns, item) or item)


class ResultTable(Table):
    """An `~astropy.table.Table` that writes to FITS, VOTable and ECSV cleanly.

    What each format cannot hold is converted when writing (see
    :doc:`/results`); the table in memory is not changed. ``ResultTable.read``
    reads such files back into the same types.
    """

    Row = ResultRow

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not isinstance(self.meta, ResultMeta):
            self.meta = ResultMeta(self.meta)

    def __getitem__(self, item):
        return super().__getitem__(_renamed(self.columns, item) or item)

    def to_pandas(self, *args, **kwargs):
        """`~astropy.table.Table.to_pandas`, without ERFA's "dubious year" noise for far dates.

        An empty table's `~astropy.time.Time` columns become empty
        ``datetime64[ns]`` columns (astropy gives them no unit, which pandas refuses).
        """
        table = self
        if len(self) == 0 and any(isinstance(col, Time) for col in self.itercols()):
            table = Table(self, copy=False)
            for name in table.colnames:
                if isinstance(table[name], Time):
                    table.replace_column(name, Column(np.array([], dtype="datetime64[ns]"), name=name))
            return table.to_pandas(*args, **kwargs)
        with _far_dates_quiet():
            return super().to_pandas(*args, **kwargs)


@contextlib.contextmanager
def _far_dates_quiet():
    """Ignore ERFA's "dubious year" (dates before 1960 or beyond the leap-second table): the text is exact."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*dubious year", category=ErfaWarning)
        yield


def as_result(table: Table) -> ResultTable:
    """``table`` as a `ResultTable` (the same columns and meta, no copy of the data)."""
    if isinstance(table, ResultTable):
        return table
    return ResultTable(table, copy=False)


# -- values a card holds -------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """A value made of JSON types only (for JSON text and YAML)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Table):
        return [{name: _plain(row[name]) for name in value.colnames} for row in value]
    if isinstance(value, Time):
        return value.utc.isot if value.isscalar else [_plain(t) for t in value]
    if isinstance(value, np.ma.MaskedArray):
        return [None if m else _plain(v) for v, m in zip(value.data.tolist(), np.ma.getmaskarray(value).tolist())]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if value is np.ma.masked:
        return None
    return str(value)


def _card_value(value: Any) -> bool:
    """Whether a FITS card holds ``value`` as it is (and gives it back the same)."""
    if isinstance(value, (bool, np.bool_)):
        return True
    if isinstance(value, (int, np.integer)):
        return -2**63 <= int(value) < 2**63
    if isinstance(value, (float, np.floating)):
        return math.isfinite(value)
    if isinstance(value, str):
        return bool(_PRINTABLE_ASCII.match(value))
    return False
