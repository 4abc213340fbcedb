"""The registry of live secrets, and scrubbing them out of text, values and exception chains.

Tokens, refresh tokens and passwords are registered when they are obtained or
read; `redact` masks them in any text (messages, details, URLs). A secret
registered with an ``owner`` (the `AuthState` that holds it) lives exactly as
long as its owner: it is never evicted while in use, however many renewals
happen. A secret without an owner (a password read for one login) is kept
among the last ``MAX_UNOWNED`` of those.

`scrub_chain` removes what ``raise ... from None`` leaves behind: the
``requests`` exceptions in ``__context__`` hold the request (token in
``.request.headers``, password in ``.request.body``) and the response.
"""

from __future__ import annotations

import collections
import json
import re
import threading
import traceback
import urllib.parse
import weakref
from typing import Any

__all__ = ["register_secret", "redact", "redact_url", "redact_value", "scrub_chain", "SECRET_PARAM"]

#: Names of parameters and fields whose values are credentials.
SECRET_PARAM = re.compile(r"token|password|passwd|secret|api_?key|code|verifier|assertion|session|auth",
                          re.IGNORECASE)

#: How many secrets without an owner are remembered (the oldest are forgotten first).
MAX_UNOWNED = 4096
_MIN_LENGTH = 6

_lock = threading.Lock()
_owned: dict[str, int] = {}           # secret -> number of live owners
_unowned: dict[str, None] = {}        # insertion-ordered, bounded
_variants: dict[str, tuple[str, ...]] = {}
_pattern: re.Pattern | None = None    # every live form, longest first (rebuilt on change)
_released: collections.deque = collections.deque()  # owners gone, not yet settled


def _forms(value: str) -> tuple[str, ...]:
    """The secret as it may appear: as is, URL-encoded (form bodies), JSON-escaped."""
    forms = {value, urllib.parse.quote_plus(value), urllib.parse.quote(value, safe=""),
             json.dumps(value)[1:-1]}
    return tuple(f for f in forms if len(f) >= _MIN_LENGTH)


def _release(value: str) -> None:
    # Runs from the garbage collector, maybe while this thread holds _lock:
    # only queue it (deque.append is atomic); _settle() applies it.
    _released.append(value)


def _settle() -> None:
    """Apply queued releases (call with _lock held)."""
    global _pattern
    while _released:
        value = _released.popleft()
        count = _owned.get(value, 0) - 1
        if count > 0:
            _owned[value] = count
            continue
        _owned.pop(value, None)
        if value not in _unowned:
            _variants.pop(value, None)
        _pattern = None


def register_secret(value: Any, owner: object | None = None) -> None:
    """Remember a secret so that `redact` masks it wherever it would show.

    Parameters
    ----------
    value : str
        The secret (shorter than 6 characters, or not a string: ignored).
    owner : object, optional
        The object holding the secret (weakly referenced): the secret is
        remembered as long as the owner lives. Without one it is remembered
        among the last `MAX_UNOWNED` secrets without an owner.
    """
    global _pattern
    if not isinstance(value, str) or len(value) < _MIN_LENGTH:
        return
    with _lock:
        _settle()
        _variants.setdefault(value, _forms(value))
        if owner is not None:
            _owned[value] = _owned.get(value, 0) + 1
        else:
            _unowned.pop(value, None)
            _unowned[value] = None
            while len(_unowned) > MAX_UNOWNED:
                old = next(iter(_unowned))
                del _unowned[old]
                if old not in _owned:
                    _variants.pop(old, None)
        _pattern = None
    if owner is not None:
        weakref.finalize(owner, _release, value)


def _current_pattern() -> re.Pattern | None:
    global _pattern
    with _lock:
        _settle()
        if _pattern is None and _variants:
            forms = sorted({f for fs in _variants.values() for f in fs}, key=len, reverse=True)
            _pattern = re.compile("|".join(map(re.escape, forms)))
        return _pattern if _variants else None


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    if not isinstance(text, str) or not text:
        return text
    pattern = _current_pattern()
    return text if pattern is None else pattern.sub("***", text)


def redact_url(url: str) -> str:
    """The URL without user info and with credential-like query values masked."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = urllib.parse.urlencode(
        [(k, "***" if SECRET_PARAM.search(k) else v)
         for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)], safe="*,")
    return redact(urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, "")))


def redact_value(value: Any, _depth: int = 0) -> Any:
    """A copy of a JSON-like value with registered secrets masked in every string,
    and the values of credential-named keys masked."""
    if _depth > 50:
        return "***"
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: ("***" if isinstance(k, str) and SECRET_PARAM.search(k) and isinstance(v, str) and v
                    else redact_value(v, _depth + 1)) for k, v in value.items()}
    if type(value) in (list, tuple):  # not subclasses such as TableList: result containers, kept as they are
        return type(value)(redact_value(v, _depth + 1) for v in value)
    return value


def _scrub_one(exc: BaseException) -> None:
    # requests' exceptions keep the request (headers with the token, the
    # body with a password) and the response (which keeps the request too).
    for name in ("request", "response"):
        if getattr(exc, name, None) is not None:
            try:
                setattr(exc, name, None)
            except AttributeError:
                pass
    # urllib3's keep the connection pool and, for some, the response.
    for name in ("pool", "_pool", "reason_response"):
        if name in getattr(exc, "__dict__", {}):
            try:
                setattr(exc, name, None)
            except AttributeError:
                pass
    # Messages and args: mask any registered secret.
    try:
        exc.args = tuple(redact(a) if isinstance(a, str) else a for a in exc.args)
    except (AttributeError, TypeError):
        pass


def scrub_chain(exc: BaseException | None) -> None:
    """Scrub ``exc`` and every exception chained to it (``__context__``, ``__cause__``, args).

    Also drops the local variables of the finished frames in their tracebacks:
    those frames sent a request or read a password, so their locals hold the
    request's body (a password), headers (a token) or the password itself,
    which a debugger, an error tracker that records locals, or
    ``traceback.TracebackException(..., capture_locals=True)`` would show.
    Line numbers stay; frames still running are left as they are.
    """
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen or not isinstance(current, BaseException):
            continue
        seen.add(id(current))
        _scrub_one(current)
        traceback.clear_frames(current.__traceback__)
        stack.extend([current.__context__, current.__cause__])
        stack.extend(a for a in current.args if isinstance(a, BaseException))
        stack.extend(v for v in getattr(current, "__dict__", {}).values() if isinstance(v, BaseException))
