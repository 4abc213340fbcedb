"""What the four service modules share. The only code that touches astroquery's private API.

This facade holds what every service module uses: the base class and its
login state, the exceptions, downloads, result tables, paging::

    from astroquery_ext._base import ServiceQuery, AuthState, Field, LoginError

Helpers for fewer modules are imported from their own room, not from here:
argument checks (``_base.args``), endpoint shapes (``_base.shapes``), the
OAuth/OIDC flows (``_base.oauth``, Glance), streamed JSON readers
(``_base.tables``), table serialisation (``_base.serialize``), batch progress
(``_base.progress``), shared docstring sections (``_base.docs``). The rooms of
`ServiceQuery` itself are ``_base.http``, ``_base.errors``, ``_base.auth`` and
``_base.sessions`` (see ``docs/developer.rst``).
"""

from astroquery_ext._base.cache import ResponseCache
from astroquery_ext._base.credentials import CredentialChain, TokenStore, env_var, no_prompt
from astroquery_ext._base.download import (
    DownloadJob, DownloadResult, cached_download, download_file, download_many, filename_from_disposition,
    safe_filename)
from astroquery_ext._base.exceptions import (
    AstroqueryExtError, AuthorizationError, ConflictError, DownloadError, InvalidQueryError, LoginError,
    ServiceTimeoutError, IncompleteResultWarning,
    MaxResultsWarning, NoResultsWarning, NotFoundError, RateLimitError, RemoteServiceError)
from astroquery_ext._base.paging import (
    bounded_map, check_max_workers, chunked, fetch_cursor_pages, fetch_offset_pages, keep_received)
from astroquery_ext._base.auth import AuthState, jwt_expiry
from astroquery_ext._base.retry import Retryable
from astroquery_ext._base.query import ServiceQuery
from astroquery_ext._base.redaction import redact, redact_url, register_secret
from astroquery_ext._base.result import ResultTable, as_result
from astroquery_ext._base.serialize import prepare_table
from astroquery_ext._base.tables import Field, gc_paused, records_to_table, warn_if_empty, warn_truncated
from astroquery_ext._base.times import parse_time

__all__ = [
    "ServiceQuery", "AuthState", "Retryable", "ResponseCache", "TokenStore", "CredentialChain", "env_var", "no_prompt",
    "DownloadJob", "DownloadResult", "cached_download", "download_file", "download_many", "safe_filename",
    "filename_from_disposition", "Field", "gc_paused", "records_to_table", "parse_time", "warn_if_empty", "warn_truncated",
    "bounded_map", "check_max_workers", "chunked", "fetch_offset_pages", "fetch_cursor_pages", "keep_received",
    "redact", "redact_url", "register_secret", "jwt_expiry",
    "AstroqueryExtError", "LoginError", "AuthorizationError", "NotFoundError", "ConflictError",
    "RateLimitError", "InvalidQueryError", "RemoteServiceError", "DownloadError", "ServiceTimeoutError", "IncompleteResultWarning",
    "NoResultsWarning", "MaxResultsWarning", "ResultTable", "as_result", "prepare_table",
]
