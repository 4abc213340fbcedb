"""`AtlasClass`: the client of the ATLAS Transient Server REST API.

What it adds to the raw API:

- one public method per endpoint, arguments checked before anything is sent;
- Tables with stable columns, int64 ids (never through float), units and masks;
- ``objects/`` answers decoded as they arrive, one object at a time, into
  compact columns, in as few requests as the server allows (``conf.chunk_size``
  ids per request, ``conf.max_workers`` in flight), kept in a short-lived
  in-memory memo so that several views of the same objects cost one fetch
  (``objects.py``: that read and the memo, a room of this class);
- writes, which the server takes one id per call, done per id with a Table of
  outcomes (the server reports them as text in ``info`` under HTTP 201;
  ``writes.py``: how they are sent, a room of this class);
- token login, or a password exchanged at ``auth-token/`` and never kept; an
  expired token is renewed once from the environment or the keyring.

Its arguments are checked by ``args.py`` (ids, list names, times), before
anything is sent.
"""

from __future__ import annotations

import logging
import numbers
import re
import time
import warnings
from typing import Any, Mapping

import numpy as np
import requests
from astropy.table import Table
from astropy.utils.exceptions import AstropyDeprecationWarning
from astroquery.utils import TableList

from astroquery_ext._base import (
    AuthState, InvalidQueryError, LoginError, RateLimitError, RemoteServiceError, ServiceQuery, redact, redact_url,
    warn_if_empty)
from astroquery_ext._base.args import angle_arg, errors_arg, float_arg, position_arg
from astroquery_ext._base.docs import shared_doc
from astroquery_ext._base.shapes import RECORDS, Shape, any_of, list_of, object_with
from astroquery_ext.atlas import conf
from astroquery_ext.atlas import fields as atlas_fields
from astroquery_ext.atlas.args import (
    CUSTOM_LISTS, MAIN_LISTS, MOVABLE_LISTS, _custom_list_arg, _datetime_arg, _list_arg, _mjd_arg,
    _num_text, _per_id, _radius_arg, parse_ids)
from astroquery_ext.atlas.objects import ObjectsMixin, UnknownIdsWarning
from astroquery_ext.atlas.writes import WritesMixin, per_id_write

log = logging.getLogger("astroquery_ext")

__all__ = ["AtlasClass", "Atlas", "parse_ids", "MAIN_LISTS", "CUSTOM_LISTS", "UnknownIdsWarning"]

# Parameter texts that several methods share (`shared_doc`).
_OBJECT_IDS_DOC = """ids : int, str or sequence
    ATLAS ids (19 digits): ints, strings, a numpy array or a Table
    column. Checked before anything is sent; duplicates are fetched once."""
_MJD_MIN_DOC = """mjd_min : float, `~astropy.time.Time`, datetime or str, optional
    Keep only light-curve rows after this time (a number is an MJD;
    ISO strings and datetimes are UTC) (``lc``, ``lcnondets``:
    ``mjd > mjd_min``; ``fp``: ``mjd >= mjd_min``). Default: the
    whole history."""
_FETCH_DOC = """cache : bool, optional
    False: fetch again, even if the same ids were fetched in the last
    ``conf.memo_timeout`` seconds (the memo of `get_objects`).
show_progress : bool
    A progress bar (on a terminal) for the whole call, when it is long work
    (several requests, or 100 ids and more).
get_query_payload : bool
    Return the requests instead of sending them: a list with one
    ``{"method", "url", "data"}`` per chunk of ids.
errors : {"raise", "ignore"}
    When some requests of the call fail (each after its retries; all at
    once when the server stops answering): ``"raise"`` raises the first
    failure, its ``table`` attribute holding the rows of the requests that
    succeeded; ``"ignore"`` returns those rows with an
    `~astroquery_ext.exceptions.IncompleteResultWarning`. Either way
    ``meta["failed"]`` lists the ids not fetched."""
_VRA_READ_DOC = """Parameters
----------
ids : int, str or sequence, optional
    The rows of these objects (default: all rows).
since : `~astropy.time.Time`, datetime, str or float, optional
    Without ids: rows stamped at or after this time; an ISO string, a
    datetime (naive = UTC) or an MJD.
cache : bool
    Use the response cache within the endpoint's lifetime (VRA tables
    change as you write: never cached).
get_query_payload : bool
    Return the request instead of sending it."""
_INSERT_DATE_DOC = """insert_date : `~astropy.time.Time`, datetime, str or float, optional
    The date the server records for the row (default: now, on the
    server); any time ``since`` takes."""

REQUEST_TYPES = ("all", "nearest", "count")
#: What cone/ answers for each request type.
_CONE_SHAPES = {"all": RECORDS,
                "nearest": any_of(object_with("object"), Shape("{} (nothing inside the radius)",
                                                                lambda v: v == {} or v == [])),
                "count": object_with("count")}
_TOKEN_TEXT = re.compile(r"[0-9a-fA-F]{40}")



# -- the client ------------------------------------------------------------------------

