"""Result tables that travel: FITS, VOTable and ECSV without errors or warnings.

Every table the modules return is a `~astroquery_ext._base.result.ResultTable`: an `~astropy.table.Table`
in every respect, whose ``write`` converts, for the format asked, what that
format cannot hold. The table itself is never changed: in Python, times stay
`~astropy.time.Time`, nested records stay dicts and lists, ``meta`` keeps its
structure.

==================  ============================  ============================  ==================
what                FITS                          VOTable                       ECSV
==================  ============================  ============================  ==================
`Time` column       FITS time column (native)     ISO 8601 char text,           native
                                                  ``xtype="timestamp"``
list/dict column    JSON text                     JSON text, ``xtype="json"``   native (JSON)
masked boolean      1/0 short int, TNULL -1       native                        native
non-ASCII text      UTF-8 bytes                   ``unicodeChar`` (native)      native
unit FITS lacks     kept in the column's meta     native                        native
(``hourangle``)
``meta``            FITS cards where they fit;    ``INFO`` elements             native (YAML)
                    the rest as JSON in the       (``QUERY_STATUS=OK`` first)
                    ``JSONMETA`` card
==================  ============================  ============================  ==================

`ResultTable.read` undoes these conversions (``astropy_native=True`` for
FITS time columns, JSON text back to lists and dicts, ``timestamp`` text back
to `Time`, the meta back to its structure); ``Table.read`` gives the file as
it is. `prepare_table` is the conversion on its own, for a plain
`~astropy.table.Table` (after ``Table(result)``, say).
"""

from __future__ import annotations

import csv
import json
import re
import warnings
from typing import Any, Mapping

import numpy as np
from astropy import units as u
from astropy.io import registry as io_registry
from astropy.table import Column, MaskedColumn, Table
from astropy.time import Time

from astroquery_ext._base.exceptions import TableWriteError
from astroquery_ext._base.result import (
    _PRINTABLE_ASCII, ResultTable, _card_value, _far_dates_quiet, _plain, as_result)
from astroquery_ext._base.texts import ESCAPED, escape_json, safe_text, texts, unescape_columns

__all__ = ["prepare_table", "restore_table", "META_CARD", "FORMATS"]

#: The FITS card that holds, as JSON, the ``meta`` items no card can hold.
META_CARD = "JSONMETA"
#: The formats `prepare_table` knows.
FORMATS = ("fits", "votable", "ascii.ecsv")

_FITS_KEY = re.compile(r"^[A-Z0-9_-]{1,8}$")
_RESERVED = {"XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "PCOUNT", "GCOUNT", "TFIELDS", "THEAP",
             "SIMPLE", "EXTEND", "END", "COMMENT", "HISTORY", "TIMESYS", "JDREF", "MJDREF", "TREFPOS",
             "EXTNAME", "DATE", META_CARD}
_COLUMN_KEY = re.compile(r"^(TTYPE|TFORM|TUNIT|TNULL|TSCAL|TZERO|TDISP|TDIM|TCTYP|TCUNI|TCRPX|TCRVL|TCDLT|TRPOS)"
                         r"\d+$")
#: Text fields ECSV files may hold: far above the csv module's default 128 KiB.
_FIELD_LIMIT = 2**31 - 1


# -- values -------------------------------------------------------------------------------

def _json_text(value: Any) -> str:
    return escape_json(json.dumps(_plain(value), ensure_ascii=False, allow_nan=True, separators=(",", ":")))


def _too_deep(name: str, row: int) -> TableWriteError:
    return TableWriteError(f"column {name!r}, row {row}: the value is nested too deeply to be written "
                           f"(more levels than Python's recursion limit allows); nothing was written. Drop or "
                           f"flatten that column before writing (table.remove_column({name!r})).")


def _json_column(col) -> MaskedColumn:
    texts = []
    for row, value in enumerate(col):
        try:
            texts.append(_json_text(value))
        except RecursionError:
            raise _too_deep(col.info.name, row) from None
    data = np.array(texts, dtype=str) if texts else np.array([], dtype="U1")
    out = MaskedColumn(data, name=col.info.name, description=col.info.description,
                       mask=np.zeros(len(texts), dtype=bool))
    out.meta = {**(col.info.meta or {}), "xtype": "json"}
    return out


def _needs_json(col) -> bool:
    return getattr(col, "dtype", None) is not None and col.dtype.kind == "O" and texts(col) is None


