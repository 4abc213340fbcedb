"""Sandbox of CERN ATLAS Glance/Fence (analyses, papers, CONF/PUB notes...) with its OIDC provider.

What it serves (``ORIGIN`` is ``Sandbox.origin("glance")``)::

    GET ORIGIN/api/search{Analysis,Paper,Confnote,Pubnote,Plot,Publication,
                          LeadingGroup,Subgroup,Trigger}      the nine search endpoints
    ORIGIN/realms/cern/...                                    the OIDC provider (see _oidc.py)
    GET ORIGIN/web/{analyses,papers,confnotes,pubnotes,plots}/details[.php]?ref_code=...
                                                              tiny HTML detail pages (web UI links)
    GET ORIGIN/_glance/stats                                  counters (JSON); DELETE resets them

Counters in ``/_glance/stats``: ``authorizations`` (codes issued), ``codes_redeemed``,
``refreshes``, ``refresh_rejected``, ``password_logins``, ``exchanges``,
``exchange_rejected``, ``device_authorizations``, ``device_polls``,
``device_approvals``, ``device_grants``, ``revocations``, ``token_errors``,
``authorization_errors``, ``sessions`` (live), ``api_requests``,
``api_unauthorized``, ``api_forbidden``, ``api_bad_requests``, ``by_endpoint``,
``last_token_aud``, ``last_token_jti``.

Every search takes ``offset`` (default 0), ``limit`` (default 50, 1..max_limit),
``queryString`` (the server DSL, see ``_glance_query.py``), ``sortBy`` (a
searchable field; records without it go last) and ``sortDesc``
(``true``/``false``), and answers ``{"numberOfResults": <total>, "results": [...]}``
and nothing else. Errors are ``application/json`` ``{"status", "title", "detail"}``:
400 (bad parameters or query; unknown field; on ``/searchPublication``
filtering on ``temporaryReferenceCode`` or ``finalReferenceCode``), 401 (no,
bad, expired, revoked or wrongly-scoped token), 403 (a valid token of a user
without ``required_role``), 404 (unknown path), 405 (not GET), 500 (quirk).

The API accepts access tokens whose ``aud`` is the exchange audience, i.e.
RFC 8693-exchanged tokens; with ``accept_base_tokens`` also the plain login
access tokens of the known clients.

Options (``Sandbox(services={"glance": {...}})``), with defaults:

Sample data
  ``n_analyses`` 300 (``scale`` multiplies this default; e.g. ``scale=40`` for 12,000),
  ``n_papers`` 0.4 x analyses, ``n_confnotes`` 0.3 x, ``n_pubnotes`` 0.2 x,
  ``n_plots`` 0.25 x, ``n_triggers`` 120. Leading groups (30) and subgroups
  (99) are fixed lists. Publications = analyses + papers + notes.
API
  ``max_limit`` 1000, ``accept_base_tokens`` False, ``required_role``
  ``"atlas-readers"`` (None: no role check), ``cache_control`` ``"no-store"``
  (``""``: send no Cache-Control header, as the real server presumably does),
  ``api_fields`` True: a search names only the fields api.yml lists for
  its endpoint (others: 400 "Unknown field"; relaxed mode: False, every leaf
  path of the records, e.g. ``documentation.repositories.label``),
  ``strict_dsl`` True, as the published API (only upper-case AND/OR and
  lower-case operators; relaxed mode: False, any case), ``list_operators``
  False, as the published API (relaxed mode: True, ``in [...]``/``not in [...]``
  accepted), ``null_matches_negation`` False (True: ``!=``/``not-contain``/``not in``
  also match null/empty fields), ``quirks`` ``["paren_500", "double_decode"]``,
  the real server's known bugs (relaxed mode: []; ``"paren_500"`` =
  ATGLANCE-8337, a parenthesis touching a bare token gives HTTP 500;
  ``"double_decode"`` = ATGLANCE-8333, queryString is URL-decoded twice so
  ``+`` becomes a space and ``?`` ends the value; or ``"all"``).
OIDC
  ``realm`` ``"cern"``, ``clients`` ``["stare", "astroquery-ext"]`` (public
  clients; any loopback ``http://localhost|127.0.0.1:PORT/PATH`` redirect URI),
  ``exchange_audience`` ``"atlas-glance-analysis-api-prod"``,
  ``access_token_ttl`` 300, ``refresh_token_ttl`` 1800, ``exchange_token_ttl``
  300, ``code_ttl`` 60, ``device_code_ttl`` 600, ``device_interval`` 1,
  ``device_auto_approve_after`` 0 (N > 0: a pending device code is approved
  for the default user on poll N+1), ``auto_approve`` True (the authorization
  endpoint and the device page approve at once, as ``login_hint`` or the default
  user; False: they show a username/password form), ``require_pkce`` True,
  ``password_grant`` False (the public clients may not use the password grant;
  relaxed mode: True).

Users (password ``<name>-password``): ``alice`` (default; role atlas-readers),
``bob`` (atlas-readers), ``guest`` (no ATLAS role: the API answers 403).
"""

