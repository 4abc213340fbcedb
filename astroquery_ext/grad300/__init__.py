"""GRAD300: the scan archive of the GRAD-300 teaching radio telescope (TPI maps, images, spectra, ON/OFF)."""
from astropy import config as _config

from astroquery_ext._base.deadline import total_timeout_item as _total_timeout_item


class Conf(_config.ConfigNamespace):
    """Configuration parameters for `astroquery_ext.grad300`."""

    server = _config.ConfigItem("https://grad300.lam.fr/api/v1/", "API root URL (with the /api/v1 prefix).")
    timeout = _config.ConfigItem(60.0, "Seconds to wait for the server.")
    total_timeout = _total_timeout_item(__name__)
    username = _config.ConfigItem("", "Default login (the account's e-mail address).")
    row_limit = _config.ConfigItem(-1, "Largest number of scans a query returns (-1: all).")
    page_size = _config.ConfigItem(1000, "Scans asked for per request when paging through a listing.")
    max_workers = _config.ConfigItem(4, "Requests in flight at once for listings and downloads.")


conf = Conf()

from astroquery_ext.grad300.core import SCAN_TYPES, Grad300, Grad300Class  # noqa: E402

__all__ = ["Grad300", "Grad300Class", "Conf", "conf", "SCAN_TYPES"]
