"""ATLAS Transient Server: cone search, object data and light curves, lists and VRA tables.

The client of the REST API behind the ATLAS transient web server
(``https://psweb.mp.qub.ac.uk/sne/atlas4/api/``), in the style of astroquery::

    >>> from astroquery_ext.atlas import Atlas          # doctest: +SKIP
    >>> Atlas.login(username="me")                       # doctest: +SKIP
    >>> Atlas.query_region("00:00:05.18 +31:46:54.4", 60 * u.arcsec)  # doctest: +SKIP
"""

from astropy import config as _config

from astroquery_ext._base.deadline import total_timeout_item as _total_timeout_item


class Conf(_config.ConfigNamespace):
    """Configuration parameters for `astroquery_ext.atlas`."""

    server = _config.ConfigItem(
        "https://psweb.mp.qub.ac.uk/sne/atlas4/api/",
        "API root URL of the ATLAS Transient Server (ends in /api/).")
    timeout = _config.ConfigItem(
        600.0, "Seconds to wait for the server (objects/ requests for many ids are slow; "
        "the server itself gives up after 600 s).")
    total_timeout = _total_timeout_item(__name__)
    username = _config.ConfigItem(
        "", "ATLAS user name for password logins when none is given to login() or set in "
        "ASTROQUERY_EXT_ATLAS_USERNAME.")
    chunk_size = _config.ConfigItem(
        1000, "Object ids per objects/ request (the server accepts up to 50,000). Every request "
        "costs one unit of the 100 requests/hour quota whatever its size; smaller chunks make "
        "shorter requests and smaller answers.")
    requests_per_hour = _config.ConfigItem(
        100, "The account's request quota per hour (the service's throttle: 100 for users, more for "
        "staff). Per-id writes say their cost against it before sending, and warn when a call "
        "needs more than one hour's quota.")
    max_workers = _config.ConfigItem(
        2, "objects/ requests (and write calls) in flight at once, 1 to 16.")
    memo_timeout = _config.ConfigItem(
        600.0, "Seconds the object data fetched by get_objects() are reused in memory by "
        "get_lightcurves(), get_forced_photometry() and query_objects() for the same ids "
        "(0 switches the reuse off).")


conf = Conf()

from astroquery_ext.atlas.core import (  # noqa: E402
    CUSTOM_LISTS, MAIN_LISTS, Atlas, AtlasClass, UnknownIdsWarning, parse_ids)
from astroquery_ext.atlas.plotting import plot_lightcurve  # noqa: E402

__all__ = ["Atlas", "AtlasClass", "Conf", "conf", "plot_lightcurve", "parse_ids",
           "MAIN_LISTS", "CUSTOM_LISTS", "UnknownIdsWarning"]
