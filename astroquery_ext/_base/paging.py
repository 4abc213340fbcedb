"""Fetching many pages (or many chunks) with a bound on concurrency.

Three shapes cover the services here:

- `fetch_offset_pages`: offset/limit paging. When the first page tells the
  total, the remaining pages are fetched concurrently, exactly as many as
  needed; when it does not, pages are fetched in concurrent rounds of
  ``max_workers`` until a short page ends the collection.
- `fetch_cursor_pages`: a server that links to the next page.
- `bounded_map`: any list of independent calls (chunks of ids, files) with at
  most ``max_workers`` in flight, results in input order; the first failure
  cancels what has not started and is raised.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import itertools
import json
import warnings
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

import msgspec

from astroquery_ext._base.exceptions import AstroqueryExtError, IncompleteResultWarning, RemoteServiceError
from astroquery_ext._base.policy import batch_breaker

__all__ = ["fetch_offset_pages", "fetch_cursor_pages", "bounded_map", "check_max_workers", "chunked",
           "keep_received", "mark_received"]

T = TypeVar("T")
R = TypeVar("R")


def check_max_workers(max_workers: int, limit: int) -> int:
    """Validate ``max_workers`` (1..limit) before anything is sent."""
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or not 1 <= max_workers <= limit:
        raise ValueError(f"max_workers must be an integer from 1 to {limit}; got {max_workers!r}")
    return max_workers


def chunked(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """``items`` cut into consecutive chunks of at most ``size``."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1; got {size!r}")
    return [items[i:i + size] for i in range(0, len(items), size)]


def bounded_map(func: Callable[[T], R], items: Iterable[T], *, max_workers: int,
                on_done: Callable[[T, R], None] | None = None) -> list[R]:
    """``[func(x) for x in items]`` with at most ``max_workers`` calls at once.

    Results come back in input order. If a call raises, calls not yet started
    are cancelled and the first exception is raised after running calls end.
    ``on_done(item, result)`` is called as each call finishes (progress bars).
    The calls share one circuit breaker (`~astroquery_ext._base.policy.CircuitBreaker`):
    against a server that stopped answering, the batch gives up in seconds.
    """
    items = list(items)
    func = batch_breaker().wrap(func)
    if max_workers <= 1 or len(items) <= 1:
        results = []
        for item in items:
            result = func(item)
            if on_done:
                on_done(item, result)
            results.append(result)
        return results
    results: list[Any] = [None] * len(items)
    with cf.ThreadPoolExecutor(max_workers=min(max_workers, len(items)),
                               thread_name_prefix="astroquery_ext") as pool:
        futures = {pool.submit(func, item): i for i, item in enumerate(items)}
        try:
            for future in cf.as_completed(futures):
                i = futures[future]
                results[i] = future.result()
                if on_done:
                    on_done(items[i], results[i])
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return results


def _canonical(record: Any) -> bytes:
    """The record as compact JSON with sorted keys: two records are the same when these bytes are."""
    try:
        return msgspec.json.encode(record, order="sorted", enc_hook=str)  # ~10x json.dumps
    except (TypeError, ValueError, msgspec.EncodeError):
        return json.dumps(record, sort_keys=True, separators=(",", ":"), default=str).encode()


class _Checker:
    """Checks a paged collection against what the server said: totals, duplicates."""

    def __init__(self, what: str, key: Callable[[Any], Any] | str | None, strict: bool):
        self.what = what
        self.key = key or _canonical
        self.strict = strict
        self.totals: set[int] = set()

    def problem(self, message: str) -> None:
        text = (f"{self.what}: {message}. The collection probably changed on the server while it was "
                f"read page by page; try again.")
        if self.strict:
            raise RemoteServiceError(text)
        warnings.warn(text + " (The result is incomplete or has duplicates.)", IncompleteResultWarning,
                      stacklevel=4)

    def total(self, value: int | None) -> None:
        if value is not None:
            self.totals.add(int(value))
            if len(self.totals) > 1:
                self.problem(f"pages gave different totals ({', '.join(map(str, sorted(self.totals)))})")

    def _keys(self, records: list) -> list:
        if isinstance(self.key, str) and all(map(isinstance, records, itertools.repeat(dict))):
            return list(map(dict.get, records, itertools.repeat(self.key)))
        keys = []
        for record in records:
            try:
                keys.append(record.get(self.key) if isinstance(self.key, str) else self.key(record))
            except (TypeError, ValueError, KeyError, AttributeError):
                keys.append(None)
        return keys

    def duplicates(self, records: list) -> None:
        keys = self._keys(records)
        try:
            distinct = set(keys)
        except TypeError:  # a key that cannot be hashed: compare the canonical JSON of each key
            keys = [None if k is None else _canonical(k) for k in keys]
            distinct = set(keys)
        missing = keys.count(None)  # records without a key are not compared
        dups = len(keys) - missing - len(distinct - {None})
        if dups:
            self.problem(f"{dups} record(s) came twice (pages overlapped)")

    def count(self, got: int, expected: int) -> None:
        if got < expected:
            self.problem(f"the server said {expected} record(s) but sent {got} (short pages)")


