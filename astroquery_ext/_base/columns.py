"""Bulk JSON answers decoded straight into columns while they arrive: the columnar engine.

Some answers are a JSON array of records, each holding a few *bulk parts*
(lists of rows with declared columns: the light curves of ATLAS objects)
next to small parts (one object row, a few cross-matches). For those:

1. the body is cut into batches of whole records as its blocks arrive
   (`~astroquery_ext._base.stream.ArrayStream`: at the last place where a
   record's ``opening`` follows a comma, the cut proved right by the batch's
   decode; where it is not, element boundaries are found by a validating skip);
2. each batch is decoded once by msgspec into its small parts, the bulk parts
   kept as raw JSON (`msgspec.Raw`, no value built) and rewritten as one line
   per record (newline-delimited JSON);
3. the lines are parsed by pyarrow's JSON reader with an explicit schema built
   from the parts' `~astroquery_ext._base.Field` lists (numbers straight into
   typed buffers, no Python object per value, without the GIL), in a small
   pool of threads shared by every call of the process, while the next blocks
   are received;
4. each parsed batch's columns stay in Arrow's compact form (texts as UTF-8,
   times parsed to timestamps) in a `ColumnBuilder`; when a table is asked
   for, each column's batches are joined and turned into numpy once, the
   columns side by side in the pool: numbers read from Arrow's buffers,
   masks from Arrow validity, strings to numpy unicode through the Arrow
   buffers (one vectorised scatter, no Python string per value); then
   finished (units, masks, times) as every other table's columns
   (`~astroquery_ext._base.tables.finish_column`). A caller that keeps the
   builder (ATLAS's memo) keeps the compact form, and builds tables or
   views (`ColumnBuilder.stacked`, one column at a time) from it.

A batch that Arrow does not take as declared (an integer beyond int64, a
number where text was declared, a row that is not an object...) is decoded
by msgspec's typed decoder instead, which either reads it as every other
table is read (an exact ``object`` column for a huge integer) or raises
`RemoteServiceError` naming the value's JSON path. Every decoder on this path
is bounded in nesting depth: a too deeply nested answer is a
`RemoteServiceError`, never a `RecursionError`.

The cost of a call grows linearly with its size: the Python-level work is per
record (not per value), and the value-level work runs in the shared pool, so
several requests of one call never make two Python-level decoders contend.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import os
import threading
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pa_compute
import pyarrow.json as pa_json

from astroquery_ext._base.exceptions import RemoteServiceError
from astroquery_ext._base.tables import (
    Field, RecordSchema, TableBuilder, finish_column, to_array)
from astroquery_ext._base.times import time_stamps
from astroquery_ext._base.stream import ArrayStream, wrong_type_error

__all__ = ["BulkRecords", "ColumnBuilder", "pool_map", "string_column"]

_ARROW_TYPES = {"int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(), "str": pa.string(),
                "time": pa.string()}
_NUMPY_TYPES = {"int64": np.int64, "float64": np.float64, "bool": bool}
_NULL = msgspec.Raw(b"null")
#: Where the engine's Arrow buffers are allocated: the C library's allocator. Arrow's default pool
#: (mimalloc or jemalloc, as the wheel was built) keeps freed pages for a while: about 40 MiB more
#: at the peak of a 1,000-object ATLAS call, and no faster (measured side by side). The process's
#: default pool, which the user's own Arrow code uses, is left as it is.
_MEMORY = pa.system_memory_pool()
_NO_NEWLINES = bytes.maketrans(b"\r\n", b"  ")  # raw newlines in JSON are whitespace between tokens

# -- the shared pool -------------------------------------------------------------------

_POOL: concurrent.futures.ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    """The process's parsing threads (as many as cores, at most 4), created on first use."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = concurrent.futures.ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1)),
                                                          thread_name_prefix="astroquery_ext-columns")
        return _POOL


def _forget_pool() -> None:  # a forked child has the pool object but not its threads
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def pool_map(func: Callable, items: Iterable) -> list:
    """``[func(item) for item in items]``, run side by side in the shared pool (for numpy and Arrow work,
    which runs without the GIL: one column per item). Not to be called from the pool's own threads."""
    return [future.result() for future in [_pool().submit(func, item) for item in items]]


# -- Arrow to numpy ----------------------------------------------------------------------
#
# Values are read from the arrays' buffers: Arrow's own ``to_numpy`` imports pandas on first
# use (a second, and tens of MB, in a process that never asked for it).

