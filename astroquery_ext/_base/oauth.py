"""OAuth 2.0 / OpenID Connect for public clients, generic enough for any service.

- Authorization code with PKCE (S256) and a loopback redirect: a one-shot
  HTTP server on 127.0.0.1 receives the redirect; ``state`` is checked.
- A manual fallback for when no browser can reach the loopback server: the
  user pastes the URL they were redirected to.
- The device-authorization grant (RFC 8628) for machines with no browser.
- Refresh (with rotation: the new refresh token replaces the old one).
- RFC 8693 token exchange.
- ID-token checks: RS256 signature against the issuer's JWKS (verified in
  pure Python, no extra dependency), ``iss``, ``aud``, ``exp``, ``iat``, ``nonce``.
- Revocation.

Token-endpoint calls go through the service object's request layer (timeouts,
retries for what is safe to retry, redaction), never cached.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import html
import http.server
import re
import secrets
import threading
import time
import urllib.parse
import webbrowser
from typing import TYPE_CHECKING, Any, Callable, Mapping

from astroquery_ext._base.exceptions import AstroqueryExtError, LoginError
from astroquery_ext._base.auth import AuthState, _b64url_decode, _number, decode_jwt_unverified, jwt_expiry
from astroquery_ext._base.redaction import register_secret

if TYPE_CHECKING:  # pragma: no cover
    from astroquery_ext._base.query import ServiceQuery

__all__ = ["OIDCEndpoints", "OAuthClient", "pkce_pair", "verify_rs256", "decode_jwt_unverified", "jwt_expiry"]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
LEEWAY = 60.0


#: Shortest device-flow polling interval honoured, whatever the server says (RFC 8628 §3.5: default 5 s).
MIN_DEVICE_INTERVAL = 1.0
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x1f\x7f-\x9f]")


def printable(text: Any) -> str:
    """Server text made safe for a terminal: escape sequences and control characters removed."""
    return _CONTROL.sub("", str(text))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pkce_pair() -> tuple[str, str]:
    """A PKCE ``(code_verifier, code_challenge)`` pair (S256)."""
    verifier = _b64url(secrets.token_bytes(48))
    return verifier, _b64url(hashlib.sha256(verifier.encode()).digest())


def verify_rs256(n: int, e: int, signing_input: bytes, signature: bytes) -> bool:
    """RSASSA-PKCS1-v1_5 with SHA-256: does ``signature`` sign ``signing_input`` under key (n, e)?"""
    k = (n.bit_length() + 7) // 8
    if len(signature) != k or k < 256:  # RSA keys under 2048 bits are refused
        return False
    decoded = pow(int.from_bytes(signature, "big"), e, n).to_bytes(k, "big")
    digest_info = _SHA256_DIGEST_INFO + hashlib.sha256(signing_input).digest()
    expected = b"\x00\x01" + b"\xff" * (k - len(digest_info) - 3) + b"\x00" + digest_info
    return hmac.compare_digest(decoded, expected)


@dataclasses.dataclass
class OIDCEndpoints:
    """Where an OpenID provider answers, and who we are to it."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    client_id: str
    revocation_endpoint: str | None = None
    device_authorization_endpoint: str | None = None
    scopes: tuple[str, ...] = ("openid", "profile", "email")


class _CallbackServer(http.server.HTTPServer):
    """One-shot loopback server that records the query of the redirect."""

    allow_reuse_address = True

    def __init__(self, port: int, state: str = ""):
        super().__init__(("127.0.0.1", port), _CallbackHandler)
        self.state = state
        self.result: dict[str, str] | None = None
        self.done = threading.Event()
        #: Requests ignored because they did not carry this login's state.
        self.ignored = 0


class _CallbackHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        parts = urllib.parse.urlsplit(self.path)
        if parts.path != "/callback":
            self.send_error(404)
            return
        params = dict(urllib.parse.parse_qsl(parts.query))
        if not hmac.compare_digest(params.get("state", "").encode(), self.server.state.encode()):
            # Not the answer to this login (any local process can reach this
            # port): ignored, the login keeps waiting for the real redirect.
            self.server.ignored += 1
            self.send_error(400, "Not the redirect of the login in progress")
            return
        ok = "code" in params
        text = ("Login complete: you can close this window and return to Python." if ok else
                f"Login failed: {html.escape(printable(params.get('error_description') or params.get('error') or 'no code'))}")
        body = f"<!doctype html><title>astroquery-ext login</title><p>{text}</p>".encode()
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.result = params
        self.server.done.set()

    def log_message(self, *args):  # keep the code out of stderr
        pass


