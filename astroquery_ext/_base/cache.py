"""A response cache that is safe for authenticated services.

It plugs into astroquery's cache settings (``astroquery.cache_conf.cache_active``
and ``cache_timeout``) and lives under ``<astropy cache dir>/astroquery_ext/<service>/``.
Unlike astroquery's own cache it:

- stores the payload bytes and a small JSON header, never a pickled
  ``requests.Response`` (which carries the request's headers, tokens included);
- keys each entry on the server, method, path, parameters and body, and files
  it under a fingerprint of *who* asked (never the token itself), so one user
  is never served another user's answer, and ``logout()`` can drop one
  identity's entries;
- is written only by the request layer after a successful, parsed answer,
  atomically (a temporary file renamed into place), so a failed or truncated
  response never becomes an entry;
- keeps its directories ``0700`` and files ``0600``;
- checks each entry's SHA-256 on read: a damaged entry is a miss, and removed.

File layout: ``<root>/<identity>/<key[:2]>/<key>.entry``; an entry is one line
of JSON (the header), a newline, then the payload bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from astropy.config.paths import get_cache_dir_path
from astroquery import cache_conf

from astroquery_ext._base.private import private_dir, write_private

__all__ = ["ResponseCache", "cache_key"]

FORMAT = 1


def cache_key(**parts: Any) -> str:
    """A stable hash of the request's parts (JSON with sorted keys)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _effective_ttl(ttl: float | None) -> float | None:
    """The shorter of the endpoint's TTL and astroquery's ``cache_timeout`` (None = forever)."""
    limits = [t for t in (ttl, cache_conf.cache_timeout) if t is not None]
    return min(limits) if limits else None


class ResponseCache:
    """The cache of one service client.

    Parameters
    ----------
    service : str
        Service name; the cache root is ``<astropy cache>/astroquery_ext/<service>``.
    root : path-like, optional
        Use this directory instead (``ServiceQuery.cache_location = ...``).
    """

    def __init__(self, service: str, root: os.PathLike | str | None = None):
        self.service = service
        self._root = Path(root) if root is not None else None

    @property
    def root(self) -> Path:
        # Resolved at call time, so astropy's set_temp_cache() and a changed
        # XDG_CACHE_HOME are honoured.
        if self._root is not None:
            return self._root
        return get_cache_dir_path() / "astroquery_ext" / self.service

    @root.setter
    def root(self, value: os.PathLike | str | None) -> None:
        self._root = Path(value) if value is not None else None

    @staticmethod
    def active(requested: bool | None) -> bool:
        """Whether a call may use the cache: astroquery's switch and the call's ``cache=``."""
        return bool(cache_conf.cache_active) and requested is not False

    def _path(self, identity: str, key: str) -> Path:
        return self.root / identity / key[:2] / f"{key}.entry"

    def get(self, identity: str, key: str, ttl: float | None) -> tuple[bytes, dict] | None:
        """The payload and header of a live entry, or None."""
        path = self._path(identity, key)
        try:
            with open(path, "rb") as handle:
                header = json.loads(handle.readline())
                payload = handle.read()
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            self._discard(path)
            return None
        if header.get("format") != FORMAT or hashlib.sha256(payload).hexdigest() != header.get("sha256"):
            self._discard(path)
            return None
        limit = _effective_ttl(ttl)
        if limit is not None and time.time() - header.get("created", 0) > limit:
            self._discard(path)
            return None
        return payload, header

    def put(self, identity: str, key: str, payload: bytes, **meta: Any) -> Path:
        """Store a payload (call only with a successful, parsed answer)."""
        header = dict(meta, format=FORMAT, created=time.time(), size=len(payload),
                      sha256=hashlib.sha256(payload).hexdigest())
        path = self._path(identity, key)
        private_dir(self.root)
        private_dir(self.root / identity)
        write_private(path, json.dumps(header, separators=(",", ":")).encode() + b"\n" + payload)
        return path

    def file_dir(self, identity: str) -> Path:
        """A private directory for cached downloads of one identity."""
        private_dir(self.root)
        return private_dir(self.root / identity / "files")

    def drop_identity(self, identity: str) -> None:
        """Remove every entry (and cached file) of one identity."""
        shutil.rmtree(self.root / identity, ignore_errors=True)

    def clear(self) -> None:
        """Remove the whole cache of this service."""
        shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def _discard(path: Path) -> None:
        try:
            path.unlink()
        except OSError:
            pass

    def __repr__(self) -> str:
        return f"<ResponseCache {self.service} at {self.root}>"
