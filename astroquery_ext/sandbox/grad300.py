"""GRAD300 radio-telescope backend: a faithful local server.

The real backend is a FastAPI "full-stack template" fork; this app speaks the
same wire protocol under ``/api/v1``:

``POST /api/v1/login/access-token``           OAuth2 password form -> ``{"access_token", "token_type"}``
``POST /api/v1/login/test-token``             the token's user (``UserPublic``); GET too with ``test_token_get``
``GET /api/v1/users/me``                      same payload
``GET /api/v1/utils/health-check/``           ``true``
``GET /api/v1/scans/{scan_type}/``            bare JSON array; ``offset``, ``limit`` and filters
``GET /api/v1/scans/{scan_type}/{id}/download`` FITS bytes, ``Range`` support, streamed from disk
``GET /api/v1/openapi.json``, ``/docs``

``scan_type`` is one of ``TPI``, ``Images``, ``Spectrum``, ``OnOff``; ids are
per scan type (``TPI`` 1 and ``Images`` 1 are different scans). The listing
route needs its trailing slash: without it FastAPI answers 307, as the real
backend would.

Options (``Sandbox(services={"grad300": {...}})``):

``n_scans`` (300)            total scans split 40/35/15/10 % over TPI/Images/Spectrum/OnOff,
                             or a dict ``{"TPI": n, "Images": n, ...}`` (missing types: 0)
``tpi_rows`` (2000)          max rows of a TPI file (124 B each); rows drawn from
                             [max/10, max]; or ``[min, max]``. Real files: 3000-30000 rows.
``image_size`` (75)          max N of the N x N Images (real sizes 3...75 are used)
``spectrum_rows`` (15)       max rows of a Spectrum file (16 460 B each); real: 3, 6, 15
``onoff_reps`` (20)          max repetitions of an OnOff file (8 rows each)
``big_file_mb`` (0)          if > 0, one extra TPI scan of about this many MiB (last TPI id);
                             synthesised in a background thread at startup, streamed to disk
``quirks`` ("some")          "none": standard padded FITS; "all": every file as RadioUniversePRO
                             writes them (no final padding, non-standard ``DIAMETER =`` card);
                             "some": only scans with ``id % 10 == 7``
``specials`` (True)          embed the special scans listed in ``info["special"]`` (hostile
                             file names, non-ASCII name, empty and corrupt files)
``content_disposition``      "starlette" (default; what FileResponse sends: ``filename*=utf-8''``
                             whenever quoting changes the name, so always for names with ``#``);
                             "quoted" (relaxed mode): ``attachment; filename="<name>"`` (plus
                             ``filename*=`` for non-ASCII names); "rfc5987": only
                             ``filename*=UTF-8''...``; "both"; "none": no header.
                             Production's form is unknown: the default is the more demanding one
``test_token_get`` (False)   also answer ``GET /login/test-token`` (relaxed mode), as the seed client
                             sends it; the template the backend forks has POST only
``token_ttl`` (691200)       seconds a token lives (template default: 8 days)
``max_limit`` (1000)         largest ``limit``; above it 422 ``less_than_equal``
``ignore_filters`` ([])      filters the server ignores, like an older backend
                             (``true`` for all of source/scan_name/date_from/date_to)
``require_auth`` (True)      bearer token needed on /scans
``prebuild`` (False)         synthesise every file at startup instead of on first download

Users (``Sandbox.users("grad300")``, keyed by e-mail): ``student@example.com``
(default, active), ``observer@example.com`` (active superuser),
``inactive@example.com`` (inactive: login answers 400 "Inactive user"). Each
entry has ``username`` (= e-mail), ``password``, ``id`` and, for active users,
a ``token`` issued at startup.

``Sandbox.info("grad300")`` keys: ``api_prefix``, ``scan_types``, ``counts``
(scans per type), ``max_limit``, ``token_ttl``, ``content_disposition``,
``ignore_filters``, ``require_auth``, ``quirks``, ``quirky_rule``, ``special``
(each entry ``{"scan_type", "id", "file_name", "size"}``: ``empty_tpi``,
``corrupt_azel``, ``non_ascii_name``, ``empty_object``, ``hostile`` (a list),
``big_file``), ``tokens`` (``expired``, ``inactive_user``, ``unknown_user``,
``bad_signature``: JWTs for the error paths), ``fingerprint``, ``started``.

Filters follow the seed client's own semantics: ``source`` and ``scan_name``
are case-insensitive (casefold) substrings of ``object`` and ``file_name``;
``date_from``/``date_to`` are inclusive bounds on ``date``, naive values taken
as UTC. Records are ordered by ascending id.
"""