def _bits(buffer: pa.Buffer | None, offset: int, n: int) -> np.ndarray | None:
    """An Arrow bitmap (validity, or boolean values) as n bools."""
    if buffer is None:
        return None
    first, skip = divmod(offset, 8)
    packed = np.frombuffer(buffer, np.uint8)[first:first + (skip + n + 7) // 8]
    return np.unpackbits(packed, bitorder="little")[skip:skip + n].astype(bool)


def _validity(array: pa.Array) -> np.ndarray | None:
    """Where ``array`` is null, or None when nowhere."""
    if array.null_count == 0:
        return None
    valid = _bits(array.buffers()[0], array.offset, len(array))
    return np.ones(len(array), bool) if valid is None else ~valid


def _values(array: pa.Array, dtype) -> np.ndarray:
    """The values of a fixed-width Arrow array as a new numpy array (what a null's slot holds is undefined)."""
    n, buffer = len(array), array.buffers()[1]
    if dtype == bool:
        values = _bits(buffer, array.offset, n)
        return np.zeros(n, bool) if values is None else values
    if buffer is None:
        return np.zeros(n, dtype)
    return np.frombuffer(buffer, dtype)[array.offset:array.offset + n].copy()


def string_column(array: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
    """An Arrow string array as ``(numpy unicode array, mask or None)``; a null is ``""`` under the mask.

    The width is that of the longest value (at least 1), as numpy gives for
    the same strings. The UTF-8 bytes are widened to code points in one
    decode of the whole buffer, then put in place by one scatter: no Python
    string per value.
    """
    mask = _validity(array)
    n = len(array)
    if n == 0:
        return np.zeros(0, dtype="U1"), None
    if array.type != pa.string():
        array = array.cast(pa.string(), memory_pool=_MEMORY)
    offsets_buffer, data_buffer = array.buffers()[1:3]
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[array.offset:array.offset + n + 1].astype(np.int64)
    start, stop = int(offsets[0]), int(offsets[-1])
    raw = np.frombuffer(data_buffer, dtype=np.uint8)[start:stop] if data_buffer is not None and stop > start \
        else np.zeros(0, dtype=np.uint8)
    offsets -= start
    if mask is not None:  # a null's slot may hold bytes in Arrow: take none of them
        lengths = np.where(mask, 0, np.diff(offsets))
    else:
        lengths = np.diff(offsets)
    if raw.size and raw.max() >= 0x80:
        # Characters, not bytes: count the bytes that start a character.
        starts = np.concatenate([[0], np.cumsum((raw & 0xC0) != 0x80)])
        char_offsets = starts[offsets]
        codes = np.frombuffer(raw.tobytes().decode("utf-8", "surrogatepass").encode("utf-32-le", "surrogatepass"),
                              dtype="<u4")
        char_lengths = np.where(lengths == 0, 0, np.diff(char_offsets))
        first = char_offsets[:-1]
    else:
        codes = raw.astype(np.uint32)
        char_lengths = lengths
        first = offsets[:-1]
    width = max(int(char_lengths.max()), 1)
    if mask is None and (char_lengths == width).all():
        out = codes.reshape(n, width)
        if not out.flags.writeable:  # a view of the decoded text: the column must be the table's own
            out = out.copy()
    else:
        out = np.zeros((n, width), dtype=np.uint32)
        rows = np.repeat(np.arange(n), char_lengths)
        within = np.arange(rows.size) - np.repeat(np.cumsum(char_lengths) - char_lengths, char_lengths)
        out[rows, within] = codes[np.repeat(first, char_lengths) + within]
    return np.ascontiguousarray(out).view(f"<U{width}").reshape(n), mask


def _stamps(array: pa.Array) -> pa.Array | tuple[np.ndarray, np.ndarray | None]:
    """ISO 8601 texts as an Arrow array of UTC timestamps (microseconds): UTC texts (a ``Z`` or nothing at
    the end) parsed by Arrow; any other (an offset) as ``(datetime64[us] UTC, mask or None)`` by
    `time_stamps`, the one time parser, as elsewhere.

    (Arrow's zone-aware parsing would load a time-zone database on first use: seconds.)
    """
    try:
        return pa_compute.utf8_rtrim(array, characters="Zz", memory_pool=_MEMORY).cast(pa.timestamp("us"),
                                                                                   memory_pool=_MEMORY)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text, mask = string_column(array)
        stamps, missing = time_stamps(text, mask)
        return stamps, (missing if missing.any() else None)


def _datetimes(stamps: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
    """Arrow timestamps (microseconds) as ``(datetime64[us], mask or None)``."""
    return _values(stamps, "datetime64[us]"), _validity(stamps)


def _list_rows(lists: pa.ListArray) -> tuple[pa.Array, np.ndarray]:
    """The rows of every list, in order, and how many each list has (a null list: none).

    A view of the lists' values where it can be (``ListArray.flatten`` copies
    them all, in Arrow's default pool, as soon as one list is null).
    """
    n = len(lists)
    offsets = np.frombuffer(lists.buffers()[1], np.int32)[lists.offset:lists.offset + n + 1] if n \
        else np.zeros(1, np.int32)
    counts = np.diff(offsets)
    nulls = _validity(lists)
    if nulls is not None and counts[nulls].any():  # a null spanning rows (Arrow's reader makes none)
        rows = lists.flatten()
        counts[nulls] = 0
        return rows, counts
    return lists.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0])), counts


