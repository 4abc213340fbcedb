"""ATLAS Transient Server sandbox: the REST API of the ATLAS Transient Server on loopback.

The API root is ``/api/`` (``Sandbox.url("atlas")`` is ``http://127.0.0.1:PORT/api/``).
Every endpoint the clients use answers as the Django/DRF server does: POST
(form, multipart or JSON) and GET (query string), DRF-style 400 field errors,
token authentication (``Authorization: Token <key>`` or ``?token=``) with
expiry, the 403 for read-only writers, a per-user sliding-window throttle
shared by all endpoints, 301 to the slashed URL, HTML 404/500 pages.

What the service stores (custom-list membership, VRA score/to-do/rank rows,
main-list moves, tokens) lives in SQLite under the service's data dir, so it
survives a restart with the same ``data_dir``. Sample objects and light curves
are generated deterministically from the seed (see :mod:`._atlas_data`).

Options (``Sandbox(services={"atlas": {...}})``):

``n_objects`` (300)          number of sample objects
``lc_length`` (60)           approximate rows of ``lc`` per object; ``lcnondets``
                             has about half as many, ``fp`` (on ~65% of objects)
                             about a third; each object varies by +-40%
``mjd_end`` (61150.0)        MJD of the latest possible epoch (2026-05-05); data span
                             57900..mjd_end; ~30% of objects are discovered in the last
                             150 days. ``"now"`` uses today's MJD (data then change daily)
``token_ttl`` (86400)        seconds a non-staff token lives (from its creation)
``throttle_rate`` (100)     requests per ``throttle_period`` per non-staff user, as the
                             real service (relaxed mode: 100000)
``staff_throttle_rate`` (100000)  the same for staff users
``anon_throttle_rate`` (10)  ``auth-token/`` requests per period per client IP, as the
                             real service (relaxed mode: 1000)
``null_as_absent`` (False)   a JSON null on an optional field is taken as absent (relaxed
                             mode); the real serializers answer 400 "This field may not be null."
``throttle_period`` (3600)   window of all throttles, seconds
``list_filters`` (True)      honour the newer ``objectlist/`` filter fields
                             (``vra_gte``...); False ignores them like snapshot ac9f2aec
``prewarm`` (True)           format every light curve in a background thread at start

Users (all passwords are ``<username>-password``; tokens are 40 hex chars
derived from the seed): ``vra_bot`` (default: read-write, non-staff),
``reader`` (read-only: 403 on writes), ``admin`` (staff: read-write, token never
expires, staff throttle), ``inactive`` (401 "User inactive or deleted.",
cannot log in), ``expired``, ``expired2``, ``expired3`` (read-write, token
already expired: 401 "Token has expired." until renewed through
``auth-token/``), ``noprofile`` (group without profile: 401 on every call, 500
on ``auth-token/``).
"""

from __future__ import annotations

import base64
import binascii
import collections
import datetime as _dt
import hashlib
import json
import math
import re
import secrets
import sqlite3
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from astroquery_ext.sandbox import _atlas_data as data
from astroquery_ext.sandbox._service import SandboxContext, SandboxService

# -- texts of the real service ----------------------------------------------

NOT_PROVIDED = "Authentication credentials were not provided."
INVALID_TOKEN = "Invalid token."
EXPIRED = "Token has expired."
NO_CREDS = "Invalid token header. No credentials provided."
SPACES = "Invalid token header. Token string should not contain spaces."
BAD_CHARS = "Invalid token header. Token string should not contain invalid characters."
BAD_FORMAT = "Invalid token format."
INACTIVE = "User inactive or deleted."
NO_PROFILE = "Could not authenticate: Group has no profile. Please contact administrator."
FORBIDDEN = "You do not have permission to perform this action."
GET_NOT_IMPLEMENTED = {"Error": "GET is not implemented for this service."}
DATETIME_FORMAT_ERROR = ("Datetime has wrong format. Use one of these formats instead: "
                         "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].")
PLACEHOLDER = ('{"object":"AtlasDiffObjects matching query does not exist.","lc":null,'
               '"lcnondets":null,"fp":null,"sherlock_crossmatches":null,'
               '"sherlock_classifications":null,"tns_crossmatches":null,'
               '"external_crossmatches":null}')
MAX_OBJECTS = 50_000

HTML_404 = ('<!doctype html>\n<html lang="en">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n'
            '  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n'
            '</body>\n</html>\n')
HTML_500 = ('<!doctype html>\n<html lang="en">\n<head>\n  <title>Server Error (500)</title>\n</head>\n'
            '<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n')

USER_SPECS = {
    # name: (write, staff, active, expired_at_start, group_has_profile, description)
    "vra_bot": (True, False, True, False, True, "default read-write user"),
    "reader": (False, False, True, False, True, "read-only user: writes give 403"),
    "admin": (True, True, True, False, True, "staff: token never expires, staff throttle"),
    "inactive": (False, False, False, False, True, "inactive: 401 'User inactive or deleted.'"),
    "expired": (True, False, True, True, True, "read-write, token already expired"),
    "expired2": (True, False, True, True, True, "read-write, token already expired"),
    "expired3": (True, False, True, True, True, "read-write, token already expired"),
    "noprofile": (False, False, True, False, False, "group without profile: 401 on every call"),
}

# endpoint -> kind ("read", "write", "auth")
ENDPOINTS = {
    "auth-token": "auth", "cone": "read", "objects": "read", "objectlist": "read",
    "objectgroupslist": "read", "objectgroups": "write", "objectgroupsdelete": "write",
    "vrascores": "write", "vrascoreslist": "read", "vratodo": "write", "vratodolist": "read",
    "vrarank": "write", "vraranklist": "read", "objectdetectionlist": "write",
    "externalxmlist": "read",
}
VIEW_NAMES = {
    "auth-token": "Obtain Expiring Auth Token", "cone": "Cone List", "objects": "Objects List",
    "objectlist": "Object List List", "objectgroupslist": "Object Groups List List",
    "objectgroups": "Object Groups List", "objectgroupsdelete": "Object Groups Delete List",
    "vrascores": "Vra Scores List", "vrascoreslist": "Vra Scores List List",
    "vratodo": "Vra Todo List", "vratodolist": "Vra Todo List List", "vrarank": "Vra Rank List",
    "vraranklist": "Vra Rank List List", "objectdetectionlist": "Object Detection List List",
    "externalxmlist": "External Xm List List",
}


#: Django's SecurityMiddleware and XFrameOptionsMiddleware (default settings) on every answer.
SECURITY_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin", "Cross-Origin-Opener-Policy": "same-origin"}
#: DRF's APIView.finalize_response: the view's methods in ``Allow``, and ``Vary: Accept``.
ALLOW = {"auth": "POST, OPTIONS", "read": "GET, POST, HEAD, OPTIONS", "write": "GET, POST, HEAD, OPTIONS"}


class HTTPResult(Exception):
    """A finished answer (raised from deep inside a handler)."""

    def __init__(self, status: int, body=None, headers: dict | None = None, html: str | None = None):
        self.status, self.body, self.headers, self.html = status, body, dict(headers or {}), html