import enum
import hashlib
import json
import re
import shutil
import sqlite3
import threading
import time
import unicodedata
import uuid
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import jwt
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as FastAPIPath
from fastapi.responses import Response, StreamingResponse
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from astroquery_ext.sandbox import _grad300_fits as fitsgen
from astroquery_ext.sandbox._grad300_data import SCAN_TYPES, _generate, _Params
from astroquery_ext.sandbox._service import SandboxContext, SandboxService, TokenLedger

__all__ = ["create_service"]

#: Integers the database takes (PostgreSQL's bigint, SQLite's INTEGER); larger ones get a 422, not a crash.
_INT64_MAX = 2**63 - 1
API_PREFIX = "/api/v1"


class ScanType(str, enum.Enum):
    TPI = "TPI"
    Images = "Images"
    Spectrum = "Spectrum"
    OnOff = "OnOff"


_USERS = [
    # email, password, active, superuser, full name
    ("student@example.com", "student-secret", True, False, "A. Student"),
    ("observer@example.com", "observer-secret", True, True, "The Observer"),
    ("inactive@example.com", "inactive-secret", False, False, "Former Student"),
]




_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE scans (
    scan_type TEXT NOT NULL, id INTEGER NOT NULL,
    object_cf TEXT NOT NULL, name_cf TEXT NOT NULL, date_ts REAL NOT NULL,
    size INTEGER NOT NULL, record TEXT NOT NULL, synth TEXT NOT NULL,
    PRIMARY KEY (scan_type, id)
) WITHOUT ROWID;
"""

_SYNTH_KEYS = ("scan_type", "id", "date", "date_end", "object", "project", "counter", "ra", "dec",
               "nrows", "raw", "garbage", "file_name", "azimuth_center", "elevation_center")


def _build_catalogue(db_path: Path, params: _Params, seed: int, fingerprint: str) -> dict:
    scans, special = _generate(params, seed)
    tmp = db_path.with_name(f"{db_path.name}.{uuid.uuid4().hex}.tmp")
    con = sqlite3.connect(tmp)
    try:
        con.executescript(_SCHEMA)
        rows = []
        for s in scans:
            ts = datetime.fromisoformat(s["date"].replace("Z", "+00:00")).timestamp()
            synth = {k: s.get(k) for k in _SYNTH_KEYS}
            rows.append((s["scan_type"], s["id"], s["object"].casefold(), s["file_name"].casefold(),
                         ts, s["size"], json.dumps(s["record"], ensure_ascii=False),
                         json.dumps(synth, ensure_ascii=False)))
        con.executemany("INSERT INTO scans VALUES (?,?,?,?,?,?,?,?)", rows)
        con.execute("CREATE INDEX scans_date ON scans (scan_type, date_ts)")
        con.executemany("INSERT INTO meta VALUES (?, ?)",
                        [("fingerprint", fingerprint), ("special", json.dumps(special))])
        con.commit()
    finally:
        con.close()
    tmp.replace(db_path)
    return special


def _open_catalogue(db_path: Path, fingerprint: str) -> dict | None:
    """The ``special`` info of an existing catalogue with this fingerprint, else None."""
    if not db_path.exists():
        return None
    try:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            meta = dict(con.execute("SELECT key, value FROM meta"))
        finally:
            con.close()
    except sqlite3.Error:
        return None
    if meta.get("fingerprint") != fingerprint:
        return None
    return json.loads(meta["special"])


# -- HTTP helpers -------------------------------------------------------------------

def _content_disposition(name: str, mode: str) -> str | None:
    encoded = quote(name, safe="")
    ascii_only = all(32 <= ord(c) < 127 for c in name)
    fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    if mode == "none":
        return None
    if mode == "starlette":
        q = quote(name)
        return f"attachment; filename*=utf-8''{q}" if q != name else f'attachment; filename="{name}"'
    if mode == "rfc5987":
        return f"attachment; filename*=UTF-8''{encoded}"
    if mode == "both" or not ascii_only:
        return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    return f'attachment; filename="{name}"'


_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")


def _parse_range(header: str | None, size: int):
    """``None`` (serve everything), ``"unsatisfiable"``, or ``(start, end)`` inclusive."""
    if not header:
        return None
    match = _RANGE.fullmatch(header)
    if not match:  # malformed or several ranges: ignored, the whole file is sent (RFC 9110)
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    start = int(first)
    if last and int(last) < start:  # invalid: ignored
        return None
    if start >= size:
        return "unsatisfiable"
    end = int(last) if last else size - 1
    return start, min(end, size - 1)


def _iter_file(path: Path, start: int, length: int, chunk: int = 1 << 20):
    with open(path, "rb") as handle:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            data = handle.read(min(chunk, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data


# -- the service ----------------------------------------------------------------------

def create_service(ctx: SandboxContext) -> SandboxService:
    opts = dict(ctx.options)
    params = _Params(opts)
    token_ttl = float(opts.get("token_ttl", 11520 * 60))
    max_limit = int(opts.get("max_limit", 1000))
    disposition_mode = str(opts.get("content_disposition", "starlette"))
    test_token_get = bool(opts.get("test_token_get", False))
    if disposition_mode not in ("quoted", "rfc5987", "both", "starlette", "none"):
        raise ValueError("content_disposition must be quoted, rfc5987, both, starlette or none")
    ignored = opts.get("ignore_filters", [])
    all_filters = {"source", "scan_name", "date_from", "date_to"}
    ignored = all_filters if ignored is True else set(ignored or ())
    require_auth = bool(opts.get("require_auth", True))

    data_dir = Path(ctx.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = params.fingerprint(ctx.seed)
    db_path = data_dir / "grad300.sqlite"
    special = _open_catalogue(db_path, fingerprint)
    if special is None:
        special = _build_catalogue(db_path, params, ctx.seed, fingerprint)
    files_root = data_dir / "files"
    files_dir = files_root / fingerprint
    if files_root.exists():  # files of another catalogue are stale
        for stale in files_root.iterdir():
            if stale.name != fingerprint and stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)

    secret = hashlib.sha256(f"grad300-sandbox-secret:{ctx.seed}".encode()).hexdigest()
    created = datetime(2026, 1, 15, 9, 12, 44, tzinfo=timezone.utc)
    users = {}
    for i, (email, password, active, superuser, full_name) in enumerate(_USERS):
        uid = str(uuid.UUID(bytes=hashlib.sha256(f"{ctx.seed}:{email}".encode()).digest()[:16], version=4))
        users[uid] = {"email": email, "password": password, "is_active": active,
                      "is_superuser": superuser, "full_name": full_name, "id": uid,
                      "created_at": (created + timedelta(days=i)).isoformat().replace("+00:00", "Z")}
    by_email = {u["email"]: u for u in users.values()}

    tokens = TokenLedger()  # what a test expires with the "expire-access-tokens" control

    def issue(uid: str, lifetime: float = token_ttl) -> str:
        exp = int(time.time() + lifetime)  # whole seconds, as PyJWT writes a datetime
        return tokens.mint(lambda extra: jwt.encode({"exp": exp + extra, "sub": uid}, secret, algorithm="HS256"))

    def public(user: dict) -> dict:
        return {k: user[k] for k in ("email", "is_active", "is_superuser", "full_name", "id",
                                     "created_at")}

    # -- database access (one read-only connection per worker thread) --
    local = threading.local()

    def db() -> sqlite3.Connection:
        con = getattr(local, "con", None)
        if con is None:
            con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, check_same_thread=False)
            local.con = con
        return con

    build_locks: dict[tuple[str, int], threading.Lock] = {}
    build_locks_guard = threading.Lock()

    def ensure_file(scan_type: str, scan_id: int, synth: dict, size: int) -> Path:
        if "user_file" in synth:  # a scan loaded from the user's file: served as it is
            return Path(synth["user_file"])
        path = files_dir / scan_type / f"{scan_id}.fits"
        if path.exists() and path.stat().st_size == size:
            return path
        with build_locks_guard:
            lock = build_locks.setdefault((scan_type, scan_id), threading.Lock())
        with lock:
            if not (path.exists() and path.stat().st_size == size):
                fitsgen.write_scan_file(path, synth, ctx.seed)
        return path

    def lookup(scan_type: str, scan_id: int):
        return db().execute("SELECT record, synth, size FROM scans WHERE scan_type=? AND id=?",
                            (scan_type, scan_id)).fetchone()

    def build_all(only: list[tuple[str, int]] | None = None) -> None:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT scan_type, id, synth, size FROM scans").fetchall()
        finally:
            con.close()
        for scan_type, scan_id, synth, size in rows:
            if only is None or (scan_type, scan_id) in only:
                ensure_file(scan_type, scan_id, json.loads(synth), size)

    # -- the user's own scans (Sandbox.load_data("grad300", scans=[...])), dropped by reset --
    loaded_dir = data_dir / "loaded"
    write_lock = threading.Lock()

    def reset() -> None:
        with write_lock:
            con = sqlite3.connect(db_path)
            try:
                con.execute("DELETE FROM scans WHERE synth LIKE '{\"user_file\"%'")
                con.commit()
            finally:
                con.close()
            shutil.rmtree(loaded_dir, ignore_errors=True)

    def load(payload: dict) -> dict:
        """Scan FITS files of the user's own: ``scans`` (paths), optional ``scan_type`` (else read
        from the file name's tag, e.g. ``..._TPI-...``, or the OBSMODE/EXTNAME of the file)."""
        unknown = set(payload) - {"scans", "scan_type"}
        if unknown or not payload.get("scans"):
            raise ValueError("the GRAD300 sandbox loads scans= (a list of FITS files) and optionally "
                             f"scan_type=; got {', '.join(sorted(payload)) or 'nothing'}")
        given = payload.get("scan_type")
        if given is not None and given not in SCAN_TYPES:
            raise ValueError(f"scan_type must be one of {', '.join(SCAN_TYPES)}; got {given!r}")
        added = []
        with write_lock:
            con = sqlite3.connect(db_path)
            try:
                for source in payload["scans"]:
                    scan_type = given or _scan_type_of(Path(source))
                    scan_id = con.execute("SELECT coalesce(max(id), 0) + 1 FROM scans WHERE scan_type=?",
                                          (scan_type,)).fetchone()[0]
                    target = loaded_dir / scan_type / f"{scan_id}.fits"
                    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    shutil.copyfile(source, target)
                    record = _record_of(target, Path(source).name, scan_id, scan_type)
                    con.execute("INSERT INTO scans VALUES (?,?,?,?,?,?,?,?)", (
                        scan_type, scan_id, record["object"].casefold(), record["file_name"].casefold(),
                        datetime.fromisoformat(record["date"].replace("Z", "+00:00")).timestamp(),
                        record["size"], json.dumps(record, ensure_ascii=False),
                        json.dumps({"user_file": str(target)})))
                    added.append({"scan_type": scan_type, "id": scan_id, "file_name": record["file_name"]})
                con.commit()
            finally:
                con.close()
        return {"scans": added}

    reset()  # a catalogue kept in data_dir holds no scans loaded by an earlier run

    if opts.get("prebuild"):
        build_all()
    elif "big_file" in special:
        big = special["big_file"]
        threading.Thread(target=build_all, args=([(big["scan_type"], big["id"])],),
                         name="grad300-big-file", daemon=True).start()

    # -- auth dependencies --
    oauth2 = OAuth2PasswordBearer(tokenUrl=f"{API_PREFIX}/login/access-token", auto_error=False)

    def current_user(token: Annotated[str | None, Depends(oauth2)]) -> dict:
        if not token:
            raise HTTPException(status_code=401, detail="Not authenticated",
                                headers={"WWW-Authenticate": "Bearer"})
        try:
            if tokens.expired(token):
                raise jwt.ExpiredSignatureError("expired by the sandbox's control")
            payload = jwt.decode(token, secret, algorithms=["HS256"])
            uid = str(payload["sub"])
        except (jwt.InvalidTokenError, KeyError, TypeError):
            raise HTTPException(status_code=403, detail="Could not validate credentials") from None
        user = users.get(uid)
        if user is None:
            raise HTTPException(status_code=404, detail="User not found")
        if not user["is_active"]:
            raise HTTPException(status_code=400, detail="Inactive user")
        return user

    def scans_user(token: Annotated[str | None, Depends(oauth2)]) -> dict | None:
        if not require_auth and not token:
            return None
        return current_user(token)

    app = FastAPI(title="GRAD300 backend (astroquery-ext sandbox)",
                  openapi_url=f"{API_PREFIX}/openapi.json", docs_url="/docs", redoc_url="/redoc")
    router = APIRouter(prefix=API_PREFIX)

    @router.post("/login/access-token", tags=["login"])
    def login_access_token(form: Annotated[OAuth2PasswordRequestForm, Depends()]):
        user = by_email.get(form.username)
        if user is None or user["password"] != form.password:
            raise HTTPException(status_code=400, detail="Incorrect email or password")
        if not user["is_active"]:
            raise HTTPException(status_code=400, detail="Inactive user")
        return {"access_token": issue(user["id"]), "token_type": "bearer"}

    # The template defines POST only; the seed client sends GET. Production unknown: POST only
    # unless test_token_get (relaxed mode), which answers both.
    @router.post("/login/test-token", tags=["login"])
    def test_token(user: Annotated[dict, Depends(current_user)]):
        return public(user)

    if test_token_get:
        @router.get("/login/test-token", tags=["login"])
        def test_token_by_get(user: Annotated[dict, Depends(current_user)]):
            return public(user)

    @router.get("/users/me", tags=["users"])
    def read_user_me(user: Annotated[dict, Depends(current_user)]):
        return public(user)

    @router.get("/utils/health-check/", tags=["utils"])
    def health_check() -> bool:
        return True

    @router.get("/scans/{scan_type}/", tags=["scans"])
    def list_scans(
        scan_type: ScanType,
        user: Annotated[dict | None, Depends(scans_user)],
        offset: Annotated[int, Query(ge=0, le=_INT64_MAX)] = 0,
        limit: Annotated[int, Query(ge=1, le=max_limit)] = 100,
        source: str | None = None,
        scan_name: str | None = None,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
    ):
        where, args = ["scan_type = ?"], [scan_type.value]
        if source is not None and "source" not in ignored:
            where.append("instr(object_cf, ?) > 0")
            args.append(source.casefold())
        if scan_name is not None and "scan_name" not in ignored:
            where.append("instr(name_cf, ?) > 0")
            args.append(scan_name.casefold())
        for bound, op, name in ((date_from, ">=", "date_from"), (date_to, "<=", "date_to")):
            if bound is not None and name not in ignored:
                if bound.tzinfo is None:
                    bound = bound.replace(tzinfo=timezone.utc)
                where.append(f"date_ts {op} ?")
                args.append(bound.timestamp())
        sql = (f"SELECT record FROM scans WHERE {' AND '.join(where)} "
               f"ORDER BY id LIMIT ? OFFSET ?")
        rows = db().execute(sql, (*args, limit, offset)).fetchall()
        body = "[" + ",".join(r[0] for r in rows) + "]"
        return Response(body.encode("utf-8"), media_type="application/json")

    @router.get("/scans/{scan_type}/{scan_id}/download", tags=["scans"])
    def download_scan(scan_type: ScanType, scan_id: Annotated[int, FastAPIPath(ge=-_INT64_MAX - 1, le=_INT64_MAX)],
                      request: Request,
                      user: Annotated[dict | None, Depends(scans_user)]):
        row = lookup(scan_type.value, scan_id)
        if row is None:
            raise HTTPException(status_code=404, detail="Scan not found")
        record, synth, size = json.loads(row[0]), json.loads(row[1]), row[2]
        path = ensure_file(scan_type.value, scan_id, synth, size)
        mtime = datetime.fromisoformat(record["mtime"].replace("Z", "+00:00"))
        etag = '"' + hashlib.sha256(f"{fingerprint}:{scan_type.value}:{scan_id}:{size}".encode()
                                    ).hexdigest()[:32] + '"'
        last_modified = format_datetime(mtime, usegmt=True)
        headers = {"Accept-Ranges": "bytes", "ETag": etag, "Last-Modified": last_modified}
        disposition = _content_disposition(record["file_name"], disposition_mode)
        if disposition:
            headers["Content-Disposition"] = disposition
        wanted = _parse_range(request.headers.get("range"), size)
        if_range = request.headers.get("if-range")
        if wanted is not None and if_range is not None and if_range.strip() not in (etag, last_modified):
            wanted = None
        if wanted == "unsatisfiable":
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}",
                                                      "Accept-Ranges": "bytes"})
        if wanted is None:
            start, length, status = 0, size, 200
        else:
            start, end = wanted
            length, status = end - start + 1, 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(length)
        return StreamingResponse(_iter_file(path, start, length), status_code=status,
                                 headers=headers, media_type="application/fits")

    app.include_router(router)

    default = by_email[_USERS[0][0]]
    inactive = by_email["inactive@example.com"]

    def account(user: dict) -> dict:
        entry = {"username": user["email"], "email": user["email"], "password": user["password"],
                 "is_active": user["is_active"], "is_superuser": user["is_superuser"],
                 "full_name": user["full_name"], "id": user["id"]}
        if user["is_active"]:
            entry["token"] = issue(user["id"])
        return entry

    counts = dict(db().execute("SELECT scan_type, count(*) FROM scans GROUP BY scan_type"))
    info = {
        "api_prefix": API_PREFIX,
        "scan_types": list(SCAN_TYPES),
        "counts": {t: counts.get(t, 0) for t in SCAN_TYPES},
        "max_limit": max_limit,
        "token_ttl": token_ttl,
        "content_disposition": disposition_mode,
        "test_token_get": test_token_get,
        "ignore_filters": sorted(ignored),
        "require_auth": require_auth,
        "quirks": params.quirks,
        "quirky_rule": {"none": "never", "all": "always", "some": "id % 10 == 7"}[params.quirks],
        "special": special,
        "tokens": {
            "expired": issue(default["id"], lifetime=-3600),
            "inactive_user": issue(inactive["id"]),
            "unknown_user": jwt.encode({"exp": datetime.now(timezone.utc) + timedelta(days=1),
                                        "sub": str(uuid.UUID(int=0))}, secret, algorithm="HS256"),
            "bad_signature": jwt.encode({"exp": datetime.now(timezone.utc) + timedelta(days=1),
                                         "sub": default["id"]}, "not-the-sandbox-secret-" * 3, algorithm="HS256"),
        },
        "fingerprint": fingerprint,
        "started": time.time(),
    }
    return SandboxService(
        app=app, root=f"{API_PREFIX}/",
        credentials=account(default),
        users={u["email"]: account(u) for u in users.values()},
        info=info, reset=reset, load=load,
        controls={"expire-access-tokens": tokens.expire_all},
    )


