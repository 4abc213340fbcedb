"""Tupli: the offline reinforcement-learning store (benchmarks, artifacts, episodes; users, groups, roles)."""
from astropy import config as _config

from astroquery_ext._base.deadline import total_timeout_item as _total_timeout_item


class Conf(_config.ConfigNamespace):
    """Configuration parameters for `astroquery_ext.tupli`."""

    server = _config.ConfigItem("http://localhost:8080/", "API root URL of the Tupli server.")
    timeout = _config.ConfigItem(60.0, "Seconds to wait for the server.")
    total_timeout = _total_timeout_item(__name__)
    username = _config.ConfigItem("", "User name used by login() when none is given.")
    max_workers = _config.ConfigItem(4, "Requests in flight at once for batch calls (record_episodes).")
    upload_chunk_size = _config.ConfigItem(1 << 20, "Bytes read at a time when streaming an artifact upload.")


conf = Conf()

from astroquery_ext.tupli.core import Tupli, TupliClass, benchmark_hash  # noqa: E402
from astroquery_ext.tupli.filters import Filter  # noqa: E402

__all__ = ["Tupli", "TupliClass", "Conf", "conf", "Filter", "benchmark_hash"]
