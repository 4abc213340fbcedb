"""A small generic service: the shared base's test partner and a template for new apps.

It has what every real service here has in some form: password login for a
bearer token, expiring tokens and refresh, JSON reads, a paged collection
(offset/limit and cursor), a write, error statuses on demand, and files with
``Range`` support. Options (``Sandbox(services={"testbed": {...}})``):

``n_items`` (default 250)       size of the ``/items`` collection
``token_ttl`` (default 3600)    seconds an access token lives
``file_size`` (default 300000)  bytes of each file under ``/files/``
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from typing import Annotated

from fastapi import FastAPI, Form, Header, Path, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from astroquery_ext.sandbox._service import SandboxContext, SandboxService

USERS = {"alice": "alice-password", "bob": "bob-password"}


def _file_bytes(name: str, size: int) -> bytes:
    block = hashlib.sha256(name.encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def create_service(ctx: SandboxContext) -> SandboxService:
    opts = ctx.options
    n_items = int(opts.get("n_items", 250))
    token_ttl = float(opts.get("token_ttl", 3600))
    file_size = int(opts.get("file_size", 300_000))
    rng_tokens = {user: hashlib.sha256(f"{ctx.seed}:{user}".encode()).hexdigest()[:40] for user in USERS}

    lock = threading.Lock()
    tokens: dict[str, tuple[str, float]] = {tok: (user, float("inf")) for user, tok in rng_tokens.items()}
    refresh_tokens: dict[str, str] = {}
    counters = {"refreshes": 0, "logins": 0, "writes": 0}

    def issue(user: str) -> dict:
        access = secrets.token_hex(20)
        refresh = secrets.token_hex(24)
        with lock:
            tokens[access] = (user, time.time() + token_ttl)
            refresh_tokens[refresh] = user
        return {"access_token": access, "refresh_token": refresh, "token_type": "bearer",
                "expires_in": token_ttl}

    def expire_access_tokens() -> int:
        """Expire now every access token that can expire (the seeded ones never do)."""
        with lock:
            due = [tok for tok, (_, expires) in tokens.items() if expires != float("inf")]
            for tok in due:
                tokens[tok] = (tokens[tok][0], 0.0)
        return len(due)

    def user_of(authorization: str | None) -> str | JSONResponse:
        if not authorization or not authorization.lower().startswith("bearer "):
            return JSONResponse({"detail": "Not authenticated"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        token = authorization.split(None, 1)[1].strip()
        with lock:
            found = tokens.get(token)
        if found is None:
            return JSONResponse({"detail": "Invalid token."}, status_code=401)
        user, expires = found
        if time.time() > expires:
            return JSONResponse({"detail": "Token has expired."}, status_code=401)
        return user

    items = [{"id": 1_200_000_000_000_000_000 + 7 * i,
              "name": f"item-{i:04d}" if i % 11 else f"ítem-{i:04d}-ü",
              "value": (i * 0.5) if i % 7 else None,
              "flag": bool(i % 2),
              "tags": ["a", "b"][: i % 3]}
             for i in range(n_items)]

    app = FastAPI(title="astroquery-ext testbed")

    @app.post("/api/login")
    def login(username: str = Form(...), password: str = Form(...)):
        if USERS.get(username) != password:
            return JSONResponse({"detail": "Incorrect username or password"}, status_code=400)
        counters["logins"] += 1
        return issue(username)

    @app.post("/api/refresh")
    async def refresh(request: Request):
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("refresh_token"), str):
            return JSONResponse({"detail": 'Send {"refresh_token": "..."} as JSON.'}, status_code=400)
        with lock:
            user = refresh_tokens.pop(body["refresh_token"], None)
        if user is None:
            return JSONResponse({"detail": "Invalid refresh token."}, status_code=401)
        counters["refreshes"] += 1
        time.sleep(0.2)  # make concurrent refreshes overlap
        return issue(user)

    @app.get("/api/whoami")
    def whoami(authorization: str | None = Header(None)):
        user = user_of(authorization)
        if isinstance(user, JSONResponse):
            return user
        return {"user": user, "time": time.time()}

    @app.get("/api/counters")
    def get_counters():
        return dict(counters)

    @app.get("/api/items")
    def list_items(offset: int = 0, limit: int = 100, authorization: str | None = Header(None)):
        user = user_of(authorization)
        if isinstance(user, JSONResponse):
            return user
        if limit > 1000 or limit < 1 or offset < 0:
            return JSONResponse({"detail": "limit must be 1..1000 and offset >= 0"}, status_code=422)
        return {"total": n_items, "items": items[offset:offset + limit]}

    @app.get("/api/cursor")
    def cursor_items(request: Request, cursor: int = 0, size: int = 40):
        page = items[cursor:cursor + size]
        nxt = cursor + size
        next_url = str(request.url.include_query_params(cursor=nxt)) if nxt < n_items else None
        return {"results": page, "next": next_url}

    @app.post("/api/things")
    async def create_thing(request: Request, authorization: str | None = Header(None)):
        user = user_of(authorization)
        if isinstance(user, JSONResponse):
            return user
        with lock:
            counters["writes"] += 1
            n = counters["writes"]
        return JSONResponse({"created": n, "by": user}, status_code=201)

    @app.get("/api/status/{code}")
    def status(code: Annotated[int, Path(ge=200, le=599)]):
        if code == 599:
            return Response("<html><body><h1>Server Error</h1></body></html>", status_code=500,
                            media_type="text/html")
        return JSONResponse({"detail": f"status {code} as asked"}, status_code=code)

    @app.get("/api/notjson")
    def notjson():
        return Response("this is not json", media_type="application/json")

    @app.get("/api/files/{name:path}")
    def get_file(name: str, range: str | None = Header(None), if_range: str | None = Header(None),
                 mode: str = "ok", disposition: str = "plain"):
        data = _file_bytes(name, file_size)
        digest = hashlib.sha256(data).hexdigest()
        headers = {"Accept-Ranges": "bytes", "X-Checksum-Sha256": digest}
        etag = f'"{digest[:32]}"'
        if mode != "no_validators":  # the strong validator a resume's If-Range must match
            headers["ETag"] = etag
        if if_range is not None and if_range.strip() != etag:
            range = None  # another version than the one asked to resume: the whole file (RFC 9110 13.1.5)
        if disposition == "plain":
            # The name as given (hostile names test the client), except what no
            # HTTP header can carry: control characters, and text outside Latin-1
            # (sent RFC 5987-encoded instead).
            shown = "".join("_" if ord(c) < 32 or ord(c) == 127 else c for c in name)
            try:
                shown.encode("latin-1")
                headers["Content-Disposition"] = f'attachment; filename="{shown}"'
            except UnicodeEncodeError:
                from urllib.parse import quote
                headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
        elif disposition == "rfc5987":
            from urllib.parse import quote
            headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
        match = re.fullmatch(r"bytes=(\d+)-", range or "")
        status, start = 200, 0
        if match and mode != "ignore_range":
            start = int(match.group(1))
            if start >= len(data):
                return Response(status_code=416, headers={"Content-Range": f"bytes */{len(data)}"})
            if mode == "bad_range":  # a 206 that does not start where asked
                start = 0
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            status = 206
        body = data[start:]
        if mode == "short":  # a server that ends early and sends no Content-Length to check
            return StreamingResponse(iter([body[: len(body) // 2]]), status_code=status, headers=headers,
                                     media_type="application/octet-stream")
        return Response(body, status_code=status, headers=headers, media_type="application/octet-stream")

    return SandboxService(
        app=app, root="/api/",
        credentials={"username": "alice", "password": USERS["alice"], "token": rng_tokens["alice"]},
        users={u: {"username": u, "password": p, "token": rng_tokens[u]} for u, p in USERS.items()},
        info={"n_items": n_items, "file_size": file_size},
        controls={"expire-access-tokens": expire_access_tokens},
    )