class JSONPieces:
    """A JSON body kept as the encoded pieces it was built from.

    ``objects/`` answers run to hundreds of MB: joining them into one string
    and encoding that would copy the whole body twice before the first byte
    goes out. The pieces are sent one after the other instead, under a
    ``Content-Length`` (as the real server sends), so the wire is the same.
    """

    def __init__(self, pieces: list[bytes]):
        self.pieces = pieces

    def response(self, status: int, headers: dict) -> StreamingResponse:
        async def body():
            for piece in self.pieces:
                yield piece
        headers = dict(headers, **{"Content-Length": str(sum(map(len, self.pieces)))})
        return StreamingResponse(body(), status_code=status, headers=headers, media_type="application/json")


def _json_response(status: int, body, headers: dict | None = None) -> Response:
    # DRF's JSONRenderer: compact separators, non-ASCII as is.
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text.encode(), status_code=status, headers=headers or {},
                    media_type="application/json")


def _html(status: int, text: str) -> Response:
    return Response(text.encode(), status_code=status, media_type="text/html; charset=utf-8")


# -- DRF-like field validation ---------------------------------------------------

MISSING = object()
TRUE_VALUES = {"t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1", 1, True}
FALSE_VALUES = {"f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "0", 0,
                0.0, False}
_DECIMAL_TAIL = re.compile(r"\.0*\s*$")
_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
                       r"(Z|[+-]\d{2}(?::?\d{2})?)?)?$")


class Param:
    """One request field of a DRF serializer: its name, kind, whether required, its default."""

    def __init__(self, name, kind, required=False, default=MISSING, choices=None, trim=True):
        self.name, self.kind, self.required, self.default = name, kind, required, default
        self.choices, self.trim = choices, trim

    def convert(self, value):
        kind = self.kind
        if isinstance(value, str) and len(value) > 1000 and kind in ("int", "float"):
            raise ValueError("String value too large.")
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError("A valid integer is required.")
            if isinstance(value, float):
                if value != int(value):
                    raise ValueError("A valid integer is required.")
                return int(value)
            try:
                return int(_DECIMAL_TAIL.sub("", str(value)))
            except (ValueError, TypeError):
                raise ValueError("A valid integer is required.") from None
        if kind == "float":
            # DRF FloatField: whatever float() takes (so "nan", "inf", JSON true/false pass).
            try:
                return float(value)
            except (ValueError, TypeError):
                raise ValueError("A valid number is required.") from None
            except OverflowError:
                raise ValueError("Integer value too large to convert to float") from None
        if kind == "bool":
            try:
                if value in TRUE_VALUES:
                    return True
                if value in FALSE_VALUES:
                    return False
            except TypeError:
                pass
            raise ValueError("Must be a valid boolean.")
        if kind in ("str", "choice"):
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ValueError("Not a valid string.")
            text = str(value)
            if kind == "choice":
                if text not in self.choices:
                    raise ValueError(f'"{value}" is not a valid choice.')
                return text
            if self.trim:
                text = text.strip()
            if text == "":
                raise ValueError("This field may not be blank.")
            return text
        if kind == "datetime":
            if not isinstance(value, str):
                raise ValueError(DATETIME_FORMAT_ERROR)
            return parse_datetime(value)
        raise AssertionError(kind)


def parse_datetime(text: str) -> _dt.datetime:
    m = _DATETIME.match(text.strip())
    if not m:
        raise ValueError(DATETIME_FORMAT_ERROR)
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    try:
        t = _dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0),
                         int((frac or "0").ljust(6, "0")))
    except ValueError:
        raise ValueError(DATETIME_FORMAT_ERROR) from None
    if tz in (None, "Z"):
        return t.replace(tzinfo=_dt.timezone.utc)
    sign = 1 if tz[0] == "+" else -1
    digits = tz[1:].replace(":", "")
    offset = _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return t.replace(tzinfo=_dt.timezone(sign * offset))


def validate(payload, fields: list[Param], form: bool, null_as_absent: bool = False) -> dict:
    """Values by field name (absent optional fields are left out), or HTTPResult(400).

    A JSON ``null`` is refused on every field, as DRF's fields do unless declared
    ``allow_null`` (none of the server's are); ``null_as_absent`` (relaxed mode)
    takes it as absent on optional fields instead.
    """
    if not isinstance(payload, dict):
        raise HTTPResult(400, {"non_field_errors": [
            f"Invalid data. Expected a dictionary, but got {type(payload).__name__}."]})
    values, errors = {}, {}
    for f in fields:
        value = payload.get(f.name, MISSING)
        if form and value == "" and not f.required:
            value = MISSING
        if value is None:
            if f.required or not null_as_absent:
                errors[f.name] = ["This field may not be null."]
                continue
            value = MISSING
        if value is MISSING:
            if f.required:
                errors[f.name] = ["This field is required."]
            elif f.default is not MISSING:
                values[f.name] = f.default
            continue
        try:
            values[f.name] = f.convert(value)
        except ValueError as exc:
            errors[f.name] = [str(exc)]
    if errors:
        raise HTTPResult(400, errors)
    return values


# -- the service ------------------------------------------------------------------

def _us(t: _dt.datetime) -> int:
    return int(round(t.timestamp() * 1e6))


def _iso_us(us: int | None) -> str | None:
    if us is None:
        return None
    return data.datetime_to_iso(_dt.datetime.fromtimestamp(us / 1e6, tz=_dt.timezone.utc))


def _now_us() -> int:
    return int(time.time() * 1e6)


def _stamp_us(t: _dt.datetime | None = None) -> int:
    """A timestamp the API writes, as its DATETIME columns keep it: whole seconds (rounded, as MySQL does)."""
    seconds = time.time() if t is None else t.timestamp()
    return int(round(seconds)) * 1_000_000