# -- FITS ---------------------------------------------------------------------------------

def _fits_meta(meta: Mapping) -> dict:
    cards, rest = {}, {}
    for key, value in meta.items():
        if key in ("comments", "history") and isinstance(value, list) and all(
                isinstance(v, str) and _PRINTABLE_ASCII.match(v) for v in value):
            cards[key] = value
            continue
        upper = str(key).upper()
        if (isinstance(key, str) and _FITS_KEY.match(upper) and upper not in _RESERVED
                and not _COLUMN_KEY.match(upper) and upper not in (k.upper() for k in cards)
                and _card_value(value)):
            cards[key] = value
        else:
            rest[str(key)] = _plain(value)
    if rest:
        # ASCII JSON (non-ASCII escaped); long strings continue on CONTINUE cards.
        cards[META_CARD] = json.dumps(rest, ensure_ascii=True, allow_nan=True, separators=(",", ":"))
    return cards


def _fits_unit_ok(unit) -> bool:
    if unit is None:
        return True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            unit.to_string(format="fits")
        return True
    except (ValueError, UnicodeError, Warning):
        return False


def _for_fits(table: Table) -> Table:
    out = Table(table, copy=False, meta=_fits_meta(table.meta))
    for name in table.colnames:
        col = out[name]
        if isinstance(col, Time):
            continue  # FITS time columns (read back with astropy_native=True)
        if not isinstance(col, Column):
            continue
        changed = False
        if _needs_json(col):
            col, changed = _json_column(col), True
        safe = safe_text(col, "FITS")
        if safe is not col:
            col, changed = safe, True
        if col.dtype.kind == "U" and not all(_PRINTABLE_ASCII.match(str(v)) for v in np.asarray(col).ravel()):
            encoded = np.char.encode(np.asarray(col), "utf-8")
            meta = {**(col.info.meta or {}), "encoding": "utf-8"}
            if isinstance(col, MaskedColumn):
                col = MaskedColumn(encoded, name=name, mask=col.mask, unit=col.unit,
                                   description=col.info.description, meta=meta)
            else:
                col = Column(encoded, name=name, unit=col.unit, description=col.info.description, meta=meta)
            changed = True
        if col.dtype.kind == "b" and isinstance(col, MaskedColumn) and np.any(col.mask):
            # FITS logical columns have a null, but astropy writes masked booleans as values:
            # 1/0 in a short integer column with TNULL = -1 keeps the mask.
            col = MaskedColumn(np.asarray(col.data, dtype=np.int16), name=name, mask=col.mask, fill_value=-1,
                               unit=col.unit, description=col.info.description,
                               meta={**(col.info.meta or {}), "dtype": "bool"})
            changed = True
        if not _fits_unit_ok(col.unit):
            if not changed:
                col = col.copy(copy_data=False)
            col.meta = {**(col.info.meta or {}), "unit": col.unit.to_string()}
            col.unit = None
            changed = True
        if changed:
            out.replace_column(name, col)
    return out


# -- VOTable ------------------------------------------------------------------------------

def _for_votable(table: Table) -> Table:
    out = Table(table, copy=False, meta={})
    for name in table.colnames:
        col = out[name]
        if isinstance(col, Time):
            mask = _time_mask(col)
            with _far_dates_quiet():
                text = col.unmasked.utc.isot if len(col) else np.array([], dtype="U23")
            if mask.any():
                text = np.where(mask, "", text)
            # ASCII text: a VOTable char column, as DALI timestamps are
            new = MaskedColumn(np.char.encode(np.asarray(text, dtype=str), "ascii"), name=name, mask=mask,
                               description=col.info.description)
            new.meta = {**(col.info.meta or {}), "xtype": "timestamp"}
            out.replace_column(name, new)
        elif isinstance(col, Column) and _needs_json(col):
            out.replace_column(name, _json_column(col))
        elif isinstance(col, Column):
            safe = safe_text(col, "VOTable")
            if safe is not col:
                out.replace_column(name, safe)
        else:
            raise ValueError(f"column {name!r} ({type(col).__name__}) cannot be written to VOTable")
    return out


def _time_mask(col: Time) -> np.ndarray:
    return np.array(col.mask, dtype=bool) if col.masked else np.zeros(len(col), dtype=bool)


