"""Tupli sandbox: pytupli 1.2.9's own FastAPI server, with MongoDB replaced in-process.

This module does not implement Tupli. It imports ``pytupli.server.main:app`` and
runs it unchanged (routes, JWT, RBAC, filters, the DB handler's logic and the
bootstrap of roles and ``admin``), after swapping the database underneath:

* motor's ``AsyncIOMotorClient`` becomes a ``mongomock_motor.AsyncMongoMockClient``
  (an in-memory MongoDB emulation);
* motor's ``AsyncIOMotorGridFSBucket`` (artifact files) becomes :class:`BlobBucket`,
  a small async bucket of our own: the GridFS ``<bucket>.files`` documents live
  in mongomock (so pytupli's ``metadata.*`` queries run as usual) and the file
  bytes live in files under the service's data dir, not in memory. The option
  ``artifact_store="gridfs"`` keeps the bytes in mongomock instead, through
  pymongo's synchronous GridFS and mongomock's gridfs integration;
* ``dotenv.load_dotenv`` becomes a no-op, so a stray ``.env`` cannot override
  the settings below (pytupli calls ``load_dotenv(override=True)`` at import);
* the token lifetimes, open-access/open-signup flags and bcrypt cost are set on
  pytupli's module constants (setting pytupli's ``*_TOKEN_EXPIRE_MINUTES`` env
  vars breaks its login with a 500, so they are removed from the environment);
* pytupli's token minting and checking are wrapped (`_expiring_tokens`) for one
  test control, ``Sandbox.control("tupli", "expire-access-tokens")``: every
  access token issued so far is answered as an expired one is (401 "Could not
  validate credentials"), refresh tokens stay valid, so a test passes an access
  token's lifetime without waiting for it.

The service runs in its own process (see ``_server.py``), so patching pytupli's
modules and the environment here affects nothing else.

URL layout: the API sits at the server root (``Sandbox.url("tupli")`` is
``http://127.0.0.1:PORT/``): ``/access/users/token``, ``/benchmarks/list``,
``/artifacts/upload``..., as pytupli's server has them. pytupli's own client
builds URLs as ``f"{base_url}/access/..."``, so give it the URL without the
trailing slash.

Users (``Sandbox.users("tupli")``): ``admin`` (pytupli's bootstrap user,
membership ``global: [admin]``), plus ``alice`` and ``bob``, ordinary users
created at startup through pytupli's own ``/access/users/create`` route.
``Sandbox.credentials("tupli")`` is alice's. With the sample data, alice created
the group ``team`` (roles ``group_admin, contributor``) and bob is a ``member``.

Options (``Sandbox(services={"tupli": {...}})``):

``admin_password`` (``"pytupli"``)       password of ``admin`` (pytupli's ``DB_ADMIN_PW``)
``users`` (alice/bob)                    ``{name: password}`` of the ordinary users
``secret_key`` (from the seed)           JWT HS256 key (``API_SECRET_KEY``)
``access_token_minutes`` (30)            access-token lifetime; floats allowed (0.05 = 3 s)
``refresh_token_minutes`` (12600)        refresh-token lifetime
``open_access`` ("True")                 anonymous requests act as pytupli's guest. Read as a
                                         deployment reads OPEN_ACCESS_MODE: any non-empty string,
                                         even "False", leaves it open; "" or False closes it
``open_signup`` ("True")                 anyone may create users (read as open_access is)
``bcrypt_rounds`` (12)                   pytupli's bcrypt cost (12 = about 0.3 s per login)
``artifact_store`` (``"disk"``)          ``"disk"`` or ``"gridfs"`` (bytes in memory)
``sample_data`` (True)                   create the sample group, benchmarks, artifact, episodes
``n_episodes`` (3)                       sample episodes on the public benchmark
``n_tuples`` (10)                        tuples per sample episode
``persist`` (True)                       keep state across restarts with the same ``data_dir``

``info`` (``Sandbox.info("tupli")``): ``pytupli_version``, ``secret_key`` and
``jwt_algorithm`` (to mint tokens in tests), ``access_token_minutes``,
``refresh_token_minutes``, ``open_access``, ``open_signup``, ``artifact_store``,
``persistent``, ``restored`` (state was loaded from a previous run) and
``sample`` (ids of the sample items, by name; filled in during startup).

State lives in mongomock's memory. With ``persist`` (the default), it is
written to ``<data_dir>/state.bson`` when the server shuts down cleanly (the
Sandbox stops servers with SIGTERM) and read back on the next start with the
same ``data_dir``; artifact bytes are files under ``<data_dir>/artifacts/``.
A server that is killed (SIGKILL) or crashes loses what changed since it
started. Users already in a restored state keep their stored passwords (as
pytupli keeps ``admin``'s); a changed ``admin_password`` makes startup fail
with a clear message. The default ``Sandbox`` data dir is temporary, so by default nothing
outlives the sandbox. The sample items are created only on a fresh start;
their ids are derived from the seed, their ``created_at`` is the real time.

Behaviour worth knowing (pytupli's, observed here; see ``tests/tupli``):
refresh returns a flat ``{"token", "token_type"}``; every artifact download
closes the connection afterwards (send ``Connection: close``); artifact
metadata outside latin-1 uploads fine but downloads with 500; recording an
episode with no tuples gives 500; every ``/artifacts/list`` call reads every
visible artifact's bytes into the server's memory.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import importlib.metadata
import json
import os
import random
import uuid
from pathlib import Path
from typing import Any

from astroquery_ext.sandbox._service import SandboxContext, SandboxService, TokenLedger

__all__ = ["create_service", "BlobBucket"]

DEFAULT_USERS = {"alice": "alice-password", "bob": "bob-password"}
DEFAULT_ADMIN_PASSWORD = "pytupli"
STATE_FILE = "state.bson"
SAMPLE_FILE = "sample.json"
DB_NAME = "pytupli"

# Environment variables pytupli reads at import; ours are set explicitly, the rest removed.
_PYTUPLI_ENV = ("API_SECRET_KEY", "DB_ADMIN_PW", "OPEN_ACCESS_MODE", "OPEN_SIGNUP_MODE",
                "ACCESS_TOKEN_EXPIRE_MINUTES", "REFRESH_TOKEN_EXPIRE_MINUTES",
                "MONGO_CONNECTION_STRING", "MONGO_DB_NAME")


def _deployment_flag(value) -> bool:
    """A mode as a pytupli deployment reads its environment: a string is on unless empty.

    ``OPEN_ACCESS_MODE=False`` leaves a real deployment open (pytupli tests the
    string's truthiness); only a Python ``False`` (relaxed mode's meaning of
    "off") or an empty string closes it.
    """
    if isinstance(value, str):
        return value != ""
    return bool(value)


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(value)


# -- artifact files ------------------------------------------------------------


class _FileDocs:
    """What pytupli does with a bucket's ``find()``: ``await ... .to_list()``."""

    def __init__(self, docs):
        self._docs = docs

    async def to_list(self, length=None):
        docs = list(self._docs)
        return docs if length is None else docs[:length]