class AtlasService:
    def __init__(self, ctx: SandboxContext):
        opts = ctx.options
        self.seed = ctx.seed
        self.n_objects = int(opts.get("n_objects", 300))
        self.lc_length = int(opts.get("lc_length", 60))
        self.token_ttl = float(opts.get("token_ttl", 86400))
        self.period = float(opts.get("throttle_period", 3600))
        self.rates = {"user": int(opts.get("throttle_rate", 100)),
                      "staff": int(opts.get("staff_throttle_rate", 100_000)),
                      "anon": int(opts.get("anon_throttle_rate", 10))}
        self.list_filters = bool(opts.get("list_filters", True))
        self.null_as_absent = bool(opts.get("null_as_absent", False))
        mjd_end = opts.get("mjd_end", 61150.0)
        if mjd_end == "now":  # the data then depend on the day the sandbox starts
            mjd_end = math.floor(time.time() / 86400.0 + 40587.0)
        self.cat = data.Catalogue(self.seed, self.n_objects, self.lc_length, mjd_end=float(mjd_end))
        cat = self.cat
        self._ra = np.radians([o["ra"] for o in cat.objects])
        self._dec = np.radians([o["dec"] for o in cat.objects])
        self.lock = threading.RLock()
        self.throttle_lock = threading.Lock()
        self.history: dict[str, collections.deque] = {}
        self._xm_index = None
        self.db = sqlite3.connect(str(Path(ctx.data_dir) / "atlas.sqlite3"), check_same_thread=False,
                                  isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self._init_db()
        self.overrides = {row[0]: (row[1], row[2]) for row in
                          self.db.execute("SELECT id, detection_list_id, date_modified FROM object_overrides")}
        self.users = {}
        for name, (write, staff, active, expired, profile, desc) in USER_SPECS.items():
            self.users[name] = {"username": name, "password": f"{name}-password", "write": write,
                                "staff": staff, "active": active, "profile": profile,
                                "description": desc, "expired_at_start": expired}
        self._init_tokens()
        # What reset() puts back: the stored tables as they are now, and the sample objects only.
        self._n_sample = self.n_objects
        self._start_state = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.backup(self._start_state)
        if opts.get("prewarm", True):
            threading.Thread(target=self._prewarm, daemon=True).start()

    # ---- storage -----------------------------------------------------------

    def _init_db(self):
        db = self.db
        db.executescript("""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE IF NOT EXISTS tokens (username TEXT PRIMARY KEY, key TEXT UNIQUE, created INTEGER);
            CREATE TABLE IF NOT EXISTS object_groups (id INTEGER PRIMARY KEY, transient_object_id INTEGER,
                object_group_id INTEGER, UNIQUE (transient_object_id, object_group_id));
            CREATE TABLE IF NOT EXISTS vra_scores (id INTEGER PRIMARY KEY, transient_object_id INTEGER,
                preal REAL, pgal REAL, pfast REAL, rank REAL, rank_alt1 REAL, is_gal_cand INTEGER,
                timestamp INTEGER, apiusername TEXT, username TEXT, debug INTEGER);
            CREATE TABLE IF NOT EXISTS vra_todo (transient_object_id INTEGER PRIMARY KEY, timestamp INTEGER);
            CREATE TABLE IF NOT EXISTS vra_rank (transient_object_id INTEGER PRIMARY KEY, rank REAL,
                rank_alt1 REAL, is_gal_cand INTEGER, timestamp INTEGER);
            CREATE TABLE IF NOT EXISTS object_overrides (id INTEGER PRIMARY KEY, detection_list_id INTEGER,
                date_modified TEXT);
        """)
        signature = json.dumps([self.seed, self.n_objects])
        row = db.execute("SELECT value FROM meta WHERE key='sample'").fetchone()
        if row and row[0] == signature:
            return
        # A new data dir (or one made for other sample data): seed the stored tables.
        with self.lock:
            db.execute("BEGIN")
            for table in ("object_groups", "vra_scores", "vra_todo", "vra_rank", "object_overrides", "tokens"):
                db.execute(f"DELETE FROM {table}")
            self._seed_tables()
            db.execute("INSERT OR REPLACE INTO meta VALUES ('sample', ?)", (signature,))
            db.execute("COMMIT")

    def _seed_tables(self):
        cat, db = self.cat, self.db
        rng = np.random.default_rng([self.seed, 20])
        ids = [o["id"] for o in cat.objects]
        rows = []
        for a in data.ANCHORS[: len(ids)]:
            rows.extend((a["id"], g) for g in a["groups"])
        for g in data.CUSTOM_GROUPS:
            k = max(2, int(0.04 * len(ids)))
            for j in rng.choice(len(ids), size=min(k, len(ids)), replace=False).tolist():
                rows.append((ids[j], g))
        rows = list(dict.fromkeys(rows))
        row_id = 4981207
        for oid, g in rows:
            db.execute("INSERT OR IGNORE INTO object_groups VALUES (?, ?, ?)", (row_id, oid, g))
            row_id += int(rng.integers(1, 400))

        def ts(mjd):  # whole seconds, as microseconds
            return int(data.mjd_to_epoch(mjd)) * 1_000_000

        score_id = 812345
        for j, o in enumerate(cat.objects):
            if o["vra"] is None or rng.random() > 0.15:
                continue
            mjd0 = cat.extra[j]["mjd_disc"]
            for k in range(int(rng.integers(1, 3))):
                human = rng.random() < 0.15
                debug = None if human else int(rng.random() < 0.2)
                p = [round(float(v), 3) for v in rng.uniform(0, 1, 3)]
                db.execute("INSERT INTO vra_scores VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", (
                    score_id, o["id"], None if human else p[0], None if human else p[1],
                    None if human else p[2], round(float(rng.uniform(0, 10)), 2),
                    None if human or rng.random() < 0.5 else round(float(rng.uniform(0, 10)), 2),
                    None if human else int(rng.random() < 0.3), ts(mjd0 + 1 + k + float(rng.uniform(0, 1))),
                    None if human else "vra_bot", str(rng.choice(data.HUMANS)) if human else None, debug))
                score_id += int(rng.integers(1, 50))
            if rng.random() < 0.5:
                db.execute("INSERT OR REPLACE INTO vra_rank VALUES (?,?,?,?,?)", (
                    o["id"], round(float(rng.uniform(0, 10)), 2),
                    None if rng.random() < 0.5 else round(float(rng.uniform(0, 10)), 2),
                    None if rng.random() < 0.5 else int(rng.random() < 0.3), ts(mjd0 + 2.5)))
            if rng.random() < 0.3:
                db.execute("INSERT OR REPLACE INTO vra_todo VALUES (?, ?)", (o["id"], ts(mjd0 + 0.7)))

    def _init_tokens(self):
        now = _now_us()
        for name, user in self.users.items():
            row = self.db.execute("SELECT key, created FROM tokens WHERE username=?", (name,)).fetchone()
            if row is None:
                key = hashlib.sha256(f"atlas-sandbox:{self.seed}:{name}".encode()).hexdigest()[:40]
                created = now - int((10 * self.token_ttl + 3600) * 1e6) if user["expired_at_start"] else now
                self.db.execute("INSERT INTO tokens VALUES (?, ?, ?)", (name, key, created))
                row = (key, created)
            user["token"] = row[0]

    def reset(self) -> None:
        """The stored tables back as they were at start; the throttle windows start over."""
        with self.lock:
            self._start_state.backup(self.db)
            self.overrides = {row[0]: (row[1], row[2]) for row in
                              self.db.execute("SELECT id, detection_list_id, date_modified FROM object_overrides")}
            for name, user in self.users.items():
                user["token"] = self.db.execute("SELECT key FROM tokens WHERE username=?", (name,)).fetchone()[0]
            self._set_objects(self._n_sample)
        with self.throttle_lock:
            self.history.clear()

    def expire_access_tokens(self) -> int:
        """Expire now every non-staff token (as if its ``token_ttl`` had passed): a test's way to pass a
        token's lifetime without waiting. Returns how many."""
        staff = [name for name, user in self.users.items() if user["staff"]]
        long_ago = _now_us() - int((self.token_ttl + 1) * 1e6)
        with self.lock:
            marks = ",".join("?" * len(staff))
            cursor = self.db.execute(f"UPDATE tokens SET created=? WHERE created>? AND username NOT IN ({marks})",
                                     (long_ago, long_ago, *staff))
        return cursor.rowcount

    def end_throttle_windows(self) -> int:
        """Start every throttle window over (as `reset` does, keeping the stored data): a test's way to pass
        ``throttle_period`` without waiting. Returns how many windows were open."""
        with self.throttle_lock:
            count = sum(1 for hist in self.history.values() if hist)
            self.history.clear()
        return count

    def _set_objects(self, n: int) -> None:
        """Keep the first ``n`` objects (under the lock): positions and indexes follow."""
        self.cat.truncate(n)
        self.n_objects = len(self.cat.objects)
        self._ra = np.radians([o["ra"] for o in self.cat.objects])
        self._dec = np.radians([o["dec"] for o in self.cat.objects])
        self._xm_index = None

    def load(self, payload: dict) -> dict:
        """Objects of the user's own, with their light curves, from table files (FITS, ECSV...).

        ``objects``: one row per object, ``ra``/``dec`` (deg), optional ``atlas_id``,
        ``name`` (the ATLAS designation), ``other_designation``, ``detection_list_id``
        (default 2, good), ``sherlock_class``. ``lightcurves`` (optional): ``atlas_id``,
        ``mjd``, ``filter`` (c/o), ``mag``, ``magerr`` (a masked or NaN mag: a
        non-detection), optional ``mag5sig``, ``ra``, ``dec``. Dropped by `reset`.
        """
        from astropy.table import Table

        unknown = set(payload) - {"objects", "lightcurves"}
        if unknown or "objects" not in payload:
            raise ValueError("the ATLAS sandbox loads objects= (a table file) and optionally lightcurves=; "
                             f"got {', '.join(sorted(payload)) or 'nothing'}")
        objects = _columns(Table.read(payload["objects"]), ("ra", "dec"), "objects")
        curves: dict[int, list[dict]] = collections.defaultdict(list)
        if payload.get("lightcurves"):
            lc = _columns(Table.read(payload["lightcurves"]), ("atlas_id", "mjd", "filter", "mag"), "lightcurves")
            for k in range(len(lc["mjd"])):
                mag = _number(lc["mag"][k])
                row = {"mjd": float(lc["mjd"][k]), "filter": str(lc["filter"][k]).strip(), "mag": mag,
                       "magerr": _number(lc["magerr"][k]) if "magerr" in lc and mag is not None else None}
                for name in ("mag5sig", "ra", "dec"):
                    if name in lc and _number(lc[name][k]) is not None:
                        row[name] = _number(lc[name][k])
                curves[int(lc["atlas_id"][k])].append(row)
        template = dict.fromkeys(self.cat.objects[0]) if self.cat.objects else {}
        added = []
        with self.lock:
            before = self.n_objects
            try:
                for k in range(len(objects["ra"])):
                    ra, dec = float(objects["ra"][k]), float(objects["dec"][k])
                    oid = int(objects["atlas_id"][k]) if "atlas_id" in objects else data.atlas_id(ra, dec)
                    if oid in self.cat.by_id:
                        raise ValueError(f"objects: ATLAS id {oid} is already in the sandbox")
                    rows = curves.pop(oid, [])
                    first = min((r["mjd"] for r in rows), default=None)
                    record = dict(template, id=oid, ra=ra, dec=dec, detection_list_id=2, followup_id=oid % 10**8,
                                  date_inserted=data.mjd_to_iso(first) if first else None)
                    for column, key in (("name", "atlas_designation"), ("other_designation", "other_designation"),
                                        ("sherlock_class", "sherlockClassification"),
                                        ("detection_list_id", "detection_list_id")):
                        if column in objects and not _is_masked(objects[column][k]):
                            value = objects[column][k]
                            record[key] = int(value) if key == "detection_list_id" else str(value).strip()
                    self.cat.add_object(record, rows)
                    added.append(oid)
                if curves:
                    raise ValueError(f"lightcurves: rows for ids not in objects: {sorted(curves)[:5]}")
            except BaseException:
                self._set_objects(before)  # nothing half-loaded
                raise
            self._set_objects(len(self.cat.objects))
        return {"atlas_ids": added}

    def _prewarm(self):
        for i in range(self.n_objects):
            self.cat.rows(i)
            if i % 20 == 0:
                time.sleep(0.001)  # let requests through

    def _validate(self, payload, fields, form) -> dict:
        return validate(payload, fields, form, null_as_absent=self.null_as_absent)

    # ---- auth, permission, throttle -------------------------------------------

    def _token_user(self, key: str) -> dict:
        with self.lock:
            row = self.db.execute("SELECT username, created FROM tokens WHERE key=?", (key,)).fetchone()
        if row is None:
            raise self._unauth(INVALID_TOKEN)
        user = self.users[row[0]]
        if not user["active"]:
            raise self._unauth(INACTIVE)
        if not user["profile"]:
            raise self._unauth(NO_PROFILE)
        if not user["staff"] and (_now_us() - row[1]) / 1e6 > self.token_ttl:
            raise self._unauth(EXPIRED)
        return user

    @staticmethod
    def _unauth(detail: str) -> HTTPResult:
        return HTTPResult(401, {"detail": detail}, {"WWW-Authenticate": "Token"})

    def authenticate(self, headers, query: dict) -> dict | None:
        raw = headers.get("authorization")
        if raw is not None:
            parts = raw.encode("latin-1", "replace").split()
            if not parts or parts[0].lower() != b"token":
                parts = None  # another scheme: TokenAuthentication passes, QueryAuthentication decides
        if raw is not None and parts is not None:
            if len(parts) == 1:
                raise self._unauth(NO_CREDS)
            if len(parts) > 2:
                raise self._unauth(SPACES)
            try:
                key = parts[1].decode()
            except UnicodeError:
                raise self._unauth(BAD_CHARS) from None
            return self._token_user(key)
        if "token" in query:
            key = query["token"]
            if not re.fullmatch(r"\w+", key):
                raise self._unauth(BAD_FORMAT)
            return self._token_user(key)
        return None

    def _basic_authentication(self, headers) -> None:
        """``auth-token/`` authenticates a ``Basic`` header first, as DRF's BasicAuthentication does.

        The view keeps DRF's default authentication classes (Session, then Basic): a
        ``Basic`` header that is malformed or names no valid user fails with 403 (the
        first class, Session, gives no ``WWW-Authenticate``, so DRF answers 403, not
        401), before any throttle or field check. A valid one changes nothing.
        """
        parts = headers.get("authorization", "").encode("latin-1").split()
        if not parts or parts[0].lower() != b"basic":
            return
        if len(parts) == 1:
            raise HTTPResult(403, {"detail": "Invalid basic header. No credentials provided."})
        if len(parts) > 2:
            raise HTTPResult(403, {"detail": "Invalid basic header. Credentials string should not contain spaces."})
        try:
            raw = base64.b64decode(parts[1])
            try:
                decoded = raw.decode("utf-8")
            except UnicodeDecodeError:
                decoded = raw.decode("latin-1")
            username, password = decoded.split(":", 1)
        except (TypeError, ValueError, binascii.Error):
            raise HTTPResult(403, {"detail": "Invalid basic header. Credentials not correctly base64 encoded."}) \
                from None
        user = self.users.get(username)
        if user is None or user["password"] != password:
            raise HTTPResult(403, {"detail": "Invalid username/password."})
        if not user["active"]:
            raise HTTPResult(403, {"detail": INACTIVE})

    def throttle(self, key: str, rate: int) -> None:
        now = time.time()
        with self.throttle_lock:
            hist = self.history.setdefault(key, collections.deque())
            while hist and hist[0] <= now - self.period:
                hist.popleft()
            if len(hist) >= rate:
                remaining = self.period - (now - hist[0])
                available = rate - len(hist) + 1
                wait = remaining if available <= 0 else remaining / available
                wait = max(1, math.ceil(wait))
                unit = "second" if wait == 1 else "seconds"
                raise HTTPResult(429, {"detail": f"Request was throttled. Expected available in {wait} {unit}."},
                                 {"Retry-After": str(wait)})
            hist.append(now)

    # ---- dispatch ----------------------------------------------------------------

    def handle(self, name: str, method: str, headers, query: dict, body: bytes, client: str):
        kind = ENDPOINTS[name]
        try:
            if kind == "auth":
                self._basic_authentication(headers)
                self.throttle(f"anon:{client}", self.rates["anon"])
                if method == "OPTIONS":
                    return self._options(name)
                if method != "POST":
                    raise self._not_allowed(method, "POST, OPTIONS")
                payload, form = self._payload(method, headers, query, body)
                return self.auth_token(payload, form)
            user = self.authenticate(headers, query)
            if user is None:
                raise self._unauth(NOT_PROVIDED)
            if kind == "write" and method not in ("GET", "HEAD", "OPTIONS") and not (user["write"] or user["staff"]):
                raise HTTPResult(403, {"detail": FORBIDDEN})
            if user["staff"]:
                self.throttle(f"user:{user['username']}", self.rates["staff"])
            else:
                self.throttle(f"user:{user['username']}", self.rates["user"])
            if method == "OPTIONS":
                return self._options(name)
            if method not in ("GET", "HEAD", "POST"):
                raise self._not_allowed(method, "GET, POST, HEAD, OPTIONS")
            if kind == "write" and method != "POST" and name != "objectdetectionlist":
                return 200, GET_NOT_IMPLEMENTED
            payload, form = self._payload(method, headers, query, body)
            handler = getattr(self, "ep_" + name)
            if name in ("objects", "cone", "externalxmlist"):  # in-memory reads: no DB lock
                return handler(payload, form, user)
            with self.lock:
                return handler(payload, form, user)
        except HTTPResult as res:
            return res

    @staticmethod
    def _not_allowed(method: str, allow: str) -> HTTPResult:
        return HTTPResult(405, {"detail": f'Method "{method}" not allowed.'}, {"Allow": allow})

    @staticmethod
    def _options(name):
        return 200, {"name": VIEW_NAMES[name], "description": "",
                     "renders": ["application/json", "text/html"],
                     "parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"]}

    @staticmethod
    def _payload(method, headers, query, body):
        """The request data (a dict, or what the JSON body holds) and whether it came from a form."""
        if method in ("GET", "HEAD"):
            return query, True
        ctype = (headers.get("content-type") or "").split(";")[0].strip().lower()
        if not body and not ctype:
            return {}, True
        if ctype == "application/json":
            try:
                return json.loads(body.decode("utf-8") if body else ""), False
            except (ValueError, UnicodeError) as exc:
                raise HTTPResult(400, {"detail": f"JSON parse error - {exc}"}) from None
        if ctype == "application/x-www-form-urlencoded":
            return dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)), True
        if ctype == "multipart/form-data":
            return _parse_multipart(headers.get("content-type"), body), True
        raise HTTPResult(415, {"detail": f'Unsupported media type "{headers.get("content-type")}" in request.'})

    # ---- objects and records -------------------------------------------------------

    def record(self, i: int) -> dict:
        rec = self.cat.objects[i]
        ov = self.overrides.get(rec["id"])
        if ov:
            rec = dict(rec, detection_list_id=ov[0], date_modified=ov[1])
        return rec

    def index_of(self, oid: int) -> int | None:
        return self.cat.by_id.get(oid)

    def _xm_json(self, i: int) -> str:
        x = self.cat.extra[i]
        if "xm_json" not in x:
            xm = self.cat.crossmatches(i)
            x["xm_json"] = ",".join(f'"{k}":{json.dumps(xm[k], separators=(",", ":"))}' for k in (
                "sherlock_crossmatches", "sherlock_classifications", "tns_crossmatches", "external_crossmatches"))
        return x["xm_json"]

    # ---- endpoints ------------------------------------------------------------------

    def auth_token(self, payload, form):
        v = self._validate(payload, [Param("username", "str", True), Param("password", "str", True, trim=False)], form)
        user = self.users.get(v["username"])
        if user is None or user["password"] != v["password"] or not user["active"]:
            raise HTTPResult(400, {"non_field_errors": ["Unable to log in with provided credentials."]})
        if not user["profile"]:
            raise HTTPResult(500, html=HTML_500)
        with self.lock:
            row = self.db.execute("SELECT key, created FROM tokens WHERE username=?", (user["username"],)).fetchone()
            now = _now_us()
            refreshed = False
            if row is not None and (now - row[1]) / 1e6 > self.token_ttl:
                self.db.execute("DELETE FROM tokens WHERE username=?", (user["username"],))
                row = None
                refreshed = True
            if row is None:
                row = (secrets.token_hex(20), now)
                self.db.execute("INSERT INTO tokens VALUES (?, ?, ?)", (user["username"], row[0], row[1]))
        expires_in = self.token_ttl - (_now_us() - row[1]) / 1e6
        return 200, {"token": row[0], "expires_in": expires_in, "refreshed": refreshed}

    def ep_cone(self, payload, form, user):
        v = self._validate(payload, [Param("ra", "float", True), Param("dec", "float", True),
                               Param("radius", "float", True),
                               Param("requestType", "choice", True, choices=("nearest", "all", "count"))], form)
        if v["radius"] > 300:
            return 400, {"error": "Max radius is 300 arcsec."}
        ra, dec = math.radians(v["ra"]), math.radians(v["dec"])
        hav = (np.sin((self._dec - dec) / 2) ** 2
               + np.cos(dec) * np.cos(self._dec) * np.sin((self._ra - ra) / 2) ** 2)
        sep = np.degrees(2 * np.arcsin(np.sqrt(np.clip(hav, 0, 1)))) * 3600
        inside = np.flatnonzero(sep < v["radius"])
        inside = inside[np.argsort(sep[inside], kind="stable")]
        kind = v["requestType"]
        if kind == "count":
            return 200, {"count": int(len(inside))}
        hits = [{"object": self.cat.objects[i]["id"], "separation": float(sep[i]),
                 "objectname": self.cat.objects[i]["atlas_designation"]} for i in inside.tolist()]
        if kind == "nearest":
            return 200, (hits[0] if hits else {})
        return 200, hits

    def ep_objects(self, payload, form, user):
        v = self._validate(payload, [Param("objects", "str", True), Param("mjd", "float")], form)
        tokens = [t.strip() for t in v["objects"].split(",")]
        if len(tokens) > MAX_OBJECTS:
            return 200, {"info": "Max number of objects for each requests is 50,000"}
        try:
            ids = [int(t) for t in tokens]
        except ValueError:
            raise HTTPResult(500, html=HTML_500) from None
        mjd = v.get("mjd")
        pieces = [b"["]
        for n, oid in enumerate(ids):
            i = self.index_of(oid)
            if i is None:
                record = PLACEHOLDER
            else:
                cat = self.cat
                record = (f'{{"object":{json.dumps(self.record(i), separators=(",", ":"))},'
                          f'"lc":{cat.rows_json(i, "lc", mjd)},'
                          f'"lcnondets":{cat.rows_json(i, "lcnondets", mjd)},'
                          f'"fp":{cat.rows_json(i, "fp", mjd)},{self._xm_json(i)}}}')
            if n:
                pieces.append(b",")
            pieces.append(record.encode())
        pieces.append(b"]")
        return 200, JSONPieces(pieces)

    def _list_row(self, i: int, group: int | None) -> dict:
        rec = self.record(i)
        s = self.cat.summary(i)
        xm = self.cat.crossmatches(i)["sherlock_crossmatches"]
        best = xm[0] if xm else None
        row = {"rank": rec["followup_id"], "id": rec["id"], "atlas_designation": rec["atlas_designation"],
               "other_designation": rec["other_designation"]}
        if group is not None:
            row["local_comments"] = rec["local_comments"]
        row.update({
            "ra": rec["ra"], "dec": rec["dec"], "ra_avg": s["ra_avg"], "dec_avg": s["dec_avg"],
            "object_classification": rec["object_classification"],
            "sherlockClassification": rec["sherlockClassification"],
            "followup_flag_date": rec["followup_flag_date"], "observation_status": rec["observation_status"],
            "current_trend": rec["current_trend"],
            "earliest_mjd": s["earliest_mjd"], "earliest_mag": s["earliest_mag"],
            "earliest_filter": s["earliest_filter"], "latest_mjd": s["latest_mjd"],
            "latest_mag": s["latest_mag"], "latest_filter": s["latest_filter"],
            "catalogue": best["catalogue_table_name"] if best else None,
            "catalogue_object_id": best["catalogue_object_id"] if best else None,
            "separation": round(best["separationarcsec"], 2) if best else None})
        if group is not None:
            row.update({"object_group_id": group, "detection_list_id": rec["detection_list_id"],
                        "vra": rec["vra"], "rb_pix": rec["rb_pix"], "date_modified": rec["date_modified"],
                        "external_crossmatches": self.cat.external_names(i), "discovery_target": None,
                        "rms": s["rms"]})
        else:
            row.update({"vra": rec["vra"], "rb_pix": rec["rb_pix"], "date_modified": rec["date_modified"],
                        "external_crossmatches": self.cat.external_names(i), "discovery_target": None,
                        "rms": s["rms"], "detection_list_id": rec["detection_list_id"],
                        "images_id": rec["images_id"]})
        return row

    def ep_objectlist(self, payload, form, user):
        fields = [Param("objectlistid", "int", True), Param("getcustomlist", "bool", default=False),
                  Param("datethreshold", "datetime")]
        bounds = ["vra_gte", "vra_lte", "rb_pix_gte", "rb_pix_lte", "ra_gte", "ra_lte", "dec_gte", "dec_lte"]
        if self.list_filters:
            fields += [Param(b, "float") for b in bounds]
            fields += [Param("sherlock_class", "str"), Param("spec_type", "str")]
        v = self._validate(payload, fields, form)
        lid = v["objectlistid"]
        if v["getcustomlist"]:
            members = [r[0] for r in self.db.execute(
                "SELECT transient_object_id FROM object_groups WHERE object_group_id=? ORDER BY id", (lid,))]
            idx = [i for i in (self.index_of(m) for m in members) if i is not None]
            group = lid
        else:
            if lid >= 14 or lid < -14:
                raise HTTPResult(500, html=HTML_500)
            lid = lid % 14
            idx = [i for i in range(self.n_objects)
                   if self.record(i)["detection_list_id"] == lid and self.record(i)["followup_id"] is not None]
            idx.sort(key=lambda i: self.cat.objects[i]["followup_id"])
            group = None
        threshold = v.get("datethreshold")
        out = []
        for i in idx:
            rec = self.record(i)
            if threshold is not None:
                if rec["followup_flag_date"] is None:
                    continue
                flag = _dt.datetime.strptime(rec["followup_flag_date"], "%Y-%m-%dT%H:%M:%SZ").replace(
                    tzinfo=_dt.timezone.utc)
                if not flag > threshold:
                    continue
            if not self._passes_filters(rec, v, bounds):
                continue
            out.append(self._list_row(i, group))
        return 200, out

    @staticmethod
    def _passes_filters(rec, v, bounds) -> bool:
        for b in bounds:
            if b in v:
                key, op = b.rsplit("_", 1)
                value = rec[key]
                if value is None or (op == "gte" and value < v[b]) or (op == "lte" and value > v[b]):
                    return False
        if "sherlock_class" in v and rec["sherlockClassification"] != v["sherlock_class"]:
            return False
        if "spec_type" in v and rec["observation_status"] != v["spec_type"]:
            return False
        return True

    def _group_rows(self, where: str = "", args=()):
        return [{"id": r[0], "transient_object_id": r[1], "object_group_id": r[2]} for r in self.db.execute(
            f"SELECT id, transient_object_id, object_group_id FROM object_groups {where} ORDER BY id", args)]

    def ep_objectgroupslist(self, payload, form, user):
        v = self._validate(payload, [Param("objectid", "int"), Param("objectgroupid", "int")], form)
        if "objectid" in v and "objectgroupid" not in v:
            return 200, self._group_rows("WHERE transient_object_id=?", (v["objectid"],))
        if "objectgroupid" in v and "objectid" not in v:
            return 200, self._group_rows("WHERE object_group_id=?", (v["objectgroupid"],))
        return 200, self._group_rows()

    def ep_objectgroups(self, payload, form, user):
        v = self._validate(payload, [Param("objectid", "int", True), Param("objectgroupid", "int", True)], form)
        oid, gid = v["objectid"], v["objectgroupid"]
        if self.index_of(oid) is None:
            return 201, {"objectid": oid, "info": "Object does not exist."}
        if gid not in data.CUSTOM_GROUPS:
            return 201, {"objectgroupid": gid, "info": "Object group ID does not exist."}
        if self.db.execute("SELECT 1 FROM object_groups WHERE transient_object_id=? AND object_group_id=?",
                           (oid, gid)).fetchone():
            return 201, {"objectgroupid": oid, "info": "Duplicate row. Cannot add row."}
        self.db.execute("INSERT INTO object_groups (id, transient_object_id, object_group_id) VALUES "
                        "((SELECT COALESCE(MAX(id), 4981206) + 1 FROM object_groups), ?, ?)", (oid, gid))
        return 201, {"objectgroupid": oid, "info": "Row created."}

    def ep_objectgroupsdelete(self, payload, form, user):
        try:
            v = self._validate(payload, [Param("objectid", "int", True), Param("objectgroupid", "int", True)], form)
        except HTTPResult:
            raise HTTPResult(500, html=HTML_500) from None  # the view uses an unset variable
        oid, gid = v["objectid"], v["objectgroupid"]
        if self.index_of(oid) is None:
            return 400, {"objectid": oid, "info": "Object does not exist."}
        if gid not in data.CUSTOM_GROUPS:
            return 400, {"objectgroupid": gid, "info": "Object group ID does not exist."}
        cur = self.db.execute("DELETE FROM object_groups WHERE transient_object_id=? AND object_group_id=?",
                              (oid, gid))
        if cur.rowcount == 0:
            return 400, {"objectgroupid": gid, "objectid": oid,
                         "info": "Object group ID does not exist or object ID does not exist."}
        return 204, None

    def ep_vrascores(self, payload, form, user):
        v = self._validate(payload, [Param("objectid", "int", True)] + [Param(k, "float") for k in (
            "preal", "pgal", "pfast", "rank", "rank_alt1")] + [
            Param("is_gal_cand", "int"), Param("debug", "bool", default=False), Param("insertdate", "datetime")],
            form)
        oid = v["objectid"]
        if self.index_of(oid) is None:
            return 201, {"objectid": oid, "info": "Object does not exist."}
        when = _stamp_us(v.get("insertdate"))
        self.db.execute("INSERT INTO vra_scores (transient_object_id, preal, pgal, pfast, rank, rank_alt1, "
                        "is_gal_cand, timestamp, apiusername, username, debug) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (oid, v.get("preal"), v.get("pgal"), v.get("pfast"), v.get("rank"), v.get("rank_alt1"),
                         v.get("is_gal_cand"), when, user["username"], None, int(v["debug"])))
        return 201, {"objectid": oid, "info": "Row created."}

    @staticmethod
    def _id_tokens(text: str) -> list[int]:
        out = []
        for t in text.split(","):
            try:
                out.append(int(t.strip()))
            except ValueError:
                pass
        return out

    def ep_vrascoreslist(self, payload, form, user):
        v = self._validate(payload, [Param("objects", "str"), Param("debug", "bool", default=False),
                               Param("datethreshold", "datetime"), Param("idthreshold", "int", default=0)], form)
        cols = ("id, transient_object_id, preal, pgal, pfast, rank, rank_alt1, is_gal_cand, timestamp, "
                "apiusername, username, debug")
        if "objects" in v:
            ids = self._id_tokens(v["objects"])
            marks = ",".join("?" * len(ids)) or "NULL"
            rows = self.db.execute(f"SELECT {cols} FROM vra_scores WHERE transient_object_id IN ({marks}) "
                                   "AND debug = ? ORDER BY id", (*ids, int(v["debug"]))).fetchall()
        else:
            since = _us(v["datethreshold"]) if "datethreshold" in v else 0
            rows = self.db.execute(f"SELECT {cols} FROM vra_scores WHERE id >= ? AND timestamp >= ? ORDER BY id",
                                   (v["idthreshold"], since)).fetchall()
        keys = [c.strip() for c in cols.split(",")]
        out = []
        for r in rows:
            d = dict(zip(keys, r))
            d["timestamp"] = _iso_us(d["timestamp"])
            d["debug"] = None if d["debug"] is None else bool(d["debug"])
            out.append(d)
        return 200, out

    def ep_vratodo(self, payload, form, user):
        v = self._validate(payload, [Param("objectid", "int", True), Param("insertdate", "datetime")], form)
        oid = v["objectid"]
        if self.index_of(oid) is None:
            return 201, {"objectid": oid, "info": "Object does not exist."}
        if self.db.execute("SELECT 1 FROM vra_todo WHERE transient_object_id=?", (oid,)).fetchone():
            return 201, {"objectid": oid, "info": "Duplicate row. Cannot add row."}
        when = _stamp_us(v.get("insertdate"))
        self.db.execute("INSERT INTO vra_todo VALUES (?, ?)", (oid, when))
        return 201, {"objectid": oid, "info": "Row created."}

    def ep_vratodolist(self, payload, form, user):
        v = self._validate(payload, [Param("objects", "str"), Param("datethreshold", "datetime"),
                               Param("idthreshold", "int", default=0)], form)
        if "objects" in v:
            ids = self._id_tokens(v["objects"])
            marks = ",".join("?" * len(ids)) or "NULL"
            rows = self.db.execute("SELECT transient_object_id, timestamp FROM vra_todo WHERE transient_object_id "
                                   f"IN ({marks}) ORDER BY transient_object_id", ids).fetchall()
        else:
            since = _us(v["datethreshold"]) if "datethreshold" in v else 0
            rows = self.db.execute("SELECT transient_object_id, timestamp FROM vra_todo WHERE transient_object_id "
                                   ">= ? AND timestamp >= ? ORDER BY transient_object_id",
                                   (v["idthreshold"], since)).fetchall()
        return 200, [{"transient_object_id": r[0], "timestamp": _iso_us(r[1])} for r in rows]

    def ep_vrarank(self, payload, form, user):
        v = self._validate(payload, [Param("objectid", "int", True), Param("rank", "float", True),
                               Param("rank_alt1", "float"), Param("is_gal_cand", "int"),
                               Param("insertdate", "datetime")], form)
        oid = v["objectid"]
        if self.index_of(oid) is None:
            return 201, {"objectid": oid, "info": "Object does not exist."}
        when = _stamp_us(v.get("insertdate"))
        self.db.execute("INSERT OR REPLACE INTO vra_rank VALUES (?,?,?,?,?)",
                        (oid, v["rank"], v.get("rank_alt1"), v.get("is_gal_cand"), when))
        return 201, {"objectid": oid, "info": "Row created."}

    def ep_vraranklist(self, payload, form, user):
        v = self._validate(payload, [Param("objects", "str"), Param("datethreshold", "datetime")], form)
        cols = "transient_object_id, rank, rank_alt1, is_gal_cand, timestamp"
        if "objects" in v:
            ids = self._id_tokens(v["objects"])
            marks = ",".join("?" * len(ids)) or "NULL"
            rows = self.db.execute(f"SELECT {cols} FROM vra_rank WHERE transient_object_id IN ({marks}) "
                                   "ORDER BY transient_object_id", ids).fetchall()
        else:
            since = _us(v["datethreshold"]) if "datethreshold" in v else 0
            rows = self.db.execute(f"SELECT {cols} FROM vra_rank WHERE timestamp >= ? ORDER BY transient_object_id",
                                   (since,)).fetchall()
        return 200, [{"transient_object_id": r[0], "rank": r[1], "rank_alt1": r[2], "is_gal_cand": r[3],
                      "timestamp": _iso_us(r[4])} for r in rows]

    def ep_objectdetectionlist(self, payload, form, user):
        v = self._validate(payload, [Param("objectid", "int", True), Param("objectlist", "int", True),
                               Param("insertdate", "datetime")], form)
        oid = v["objectid"]
        if self.index_of(oid) is None:
            return 200, {"objectid": oid, "info": "Object does not exist."}
        if v["objectlist"] not in (3, 4, 12):
            return 200, {"objectid": oid, "info": "Error updating row."}
        when = _dt.datetime.fromtimestamp(_stamp_us(v.get("insertdate")) / 1e6, tz=_dt.timezone.utc)
        stamp = data.datetime_to_iso(when)
        self.db.execute("INSERT OR REPLACE INTO object_overrides VALUES (?, ?, ?)", (oid, v["objectlist"], stamp))
        self.overrides[oid] = (v["objectlist"], stamp)
        return 200, {"objectid": oid, "info": "Row created."}

    def ep_externalxmlist(self, payload, form, user):
        v = self._validate(payload, [Param("externalObjects", "str", default=None)], form)
        if self._xm_index is None:
            index = collections.defaultdict(list)
            for i in range(self.n_objects):
                xm = self.cat.crossmatches(i)
                for row in xm["tns_crossmatches"] + xm["external_crossmatches"]:
                    index[row["external_designation"]].append(row)
            self._xm_index = dict(index)
        text = v["externalObjects"]
        names = [] if text is None else [t.strip() for t in text.split(",")]
        return 200, [self._xm_index.get(n, []) for n in names]


