"""A small Keycloak-like OpenID Connect provider for the sandbox.

Not tied to Glance: give it an issuer, users and clients, mount its router,
and ask it to verify bearer tokens. Paths (``{issuer}`` is
``{origin}/realms/{realm}``)::

    GET  {issuer}/.well-known/openid-configuration
    GET  {issuer}/protocol/openid-connect/auth          authorization endpoint (code + PKCE)
    POST {issuer}/protocol/openid-connect/auth          its login form (when not auto-approving)
    POST {issuer}/protocol/openid-connect/auth/device   device authorization (RFC 8628)
    GET  {issuer}/device                                device verification page (approves headlessly)
    POST {issuer}/device                                its form
    POST {issuer}/protocol/openid-connect/token         every grant below
    POST {issuer}/protocol/openid-connect/revoke        RFC 7009
    GET  {issuer}/protocol/openid-connect/certs         JWKS (RS256, with ``kid``)
    GET  {issuer}/protocol/openid-connect/userinfo

Grants: ``authorization_code`` (PKCE S256 required by default; code, client,
redirect URI and verifier checked; codes are single-use), ``refresh_token``
(rotation: every refresh token is single-use), ``password`` (direct access,
can be switched off), ``urn:ietf:params:oauth:grant-type:device_code`` and
``urn:ietf:params:oauth:grant-type:token-exchange`` (RFC 8693, to a
configured audience). The ``offline_access`` scope gives an offline session:
its refresh token has ``typ: Offline`` and no ``exp``. Errors are Keycloak's:
HTTP 400 (401 for bad client or user credentials) with
``{"error": ..., "error_description": ...}``.

All tokens are RS256 JWTs signed with one key, kept as a PEM file in the data
directory (so a restart with the same directory keeps issued tokens valid;
sessions themselves are in memory and die with the process).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import json
import os
import secrets
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

GRANT_CODE = "authorization_code"
GRANT_REFRESH = "refresh_token"
GRANT_PASSWORD = "password"
GRANT_DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
TOKEN_TYPE_ACCESS = "urn:ietf:params:oauth:token-type:access_token"
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64(n: int) -> str:
    return _b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def s256(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode()).digest())


def is_loopback_redirect(uri: str) -> bool:
    """RFC 8252: any port and path on a loopback host, over http."""
    try:
        parts = urlsplit(uri)
        port = parts.port  # raises on a bad port
    except ValueError:
        return False
    return (parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1")
            and port is not None and not parts.fragment)


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.error, "error_description": self.description},
                            status_code=self.status, headers={"Cache-Control": "no-store"})


@dataclasses.dataclass
class OIDCSettings:
    access_token_ttl: int = 300
    refresh_token_ttl: int = 1800
    exchange_token_ttl: int = 300
    code_ttl: int = 60
    device_code_ttl: int = 600
    device_interval: int = 1
    device_auto_approve_after: int = 0
    auto_approve: bool = True
    require_pkce: bool = True
    password_grant: bool = True
    exchange_audiences: tuple[str, ...] = ()


@dataclasses.dataclass
class _Session:
    sid: str
    username: str
    client_id: str
    scope: str
    offline: bool
    created: float
    nonce: str | None = None
    revoked: bool = False
    refresh_expires: float | None = None


class OIDCProvider:
    """State and routes of one realm."""

    def __init__(self, origin: str, realm: str, *, users: dict[str, dict], clients: list[str],
                 data_dir: Path, settings: OIDCSettings | None = None, default_user: str | None = None):
        self.origin = origin.rstrip("/")
        self.realm = realm
        self.prefix = f"/realms/{realm}"
        self.issuer = self.origin + self.prefix
        self.users = users
        self.clients = list(clients)
        self.settings = settings or OIDCSettings()
        self.default_user = default_user or next(iter(users))
        self._key, self.kid = self._load_key(Path(data_dir))
        self._public = self._key.public_key()
        self._lock = threading.Lock()
        self._codes: dict[str, dict] = {}
        self._sessions: dict[str, _Session] = {}
        self._refresh_jtis: dict[str, str] = {}      # live refresh-token jti -> sid
        self._revoked_access: set[str] = set()
        #: Access tokens issued so far (jti), and those a test expired early (`expire_access_tokens`).
        self._issued_access: set[str] = set()
        self._expired_access: set[str] = set()
        self._devices: dict[str, dict] = {}          # device_code -> state
        self._user_codes: dict[str, str] = {}        # user_code -> device_code
        self.stats = self._zero_stats()

    # -- keys and tokens ---------------------------------------------------------

    @staticmethod
    def _load_key(data_dir: Path):
        path = data_dir / "oidc-signing-key.pem"
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            data_dir.mkdir(parents=True, exist_ok=True)
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
        numbers = key.public_key().public_numbers()
        # RFC 7638 thumbprint as the key id
        thumb = json.dumps({"e": _int_b64(numbers.e), "kty": "RSA", "n": _int_b64(numbers.n)},
                           separators=(",", ":"), sort_keys=True)
        return key, _b64url(hashlib.sha256(thumb.encode()).digest())

    def jwks(self) -> dict:
        numbers = self._public.public_numbers()
        return {"keys": [{"kid": self.kid, "kty": "RSA", "alg": "RS256", "use": "sig",
                          "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}]}

    def _sign(self, claims: dict) -> str:
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})

    def decode(self, token: str, *, verify_exp: bool = True) -> dict:
        """Signature (and by default expiry) checked; audience left to the caller."""
        return jwt.decode(token, self._public, algorithms=["RS256"], issuer=self.issuer,
                          options={"verify_aud": False, "verify_exp": verify_exp})

    def _user_claims(self, username: str) -> dict:
        u = self.users[username]
        return {"sub": u["sub"], "preferred_username": username, "name": u["name"],
                "given_name": u["given_name"], "family_name": u["family_name"], "email": u["email"],
                "cern_person_id": u.get("cern_person_id"), "cern_roles": list(u.get("roles", [])),
                "cern_upn": username}

    def _issue(self, sess: _Session, *, with_id: bool, auth_time: float | None = None) -> dict:
        now = int(time.time())
        st = self.settings
        user = self._user_claims(sess.username)
        access = {"exp": now + st.access_token_ttl, "iat": now, "auth_time": int(auth_time or sess.created),
                  "jti": str(uuid.uuid4()), "iss": self.issuer, "aud": "account", "typ": "Bearer",
                  "azp": sess.client_id, "sid": sess.sid, "session_state": sess.sid, "scope": sess.scope,
                  **user}
        rjti = str(uuid.uuid4())
        refresh = {"iat": now, "jti": rjti, "iss": self.issuer, "aud": self.issuer, "sub": user["sub"],
                   "typ": "Offline" if sess.offline else "Refresh", "azp": sess.client_id, "sid": sess.sid,
                   "session_state": sess.sid, "scope": sess.scope}
        if not sess.offline:
            refresh["exp"] = now + st.refresh_token_ttl
        body = {"access_token": self._sign(access), "expires_in": st.access_token_ttl,
                "refresh_expires_in": 0 if sess.offline else st.refresh_token_ttl,
                "refresh_token": self._sign(refresh), "token_type": "Bearer",
                "not-before-policy": 0, "session_state": sess.sid, "scope": sess.scope}
        if with_id and "openid" in sess.scope.split():
            at_hash = _b64url(hashlib.sha256(body["access_token"].encode()).digest()[:16])
            idt = {"exp": now + st.access_token_ttl, "iat": now, "auth_time": int(auth_time or sess.created),
                   "jti": str(uuid.uuid4()), "iss": self.issuer, "aud": sess.client_id, "typ": "ID",
                   "azp": sess.client_id, "sid": sess.sid, "session_state": sess.sid, "at_hash": at_hash,
                   **user}
            if sess.nonce:
                idt["nonce"] = sess.nonce
            body["id_token"] = self._sign(idt)
        with self._lock:
            self._refresh_jtis[rjti] = sess.sid
            self._issued_access.add(access["jti"])
        return body

    def _new_session(self, username: str, client_id: str, scope: str, nonce: str | None = None) -> _Session:
        scope_words = scope.split() or ["openid"]
        sess = _Session(sid=str(uuid.uuid4()), username=username, client_id=client_id,
                        scope=" ".join(dict.fromkeys(scope_words + ["profile", "email"])),
                        offline="offline_access" in scope_words, created=time.time(), nonce=nonce)
        with self._lock:
            self._sessions[sess.sid] = sess
        return sess

    # -- checks used by resource servers -----------------------------------------

    def verify_access_token(self, token: str, *, audiences: tuple[str, ...], accept_base: bool = False) -> dict:
        """Claims of a live access token meant for one of ``audiences`` (or any base token).

        Raises `OAuthError` with ``invalid_token`` and a reason.
        """
        try:
            claims = self.decode(token)
        except jwt.ExpiredSignatureError:
            raise OAuthError("invalid_token", "Token has expired", 401) from None
        except jwt.PyJWTError as exc:
            raise OAuthError("invalid_token", f"Token is not valid: {exc}", 401) from None
        if claims.get("typ") != "Bearer":
            raise OAuthError("invalid_token", f"Not an access token (typ {claims.get('typ')!r})", 401)
        aud = claims.get("aud")
        auds = set(aud if isinstance(aud, list) else [aud])
        if not (auds & set(audiences)) and not (accept_base and claims.get("azp") in self.clients):
            raise OAuthError("invalid_token", "Token audience is not accepted by this API; "
                             f"exchange it for audience {audiences[0] if audiences else '?'!r}", 401)
        with self._lock:
            sess = self._sessions.get(claims.get("sid", ""))
            revoked = claims.get("jti") in self._revoked_access
            expired = claims.get("jti") in self._expired_access
        if expired:
            raise OAuthError("invalid_token", "Token has expired", 401)
        if sess is None or sess.revoked or revoked:
            raise OAuthError("invalid_token", "Token has been revoked or its session is no longer active", 401)
        return claims

    def expire_access_tokens(self) -> int:
        """Expire now every access token issued so far (login and exchanged ones; refresh tokens
        stay valid): a test's way to pass a token's lifetime without waiting. Returns how many."""
        with self._lock:
            count = len(self._issued_access)
            self._expired_access |= self._issued_access
            self._issued_access = set()
        return count

    # -- stats ---------------------------------------------------------------------

    @staticmethod
    def _zero_stats() -> dict:
        return {"authorizations": 0, "authorization_errors": 0, "codes_redeemed": 0, "refreshes": 0,
                "refresh_rejected": 0, "password_logins": 0, "exchanges": 0, "exchange_rejected": 0,
                "device_authorizations": 0, "device_polls": 0, "device_approvals": 0, "device_grants": 0,
                "revocations": 0, "token_errors": 0, "sessions": 0}

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.stats[key] = self.stats.get(key, 0) + n

    def stats_snapshot(self) -> dict:
        with self._lock:
            out = dict(self.stats)
            out["sessions"] = sum(1 for s in self._sessions.values() if not s.revoked)
        return out

    # -- grants ----------------------------------------------------------------------

    def _check_client(self, client_id: str | None) -> str:
        if not client_id:
            raise OAuthError("invalid_client", "Missing client_id", 401)
        if client_id not in self.clients:
            raise OAuthError("invalid_client", "Invalid client or Invalid client credentials", 401)
        return client_id

    def _grant_code(self, form: dict) -> dict:
        client_id = self._check_client(form.get("client_id"))
        code = form.get("code", "")
        with self._lock:
            entry = self._codes.pop(code, None)
        if entry is None:
            raise OAuthError("invalid_grant", "Code not valid")
        if time.time() > entry["expires"]:
            raise OAuthError("invalid_grant", "Code is expired")
        if entry["client_id"] != client_id:
            raise OAuthError("invalid_grant", "Auth error: code was issued to another client")
        if form.get("redirect_uri") != entry["redirect_uri"]:
            raise OAuthError("invalid_grant", "Incorrect redirect_uri")
        challenge = entry.get("code_challenge")
        verifier = form.get("code_verifier")
        if challenge:
            if not verifier:
                raise OAuthError("invalid_grant", "PKCE code verifier not specified")
            if s256(verifier) != challenge:
                raise OAuthError("invalid_grant", "PKCE verification failed: Code mismatch")
        elif verifier:
            raise OAuthError("invalid_grant", "PKCE code verifier specified but challenge not present "
                             "in authorization")
        sess = self._new_session(entry["username"], client_id, entry["scope"], entry.get("nonce"))
        self._count("codes_redeemed")
        return self._issue(sess, with_id=True)

    def _grant_refresh(self, form: dict) -> dict:
        client_id = self._check_client(form.get("client_id"))
        token = form.get("refresh_token", "")
        try:
            claims = self.decode(token)
        except jwt.ExpiredSignatureError:
            self._count("refresh_rejected")
            raise OAuthError("invalid_grant", "Token is not active") from None
        except jwt.PyJWTError:
            self._count("refresh_rejected")
            raise OAuthError("invalid_grant", "Invalid refresh token") from None
        if claims.get("typ") not in ("Refresh", "Offline"):
            self._count("refresh_rejected")
            raise OAuthError("invalid_grant", "Invalid refresh token")
        if claims.get("azp") != client_id:
            self._count("refresh_rejected")
            raise OAuthError("invalid_grant", "Invalid refresh token. Token client and authorized client don't match")
        with self._lock:
            sid = self._refresh_jtis.pop(claims.get("jti", ""), None)
            sess = self._sessions.get(claims.get("sid", ""))
        if sess is None or sess.revoked:
            self._count("refresh_rejected")
            raise OAuthError("invalid_grant", "Session not active" if sess is None or sess.revoked
                             else "Invalid refresh token")
        if sid is None:
            self._count("refresh_rejected")
            raise OAuthError("invalid_grant", "Maximum allowed refresh token reuse exceeded")
        self._count("refreshes")
        return self._issue(sess, with_id=True)

    def _grant_password(self, form: dict) -> dict:
        client_id = self._check_client(form.get("client_id"))
        if not self.settings.password_grant:
            raise OAuthError("unauthorized_client", "Client not allowed for direct access grants")
        username = form.get("username", "")
        user = self.users.get(username)
        if user is None or user["password"] != form.get("password"):
            raise OAuthError("invalid_grant", "Invalid user credentials", 401)
        sess = self._new_session(username, client_id, form.get("scope") or "openid")
        self._count("password_logins")
        return self._issue(sess, with_id=True)

    def _grant_device(self, form: dict) -> dict:
        client_id = self._check_client(form.get("client_id"))
        code = form.get("device_code", "")
        now = time.time()
        self._count("device_polls")
        with self._lock:
            dev = self._devices.get(code)
            if dev is None:
                raise OAuthError("invalid_grant", "Device code not valid")
            if dev["client_id"] != client_id:
                raise OAuthError("invalid_grant", "Device code was issued to another client")
            if now > dev["expires"]:
                self._devices.pop(code, None)
                raise OAuthError("expired_token", "Device code is expired")
            dev["polls"] += 1
            auto = self.settings.device_auto_approve_after
            if dev["status"] == "pending" and auto and dev["polls"] > auto:
                dev["status"], dev["username"] = "approved", self.default_user
            if dev["status"] == "denied":
                self._devices.pop(code, None)
                raise OAuthError("access_denied", "The end user denied the authorization request")
            if dev["status"] == "pending":
                too_fast = dev["last_poll"] is not None and now - dev["last_poll"] < self.settings.device_interval
                dev["last_poll"] = now
                if too_fast:
                    raise OAuthError("slow_down", "Slow down")
                raise OAuthError("authorization_pending", "The authorization request is still pending")
            self._devices.pop(code, None)
            self._user_codes.pop(dev["user_code"], None)
        sess = self._new_session(dev["username"], client_id, dev["scope"])
        self._count("device_grants")
        return self._issue(sess, with_id=True)

    def _grant_exchange(self, form: dict) -> dict:
        client_id = self._check_client(form.get("client_id"))
        audience = form.get("audience") or ""
        if form.get("subject_token_type", TOKEN_TYPE_ACCESS) != TOKEN_TYPE_ACCESS:
            self._count("exchange_rejected")
            raise OAuthError("invalid_request", "Only access tokens can be exchanged")
        if form.get("requested_token_type", TOKEN_TYPE_ACCESS) != TOKEN_TYPE_ACCESS:
            self._count("exchange_rejected")
            raise OAuthError("invalid_request", "requested_token_type unsupported")
        if audience not in self.settings.exchange_audiences:
            self._count("exchange_rejected")
            raise OAuthError("invalid_client", "Audience not found")
        try:
            claims = self.verify_access_token(form.get("subject_token", ""), audiences=(), accept_base=True)
        except OAuthError as exc:
            self._count("exchange_rejected")
            raise OAuthError("invalid_token", f"Invalid token: {exc.description}") from None
        with self._lock:
            sess = self._sessions[claims["sid"]]
        now = int(time.time())
        ttl = self.settings.exchange_token_ttl
        exchanged = {"exp": now + ttl, "iat": now, "jti": str(uuid.uuid4()), "iss": self.issuer,
                     "aud": audience, "typ": "Bearer", "azp": client_id, "sid": sess.sid,
                     "session_state": sess.sid, "scope": sess.scope, **self._user_claims(sess.username)}
        self._count("exchanges")
        with self._lock:
            self._issued_access.add(exchanged["jti"])
        return {"access_token": self._sign(exchanged), "expires_in": ttl, "refresh_expires_in": 0,
                "token_type": "Bearer", "issued_token_type": TOKEN_TYPE_ACCESS, "not-before-policy": 0,
                "session_state": sess.sid, "scope": sess.scope}

    def token(self, form: dict) -> dict:
        grants = {GRANT_CODE: self._grant_code, GRANT_REFRESH: self._grant_refresh,
                  GRANT_PASSWORD: self._grant_password, GRANT_DEVICE: self._grant_device,
                  GRANT_EXCHANGE: self._grant_exchange}
        grant = form.get("grant_type")
        if not grant:
            raise OAuthError("invalid_request", "Missing form parameter: grant_type")
        if grant not in grants:
            raise OAuthError("unsupported_grant_type", f"Unsupported grant_type {grant!r}")
        return grants[grant](form)

    def revoke(self, form: dict) -> None:
        token = form.get("token", "")
        self._count("revocations")
        try:
            claims = self.decode(token, verify_exp=False)
        except jwt.PyJWTError:
            return  # RFC 7009: unknown tokens are not an error
        with self._lock:
            if claims.get("typ") in ("Refresh", "Offline"):
                sess = self._sessions.get(claims.get("sid", ""))
                if sess is not None:
                    sess.revoked = True
                self._refresh_jtis.pop(claims.get("jti", ""), None)
            else:
                self._revoked_access.add(claims.get("jti", ""))

    # -- authorization and device approval ----------------------------------------

    def _authorize(self, params: dict, username: str | None) -> Response:
        """Validate an authorization request and redirect back with a code or an error."""
        client_id = params.get("client_id")
        redirect_uri = params.get("redirect_uri", "")
        if client_id not in self.clients:
            self._count("authorization_errors")
            return HTMLResponse(f"<h1>Client not found</h1><p>{html.escape(str(client_id))}</p>", status_code=400)
        if not is_loopback_redirect(redirect_uri):
            self._count("authorization_errors")
            return HTMLResponse("<h1>Invalid parameter: redirect_uri</h1>", status_code=400)
        state = params.get("state")

        def back(extra: dict) -> RedirectResponse:
            query = {**({"state": state} if state is not None else {}), **extra}
            sep = "&" if "?" in redirect_uri else "?"
            return RedirectResponse(redirect_uri + sep + urlencode(query), status_code=302)

        def fail(error: str, desc: str) -> RedirectResponse:
            self._count("authorization_errors")
            return back({"error": error, "error_description": desc})

        if params.get("response_type") != "code":
            return fail("unsupported_response_type", "Only response_type=code is supported")
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        if challenge and method not in ("S256", None):
            return fail("invalid_request", "Invalid parameter: code challenge method is not supported")
        if challenge and method is None:
            return fail("invalid_request", "Missing parameter: code_challenge_method")
        if not challenge and self.settings.require_pkce:
            return fail("invalid_request", "Missing parameter: code_challenge_method")
        if username not in self.users:
            return fail("access_denied", "The user denied the request" if username is None
                        else f"Unknown user {username!r}")
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = {"client_id": client_id, "redirect_uri": redirect_uri,
                                 "code_challenge": challenge, "scope": params.get("scope") or "openid",
                                 "nonce": params.get("nonce"), "username": username,
                                 "expires": time.time() + self.settings.code_ttl}
        self._count("authorizations")
        return back({"session_state": str(uuid.uuid4()), "iss": self.issuer, "code": code})

    def _login_form(self, action: str, hidden: dict, title: str, error: str = "") -> HTMLResponse:
        fields = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in hidden.items())
        return HTMLResponse(
            f"<!doctype html><html><head><title>{html.escape(title)}</title></head><body>"
            f"<h1>{html.escape(title)}</h1><p style='color:red'>{html.escape(error)}</p>"
            f"<form method='post' action='{html.escape(action)}'>{fields}"
            "<label>Username <input name='username'></label> "
            "<label>Password <input name='password' type='password'></label> "
            "<button name='action' value='approve'>Sign in</button> "
            "<button name='action' value='deny'>Deny</button></form></body></html>")

    def _start_device(self, form: dict) -> dict:
        client_id = self._check_client(form.get("client_id"))
        device_code = secrets.token_urlsafe(32)
        with self._lock:
            while True:
                raw = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
                user_code = f"{raw[:4]}-{raw[4:]}"
                if user_code not in self._user_codes:
                    break
            self._devices[device_code] = {"client_id": client_id, "user_code": user_code,
                                          "scope": form.get("scope") or "openid", "status": "pending",
                                          "username": None, "polls": 0, "last_poll": None,
                                          "expires": time.time() + self.settings.device_code_ttl}
            self._user_codes[user_code] = device_code
        self._count("device_authorizations")
        verification = f"{self.issuer}/device"
        return {"device_code": device_code, "user_code": user_code, "verification_uri": verification,
                "verification_uri_complete": f"{verification}?{urlencode({'user_code': user_code})}",
                "expires_in": self.settings.device_code_ttl, "interval": self.settings.device_interval}

    def decide_device(self, user_code: str, username: str | None, approve: bool = True) -> str:
        """Approve or deny a pending device login; returns a short outcome for humans."""
        user_code = (user_code or "").strip().upper()
        if len(user_code) == 8 and "-" not in user_code:
            user_code = f"{user_code[:4]}-{user_code[4:]}"
        with self._lock:
            device_code = self._user_codes.get(user_code)
            dev = self._devices.get(device_code or "")
            if dev is None or time.time() > dev["expires"]:
                raise OAuthError("invalid_grant", f"Unknown or expired user code {user_code!r}", 400)
            if dev["status"] != "pending":
                raise OAuthError("invalid_grant", "This code has already been used", 400)
            if approve:
                if username not in self.users:
                    raise OAuthError("access_denied", f"Unknown user {username!r}", 400)
                dev["status"], dev["username"] = "approved", username
            else:
                dev["status"] = "denied"
        if approve:
            self._count("device_approvals")
        return "approved" if approve else "denied"

    # -- routes ------------------------------------------------------------------------

    def discovery(self) -> dict:
        base = f"{self.issuer}/protocol/openid-connect"
        return {
            "issuer": self.issuer, "authorization_endpoint": f"{base}/auth", "token_endpoint": f"{base}/token",
            "revocation_endpoint": f"{base}/revoke", "jwks_uri": f"{base}/certs",
            "userinfo_endpoint": f"{base}/userinfo", "device_authorization_endpoint": f"{base}/auth/device",
            "grant_types_supported": [GRANT_CODE, GRANT_REFRESH, GRANT_DEVICE, GRANT_EXCHANGE]
            + ([GRANT_PASSWORD] if self.settings.password_grant else []),
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "preferred_username", "name",
                                 "given_name", "family_name", "email", "cern_roles", "cern_person_id"],
        }

    def router(self) -> APIRouter:
        r = APIRouter(prefix=self.prefix)
        nostore = {"Cache-Control": "no-store", "Pragma": "no-cache"}

        @r.get("/.well-known/openid-configuration")
        def well_known():
            return self.discovery()

        @r.get("/protocol/openid-connect/certs")
        def certs():
            return JSONResponse(self.jwks())

        @r.get("/protocol/openid-connect/auth")
        def authorize(request: Request):
            params = dict(request.query_params)
            if not self.settings.auto_approve:
                if params.get("client_id") not in self.clients or not is_loopback_redirect(
                        params.get("redirect_uri", "")):
                    return self._authorize(params, None)
                return self._login_form(f"{self.prefix}/protocol/openid-connect/auth", params,
                                        f"Sign in to {self.realm}")
            username = params.get("login_hint") or params.get("username") or self.default_user
            return self._authorize(params, username)

        @r.post("/protocol/openid-connect/auth")
        async def authorize_form(request: Request):
            form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
            username = form.pop("username", "")
            password = form.pop("password", "")
            action = form.pop("action", "approve")
            if action == "deny":
                return self._authorize(form, None)  # redirects back with error=access_denied
            user = self.users.get(username)
            if user is None or user["password"] != password:
                return self._login_form(f"{self.prefix}/protocol/openid-connect/auth", form,
                                        f"Sign in to {self.realm}", "Invalid username or password.")
            return self._authorize(form, username)

        @r.post("/protocol/openid-connect/token")
        async def token(request: Request):
            form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
            try:
                body = self.token(form)
            except OAuthError as exc:
                if exc.error not in ("authorization_pending", "slow_down"):
                    self._count("token_errors")
                return exc.response()
            return JSONResponse(body, headers=nostore)

        @r.post("/protocol/openid-connect/auth/device")
        async def device_authorization(request: Request):
            form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
            try:
                return JSONResponse(self._start_device(form), headers=nostore)
            except OAuthError as exc:
                return exc.response()

        @r.get("/device")
        def device_page(request: Request):
            params = dict(request.query_params)
            user_code = params.get("user_code", "")
            approve = params.get("action", "approve") != "deny"
            if not self.settings.auto_approve or not user_code:
                return self._login_form(f"{self.prefix}/device", {"user_code": user_code},
                                        "Device login: enter your code and sign in")
            username = params.get("login_hint") or params.get("username") or self.default_user
            try:
                outcome = self.decide_device(user_code, username, approve)
            except OAuthError as exc:
                return HTMLResponse(f"<h1>{html.escape(exc.description)}</h1>", status_code=400)
            return HTMLResponse(f"<h1>Device login {outcome}</h1><p>You may close this window.</p>")

        @r.post("/device")
        async def device_form(request: Request):
            form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
            approve = form.get("action", "approve") != "deny"
            username = form.get("username", "")
            if approve:
                user = self.users.get(username)
                if user is None or user["password"] != form.get("password"):
                    return self._login_form(f"{self.prefix}/device", {"user_code": form.get("user_code", "")},
                                            "Device login", "Invalid username or password.")
            try:
                outcome = self.decide_device(form.get("user_code", ""), username, approve)
            except OAuthError as exc:
                return HTMLResponse(f"<h1>{html.escape(exc.description)}</h1>", status_code=400)
            return HTMLResponse(f"<h1>Device login {outcome}</h1>")

        @r.post("/protocol/openid-connect/revoke")
        async def revoke(request: Request):
            form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
            self.revoke(form)
            return Response(status_code=200, headers=nostore)

        @r.get("/protocol/openid-connect/userinfo")
        def userinfo(request: Request):
            auth = request.headers.get("authorization", "")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
            try:
                claims = self.verify_access_token(token, audiences=(), accept_base=True)
            except OAuthError as exc:
                return JSONResponse({"error": exc.error, "error_description": exc.description},
                                    status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            return {k: v for k, v in self._user_claims(claims["preferred_username"]).items() if v is not None}

        return r