class BlobBucket:
    """Async stand-in for motor's GridFS bucket, for the calls pytupli makes.

    The ``<bucket>.files`` documents (``_id``, ``filename``, ``length``,
    ``chunkSize``, ``uploadDate``, ``metadata``) are kept in the mongomock
    database, so filters on ``metadata.*`` behave as they do on MongoDB; the
    bytes are written to ``<blob_dir>/<_id>``.
    """

    blob_dir: Path  # set by create_service before pytupli creates any bucket

    def __init__(self, database, bucket_name: str = "fs", **kwargs):
        self._files = database.delegate[bucket_name + ".files"]
        self._dir = self.blob_dir / bucket_name
        self._dir.mkdir(parents=True, exist_ok=True)

    def find(self, filter=None, *args, **kwargs):
        return _FileDocs(self._files.find(filter or {}))

    async def upload_from_stream(self, filename, source, chunk_size_bytes=None, metadata=None,
                                 session=None):
        from bson import ObjectId

        file_id = ObjectId()
        data = source if isinstance(source, (bytes, bytearray, memoryview)) else source.read()
        part = self._dir / f"{file_id}.part"
        with open(part, "wb") as fh:
            fh.write(data)
        os.replace(part, self._dir / str(file_id))
        self._files.insert_one({
            "_id": file_id, "filename": filename, "length": len(data),
            "chunkSize": chunk_size_bytes or 255 * 1024,
            "uploadDate": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0),
            "metadata": metadata,
        })
        return file_id

    async def download_to_stream_by_name(self, filename, destination, revision=-1, session=None):
        from gridfs.errors import NoFile

        docs = sorted(self._files.find({"filename": filename}), key=lambda d: d["uploadDate"])
        try:
            doc = docs[revision]
        except IndexError:
            raise NoFile(f"no version {revision} for filename {filename!r}") from None
        with open(self._dir / str(doc["_id"]), "rb") as fh:
            while True:
                block = fh.read(1 << 20)
                if not block:
                    break
                destination.write(block)

    async def delete(self, file_id, session=None):
        from gridfs.errors import NoFile

        if self._files.delete_one({"_id": file_id}).deleted_count == 0:
            raise NoFile(f"no file could be deleted because none matched {file_id}")
        try:
            os.unlink(self._dir / str(file_id))
        except FileNotFoundError:
            pass