def _parse_multipart(content_type: str, body: bytes) -> dict:
    import email.parser
    import email.policy
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    out = {}
    if msg.is_multipart():
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                payload = part.get_payload(decode=True) or b""
                out[name] = payload.decode("utf-8", "replace")
    return out


def _is_masked(value) -> bool:
    return value is np.ma.masked or (isinstance(value, float) and math.isnan(value))


def _number(value) -> float | None:
    return None if _is_masked(value) else float(value)


def _columns(table, required: tuple[str, ...], what: str) -> dict:
    """The columns of ``table`` by lower-case name; ValueError naming the ones missing."""
    columns = {name.lower(): table[name] for name in table.colnames}
    missing = [name for name in required if name not in columns]
    if missing:
        raise ValueError(f"{what}: the table needs the columns {', '.join(required)}; "
                         f"missing {', '.join(missing)} (has {', '.join(table.colnames)})")
    return columns


#: Where the sandbox answers name lookups as CDS Sesame does, for its own objects only, so that examples
#: that resolve names run offline: ``astropy.coordinates.name_resolve.sesame_url.set(root + "sesame/")``.
SESAME_PATH = "/sesame/"


def _sesame(svc: "AtlasService", request: Request) -> Response:
    """Sesame's plain-text answer (``%J ra dec``) for an ATLAS or TNS name of the sandbox's objects."""
    import urllib.parse

    name = urllib.parse.unquote(request.url.query).strip().casefold()
    for obj in svc.cat.objects:
        names = {str(n).casefold() for n in (obj.get("atlas_designation"), obj.get("other_designation")) if n}
        names |= {"at " + n for n in names} | {"at" + n for n in names}
        if name in names:
            text = f"# {name}\n#=S=Simbad (sandbox):    1\n%J {obj['ra']:.8f} {obj['dec']:+.8f}\n#====Done\n"
            break
    else:
        text = f"# {name}\n#! *** Nothing found *** \n#====Done\n"
    return Response(text.encode(), media_type="text/plain; charset=utf-8")


