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
from typing import Any, Callable, Iterable, Sequence, TypeVar

__all__ = ["fetch_offset_pages", "fetch_cursor_pages", "bounded_map", "check_max_workers", "chunked"]

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
    """
    items = list(items)
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


def fetch_offset_pages(fetch: Callable[[int, int], tuple[list, int | None]], *, page_size: int,
                       row_limit: int | None = None, max_workers: int = 4) -> tuple[list, bool]:
    """All records of an offset/limit collection.

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

    Returns
    -------
    records : list
        In collection order.
    truncated : bool
        True when ``row_limit`` cut the result (more records exist).
    """
    limit = None if row_limit is None or row_limit < 0 else row_limit
    first_size = page_size if limit is None else min(page_size, limit)
    if first_size == 0:
        return [], True
    records, total = fetch(0, first_size)
    records = list(records)
    if len(records) < first_size:
        return records, False
    if total is not None:
        wanted = total if limit is None else min(total, limit)
        offsets = list(range(len(records), wanted, page_size))
        pages = bounded_map(lambda off: fetch(off, min(page_size, wanted - off))[0], offsets,
                            max_workers=max_workers)
        for page in pages:
            records.extend(page)
        return records[:wanted], limit is not None and total > limit
    # Total unknown: rounds of concurrent pages until a short one.
    offset = len(records)
    while limit is None or offset < limit:
        offsets = []
        for _ in range(max_workers):
            if limit is not None and offset >= limit:
                break
            offsets.append(offset)
            offset += page_size
        pages = bounded_map(lambda off: fetch(off, page_size if limit is None else min(page_size, limit - off))[0],
                            offsets, max_workers=max_workers)
        done = False
        for off, page in zip(offsets, pages):
            records.extend(page)
            expected = page_size if limit is None else min(page_size, limit - off)
            if len(page) < expected:
                done = True
                break
        if done:
            return records, False
    # Reached the limit with full pages: is there more? One probe of one record.
    more = bool(fetch(limit, 1)[0])
    return records[:limit], more


def fetch_cursor_pages(first: Callable[[], tuple[list, Any]], follow: Callable[[Any], tuple[list, Any]], *,
                       row_limit: int | None = None) -> tuple[list, bool]:
    """All records of a collection whose pages link to the next.

    ``first()`` and ``follow(cursor)`` return ``(records, next_cursor_or_None)``.
    Returns ``(records, truncated)``.
    """
    limit = None if row_limit is None or row_limit < 0 else row_limit
    records, cursor = first()
    records = list(records)
    while cursor is not None and (limit is None or len(records) < limit):
        page, cursor = follow(cursor)
        records.extend(page)
    if limit is not None and (len(records) > limit or (len(records) == limit and cursor is not None)):
        return records[:limit], True
    return records, False

