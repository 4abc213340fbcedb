"""The ``objects/`` read of `~astroquery_ext.atlas.AtlasClass`: ids in chunks, answers read as they arrive,
and the memo.

`ObjectsMixin` is one room of the client (as the base's mixins are rooms of
`~astroquery_ext._base.ServiceQuery`): the ids of a call sent ``conf.chunk_size``
per request, ``conf.max_workers`` requests in flight, each answer decoded by
the columnar engine while it arrives (`~astroquery_ext.atlas._wire.read_objects`)
and checked against the ids asked; what a call of many requests gives when
some fail (``errors=``); and the short-lived in-memory memo by which
`get_objects`, `query_objects`, `get_lightcurves` and `get_forced_photometry`
of the same ids cost one fetch. The public methods are in ``core.py``.
"""

from __future__ import annotations

import collections
import json
import threading
import time
import warnings
from typing import Any

import numpy as np
from astropy.utils.exceptions import AstropyUserWarning
from astroquery.utils import TableList

from astroquery_ext._base import (
    AstroqueryExtError, AuthorizationError, IncompleteResultWarning, LoginError, RemoteServiceError, Retryable,
    ServiceQuery, bounded_map, check_max_workers, chunked, gc_paused, redact_url)
from astroquery_ext._base.progress import BatchProgress
from astroquery_ext._base.stream import read_ahead
from astroquery_ext.atlas import _wire, conf

__all__ = ["ObjectsMixin", "UnknownIdsWarning", "MAX_CHUNK"]

MAX_CHUNK = 50_000       # ids per objects/ request, the server's limit
LONG_READ_IDS = 100      # a read of this many ids (hundreds of light-curve rows each) is long work: a progress bar
_MEMO_ENTRIES = 8


class UnknownIdsWarning(AstropyUserWarning):
    """Some of the ids asked for do not exist on the server (they are in ``meta["missing"]``)."""


UnknownIdsWarning.__module__ = "astroquery_ext.atlas"  # its public path, in tracebacks and docs


def _objects_data(chunk: list[int], mjd: float | None) -> dict:
    """The form of one ``objects/`` request."""
    data = {"objects": ",".join(map(str, chunk))}
    if mjd is not None:
        data["mjd"] = repr(mjd)
    return data