from __future__ import annotations

import html
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from astroquery_ext.sandbox import _glance_data as data
from astroquery_ext.sandbox._glance_query import Collection, QueryCrash, QueryError, field_catalogue, parse
from astroquery_ext.sandbox._oidc import OAuthError, OIDCProvider, OIDCSettings
from astroquery_ext.sandbox._service import SandboxContext, SandboxService

__all__ = ["create_service", "ENDPOINTS"]

#: path -> DSL mode
ENDPOINTS = {
    "searchAnalysis": "analysis", "searchPaper": "paper", "searchConfnote": "confnote",
    "searchPubnote": "pubnote", "searchPlot": "plot", "searchPublication": "publication",
    "searchLeadingGroup": "leadinggroup", "searchSubgroup": "subgroup", "searchTrigger": "trigger",
}
PUBLICATION_FIELDS = {"referenceCode", "type", "status", "shortTitle", "groups.leadingGroup.name",
                      "groups.leadingSubgroup.name", "groups.subgroups.name"}
KNOWN_QUIRKS = ("paren_500", "double_decode")
WEB_KINDS = {"analyses": "analysis", "papers": "paper", "confnotes": "confnote", "pubnotes": "pubnote",
             "plots": "plot"}

USERS = {
    "alice": {"name": "Alice Archer", "given_name": "Alice", "family_name": "Archer",
              "roles": ["atlas-readers", "default-roles-cern", "offline_access"], "cern_person_id": "812345"},
    "bob": {"name": "Bob Bauer", "given_name": "Bob", "family_name": "Bauer",
            "roles": ["atlas-readers", "default-roles-cern"], "cern_person_id": "823456"},
    "guest": {"name": "Guest Visitor", "given_name": "Guest", "family_name": "Visitor",
              "roles": ["default-roles-cern"], "cern_person_id": "834567"},
}


def _problem(status: int, title: str, detail: str, headers: dict | None = None) -> JSONResponse:
    # api.yml declares application/json for the error bodies (not application/problem+json).
    return JSONResponse({"status": status, "title": title, "detail": detail}, status_code=status,
                        media_type="application/json", headers=headers)


def _equivalents(mode: str) -> dict[str, dict[str, set[str]]]:
    out: dict[str, dict[str, set[str]]] = {}
    for field, mapping in data.STATUS_LABELS.get(mode, {}).items():
        eq: dict[str, set[str]] = {}
        for raw, label in mapping.items():
            eq.setdefault(label.lower(), {label.lower()}).add(raw.lower())
        out[field] = eq
    return out


def _publication_codes(rec: dict) -> list:
    return [rec[k] for k in ("referenceCode", "temporaryReferenceCode", "finalReferenceCode") if rec.get(k)]


def _int_option(opts: dict, name: str, default: int) -> int:
    value = opts.get(name, default)
    return default if value is None else int(value)


#: The searchable fields api.yml lists for each search endpoint, by mode.
_API_FIELDS = {mode: set(names) for mode, names in
               json.loads((Path(__file__).with_name("_glance_api_fields.json")).read_text()).items()
               if not mode.startswith("_")}