def _parsed(array: pa.Array, field: Field) -> pa.Array | tuple:
    """One field's values of a parsed batch as kept until the table is built: Arrow arrays (compact:
    texts as UTF-8, times as timestamps), or ``(data, mask)`` for times Arrow does not parse."""
    return _stamps(array) if field.dtype == "time" else array


def _column(array: pa.Array, field: Field) -> tuple[np.ndarray, np.ndarray | None]:
    """One field's Arrow values (as `_parsed` keeps them) as ``(data, mask or None)``, as `to_array` gives them."""
    if field.dtype == "str":
        return string_column(array)
    if field.dtype == "time":
        return _datetimes(array)
    data, mask = _values(array, _NUMPY_TYPES[field.dtype]), _validity(array)
    if mask is not None:  # as the row decoder reads None: NaN for a float (masked), 0 or False else
        data[mask] = np.nan if field.dtype == "float64" else 0
    return data, mask


class ColumnBuilder(TableBuilder):
    """A `~astroquery_ext._base.tables.TableBuilder` whose chunks may also be Arrow arrays, as parsed.

    Each column's Arrow chunks are joined and turned into numpy once, when
    the table is built (not batch by batch): until then the values stay in
    Arrow's compact form (texts as UTF-8, not numpy's four bytes per
    character of the longest), and the columns are built side by side in
    the shared pool (Arrow and numpy work without the GIL).
    """

    @staticmethod
    def _stack(field: Field, chunks: list) -> tuple[np.ndarray, np.ndarray | None]:
        if field.dtype == "str" and len(chunks) > 1 and all(isinstance(c, pa.Array) for c in chunks):
            chunks = [pa.concat_arrays(chunks, memory_pool=_MEMORY)]  # joined while compact: widened to numpy once
        return TableBuilder._stack(field, [_column(c, field) if isinstance(c, pa.Array) else c for c in chunks])

    def _columns(self, fields: Sequence[Field]) -> list:
        stacked = pool_map(lambda f: self._stack(f, self._chunks[f.name]), fields)
        return [finish_column(f, *data_mask) for f, data_mask in zip(fields, stacked)]


# -- the engine ----------------------------------------------------------------------------

class _Rejected(Exception):
    """Arrow did not take a batch as declared: the typed decoder reads it."""


