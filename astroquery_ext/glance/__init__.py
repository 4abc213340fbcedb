"""Glance: CERN ATLAS Glance/Fence, the ATLAS publication tracker (analyses, papers, CONF/PUB notes, plots,
groups, triggers), behind CERN single sign-on (OpenID Connect)."""
from astropy import config as _config

from astroquery_ext._base.deadline import total_timeout_item as _total_timeout_item

_ISSUER = "https://auth.cern.ch/auth/realms/cern"
_OIDC = _ISSUER + "/protocol/openid-connect"


class Conf(_config.ConfigNamespace):
    """Configuration parameters for `astroquery_ext.glance`."""

    server = _config.ConfigItem("https://atlas-glance.cern.ch/atlas/analysis/api/",
                                "API root URL (the nine search endpoints live under it).")
    timeout = _config.ConfigItem(60.0, "Seconds to wait for the server.")
    total_timeout = _total_timeout_item(__name__)
    web_base_url = _config.ConfigItem("https://atlas-glance.cern.ch/atlas/analysis",
                                      "Root of the Glance web pages that the web_url columns link to.")
    row_limit = _config.ConfigItem(-1, "Largest number of records a query returns (-1: all).")
    page_size = _config.ConfigItem(1000, "Records asked for per request when paging through a search.")
    max_workers = _config.ConfigItem(4, "Page requests in flight at once.")
    issuer = _config.ConfigItem(_ISSUER, "OpenID Connect issuer (the ID token's 'iss' must equal it).")
    authorization_endpoint = _config.ConfigItem(_OIDC + "/auth", "Browser login (authorization) URL.")
    token_endpoint = _config.ConfigItem(_OIDC + "/token", "Token URL (code, refresh and token exchange).")
    revocation_endpoint = _config.ConfigItem(_OIDC + "/revoke", "Token revocation URL (logout).")
    jwks_uri = _config.ConfigItem(_OIDC + "/certs", "The issuer's signing keys (JWKS), to check ID tokens.")
    device_authorization_endpoint = _config.ConfigItem(
        _OIDC + "/auth/device", "Device-authorization URL (login on machines without a browser).")
    client_id = _config.ConfigItem("stare", "OAuth client id (a public client: no secret).")
    scopes = _config.ConfigItem("openid", "Space-separated scopes asked for at login "
                                          "(offline=True adds offline_access).")
    exchange_audience = _config.ConfigItem(
        "atlas-glance-analysis-api-prod",
        "Audience of the RFC 8693 token exchange; the API accepts only exchanged tokens. "
        "Empty: send the login token itself.")
    callback_host = _config.ConfigItem("localhost", "Host name of the loopback login redirect "
                                                    "(the registered redirect URI is http://localhost:8182/callback).")
    callback_port = _config.ConfigItem(8182, "Port of the loopback login redirect (0: any free port).")
    login_timeout = _config.ConfigItem(120.0, "Seconds to wait for a browser or device login to complete.")


conf = Conf()

from astroquery_ext.glance import dsl  # noqa: E402
from astroquery_ext.glance.core import Glance, GlanceClass  # noqa: E402
from astroquery_ext.glance.dsl import F, DSLError, parse  # noqa: E402

__all__ = ["Glance", "GlanceClass", "Conf", "conf", "dsl", "F", "parse", "DSLError"]
