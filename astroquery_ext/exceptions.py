"""The exceptions and warnings of astroquery_ext (as ``astroquery.exceptions`` is for astroquery).

Every class here also derives from astroquery's exception of the same meaning
where there is one, so ``except astroquery.exceptions.LoginError`` catches ours.
"""

from astroquery_ext._base.exceptions import (  # noqa: F401
    AstroqueryExtError, AuthorizationError, ConflictError, DownloadError, InvalidQueryError, LoginError,
    ServiceTimeoutError, IncompleteResultWarning, TableWriteError,
    MaxResultsWarning, NoResultsWarning, NotFoundError, RateLimitError, RemoteServiceError)
from astroquery_ext._base.extras import MissingExtraError  # noqa: F401

__all__ = ["AstroqueryExtError", "LoginError", "AuthorizationError", "NotFoundError", "ConflictError",
           "RateLimitError", "InvalidQueryError", "RemoteServiceError", "DownloadError",
           "ServiceTimeoutError", "TableWriteError", "IncompleteResultWarning", "NoResultsWarning", "MaxResultsWarning", "MissingExtraError"]