class ObjectsMixin:
    """The ``objects/`` read and its memo (a room of `~astroquery_ext.atlas.AtlasClass`)."""

    #: The memo of object data belongs to one process: a pickle does not carry it.
    _process_local = ServiceQuery._process_local + ("_memo", "_memo_lock")

    def _open_process_state(self) -> None:
        super()._open_process_state()
        self._memo_lock = threading.Lock()
        # A forked child keeps the parent's memo (still right: same user, same
        # server); an unpickled copy starts with an empty one.
        if "_memo" not in vars(self):
            self._memo: collections.OrderedDict = collections.OrderedDict()

    def _objects_payload(self, ids: np.ndarray, mjd: float | None) -> list[dict]:
        """The requests an ``objects/`` read would send, one per chunk (``get_query_payload=True``)."""
        return [self._json("POST", "objects/", data=_objects_data(chunk, mjd), get_query_payload=True)
                for chunk in chunked(ids.tolist(), self._chunk_size())]

    def _objects(self, ids: np.ndarray, mjd: float | None, *, cache,
                 show_progress: bool) -> tuple[_wire.ObjectsParts, Any]:
        """The parts of ``objects/`` for ids (memo first; each table built anew when taken) and the first
        failed request's error (None when all succeeded; the parts then hold what the others fetched)."""
        chunk_size = self._chunk_size()
        max_workers = check_max_workers(int(conf.max_workers), self.max_workers_limit)
        parts = self._memo_get(ids, mjd) if cache is not False else None
        failure = None
        if parts is None:
            with gc_paused():
                parts, failure = self._fetch_objects(ids, mjd, chunk_size=chunk_size, max_workers=max_workers,
                                                     show_progress=show_progress)
            if failure is None:
                self._memo_put(ids, mjd, parts)
        missing = parts.meta.get("missing", [])
        if missing:
            shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
            warnings.warn(f"{len(missing)} of the {len(ids)} ids are not known to the server: {shown} "
                          f"(listed in meta['missing'])", UnknownIdsWarning, stacklevel=3)
        return parts, failure

    def _complete(self, result, failure, errors: str, asked: int):
        """``result`` of a call whose requests all succeeded; else (some failed) raise ``failure``
        carrying ``result`` as ``.table``, or with ``errors="ignore"`` warn and return it."""
        if failure is None:
            return result
        meta = result[0].meta if isinstance(result, TableList) else result.meta
        failed = meta["failed"]
        if errors == "ignore":
            warnings.warn(f"{len(failed)} of the {asked} ids were not fetched (listed in meta['failed']): "
                          f"{failure}", IncompleteResultWarning, stacklevel=3)
            return result
        failure.args = (f"{failure} {len(failed)} of the {asked} ids were not fetched (.table.meta['failed']); "
                        f"the rows of the {asked - len(failed)} others are in this error's .table (errors='ignore' "
                        f"returns them).",)
        failure.table = result
        raise failure

    @staticmethod
    def _chunk_size() -> int:
        size = conf.chunk_size
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_CHUNK:
            raise ValueError(f"conf.chunk_size must be an integer from 1 to {MAX_CHUNK}; got {size!r}")
        return size

    def _fetch_objects(self, ids: np.ndarray, mjd: float | None, *, chunk_size: int, max_workers: int,
                       show_progress: bool) -> tuple[_wire.ObjectsParts, Any]:
        chunks = chunked(ids.tolist(), chunk_size)
        self._login_once()
        quota = self.requests_per_hour
        if len(chunks) > quota:  # said before sending: a read this size cannot finish within the hour
            warnings.warn(f"objects/: {len(ids)} ids in chunks of {chunk_size} = {len(chunks)} requests, more "
                          f"than the quota of {quota} requests per hour per user: the call will stop with "
                          f"RateLimitError when the quota runs out. Raise conf.chunk_size (the server takes "
                          f"up to 50,000 ids per request) to need fewer requests.", AstropyUserWarning,
                          stacklevel=4)
        # Progress only for long work: several requests, or a large answer; never for a few objects.
        progress = BatchProgress(len(ids), show_progress and (len(chunks) > 1 or len(ids) >= LONG_READ_IDS))
        def one(chunk):  # a failed request does not lose what the others fetch
            try:
                return self._fetch_chunk(chunk, mjd, progress)
            except (LoginError, AuthorizationError):
                raise
            except AstroqueryExtError as exc:
                return exc

        try:
            results = bounded_map(one, chunks, max_workers=max_workers)
        finally:
            progress.close()
        failures = [(chunk, r) for chunk, r in zip(chunks, results) if isinstance(r, AstroqueryExtError)]
        results = [r for r in results if not isinstance(r, AstroqueryExtError)]
        missing = [oid for r in results for oid in r.missing]
        meta = self._provenance("objects/", {"n_ids": int(len(ids)), "mjd_min": mjd}, missing=missing)
        if failures:
            meta["failed"] = [oid for chunk, _ in failures for oid in chunk]
        return _wire.ObjectsParts(results, meta), (failures[0][1] if failures else None)

    def _fetch_chunk(self, chunk: list[int], mjd: float | None, progress: BatchProgress) -> _wire.ObjectsResult:
        data = _objects_data(chunk, mjd)

        def read(response):
            # Read inside the base's retry policy: a body cut off here repeats the request.
            try:
                return _wire.read_objects(read_ahead(response.iter_content(1 << 20), 8), progress)
            except json.JSONDecodeError:
                raise Retryable("the list of records was cut off or is not valid JSON", message=(
                    f"{self.name}: POST /objects/ answered a list of records that was cut off or is not "
                    f"valid JSON; try again later or with a smaller conf.chunk_size"),
                    url=redact_url(self._url("objects/"))) from None

        result, stream, position = self._http("POST", "objects/", data=data, auth="required",
                                              idempotent=True, read=read)
        if stream.other is not None:
            text = b"".join(stream.other).decode("utf-8", "replace")
            try:
                answer = json.loads(text)
            except ValueError:
                answer = text[:300]
            self._check_answer(answer, "objects/")
            raise RemoteServiceError(f"{self.name}: objects/ answered {str(answer)[:200]!r} instead of a "
                                     f"list of records", url=redact_url(self._url("objects/")),
                                     service=self.service)
        wrong = result.check_ids(chunk)
        if wrong:
            raise RemoteServiceError(
                f"{self.name}: objects/ answered records that do not belong to the request for "
                f"{len(chunk)} ids: {wrong}. Nothing of this answer is used. Try again; report it to the "
                f"service if it repeats.", url=redact_url(self._url("objects/")), service=self.service)
        if position != len(chunk):
            raise RemoteServiceError(
                f"{self.name}: objects/ answered {position} records for {len(chunk)} ids; report this to "
                f"the service.", url=redact_url(self._url("objects/")), service=self.service)
        return result

    # -- the memo -------------------------------------------------------------------

    def _memo_key(self, ids: np.ndarray, mjd: float | None):
        return (self._identity(), self.server, ids.tobytes(), mjd)

    def _memo_get(self, ids: np.ndarray, mjd: float | None, *, any_mjd: bool = False):
        ttl = float(conf.memo_timeout)
        if ttl <= 0:
            return None
        now = time.monotonic()
        with self._memo_lock:
            for key in list(self._memo):
                if now - self._memo[key][0] > ttl:
                    del self._memo[key]
            key = self._memo_key(ids, mjd)
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key][1]
            if any_mjd:
                for (who, server, blob, _), (_, parts) in reversed(self._memo.items()):
                    if (who, server, blob) == key[:3]:
                        return parts
        return None

    def _memo_put(self, ids: np.ndarray, mjd: float | None, parts: dict) -> None:
        if float(conf.memo_timeout) <= 0:
            return
        with self._memo_lock:
            self._memo[self._memo_key(ids, mjd)] = (time.monotonic(), parts)
            while len(self._memo) > _MEMO_ENTRIES:
                self._memo.popitem(last=False)

    def _clear_memo(self) -> None:
        with self._memo_lock:
            self._memo.clear()