class BulkRecords:
    """How one kind of answer is decoded: its bulk parts (to columns) and its small parts (to objects).

    Parameters
    ----------
    name : str
        Names the record types (shown in decoding errors).
    parts : dict of str to list of Field
        The bulk parts: a record key holding a list of rows, and the rows' columns.
    small : list of (str, type, default)
        The other record keys decoded by msgspec (e.g. ``("object", Any, None)``).
    prefix : Field
        A column put first in every bulk table, one value per record (e.g. the object id).
    prefix_of : callable
        The prefix value of a decoded record, or None to drop the record's bulk rows.
    batch_bytes : int
        About how much JSON is parsed at a time (the unit of work of the pool).
    opening : bytes, optional
        How every record is expected to begin (``b'{"object":'``): batches are
        then cut where it follows a comma and checked by their decode, not
        record by record (see `~astroquery_ext._base.stream.ArrayStream`).
    """

    def __init__(self, name: str, parts: Mapping[str, Sequence[Field]], small: Sequence[tuple],
                 prefix: Field, prefix_of: Callable[[Any], Any], *, batch_bytes: int = 2 << 20,
                 opening: bytes | None = None):
        self.parts = {p: list(fields) for p, fields in parts.items()}
        self.prefix, self.prefix_of, self.batch_bytes, self.opening = prefix, prefix_of, batch_bytes, opening
        for p, fields in self.parts.items():
            for f in fields:
                if f.key is not None and f.convert is None and f.dtype not in _ARROW_TYPES:
                    raise ValueError(f"bulk part {p!r}: column {f.name!r} of dtype {f.dtype} is not columnar")
        small = [tuple(s) for s in small]
        # Fast: bulk parts left as raw JSON. Typed: bulk parts decoded to Structs (the fallback).
        self.raw_type = msgspec.defstruct(f"{name}_raw", [(p, msgspec.Raw, _NULL) for p in self.parts] + small,
                                          gc=False)
        self.schemas = {p: RecordSchema(fields, name=f"{name}_{p}") for p, fields in self.parts.items()}
        self.typed_type = msgspec.defstruct(
            name, [(p, list[self.schemas[p].type] | None, None) for p in self.parts] + small, gc=False)
        self._raw = msgspec.json.Decoder(list[self.raw_type])
        self._typed = msgspec.json.Decoder(list[self.typed_type])
        self.arrow_schema = pa.schema([
            (p, pa.list_(pa.struct([(f.key, _ARROW_TYPES[f.dtype]) for f in self._arrow_fields(p)])))
            for p in self.parts])
        self._heads = [(b'{"' if i == 0 else b',"') + p.encode() + b'":' for i, p in enumerate(self.parts)]

    def _arrow_fields(self, part: str) -> list[Field]:
        return list({f.key: f for f in self.parts[part] if f.key is not None and f.convert is None}.values())

    def builders(self) -> dict[str, TableBuilder]:
        """Empty builders of the bulk tables (the prefix column first)."""
        return {p: ColumnBuilder(fields, prefix=[self.prefix]) for p, fields in self.parts.items()}

    def reader(self, where: str = "the server's answer") -> "BulkReader":
        """A reader of one answer."""
        return BulkReader(self, where)

    # -- one batch, in a pool thread -------------------------------------------------------

    def _columns(self, lines: bytes, prefixes: np.ndarray, batch: bytes, before: int, where: str) -> dict:
        """``{part: (rows, {name: (data, mask)})}`` of one batch."""
        try:
            return self._arrow_columns(lines, prefixes)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, _Rejected):
            return self._typed_columns(batch, prefixes, before, where)

    def _arrow_columns(self, lines: bytes, prefixes: np.ndarray) -> dict:
        table = pa_json.read_json(
            pa.BufferReader(lines), read_options=pa_json.ReadOptions(use_threads=False, block_size=len(lines) + 1),
            parse_options=pa_json.ParseOptions(explicit_schema=self.arrow_schema,
                                               unexpected_field_behavior="ignore"), memory_pool=_MEMORY)
        out = {}
        for part, fields in self.parts.items():
            chunks = table.column(part)  # one chunk (one block); combine_chunks would copy even that one
            lists = chunks.chunk(0) if chunks.num_chunks == 1 else chunks.combine_chunks(memory_pool=_MEMORY)
            rows, counts = _list_rows(lists)
            if rows.null_count:
                raise _Rejected  # a row that is null, not an object: the typed decoder says where
            n = len(rows)
            columns = {self.prefix.name: (np.repeat(prefixes, counts), None)}
            arrow = {f.key: rows.field(f.key) for f in self._arrow_fields(part)} if n else {}
            for f in fields:
                if f.key in arrow and f.convert is None:
                    columns[f.name] = _parsed(arrow[f.key], f)
                else:
                    columns[f.name] = to_array([None] * n, f.dtype, f.name)
            out[part] = (n, columns)
        return out

    def _typed_columns(self, batch: bytes, prefixes: np.ndarray, before: int, where: str) -> dict:
        try:
            records = self._typed.decode(batch)
        except msgspec.ValidationError as exc:
            raise wrong_type_error(exc, where, before) from None
        except (msgspec.DecodeError, RecursionError) as exc:  # the skip that cut the batch took it
            raise RemoteServiceError(f"{where} is not valid JSON ({exc}); report this to the service.") from None
        out = {}
        for part, fields in self.parts.items():
            builder = TableBuilder(fields, prefix=[self.prefix], schema=self.schemas[part])
            rows, counts = [], []
            for record in records:
                part_rows = getattr(record, part) if self.prefix_of(record) is not None else None
                rows.extend(part_rows or ())
                counts.append(len(part_rows or ()))
            if rows:
                builder.add(rows, **{self.prefix.name: np.repeat(prefixes, counts)})
                for f in fields:  # times as stamps, as the columnar path gives them
                    if f.dtype == "time":
                        chunk = builder._chunks[f.name]
                        chunk[-1] = time_stamps(*chunk[-1])
            out[part] = builder
        return out

    # -- one batch, in the caller's thread ---------------------------------------------------

    def _lines(self, records: list) -> tuple[bytes, np.ndarray]:
        """The bulk parts of each record as one line of JSON; the records' prefix values."""
        pieces, prefixes = [], []
        for record in records:
            prefix = self.prefix_of(record)
            prefixes.append(prefix)
            for head, part in zip(self._heads, self.parts):
                pieces.append(head)
                pieces.append(getattr(record, part) if prefix is not None else _NULL)
            pieces.append(b"}\n")
        values = [0 if p is None else p for p in prefixes]
        return b"".join(pieces), to_array(values, self.prefix.dtype, self.prefix.name)[0]


