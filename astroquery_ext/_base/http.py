"""The transport: one session per process, deadlines, bounded bodies.

What `HttpMixin` (part of `~astroquery_ext._base.query.ServiceQuery`) does
for every request:

- one ``requests.Session`` per object and process; the Authorization header
  is built per request from the current login, never set on the shared
  session; cookies go back only to the origin (host and port) that set them;
- every attempt runs under the one retry policy (`~astroquery_ext._base.retry`):
  an answer of 429/502/503/504 or one cut short asks it for another;
- a 401 on an authenticated request renews the token once and repeats the request;
- every exchange is bounded by a deadline, every body read into memory by a size;
- failures raise the exceptions of :mod:`astroquery_ext._base.exceptions`
  (mapped by `~astroquery_ext._base.errors.ErrorsMixin`);
- JSON answers of cacheable calls go through the safe `ResponseCache`;
- DEBUG logging shows method, URL (credentials redacted), status, size and
  time: never headers or bodies.
"""

from __future__ import annotations

import dataclasses
import functools
import http.client
import http.cookiejar
import logging
import re
import urllib.parse
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, TypeVar

import requests

from astroquery_ext._base.cache import ResponseCache, cache_key
from astroquery_ext._base.deadline import CallBound, Deadline, deadline_adapter
from astroquery_ext._base.deadline import progress as body_progress
from astroquery_ext._base.exceptions import AstroqueryExtError, RemoteServiceError, ServiceTimeoutError
from astroquery_ext._base.loopback import direct_to_loopback
from astroquery_ext._base.nesting import JsonTooDeep as _TooDeep, check_nesting
from astroquery_ext._base.redaction import redact_url, register_secret, scrub_chain
from astroquery_ext._base.retry import Retryable
from astroquery_ext._base.shapes import CONTAINER, Shape
from astroquery_ext._base.tables import decode_json

if TYPE_CHECKING:  # pragma: no cover
    from astroquery_ext._base.auth import AuthState

__all__ = ["HttpMixin", "loads", "ERROR_BODY_LIMIT"]

log = logging.getLogger("astroquery_ext")

#: Body fields whose values are registered as secrets when sent.
_BODY_SECRET = re.compile(r"password|passwd|secret|token|api_?key|assertion|verifier", re.IGNORECASE)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})

T = TypeVar("T")


class _RetryableStatus(Retryable):
    """A 429/502/503/504 answer; when the policy gives up, its mapped error is raised."""

    def __init__(self, client, response, method, url, state, *, acted, retry_after):
        super().__init__(f"HTTP {response.status_code}", acted=acted, retry_after=retry_after,
                         status=response.status_code)
        self._raise = lambda: client._raise_for_status(response, method, url, state)
        try:  # the error text, for the message if the policy gives up
            client._bounded_content(response, "", limit=ERROR_BODY_LIMIT, strict=False)
        except Exception:  # noqa: BLE001 - a cut-off error body leaves the message without it
            response._content = b""
        response.close()

    def raise_error(self):
        self._raise()


#: How much of an error answer is read (its text goes into the message).
ERROR_BODY_LIMIT = 1 << 20


def loads(content: bytes | str) -> Any:
    """``json.loads`` that refuses a document nested too deeply (`_TooDeep`, a ``ValueError``) before decoding it."""
    check_nesting(content)
    return decode_json(content)


class _OriginCookieJar(requests.cookies.RequestsCookieJar):
    """A cookie jar whose cookies go back only to the origin (host *and* port) that set them.

    Browsers' rules (and requests') scope a cookie by host alone, so a cookie
    from one server would go to any other server on the same host.
    """

    def extract_cookies(self, response, request):
        port = http.cookiejar.request_port(request)
        for cookie in self.make_cookies(response, request):
            if self._policy.set_ok(cookie, request):
                cookie.port, cookie.port_specified = port, True
                self.set_cookie(cookie)