class GridFSBucket:
    """Async stand-in for motor's GridFS bucket over pymongo's sync GridFS on mongomock."""

    def __init__(self, database, bucket_name: str = "fs", **kwargs):
        import gridfs

        db = database.delegate
        self._bucket = gridfs.GridFSBucket(db, bucket_name)
        self._files = db[bucket_name + ".files"]

    def find(self, filter=None, *args, **kwargs):
        return _FileDocs(self._files.find(filter or {}))

    async def upload_from_stream(self, filename, source, chunk_size_bytes=None, metadata=None,
                                 session=None):
        return self._bucket.upload_from_stream(filename, source, chunk_size_bytes=chunk_size_bytes,
                                               metadata=metadata)

    async def download_to_stream_by_name(self, filename, destination, revision=-1, session=None):
        self._bucket.download_to_stream_by_name(filename, destination, revision=revision)

    async def delete(self, file_id, session=None):
        self._bucket.delete(file_id)


# -- state snapshot ------------------------------------------------------------


def _load_state(database, path: Path) -> bool:
    """Fill the (empty) mongomock database from a snapshot; True if there was one."""
    import bson

    if not path.exists():
        return False
    by_collection: dict[str, list] = {}
    with open(path, "rb") as fh:
        for record in bson.decode_file_iter(fh):
            by_collection.setdefault(record["c"], []).append(record["d"])
    for name, docs in by_collection.items():
        if docs:
            database[name].insert_many(docs)
    return True


def _save_state(database, path: Path) -> None:
    import bson

    part = path.with_suffix(".part")
    with open(part, "wb") as fh:
        for name in database.list_collection_names():
            for doc in database[name].find({}):
                fh.write(bson.encode({"c": name, "d": doc}))
    os.replace(part, path)


# -- calling pytupli's app in-process --------------------------------------------


async def _asgi_call(app, method: str, path: str, *, json_body=None, token: str | None = None,
                     form: dict | None = None, file: bytes | None = None):
    """One request to an ASGI app without a socket: (status, parsed JSON body)."""
    headers = [(b"host", b"sandbox")]
    body = b""
    if json_body is not None:
        body = json.dumps(json_body).encode()
        headers.append((b"content-type", b"application/json"))
    elif form is not None or file is not None:
        boundary = "sandbox-" + uuid.uuid4().hex
        parts = []
        for name, value in (form or {}).items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                         .encode() + value.encode() + b"\r\n")
        if file is not None:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="data"; '
                         f'filename="data"\r\nContent-Type: application/octet-stream\r\n\r\n'
                         .encode() + file + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers.append((b"content-type", f"multipart/form-data; boundary={boundary}".encode()))
    headers.append((b"content-length", str(len(body)).encode()))
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    raw_path, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": raw_path, "raw_path": raw_path.encode(),
             "query_string": query.encode(), "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0)}
    sent_body = {"done": False}

    async def receive():
        if sent_body["done"]:
            return {"type": "http.disconnect"}
        sent_body["done"] = True
        return {"type": "http.request", "body": body, "more_body": False}

    response = {"status": None, "body": b""}

    async def send(message):
        if message["type"] == "http.response.start":
            response["status"] = message["status"]
        elif message["type"] == "http.response.body":
            response["body"] += message.get("body", b"")

    await app(scope, receive, send)
    payload = json.loads(response["body"]) if response["body"] else None
    if response["status"] != 200:
        raise RuntimeError(f"tupli sandbox setup: {method} {raw_path} gave {response['status']}: "
                           f"{response['body'][:300]!r}")
    return payload


