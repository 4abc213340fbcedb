"""One client contract for the four service modules, checked the same way for each, over real HTTP.

Each module is described once in `SERVICES` (how to log in against the sandbox,
one cacheable query, one empty query, one paged query); every test below runs
for all four. What is checked: the singleton and the module's public names,
the ``conf`` items read at call time, login/logout, the ``cache=`` switch and
astroquery's ``cache_active``, ``get_query_payload`` and ``cache`` on every
``query_*`` (and Tupli's ``list_*``) with one default meaning, `NoResultsWarning`
on empty and `MaxResultsWarning` on truncated results, ``row_limit`` as the
total of the call, astroquery's ``ROW_LIMIT``/``TIMEOUT`` honoured or refused,
public names only in ``dir()``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import urllib.parse
import warnings
from typing import Any, Callable

import astropy.units as u
import pytest
import requests
from astroquery import cache_conf

from astroquery_ext.exceptions import MaxResultsWarning, NoResultsWarning, RemoteServiceError
from astroquery_ext.sandbox import Fault
from astroquery_ext.tupli import Filter


def _browser(url):
    requests.get(url, timeout=10)


@dataclasses.dataclass
class Service:
    name: str                                  # module and sandbox service name
    singleton: str                             # "Atlas"
    make: Callable[[Any], Any]                 # sandbox -> a fresh client (not logged in)
    login: Callable[[Any, Any, Any], Any]      # (client, sandbox, monkeypatch) -> login()'s result
    cached: Callable[[Any, bool], Any]         # (client, cache) -> a query whose endpoint is cached (or None)
    cache_lifetime: float                      # seconds, as docs/caching.rst states for that endpoint
    empty: Callable[[Any], Any]                # client -> a query that matches nothing
    payload: Callable[[Any], Any]              # client -> one query with get_query_payload=True
    paged: Callable[[Any, Any], Any] | None    # (client, row_limit) -> a paged query; None: not paged
    query_prefixes: tuple = ("query",)


def _atlas(sb):
    from astroquery_ext.atlas import AtlasClass
    return AtlasClass(server=sb.url("atlas"))


def _grad300(sb):
    from astroquery_ext.grad300 import Grad300Class
    return Grad300Class(server=sb.url("grad300"))


def _glance(sb):
    return sb.client("glance")  # the sandbox offers its clients


def _tupli(sb):
    from astroquery_ext.tupli import TupliClass
    return TupliClass(server=sb.url("tupli"))


def _tupli_login(client, sb, monkeypatch):
    cred = sb.credentials("tupli")
    monkeypatch.setenv("ASTROQUERY_EXT_TUPLI_PASSWORD", cred["password"])
    return client.login(cred["username"])


SERVICES = [
    Service("atlas", "Atlas", _atlas,
            login=lambda c, sb, mp: c.login(token=sb.credentials("atlas")["token"], store_token=False),
            cached=lambda c, cache: c.query_region("0.0216 31.7818", 60 * u.arcsec, cache=cache),
            cache_lifetime=300.0,
            empty=lambda c: c.query_region("10.0 -80.0", 1 * u.arcsec),
            payload=lambda c: c.query_list("good", get_query_payload=True),
            paged=None),
    Service("grad300", "Grad300", _grad300,
            login=lambda c, sb, mp: c.login(token=sb.credentials("grad300")["token"]),
            cached=lambda c, cache: c.list_scans("TPI", limit=5, cache=cache),
            cache_lifetime=600.0,
            empty=lambda c: c.query_source("no-such-target-xyz"),
            payload=lambda c: c.query_source("casa", get_query_payload=True),
            paged=lambda c, row_limit: c.query(row_limit=row_limit)),
    Service("glance", "Glance", _glance,
            login=lambda c, sb, mp: c.login(open_browser=_browser, store_token=False),
            cached=lambda c, cache: c.query_triggers(row_limit=5, cache=cache),
            cache_lifetime=3600.0,
            empty=lambda c: c.query_triggers('name = "no-such-trigger-xyz"'),
            payload=lambda c: c.query_triggers("name contain mu", get_query_payload=True),
            paged=lambda c, row_limit: c.query_triggers(row_limit=row_limit)),
    Service("tupli", "Tupli", _tupli, login=_tupli_login,
            cached=lambda c, cache: c.list_benchmarks(cache=cache),
            cache_lifetime=0.0,
            empty=lambda c: c.list_benchmarks(Filter("metadata.name") == "no-such-benchmark-xyz"),
            payload=lambda c: c.list_benchmarks(Filter("metadata.name") == "x", get_query_payload=True),
            paged=None, query_prefixes=("query", "list_")),
]


@pytest.fixture(params=SERVICES, ids=[s.name for s in SERVICES])
def service(request):
    return request.param


@pytest.fixture
def sb(service, sandboxes):
    return sandboxes.get(service.name)


@pytest.fixture
def client(service, sb, monkeypatch):
    client = service.make(sb)
    client.retry_backoff = 0.01
    assert service.login(client, sb, monkeypatch) is True
    sb.clear_request_log(service.name)
    return client


def api_calls(sb, service) -> list[dict]:
    """Requests the sandbox answered under the API root (not the login pages)."""
    root = urllib.parse.urlsplit(sb.url(service.name)).path
    return [e for e in sb.request_log(service.name) if e["path"].startswith(root)]


def query_methods(client, service) -> list[str]:
    return [n for n in dir(client) if n.startswith(service.query_prefixes) and callable(getattr(client, n))]


# -- the module ---------------------------------------------------------------------------------


def test_singleton_and_public_names(service):
    module = importlib.import_module(f"astroquery_ext.{service.name}")
    singleton = getattr(module, service.singleton)
    cls = getattr(module, service.singleton + "Class")
    assert type(singleton) is cls
    assert {service.singleton, service.singleton + "Class", "conf", "Conf"} <= set(module.__all__)
    assert singleton.conf is module.conf


def test_conf_items_are_read_at_call_time(service, sb):
    module = importlib.import_module(f"astroquery_ext.{service.name}")
    client = getattr(module, service.singleton)
    for item in ("server", "timeout"):
        assert hasattr(type(module.conf), item), f"conf.{item}"
    with module.conf.set_temp("server", sb.url(service.name)), module.conf.set_temp("timeout", 7.5):
        assert client.server == sb.url(service.name) and client.timeout == 7.5 and client.TIMEOUT == 7.5
    assert client.server == module.conf.server


def test_login_and_logout(service, sb, monkeypatch):
    client = service.make(sb)
    assert not client.authenticated() and client.whoami() is None
    assert service.login(client, sb, monkeypatch) is True
    assert client.authenticated()
    assert client.whoami() is None or isinstance(client.whoami(), str)
    client.logout()
    assert not client.authenticated() and client.whoami() is None


# -- queries ------------------------------------------------------------------------------------


def test_every_query_takes_cache_and_get_query_payload_with_one_meaning(service, sb):
    client = service.make(sb)
    names = query_methods(client, service)
    assert names, "no query methods found"
    for name in names:
        params = inspect.signature(getattr(client, name)).parameters
        assert "cache" in params and params["cache"].default is True, f"{name}: cache=True by default"
        assert "get_query_payload" in params and params["get_query_payload"].default is False, \
            f"{name}: get_query_payload=False by default"


def test_get_query_payload_sends_nothing(service, client, sb):
    payload = service.payload(client)
    payloads = payload if isinstance(payload, list) else [payload]
    assert payloads and all(p["url"].startswith(sb.url(service.name)) and p["method"] in ("GET", "POST")
                            for p in payloads)
    assert api_calls(sb, service) == []


def test_cache_switch_and_lifetime(service, client, sb):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoResultsWarning)
        first = service.cached(client, True)
        after_first = len(api_calls(sb, service))
        again = service.cached(client, True)
        after_again = len(api_calls(sb, service))
        service.cached(client, False)
        after_uncached = len(api_calls(sb, service))
        with cache_conf.set_temp("cache_active", False):
            service.cached(client, True)
        after_inactive = len(api_calls(sb, service))
    assert after_first >= 1 and len(again) == len(first)
    if service.cache_lifetime > 0:
        assert after_again == after_first, "a repeat within the endpoint's lifetime is answered from the cache"
    else:
        assert after_again > after_first, "an endpoint with no lifetime is never cached"
    assert after_uncached > after_again, "cache=False asks the server"
    assert after_inactive > after_uncached, "astroquery's cache_active=False asks the server"
    with pytest.raises(TypeError, match="cache must be True or False"):
        service.cached(client, "yes")


def test_empty_result_warns_and_keeps_columns(service, client):
    with pytest.warns(NoResultsWarning):
        table = service.empty(client)
    assert len(table) == 0 and len(table.colnames) > 0


def test_row_limit_is_the_total_of_the_call(service, client):
    if service.paged is None:
        pytest.skip(f"{service.name} answers are not paged: no row_limit")
    everything = service.paged(client, -1)
    assert len(everything) > 3
    with pytest.warns(MaxResultsWarning, match="row_limit=3"):
        three = service.paged(client, 3)
    assert len(three) == 3
    assert list(three[three.colnames[0]]) == list(everything[everything.colnames[0]][:3])
    with pytest.raises(ValueError, match="row_limit must be a positive integer, or -1"):
        service.paged(client, 0)


def test_ROW_LIMIT_is_honoured_or_refused(service, client):
    if service.paged is None:
        with pytest.raises(AttributeError, match="has no ROW_LIMIT"):
            client.ROW_LIMIT = 1
        assert not hasattr(client, "ROW_LIMIT")
        return
    client.ROW_LIMIT = 2
    with pytest.warns(MaxResultsWarning):
        assert len(service.paged(client, None)) == 2
    with pytest.raises(ValueError, match="ROW_LIMIT must be a positive integer"):
        client.ROW_LIMIT = -5
    client.ROW_LIMIT = None  # back to conf.row_limit (-1: all)
    assert client.ROW_LIMIT == -1 and len(service.paged(client, None)) > 2


def test_TIMEOUT_is_honoured(service, client, sb):
    client.TIMEOUT = 0.3
    client.max_retries = 0
    assert client.timeout == 0.3
    root = urllib.parse.urlsplit(sb.url(service.name)).path
    sb.set_faults(service.name, [Fault("delay", seconds=1.5, path=root + "*")])
    try:
        with pytest.raises(RemoteServiceError, match="timed out"):
            service.cached(client, False)
    finally:
        sb.set_faults(service.name, [])
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        client.TIMEOUT = 0


def test_tab_completion_lists_public_names_only(service, sb):
    client = service.make(sb)
    names = dir(client)
    assert {"login", "logout", "clear_cache", "server", "timeout", "TIMEOUT"} <= set(names)
    assert set(query_methods(client, service)) <= set(names)
    assert not [n for n in names if n.startswith("_")]
    assert not {"store", "credentials", "renew_statuses", "retry_backoff", "max_retries", "retry_max_wait",
                "max_workers_limit", "auth_scheme", "cache_ttl"} & set(names)
    assert client.store is not None  # hidden, not gone