@dataclasses.dataclass(repr=False)  # no repr: the body may hold a password
class _Request:
    """One request as `HttpMixin._http` sends it, attempt after attempt."""

    method: str
    url: str
    what: str  # "POST /path/", for messages
    auth: str
    headers: Any  # a mapping, or a callable called once per attempt
    data: Any
    replayable: bool  # the body can be sent again (retry, renewal)
    stream: bool
    read: Callable | None
    send_kwargs: dict
    bound: CallBound  # the total bound of the call, all attempts included
    renewed: bool = False  # a 401 renews the token once per call

    def body(self) -> Any:
        """The body of one attempt: a body factory is called for a fresh one."""
        return self.data() if callable(self.data) else self.data


def _register_body_secrets(*bodies: Any) -> bool:
    """A credential sent in a body is masked wherever it is echoed. Returns whether a body holds one."""
    found = False
    for body in bodies:
        if isinstance(body, Mapping):
            for key, value in body.items():
                if isinstance(key, str) and _BODY_SECRET.search(key):
                    register_secret(value)
                    found = True
    return found


class HttpMixin:
    """Session, deadlines, bounded bodies; ``_http`` and ``_json`` (their retries: `RetryMixin`)."""

    #: Largest answer body read into memory (bytes, after decompression): a
    #: gzip answer that expands past it (a decompression bomb) is refused.
    max_answer_bytes: int = 512 << 20
    #: Upper bound of ``max_workers`` for concurrent pages and downloads.
    max_workers_limit: ClassVar[int] = 16
    #: Requests per hour the service allows one user, if it counts them (None: no hourly quota).
    #: Batches of one request per item say their cost against it and meet its HTTP 429 through one
    #: `~astroquery_ext._base.policy.QuotaGate` (`~astroquery_ext._base.policy.quota_gate`).
    requests_per_hour: ClassVar[int | None] = None

    # -- the session ---------------------------------------------------------------

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        # Not astroquery's response hook: it logs request headers (tokens) at DEBUG.
        session.hooks["response"] = [self._log_response]
        # Sockets that a Deadline can stop (timeout bounds the whole exchange).
        adapter = deadline_adapter(pool_connections=4, pool_maxsize=self.max_workers_limit * 2)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = self._user_agent
        session.cookies = _OriginCookieJar()  # cookies scoped to host and port
        return direct_to_loopback(session)  # a local server is never reached through a proxy

    # -- HTTP ------------------------------------------------------------------------

    def _log_response(self, response: requests.Response, *args, **kwargs) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s -> %s (%s bytes, %.3f s)", response.request.method,
                      redact_url(response.request.url), response.status_code,
                      response.headers.get("Content-Length", "?"), response.elapsed.total_seconds())

    def _send(self, method: str, url: str, **kwargs) -> requests.Response:
        """One request, no retry (`_retrying` decides about those)."""
        kwargs.setdefault("timeout", (min(10.0, self.timeout), self.timeout))
        if self._verify is not True:
            kwargs.setdefault("verify", self._verify)  # per request: REQUESTS_CA_BUNDLE would win over the session's
        return self._session.request(method, url, **kwargs)

    @property
    def total_timeout(self) -> float | None:
        """The total bound of one call in seconds (``conf.total_timeout``; None: automatic, see `CallBound`)."""
        value = getattr(self.conf, "total_timeout", None)
        return float(value) if value else None

    def _deadline(self, timeout=None, *, what: str = "the request", bound: CallBound | None = None) -> Deadline:
        """A `Deadline` for one exchange: ``timeout`` (default the client's) plus a little slack.

        The per-read timeout (``timeout``) stops a silent server first, and
        that is retried; the deadline stops a server that keeps sending too
        slowly, and that is not. A body that keeps arriving moves it on: the
        loops that read bodies block by block (``_bounded_content``,
        downloads, ``read_ahead``) report each block to
        `astroquery_ext._base.deadline.progress`, so a large answer at any
        usable speed completes. A ``read=`` function of a module that reads
        the body itself should do the same.
        """
        seconds = self._wait(timeout)
        return Deadline(seconds + max(1.0, 0.25 * seconds), what, bound=bound)

    def _wait(self, timeout=None) -> float:
        """The wait for progress of a request: ``timeout`` (the longest of a (connect, read) pair), else the client's."""
        if isinstance(timeout, tuple):
            timeout = max(t for t in timeout if t is not None)
        return self.timeout if timeout is None else float(timeout)

    def _bounded_content(self, response: requests.Response, what: str, *, limit: int | None = None,
                         strict: bool = True) -> bytes:
        """Read the whole (decoded) body, at most ``limit`` bytes (default ``max_answer_bytes``).

        Past the limit: `RemoteServiceError` (``strict``), else the body cut
        at the limit. The body is then ``response.content`` as usual.
        """
        if response._content is not False:  # already read
            return response.content
        limit = self.max_answer_bytes if limit is None else limit
        blocks, size = [], 0
        for block in response.iter_content(1 << 16):
            size += len(block)
            body_progress(len(block))
            if size > limit:
                response.close()
                if not strict:
                    blocks.append(block[:len(block) - (size - limit)])
                    break
                encoding = response.headers.get("Content-Encoding", "")
                raise RemoteServiceError(
                    f"{self.name}: {what} answered more than {limit:,} bytes"
                    f"{f' once decompressed ({encoding})' if encoding else ''}; the answer was refused "
                    f"(a body this large is a fault or an attack: report it to the service if it persists).",
                    status=response.status_code, url=redact_url(response.url or ""), service=self.service)
            blocks.append(block)
        response._content = b"".join(blocks)
        response._content_consumed = True
        return response._content


    # -- one request: prepare, attempt under a deadline, exchange, read ------------------

    def _http(self, method: str, path: str, *, params=None, data=None, json=None, files=None,
              headers: "Mapping[str, str] | Callable[[], Mapping[str, str]] | None" = None, auth: str = "optional",
              idempotent: bool | None = None, stream: bool = False, retries: int | None = None,
              timeout=None, read: Callable[[requests.Response], T] | None = None,
              follow_redirects: bool | None = None) -> Any:
        """Send a request (auth, retry policy, one renewal on 401); raise on any error status.

        Parameters
        ----------
        headers : dict or callable, optional
            Extra request headers; a callable is called once per attempt (a
            download's ``Range`` depends on what the last attempt wrote).
        data : dict, bytes, str, or callable
            The body. A callable is a body factory: called once per attempt
            for a fresh streamed body (file uploads), so that the request can
            be repeated like any other. A file object or generator given
            directly cannot be sent twice: no retry, no renewal.
        auth : {"required", "optional", "none"}
            ``required`` logs in without prompting if needed (else `~astroquery_ext.exceptions.LoginError`);
            ``optional`` sends the token if logged in; ``none`` never sends it.
        idempotent : bool, optional
            Whether repeating the request is harmless; default: by HTTP method.
        read : callable, optional
            ``read(response) -> value`` for a successful answer: its body is
            read inside the retry policy (a body cut off while ``read`` runs,
            or ``read`` raising `Retryable`, repeats the whole request), the
            response is closed afterwards, and ``_http`` returns ``value``.
            Without it ``_http`` returns the response itself.
        follow_redirects : bool, optional
            Default: follow, unless the body holds a credential (a password, a
            token...). A request that carries credentials (pass False for token
            calls whose body does not say so) never follows a redirect: a 3xx
            raises `~astroquery_ext.exceptions.LoginError` and nothing is sent
            to its ``Location``. Requests that follow keep credentials only for
            the same origin (requests drops them across origins).

        Returns
        -------
        requests.Response, or what ``read`` returned
        """
        method = method.upper()
        url = self._url(path)
        credentials = _register_body_secrets(data, json)
        if follow_redirects is None:
            follow_redirects = not credentials
        replayable = files is None and (callable(data) or data is None
                                        or isinstance(data, (bytes, str, Mapping, list, tuple)))
        # Always streamed underneath: the body is read here, bounded in size
        # (decompression bombs) and under the deadline, unless the caller reads it.
        send_kwargs = dict(params=params, json=json, files=files, stream=True, allow_redirects=follow_redirects)
        if timeout is not None:
            send_kwargs["timeout"] = timeout
        request = _Request(method=method, url=url, what=f"{method} {urllib.parse.urlsplit(redact_url(url)).path}",
                           auth=auth, headers=headers, data=data, replayable=replayable, stream=stream,
                           read=read, send_kwargs=send_kwargs,
                           bound=CallBound(self._wait(timeout), self.total_timeout))
        try:
            return self._retrying(functools.partial(self._attempt, request), what=request.what,
                                  idempotent=method in IDEMPOTENT_METHODS if idempotent is None else idempotent,
                                  retries=retries if replayable else 0)  # a streamed body cannot be sent twice
        except BaseException as exc:
            # The attempts' frames have finished: their locals (the request headers with the token,
            # the response) go, so that no debugger or error tracker shows them. Line numbers stay.
            scrub_chain(exc)
            raise

    def _attempt(self, request: _Request, n: int) -> Any:
        """One attempt of ``request``, bounded by its deadline."""
        deadline = self._deadline(request.send_kwargs.get("timeout"), what=request.what, bound=request.bound)
        if n and request.bound.passed():  # retries end at the call's total bound too
            raise self._deadline_error(request, deadline)
        try:
            with deadline:
                result = self._exchange(request)
        except Exception as exc:
            if deadline.expired and not isinstance(exc, AstroqueryExtError):
                raise self._deadline_error(request, deadline) from None
            raise
        if deadline.expired:  # cut off by the deadline, though what arrived looked whole
            if isinstance(result, requests.Response):
                result.close()
            raise self._deadline_error(request, deadline)
        return result

    def _deadline_error(self, request: _Request, deadline: Deadline) -> ServiceTimeoutError:
        if deadline.at_bound or request.bound.passed():
            return ServiceTimeoutError(
                f"{self.name}: {request.what} did not complete within {request.bound.describe()}, though the "
                f"server kept sending: it sends too slowly and the call was stopped. Try again later, or raise "
                f"astroquery_ext.{self.service}.conf.total_timeout if the service is slow but working.",
                url=redact_url(request.url), service=self.service)
        return ServiceTimeoutError(
            f"{self.name}: {request.what} did not complete within {deadline.seconds:g} s "
            f"(timeout={self.timeout:g}): the server answers too slowly and the call was stopped. Try again "
            f"later, or raise {self.name}.timeout if the service is slow but working.",
            url=redact_url(request.url), service=self.service)

    def _exchange(self, request: _Request) -> Any:
        """Send ``request`` as the current login; renew once on 401; check the status; read the answer."""
        while True:  # a renewal repeats at once; it is not a failure
            state = self._current_auth(request.auth)
            headers = dict((request.headers() if callable(request.headers) else request.headers) or {})
            if state is not None:
                headers.update(self._auth_header(state))
            response = self._send(request.method, request.url, headers=headers, data=request.body(),
                                  **request.send_kwargs)
            request.bound.allow(response.headers.get("Content-Length"))
            if not self._renewed_for(request, response, state):
                break
        status = response.status_code
        if 300 <= status < 400 and not request.send_kwargs["allow_redirects"]:
            raise self._redirect_refused(response, request.what)
        if status == 429 or status in RETRY_STATUSES:
            raise _RetryableStatus(self, response, request.method, request.url, state,
                                   acted=status != 429, retry_after=self._retry_after(response))
        if status >= 400:
            self._raise_for_status(response, request.method, request.url, state)
        response.auth_state = state  # who asked: _json files the cache entry under them
        return self._read_answer(request, response)

    def _renewed_for(self, request: _Request, response: requests.Response, state: "AuthState | None") -> bool:
        """Whether the token was renewed after a "no longer valid" answer (then the request is sent again)."""
        if (response.status_code not in self.renew_statuses or state is None or request.renewed
                or not request.replayable):
            return False
        request.renewed = True
        if self._renew(state) is None:
            return False
        response.close()
        return True

    def _read_answer(self, request: _Request, response: requests.Response) -> Any:
        """The response with its body read (bounded), or what ``request.read`` makes of it."""
        if request.read is None:
            if not request.stream:
                self._bounded_content(response, request.what)
            return response
        try:
            return request.read(response)
        finally:
            response.close()

    # -- JSON, with the cache ------------------------------------------------------------

    def _json(self, method: str, path: str, *, params=None, data=None, json=None,
              auth: str = "optional", cache: bool | None = False, ttl: float | None = None,
              idempotent: bool | None = None, get_query_payload: bool = False,
              empty: Any = None, headers: Mapping[str, str] | None = None,
              expect: Shape | None = None, timeout: float | None = None,
              follow_redirects: bool | None = None) -> Any:
        """A request whose answer is JSON, parsed; cached when ``cache`` allows.

        Parameters
        ----------
        cache : bool or None
            False: never cached (writes, token calls). True/None: cached when
            ``astroquery.cache_conf.cache_active`` is on (None is the default
            of user-facing ``cache=`` arguments).
        ttl : float, optional
            Lifetime of the entry; default the endpoint's (``cache_ttls``,
            else ``cache_ttl``). 0: never cached.
        get_query_payload : bool
            Return the request (method, URL, parameters, body) instead of sending it.
        empty : object
            What an empty body (HTTP 204) parses to.
        headers : dict, optional
            Extra headers for this request (never put in the cache key; never
            an Authorization header: that comes from the login state).
        follow_redirects : bool, optional
            As `_http`'s (False for token calls).
        expect : Shape, optional
            The shape the endpoint declares (`~astroquery_ext._base.shapes`).
            An answer of another shape raises `RemoteServiceError` and is
            never cached. Without it a cached answer must at least be a list
            or an object.
        timeout : float, optional
            Seconds to wait for the server (default the client's).
        """
        method = method.upper()
        url = self._url(path)
        for name, flag in (("cache", cache), ("get_query_payload", get_query_payload)):
            if flag not in ((None, True, False) if name == "cache" else (True, False)):
                raise TypeError(f"{name} must be True or False; got {flag!r}")
        if get_query_payload:
            return {"method": method, "url": url, **{k: v for k, v in (("params", params), ("data", data),
                                                                        ("json", json)) if v is not None}}
        ttl = self._cache_ttl(url) if ttl is None else ttl
        key = None
        if cache is not False and ResponseCache.active(cache) and ttl != 0:
            self._login_once(auth)  # the cache entry is filed under who asks
            key = cache_key(server=self.server, method=method, url=url, params=params, data=data, json=json)
            hit = self._cache.get(self._identity(), key, ttl)
            if hit is not None:
                log.debug("%s %s: answered from the cache", method, redact_url(url))
                return loads(hit[0])
        where = urllib.parse.urlsplit(redact_url(url)).path
        value, content, status, asked_as = self._http(
            method, url, params=params, data=data, json=json, auth=auth, headers=headers, timeout=timeout,
            follow_redirects=follow_redirects,
            idempotent=method in IDEMPOTENT_METHODS if idempotent is None else idempotent,
            read=functools.partial(self._parse_json, what=f"{method} {where}", url=redact_url(url), empty=empty))
        if content is None:
            return value
        shape = expect if expect is not None else (CONTAINER if key is not None else None)
        if shape is not None and not shape.accepts(value):
            self._check_answer(value, where)  # a refusal the service knows raises its own error
            raise self._unexpected(value, shape, method, where, status)
        if key is not None:
            # Filed under the identity that asked (captured when the attempt
            # was sent), never under whoever is logged in when it returns.
            self._cache.put(self._identity_of(asked_as), key, content, method=method,
                            path=urllib.parse.urlsplit(url).path, status=status)
        return value

    def _parse_json(self, response: requests.Response, *, what: str, url: str, empty: Any) -> tuple:
        """``(value, body, status, who asked)`` of a JSON answer; ``body`` None for an empty one."""
        content = self._bounded_content(response, what)
        if not content.strip():
            return empty, None, response.status_code, response.auth_state
        try:
            return loads(content), content, response.status_code, response.auth_state
        except _TooDeep:
            raise RemoteServiceError(
                f"{self.name}: {what} answered JSON nested too deeply to be read ({len(content)} bytes); the "
                f"answer was refused. Report it to the service if it persists.",
                status=response.status_code, url=url, service=self.service) from None
        except ValueError:
            raise Retryable("the body is not valid JSON", message=(
                f"{self.name}: {what} answered HTTP {response.status_code} with a body that is not valid "
                f"JSON ({len(content)} bytes). Try again later; report it to the service if it persists."),
                status=response.status_code, url=url) from None