class _SeededIds:
    """Stands in for the ``uuid`` module in ``pytupli.schema`` while sample data is made."""

    def __init__(self, seed: int):
        self._rng = random.Random(f"tupli-ids-{seed}")

    def uuid4(self):
        return uuid.UUID(int=self._rng.getrandbits(128), version=4)


# -- the service -----------------------------------------------------------------


def _expiring_tokens(authorization, users_endpoints) -> TokenLedger:
    """pytupli's token minting and checking, wrapped so that a test can expire access tokens now.

    pytupli signs access and refresh tokens alike (``{"issuer", "exp"}``): an
    access token is one minted with the access-token lifetime (with equal
    lifetimes, refresh tokens count as access tokens too).
    """
    tokens = TokenLedger()
    mint = users_endpoints.create_token

    def create_token(data: dict, expires_delta: datetime.timedelta = datetime.timedelta(minutes=15)) -> str:
        access = expires_delta == datetime.timedelta(minutes=users_endpoints.ACCESS_TOKEN_EXPIRE_MINUTES)
        return tokens.mint(lambda extra: mint(data, expires_delta + datetime.timedelta(seconds=extra)),
                           access=access)

    real_jwt = authorization.jwt

    class _Jwt:  # what pytupli's authorization module calls ``jwt``
        def __getattr__(self, name):
            return getattr(real_jwt, name)

        @staticmethod
        def decode(token, *args, **kwargs):
            if tokens.expired(token):
                raise real_jwt.ExpiredSignatureError("expired by the sandbox's control")
            return real_jwt.decode(token, *args, **kwargs)

    users_endpoints.create_token = create_token
    authorization.jwt = _Jwt()
    return tokens


class _TupliApp:
    """pytupli's app, with our setup after its startup and a snapshot before its shutdown."""

    def __init__(self, app, on_startup, on_shutdown):
        self.app = app
        self._on_startup = on_startup
        self._on_shutdown = on_shutdown

    async def __call__(self, scope, receive, send):
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)

        async def lifespan_receive():
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                self._on_shutdown()
            return message

        async def lifespan_send(message):
            if message["type"] == "lifespan.startup.complete":
                # An error here reaches Starlette's lifespan handler, which reports
                # lifespan.startup.failed with the traceback; uvicorn then exits.
                await self._on_startup()
            await send(message)

        await self.app(scope, lifespan_receive, lifespan_send)


