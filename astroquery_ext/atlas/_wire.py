"""ATLAS's wire: ``objects/`` answers read into the tables of each part, and the light-curve views.

An ``objects/`` answer is a JSON array with one record per id asked: the
object row, its light curve (``lc``: detections; ``lcnondets``: limits), its
forced photometry (``fp``), and a few cross-matches. The bulk parts (hundreds
of rows per object) are read straight into columns by the base's columnar
engine (`~astroquery_ext._base.columns.BulkRecords`) while the answer
arrives, and kept in its compact form (`ObjectsParts`, what the client's memo
holds); the small parts are read as dicts. The light-curve views (``lc`` and
``lcnondets`` merged, forced photometry) are built from the compact columns
one column at a time, ordered and grouped on columns, with astropy's public
``group_by``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from astropy.table import Column, Table
from astropy.time import Time

from astroquery_ext._base import records_to_table, warn_if_empty
from astroquery_ext._base.columns import BulkRecords, pool_map
from astroquery_ext._base.tables import finish_column
from astroquery_ext._base.result import as_result
from astroquery_ext.atlas import fields as atlas_fields

__all__ = ["PARTS", "read_objects", "ObjectsParts", "merge_lightcurves", "forced_photometry", "rank"]

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


class ObjectsParts(Mapping):
    """The parts of one call's ``objects/`` answers, by name: each a Table built when it is asked for.

    The small parts are Tables already; the bulk parts (``lc``, ``lcnondets``,
    ``fp``) stay as the engine parsed them (Arrow's compact columns) and are
    built into a Table on each access, so what the memo keeps is the compact
    form and each caller gets tables of its own. `lightcurves` and
    `forced_photometry` build their views straight from the parsed columns,
    one column at a time, without building the parts' tables first.
    """

    def __init__(self, results: list[ObjectsResult], meta: Mapping):
        self.meta = dict(meta)
        self._bulk = OBJECTS.builders()
        for part in _BULK:
            for result in results:
                self._bulk[part].extend(result.bulk.pop(part))
        self._small = {}
        for part in _SMALL:
            fields = atlas_fields.PART_FIELDS[part]
            rows = [row for r in results for row in r.small[part]]
            self._small[part] = records_to_table(
                rows, fields if part == "object" else [atlas_fields.ATLAS_ID] + fields)

    def __getitem__(self, part: str) -> Table:
        table = self._small[part].copy() if part in self._small else self._bulk[part].table()
        table.meta.update(self.meta)
        return as_result(table)

    def __iter__(self):
        return iter(PARTS)

    def __len__(self) -> int:
        return len(PARTS)

    def lightcurves(self, wanted: np.ndarray, *, warn_empty: bool = True) -> Table:
        """`merge_lightcurves` of the ``lc`` and ``lcnondets`` parts."""
        return merge_lightcurves(self._bulk["lc"], self._bulk["lcnondets"], self.meta, wanted,
                                 warn_empty=warn_empty)

    def forced_photometry(self, wanted: np.ndarray, *, warn_empty: bool = True) -> Table:
        """`forced_photometry` of the ``fp`` part."""
        return forced_photometry(self._bulk["fp"], self.meta, wanted, warn_empty=warn_empty)


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


def _held(data: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """A stacked bulk column as its part's table holds it: ``(data, mask)``, the mask all False where the
    table's column has none (no null, or exact ``object`` values: None is the null there)."""
    if mask is None or data.dtype.kind == "O" or not mask.any():
        mask = np.zeros(len(data), bool)
    return data, mask


def _order(builders, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``builders`` (one after the other) ordered by the position of their object in
    ``wanted``, then by mjd: ``(order, ranks in that order)``."""
    ids = np.concatenate([b.stacked("atlas_id")[1] for b in builders])
    ranks = rank(ids, wanted)
    order = lexsort_blocked(np.concatenate([b.stacked("mjd")[1] for b in builders]), ranks)
    return order, ranks[order]


#: Rows `lexsort_blocked` sorts at a time: np.lexsort's cost per row grows with the array (on light
#: curves, 0.23 us a row at 500,000 rows and 0.33 us at 2.5 million); in blocks of about this many rows
#: it stays at 0.2 us, whatever the size.
SORT_BLOCK = 100_000


def lexsort_blocked(times: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """``np.lexsort((times, ranks))``, the same order, sorted a block of whole objects at a time.

    ``ranks`` (integers from 0) are cut into ranges of about `SORT_BLOCK` rows; a stable sort by range
    (a radix sort: ranges are few) puts the rows of each range together in their original order, and
    each range is then lexsorted alone. Rows of a lower rank still come first, ties keep their order.
    """
    n = len(ranks)
    if n <= 2 * SORT_BLOCK:
        return np.lexsort((times, ranks))
    per_range = max(1, int(ranks.max() + 1) * SORT_BLOCK // n)  # ranks per range, at the mean rows a rank
    ranges = ranks // per_range
    by_range = np.argsort(ranges.astype(np.uint16) if ranges.max() < 1 << 16 else ranges, kind="stable")
    ranges = ranges[by_range]
    cuts = np.flatnonzero(ranges[1:] != ranges[:-1]) + 1
    order = np.empty(n, dtype=np.intp)
    for start, end in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [n]])):
        rows = by_range[start:end]
        order[start:end] = rows[np.lexsort((times[rows], ranks[rows]))]
    return order


def forced_photometry(fp, meta: Mapping, wanted: np.ndarray, *, warn_empty: bool = True) -> Table:
    """The fp rows (a builder of the ``fp`` part), objects in the order of ``wanted``, by mjd within each,
    grouped by atlas_id."""
    order, ranks = _order([fp], wanted)

    def ordered(name):  # numpy only: in the pool, side by side (times are finished first: see below)
        field, data, mask = fp.stacked(name)
        if field.dtype == "time":
            return field, data, mask
        return field, data[order], (None if mask is None else mask[order])

    columns = {}
    for field, data, mask in pool_map(ordered, fp.names):
        # A time column is finished in the answer's order, then ordered: the value under a time's
        # mask is the column's first time, and stays what the part's own table holds.
        columns[field.name] = (finish_column(field, data, mask)[order] if field.dtype == "time"
                               else finish_column(field, data, mask))
    table = _grouped(columns, ranks, meta)
    if warn_empty:
        warn_if_empty(table, "forced-photometry rows")
    return table


def _is_text(builders, name: str, renamed: Mapping) -> bool:
    """Whether column ``name`` (as merged: ``renamed``) holds text."""
    return any(f.dtype == "str" for b in builders for f in b.prefix + b.fields
               if renamed.get(f.name, f.name) == name)


def _J2000(n: int) -> tuple[np.ndarray, np.ndarray]:
    """jd1, jd2 of n masked times (the value under the mask)."""
    filler = Time(np.full(n, 51544.0), format="mjd", scale="utc")
    return filler.jd1, filler.jd2


def merge_lightcurves(lc, nondets, meta: Mapping, wanted: np.ndarray, *, warn_empty: bool = True) -> Table:
    """Detections and limits (builders of the ``lc`` and ``lcnondets`` parts) in one table, objects in the
    order of ``wanted``, by mjd within each, grouped by atlas_id."""
    builders = (lc, nondets)
    sizes = (len(lc), len(nondets))
    order, ranks = _order(builders, wanted)
    detected = np.concatenate([np.ones(sizes[0], bool), np.zeros(sizes[1], bool)])
    mag = np.concatenate([lc.stacked("mag")[1].astype(float), np.zeros(sizes[1])])
    columns = {"detected": Column(detected[order], description="True: a detection (lc); False: a "
                                  "non-detection (lcnondets), mag5sig is the limit"),
               "negative_flux": Column((detected & (mag < 0))[order],
                                       description="detection of negative difference flux (mag < 0)")}
    del detected, mag
    where = np.empty_like(order)
    where[order] = np.arange(len(order))  # where each row of lc, then of lcnondets, goes
    places = (where[:sizes[0]], where[sizes[0]:])
    renamed = {"atlas_metadata_id": "exposure_id"}  # the detections' exposure id, as the limits name it
    names = list(dict.fromkeys([renamed.get(n, n) for n in lc.names] + nondets.names))

    def merged(name):  # one column of both, in the merged order (numpy only: in the pool, side by side)
        keys = [next((k for k in b.names if renamed.get(k, k) == name), None) if b is lc else
                (name if name in b.names else None) for b in builders]
        stacked = [b.stacked(k) if k is not None else None for b, k in zip(builders, keys)]
        field = next(s[0] for s in stacked if s is not None)
        if field.dtype == "time":  # Time objects are made in this thread, below
            return field, stacked
        # Each part's values written straight to their places: no joined copy of both.
        present = [x[1].dtype for x in stacked if x is not None]
        # Where a part lacks the column its rows hold zero ("" for text) under the mask: allocated
        # zeroed, not filled (a fill of text through an index array is slow: 75 ms for 230,000 rows).
        lacking = any(s is None for s in stacked)
        data = (np.zeros if lacking else np.empty)(len(order), dtype=np.result_type(*present))
        mask = np.empty(len(order), bool)
        for s, at in zip(stacked, places):
            if s is None:
                mask[at] = True
                if data.dtype.kind == "O":  # exact integers: None is the null there, as in every table
                    data[at] = None
            else:
                data[at], mask[at] = _held(*s[1:])
        return field, [data, mask]

    # Texts first: their copies are the largest (four bytes a character), and made before the other
    # merged columns exist they add least to the peak.
    texts = [name for name in names if _is_text(builders, name, renamed)]
    first_texts = texts + [name for name in names if name not in texts]
    done = dict(zip(first_texts, pool_map(merged, first_texts)))
    for name in names:
        field, arrays = done.pop(name)
        if field.dtype == "time":
            both = []
            for part_column, n in zip(arrays, sizes):
                if part_column is None:
                    both.append((*_J2000(n), np.ones(n, bool)))
                else:
                    part = finish_column(*part_column)
                    both.append((part.jd1, part.jd2, np.ma.getmaskarray(part.mask)))
            jd1, jd2, missing = (np.concatenate([b[i] for b in both])[order] for i in range(3))
            col = Time(jd1, jd2, format="jd", scale="utc")
            col.format = "isot"
            if missing.any():
                col[missing] = np.ma.masked
            columns[name] = col
            continue
        columns[name] = finish_column(field, *arrays)
    front = ["atlas_id", "mjd", "filter", "detected", "mag", "magerr", "mag5sig", "negative_flux",
             "det", "dup", "zp", "exptime", "expname", "exposure_id"]
    names = front + [c for c in columns if c not in front]
    merged_table = _grouped({name: columns[name] for name in names}, ranks, meta)
    if warn_empty:
        warn_if_empty(merged_table, "light-curve rows")
    return merged_table