def _votable_infos(meta: Mapping) -> list[tuple[str, str]]:
    infos = [("QUERY_STATUS", "OK")]
    for key, value in meta.items():
        if isinstance(value, str):
            infos.append((str(key), value))
        else:
            infos.append((str(key), "json:" + _json_text(value)))
    return infos


def _write_votable(table: Table, output, table_id=None, overwrite=False, tabledata_format=None):
    import os

    from astropy.io.votable.tree import Info, VOTableFile

    if isinstance(output, (str, os.PathLike)) and os.path.exists(output):
        if not overwrite:
            raise OSError(f"File {output} already exists. If you mean to replace it then use the "
                          f"argument 'overwrite=True'.")
        os.remove(output)
    ready = _for_votable(table)
    votable = VOTableFile.from_table(ready, table_id=table_id)
    resource = votable.resources[0]
    resource.type = "results"
    for key, value in _votable_infos(table.meta):
        resource.infos.append(Info(name=key, value=value))
    escaped = [name for name in ready.colnames if (ready[name].info.meta or {}).get(ESCAPED)]
    if escaped:  # VOTable FIELDs have no place for a column's meta
        resource.infos.append(Info(name=ESCAPED, value=_json_text(escaped)))
    votable.to_xml(output, tabledata_format=tabledata_format)


# -- writers and readers registered for ResultTable ---------------------------------------

def prepare_table(table: Table, format: str) -> Table:
    """A plain Table holding ``table``'s data in a form ``format`` can store (see :doc:`/results`).

    Parameters
    ----------
    table : `~astropy.table.Table`
    format : str
        ``"fits"``, ``"votable"`` or ``"ascii.ecsv"``.
    """
    if format == "fits":
        return _for_fits(table)
    if format == "votable":
        out = _for_votable(table)
        out.meta.update({k: v for k, v in _votable_infos(table.meta)})
        return out
    if format in ("ascii.ecsv", "ecsv"):
        return _for_ecsv(table)
    raise ValueError(f"format must be one of {FORMATS}; got {format!r}")


def _for_ecsv(table: Table) -> Table:
    out = Table(table, copy=False, meta=_plain(dict(table.meta)))
    for name in table.colnames:
        col = out[name]
        if isinstance(col, Column) and _needs_json(col):
            values = np.empty(len(col), dtype=object)
            for i, v in enumerate(col):
                try:
                    values[i] = _plain(v)
                    json.dumps(values[i])  # astropy's ECSV writer does the same, unguarded
                except RecursionError:
                    raise _too_deep(name, i) from None
            out.replace_column(name, Column(values, name=name, unit=col.unit, description=col.info.description,
                                            meta=col.info.meta))
        else:
            safe = safe_text(col, "ECSV")
            if safe is not col:
                out.replace_column(name, safe)
    return out


def _write_fits(table, output, **kwargs):
    from astropy.io.fits.connect import write_table_fits

    write_table_fits(_for_fits(table), output, **kwargs)


def _long_fields() -> None:
    """Lift the ``csv`` module's field limit (128 KiB) for this process: ECSV files of long texts read
    back, with ``Table.read`` too (raised, never lowered)."""
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))


def _write_ecsv(table, output, **kwargs):
    from astropy.io.ascii.connect import io_write

    _long_fields()  # what this process writes, it can read back
    with _far_dates_quiet():
        io_write("ascii.ecsv", _for_ecsv(table), output, **kwargs)


