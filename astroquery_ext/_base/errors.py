"""Error answers: the server's own words, the exception for each status, what to do.

`error_detail` reads the words out of any service's JSON error body;
`ErrorsMixin` (part of `~astroquery_ext._base.query.ServiceQuery`) turns a
failed answer into the exception of :mod:`astroquery_ext._base.exceptions`
whose message carries the status, those words and advice. Services refine
the advice (``_error_hint``), the class (``_error_class``) or the words
(``_error_detail``).
"""

from __future__ import annotations

import json as jsonlib
import re
import urllib.parse
from typing import TYPE_CHECKING, Any, Mapping

import requests

from astroquery_ext._base.exceptions import (
    AuthorizationError, ConflictError, InvalidQueryError, LoginError, NotFoundError, RateLimitError,
    RemoteServiceError)
from astroquery_ext._base.http import ERROR_BODY_LIMIT, loads
from astroquery_ext._base.redaction import redact, redact_url
from astroquery_ext._base.shapes import Shape

if TYPE_CHECKING:  # pragma: no cover
    from astroquery_ext._base.auth import AuthState

__all__ = ["error_detail", "ErrorsMixin"]

_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie", "form"})
_DETAIL_KEYS = ("detail", "error_description", "title", "message", "error", "Error")


def _validation_item(item: Any) -> str:
    """One FastAPI/pydantic validation error: ``where: msg``; ``where`` without the location kind."""
    if not isinstance(item, Mapping):
        return str(item)
    loc = [str(p) for p in item.get("loc") or () if p is not None]
    if len(loc) > 1 and loc[0] in _LOCATIONS:
        loc = loc[1:]
    elif loc and loc[0] in _LOCATIONS:
        loc = []
    msg = item.get("msg") or item.get("message") or item.get("type") or jsonlib.dumps(item, default=str)
    return f"{'.'.join(loc)}: {msg}" if loc else str(msg)


def _field_errors(body: Mapping, prefix: str = "") -> list[str]:
    """Django REST framework's ``{"field": ["msg", ...], "other": {"nested": [...]}}``."""
    parts = []
    for key, value in body.items():
        where = f"{prefix}{key}"
        if isinstance(value, Mapping):
            parts.extend(_field_errors(value, where + "."))
            continue
        text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(text if key == "non_field_errors" else f"{where}: {text}")
    return parts


def error_detail(body: Any, *, limit: int = 5) -> str | None:
    """The server's own words in a parsed JSON error answer, or None when it holds none.

    The one reading of error bodies for every service:

    - FastAPI validation errors, ``{"detail": [{"loc": ["query", "limit"], "msg": ...}, ...]}``:
      ``"limit: msg; ..."`` (the location kind dropped; at most ``limit``, then how many more);
    - ``{"detail": "text"}`` and the other usual keys (``error_description``, ``message``,
      ``error``...; RFC 7807's ``title: detail``);
    - Django REST framework field errors, ``{"field": ["msg", ...]}``: ``"field: msg"``
      (``non_field_errors`` without the key), nested objects with dotted names;
    - a bare list or string: as is, shortened.
    """
    if isinstance(body, Mapping):
        detail = body.get("detail")
        if isinstance(detail, list) and detail:
            parts = [_validation_item(item) for item in detail]
            more = len(parts) - limit
            return "; ".join(parts[:limit]) + (f"; and {more} more" if more > 0 else "")
        for key in _DETAIL_KEYS:
            value = body.get(key)
            if value:
                text = value if isinstance(value, str) else jsonlib.dumps(value, default=str)
                if key == "title" and isinstance(body.get("detail"), str) and body["detail"]:
                    text = f"{value}: {body['detail']}"
                return text
        if body:
            parts = _field_errors(body)
            more = len(parts) - limit
            return "; ".join(parts[:limit]) + (f"; and {more} more" if more > 0 else "")
        return None
    if isinstance(body, list) and body:
        return "; ".join(map(str, body))[:500]
    if isinstance(body, str) and body:
        return body[:500]
    return None


def _json_or_none(response: requests.Response) -> Any:
    """The error answer's JSON value, or None when it is not JSON (or too deep)."""
    try:
        return loads(response.content)
    except ValueError:
        return None