def create_service(ctx: SandboxContext) -> SandboxService:
    opts = dict(ctx.options)
    admin_password = str(opts.get("admin_password", DEFAULT_ADMIN_PASSWORD))
    users = {str(k): str(v) for k, v in (opts.get("users") or DEFAULT_USERS).items()}
    if "admin" in users:
        raise ValueError("tupli sandbox: 'admin' is pytupli's bootstrap user; set admin_password")
    secret_key = str(opts.get("secret_key")
                     or hashlib.sha256(f"astroquery-ext tupli sandbox {ctx.seed}".encode()).hexdigest())
    access_minutes = float(opts.get("access_token_minutes", 30))
    refresh_minutes = float(opts.get("refresh_token_minutes", 60 * 7 * 30))
    open_access = _deployment_flag(opts.get("open_access", "True"))
    open_signup = _deployment_flag(opts.get("open_signup", "True"))
    bcrypt_rounds = int(opts.get("bcrypt_rounds", 12))
    artifact_store = str(opts.get("artifact_store", "disk"))
    if artifact_store not in ("disk", "gridfs"):
        raise ValueError("tupli sandbox: artifact_store must be 'disk' or 'gridfs'")
    sample_data = _flag(opts.get("sample_data", True))
    n_episodes = int(opts.get("n_episodes", 3))
    n_tuples = max(1, int(opts.get("n_tuples", 10)))
    persist = _flag(opts.get("persist", True))

    # 1. The environment pytupli reads, and nothing from a stray .env.
    for var in _PYTUPLI_ENV:
        os.environ.pop(var, None)
    os.environ["API_SECRET_KEY"] = secret_key
    os.environ["DB_ADMIN_PW"] = admin_password
    import dotenv

    dotenv.load_dotenv = lambda *args, **kwargs: False

    # 2. The database: one mongomock client, filled from the last snapshot if any.
    from mongomock_motor import AsyncMongoMockClient

    client = AsyncMongoMockClient()
    database = client[DB_NAME].delegate
    state_path = ctx.data_dir / STATE_FILE
    sample_path = ctx.data_dir / SAMPLE_FILE
    restored = persist and _load_state(database, state_path)

    import pytupli.server.db.db_handler as db_handler

    db_handler.AsyncIOMotorClient = lambda *args, **kwargs: client
    if artifact_store == "disk":
        BlobBucket.blob_dir = ctx.data_dir / "artifacts"
        db_handler.AsyncIOMotorGridFSBucket = BlobBucket
    else:
        from mongomock.gridfs import enable_gridfs_integration

        enable_gridfs_integration()
        db_handler.AsyncIOMotorGridFSBucket = GridFSBucket

    # 3. pytupli's settings, on its module constants (read at call time there).
    import pytupli.schema
    import pytupli.server.api.endpoints.users as users_endpoints
    import pytupli.server.management.authorization as authorization
    from pytupli.server.main import app as pytupli_app

    users_endpoints.ACCESS_TOKEN_EXPIRE_MINUTES = access_minutes
    users_endpoints.REFRESH_TOKEN_EXPIRE_MINUTES = refresh_minutes
    authorization.OPEN_ACCESS_MODE = "True" if open_access else ""
    authorization.OPEN_SIGNUP_MODE = "True" if open_signup else ""
    authorization.pwd_context = authorization.pwd_context.copy(bcrypt__rounds=bcrypt_rounds)
    tokens = _expiring_tokens(authorization, users_endpoints)

    sample: dict[str, Any] = {}
    info = {
        "pytupli_version": importlib.metadata.version("pytupli"),
        "secret_key": secret_key, "jwt_algorithm": "HS256",
        "access_token_minutes": access_minutes, "refresh_token_minutes": refresh_minutes,
        "open_access": open_access, "open_signup": open_signup,
        "artifact_store": artifact_store, "persistent": persist, "restored": bool(restored),
        "sample": sample,
    }

    async def on_startup():
        call = _asgi_call
        try:
            admin = await call(pytupli_app, "POST", "/access/users/token",
                               json_body={"username": "admin", "password": admin_password})
        except RuntimeError:
            if restored:
                raise RuntimeError(f"the state restored from {state_path} has another admin password "
                                   "than the admin_password option; pytupli keeps the stored one") from None
            raise
        admin_token = admin["access_token"]["token"]
        existing = {u["username"] for u in await call(pytupli_app, "GET", "/access/users/list",
                                                      token=admin_token)}
        for name, password in users.items():
            if name not in existing:
                await call(pytupli_app, "POST", "/access/users/create", token=admin_token,
                           json_body={"username": name, "password": password})
        if restored:
            if sample_path.exists():
                sample.update(json.loads(sample_path.read_text()))
            return
        if sample_data and {"alice", "bob"} <= set(users):
            real_uuid = pytupli.schema.uuid
            pytupli.schema.uuid = _SeededIds(ctx.seed)
            try:
                sample.update(await _make_sample(pytupli_app, users, ctx.seed, n_episodes, n_tuples))
            finally:
                pytupli.schema.uuid = real_uuid
            if persist:
                sample_path.write_text(json.dumps(sample, indent=1))

    def on_shutdown():
        if persist:
            _save_state(database, state_path)

    start_state: dict[str, Any] = {}

    def take_snapshot():
        start_state["docs"] = {name: list(database[name].find({})) for name in database.list_collection_names()}
        start_state["blobs"] = set(_blob_files(ctx.data_dir))

    async def startup():
        await on_startup()
        take_snapshot()

    def reset():
        """Every collection (users, groups, benchmarks, artifacts, episodes, tokens) as it was at start."""
        for name in database.list_collection_names():
            database[name].drop()
        for name, docs in start_state["docs"].items():
            if docs:
                database[name].insert_many(copy.deepcopy(docs))
        for path in set(_blob_files(ctx.data_dir)) - start_state["blobs"]:
            path.unlink(missing_ok=True)

    user_info = {"admin": {"username": "admin", "password": admin_password, "admin": True,
                           "memberships": [{"group": "global", "roles": ["admin"]}]}}
    for name, password in users.items():
        memberships = []
        if sample_data and name in ("alice", "bob") and {"alice", "bob"} <= set(users):
            roles = ["group_admin", "contributor"] if name == "alice" else ["member"]
            memberships = [{"group": "team", "roles": roles}]
        user_info[name] = {"username": name, "password": password, "admin": False,
                           "memberships": memberships}
    default_user = "alice" if "alice" in users else next(iter(users), "admin")
    return SandboxService(
        app=_TupliApp(pytupli_app, startup, on_shutdown), root="/",
        credentials=dict(user_info[default_user]), users=user_info, info=info, reset=reset,
        controls={"expire-access-tokens": tokens.expire_all})