def restore_table(table: Table) -> ResultTable:
    """Undo `prepare_table`'s conversions on a table read from a file (done by `ResultTable.read`)."""
    table = as_result(table)
    meta = table.meta
    packed = meta.pop(META_CARD, None)
    if isinstance(packed, str):
        try:
            meta.update(json.loads(packed))
        except ValueError:
            meta[META_CARD] = packed
    for name in table.colnames:
        col = table[name]
        info_meta = getattr(col.info, "meta", None) or {}
        xtype = info_meta.get("xtype")
        if xtype == "json":
            values = np.empty(len(col), dtype=object)
            for i, v in enumerate(col):
                v = v.decode("utf-8") if isinstance(v, bytes) else v
                values[i] = None if v is np.ma.masked or v == "" else json.loads(v)
            rest = {k: v for k, v in info_meta.items() if k not in ("xtype", "encoding")}
            table.replace_column(name, Column(values, name=name, description=col.info.description, meta=rest))
        elif xtype == "timestamp":
            mask = np.ma.getmaskarray(col) | (np.ma.getdata(col).astype(str) == "")  # VOTable: null text is empty
            text = [("2000-01-01T00:00:00" if m else v.decode("ascii") if isinstance(v, bytes) else str(v))
                    for v, m in zip(np.ma.getdata(col), mask)]
            with _far_dates_quiet():
                new = Time(text, format="isot", scale="utc") if text else Time([], format="isot", scale="utc")
            if mask.any():
                new[mask] = np.ma.masked
            new.info.description = col.info.description
            table.replace_column(name, new)
        elif info_meta.get("encoding") == "utf-8" or (isinstance(col, Column) and col.dtype.kind == "S"):
            decoded = np.char.decode(np.asarray(col.astype(bytes)), "utf-8")
            rest = {k: v for k, v in info_meta.items() if k != "encoding"}
            cls = MaskedColumn if isinstance(col, MaskedColumn) else Column
            kwargs = {"mask": col.mask} if cls is MaskedColumn else {}
            table.replace_column(name, cls(decoded, name=name, unit=col.unit, description=col.info.description,
                                           meta=rest, **kwargs))
        if (getattr(table[name].info, "meta", None) or {}).get("dtype") == "bool":
            col = table[name]
            meta = {k: v for k, v in col.info.meta.items() if k != "dtype"}
            table.replace_column(name, MaskedColumn(np.asarray(col, dtype=bool), name=name,
                                                    mask=np.ma.getmaskarray(col), unit=col.unit,
                                                    description=col.info.description, meta=meta))
        if "unit" in (getattr(table[name].info, "meta", None) or {}) and getattr(table[name], "unit", 1) is None:
            table[name].unit = u.Unit(table[name].info.meta.pop("unit"))
    unescape_columns(table)
    return table


def _read_fits(input, **kwargs):
    from astropy.io.fits.connect import read_table_fits

    kwargs.setdefault("astropy_native", True)
    return restore_table(read_table_fits(input, **kwargs))


def _read_votable(input, **kwargs):
    from astropy.io.votable import parse

    votable = parse(input)
    table = votable.get_first_table().to_table(use_names_over_ids=True)
    for name, field in zip(table.colnames, votable.get_first_table().fields):
        if field.xtype:
            table[name].meta["xtype"] = field.xtype
    meta = {}
    for info in votable.resources[0].infos:
        if info.name == ESCAPED:
            for name in json.loads(info.value):
                table[name].meta[ESCAPED] = "backslash"
            continue
        if info.name == "QUERY_STATUS":
            continue
        value = info.value
        meta[info.name] = json.loads(value[5:]) if isinstance(value, str) and value.startswith("json:") else value
    table.meta.update(meta)
    return restore_table(table)


def _read_ecsv(input, **kwargs):
    from astropy.io.ascii.connect import io_read

    _long_fields()
    with _far_dates_quiet():
        table = as_result(io_read("ascii.ecsv", input, **kwargs))
    unescape_columns(table)
    return table


def _identifiers():
    from astropy.io.fits.connect import is_fits
    from astropy.io.votable.connect import is_votable

    def is_ecsv(origin, filepath, fileobj, *args, **kwargs):
        return filepath is not None and str(filepath).endswith((".ecsv", ".ecsv.gz"))

    def is_votable_or_named(origin, filepath, fileobj, *args, **kwargs):
        # astropy identifies a VOTable only when reading; a ResultTable also by the name it is written to.
        if origin == "write":
            return filepath is not None and str(filepath).lower().endswith((".xml", ".vot", ".votable"))
        return is_votable(origin, filepath, fileobj, *args, **kwargs)

    return {"fits": is_fits, "votable": is_votable_or_named, "ascii.ecsv": is_ecsv}


for _fmt, _identify in _identifiers().items():
    io_registry.register_identifier(_fmt, ResultTable, _identify, force=True)
for _fmt, _writer in (("fits", _write_fits), ("votable", _write_votable), ("ascii.ecsv", _write_ecsv)):
    io_registry.register_writer(_fmt, ResultTable, _writer, force=True)
for _fmt, _reader in (("fits", _read_fits), ("votable", _read_votable), ("ascii.ecsv", _read_ecsv)):
    io_registry.register_reader(_fmt, ResultTable, _reader, force=True)