def create_service(ctx: SandboxContext) -> SandboxService:
    svc = AtlasService(ctx)
    app = FastAPI(title="ATLAS Transient Server (sandbox)", docs_url=None, redoc_url=None, openapi_url=None)
    route = re.compile(r"^/api/([A-Za-z-]+)(/?)$")

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
                   include_in_schema=False)
    async def dispatch(request: Request, path: str):
        response = await answer(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    async def answer(request: Request):
        if request.url.path.startswith(SESAME_PATH):
            return _sesame(svc, request)
        m = route.match(request.url.path)
        if not m or m.group(1) not in ENDPOINTS:
            return _html(404, HTML_404)
        if not m.group(2):  # Django APPEND_SLASH
            location = request.url.path + "/"
            if request.url.query:
                location += "?" + request.url.query
            return Response(b"", status_code=301, headers={"Location": location},
                            media_type="text/html; charset=utf-8")
        body = await request.body()
        query = dict(request.query_params)
        client = request.client.host if request.client else "unknown"
        try:
            result = await run_in_threadpool(svc.handle, m.group(1), request.method, request.headers, query,
                                             body, client)
        except Exception:  # noqa: BLE001 - the real server answers an HTML 500
            import traceback
            traceback.print_exc()
            return _html(500, HTML_500)
        view_headers = {"Allow": ALLOW[ENDPOINTS[m.group(1)]], "Vary": "Accept"}
        if isinstance(result, HTTPResult):
            if result.html is not None:
                return _html(result.status, result.html)
            return _json_response(result.status, result.body, {**view_headers, **result.headers})
        status, body_out = result
        if status == 204:
            return Response(status_code=204, headers=view_headers)
        if isinstance(body_out, JSONPieces):
            return body_out.response(status, view_headers)
        return _json_response(status, body_out, view_headers)

    users = {}
    for name, u in svc.users.items():
        users[name] = {"username": name, "password": u["password"], "token": u["token"],
                       "write_access": u["write"] or u["staff"], "staff": u["staff"], "active": u["active"],
                       "token_expired": u["expired_at_start"], "group_has_profile": u["profile"],
                       "description": u["description"]}
    cat = svc.cat
    anchor_n = min(len(data.ANCHORS), svc.n_objects)
    with_fp = next((o["id"] for i, o in enumerate(cat.objects) if cat.extra[i]["has_fp"]), None)
    main_counts = collections.Counter(svc.record(i)["detection_list_id"] for i in range(svc.n_objects)
                                      if cat.objects[i]["followup_id"] is not None)
    info = {
        "n_objects": svc.n_objects,
        "lc_length": svc.lc_length,
        "token_ttl": svc.token_ttl,
        "throttle": {"rate": svc.rates["user"], "staff_rate": svc.rates["staff"],
                     "anon_rate": svc.rates["anon"], "period": svc.period},
        "mjd_range": [cat.mjd_start, cat.mjd_end],
        "example_ids": [o["id"] for o in cat.objects[:anchor_n]] + [o["id"] for o in cat.objects[anchor_n:anchor_n + 5]],
        "positions": [{"id": o["id"], "ra": o["ra"], "dec": o["dec"]} for o in cat.objects[:10]],
        "missing_id": data.MISSING_ID,
        "cluster": cat.cluster,
        "fixture_pair": {"ra": 0.0216, "dec": 31.7818, "radius": 60.0,
                         "ids": [1000005291314656200, 1000003581314708200]} if anchor_n >= 2 else None,
        "tns_example": {"name": "2020tjh", "id": 1000005291314656200} if anchor_n else None,
        "object_with_fp": with_fp,
        "custom_groups": {str(k): v for k, v in data.CUSTOM_GROUPS.items()},
        "missing_group": 999,
        "main_lists": {str(k): v for k, v in enumerate(data.MAIN_LISTS)},
        "main_list_sizes": {str(k): main_counts.get(k, 0) for k in range(14)},
    }
    return SandboxService(app=app, root="/api/", credentials=dict(users["vra_bot"]), users=users, info=info,
                          reset=svc.reset, load=svc.load,
                          controls={"expire-access-tokens": svc.expire_access_tokens,
                                    "end-throttle-windows": svc.end_throttle_windows})