class _Batch(list):
    """The records of one batch, and the batch's JSON (``raw``: the bulk parts are views into it)."""

    __slots__ = ("raw",)


class _Splitter:
    """The decoder `ArrayStream` calls on each batch of whole records: the small parts decoded, the
    bulk parts kept raw (views into a copy of the batch: the stream reuses its own buffer)."""

    def __init__(self, records: BulkRecords):
        self._decoder = records._raw

    def decode(self, piece) -> _Batch:
        raw = bytes(piece)
        if b"\n" in raw or b"\r" in raw:
            raw = raw.translate(_NO_NEWLINES)
        batch = _Batch(self._decoder.decode(raw))
        batch.raw = raw
        return batch


class BulkReader:
    """Reads one answer of `BulkRecords`: iterate `batches` over its blocks, then take `tables`."""

    def __init__(self, records: BulkRecords, where: str, *, pending: int = 4):
        self.records, self.where, self.pending = records, where, pending
        self.stream = ArrayStream(_Splitter(records), where, batch_bytes=records.batch_bytes,
                                  opening=records.opening)
        self._builders = records.builders()
        self._futures: collections.deque = collections.deque()

    @property
    def count(self) -> int:
        """Records read so far."""
        return self.stream.count

    def batches(self, blocks: Iterable[bytes]) -> Iterator[list]:
        """The records of each batch (their small parts; bulk parts are read into columns meanwhile).

        Raises `json.JSONDecodeError` when the body is cut off or not JSON,
        `RemoteServiceError` when a value has the wrong type or the JSON is
        nested too deeply.
        """
        pool = _pool()
        try:
            for block in itertools.chain(blocks, [None]):
                try:
                    found = self.stream.feed_batches(b"" if block is None else block, final=block is None)
                except RecursionError:
                    raise RemoteServiceError(f"{self.where} is nested too deeply to be read; report this to "
                                             f"the service.") from None
                for records in found:
                    before = self.stream.count - len(records)
                    lines, prefixes = self.records._lines(records)
                    self._futures.append(pool.submit(self.records._columns, lines, prefixes,
                                                     records.raw, before, self.where))
                    while len(self._futures) > self.pending:
                        self._collect(self._futures.popleft())
                    yield records
            while self._futures:
                self._collect(self._futures.popleft())
        finally:
            for future in self._futures:  # an error or an abandoned read: the rest is not wanted
                future.cancel()
            self._futures.clear()

    def _collect(self, future: concurrent.futures.Future) -> None:
        for part, done in future.result().items():
            builder = self._builders[part]
            if isinstance(done, TableBuilder):
                builder.extend(done)
            else:
                builder.add_arrays(*done)

    def tables(self) -> dict[str, TableBuilder]:
        """The builders of the bulk tables (after `batches` is exhausted)."""
        return self._builders