def fetch_offset_pages(fetch: Callable[[int, int], tuple[list, int | None]], *, page_size: int,
                       row_limit: int | None = None, max_workers: int = 4, what: str = "paged result",
                       key: Callable[[Any], Any] | str | None = None, strict: bool = True) -> tuple[list, bool]:
    """All records of an offset/limit collection, checked against the server's totals.

    Parameters
    ----------
    fetch : callable
        ``fetch(offset, limit) -> (records, total_or_None)`` for one page.
    page_size : int
        Records per page (the server's maximum is best).
    row_limit : int, optional
        Stop after this many records (None or -1: all).
    max_workers : int
        Pages in flight at once.
    what : str
        The collection, for messages (``"Glance: GET searchAnalysis"``).
    key : callable or str, optional
        ``key(record)`` identifies a record, or the name of the record's key
        that does (default: the whole record); two records with one key mean
        that pages overlapped. Records without one are not compared.
    strict : bool
        What to do when the pages do not add up (fewer records than the
        server's total, totals that differ between pages, records that came
        twice): raise `RemoteServiceError` (default), or warn
        `IncompleteResultWarning` and return what came.

    Returns
    -------
    records : list
        In collection order.
    truncated : bool
        True when ``row_limit`` cut the result (more records exist).
    """
    check = _Checker(what, key, strict)
    limit = None if row_limit is None or row_limit < 0 else row_limit
    first_size = page_size if limit is None else min(page_size, limit)
    if first_size == 0:
        return [], True
    pages: dict[int, list] = {}  # offset -> records, as pages arrive (a failure keeps the first ones)
    try:
        return _offset_pages(fetch, pages, check, page_size, limit, first_size, max_workers)
    except AstroqueryExtError as exc:
        received, offset = [], 0
        for start in sorted(pages):
            if start != offset:
                break
            received.extend(pages[start])
            offset = start + len(pages[start])
        mark_received(exc, received)
        raise


def mark_received(exc: AstroqueryExtError, records: list) -> None:
    """Mark ``exc`` with the records a paged read received before it (`keep_received` takes them).

    Kept as they came, not redacted as an error's public attributes are: they
    leave the call only as the error's ``.table``.
    """
    exc.__dict__["received"] = records


def _offset_pages(fetch, pages: dict, check: _Checker, page_size: int, limit: int | None, first_size: int,
                  max_workers: int) -> tuple[list, bool]:
    records, total = fetch(0, first_size)
    records = list(records)
    pages[0] = records.copy()
    check.total(total)
    if len(records) < first_size:
        check.duplicates(records)
        if total is not None:
            check.count(len(records), total if limit is None else min(total, limit))
        return records, False
    if total is not None:
        wanted = total if limit is None else min(total, limit)
        offsets = list(range(len(records), wanted, page_size))

        def page(off):
            got, page_total = fetch(off, min(page_size, wanted - off))
            return list(got), page_total

        for got, page_total in bounded_map(page, offsets, max_workers=max_workers,
                                           on_done=lambda off, answer: pages.__setitem__(off, answer[0])):
            check.total(page_total)
        records = [r for off in sorted(pages) for r in pages[off]][:wanted]
        check.duplicates(records)
        check.count(len(records), wanted)
        return records, limit is not None and total > limit
    # Total unknown: rounds of concurrent pages until a short one.
    offset = len(records)
    while limit is None or offset < limit:
        offsets = []
        for _ in range(max_workers):
            if limit is not None and offset >= limit:
                break
            offsets.append(offset)
            offset += page_size
        answers = bounded_map(lambda off: fetch(off, page_size if limit is None else min(page_size, limit - off))[0],
                              offsets, max_workers=max_workers,
                              on_done=lambda off, page: pages.__setitem__(off, list(page)))
        done = False
        for off, page in zip(offsets, answers):
            records.extend(page)
            expected = page_size if limit is None else min(page_size, limit - off)
            if len(page) < expected:
                done = True
                break
        if done:
            check.duplicates(records)
            return records, False
    # Reached the limit with full pages: is there more? One probe of one record.
    more = bool(fetch(limit, 1)[0])
    records = records[:limit]
    check.duplicates(records)
    return records, more


@contextlib.contextmanager
def keep_received(build: Callable[[list], Any], what: str) -> Iterator[None]:
    """A paged read that fails leaves with what it received: the error's ``.table``.

    Inside, a `fetch_offset_pages` that fails marks its error with the records
    of the pages before the first one missing (in collection order); this
    puts ``build(those records)`` on the error as ``.table`` and says so in
    its message. ``what`` names the records (``"scans"``).
    """
    try:
        yield
    except AstroqueryExtError as exc:
        received = exc.__dict__.pop("received", None)
        if received is None or exc.table is not None:
            raise
        try:
            exc.table = build(received)
        except Exception:  # noqa: BLE001 - records no table holds: the error that stopped the call stands
            pass
        else:
            exc.args = (f"{exc.args[0] if exc.args else exc} The {len(exc.table)} {what} received before it, "
                        f"in order, are in this error's .table.",)
        raise


def fetch_cursor_pages(first: Callable[[], tuple[list, Any]], follow: Callable[[Any], tuple[list, Any]], *,
                       row_limit: int | None = None, what: str = "paged result",
                       key: Callable[[Any], Any] | str | None = None, strict: bool = True) -> tuple[list, bool]:
    """All records of a collection whose pages link to the next.

    ``first()`` and ``follow(cursor)`` return ``(records, next_cursor_or_None)``.
    Returns ``(records, truncated)``. A cursor seen before (a loop) or a
    record that comes twice is an error (``strict``) or a warning, as in
    `fetch_offset_pages`.
    """
    check = _Checker(what, key, strict)
    limit = None if row_limit is None or row_limit < 0 else row_limit
    records, cursor = first()
    records = list(records)
    cursors: set = set()
    while cursor is not None and (limit is None or len(records) < limit):
        marker = _canonical(cursor)
        if marker in cursors:
            check.problem("the server's next-page links loop")
            break
        cursors.add(marker)
        page, cursor = follow(cursor)
        records.extend(page)
    check.duplicates(records)
    if limit is not None and (len(records) > limit or (len(records) == limit and cursor is not None)):
        return records[:limit], True
    return records, False