class OAuthClient:
    """The OAuth/OIDC flows of one public client.

    Parameters
    ----------
    query : ServiceQuery
        The service object whose request layer the token calls use.
    endpoints : OIDCEndpoints or callable
        The provider's endpoints, or a function returning them (read at call
        time, so configuration changes apply).
    """

    def __init__(self, query: "ServiceQuery", endpoints: OIDCEndpoints | Callable[[], OIDCEndpoints]):
        self._query = query
        self._endpoints = endpoints
        self._jwks: dict[str, dict] = {}
        self._jwks_lock = threading.Lock()

    @property
    def endpoints(self) -> OIDCEndpoints:
        return self._endpoints() if callable(self._endpoints) else self._endpoints

    # -- token endpoint --------------------------------------------------------

    def _token_call(self, form: Mapping[str, str], what: str) -> dict:
        ep = self.endpoints
        data = dict(form, client_id=ep.client_id)
        try:
            answer = self._query._json("POST", ep.token_endpoint, data=data, auth="none", cache=False,
                                       follow_redirects=False)
        except AstroqueryExtError as exc:
            if exc.status in (400, 401):
                raise LoginError(f"{self._query.name}: {what} was refused by the login service: "
                                 f"{exc.detail or exc}. Log in again with {self._query.name}.login().",
                                 status=exc.status, detail=exc.detail, url=exc.url,
                                 service=self._query.service) from None
            raise
        return self._checked_answer(answer, what)

    def _checked_answer(self, answer: Any, what: str) -> dict:
        """A token answer whose fields have the types RFC 6749 §5.1 gives them, else `LoginError`."""
        def bad(message: str):
            raise LoginError(f"{self._query.name}: the login service's answer to {what} {message}; it was "
                             f"not used. Try again later, or report it to the login service.",
                             service=self._query.service)

        if not isinstance(answer, dict):
            bad(f"is not a JSON object (got {type(answer).__name__})")
        for key in ("access_token", "refresh_token", "id_token"):
            value = answer.get(key)
            if isinstance(value, str):
                register_secret(value)
        token = answer.get("access_token")
        if not isinstance(token, str) or not token.strip():
            bad("has no access token" if token is None else "has an access token that is not a string")
        if any(c.isspace() or not c.isprintable() for c in token):
            bad("has an access token with spaces or control characters")
        for key in ("refresh_token", "id_token", "scope", "token_type"):
            if answer.get(key) is not None and not isinstance(answer[key], str):
                bad(f"has a {key} that is not a string")
        if answer.get("expires_in") is not None and (
                _number(answer["expires_in"]) is None or answer["expires_in"] <= 0):
            bad(f"has an expires_in that is not a positive number ({printable(repr(answer['expires_in']))[:40]})")
        return answer

    def to_state(self, answer: Mapping[str, Any], *, nonce: str | None = None, persist: bool = True,
                 previous: AuthState | None = None, require_id_token: bool = False) -> AuthState:
        """An `AuthState` from a token response, checking the ID token when there is one.

        ``require_id_token``: an OpenID login (scope ``openid``) must come with
        an ID token; a refresh may omit it (the earlier claims are kept), but a
        new one must name the same subject.
        """
        answer = self._checked_answer(answer, "the login")
        claims = dict(previous.extra.get("claims", {})) if previous else {}
        if answer.get("id_token"):
            fresh = self.verify_id_token(answer["id_token"], nonce=nonce)
            if previous is not None and claims.get("sub") is not None and fresh.get("sub") != claims.get("sub"):
                raise LoginError(f"{self._query.name}: the renewed ID token is for another user (subject "
                                 f"{printable(fresh.get('sub'))!r}, not {printable(claims.get('sub'))!r}); "
                                 f"refusing it. Log in again.", service=self._query.service)
            claims = fresh
        elif require_id_token:
            raise LoginError(f"{self._query.name}: the login service answered without an ID token, so who "
                             f"logged in cannot be checked; refusing the login.", service=self._query.service)
        now = time.time()
        expires_in = answer.get("expires_in")
        refresh = answer.get("refresh_token") or (previous.refresh_token if previous else None)
        scope = answer.get("scope") or (previous.extra.get("scope") if previous else "") or ""
        principal = claims.get("preferred_username") or claims.get("sub") or (
            previous.principal if previous else None)
        if principal is not None and not isinstance(principal, str):
            principal = str(principal)
        return AuthState(token=answer["access_token"], scheme="Bearer", principal=principal,
                         expires_at=now + float(expires_in) if expires_in else None, refresh_token=refresh,
                         obtained_at=now,
                         extra={"persist": persist, "claims": claims, "scope": scope,
                                "offline": "offline_access" in scope.split()})

    # -- authorization code + PKCE ----------------------------------------------

    def authorization_url(self, redirect_uri: str, *, state: str, challenge: str, nonce: str,
                          scopes: tuple[str, ...], login_hint: str | None = None) -> str:
        ep = self.endpoints
        params = {"response_type": "code", "client_id": ep.client_id, "redirect_uri": redirect_uri,
                  "scope": " ".join(scopes), "state": state, "code_challenge": challenge,
                  "code_challenge_method": "S256", "nonce": nonce}
        if login_hint:
            params["login_hint"] = login_hint
        return ep.authorization_endpoint + ("&" if "?" in ep.authorization_endpoint else "?") + \
            urllib.parse.urlencode(params)

    def login_with_browser(self, *, port: int = 0, timeout: float = 120.0, offline: bool = False,
                           open_browser: Callable[[str], Any] | None = None, manual: bool = False,
                           ask: Callable[[str], str] = input, login_hint: str | None = None,
                           persist: bool = True, redirect_host: str = "127.0.0.1") -> AuthState:
        """Authorization code + PKCE with a loopback redirect (or the manual fallback).

        Parameters
        ----------
        port : int
            Loopback port for the redirect (0: a free one).
        open_browser : callable, optional
            Opens the authorization URL (default: the system browser).
        manual : bool
            Do not listen on loopback: print the URL and ask for the URL the
            browser ended on (for a browser on another machine).
        redirect_host : {"127.0.0.1", "localhost"}
            Host name in the redirect URI, as registered with the provider
            (the callback server listens on 127.0.0.1 either way).
        """
        if redirect_host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"redirect_host must be '127.0.0.1' or 'localhost'; got {redirect_host!r}")
        ep = self.endpoints
        scopes = tuple(ep.scopes) + (("offline_access",) if offline else ())
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        server = None
        if manual:
            redirect_uri = f"http://{redirect_host}:{port or 8765}/callback"
        else:
            try:
                server = _CallbackServer(port, state)
            except OSError as exc:
                raise LoginError(f"{self._query.name}: cannot listen on 127.0.0.1:{port} for the login "
                                 f"redirect ({exc.strerror}); choose another port ({self._query.name}.login(port=...), "
                                 f"or conf.callback_port; 0 picks a free one) or log in with "
                                 f"{self._query.name}.login(method='manual')") from None
            redirect_uri = f"http://{redirect_host}:{server.server_address[1]}/callback"
        url = self.authorization_url(redirect_uri, state=state, challenge=challenge, nonce=nonce,
                                     scopes=scopes, login_hint=login_hint)
        if manual:
            print(f"Open this URL in a browser, log in, then paste the address the browser ends on:\n"
                  f"{printable(url)}")
            params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(ask("Redirected URL: ").strip()).query))
        else:
            thread = threading.Thread(target=self._serve, args=(server, timeout), daemon=True)
            thread.start()
            try:
                (open_browser or webbrowser.open)(url)
                if not server.done.wait(timeout):
                    raise LoginError(f"{self._query.name}: no login came back within {timeout:.0f} s. "
                                     f"Try again, or use the device flow on machines without a browser.",
                                     service=self._query.service)
            finally:
                server.done.set()
                thread.join(timeout=2)
                server.server_close()
            params = server.result or {}
        if not hmac.compare_digest(params.get("state", "").encode(), state.encode()):
            raise LoginError(f"{self._query.name}: the login redirect carried the wrong state; it was not "
                             f"answered to this login request and is ignored. Log in again.",
                             service=self._query.service)
        if params.get("error"):
            raise LoginError(f"{self._query.name}: login refused: "
                             f"{printable(params.get('error_description') or params['error'])}",
                             service=self._query.service)
        if "code" not in params:
            raise LoginError(f"{self._query.name}: the login redirect carried no code", service=self._query.service)
        answer = self._token_call({"grant_type": "authorization_code", "code": params["code"],
                                   "redirect_uri": redirect_uri, "code_verifier": verifier}, "the login")
        return self.to_state(answer, nonce=nonce, persist=persist, require_id_token="openid" in scopes)

    @staticmethod
    def _serve(server: _CallbackServer, timeout: float) -> None:
        server.timeout = 0.2
        deadline = time.monotonic() + timeout
        while not server.done.is_set() and time.monotonic() < deadline:
            server.handle_request()

    # -- device flow ---------------------------------------------------------------

    def login_with_device(self, *, offline: bool = False, timeout: float = 600.0,
                          show: Callable[[dict], Any] | None = None, persist: bool = True) -> AuthState:
        """The device-authorization grant: show a code, poll until it is approved."""
        ep = self.endpoints
        if not ep.device_authorization_endpoint:
            raise LoginError(f"{self._query.name}: this login service offers no device flow")
        scopes = tuple(ep.scopes) + (("offline_access",) if offline else ())
        start = self._query._json("POST", ep.device_authorization_endpoint, auth="none", cache=False,
                                  data={"client_id": ep.client_id, "scope": " ".join(scopes)},
                                  follow_redirects=False)
        if not isinstance(start, dict) or not isinstance(start.get("device_code"), str) or \
                not start["device_code"] or not isinstance(start.get("user_code"), str):
            raise LoginError(f"{self._query.name}: the login service's device-flow answer has no device code "
                             f"and user code; try again later, or log in with the browser.",
                             service=self._query.service)
        register_secret(start["device_code"])
        (show or self._show_device)(start)
        # A server asking for no wait (or none worth the name) would be polled
        # thousands of times a second: never faster than MIN_DEVICE_INTERVAL.
        interval = _number(start.get("interval"))
        interval = 5.0 if interval is None else max(MIN_DEVICE_INTERVAL, min(interval, 60.0))
        lifetime = _number(start.get("expires_in"))
        deadline = time.monotonic() + min(timeout, lifetime if lifetime and lifetime > 0 else timeout)
        while time.monotonic() < deadline:
            time.sleep(interval)
            try:
                answer = self._query._json(
                    "POST", ep.token_endpoint, auth="none", cache=False, follow_redirects=False,
                    data={"grant_type": DEVICE_GRANT, "device_code": start["device_code"], "client_id": ep.client_id})
            except AstroqueryExtError as exc:
                error = self._oauth_error(exc)
                if error == "authorization_pending":
                    continue
                if error == "slow_down":
                    interval = min(interval + 5, 60.0)
                    continue
                reason = {"access_denied": "the login was denied", "expired_token": "the code expired"}.get(
                    error, printable(exc.detail or str(exc)))
                raise LoginError(f"{self._query.name}: device login failed: {reason}. Log in again.",
                                 service=self._query.service) from None
            answer = self._checked_answer(answer, "the device login")
            return self.to_state(answer, persist=persist, require_id_token="openid" in scopes)
        raise LoginError(f"{self._query.name}: the device code was not approved in time. Log in again.",
                         service=self._query.service)

    @staticmethod
    def _oauth_error(exc: AstroqueryExtError) -> str | None:
        """The OAuth ``error`` code of a token-endpoint refusal (RFC 6749 §5.2)."""
        payload = exc.payload if isinstance(exc.payload, dict) else {}
        error = payload.get("error")
        return error if isinstance(error, str) else None

    @staticmethod
    def _show_device(start: Mapping[str, Any]) -> None:
        where = start.get("verification_uri_complete") or start.get("verification_uri")
        print(f"To log in, open {printable(where)} and enter the code {printable(start.get('user_code'))}")

    # -- refresh, exchange, revoke ----------------------------------------------------

    def refresh(self, state: AuthState) -> AuthState:
        """New tokens from the refresh token (rotated when the provider rotates)."""
        if not state.refresh_token:
            raise LoginError(f"{self._query.name}: the session has no refresh token; log in again.")
        answer = self._token_call({"grant_type": "refresh_token", "refresh_token": state.refresh_token},
                                  "the token refresh")
        return self.to_state(answer, persist=state.extra.get("persist", True), previous=state)

    def exchange(self, subject_token: str, audience: str) -> tuple[str, float | None]:
        """RFC 8693: an access token for ``audience``; returns ``(token, expires_at)``."""
        answer = self._token_call({"grant_type": EXCHANGE_GRANT, "subject_token": subject_token,
                                   "subject_token_type": ACCESS_TOKEN_TYPE,
                                   "requested_token_type": ACCESS_TOKEN_TYPE, "audience": audience},
                                  "the token exchange")
        expires_in = _number(answer.get("expires_in"))
        return answer["access_token"], (time.time() + expires_in if expires_in else None)

    def revoke(self, token: str, hint: str = "refresh_token") -> None:
        ep = self.endpoints
        if ep.revocation_endpoint:
            self._query._http("POST", ep.revocation_endpoint, auth="none", retries=1, follow_redirects=False,
                              data={"token": token, "token_type_hint": hint, "client_id": ep.client_id})

    # -- ID tokens ----------------------------------------------------------------------

    def _key(self, kid: str | None) -> dict:
        with self._jwks_lock:
            if kid not in self._jwks:
                keys = self._query._json("GET", self.endpoints.jwks_uri, auth="none", cache=False)
                listed = keys.get("keys") if isinstance(keys, dict) else None
                self._jwks = {k.get("kid"): k for k in (listed if isinstance(listed, list) else [])
                              if isinstance(k, dict) and k.get("kty") == "RSA"
                              and isinstance(k.get("n"), str) and isinstance(k.get("e"), str)}
            key = self._jwks.get(kid)
        if key is None:
            raise LoginError(f"{self._query.name}: the ID token is signed with a key ({kid!r}) the issuer "
                             f"does not publish; refusing it.")
        return key

    def verify_id_token(self, token: str, *, nonce: str | None = None) -> dict:
        """The claims of an ID token, after checking signature, issuer, audience and times."""
        header, claims, signing_input, signature = decode_jwt_unverified(token)
        if header.get("alg") != "RS256":
            raise LoginError(f"{self._query.name}: the ID token uses algorithm {header.get('alg')!r}; "
                             f"only RS256 is accepted")
        key = self._key(header.get("kid"))
        n = int.from_bytes(_b64url_decode(key["n"]), "big")
        e = int.from_bytes(_b64url_decode(key["e"]), "big")
        if not verify_rs256(n, e, signing_input, signature):
            raise LoginError(f"{self._query.name}: the ID token's signature does not verify; refusing it")
        ep = self.endpoints
        now = time.time()
        if not isinstance(claims, dict):
            raise LoginError(f"{self._query.name}: the ID token's claims are not a JSON object; refusing it")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        problems = []
        if claims.get("iss") != ep.issuer:
            problems.append(f"issuer {printable(claims.get('iss'))!r} is not {ep.issuer!r}")
        if ep.client_id not in audiences:
            problems.append(f"audience {printable(audience)!r} does not include {ep.client_id!r}")
        elif len(audiences) > 1 and claims.get("azp") is None:
            # OIDC Core 3.1.3.7: several audiences need an authorized party naming us.
            problems.append("it has several audiences and no authorized party (azp)")
        if claims.get("azp") is not None and claims.get("azp") != ep.client_id:
            problems.append(f"its authorized party {printable(claims.get('azp'))!r} is not {ep.client_id!r}")
        exp, iat = _number(claims.get("exp")), _number(claims.get("iat"))
        if exp is None:
            problems.append("its expiry (exp) is missing or not a finite number")
        elif exp < now - LEEWAY:
            problems.append("it has expired")
        if iat is None:
            problems.append("its issue time (iat) is missing or not a finite number")
        elif iat > now + LEEWAY:
            problems.append("it is issued in the future")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            problems.append("it names no subject (sub)")
        if nonce is not None and not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            problems.append("its nonce does not match this login")
        if problems:
            raise LoginError(f"{self._query.name}: refusing the ID token: {'; '.join(problems)}.")
        return claims