def _blob_files(data_dir: Path) -> list[Path]:
    blobs = data_dir / "artifacts"
    return [p for p in blobs.rglob("*") if p.is_file()] if blobs.is_dir() else []


async def _make_sample(app, users: dict, seed: int, n_episodes: int, n_tuples: int) -> dict:
    """A group, benchmarks, an artifact and episodes, made through pytupli's own routes."""
    rng = random.Random(f"tupli-sample-{seed}")

    async def token_of(name):
        out = await _asgi_call(app, "POST", "/access/users/token",
                               json_body={"username": name, "password": users[name]})
        return out["access_token"]["token"]

    alice, bob = await token_of("alice"), await token_of("bob")
    await _asgi_call(app, "POST", "/access/groups/create", token=alice,
                     json_body={"name": "team", "description": "alice's team (sandbox sample)"})
    await _asgi_call(app, "POST", "/access/groups/add-members", token=alice,
                     json_body={"group_name": "team", "members": [{"user": "bob", "roles": ["member"]}]})

    async def benchmark(token, name, description, difficulty, publish_in=()):
        serialized = json.dumps({"env": name, "seed": seed, "max_episode_steps": n_tuples})
        header = await _asgi_call(app, "POST", "/benchmarks/create", token=token, json_body={
            "hash": hashlib.sha256(serialized.encode()).hexdigest(), "serialized": serialized,
            "metadata": {"name": name, "description": description, "difficulty": difficulty,
                         "version": "1.0", "extra": {"sandbox": True}}})
        for group in publish_in:
            await _asgi_call(app, "PUT", f"/benchmarks/publish?benchmark_id={header['id']}"
                                         f"&publish_in={group}", token=token)
        return header["id"]

    benchmarks = {
        "sandbox-cartpole": await benchmark(alice, "sandbox-cartpole", "public sample benchmark",
                                            "easy", ["global"]),
        "alice-team-bench": await benchmark(alice, "alice-team-bench", "shared with team",
                                            "medium", ["team"]),
        "alice-private": await benchmark(alice, "alice-private", "alice only", "hard"),
        "bob-private": await benchmark(bob, "bob-private", "bob only", "easy"),
    }
    public = benchmarks["sandbox-cartpole"]
    rows = ["step,reward"] + [f"{i},{rng.random():.6f}" for i in range(50)]
    artifact = await _asgi_call(
        app, "POST", "/artifacts/upload", token=alice, file=("\n".join(rows) + "\n").encode(),
        form={"metadata": json.dumps({"name": "rewards.csv", "description": "sample rewards",
                                      "benchmark_id": public, "extra": {"kind": "csv"}})})
    await _asgi_call(app, "PUT", f"/artifacts/publish?artifact_id={artifact['id']}&publish_in=global",
                     token=alice)
    episodes = []
    for k in range(n_episodes):
        tuples = []
        for step in range(n_tuples):
            last = step == n_tuples - 1
            tuples.append({"state": [round(rng.uniform(-1, 1), 4) for _ in range(4)],
                           "action": [rng.randrange(2)], "reward": 1.0, "info": {},
                           "terminal": last and k % 2 == 0, "timeout": last and k % 2 == 1})
        header = await _asgi_call(app, "POST", "/episodes/record", token=alice, json_body={
            "benchmark_id": public, "metadata": {"agent": "random", "run": k}, "tuples": tuples})
        await _asgi_call(app, "PUT", f"/episodes/publish?episode_id={header['id']}&publish_in=global",
                         token=alice)
        episodes.append(header["id"])
    return {"groups": ["team"], "benchmarks": benchmarks,
            "artifacts": {"rewards.csv": artifact["id"]}, "episodes": episodes}