def create_service(ctx: SandboxContext) -> SandboxService:
    opts = dict(ctx.options)
    scale = float(opts.get("scale", 1))
    n_analyses = _int_option(opts, "n_analyses", int(round(300 * scale)))
    sizes = {k: opts.get(k) for k in ("n_papers", "n_confnotes", "n_pubnotes", "n_plots")}
    dataset = data.build(ctx.seed, n_analyses=n_analyses, n_triggers=_int_option(opts, "n_triggers", 120),
                         **{k: (None if v is None else int(v)) for k, v in sizes.items()})

    max_limit = _int_option(opts, "max_limit", 1000)
    accept_base = bool(opts.get("accept_base_tokens", False))
    required_role = opts.get("required_role", "atlas-readers")
    cache_control = opts.get("cache_control", "no-store")
    strict = bool(opts.get("strict_dsl", True))
    list_operators = bool(opts.get("list_operators", False))
    null_neg = bool(opts.get("null_matches_negation", False))
    api_fields = _API_FIELDS if bool(opts.get("api_fields", True)) else None
    quirks = opts.get("quirks", list(KNOWN_QUIRKS)) or []
    quirks = set(KNOWN_QUIRKS) if quirks == "all" or "all" in quirks else set(quirks)
    unknown = quirks - set(KNOWN_QUIRKS)
    if unknown:
        raise ValueError(f"unknown glance quirks {sorted(unknown)}; known: {', '.join(KNOWN_QUIRKS)}")
    realm = str(opts.get("realm", "cern"))
    clients = list(opts.get("clients", ["stare", "astroquery-ext"]))
    audience = str(opts.get("exchange_audience", "atlas-glance-analysis-api-prod"))
    settings = OIDCSettings(
        access_token_ttl=_int_option(opts, "access_token_ttl", 300),
        refresh_token_ttl=_int_option(opts, "refresh_token_ttl", 1800),
        exchange_token_ttl=_int_option(opts, "exchange_token_ttl", 300),
        code_ttl=_int_option(opts, "code_ttl", 60),
        device_code_ttl=_int_option(opts, "device_code_ttl", 600),
        device_interval=_int_option(opts, "device_interval", 1),
        device_auto_approve_after=_int_option(opts, "device_auto_approve_after", 0),
        auto_approve=bool(opts.get("auto_approve", True)),
        require_pkce=bool(opts.get("require_pkce", True)),
        password_grant=bool(opts.get("password_grant", False)),
        exchange_audiences=(audience,))

    users = {}
    for name, extra in USERS.items():
        users[name] = {**extra, "username": name, "password": f"{name}-password",
                       "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"glance-sandbox/{name}")),
                       "email": f"{extra['given_name'].lower()}.{extra['family_name'].lower()}@cern.ch"}
    oidc = OIDCProvider(ctx.origin, realm, users=users, clients=clients, data_dir=ctx.data_dir,
                        settings=settings, default_user="alice")

    # Searchable fields are every leaf path of the record shapes. A small data set may
    # never fill some optional parts, so the catalogue comes from a reference data set
    # Built from a fixed default-size data set, so it is the same whatever the size and seed.
    shapes = dataset if (n_analyses, ctx.seed) == (300, 0) and not any(sizes.values()) else data.build(0)
    collections: dict[str, Collection] = {}
    for mode in data.MODES:
        records = getattr(dataset, mode)
        fields, booleans = field_catalogue(getattr(shapes, mode))
        if mode == "publication":
            collections[mode] = Collection(
                mode, records, equivalents=_equivalents(mode), fields=PUBLICATION_FIELDS, booleans=set(),
                getters={"referenceCode": _publication_codes},
                rejected={f: (f"'{f}' is not a searchable field of publications; "
                              "use referenceCode, which matches temporary and final codes")
                          for f in ("temporaryReferenceCode", "finalReferenceCode")})
        else:
            if mode == "analysis":
                fields.add("extraMetadata")  # searchable per api.yml, though a free-form object
            if api_fields is not None:  # as the real server: what its API documents, nothing more
                fields &= api_fields[mode]
                booleans &= fields
            coll = Collection(mode, records, equivalents=_equivalents(mode), fields=fields, booleans=booleans)
            collections[mode] = coll
    chunks: dict[str, list[bytes | None]] = {m: [None] * len(c.records) for m, c in collections.items()}
    by_code: dict[str, tuple[str, dict]] = {}
    for mode in ("analysis", "paper", "confnote", "pubnote", "plot"):
        for rec in collections[mode].records:
            for key in ("referenceCode", "temporaryReferenceCode", "finalReferenceCode"):
                if rec.get(key):
                    by_code.setdefault(rec[key], (mode, rec))

    api_stats_lock = threading.Lock()
    api_stats: dict[str, Any] = {}

    def reset_api_stats() -> None:
        with api_stats_lock:
            api_stats.clear()
            api_stats.update({"api_requests": 0, "api_unauthorized": 0, "api_forbidden": 0,
                              "api_bad_requests": 0, "by_endpoint": {}, "last_token_aud": None,
                              "last_token_jti": None})

    reset_api_stats()

    def count(key: str, endpoint: str | None = None) -> None:
        with api_stats_lock:
            api_stats[key] += 1
            if endpoint:
                api_stats["by_endpoint"][endpoint] = api_stats["by_endpoint"].get(endpoint, 0) + 1

    root = "/api/"
    app = FastAPI(title="ATLAS Glance sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(oidc.router())
    cache_headers = {"Cache-Control": cache_control, "Vary": "Authorization"} if cache_control else {}

    def authenticate(request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            count("api_unauthorized")
            return _problem(401, "Unauthorized", "Invalid or missing authentication token: "
                            "send 'Authorization: Bearer <token>'",
                            {"WWW-Authenticate": f'Bearer realm="{realm}"'})
        try:
            claims = oidc.verify_access_token(header[7:].strip(), audiences=(audience,), accept_base=accept_base)
        except OAuthError as exc:
            count("api_unauthorized")
            return _problem(401, "Unauthorized", f"Invalid or missing authentication token: {exc.description}",
                            {"WWW-Authenticate": f'Bearer realm="{realm}", error="invalid_token"'})
        with api_stats_lock:
            api_stats["last_token_aud"] = claims.get("aud")
            api_stats["last_token_jti"] = claims.get("jti")
        if required_role and required_role not in claims.get("cern_roles", []):
            count("api_forbidden")
            return _problem(403, "Forbidden", f"Action forbidden: user '{claims.get('preferred_username')}' "
                            f"lacks the '{required_role}' role needed to read ATLAS Glance")
        return None

    def bad_request(detail: str) -> JSONResponse:
        count("api_bad_requests")
        return _problem(400, "Bad Request", detail)

    def search(mode: str, request: Request) -> Response:
        q = request.query_params
        try:
            offset = int(q.get("offset", "0"))
            limit = int(q.get("limit", "50"))
        except ValueError:
            return bad_request("Invalid query parameters: offset and limit must be integers")
        if offset < 0:
            return bad_request("Invalid query parameters: offset must be >= 0")
        if not 1 <= limit <= max_limit:
            return bad_request(f"Invalid query parameters: limit must be between 1 and {max_limit}")
        desc_text = q.get("sortDesc", "false").strip().lower()
        if desc_text not in ("true", "false", "1", "0"):
            return bad_request("Invalid query parameters: sortDesc must be true or false")
        coll = collections[mode]
        text = q.get("queryString")
        try:
            tree = (parse(text, strict=strict, paren_quirk="paren_500" in quirks,
                          double_decode="double_decode" in quirks, list_operators=list_operators)
                    if text is not None and text.strip() else None)
            hits = coll.select(tree, null_matches_negation=null_neg)
            order = coll.order(q.get("sortBy") or None, desc_text in ("true", "1"))
        except QueryError as exc:
            return bad_request(f"Invalid query parameters: {exc}")
        except QueryCrash:
            return _problem(500, "Internal Server Error", "An unexpected error occurred while processing "
                            "the query")
        matched = order if hits is None else [i for i in order if i in hits]
        page = matched[offset:offset + limit]
        cache = chunks[mode]
        parts = []
        for i in page:
            chunk = cache[i]
            if chunk is None:
                chunk = cache[i] = json.dumps(coll.records[i], ensure_ascii=False,
                                              separators=(",", ":")).encode()
            parts.append(chunk)
        body = b'{"numberOfResults":%d,"results":[' % len(matched) + b",".join(parts) + b"]}"
        return Response(body, media_type="application/json", headers=cache_headers)

    @app.api_route(root + "{name:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
    def api(name: str, request: Request):
        mode = ENDPOINTS.get(name)
        if mode is None:
            return _problem(404, "Not Found", f"No such endpoint: {root}{name}")
        if request.method not in ("GET", "HEAD"):
            return _problem(405, "Method Not Allowed", f"{root}{name} supports GET only",
                            {"Allow": "GET"})
        denied = authenticate(request)
        if denied is not None:
            return denied
        count("api_requests", name)
        return search(mode, request)

    @app.get("/web/{kind}/{page}")
    def web_details(kind: str, page: str, ref_code: str = ""):
        if kind not in WEB_KINDS or page not in ("details", "details.php"):
            return HTMLResponse("<h1>Not found</h1>", status_code=404)
        found = by_code.get(ref_code)
        if found is None or found[0] != WEB_KINDS[kind]:
            return HTMLResponse(f"<h1>No {html.escape(kind[:-1])} {html.escape(ref_code)}</h1>", status_code=404)
        rec = found[1]
        title = rec.get("shortTitle") or ref_code
        return HTMLResponse(f"<!doctype html><html><head><title>{html.escape(ref_code)}</title></head><body>"
                            f"<h1>{html.escape(ref_code)}</h1><p>{html.escape(title)}</p>"
                            f"<p>Status: {html.escape(str(rec.get('status')))}</p></body></html>")

    @app.get("/_glance/stats")
    def stats():
        with api_stats_lock:
            api = json.loads(json.dumps(api_stats))
        return JSONResponse({**oidc.stats_snapshot(), **api}, headers={"Cache-Control": "no-store"})

    @app.delete("/_glance/stats")
    def reset_stats():
        with oidc._lock:
            oidc.stats = oidc._zero_stats()
        reset_api_stats()
        return stats()

    @app.get("/")
    def index():
        return {"service": "ATLAS Glance sandbox", "api": ctx.origin + root, "issuer": oidc.issuer}

    proto = f"{oidc.issuer}/protocol/openid-connect"
    api_url = ctx.origin + root.rstrip("/")
    info = {
        "api_url": api_url,
        "web_base_url": ctx.origin + "/web",
        "realm": realm,
        "issuer": oidc.issuer,
        "discovery_url": f"{oidc.issuer}/.well-known/openid-configuration",
        "authorization_endpoint": f"{proto}/auth",
        "token_endpoint": f"{proto}/token",
        "revocation_endpoint": f"{proto}/revoke",
        "jwks_uri": f"{proto}/certs",
        "userinfo_endpoint": f"{proto}/userinfo",
        "device_authorization_endpoint": f"{proto}/auth/device",
        "device_verification_uri": f"{oidc.issuer}/device",
        "client_id": "astroquery-ext",
        "client_ids": clients,
        "scopes": "openid",
        "exchange_audience": audience,
        "accept_base_tokens": accept_base,
        "required_role": required_role,
        "kid": oidc.kid,
        "stats_url": ctx.origin + "/_glance/stats",
        "lifetimes": {"access_token": settings.access_token_ttl, "refresh_token": settings.refresh_token_ttl,
                      "exchange_token": settings.exchange_token_ttl, "code": settings.code_ttl,
                      "device_code": settings.device_code_ttl, "device_interval": settings.device_interval},
        "auto_approve": settings.auto_approve,
        "device_auto_approve_after": settings.device_auto_approve_after,
        "max_limit": max_limit,
        "default_limit": 50,
        "quirks": sorted(quirks),
        "strict_dsl": strict,
        "list_operators": list_operators,
        "password_grant": settings.password_grant,
        "cache_control": cache_control,
        "endpoints": {name: ctx.origin + root + name for name in ENDPOINTS},
        "counts": dataset.counts(),
        "known": dataset.known(),
        "stare_env": {
            "STARE_BASE_URL": api_url, "STARE_AUTH_URL": f"{proto}/auth", "STARE_TOKEN_URL": f"{proto}/token",
            "STARE_REVOCATION_URL": f"{proto}/revoke", "STARE_JWKS_URL": f"{proto}/certs",
            "STARE_ISSUER": oidc.issuer, "STARE_CLIENT_ID": "stare", "STARE_EXCHANGE_AUDIENCE": audience,
            "STARE_WEB_BASE_URL": ctx.origin + "/web", "STARE_TOKEN_STORAGE": "file",
        },
        "built_at": time.time(),
    }
    # Constructor arguments of our client (Sandbox.client("glance")), as stare_env is for stare.
    info["client_settings"] = {
        **{k: info[k] for k in ("web_base_url", "issuer", "authorization_endpoint", "token_endpoint",
                                "revocation_endpoint", "jwks_uri", "device_authorization_endpoint",
                                "client_id", "scopes", "exchange_audience")},
        "callback_host": "127.0.0.1", "callback_port": 0}
    return SandboxService(app=app, root=root, credentials=dict(users["alice"]), users=users, info=info,
                          controls={"expire-access-tokens": oidc.expire_access_tokens})
