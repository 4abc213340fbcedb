"""ATLAS's wire: ``objects/`` answers read into the tables of each part, and the light-curve views.

An ``objects/`` answer is a JSON array with one record per id asked: the
object row, its light curve (``lc``: detections; ``lcnondets``: limits), its
forced photometry (``fp``), and a few cross-matches. The bulk parts (hundreds
of rows per object) are read straight into columns by the base's columnar
engine (`~astroquery_ext._base.columns.BulkRecords`) while the answer
arrives; the small parts are read as dicts. The light-curve views (``lc`` and
``lcnondets`` merged, forced photometry) are ordered and grouped on columns,
with astropy's public ``group_by``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from astropy.table import Column, MaskedColumn, Table
from astropy.time import Time

from astroquery_ext._base import records_to_table, warn_if_empty
from astroquery_ext._base.columns import BulkRecords
from astroquery_ext._base.serialize import as_result
from astroquery_ext.atlas import fields as atlas_fields

__all__ = ["PARTS", "read_objects", "objects_parts", "merge_lightcurves", "forced_photometry", "rank"]

PARTS = tuple(atlas_fields.PART_FIELDS)
_BULK = atlas_fields.BULK_PARTS
_SMALL = [p for p in PARTS if p not in _BULK]


def _object_id(record) -> int | None:
    """The id of a record, or None for the placeholder of an unknown id ("object" is then a text)."""
    obj = record.object
    return int(obj["id"]) if isinstance(obj, Mapping) else None


#: How an objects/ record is read: lc, lcnondets and fp to columns, the rest as plain values.
OBJECTS = BulkRecords("atlas_record", {p: atlas_fields.PART_FIELDS[p] for p in _BULK},
                      [(p, Any, None) for p in _SMALL], prefix=atlas_fields.ATLAS_ID, prefix_of=_object_id,
                      opening=b'{"object":')


class ObjectsResult:
    """What one ``objects/`` answer holds: the small parts' rows, the bulk parts' builders, the ids."""

    def __init__(self):
        self.small = {p: [] for p in _SMALL}
        self.bulk = OBJECTS.builders()
        self.found: list[int] = []
        self.missing: list[int] = []

    def add(self, record) -> None:
        oid = _object_id(record)
        if oid is None:
            # the unknown-id placeholder; which id it stands for is settled by `check_ids`
            return
        self.found.append(oid)
        self.small["object"].append(record.object)
        for part in self.small:
            if part != "object":
                for row in getattr(record, part) or ():
                    self.small[part].append(dict(row, atlas_id=oid))

    def check_ids(self, asked: list[int]) -> str | None:
        """Whether the records are the ones asked for: None, or what is wrong.

        Each asked id gives one record (a placeholder when the server does not
        know it); a record of an id not asked, or a second record of one id,
        means the answer is not this request's. Sets ``missing``: the asked ids
        without a record of their own, in the order asked.
        """
        wanted, seen = set(asked), set()
        stray, twice = [], []
        for oid in self.found:
            if oid not in wanted:
                stray.append(oid)
            elif oid in seen:
                twice.append(oid)
            seen.add(oid)
        self.missing = [oid for oid in asked if oid not in seen]
        problems = []
        if stray:
            problems.append(f"{len(stray)} record(s) of ids not asked for ({', '.join(map(str, stray[:3]))}"
                            f"{' ...' if len(stray) > 3 else ''})")
        if twice:
            problems.append(f"{len(twice)} id(s) answered twice ({', '.join(map(str, twice[:3]))}"
                            f"{' ...' if len(twice) > 3 else ''})")
        return "; ".join(problems) or None


def read_objects(blocks, progress) -> tuple[ObjectsResult, Any, int]:
    """Read an objects/ answer block by block: (result, stream, records read).

    A cut-off or malformed body raises `json.JSONDecodeError`; a value of the
    wrong type or too deep a nesting, `RemoteServiceError`.
    """
    result, reader = ObjectsResult(), OBJECTS.reader("the objects/ answer")
    for records in reader.batches(blocks):
        for record in records:
            result.add(record)
        progress.advance(len(records))
    result.bulk = reader.tables()
    return result, reader.stream, reader.count


def objects_parts(results: list[ObjectsResult], meta: Mapping) -> dict[str, Table]:
    """The Table of each part from the answers of one call, in the order of the requests."""
    parts = {}
    bulk = OBJECTS.builders()
    for part in PARTS:
        if part in _BULK:
            for result in results:
                bulk[part].extend(result.bulk.pop(part))
            table = bulk[part].table(release=True)
        else:
            fields = atlas_fields.PART_FIELDS[part]
            rows = [row for r in results for row in r.small[part]]
            table = records_to_table(rows, fields if part == "object" else [atlas_fields.ATLAS_ID] + fields)
        table.meta.update(meta)
        parts[part] = as_result(table)
    return parts


# -- views ---------------------------------------------------------------------------------

def rank(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The position in ``wanted`` (unique ids, in the order asked) of each id of ``ids``."""
    if not len(ids):
        return np.zeros(0, dtype=np.intp)
    sorter = np.argsort(wanted)
    return sorter[np.searchsorted(wanted, ids, sorter=sorter)]


