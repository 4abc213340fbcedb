"""The per-id writes of `~astroquery_ext.atlas.AtlasClass`: one request per id, a Table of outcomes.

The server takes its writes (custom lists, detection lists, VRA rows) one id
per call and reports each outcome as text under HTTP 201. `WritesMixin` is the
room of the client that sends them: the cost said against the hourly quota
before anything is sent (the base's `~astroquery_ext._base.policy.quota_gate`),
what a 429 does (``on_rate_limit``), and the outcomes as rows. The public
write methods are in ``core.py``, each marked by `per_id_write`.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping

import numpy as np
from astropy.table import Table
from astropy.utils.exceptions import AstropyUserWarning

from astroquery_ext._base import (
    AstroqueryExtError, AuthorizationError, LoginError, RateLimitError, bounded_map, check_max_workers)
from astroquery_ext._base.http import loads
from astroquery_ext._base.policy import quota_gate
from astroquery_ext.atlas import conf
from astroquery_ext.atlas import fields as atlas_fields

__all__ = ["WritesMixin", "per_id_write"]

#: The ``on_rate_limit`` parameter of every per-id write, put into their docstrings by `per_id_write`.
_ON_RATE_LIMIT_DOC = """on_rate_limit : {"return", "wait"}
            At HTTP 429 (the hourly quota used up): ``"return"`` (default)
            stops sending and returns at once, the ids not sent marked
            ``sent=False`` and ``meta["retry_at"]`` (a list, one entry per call) saying when to send them;
            ``"wait"`` waits as the server says, with a countdown, and goes on."""


def per_id_write(func):
    """A per-id write method: its docstring's ``{on_rate_limit}`` is the shared parameter text."""
    func.__doc__ = func.__doc__.replace("{on_rate_limit}", _ON_RATE_LIMIT_DOC)
    return func


class WritesMixin:
    """Writes one id per request (a room of `~astroquery_ext.atlas.AtlasClass`)."""

    _SUCCESS = ("Row created.", "Duplicate row. Cannot add row.")

    def _write_each(self, path: str, ids: np.ndarray, payload_for, *, idempotent: bool,
                    ok_when=None, extra: Mapping[str, Any] | None = None,
                    on_rate_limit: str = "return") -> Table:
        """One POST per id; a Table of outcomes. Auth failures raise at once; others are rows.

        Each call costs one request of the hourly quota: the cost is said
        before anything is sent (a warning when it exceeds the quota). On HTTP
        429, ``on_rate_limit="return"`` stops at once and returns the outcomes
        so far, the ids not sent marked ``sent=False`` with when to retry;
        ``"wait"`` waits as the server says, with a countdown on stderr, and goes on.
        """
        max_workers = check_max_workers(int(conf.max_workers), self.max_workers_limit)
        ok_when = ok_when or (lambda status, info: info in self._SUCCESS)
        # The base's quota gate: the cost said first; at a 429 it keeps the rest unsent, or waits.
        gate = quota_gate(self, path, len(ids), on_rate_limit, stacklevel=4)

        def one(item):
            index, oid = item
            try:
                response = self._http("POST", path, data=payload_for(index, oid), auth="required",
                                      idempotent=idempotent)
            except (LoginError, AuthorizationError):
                raise
            except RateLimitError as exc:  # the server did not act on it: not sent
                return {"atlas_id": oid, "status": exc.status or 0, "sent": False, "ok": False,
                        "info": gate.not_sent_info()}
            except AstroqueryExtError as exc:
                if getattr(exc, "unsent", False):  # the batch stopped (the server stopped answering)
                    return {"atlas_id": oid, "status": 0, "sent": False, "ok": False, "info": str(exc)}
                detail = exc.detail or str(exc)
                return {"atlas_id": oid, "status": exc.status or 0, "sent": True, "info": detail,
                        "ok": bool(exc.status and ok_when(exc.status, detail))}
            status = response.status_code
            try:
                body = loads(response.content) if response.content.strip() else {}
            except ValueError:
                body = {}
            info = body.get("info", body.get("Error", "")) if isinstance(body, Mapping) else str(body)
            return {"atlas_id": oid, "status": status, "sent": True, "info": info or "",
                    "ok": bool(ok_when(status, info))}

        rows = bounded_map(gate.wrap(one), list(enumerate(ids.tolist())), max_workers=max_workers)
        table = self._table(rows, atlas_fields.OUTCOME_FIELDS, path=path, what="ids", query=dict(extra or {}),
                            warn_empty=False)
        unsent = int((~np.asarray(table["sent"], dtype=bool)).sum())
        if gate.retry_at is not None:
            table.meta["retry_in"] = [gate.retry_after]
            table.meta["retry_at"] = [gate.retry_at_iso()]
        if unsent and gate.retry_at is None:  # not the quota: the batch's circuit breaker stopped it
            warnings.warn(f"{path.rstrip('/')}: {unsent} of {len(table)} ids were not sent (sent=False in the "
                          f"result): {table['info'][~np.asarray(table['sent'], dtype=bool)][0]}",
                          AstropyUserWarning, stacklevel=3)
        elif unsent:
            warnings.warn(f"{path.rstrip('/')}: the hourly quota ran out (HTTP 429) after {len(table) - unsent} "
                          f"of {len(table)} ids; {unsent} were not sent (sent=False in the result). "
                          f"Send them again after {gate.retry_at_iso()} (in {gate.retry_after:.0f} s): e.g. "
                          f"result[~result['sent']]['atlas_id'], or pass on_rate_limit='wait' to wait "
                          f"instead.", AstropyUserWarning, stacklevel=3)
        failed = int((~np.asarray(table["ok"], dtype=bool) & np.asarray(table["sent"], dtype=bool)).sum())
        if failed:
            warnings.warn(f"{failed} of {len(table)} {path.rstrip('/')} calls did not succeed; see the 'info' "
                          f"column of the result", AstropyUserWarning, stacklevel=3)
        return table
