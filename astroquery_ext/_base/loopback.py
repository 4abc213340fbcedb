"""Loopback traffic never goes through a proxy.

A server on this machine (``127.0.0.0/8``, ``::1``, ``localhost``: the
sandbox, a service tunnelled to a local port) is reached directly, whatever
``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` say: a proxy elsewhere cannot
reach this machine's loopback interface, and would only turn every call into a
connection error. Every other URL keeps requests' own proxy behaviour
(``*_PROXY``, ``NO_PROXY``), as does everything else read from the environment
(``REQUESTS_CA_BUNDLE``, ``.netrc``).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import requests

__all__ = ["is_loopback", "direct_to_loopback"]


def is_loopback(url: str) -> bool:
    """Whether ``url`` names a host on this machine's loopback interface."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761: always loopback
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def direct_to_loopback(session: requests.Session) -> requests.Session:
    """Make ``session`` reach loopback URLs directly; other URLs are left to requests.

    Both places where requests picks a proxy are covered: the first request
    (``merge_environment_settings``) and each redirect (``rebuild_proxies``).
    Returns the session.
    """
    merge, rebuild = session.merge_environment_settings, session.rebuild_proxies

    def merge_environment_settings(url, proxies, stream, verify, cert):
        settings = merge(url, proxies, stream, verify, cert)
        if is_loopback(url):
            settings["proxies"] = {}
        return settings

    def rebuild_proxies(prepared_request, proxies):
        if is_loopback(prepared_request.url):
            prepared_request.headers.pop("Proxy-Authorization", None)
            return {}
        return rebuild(prepared_request, proxies)

    session.merge_environment_settings = merge_environment_settings
    session.rebuild_proxies = rebuild_proxies
    return session