class ErrorsMixin:
    """From a failed answer to the package's exception: words, class, advice."""

    def _error_json(self, response: requests.Response) -> Any:
        """An error answer's JSON value (None if it is not JSON), its body read within the error-body bound."""
        self._bounded_content(response, "", limit=ERROR_BODY_LIMIT, strict=False)
        return _json_or_none(response)

    def _error_detail(self, response: requests.Response) -> str:
        """The server's own words from an error answer (see `error_detail`)."""
        body = self._error_json(response)
        detail = error_detail(body)
        if detail is not None:
            return redact(detail)
        text = re.sub(r"<[^>]+>", " ", response.text or "")
        text = " ".join(text.split())
        return redact(text[:300]) if text else response.reason or ""

    def _server_setting(self) -> str:
        """Where ``server`` comes from, for messages."""
        where = "the server= argument" if self._server is not None else \
            f"astroquery_ext.{self.service}.conf.server"
        return f"{self.name}.server is {redact_url(self.server)!r} (from {where})"

    def _unreachable_hint(self, url: str) -> str:
        """Advice when no connection could be made to ``url``."""
        host = urllib.parse.urlsplit(url).netloc.rsplit("@", 1)[-1]
        return (f"No connection could be made to {host}: check the server URL ({self._server_setting()}) "
                f"and the network.")

    @staticmethod
    def _route_missing(detail: str) -> bool:
        """Whether a 404's words are a web framework's "no such page" (not a service's "no such record")."""
        text = " ".join((detail or "").split()).lower().rstrip(".")
        return (text in ("", "not found", "404 not found", "404") or text.startswith(("not found ", "no such endpoint"))
                or "requested resource was not found" in text or "requested url was not found" in text)

    def _error_hint(self, status: int, detail: str) -> str:
        """What the user should do about an error status (services may refine)."""
        if status == 404 and self._route_missing(detail):
            default = getattr(type(self.conf).__dict__.get("server"), "defaultvalue", None)
            return (f"The server has no such endpoint: the server URL looks wrong. It must be the API root"
                    f"{f' (like {default!r})' if default else ''}; {self._server_setting()}.")
        if status == 401:
            return (f"Log in with {self.name}.login(), or check that the token is valid "
                    f"and not expired.")
        if status == 403:
            return "This account is not allowed to do this; log in as a user who is, or ask the service's administrators."
        if status == 404:
            return "Check the identifier or name; it does not exist on this server."
        if status == 409:
            return "It already exists; use the existing one or change what you send."
        if status in (400, 422):
            return "Check the arguments of the call."
        if status == 429:
            return "The service limits the request rate: wait and try again, or make fewer requests."
        if status >= 500:
            return "The service failed; try again later, and report it to the service if it persists."
        return "Check the request."

    def _raise_for_status(self, response: requests.Response, method: str, url: str,
                          state: "AuthState | None") -> None:
        status = response.status_code
        detail = self._error_detail(response)
        safe_url = redact_url(url)
        path = urllib.parse.urlsplit(safe_url).path
        message = (f"{self.name}: {method} {path} answered HTTP {status}"
                   f"{': ' + detail.rstrip('. ') if detail else ''}. {self._error_hint(status, detail)}")
        body = _json_or_none(response)
        kwargs = dict(status=status, detail=detail or None, url=safe_url, service=self.service,
                      payload=body if isinstance(body, dict) else None)
        response.close()
        if status == 429:
            raise RateLimitError(message, retry_after=self._retry_after(response), **kwargs)
        raise self._error_class(status, detail)(message, **kwargs)

    def _error_class(self, status: int, detail: str) -> type:
        """The exception class for an error status (services may refine, e.g. by ``detail``)."""
        if status == 401:
            return LoginError
        if status == 403:
            return AuthorizationError
        if status == 404:
            return NotFoundError
        if status == 409:
            return ConflictError
        if status == 429:
            return RateLimitError
        if status in (400, 405, 413, 414, 415, 422):
            return InvalidQueryError
        return RemoteServiceError


    def _tls_error(self, what: str, exc: Exception) -> RemoteServiceError:
        # Not transient: repeating the handshake gives the same answer.
        reason = re.search(r"certificate verify failed: ([^'\"()]+)", repr(exc))
        reason = reason.group(1).strip() if reason else "TLS handshake failed"
        return RemoteServiceError(
            f"{self.name}: {redact(what)}: the server's TLS certificate could not be "
            f"verified ({redact(reason)}). If it is signed by a private CA, trust that CA: "
            f"{self.name}.verify = '/path/to/ca.pem', or set REQUESTS_CA_BUNDLE.", service=self.service)

    def _redirect_refused(self, response: requests.Response, what: str) -> LoginError:
        """A redirect answered to a request that carries credentials: not followed."""
        location = response.headers.get("Location") or "nowhere"
        target = urllib.parse.urljoin(response.url or "", location)
        response.close()
        return LoginError(
            f"{self.name}: {redact(what)} answered HTTP {response.status_code}, a redirect to "
            f"{redact_url(target)!r}. The request carries credentials (a password or a token), so it was not "
            f"sent on there and the login stopped. Check the server URL ({self._server_setting()}); if the "
            f"service moved, point the client at its new address.", status=response.status_code,
            url=redact_url(response.url or ""), service=self.service)

    def _check_answer(self, answer: Any, path: str) -> None:
        """Hook: raise the service's own error for a refusal it answers with HTTP 200 (ATLAS's
        ``{"info": ...}``). Called for answers that do not have the endpoint's shape."""

    def _unexpected(self, value: Any, shape: Shape, method: str, path: str, status: int) -> RemoteServiceError:
        words = None
        if isinstance(value, dict):
            for key in ("detail", "info", "error", "Error", "message"):
                if isinstance(value.get(key), str):
                    words = redact(value[key])
                    break
        preview = redact(jsonlib.dumps(value, default=str))
        preview = preview if len(preview) <= 200 else preview[:200] + "..."
        return RemoteServiceError(
            f"{self.name}: {method} {path} answered something unexpected (HTTP {status}): {preview} instead of "
            f"{shape.describe}. Nothing was cached. The service may be throttling or in maintenance: try "
            f"again later, and report it to the service if it persists.", status=status, detail=words,
            url=redact_url(self._url(path)), service=self.service)