def _grouped(columns: Mapping[str, Any], ranks: np.ndarray, meta: Mapping) -> Table:
    """A result Table of ``columns`` (rows of one object together, objects in the order asked: ``ranks``
    ascending) grouped by atlas_id in that order (``group_by("atlas_id")`` would sort the objects by id).

    Only the atlas_id column goes through ``group_by`` (its copies are of that one column); the
    others join the grouped table as they are.
    """
    grouped = as_result(Table([columns["atlas_id"]], names=["atlas_id"], copy=False)).group_by(
        Table({"atlas_id": ranks}, copy=False))
    keys = grouped.groups.keys
    if len(keys):
        keys["atlas_id"] = np.asarray(grouped["atlas_id"])[grouped.groups.indices[:-1]]
    keys.meta["grouped_by_table_cols"] = True  # atlas_id is a column of the table
    others = [name for name in columns if name != "atlas_id"]
    grouped.add_columns([columns[name] for name in others], names=others, copy=False)
    grouped.meta.update(meta)
    return grouped


def forced_photometry(table: Table, wanted: np.ndarray, *, warn_empty: bool = True) -> Table:
    """The fp rows, objects in the order of ``wanted``, by mjd within each, grouped by atlas_id."""
    ranks = rank(np.asarray(table["atlas_id"]), wanted)
    order = np.lexsort((np.asarray(table["mjd"]), ranks))
    table = _grouped({name: table[name][order] for name in table.colnames}, ranks[order], table.meta)
    if warn_empty:
        warn_if_empty(table, "forced-photometry rows")
    return table


def merge_lightcurves(lc: Table, nondets: Table, meta, wanted: np.ndarray, *, warn_empty: bool = True) -> Table:
    """Detections and limits in one table, objects in the order of ``wanted``, by mjd within each,
    grouped by atlas_id."""
    det = Table(lc, copy=False)
    det.rename_column("atlas_metadata_id", "exposure_id")
    non = nondets
    n_det, n_non = len(det), len(non)
    ranks = rank(np.concatenate([np.asarray(det["atlas_id"]), np.asarray(non["atlas_id"])]), wanted)
    order = np.lexsort((np.concatenate([np.asarray(det["mjd"]), np.asarray(non["mjd"])]), ranks))
    detected = np.concatenate([np.ones(n_det, bool), np.zeros(n_non, bool)])
    mag = np.concatenate([np.ma.filled(np.ma.asarray(det["mag"], dtype=float), np.nan), np.zeros(n_non)])
    columns = {"detected": Column(detected[order], description="True: a detection (lc); False: a "
                                  "non-detection (lcnondets), mag5sig is the limit"),
               "negative_flux": Column((detected & (mag < 0))[order],
                                       description="detection of negative difference flux (mag < 0)")}
    for name in dict.fromkeys(det.colnames + non.colnames):
        parts = [table[name] if name in table.colnames else None for table in (det, non)]
        template = next(p for p in parts if p is not None)
        if isinstance(template, Time):
            both = [p if p is not None else Time(np.full(n, 51544.0), format="mjd", scale="utc")
                    for p, n in zip(parts, (n_det, n_non))]
            col = Time(np.concatenate([b.jd1 for b in both]), np.concatenate([b.jd2 for b in both]),
                       format="jd", scale="utc")[order]
            col.format = "isot"
            masks = [np.asarray(getattr(p, "mask", np.zeros(n, bool))) if p is not None else np.ones(n, bool)
                     for p, n in zip(parts, (n_det, n_non))]
            missing = np.concatenate(masks)[order]
            if missing.any():
                col[missing] = np.ma.masked
            columns[name] = col
            continue
        datas, masks = [], []
        for p, n in zip(parts, (n_det, n_non)):
            if p is None:
                datas.append(np.zeros(n, dtype=template.dtype))
                masks.append(np.ones(n, bool))
            else:
                datas.append(np.asarray(p))
                masks.append(np.ma.getmaskarray(p))
        data = np.concatenate(datas)[order]
        mask = np.concatenate(masks)[order]
        cls = MaskedColumn if mask.any() else Column
        kwargs = {"mask": mask} if mask.any() else {}
        columns[name] = cls(data, unit=template.unit, description=template.description, **kwargs)
    front = ["atlas_id", "mjd", "filter", "detected", "mag", "magerr", "mag5sig", "negative_flux",
             "det", "dup", "zp", "exptime", "expname", "exposure_id"]
    names = front + [c for c in columns if c not in front]
    merged = _grouped({name: columns[name] for name in names}, ranks[order], meta)
    if warn_empty:
        warn_if_empty(merged, "light-curve rows")
    return merged
