"""The GRAD300 service class: login, the scan catalogue, FITS files.

The GRAD300 backend (a FastAPI "full-stack template" fork) lists the scans of
four types, ``TPI`` (total-power maps), ``Images`` (maps made from them),
``Spectrum`` and ``OnOff``, page by page (bare JSON arrays, no total), and
serves each scan's FITS file. Tokens are JWTs obtained with an OAuth2 password
form; there is no refresh token.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import itertools
import math
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from astropy.io import fits
from astropy.table import Row, Table

from astroquery_ext._base import (
    AstroqueryExtError, AuthState, DownloadError, DownloadJob, InvalidQueryError, LoginError, NotFoundError,
    RemoteServiceError, ResponseCache, ServiceQuery, bounded_map, cached_download, check_max_workers, download_file,
    download_many, gc_paused,
    fetch_offset_pages, jwt_expiry, keep_received, parse_time, records_to_table, safe_filename)
from astroquery_ext._base.args import choice_arg, errors_arg, int_arg, text_arg, time_arg, to_datetime
from astroquery_ext._base.docs import shared_doc
from astroquery_ext._base.paging import mark_received
from astroquery_ext._base.result import as_result
from astroquery_ext._base.shapes import RECORDS
from astroquery_ext.grad300 import conf
from astroquery_ext.grad300.fields import DOWNLOAD_FIELDS, KNOWN_KEYS, SCAN_FIELDS

__all__ = ["Grad300", "Grad300Class", "SCAN_TYPES"]

#: The parameters `query_source`, `query_scan_name` and `query_date_range` pass on to `query`, and
#: what they return (`shared_doc`).
_QUERY_OPTIONS_DOC = """scan_type : str, optional
    One scan type (``TPI``, ``Images``, ``Spectrum``, ``OnOff``); default all four.
cache : bool
    Use the response cache within the listing's lifetime; False: ask the server.
get_query_payload : bool
    Return the first page's request instead of sending anything, as `query` does.
**kwargs
    ``row_limit`` and ``max_workers``, as `query` takes them.