class AtlasClass(ObjectsMixin, WritesMixin, ServiceQuery):
    """Client of the ATLAS Transient Server.

    Parameters
    ----------
    server : str, optional
        API root URL, ending in ``/api/``; default ``conf.server``, read at call time.
    timeout : float, optional
        Seconds to wait for the server; default ``conf.timeout``, read at call time.

    Notes
    -----
    The service counts every request against a quota of 100 per hour per user
    (``conf.requests_per_hour``; HTTP 429 beyond it). Reads wait out a short
    ``Retry-After`` and raise `RateLimitError` for a long one. Writes, one
    request per id, say their cost before sending and, at a 429, return at
    once with the ids not sent marked (``on_rate_limit="wait"`` waits
    instead). Methods here use as few requests as the server allows.
    """

    service = "atlas"
    conf = conf
    auth_scheme = "Token"
    #: ``login(token=..., store_token=True)`` keeps an API token for later processes.
    stores_given_token = True
    #: Cache lifetimes (docs/caching.rst): a cone search for 5 minutes (a
    #: night's new detections show up), cross-matches to external names for an
    #: hour; lists and VRA tables, which change as the survey runs and as you
    #: write, never. ``objects/`` answers are kept in memory (``conf.memo_timeout``).
    cache_ttl = 0.0
    cache_ttls = {"cone/": 300.0, "externalxmlist/": 3600.0}

    @property
    def requests_per_hour(self) -> int:
        """The account's hourly quota (``conf.requests_per_hour``): per-id writes meet it through the base's gate."""
        return int(conf.requests_per_hour)

    # -- login ---------------------------------------------------------------------

    def login(self, username: str | None = None, *, token: str | None = None, store_password: bool = False,
              reenter_password: bool = False, store_token: bool = True) -> bool:
        """Log in with an API token, or with a user name and password.

        In order: ``token=``; the environment variable
        ``ASTROQUERY_EXT_ATLAS_TOKEN`` (when no ``username`` is given); the
        login stored by an earlier ``login(..., store_token=True)`` (keyring,
        else a 0600 file), in this process or another: of ``username``, else of
        the user who logged in last; otherwise the password of ``username``
        (argument, ``ASTROQUERY_EXT_ATLAS_USERNAME``, ``conf.username``) is
        taken from ``ASTROQUERY_EXT_ATLAS_PASSWORD``, the keyring (service
        ``astroquery_ext.atlas``, account = user name) or a prompt on a
        terminal, and exchanged for a token at ``auth-token/``.

        When a token has expired (HTTP 401 "Token has expired."), the next
        request renews it once the same way, without prompting; if no password
        is available, `~astroquery_ext.exceptions.LoginError` says how to renew.

        Parameters
        ----------
        username : str, optional
            Log in as this user (a stored login of this user, else a password).
        token : str, optional
            A 40-character hex API token (no request is made).
        store_password : bool
            Keep the password in the keyring after a successful login.
        reenter_password : bool
            Ignore a stored password and stored login: ask for the password again.
        store_token : bool
            Keep the token (keyring, else a 0600 file) so that a later
            ``login()``, in this process or another, needs no password.

        Returns
        -------
        bool
            True.

        Raises
        ------
        LoginError
            No usable credentials, or the server refused them.
        """
        if token is None and isinstance(username, str) and _TOKEN_TEXT.fullmatch(username.strip()):
            # The earlier signature was login(token, *, username): a token
            # passed first still works, with a warning.
            warnings.warn(f"{self.name}.login(token) with the token as first argument is deprecated: "
                          f"the first argument is the user name; use {self.name}.login(token=...)",
                          AstropyDeprecationWarning, stacklevel=3)
            token, username = username, None
        return self._log_in(username, token=token, store_token=store_token, reenter_password=reenter_password,
                            store_password=store_password)

    def _check_given_token(self, token: str, where: str) -> str:
        if not isinstance(token, str) or not _TOKEN_TEXT.fullmatch(token.strip()):
            raise ValueError(f"{where} must be the 40-character hexadecimal ATLAS API token "
                             f"(the value is not shown here)")
        return token.strip()

    def _no_user_error(self, exc: LoginError) -> LoginError:
        return LoginError(
            f"No ATLAS credentials: call {self.name}.login(token=...) with your API token, or set "
            f"ASTROQUERY_EXT_ATLAS_TOKEN; or log in with a password: {self.name}.login('username') "
            f"with ASTROQUERY_EXT_ATLAS_PASSWORD set, the password in the keyring (service "
            f"'astroquery_ext.atlas', account = user name; login(..., store_password=True) puts it "
            f"there), or on a terminal.", service=self.service)

    def _obtain(self, username: str, password: str) -> AuthState:
        """POST auth-token/ with the user's password."""
        try:
            answer = self._json("POST", "auth-token/", data={"username": username, "password": password},
                                auth="none", idempotent=False)
        except InvalidQueryError as exc:
            raise LoginError(
                f"{self.name}: the server refused the login of {username!r}: {exc.detail}. Check the user "
                f"name and password (ASTROQUERY_EXT_ATLAS_PASSWORD, or the keyring entry "
                f"'astroquery_ext.atlas' / {username!r}).", status=exc.status, detail=exc.detail,
                url=exc.url, service=self.service) from None
        if not isinstance(answer, Mapping) or not isinstance(answer.get("token"), str):
            raise RemoteServiceError(f"{self.name}: auth-token/ answered without a token", service=self.service)
        expires_in = answer.get("expires_in")
        expires_at = time.time() + float(expires_in) if isinstance(expires_in, (int, float)) else None
        return AuthState(token=answer["token"], scheme=self.auth_scheme, principal=username,
                         expires_at=expires_at, extra={"refreshed": bool(answer.get("refreshed"))})

    def logout(self, *, forget: bool = False) -> None:
        """Forget the token, drop this user's cached answers and the in-memory memo.

        Parameters
        ----------
        forget : bool
            Also remove every secret stored for ATLAS at this server (stored
            tokens, stored passwords of the users who logged in here, who
            logged in last), whether or not this process logged in.
        """
        self._clear_memo()
        super().logout(forget=forget)

    def clear_cache(self) -> None:
        """Remove every cached answer of this service and the in-memory object memo."""
        self._clear_memo()
        super().clear_cache()

    # -- errors ---------------------------------------------------------------------

    def _error_detail(self, response: requests.Response) -> str:
        body = self._error_json(response)
        if isinstance(body, Mapping) and isinstance(body.get("info"), str):
            return body["info"]
        return super()._error_detail(response)

    def _error_hint(self, status: int, detail: str) -> str:
        if status == 401:
            if "expired" in detail.lower():
                return (f"The token has expired and could not be renewed: set ASTROQUERY_EXT_ATLAS_USERNAME "
                        f"and ASTROQUERY_EXT_ATLAS_PASSWORD (or store the password in the keyring under "
                        f"'astroquery_ext.atlas') and call {self.name}.login(username=...), which gets a "
                        f"fresh token from auth-token/.")
            if "inactive" in detail.lower() or "profile" in detail.lower():
                return "The account cannot use the API; ask the ATLAS team (see the service's access page)."
            return (f"Log in with {self.name}.login(token=...) or {self.name}.login(username=...); check that "
                    f"the token is the 40-character one the server issued.")
        if status == 403:
            return ("This account has read-only API access; writes need an account whose group has write "
                    "access (ask the ATLAS team).")
        if status == 429:
            return ("The service allows 100 requests per hour per user; wait (the server says how long), or "
                    "fetch more ids per request (conf.chunk_size).")
        return super()._error_hint(status, detail)

    # -- cone search ---------------------------------------------------------------

    def query_region(self, coordinates, radius, *, request_type: str = "all", cache: bool = True,
                     get_query_payload: bool = False):
        """Objects within ``radius`` of a position (``cone/``).

        Parameters
        ----------
        coordinates : `~astropy.coordinates.SkyCoord` or str
            The position: a SkyCoord in any frame, a string in degrees
            (``"0.0216 31.7818"``) or sexagesimal (``"00:00:05.18 +31:46:54.4"``,
            RA in hours), or an object name, resolved as astroquery does
            (`~astropy.coordinates.SkyCoord.from_name`, i.e. CDS Sesame;
            ``astropy.coordinates.name_resolve.sesame_url`` chooses the
            resolver). RA outside [0, 360) or Dec outside [-90, 90] raises
            `ValueError` before anything is sent.
        radius : `~astropy.units.Quantity`, str or float
            An angle: a Quantity (``30 * u.arcsec``), an Angle string
            (``"1 arcmin"``) or a bare number of degrees (as in astroquery);
            at most 300 arcsec (the server's limit: a larger value is refused
            before anything is sent). Objects strictly inside the radius match.
        request_type : {"all", "nearest", "count"}
            All matches sorted by separation, the nearest only, or their number.
        cache : bool, optional
            Use the response cache (default: as ``astroquery.cache_conf`` says).
        get_query_payload : bool
            Return the request instead of sending it.

        Returns
        -------
        `~astropy.table.Table`
            ``atlas_id`` (int64), ``separation`` (arcsec), ``name`` (masked
            until the object is named); for ``"count"``, one row with ``count``.
        """
        if not isinstance(request_type, str) or request_type.lower() not in REQUEST_TYPES:
            raise ValueError(f"request_type must be one of {', '.join(REQUEST_TYPES)}; got {request_type!r}")
        request_type = request_type.lower()
        position = position_arg(coordinates)
        radius_arcsec = _radius_arg(radius)
        ra, dec = float(position.ra.deg), float(position.dec.deg)
        data = {"ra": repr(ra), "dec": repr(dec), "radius": repr(radius_arcsec), "requestType": request_type}
        answer = self._json("POST", "cone/", data=data, auth="required", cache=cache, idempotent=True,
                            get_query_payload=get_query_payload, expect=_CONE_SHAPES[request_type])
        if get_query_payload:
            return answer
        query = {"ra": ra, "dec": dec, "radius": radius_arcsec, "request_type": request_type}
        if request_type == "count":
            return self._table([answer], atlas_fields.COUNT_FIELDS, path="cone/", what="objects", query=query,
                               warn_empty=False)
        records = [answer] if request_type == "nearest" and answer else ([] if request_type == "nearest" else answer)
        return self._table(records, atlas_fields.CONE_FIELDS, path="cone/", what="objects", query=query)

    def _check_answer(self, answer, path: str) -> None:
        """Read endpoints answer 200 with an ``info``/``error`` dict for some refusals."""
        if isinstance(answer, Mapping):
            for key in ("error", "Error", "info"):
                if isinstance(answer.get(key), str) and len(answer) == 1:
                    words = redact(answer[key])
                    if "throttl" in words.lower():  # a throttle told in a 200 answer
                        raise RateLimitError(
                            f"{self.name}: {path} answered HTTP 200 {{{key!r}: {words!r}}}: the service is "
                            f"throttling this account. Wait and try again, or make fewer requests.",
                            status=200, detail=words, url=redact_url(self._url(path)), service=self.service)
                    raise InvalidQueryError(f"{self.name}: {path} refused the query: {words}",
                                            status=200, detail=words, url=redact_url(self._url(path)),
                                            service=self.service)

    # -- object data -------------------------------------------------------------------

    @shared_doc(ids=_OBJECT_IDS_DOC, mjd_min=_MJD_MIN_DOC, fetch=_FETCH_DOC)
    def get_objects(self, ids, *, mjd_min=None, cache: bool = True, show_progress: bool = True,
                    errors: str = "raise", get_query_payload: bool = False):
        """Everything the server holds on some objects (``objects/``), one Table per part.

        Parameters
        ----------
        {ids}
        {mjd_min}
        {fetch}

        Returns
        -------
        `~astroquery.utils.TableList`
            One Table per part, by name (``parts["lc"]``) or position:
            ``object``, ``lc``, ``lcnondets``, ``fp``,
            ``sherlock_crossmatches``, ``sherlock_classifications``,
            ``tns_crossmatches``, ``external_crossmatches``; each table stacks
            the rows of all objects, with an ``atlas_id`` column first. Ids the
            server does not know are listed in every table's
            ``meta["missing"]`` (and a `UnknownIdsWarning` is shown).

        Raises
        ------
        ValueError, TypeError
            A bad id (named with its position) or ``mjd_min``, before anything is sent.
        ~astroquery_ext.exceptions.LoginError
            Not logged in, and no stored login or token to use.

        Notes
        -----
        Ids are sent ``conf.chunk_size`` per request (the server takes up to
        50,000), ``conf.max_workers`` requests at a time; each answer is decoded
        as it arrives. The result is kept in memory, per client object and per
        logged-in user, for ``conf.memo_timeout`` seconds (the 8 most recent
        calls): `get_lightcurves`, `get_forced_photometry` and `query_objects`
        for the same ids and ``mjd_min`` use it instead of asking again.
        ``clear_cache()`` and ``logout()`` empty it.

        Examples
        --------
        >>> from astroquery_ext.atlas import Atlas
        >>> parts = Atlas.get_objects([1000005291314656200])  # doctest: +SKIP
        >>> parts["lc"]["mjd", "mag", "filter"]  # doctest: +SKIP
        """
        wanted = parse_ids(ids)
        mjd = _mjd_arg(mjd_min)
        errors_arg(errors)
        if get_query_payload:
            return self._objects_payload(wanted, mjd)
        parts, failure = self._objects(wanted, mjd, cache=cache, show_progress=show_progress)
        return self._complete(TableList({name: parts[name] for name in parts}), failure, errors, len(wanted))

    @shared_doc(ids=_OBJECT_IDS_DOC, fetch=_FETCH_DOC)
    def query_objects(self, ids, *, cache: bool = True, show_progress: bool = True, get_query_payload: bool = False,
                      errors: str = "raise"):
        """The object rows (position, names, lists, scores) of some objects.

        The rows come from the same fetch as the light curves: if
        `get_objects`, `get_lightcurves` or `get_forced_photometry` fetched
        these ids recently, no request is made.

        Parameters
        ----------
        {ids}
        {fetch}

        Returns
        -------
        `~astropy.table.Table` or list of dict
            One row per known id, in the order asked. With
            ``get_query_payload=True``: the ``objects/`` requests (one per
            ``conf.chunk_size`` ids), nothing sent.
        """
        wanted = parse_ids(ids)
        errors_arg(errors)
        if get_query_payload:
            return self._objects_payload(wanted, None)
        parts, failure = None, None
        if cache is not False:
            parts = self._memo_get(wanted, None, any_mjd=True)
        if parts is None:
            parts, failure = self._objects(wanted, None, cache=cache, show_progress=show_progress)
        table = parts["object"]
        if failure is None:
            warn_if_empty(table, "objects")
        return self._complete(table, failure, errors, len(wanted))

    @shared_doc(ids=_OBJECT_IDS_DOC, mjd_min=_MJD_MIN_DOC, fetch=_FETCH_DOC)
    def get_lightcurves(self, ids, *, mjd_min=None, cache: bool = True, show_progress: bool = True,
                        errors: str = "raise", get_query_payload: bool = False):
        """Light curves: detections and non-detection limits in one table.

        Parameters
        ----------
        {ids}
        {mjd_min}
        {fetch}

        Returns
        -------
        `~astropy.table.Table`
            Grouped by ``atlas_id`` (``table.groups``), the objects in the
            order of ``ids`` (so ``zip(ids, table.groups)`` pairs them; ids
            without rows have no group), sorted by ``mjd`` within each
            object. ``detected`` is True for detections (``lc`` rows, with
            ``mag``/``magerr``) and False for exposures without one
            (``lcnondets`` rows: ``mag`` masked, ``mag5sig`` is the limit).
            ``negative_flux`` marks detections of negative difference flux
            (``mag < 0``, ``det == 5``); ``dup == -1`` marks duplicate rows.
            Both are kept, as the server gives them.

        Examples
        --------
        >>> from astroquery_ext.atlas import Atlas
        >>> ids = [1000005291314656200, 1000003581314708200]
        >>> lc = Atlas.get_lightcurves(ids, mjd_min=59000)  # doctest: +SKIP
        >>> for atlas_id, rows in zip(ids, lc.groups):  # doctest: +SKIP
        ...     print(atlas_id, len(rows), rows["detected"].sum())
        """
        wanted = parse_ids(ids)
        errors_arg(errors)
        if get_query_payload:
            return self._objects_payload(wanted, _mjd_arg(mjd_min))
        parts, failure = self._objects(wanted, _mjd_arg(mjd_min), cache=cache, show_progress=show_progress)
        return self._complete(parts.lightcurves(wanted, warn_empty=failure is None), failure, errors, len(wanted))

    @shared_doc(ids=_OBJECT_IDS_DOC, mjd_min=_MJD_MIN_DOC, fetch=_FETCH_DOC)
    def get_forced_photometry(self, ids, *, mjd_min=None, cache: bool = True, show_progress: bool = True,
                              errors: str = "raise", get_query_payload: bool = False):
        """Forced photometry (``fp`` rows) with ``uJy`` and ``duJy`` flux densities.

        Parameters
        ----------
        {ids}
        {mjd_min}
        {fetch}

        Returns
        -------
        `~astropy.table.Table`
            Grouped by ``atlas_id``, the objects in the order of ``ids``,
            sorted by ``mjd`` within each object.
            Objects without forced photometry have no rows.
        """
        wanted = parse_ids(ids)
        errors_arg(errors)
        if get_query_payload:
            return self._objects_payload(wanted, _mjd_arg(mjd_min))
        parts, failure = self._objects(wanted, _mjd_arg(mjd_min), cache=cache, show_progress=show_progress)
        return self._complete(parts.forced_photometry(wanted, warn_empty=failure is None), failure, errors,
                              len(wanted))


    # -- lists ------------------------------------------------------------------------

    def query_list(self, list, *, custom: bool | None = None, since=None, vra_min=None, vra_max=None,
                   rb_pix_min=None, rb_pix_max=None, ra_min=None, ra_max=None, dec_min=None, dec_max=None,
                   sherlock_class: str | None = None, spec_type: str | None = None,
                   cache: bool = True, get_query_payload: bool = False):
        """The objects on a main list or a custom list (``objectlist/``).

        Parameters
        ----------
        list : str or int
            A list name (`MAIN_LISTS`, `CUSTOM_LISTS`: ``"good"``, ``"vra"``...)
            or an id. Main and custom lists have separate ids: an int is a main
            list (0..13) unless ``custom=True``.
        custom : bool, optional
            Whether ``list`` is a custom list; default from the name, else main.
        since : `~astropy.time.Time`, datetime, str or float, optional
            Only objects flagged to a list after this time: a Time, a datetime
            (naive = UTC), an ISO string or a number of MJD.
        vra_min, vra_max, rb_pix_min, rb_pix_max : float, optional
            Inclusive bounds of the VRA score and the real-bogus score. Sent
            to the server and applied again here, so servers that ignore
            them give the same rows (as the bounds below).
        ra_min, ra_max, dec_min, dec_max : `~astropy.units.Quantity`, str or float, optional
            Inclusive bounds of the position, as angles: a Quantity, an
            Angle string, or degrees.
        sherlock_class, spec_type : str, optional
            Exact Sherlock classification / spectroscopic type.
        cache : bool
            Use the response cache within the endpoint's lifetime (lists
            change as the survey runs: never cached).
        get_query_payload : bool
            Return the request instead of sending it.

        Returns
        -------
        `~astropy.table.Table`
            One row per object (``atlas_id``, names, position, scores, the
            earliest and latest detection...).
        """
        list_id, is_custom = _list_arg(list, custom=custom)
        data: dict[str, Any] = {"objectlistid": str(list_id), "getcustomlist": "true" if is_custom else "false"}
        when = _datetime_arg(since, "since")
        if when:
            data["datethreshold"] = when
        bounds = {"vra_gte": vra_min, "vra_lte": vra_max, "rb_pix_gte": rb_pix_min, "rb_pix_lte": rb_pix_max,
                  "ra_gte": ra_min, "ra_lte": ra_max, "dec_gte": dec_min, "dec_lte": dec_max}
        checked = {}
        for key, value in bounds.items():
            name = key.replace("_gte", "_min").replace("_lte", "_max")
            if key.startswith(("ra_", "dec_")):  # angles: a Quantity, an Angle string, or degrees
                angle = angle_arg(value, name, optional=True, positive=False)
                value = None if angle is None else float(angle.deg)
            else:
                value = float_arg(value, name)
            if value is not None:
                checked[key] = value
                data[key] = repr(value)
        for key, value in (("sherlock_class", sherlock_class), ("spec_type", spec_type)):
            if value is not None:
                if not isinstance(value, str) or not value:
                    raise TypeError(f"{key} must be a non-empty string; got {value!r}")
                data[key] = value
        answer = self._json("POST", "objectlist/", data=data, auth="required", cache=cache, idempotent=True,
                            get_query_payload=get_query_payload, expect=RECORDS)
        if get_query_payload:
            return answer
        rows = [r for r in answer if self._passes(r, checked, sherlock_class, spec_type)]
        query = {"list": list_id, "custom": is_custom, "since": when, **checked}
        name = (CUSTOM_LISTS if is_custom else MAIN_LISTS).get(list_id)
        return self._table(rows, atlas_fields.LIST_FIELDS, path="objectlist/", what=f"objects on list {name or list_id}",
                           query=query)

    @staticmethod
    def _passes(row, bounds, sherlock_class, spec_type) -> bool:
        for key, limit in bounds.items():
            column, op = key.rsplit("_", 1)
            value = row.get(column)
            if value is None or (op == "gte" and value < limit) or (op == "lte" and value > limit):
                return False
        if sherlock_class is not None and row.get("sherlockClassification") != sherlock_class:
            return False
        if spec_type is not None and row.get("observation_status") != spec_type:
            return False
        return True

    def query_custom_lists(self, list=None, *, atlas_id=None, cache: bool = True, get_query_payload: bool = False):
        """Custom-list membership (``objectgroupslist/``): the members of a list, or the lists of an object.

        Parameters
        ----------
        list : str or int, optional
            A custom list name or id: its members.
        atlas_id : int or str, optional
            An object: the custom lists it is on. Give exactly one of the two
            (the server answers its whole table to neither or both).
        cache : bool
            Use the response cache within the endpoint's lifetime (membership
            changes as you write: this endpoint is never cached).
        get_query_payload : bool
            Return the request instead of sending it.

        Returns
        -------
        `~astropy.table.Table`
            ``atlas_id``, ``list_id``, ``row_id``.
        """
        if (list is None) == (atlas_id is None):
            raise ValueError("give exactly one of list= (its members) or atlas_id= (its lists)")
        if list is not None:
            data = {"objectgroupid": str(_custom_list_arg(list))}
        else:
            one = parse_ids(atlas_id, "atlas_id")
            if len(one) != 1:
                raise ValueError("atlas_id must be one id (the server takes one per call)")
            data = {"objectid": str(int(one[0]))}
        answer = self._json("POST", "objectgroupslist/", data=data, auth="required", cache=cache, idempotent=True,
                            get_query_payload=get_query_payload, expect=RECORDS)
        if get_query_payload:
            return answer
        return self._table(answer, atlas_fields.GROUP_FIELDS, path="objectgroupslist/", what="custom-list rows", query=data)

    # -- writes, one id per call ------------------------------------------------------

    @per_id_write
    def add_to_custom_list(self, ids, list, *, on_rate_limit: str = "return") -> Table:
        """Add objects to a custom list (``objectgroups/``, one request per id).

        Parameters
        ----------
        ids : int, str or sequence
            ATLAS ids.
        list : str or int
            A custom list name (`CUSTOM_LISTS`) or id.
        {on_rate_limit}

        Returns
        -------
        `~astropy.table.Table`
            Per id: ``sent``, ``ok`` (now on the list: created or already there),
            ``status`` and ``info`` (the server's words, e.g. ``"Row created."``,
            ``"Duplicate row. Cannot add row."``, ``"Object does not exist."``).
        """
        ids = parse_ids(ids)
        group = _custom_list_arg(list)
        return self._write_each("objectgroups/", ids,
                                lambda i, oid: {"objectid": str(oid), "objectgroupid": str(group)},
                                idempotent=True, extra={"list_id": group}, on_rate_limit=on_rate_limit)

    @per_id_write
    def remove_from_custom_list(self, ids, list, *, on_rate_limit: str = "return") -> Table:
        """Remove objects from a custom list (``objectgroupsdelete/``, one request per id).

        Parameters
        ----------
        ids : int, str or sequence
            ATLAS ids.
        list : str or int
            A custom list name (`CUSTOM_LISTS`) or id.
        {on_rate_limit}

        Returns
        -------
        `~astropy.table.Table`
            Per id: ``ok`` (removed: HTTP 204), ``status``, ``info`` (why not,
            in the server's words, e.g. not a member).
        """
        ids = parse_ids(ids)
        group = _custom_list_arg(list)
        return self._write_each("objectgroupsdelete/", ids,
                                lambda i, oid: {"objectid": str(oid), "objectgroupid": str(group)},
                                idempotent=False, ok_when=lambda status, info: status == 204,
                                extra={"list_id": group}, on_rate_limit=on_rate_limit)

    @per_id_write
    @shared_doc(insert_date=_INSERT_DATE_DOC)
    def set_detection_list(self, ids, list, *, insert_date=None, on_rate_limit: str = "return") -> Table:
        """Move objects to another main list (``objectdetectionlist/``, one request per id).

        Parameters
        ----------
        ids : int, str or sequence
            ATLAS ids.
        list : {"possible", "eyeball", "galcand"} or {3, 4, 12}
            The target main list; the server refuses any other.
        {insert_date}
        {on_rate_limit}

        Returns
        -------
        `~astropy.table.Table`
            Per id ``ok``, ``status``, ``info``.
        """
        ids = parse_ids(ids)
        target, _ = _list_arg(list, custom=False)
        if target not in MOVABLE_LISTS:
            raise ValueError(f"objects can only be moved to main lists "
                             f"{', '.join(f'{i} ({MAIN_LISTS[i]})' for i in MOVABLE_LISTS)}; got {list!r}")
        when = _datetime_arg(insert_date, "insert_date")

        def payload(i, oid):
            data = {"objectid": str(oid), "objectlist": str(target)}
            if when:
                data["insertdate"] = when
            return data

        return self._write_each("objectdetectionlist/", ids, payload, idempotent=True,
                                extra={"list_id": target}, on_rate_limit=on_rate_limit)

    # -- VRA tables ----------------------------------------------------------------------

    def _vra_read(self, path, fields, ids, *, since=None, extra=None, cache=True, get_query_payload=False):
        data: dict[str, str] = {}
        if ids is not None:
            data["objects"] = ",".join(map(str, parse_ids(ids).tolist()))
        when = _datetime_arg(since, "since")
        if when:
            if ids is not None:
                raise ValueError("since= applies only without ids (the server ignores it when ids are given)")
            data["datethreshold"] = when
        data.update(extra or {})
        answer = self._json("POST", path, data=data, auth="required", cache=cache, idempotent=True,
                            get_query_payload=get_query_payload, expect=RECORDS)
        if get_query_payload:
            return answer
        return self._table(answer, fields, path=path, what="rows",
                           query={k: v for k, v in data.items() if k != "objects"} |
                           ({"n_ids": data["objects"].count(",") + 1} if "objects" in data else {}))

    def query_vra_scores(self, ids=None, *, since=None, min_row_id=None, debug: bool = False,
                         cache: bool = True, get_query_payload: bool = False) -> Table:
        """VRA score rows (``vrascoreslist/``).

        Parameters
        ----------
        ids : int, str or sequence, optional
            The rows of these objects whose ``debug`` flag equals ``debug``.
        since : `~astropy.time.Time`, datetime, str or float, optional
            Without ids: rows stamped at or after this time (all debug
            values); an ISO string, a datetime (naive = UTC) or an MJD.
        min_row_id : int, optional
            Without ids: rows whose row id is at least this (incremental polling).
        debug : bool
            With ids: read the debug rows instead of the others.
        cache : bool
            Use the response cache within the endpoint's lifetime (VRA tables
            change as you write: never cached).
        get_query_payload : bool
            Return the request instead of sending it.

        Returns
        -------
        `~astropy.table.Table`
            One row per score row: ``atlas_id``, ``preal``, ``pgal``,
            ``pfast``, ``rank``, ``rank_alt1``, ``is_gal_cand``,
            ``timestamp``, ``username``, ``debug``, ``row_id``...
        """
        extra = {}
        if min_row_id is not None:
            if ids is not None:
                raise ValueError("min_row_id= applies only without ids")
            if isinstance(min_row_id, bool) or not isinstance(min_row_id, (numbers.Integral, np.integer)):
                raise TypeError(f"min_row_id must be an integer; got {min_row_id!r}")
            extra["idthreshold"] = str(int(min_row_id))
        if not isinstance(debug, (bool, np.bool_)):
            raise TypeError(f"debug must be True or False; got {debug!r}")
        if ids is not None:
            extra["debug"] = "true" if debug else "false"
        return self._vra_read("vrascoreslist/", atlas_fields.VRA_SCORE_FIELDS, ids, since=since, extra=extra,
                              cache=cache, get_query_payload=get_query_payload)

    @per_id_write
    @shared_doc(insert_date=_INSERT_DATE_DOC)
    def add_vra_scores(self, ids, *, preal=None, pgal=None, pfast=None, rank=None, rank_alt1=None,
                       is_gal_cand=None, debug: bool = False, insert_date=None,
                       on_rate_limit: str = "return") -> Table:
        """Append VRA score rows (``vrascores/``, one request per id; every call adds a row).

        Each value is one number for all ids or a sequence with one per id.
        Writes that may have reached the server are never repeated (a 429
        means the server did not act, so a throttled id is "not sent").

        Parameters
        ----------
        ids : int, str or sequence
            ATLAS ids.
        preal, pgal, pfast : float or sequence of float, optional
            The probabilities (0 to 1) that the object is real, galactic,
            fast.
        rank, rank_alt1 : float or sequence of float, optional
            The VRA rank and its alternative.
        is_gal_cand : int or sequence of int, optional
            Whether the object is a galaxy candidate (1) or not (0).
        debug : bool
            Write debug rows (read back with ``query_vra_scores(debug=True)``).
        {insert_date}
        {on_rate_limit}

        Returns
        -------
        `~astropy.table.Table`
            Per id ``ok``, ``status``, ``info``.
        """
        ids = parse_ids(ids)
        n = len(ids)
        values = {k: _per_id(v, n, k) for k, v in (("preal", preal), ("pgal", pgal), ("pfast", pfast),
                                                    ("rank", rank), ("rank_alt1", rank_alt1),
                                                    ("is_gal_cand", is_gal_cand))}
        for key, column in values.items():
            for v in column:
                if v is not None:
                    value = float_arg(v, key)
                    # preal, pgal, pfast: the probabilities that the object is real,
                    # galactic, fast (0 to 1); the server stores any float unchecked.
                    if key in ("preal", "pgal", "pfast") and not 0.0 <= value <= 1.0:
                        raise ValueError(f"{key} is a probability and must be between 0 and 1; got {v!r}")
        when = _datetime_arg(insert_date, "insert_date")

        def payload(i, oid):
            data = {"objectid": str(oid), "debug": "true" if debug else "false"}
            for key, column in values.items():
                if column[i] is not None:
                    data[key] = _num_text(int(column[i]) if key == "is_gal_cand" else column[i])
            if when:
                data["insertdate"] = when
            return data

        return self._write_each("vrascores/", ids, payload, idempotent=False, on_rate_limit=on_rate_limit)

    @shared_doc(parameters=_VRA_READ_DOC)
    def query_vra_todo(self, ids=None, *, since=None, cache: bool = True, get_query_payload: bool = False) -> Table:
        """The VRA to-do list (``vratodolist/``): all entries, those of some ids, or those since a time.

        {parameters}

        Returns
        -------
        `~astropy.table.Table`
            ``atlas_id`` and ``timestamp``, one row per entry.
        """
        return self._vra_read("vratodolist/", atlas_fields.VRA_TODO_FIELDS, ids, since=since, cache=cache,
                              get_query_payload=get_query_payload)

    @per_id_write
    @shared_doc(insert_date=_INSERT_DATE_DOC)
    def add_vra_todo(self, ids, *, insert_date=None, on_rate_limit: str = "return") -> Table:
        """Put objects on the VRA to-do list (``vratodo/``, one request per id).

        Parameters
        ----------
        ids : int, str or sequence
            ATLAS ids.
        {insert_date}
        {on_rate_limit}

        Returns
        -------
        `~astropy.table.Table`
            Per id ``sent``, ``ok``, ``status``, ``info``.
        """
        ids = parse_ids(ids)
        when = _datetime_arg(insert_date, "insert_date")
        return self._write_each("vratodo/", ids, lambda i, oid: {"objectid": str(oid), **(
            {"insertdate": when} if when else {})}, idempotent=True, on_rate_limit=on_rate_limit)

    @shared_doc(parameters=_VRA_READ_DOC)
    def query_vra_rank(self, ids=None, *, since=None, cache: bool = True, get_query_payload: bool = False) -> Table:
        """VRA ranks (``vraranklist/``): one row per ranked object.

        {parameters}

        Returns
        -------
        `~astropy.table.Table`
            ``atlas_id``, ``rank``, ``rank_alt1``, ``is_gal_cand``,
            ``timestamp``.
        """
        return self._vra_read("vraranklist/", atlas_fields.VRA_RANK_FIELDS, ids, since=since, cache=cache,
                              get_query_payload=get_query_payload)

    @per_id_write
    @shared_doc(insert_date=_INSERT_DATE_DOC)
    def set_vra_rank(self, ids, rank, *, rank_alt1=None, is_gal_cand=None, insert_date=None,
                     on_rate_limit: str = "return") -> Table:
        """Set the VRA rank of objects (``vrarank/``: one row per object, replaced on each call).

        Parameters
        ----------
        ids : int, str or sequence
            ATLAS ids.
        rank : float or sequence of float
            The rank: one for all ids or one per id.
        rank_alt1 : float or sequence of float, optional
            The alternative rank, likewise.
        is_gal_cand : int or sequence of int, optional
            Whether the object is a galaxy candidate (1) or not (0), likewise.
        {insert_date}
        {on_rate_limit}

        Returns
        -------
        `~astropy.table.Table`
            Per id ``sent``, ``ok``, ``status``, ``info``.
        """
        ids = parse_ids(ids)
        n = len(ids)
        ranks = _per_id(rank, n, "rank")
        for v in ranks:
            float_arg(v, "rank", optional=False)
        alts = _per_id(rank_alt1, n, "rank_alt1")
        gals = _per_id(is_gal_cand, n, "is_gal_cand")
        when = _datetime_arg(insert_date, "insert_date")

        def payload(i, oid):
            data = {"objectid": str(oid), "rank": _num_text(ranks[i])}
            if alts[i] is not None:
                data["rank_alt1"] = _num_text(float_arg(alts[i], "rank_alt1"))
            if gals[i] is not None:
                data["is_gal_cand"] = _num_text(int(gals[i]))
            if when:
                data["insertdate"] = when
            return data

        return self._write_each("vrarank/", ids, payload, idempotent=True, on_rate_limit=on_rate_limit)

    # -- names ----------------------------------------------------------------------------

    def query_external_names(self, names, *, cache: bool = True, get_query_payload: bool = False) -> Table:
        """ATLAS objects cross-matched to external names, e.g. TNS ``"2020tjh"`` (``externalxmlist/``).

        Parameters
        ----------
        names : str or sequence of str
            External designations, matched exactly, without the ``AT``/``SN``
            prefix (a leading ``AT``/``SN`` and spaces are removed here).
        cache : bool
            Use the response cache within the endpoint's lifetime (an hour).
        get_query_payload : bool
            Return the request instead of sending it.

        Returns
        -------
        `~astropy.table.Table`
            One row per match: ``name`` (as asked), ``atlas_id``,
            ``matched_list``, ``separation``... Names without a match are in
            ``meta["nomatch"]``.
        """
        if isinstance(names, str):
            names = [names]
        cleaned = []
        for i, name in enumerate(names):
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"names[{i}] = {name!r} is not a name")
            text = re.sub(r"^(AT|SN)\s*(?=\d{4})", "", name.strip(), flags=re.IGNORECASE)
            if "," in text:
                raise ValueError(f"names[{i}] = {name!r} contains a comma")
            cleaned.append(text)
        if not cleaned:
            raise ValueError("names is empty")
        answer = self._json("POST", "externalxmlist/", data={"externalObjects": ",".join(cleaned)},
                            auth="required", cache=cache, idempotent=True, get_query_payload=get_query_payload,
                            expect=list_of(RECORDS))
        if get_query_payload:
            return answer
        rows, unmatched = [], []
        for name, matches in zip(cleaned, answer):
            if not matches:
                unmatched.append(name)
            for row in matches:
                rows.append(dict(row, name=name, atlas_id=row.get("transient_object_id")))
        fields = [atlas_fields.Field("name", "str"), atlas_fields.ATLAS_ID] + atlas_fields.EXTERNAL_XM_FIELDS
        table = self._table(rows, fields, path="externalxmlist/", what="names", query={"names": cleaned})
        table.meta["nomatch"] = unmatched
        return table


Atlas = AtlasClass()
