"""The escape hatch: any endpoint of a service, with everything the client does for its own calls.

`RawRequests` gives every service class ``request`` (any method, a
``requests.Response`` back) and ``get_json`` (a GET parsed as JSON), for the
endpoints or answer fields a module does not wrap yet. They go through the
base's request layer (`ServiceQuery._http` and `ServiceQuery._json`): the
login (renewed on 401), the timeout and the deadline, the retry policy
(idempotent methods only), the error mapping with the server's words,
bounded bodies and redaction. What they add is what a caller could otherwise
get wrong:

- the path is relative to the service's API root; an absolute URL is
  accepted only on the server's own origin, anything else is refused before
  anything is sent, so a token never goes to another host;
- the headers a caller gives can neither carry credentials (``Authorization``,
  ``Cookie``...) nor frame the request (``Host``, ``Content-Length``,
  ``Transfer-Encoding``), and no value may hold a line break;
- the response handed back no longer holds the token (its ``request``
  headers are masked);
- a streamed response stays under the deadline while the caller reads it
  (moved on, like every body read, by the bytes that arrive), and reading
  past it raises `~astroquery_ext.exceptions.ServiceTimeoutError`;
- nothing is cached unless the call says ``cache=True`` (GET only), and then
  per identity, as every cached call.
"""

from __future__ import annotations

import threading
import urllib.parse
from typing import Any, Mapping

import requests

from astroquery_ext._base import deadline as _deadlines
from astroquery_ext._base.cache import ResponseCache, cache_key
from astroquery_ext._base.exceptions import ServiceTimeoutError
from astroquery_ext._base.redaction import redact_url

__all__ = ["RawRequests", "METHODS"]

#: The HTTP methods ``request`` sends.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: Headers a caller may not set: credentials come from the login, and the framing from requests.
_FORBIDDEN_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "host", "content-length",
                                "transfer-encoding"})
_AUTH_VALUES = ("required", "optional", "none")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number
        port = -1
    return scheme, (parts.hostname or "").lower(), port if port is not None else _DEFAULT_PORTS.get(scheme)


def _check_text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string; got {type(value).__name__}")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{what} must not hold control characters (line breaks, tabs...); got {value!r}")
    return value