Returns
-------
`~astropy.table.Table`
    One row per scan, with the columns of `query`."""

#: The scan types, in the order queries return them (canonical spelling of the API).
SCAN_TYPES = ("TPI", "Images", "Spectrum", "OnOff")
_ALIASES = {"tpi": "TPI", "image": "Images", "images": "Images", "spectrum": "Spectrum",
            "spectra": "Spectrum", "onoff": "OnOff", "on_off": "OnOff", "on-off": "OnOff"}


#: The scan type a GRAD-300 file name states (``20250212-083213_TPI-GRAD300-SUN_01#_01#.fits``).
_FILE_TYPE = re.compile(r"_(TPI|IMAGE|SPECTRUM|ONOFF)-", re.IGNORECASE)
_FILE_TYPES = {"TPI": "TPI", "IMAGE": "Images", "SPECTRUM": "Spectrum", "ONOFF": "OnOff"}
_BLOCK, _CARD = 2880, 80


def _mended(data: bytes) -> bytes:
    """A file as RadioUniversePRO writes it, made standard where that writer is known to stray.

    It leaves out the padding after the last HDU (astropy: "File may have
    been truncated") and writes its ``DIAMETER =`` card with the value
    indicator one column late (astropy: "non-standard convention"): the
    padding is added (zeros, when every data byte is there) and the ``=`` put
    in column 9, the value staying where it is. Nothing else is touched: any
    other fault warns or fails as astropy has it.
    """
    out = bytearray(data)
    start = 0
    while start < len(out):
        cards, end = {}, None
        for at in range(start, len(out) - _CARD + 1, _CARD):
            if out[at:at + 10] == b"DIAMETER =":
                out[at:at + 10] = b"DIAMETER= "
            elif out[at:at + 8] == b"END     ":
                end = at + _CARD
                break
            elif out[at + 8:at + 10] == b"= ":
                cards[bytes(out[at:at + 8]).rstrip()] = bytes(out[at + 10:at + _CARD]).split(b"/")[0].strip()
        if end is None:
            break
        try:
            axes = [int(cards[b"NAXIS%d" % i]) for i in range(1, int(cards[b"NAXIS"]) + 1)]
            size = (abs(int(cards[b"BITPIX"])) // 8 * int(cards.get(b"GCOUNT", b"1"))
                    * (int(cards.get(b"PCOUNT", b"0")) + (math.prod(axes) if axes else 0)))
        except (KeyError, ValueError):
            break
        data_start = start + -(-(end - start) // _BLOCK) * _BLOCK
        start = data_start + -(-size // _BLOCK) * _BLOCK
        if data_start + size <= len(out) < start:  # only the padding is missing
            out += bytes(start - len(out))
    return bytes(out)


def _scan_type_arg(value: Any, name: str = "scan_type") -> str:
    """The canonical spelling of a scan type, or ValueError."""
    return choice_arg(value, name, SCAN_TYPES, aliases=_ALIASES)


def _utc_arg(value: Any, name: str) -> dt.datetime | None:
    """A time argument (any form `time_arg` takes) as an aware UTC datetime."""
    moment = time_arg(value, name)
    return None if moment is None else to_datetime(moment)


def _wire_time(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _field(row: Any, key: str) -> Any:
    """``row[key]`` of a Table Row or a mapping; None when absent or masked."""
    try:
        value = row[key]
    except (KeyError, IndexError, ValueError):
        return None
    if value is np.ma.masked:
        return None
    return value.item() if isinstance(value, np.generic) else value


def _scan_name(row: Any) -> Any:
    """The scan name of a catalogue row (``scan_name``; ``file_name`` in tables of earlier versions)."""
    name = _field(row, "scan_name")
    return _field(row, "file_name") if name is None else name


class Grad300Class(ServiceQuery):
    """Query the GRAD300 scan archive and download its FITS files.

    Parameters
    ----------
    server : str, optional
        API root URL, e.g. ``"http://127.0.0.1:8000/api/v1/"``; default ``conf.server``.
    timeout : float, optional
        Seconds to wait for the server; default ``conf.timeout``.

    Examples
    --------
    >>> from astroquery_ext.grad300 import Grad300
    >>> Grad300.login("student@example.com")          # doctest: +SKIP
    >>> scans = Grad300.query_source("casa")           # doctest: +SKIP
    """

    service = "grad300"
    conf = conf
    auth_scheme = "Bearer"
    #: Listings change as scans arrive: cached answers live 10 minutes
    #: (docs/caching.rst); a scan's FITS file never changes (kept until clear_cache()).
    cache_ttl = 600.0
    #: The backend answers 403 for an expired token: log in again (when a
    #: password can be found without prompting) and repeat the request.
    renew_statuses = frozenset({401, 403})

    # -- login -------------------------------------------------------------------

    def login(self, username: str | None = None, *, token: str | None = None, store_password: bool = False,
              reenter_password: bool = False, store_token: bool = True) -> bool:
        """Log in with the account's e-mail address and password, or with a token.

        The password is never an argument: it comes from the environment
        (``ASTROQUERY_EXT_GRAD300_PASSWORD``), the keyring, or a prompt on a
        terminal. A token comes from ``token=`` or ``ASTROQUERY_EXT_GRAD300_TOKEN``.

        Parameters
        ----------
        username : str, optional
            The e-mail address; default ``ASTROQUERY_EXT_GRAD300_USERNAME``, then
            ``conf.username``, then the user whose login was stored last.
        token : str, optional
            A token obtained elsewhere (no request is made; not stored).
        store_password : bool
            Keep the password in the keyring after a successful login.
        reenter_password : bool
            Ignore a stored password and stored login: ask for the password again.
        store_token : bool
            Keep the session token (keyring, else a 0600 file) and reuse it in a
            later ``login()``, in this process or another, while it is valid,
            without asking for the password.

        Returns
        -------
        bool
            True; failures raise `~astroquery_ext.exceptions.LoginError`.
        """
        return self._log_in(username, token=token, store_token=store_token, reenter_password=reenter_password,
                            store_password=store_password)

    def _obtain(self, username: str, password: str) -> AuthState:
        """POST login/access-token with the e-mail address and password."""
        try:
            answer = self._json("POST", "login/access-token", data={"username": username, "password": password},
                                auth="none", cache=False)
        except InvalidQueryError as exc:  # 400 "Incorrect email or password" / "Inactive user"
            raise LoginError(f"{self.name}: login as {username!r} failed: {exc.detail or exc}. "
                             f"Check the e-mail address and password.", status=exc.status,
                             detail=exc.detail, url=exc.url, service=self.service) from None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise RemoteServiceError(f"{self.name}: the login answer has no access token.",
                                     url=self._url("login/access-token"), service=self.service)
        return AuthState(token=token, scheme=self.auth_scheme, principal=username,
                         expires_at=jwt_expiry(token))

    def test_token(self) -> dict:
        """Ask the server who the token belongs to.

        Returns
        -------
        dict
            The user: ``email``, ``is_active``, ``is_superuser``, ``full_name``, ``id``...
        """
        try:  # The template's route is POST; a server that only has GET gets asked /users/me.
            return self._json("POST", "login/test-token", auth="required", idempotent=True, cache=False)
        except InvalidQueryError as exc:
            if exc.status != 405:
                raise
        return self._json("GET", "users/me", auth="required", cache=False)

    # -- errors --------------------------------------------------------------

    def _error_class(self, status: int, detail: str) -> type:
        # 403 "Could not validate credentials" is a bad or expired token; 400
        # "Inactive user" a token of a disabled account: logging in is the cure.
        if status == 403 or (status == 400 and "inactive user" in (detail or "").lower()):
            return LoginError
        return super()._error_class(status, detail)

    def _error_hint(self, status: int, detail: str) -> str:
        if status == 403:
            return (f"The token is invalid or has expired: log in again with {self.name}.login() "
                    f"(tokens cannot be renewed).")
        if status == 400 and "inactive user" in (detail or "").lower():
            return "This account is disabled; ask the GRAD300 administrators, or log in as another user."
        if status == 404 and "user" in (detail or "").lower():
            return "The token's account no longer exists; log in again."
        return super()._error_hint(status, detail)

    # -- the catalogue -------------------------------------------------------------

    def _params(self, offset: int, limit: int, source, scan_name, date_from, date_to) -> dict:
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if source is not None:
            params["source"] = source
        if scan_name is not None:
            params["scan_name"] = scan_name
        if date_from is not None:
            params["date_from"] = _wire_time(date_from)
        if date_to is not None:
            params["date_to"] = _wire_time(date_to)
        return params

    @staticmethod
    def _filters(source, scan_name, date_from, date_to) -> tuple:
        source = text_arg(source, "source", optional=True)
        scan_name = text_arg(scan_name, "scan_name", optional=True)
        date_from = _utc_arg(date_from, "date_from")
        date_to = _utc_arg(date_to, "date_to")
        if date_from is not None and date_to is not None and date_to < date_from:
            raise ValueError(f"date_to ({_wire_time(date_to)}) is before date_from ({_wire_time(date_from)})")
        return source, scan_name, date_from, date_to

    def _scan_table(self, records: list[dict], *, path: str, query: dict, row_limit=None,
                    truncated: bool = False, warn_empty: bool = True) -> Table:
        table = self._table(records, SCAN_FIELDS, path=path, what="scans", query=query,
                            row_limit=row_limit, truncated=truncated, warn_empty=warn_empty)
        extras = sorted(set().union(*records) - KNOWN_KEYS)
        if extras:  # keys a newer server adds: kept, with inferred types
            more = records_to_table([{k: r.get(k) for k in extras} for r in records])
            for name in extras:
                table[name] = more[name]
        return table

    def list_scans(self, scan_type: str, offset: int = 0, limit: int | None = None, *,
                   source: str | None = None, scan_name: str | None = None, date_from=None, date_to=None,
                   cache: bool = True, get_query_payload: bool = False) -> Table:
        """One page of the listing of one scan type, as the server sends it.

        Parameters
        ----------
        scan_type : str
            ``TPI``, ``Images``, ``Spectrum`` or ``OnOff`` (case-insensitive).
        offset : int
            Scans to skip.
        limit : int, optional
            Scans in the page; default ``conf.page_size``.
        source, scan_name : str, optional
            Server-side filters: case-insensitive substrings of the target and the file name.
        date_from, date_to : `~astropy.time.Time`, datetime, str or float, optional
            Inclusive bounds on the start time (naive datetimes are UTC, numbers are MJD).
        cache : bool, optional
            Use the response cache (default: astroquery's setting).
        get_query_payload : bool
            Return the request instead of sending it.

        Returns
        -------
        `~astropy.table.Table` or dict
            The page's scans, one row each, with the columns of `query`
            (fewer than ``limit`` rows: the last page). With
            ``get_query_payload=True``: the request, nothing sent.
        """
        scan_type = _scan_type_arg(scan_type)
        offset = int_arg(offset, "offset", minimum=0)
        limit = int_arg(self.conf.page_size if limit is None else limit, "limit", minimum=1)
        source, scan_name, date_from, date_to = self._filters(source, scan_name, date_from, date_to)
        path = f"scans/{scan_type}/"
        params = self._params(offset, limit, source, scan_name, date_from, date_to)
        records = self._json("GET", path, params=params, auth="required", cache=cache,
                             get_query_payload=get_query_payload, expect=RECORDS)
        if get_query_payload:
            return records
        records = self._check_page(records, path, scan_type)
        for record in records:
            record["scan_type"] = scan_type
        return self._scan_table(records, path=path, query=dict(params, scan_type=scan_type))

    def _check_page(self, records: list[dict], path: str, scan_type: str) -> list[dict]:
        """A page of the listing of ``scan_type`` (a list of records: ``_json(expect=RECORDS)``), checked
        to be one: no scan whose file name says it is of another scan type."""
        names = "\n".join(map(str, map(dict.get, records, itertools.repeat("file_name"))))
        if {_FILE_TYPES[tag] for tag in set(map(str.upper, _FILE_TYPE.findall(names)))} <= {scan_type}:
            return records  # one search over the page's names; the record at fault is looked for below
        for record in records:
            named = _FILE_TYPE.search(str(record.get("file_name") or ""))
            if named and _FILE_TYPES[named.group(1).upper()] != scan_type:
                raise RemoteServiceError(
                    f"{self.name}: GET {path} answered a page holding scan {record.get('id')!r} "
                    f"({record.get('file_name')}), a scan of type {_FILE_TYPES[named.group(1).upper()]}: the page "
                    f"cannot be the answer to this request, and is not used. Try again; report it to the "
                    f"service if it repeats.", url=self._url(path), service=self.service)
        return records

    def query(self, scan_type: str | None = None, *, source: str | None = None, scan_name: str | None = None,
              date_from=None, date_to=None, row_limit: int | None = None, max_workers: int | None = None,
              cache: bool = True, get_query_payload: bool = False) -> Table:
        """All scans that match, across pages and scan types.

        Pages are fetched concurrently (at most ``max_workers`` requests at
        once). The server's filters are applied again locally, with the same
        meaning, so an older server that ignores a filter gives the same result.

        Parameters
        ----------
        scan_type : str, optional
            One scan type; default all four, in the order ``TPI``, ``Images``, ``Spectrum``, ``OnOff``.
        source : str, optional
            Case-insensitive substring of the target (``"casa"``, ``"sun"``).
        scan_name : str, optional
            Case-insensitive substring of the file name.
        date_from, date_to : `~astropy.time.Time`, datetime, str or float, optional
            Inclusive bounds on the start time; naive datetimes and strings
            without an offset are UTC, numbers are MJD.
        row_limit : int, optional
            Return at most this many scans in all (-1: all), the first ones in
            the order above; default `ROW_LIMIT` (``conf.row_limit``). A cut
            result warns `~astroquery.exceptions.MaxResultsWarning`.
        max_workers : int, optional
            Requests in flight at once; default ``conf.max_workers``.
        cache : bool
            Use the response cache within the listing's lifetime (see
            :ref:`astroquery_ext_cache`); False: ask the server.
        get_query_payload : bool
            Return the first page's request instead of sending anything: a
            dict for one scan type, a list of dicts (one per type) for all.

        Returns
        -------
        `~astropy.table.Table`
            One row per scan; ``ra`` in degrees (``ra_hours`` as served), times as `~astropy.time.Time`.
        """
        return self._query(scan_type, source=source, scan_name=scan_name, date_from=date_from, date_to=date_to,
                           row_limit=row_limit, max_workers=max_workers, cache=cache,
                           get_query_payload=get_query_payload)

    def _query(self, scan_type, *, source, scan_name, date_from, date_to, row_limit, max_workers, cache,
               get_query_payload, warn_empty: bool = True):
        """`query`; ``warn_empty=False`` for a caller that reports an empty result itself."""
        types = SCAN_TYPES if scan_type is None else (_scan_type_arg(scan_type),)
        source, scan_name, date_from, date_to = self._filters(source, scan_name, date_from, date_to)
        row_limit = self._row_limit(row_limit)
        max_workers = check_max_workers(self.conf.max_workers if max_workers is None else max_workers,
                                        self.max_workers_limit)
        page_size = int_arg(self.conf.page_size, "conf.page_size", minimum=1)
        if get_query_payload:
            first = page_size if row_limit is None else min(page_size, row_limit)
            payloads = [self._json("GET", f"scans/{kind}/", cache=cache, get_query_payload=True,
                                   params=self._params(0, first, source, scan_name, date_from, date_to))
                        for kind in types]
            return payloads[0] if scan_type is not None else payloads
        self._login_once()
        # Each type pages on its own (rounds of max_workers pages until a short
        # one: the listing has no total); one gate keeps max_workers requests
        # in flight over all types together.
        gate = threading.BoundedSemaphore(max_workers)
        received: dict[str, list[dict]] = {}  # by type, what came (a failure keeps the types before it)
        complete: set[str] = set()

        def one_type(kind: str) -> tuple[list[dict], bool]:
            path = f"scans/{kind}/"
            seen: set[int] = set()
            lock = threading.Lock()

            def fetch(offset: int, limit: int):
                with gate:
                    answer = self._json("GET", path, auth="required", cache=cache, expect=RECORDS,
                                        params=self._params(offset, limit, source, scan_name, date_from, date_to))
                page = self._check_page(answer, path, kind)
                ids = set(map(dict.get, page, itertools.repeat("id")))
                with lock:
                    if page and ids <= seen:
                        raise RemoteServiceError(
                            f"{self.name}: GET {path} answered offset={offset} with scans already received: "
                            f"the server ignores 'offset'; the listing cannot be paged.",
                            url=self._url(path), service=self.service)
                    seen.update(ids)
                return page, None

            def finished(records: list[dict]) -> list[dict]:
                for record in records:
                    record["scan_type"] = kind
                if (source, scan_name, date_from, date_to) == (None,) * 4:
                    return records
                return [r for r in records if self._matches(r, source, scan_name, date_from, date_to)]

            try:
                records, truncated = fetch_offset_pages(fetch, page_size=page_size, row_limit=row_limit,
                                                        max_workers=max_workers, what=f"{self.name}: GET {path}",
                                                        key="id")
            except AstroqueryExtError as exc:
                received[kind] = finished(exc.__dict__.pop("received", []))
                raise
            received[kind] = records = finished(records)
            complete.add(kind)
            return records, truncated

        # Each type is fetched up to row_limit (concurrently); the first
        # row_limit scans in type order make the result.
        query = {k: v for k, v in (("scan_type", scan_type and types[0]), ("source", source),
                                   ("scan_name", scan_name),
                                   ("date_from", date_from and _wire_time(date_from)),
                                   ("date_to", date_to and _wire_time(date_to)), ("row_limit", row_limit))
                 if v is not None}
        path = "scans/" + (types[0] + "/" if len(types) == 1 else "")
        partial = functools.partial(self._scan_table, path=path, query=query, row_limit=row_limit, warn_empty=False)
        with gc_paused(), keep_received(partial, "scans"):
            try:
                results = bounded_map(one_type, types, max_workers=len(types))
            except AstroqueryExtError as exc:
                before = []
                for kind in types:  # in type order, up to the first type not complete
                    before += received.get(kind, [])
                    if kind not in complete:
                        break
                mark_received(exc, before[:row_limit])
                raise
            records = [r for kind_records, _ in results for r in kind_records]
            truncated = any(t for _, t in results)
            if row_limit is not None and len(records) > row_limit:
                records, truncated = records[:row_limit], True
            return self._scan_table(records, path=path, query=query, row_limit=row_limit, truncated=truncated,
                                    warn_empty=warn_empty)

    @staticmethod
    def _matches(record: dict, source, scan_name, date_from, date_to) -> bool:
        if source is not None and source.casefold() not in str(record.get("object") or "").casefold():
            return False
        if scan_name is not None and scan_name.casefold() not in str(record.get("file_name") or "").casefold():
            return False
        if date_from is not None or date_to is not None:
            try:
                when = parse_time(record.get("date"))
            except (TypeError, ValueError):
                when = None
            if when is None:
                return False
            when = when.replace(tzinfo=dt.timezone.utc)
            if (date_from is not None and when < date_from) or (date_to is not None and when > date_to):
                return False
        return True

    @shared_doc(options=_QUERY_OPTIONS_DOC)
    def query_source(self, source: str, *, scan_type: str | None = None, cache: bool = True,
                     get_query_payload: bool = False, **kwargs) -> Table:
        """Scans of one target (case-insensitive substring, e.g. ``"casa"``); see `query`.

        Parameters
        ----------
        source : str
            A case-insensitive substring of the target's name.
        {options}

        Examples
        --------
        >>> from astroquery_ext.grad300 import Grad300
        >>> scans = Grad300.query_source("casa", scan_type="TPI")  # doctest: +SKIP
        >>> scans["id", "source", "date"]  # doctest: +SKIP
        """
        text_arg(source, "source")
        return self.query(scan_type, source=source, cache=cache, get_query_payload=get_query_payload, **kwargs)

    @shared_doc(options=_QUERY_OPTIONS_DOC)
    def query_scan_name(self, scan_name: str, *, scan_type: str | None = None, cache: bool = True,
                        get_query_payload: bool = False, **kwargs) -> Table:
        """Scans whose file name contains ``scan_name`` (case-insensitive); see `query`.

        Parameters
        ----------
        scan_name : str
            A case-insensitive substring of the scan's file name.
        {options}
        """
        text_arg(scan_name, "scan_name")
        return self.query(scan_type, scan_name=scan_name, cache=cache, get_query_payload=get_query_payload,
                          **kwargs)

    @shared_doc(options=_QUERY_OPTIONS_DOC)
    def query_date_range(self, date_from=None, date_to=None, *, scan_type: str | None = None, cache: bool = True,
                         get_query_payload: bool = False, **kwargs) -> Table:
        """Scans that started between ``date_from`` and ``date_to`` (inclusive, UTC); see `query`.

        Parameters
        ----------
        date_from, date_to : `~astropy.time.Time`, datetime, str or float, optional
            The bounds (at least one): a Time, a datetime (naive = UTC), an
            ISO string or a number of MJD.
        {options}

        Raises
        ------
        ValueError
            Neither bound given.
        """
        if date_from is None and date_to is None:
            raise ValueError("query_date_range needs date_from, date_to or both")
        return self.query(scan_type, date_from=date_from, date_to=date_to, cache=cache,
                          get_query_payload=get_query_payload, **kwargs)

    # -- files ------------------------------------------------------------------------

    def _job(self, row: Any, directory: Path, *, index: int | str, name: str | None = None) -> DownloadJob:
        if not isinstance(row, (Row, Mapping)):
            where = "row_or_id" if index == "row_or_id" else f"rows[{index}]"
            raise TypeError(f"{where} must be a row of a Grad300 query table or a mapping with 'id' and "
                            f"'scan_type'; got {type(row).__name__} {row!r}. For a scan id use "
                            f"get_scan(id, scan_type=...).")
        scan_id = _field(row, "id")
        kind = _field(row, "scan_type")
        if scan_id is None or kind is None:
            raise ValueError(f"row {index} needs 'id' and 'scan_type' (a row of a Grad300 query table)")
        kind = _scan_type_arg(kind, f"scan_type of row {index}")
        scan_id = int_arg(scan_id, f"id of row {index}", minimum=0)
        size = _field(row, "size")
        # The catalogue's size is the only check of a whole file (the archive has no checksum);
        # without it, the answer's Content-Length must say how long the file is.
        return DownloadJob(url=f"scans/{kind}/{scan_id}/download", directory=directory, name=name,
                           expected_size=None if size is None else int_arg(size, f"size of row {index}", minimum=0),
                           require_length=True,
                           key={"id": scan_id, "scan_type": kind, "file_name": _scan_name(row)})

    def get_scan(self, row_or_id: Any, *, scan_type: str | None = None, cache: bool = True,
                 get_query_payload: bool = False) -> fits.HDUList:
        """The FITS file of one scan, read into memory.

        Parameters
        ----------
        row_or_id : `~astropy.table.Row`, dict, int or str
            A row of a query table, a mapping with ``id`` and ``scan_type``, a
            scan id, or a scan's exact file name (looked up with
            `query_scan_name`).
        scan_type : str, optional
            Needed with an id (ids are counted per scan type); overrides the row's.
        cache : bool, optional
            Keep the file in the cache and use it next time (checked against the
            record's size). Default True, within astroquery's cache setting.
        get_query_payload : bool
            Return the download request (``{"method", "url"}``) instead of
            sending it (a file name is still looked up first).

        Returns
        -------
        `~astropy.io.fits.HDUList`
            In memory, for every scan type. A TPI scan's samples are
            ``Table.read(hdul[1])`` (header cards in ``meta``).
        """
        if scan_type is not None:
            scan_type = _scan_type_arg(scan_type)
        if isinstance(row_or_id, str):
            row_or_id = self._by_name(row_or_id, scan_type)[0]
        if isinstance(row_or_id, (Row, Mapping)):
            row = dict(id=_field(row_or_id, "id"), scan_type=_field(row_or_id, "scan_type"),
                       size=_field(row_or_id, "size"), file_name=_scan_name(row_or_id))
            if scan_type is not None:
                row["scan_type"] = scan_type
        elif isinstance(row_or_id, (int, np.integer)) and not isinstance(row_or_id, bool):
            if scan_type is None:
                raise ValueError("scan_type is needed with a scan id (ids are counted per scan type)")
            row = {"id": int(row_or_id), "scan_type": scan_type}
        else:
            raise TypeError(f"row_or_id must be a table row, a mapping or an integer id; "
                            f"got {type(row_or_id).__name__}")
        use_cache = ResponseCache.active(cache)
        job = self._job(row, Path("."), index="row_or_id")
        if get_query_payload:
            return self._json("GET", job.url, get_query_payload=True)
        self._login_once()
        kind, scan_id = job.key["scan_type"], job.key["id"]
        job.name = f"{scan_id}.fits"
        if use_cache:
            # One download for every thread and process asking at once; a file
            # older than the cache lifetime (cache_timeout) is fetched again.
            path = cached_download(self, job, subdir=kind, ttl=self.cache_ttl, auth="required")
            try:
                return self._read(path, kind, scan_id)
            except RemoteServiceError:
                path.unlink(missing_ok=True)  # never serve an unreadable file from the cache
                raise
        scratch = Path(tempfile.mkdtemp(prefix="grad300-"))
        try:
            job.directory = scratch
            return self._read(download_file(self, job, auth="required").path, kind, scan_id)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _read(self, path: Path, kind: str, scan_id: int):
        """Parse a downloaded file; the archive's known quirks do not warn (`_mended`)."""
        try:
            result = fits.open(io.BytesIO(_mended(path.read_bytes())), memmap=False, lazy_load_hdus=False)
            for hdu in result:
                hdu.data  # noqa: B018 - load now, so errors surface here
            if kind == "TPI":
                index = next((i for i, h in enumerate(result) if isinstance(h, fits.BinTableHDU)), None)
                if index is None:
                    raise ValueError("no binary table in the file")
                Table.read(result, hdu=index)  # the samples must read as a table
        except (OSError, ValueError, TypeError, IndexError) as exc:
            raise RemoteServiceError(f"{self.name}: the FITS file of {kind} scan {scan_id} cannot be read "
                                     f"({type(exc).__name__}: {exc}). Report it to the GRAD300 archive.",
                                     url=self._url(f"scans/{kind}/{scan_id}/download"),
                                     service=self.service) from None
        return result

    def download_scans(self, rows: Any, download_dir: str | os.PathLike = ".", *, max_workers: int = 4,
                       overwrite: bool = False, show_progress: bool = True, errors: str = "raise") -> Table:
        """Download the FITS files of scans to a directory.

        Files are streamed to ``<name>.part`` and renamed when complete and of
        the size the catalogue says; an interrupted transfer resumes. A file
        already there with the right size is kept (``status="exists"``).
        Names are the archive's ``file_name``, reduced to a safe base name.

        Parameters
        ----------
        rows : `~astropy.table.Table`, `~astropy.table.Row`, dict or list of them
            Scans, as the query methods return them (``id`` and ``scan_type`` at least).
        download_dir : path-like
            Target directory (created if needed).
        max_workers : int
            Files in flight at once.
        overwrite : bool
            Download again even when a complete file is there.
        show_progress : bool
            One progress bar for the batch (on a terminal).
        errors : {"raise", "ignore"}
            ``raise``: after all files ran, raise `~astroquery_ext.exceptions.DownloadError`
            naming the failures (its ``table`` attribute has the result);
            ``ignore``: mark them in the ``status`` column.

        Returns
        -------
        `~astropy.table.Table`
            Columns ``id``, ``scan_type``, ``scan_name``, ``local_path``, ``bytes``, ``status``, ``error``.
        """
        if isinstance(rows, (Row, Mapping)):
            rows = [rows]
        elif isinstance(rows, (str, bytes)) or not (isinstance(rows, (Table, Iterable))):
            raise TypeError(f"rows must be a table, a row, a mapping or a list of them; got {type(rows).__name__}")
        rows = list(rows)
        for index, row in enumerate(rows):
            if not isinstance(row, (Row, Mapping)):
                raise TypeError(f"rows[{index}] must be a row of a Grad300 query table or a mapping with 'id' "
                                f"and 'scan_type'; got {type(row).__name__} {row!r}. Scan ids alone do not say "
                                f"their scan type (ids are counted per type): query first, or pass "
                                f"[{{'id': ..., 'scan_type': ...}}].")
        max_workers = check_max_workers(max_workers, self.max_workers_limit)
        errors_arg(errors)
        directory = Path(download_dir)
        jobs, taken = [], set()
        for index, row in enumerate(rows):
            job = self._job(row, directory, index=index)
            archive_name = job.key["file_name"]
            if archive_name:
                name = safe_filename(archive_name, fallback=f"{job.key['scan_type']}_{job.key['id']}.fits")
                if name.casefold() in taken:  # two names reduced to the same one: keep both files
                    stem, suffix = os.path.splitext(name)
                    name = f"{stem}_{job.key['scan_type']}-{job.key['id']}{suffix}"
                taken.add(name.casefold())
                job.name = name
            jobs.append(job)
        if len({(j.key["scan_type"], j.key["id"]) for j in jobs}) != len(jobs):
            raise ValueError("rows name the same scan more than once")
        if jobs:
            self._login_once()
        try:
            results = download_many(self, jobs, max_workers=max_workers, show_progress=show_progress,
                                    overwrite=overwrite, auth="required", errors="raise")
        except DownloadError as exc:
            if not hasattr(exc, "results"):
                raise
            exc.table = self._download_table(exc.results, directory)
            if errors == "raise":
                raise
            return exc.table
        return self._download_table(results, directory)

    def _download_table(self, results, directory: Path) -> Table:
        records = [{"id": r.job.key["id"], "scan_type": r.job.key["scan_type"],
                    "scan_name": r.job.key["file_name"] or (r.path.name if r.path else None),
                    "local_path": str(r.path) if r.path else None, "bytes": r.bytes, "status": r.status,
                    "error": str(r.error) if r.error else None} for r in results]
        meta = self._provenance(None, savedir=str(directory))
        return as_result(records_to_table(records, DOWNLOAD_FIELDS, meta=meta))

    def _by_name(self, scan_name: str, scan_type: str | None) -> Table:
        """The one catalogue row whose file name is exactly ``scan_name`` (a one-row Table)."""
        text_arg(scan_name, "scan_name", exact=True)
        candidates = self._query(scan_type, source=None, scan_name=scan_name, date_from=None, date_to=None,
                                 row_limit=-1, max_workers=None, cache=True, get_query_payload=False,
                                 warn_empty=False)
        matches = candidates[candidates["scan_name"] == scan_name]
        if len(matches) == 0:
            raise NotFoundError(f"{self.name}: no scan is named {scan_name!r}"
                                + (f" among the {scan_type} scans" if scan_type else "")
                                + ". Check the name, or search with query_scan_name().", service=self.service)
        if len(matches) > 1:
            which = ", ".join(f"{r['scan_type']} {r['id']}" for r in matches)
            raise LookupError(f"{len(matches)} scans are named {scan_name!r} ({which}); pass scan_type= "
                              f"or call get_scan() with one of them.")
        return matches

    def download_by_scan_name(self, scan_name: str, download_dir: str | os.PathLike = ".", *,
                              scan_type: str | None = None, overwrite: bool = False) -> Table:
        """Save the scan whose file name is exactly ``scan_name`` to a directory.

        Parameters
        ----------
        scan_name : str
            The exact file name (``20250212-083213_TPI-GRAD300-SUN_01#_01#.fits``).
        download_dir : path-like
            Where to save it (default: the current directory).
        scan_type : str, optional
            Look only in this scan type.
        overwrite : bool
            Download again even if a complete file is there.

        Returns
        -------
        `~astropy.table.Table`
            One row, as `download_scans` gives (``local_path``, ``status``...).
            To read the scan into memory instead: ``get_scan(scan_name)``.
        """
        if scan_type is not None:
            scan_type = _scan_type_arg(scan_type)
        matches = self._by_name(scan_name, scan_type)
        return self.download_scans(matches, download_dir, max_workers=1, overwrite=overwrite,
                                   show_progress=False)


Grad300 = Grad300Class()