def _scan_type_of(path: Path) -> str:
    """The scan type a file states: its name's tag (``_TPI-``...), else OBSMODE or EXTNAME."""
    from astropy.io import fits

    from astroquery_ext.sandbox._grad300_data import TAGS

    for scan_type, tag in TAGS.items():
        if f"_{tag}-" in path.name.upper():
            return scan_type
    with fits.open(path) as hdul:
        for hdu in hdul:
            for key in ("OBSMODE", "EXTNAME"):
                word = str(hdu.header.get(key, "")).upper()
                for scan_type, tag in TAGS.items():
                    if word.startswith(tag) or word == scan_type.upper():
                        return scan_type
    raise ValueError(f"{path.name}: cannot tell its scan type (no _TPI-/_IMAGE-/_SPECTRUM-/_ONOFF- in the "
                     "name, no OBSMODE); give scan_type=")


def _record_of(path: Path, name: str, scan_id: int, scan_type: str) -> dict:
    """The listing record of a scan file, from its header (as the backend indexes its files)."""
    from astropy.io import fits

    def iso(text) -> str | None:
        if not text:
            return None
        when = datetime.fromisoformat(str(text).strip()[:19])
        return when.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z")

    with fits.open(path) as hdul:
        header = {}
        nsamples = None
        for hdu in hdul:
            for key in ("OBJECT", "DATE-OBS", "DATE-END", "RA", "DEC"):
                if key in hdu.header and key not in header:
                    header[key] = hdu.header[key]
            if nsamples is None and isinstance(hdu, fits.BinTableHDU):
                nsamples = hdu.header.get("NAXIS2")
    date = iso(header.get("DATE-OBS")) or iso(datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
                                              .strftime("%Y-%m-%dT%H:%M:%S"))
    end = iso(header.get("DATE-END")) or date

    def number(key):
        try:
            return float(header[key])
        except (KeyError, TypeError, ValueError):
            return None

    return {"id": scan_id, "file_path": f"/data/GRAD-300/{date[:10].replace('-', '')}/FITS/{name}",
            "file_name": name, "size": path.stat().st_size, "ctime": date, "mtime": end,
            "object": str(header.get("OBJECT", "")).strip(), "ra": number("RA"), "dec": number("DEC"),
            "gain": None, "comment": None, "date": date, "date_obs": date, "date_end": end,
            "azimuth": None, "elevation": None,
            "nsamples": nsamples if scan_type in ("TPI", "Spectrum") else None}