class RawRequests:
    """``request`` and ``get_json`` for every service class (mixed into `ServiceQuery`)."""

    # -- checks before anything is sent -----------------------------------------------------

    def _raw_url(self, path: Any) -> str:
        """The URL of ``path`` (relative to the API root, or an absolute URL on the server's origin)."""
        _check_text(path, "path")
        parts = urllib.parse.urlsplit(path)
        if parts.scheme or parts.netloc or path.startswith(("//", "\\\\", "/\\", "\\/")):
            root = urllib.parse.urlsplit(self.server)
            if parts.username is not None or parts.password is not None:
                raise ValueError(f"path: a URL with a user name or password in it is refused (the client "
                                 f"sends its own credentials); got {redact_url(path)!r}")
            absolute = path if parts.scheme else f"{root.scheme}:{path}"  # //host/x: the server's scheme
            if _origin(absolute) != _origin(self.server):
                where = f"{parts.scheme or root.scheme}://{parts.netloc}" if parts.netloc else path
                raise ValueError(
                    f"path: {redact_url(where)!r} is another origin than {self.name}'s server "
                    f"({root.scheme}://{root.netloc}); the request was not sent: {self.name} sends its "
                    f"credentials only to its own server. Give a path relative to {redact_url(self.server)!r}, "
                    f"or use a client of that server.")
            # The server's own origin: the URL as the request layer expects it (scheme written out, lower case).
            return urllib.parse.urlunsplit((root.scheme.lower(), parts.netloc, parts.path, parts.query, ""))
        return self._url(path)

    @staticmethod
    def _raw_headers(headers: Any) -> dict[str, str] | None:
        if headers is None:
            return None
        if not isinstance(headers, Mapping):
            raise TypeError(f"headers must be a dict of str to str; got {type(headers).__name__}")
        checked = {}
        for name, value in headers.items():
            _check_text(name, "a header name")
            _check_text(value, f"headers[{name!r}]")
            if name.strip().lower() in _FORBIDDEN_HEADERS:
                raise ValueError(
                    f"headers: {name!r} cannot be set: Authorization and cookies come from the login "
                    f"(login(), or login(token=...)), and Host, Content-Length and Transfer-Encoding from the "
                    f"request itself")
            checked[name] = value
        return checked

    @staticmethod
    def _raw_method(method: Any) -> str:
        _check_text(method, "method")
        if method.upper() not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
        return method.upper()

    def _raw_checks(self, path: Any, headers: Any, auth: Any, timeout: Any, **flags: Any) -> tuple:
        """``(url, headers)`` once every argument is checked; raises before anything is sent."""
        url, headers = self._raw_url(path), self._raw_headers(headers)
        if auth not in _AUTH_VALUES:
            raise ValueError(f"auth must be one of {', '.join(map(repr, _AUTH_VALUES))}; got {auth!r}")
        if timeout is not None:
            self._check_timeout(timeout)
        for name, value in flags.items():
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False; got {value!r}")
        return url, headers

    # -- the calls ------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, data: Any = None,
                json: Any = None, headers: Mapping[str, str] | None = None, stream: bool = False,
                auth: str = "required", timeout: float | None = None, cache: bool = False) -> requests.Response:
        """Send any request to the service, with this client's login, retries and errors.

        For an endpoint (or a field of an answer) that the module does not
        wrap yet. The request goes through the same layer as the module's own
        calls: the login (logging in without prompting when needed, renewing
        an expired token once on HTTP 401), the timeout and the deadline,
        retries of methods that are safe to repeat, the package's exceptions
        with the server's own words on an error status, bounded bodies, and
        redaction of every secret in messages and logs.

        Parameters
        ----------
        method : str
            ``"GET"``, ``"POST"``, ``"PUT"``, ``"PATCH"``, ``"DELETE"``, ``"HEAD"`` or ``"OPTIONS"``.
            GET, HEAD, OPTIONS, PUT and DELETE are retried on connection errors,
            HTTP 429/502/503/504 and cut-off answers; POST and PATCH only when
            the server certainly did not act on them.
        path : str
            Relative to the service's API root (`server`), e.g. ``"cone/"``. An
            absolute URL is accepted only on the server's own origin (scheme,
            host and port).
        params : dict, optional
            The query string.
        data : dict, bytes, str or file, optional
            The body: a dict is sent form-encoded. A file object is streamed
            and, as it cannot be read twice, never repeated.
        json : object, optional
            A body sent as JSON.
        headers : dict, optional
            Extra headers. ``Authorization``, ``Proxy-Authorization`` and
            ``Cookie`` (the login's), ``Host``, ``Content-Length`` and
            ``Transfer-Encoding`` (the request's own) cannot be set.
        stream : bool
            Return before the body is read. Read it with
            ``response.iter_content()`` (or ``iter_lines``, ``raw``), and close
            the response when done: ``with client.request(..., stream=True) as
            response:``. The read stays under the deadline: it may last about
            ``timeout``, plus as long as the body keeps arriving at a usable
            speed; past it the read raises
            `~astroquery_ext.exceptions.ServiceTimeoutError`. The size is up to
            the caller (without ``stream`` the body is read whole, at most
            ``max_answer_bytes``).
        auth : {"required", "optional", "none"}
            ``"required"`` (default) logs in without prompting when needed (the
            environment, the stored login), else raises
            `~astroquery_ext.exceptions.LoginError`; ``"optional"`` sends the
            token if logged in; ``"none"`` never sends it.
        timeout : float, optional
            Seconds to wait for the server; default the client's `timeout`.
        cache : bool
            Only for GET without ``stream``: use the cache (when
            ``astroquery.cache_conf.cache_active`` is on), filed under the
            user who asks, with the endpoint's lifetime, keyed by the URL, the
            parameters and the headers; only HTTP 200 answers are kept. The
            default, False, never reads or writes it.

        Returns
        -------
        requests.Response
            A successful answer (status below 400; redirects are followed as
            requests does, dropping the token on another host). Its ``request``
            headers no longer hold the token. An answer from the cache has
            ``response.from_cache`` True.

        Raises
        ------
        ValueError
            A path on another origin, a method, header or argument that is not
            allowed; nothing was sent.
        ~astroquery_ext.exceptions.LoginError
            No login could be found (``auth="required"``), or HTTP 401.
        ~astroquery_ext.exceptions.NotFoundError
            HTTP 404; as the other error statuses, the message holds the
            server's own words and what to do.
        ~astroquery_ext.exceptions.RemoteServiceError
            HTTP 5xx or an answer cut off, after the retries.
        ~astroquery_ext.exceptions.ServiceTimeoutError
            The server did not answer (or a streamed body did not arrive) in time.

        See Also
        --------
        get_json : a GET whose answer is JSON, parsed.

        Examples
        --------
        >>> response = Atlas.request("POST", "cone/", data={"ra": 0.0216, "dec": 31.7818, "radius": 60,
        ...                                                   "requestType": "all"})  # doctest: +SKIP
        >>> response.json()[0]  # doctest: +SKIP
        {'object': 1000005291314656200, 'separation': 0.0944..., 'objectname': 'ATLAS20bbfr'}

        A large answer, read as it arrives::

            with Grad300.request("GET", "scans/TPI/", stream=True) as response:
                for block in response.iter_content(1 << 16):
                    ...
        """
        method = self._raw_method(method)
        url, headers = self._raw_checks(path, headers, auth, timeout, stream=stream, cache=cache)
        if cache and (method != "GET" or stream):
            raise ValueError(f"cache=True is for GET requests read whole; got {method}"
                             f"{' with stream=True' if stream else ''}")
        if cache:
            return self._raw_cached(url, params=params, headers=headers, auth=auth, timeout=timeout)
        if stream:
            return self._raw_stream(method, url, params=params, data=data, json=json, headers=headers, auth=auth,
                                    timeout=timeout)
        response = self._http(method, url, params=params, data=data, json=json, headers=headers, auth=auth,
                              timeout=timeout)
        return self._handed_over(response)

    def get_json(self, path: str, params: Mapping[str, Any] | None = None, *,
                 headers: Mapping[str, str] | None = None, auth: str = "required", timeout: float | None = None,
                 cache: bool = False) -> dict | list:
        """GET any endpoint of the service and return its JSON answer, parsed.

        `request` for the common case: the same login, retries, errors,
        bounds and redaction; an answer that is not valid JSON is asked again
        (as a cut-off answer is), then raises
        `~astroquery_ext.exceptions.RemoteServiceError`.

        Parameters
        ----------
        path : str
            Relative to the service's API root (`server`), e.g. ``"users/me"``;
            an absolute URL only on the server's own origin.
        params : dict, optional
            The query string.
        headers : dict, optional
            Extra headers (not the login's, see `request`).
        auth : {"required", "optional", "none"}
            As in `request`; by default the call logs in when needed.
        timeout : float, optional
            Seconds to wait for the server; default the client's `timeout`.
        cache : bool
            Use the cache (when ``astroquery.cache_conf.cache_active`` is on),
            filed under the user who asks, with the endpoint's lifetime; only
            a JSON object or array is kept. Default False: never. Cannot be
            combined with ``headers`` (the key of a cache entry holds none).

        Returns
        -------
        dict or list
            The parsed answer (an empty answer, HTTP 204, is None).

        Raises
        ------
        ValueError
            A path on another origin or an argument that is not allowed; nothing was sent.
        ~astroquery_ext.exceptions.LoginError
            No login could be found (``auth="required"``), or HTTP 401.
        ~astroquery_ext.exceptions.NotFoundError
            HTTP 404, with the server's own words.
        ~astroquery_ext.exceptions.RemoteServiceError
            HTTP 5xx, an answer that is not JSON, or cut off, after the retries.
        ~astroquery_ext.exceptions.ServiceTimeoutError
            The server did not answer in time.

        See Also
        --------
        request : any method, the whole response.

        Examples
        --------
        >>> Grad300.get_json("users/me")["email"]  # doctest: +SKIP
        'student@example.com'
        >>> page = Glance.get_json("searchSubgroup", params={"offset": 0, "limit": 2})  # doctest: +SKIP
        >>> len(page["results"]), page["numberOfResults"] >= 2  # doctest: +SKIP
        (2, True)
        """
        url, headers = self._raw_checks(path, headers, auth, timeout, cache=cache)
        if cache and headers:
            raise ValueError("cache=True cannot be combined with headers: a cache entry is keyed without them "
                             "(leave out cache=, or the headers)")
        return self._json("GET", url, params=params, headers=headers, auth=auth, cache=cache, timeout=timeout)

    # -- what request() does underneath --------------------------------------------------

    @staticmethod
    def _handed_over(response: requests.Response) -> requests.Response:
        """The response as the caller gets it: no login state, no token in its request's headers."""
        response.__dict__.pop("auth_state", None)
        for sent in [r.request for r in response.history] + [response.request]:
            if sent is not None and "Authorization" in sent.headers:
                scheme = sent.headers["Authorization"].split(" ", 1)[0]
                sent.headers["Authorization"] = f"{scheme} ***"
        return response

    def _raw_stream(self, method: str, url: str, *, timeout, **kwargs) -> requests.Response:
        response = self._http(method, url, stream=True, timeout=timeout, **kwargs)
        where = urllib.parse.urlsplit(redact_url(url)).path
        # Not entered as a context (that would watch every socket this thread opens while the caller
        # reads): it watches this response's socket only, from now until the body is read or closed.
        deadline = self._deadline(timeout, what=f"{method} {where}")
        deadline.watch(_socket_of(response))
        _deadlines._WATCHDOG.add(deadline)
        self._bound_reads(response, deadline, method, where)
        return self._handed_over(response)

    def _bound_reads(self, response: requests.Response, deadline: _deadlines.Deadline, method: str,
                     where: str) -> None:
        """Reads of ``response``'s body under ``deadline``: moved on as blocks arrive, a
        `ServiceTimeoutError` once it has passed; released or closed, the socket is no longer watched
        (it may go back to the pool and serve another request)."""
        raw, name, timeout = response.raw, self.name, self.timeout
        read, stream, release, close = raw.read, raw.stream, raw.release_conn, response.close

        def finish():
            deadline.__exit__(None, None, None)

        def too_slow() -> ServiceTimeoutError:
            return ServiceTimeoutError(
                f"{name}: {method} {where}: the streamed answer did not arrive within the deadline "
                f"({deadline.seconds:g} s, timeout={timeout:g}, moved on as the body arrived); the read was "
                f"stopped. Try again later, or raise {name}.timeout if the service is slow but working.",
                url=redact_url(response.url or ""), service=self.service)

        def guarded(call, *args, **kwargs):
            try:
                value = call(*args, **kwargs)
            except Exception:
                if deadline.expired:
                    raise too_slow() from None
                raise
            if deadline.expired or not deadline.remaining():  # passed, whether or not the watchdog has run
                raise too_slow()
            return value

        inside_stream = threading.local()

        def bounded_read(*args, **kwargs):
            block = guarded(read, *args, **kwargs)
            if block and not getattr(inside_stream, "on", False):
                deadline.extend(len(block) / _deadlines.MIN_RATE)
            return block

        def bounded_stream(*args, **kwargs):
            # requests' iter_content reads here; a chunked body does not go through read()
            blocks = stream(*args, **kwargs)
            while True:
                inside_stream.on = True
                try:
                    block = guarded(next, blocks, None)
                finally:
                    inside_stream.on = False
                if block is None:
                    return
                deadline.extend(len(block) / _deadlines.MIN_RATE)
                yield block

        def releasing():
            finish()
            release()

        def closing():
            finish()
            close()

        raw.read, raw.stream, raw.release_conn = bounded_read, bounded_stream, releasing
        response.close = closing

    def _raw_cached(self, url: str, *, params, headers, auth: str, timeout) -> requests.Response:
        ttl = self._cache_ttl(url)
        key = cache_key(server=self.server, method="GET", url=url, params=params, headers=headers, kind="raw")
        use = ResponseCache.active(True) and ttl != 0
        if use:
            self._login_once(auth)  # the entry is filed under who asks
            hit = self._cache.get(self._identity(), key, ttl)
            if hit is not None:
                payload, header = hit
                response = requests.Response()
                response.status_code, response._content, response._content_consumed = 200, payload, True
                response.url, response.reason, response.encoding = url, "OK", header.get("encoding")
                if header.get("content_type"):
                    response.headers["Content-Type"] = header["content_type"]
                response.from_cache = True
                return response
        response = self._http("GET", url, params=params, headers=headers, auth=auth, timeout=timeout)
        asked_as = response.__dict__.get("auth_state")
        if use and response.status_code == 200:
            self._cache.put(self._identity_of(asked_as), key, response.content, method="GET",
                            path=urllib.parse.urlsplit(url).path, status=200,
                            content_type=response.headers.get("Content-Type"), encoding=response.encoding)
        response.from_cache = False
        return self._handed_over(response)


def _socket_of(response: requests.Response):
    """The socket a streamed response is read from (None when it cannot be found)."""
    connection = getattr(response.raw, "_connection", None) or getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is None:
        fp = getattr(response.raw, "_fp", None)
        raw_fp = getattr(getattr(fp, "fp", None), "raw", None)
        sock = getattr(raw_fp, "_sock", None)
    return sock
