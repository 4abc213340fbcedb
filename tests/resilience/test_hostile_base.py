"""The base under hostile servers (#14 items 2, 3, 5, 6, 7, 9): one test per attack, each failing on the old base.

The hostile servers are small local HTTP servers (`tests/resilience/hostile.py`),
alone or as a proxy in front of a sandbox service that spoils one answer.
Each test is small enough for CI; the ``slow`` variants (``tox -e
resilience``) repeat the attacks at the sizes of the original report.
"""

from __future__ import annotations

import gc
import json
import threading
import time
import urllib.parse

import pytest
import requests

from astroquery_ext._base.auth import AuthState
from astroquery_ext._base.redaction import redact, scrub_chain
from astroquery_ext.atlas import AtlasClass
from astroquery_ext.exceptions import (
    InvalidQueryError, LoginError, RateLimitError, RemoteServiceError, ServiceTimeoutError)
from astroquery_ext.grad300 import Grad300Class
from astroquery_ext.sandbox import Fault
from tests.base.testbed_client import TestbedClass

from ._helpers import Figures
from .hostile import HostileServer, answer, edit_json, gzip_bomb, steady, trickle, trickle_headers


def _root(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _via(proxy: HostileServer, sandbox_url: str) -> str:
    return proxy.url + urllib.parse.urlsplit(sandbox_url).path


def _chain(exc: BaseException) -> list[BaseException]:
    out, todo, seen = [], [exc], set()
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        out.append(e)
        todo += [e.__context__, e.__cause__]
    return out


def deep_text(obj, depth: int = 0, seen=None) -> str:
    """Everything reachable from an exception that a user (or a log of it) could print."""
    seen = set() if seen is None else seen
    if depth > 6 or id(obj) in seen:
        return ""
    seen.add(id(obj))
    parts = [repr(obj)[:2000]]
    if isinstance(obj, BaseException):
        parts += [str(obj)] + [deep_text(a, depth + 1, seen) for a in obj.args]
        parts += [deep_text(v, depth + 1, seen) for v in vars(obj).values()]
        parts += [deep_text(obj.__context__, depth + 1, seen), deep_text(obj.__cause__, depth + 1, seen)]
    elif isinstance(obj, requests.PreparedRequest):
        parts += [repr(dict(obj.headers)), repr(obj.body)[:100000], obj.url or ""]
    elif isinstance(obj, requests.Response):
        parts += [repr(dict(obj.headers)), deep_text(obj.request, depth + 1, seen)]
    elif isinstance(obj, dict):
        parts += [deep_text(v, depth + 1, seen) for v in obj.values()] + [str(k) for k in obj]
    elif isinstance(obj, (list, tuple)):
        parts += [deep_text(v, depth + 1, seen) for v in obj]
    return "\n".join(parts)


def assert_no_secret(exc: BaseException, *secrets: str) -> None:
    text = deep_text(exc)
    for secret in secrets:
        forms = {secret, urllib.parse.quote_plus(secret), urllib.parse.quote(secret, safe="")}
        assert not any(f in text for f in forms), "a secret is reachable from the exception"


@pytest.fixture
def testbed_token(testbed_sandbox):
    return testbed_sandbox.credentials("testbed", "alice")["token"]


# -- item 2: the cache files an answer under who asked ----------------------------------------------


def test_cache_entry_is_filed_under_the_identity_that_asked(user_state):
    """A login as B while A's request is in flight must not file A's answer under B."""
    def who(request):
        time.sleep(1.0)
        request.send_answer(200, json.dumps([{"auth": request.headers.get("Authorization")}]).encode())

    with HostileServer() as server:
        server.route("/api/who", who)
        client = TestbedClass(server=server.url + "/api/")
        client.login(token="token-of-user-A")
        first = {}
        thread = threading.Thread(target=lambda: first.setdefault(
            "v", client._json("GET", "who", auth="required", cache=True)))
        thread.start()
        waited = time.monotonic()
        while server.hits("/api/who") < 1 and time.monotonic() - waited < 30:  # A's request has reached the server
            time.sleep(0.01)
        client.login(token="token-of-user-B")  # while A's request is in flight
        thread.join()
        assert first["v"] == [{"auth": "Bearer token-of-user-A"}]
        mine = client._json("GET", "who", auth="required", cache=True)
        assert mine == [{"auth": "Bearer token-of-user-B"}], "B was served A's answer"
        assert server.hits("/api/who") == 2
        client.login(token="token-of-user-A")  # A's entry is A's
        assert client._json("GET", "who", auth="required", cache=True) == first["v"]
        assert server.hits("/api/who") == 2


def _cone(atlas, sandbox):
    """A cone search (cached 5 minutes) around an object the sandbox holds."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    row = atlas.query_objects(sandbox.info("atlas")["example_ids"][:1], show_progress=False)
    return lambda client, **kw: client.query_region(SkyCoord(row["ra"][0], row["dec"][0], unit="deg"),
                                                    5 * u.arcsec, **kw)


def _cone_requests(sandbox):
    return [e for e in sandbox.request_log("atlas") if e["path"].endswith("cone/")]


def test_atlas_token_named_as_another_user_does_not_read_their_cache(atlas_sandbox, user_state):
    """login(token=B_token, username='alice') must not be served alice's cached answers."""
    cred = atlas_sandbox.credentials("atlas")
    # alice logs in by password (a name the server vouches for) and caches a cone search
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ASTROQUERY_EXT_ATLAS_PASSWORD", cred["password"])
        real = AtlasClass(server=atlas_sandbox.url("atlas"))
        real.login(username=cred["username"], store_token=False)
    cone = _cone(real, atlas_sandbox)
    table = cone(real, cache=True)
    assert len(table) >= 1
    atlas_sandbox.clear_request_log("atlas")
    intruder = AtlasClass(server=atlas_sandbox.url("atlas"))
    intruder.login(token="b" * 40, username=cred["username"], store_token=False)  # not alice's token
    with pytest.raises(LoginError):
        cone(intruder, cache=True)
    assert _cone_requests(atlas_sandbox), "answered from alice's cache without asking the server"
    # alice herself still hits her entry
    atlas_sandbox.clear_request_log("atlas")
    assert len(cone(real, cache=True)) == len(table)
    assert not _cone_requests(atlas_sandbox)


# -- item 3: wrong-shaped 200 answers are errors and never cached ------------------------------------

WRONG = {"throttled": {"info": "Request was throttled"}, "maintenance": {"detail": "maintenance"},
         "null": None, "string": "ok"}


@pytest.mark.parametrize("kind", list(WRONG))
def test_atlas_wrong_shaped_answer_is_an_error_and_not_cached(atlas_sandbox, user_state, kind):
    with HostileServer(upstream=_root(atlas_sandbox.url("atlas"))) as proxy:
        atlas = AtlasClass(server=_via(proxy, atlas_sandbox.url("atlas")))
        atlas.login(token=atlas_sandbox.credentials("atlas")["token"], store_token=False)
        cone = _cone(atlas, atlas_sandbox)
        proxy.route("/cone/", answer(WRONG[kind]), times=1)
        with pytest.raises(RemoteServiceError) as info:
            cone(atlas, cache=True)
        if kind == "throttled":
            assert isinstance(info.value, RateLimitError) and "throttl" in str(info.value)
        else:
            assert "unexpected" in str(info.value) and "list of records" in str(info.value)
        table = cone(atlas, cache=True)  # not cached: asked again, and right
        assert len(table) >= 1 and proxy.hits("/cone/") == 2
        assert len(cone(atlas, cache=True)) == len(table) and proxy.hits("/cone/") == 2  # the right one is


@pytest.mark.parametrize("kind", list(WRONG))
def test_grad300_wrong_shaped_answer_is_an_error_and_not_cached(grad300_sandbox, user_state, kind):
    with HostileServer(upstream=_root(grad300_sandbox.url("grad300"))) as proxy:
        proxy.route("/scans/Spectrum/", answer(WRONG[kind]), times=1)
        grad = Grad300Class(server=_via(proxy, grad300_sandbox.url("grad300")))
        grad.login(token=grad300_sandbox.credentials("grad300")["token"])
        with pytest.raises(RemoteServiceError, match="unexpected"):
            grad.list_scans("Spectrum", limit=5, cache=True)
        assert len(grad.list_scans("Spectrum", limit=5, cache=True)) == 5
        assert proxy.hits("/scans/Spectrum/") == 2


# -- item 5: pages and bulk answers checked against totals and ids ------------------------------------


def _glance(glance_sandbox, proxy):
    client = glance_sandbox.client("glance", server=_via(proxy, glance_sandbox.url("glance")))
    client.login(open_browser=lambda url: requests.get(url, timeout=10))
    return client


def test_glance_short_page_is_an_error(glance_sandbox, user_state, monkeypatch):
    from astroquery_ext.glance import conf
    monkeypatch.setattr(conf, "page_size", 20)

    def short(value, query):
        if int(query.get("offset", 0)) == 20:
            value["results"] = value["results"][:-6]
        return value

    with HostileServer(upstream=_root(glance_sandbox.url("glance"))) as proxy:
        client = _glance(glance_sandbox, proxy)
        whole = client.query_analyses(row_limit=60)
        proxy.route("/searchAnalysis", edit_json(short))
        with pytest.raises(RemoteServiceError, match=r"said 60 record\(s\) but sent 54"):
            client.query_analyses(row_limit=60, cache=False)
        assert len(whole) == 60


def test_glance_shifted_page_with_duplicates_is_an_error(glance_sandbox, user_state, monkeypatch):
    from astroquery_ext.glance import conf
    monkeypatch.setattr(conf, "page_size", 20)
    first = {}

    def shifted(value, query):
        if int(query.get("offset", 0)) == 0:
            first["results"] = value["results"]
        elif int(query.get("offset", 0)) == 20 and "results" in first:
            value["results"] = first["results"][5:] + value["results"][:5]  # a record was deleted meanwhile
        return value

    with HostileServer(upstream=_root(glance_sandbox.url("glance"))) as proxy:
        client = _glance(glance_sandbox, proxy)
        proxy.route("/searchAnalysis", edit_json(shifted))
        with pytest.raises(RemoteServiceError, match=r"15 record\(s\) came twice"):
            client.query_analyses(row_limit=60, cache=False, max_workers=1)


@pytest.mark.parametrize("body", [b"", b"[]", b'{"numberOfResults": 3}'])
def test_glance_search_answer_without_the_envelope_is_an_error(glance_sandbox, user_state, body):
    """An empty body is not checked by expect= (it parses to None): Glance says what happened for it too."""
    with HostileServer(upstream=_root(glance_sandbox.url("glance"))) as proxy:
        client = _glance(glance_sandbox, proxy)
        proxy.route("/searchAnalysis", answer(body))
        with pytest.raises(RemoteServiceError, match="searchAnalysis"):
            client.query_analyses(cache=False)


def test_atlas_answer_with_a_swapped_record_is_an_error(atlas_sandbox, user_state):
    ids = atlas_sandbox.info("atlas")["example_ids"][:3]
    others = atlas_sandbox.info("atlas")["example_ids"][3:4]

    with HostileServer(upstream=_root(atlas_sandbox.url("atlas"))) as proxy:
        atlas = AtlasClass(server=_via(proxy, atlas_sandbox.url("atlas")))
        atlas.login(token=atlas_sandbox.credentials("atlas")["token"], store_token=False)
        other = atlas.get_lightcurves(others, cache=False, show_progress=False)
        assert len(other) > 0

        def swapped(request):
            # the answer for ids, with the second record replaced by the record of another object
            from .hostile import _upstream
            status, headers, body = _upstream(request)
            records = json.loads(body)
            request.body = urllib.parse.urlencode({"objects": str(others[0])}).encode()
            _, _, body2 = _upstream(request)
            records[1] = json.loads(body2)[0]
            request.send_answer(status, json.dumps(records).encode())

        proxy.route("/objects/", swapped, times=1)
        with pytest.raises(RemoteServiceError, match=r"1 record\(s\) of ids not asked for") as info:
            atlas.get_lightcurves(ids, cache=False, show_progress=False)
        assert str(others[0]) in str(info.value)


# -- item 6: timeout bounds the whole call -----------------------------------------------------------


@pytest.mark.parametrize("attack", ["body", "headers"])
def test_trickling_server_cannot_hold_a_call_past_its_timeout(user_state, attack):
    """timeout=2 and a server sending a few bytes a second: stopped at about the timeout, not retried."""
    body = b"[" + b"1," * 40 + b"1]"  # 83 bytes at 4 B/s: 20 s without a deadline
    with HostileServer() as server:
        server.route("/api/items", trickle(body, per_second=4) if attack == "body" else trickle_headers(4))
        client = TestbedClass(server=server.url + "/api/", timeout=2)
        start = time.monotonic()
        with pytest.raises(ServiceTimeoutError, match="did not complete within"):
            client._json("GET", "items")
        elapsed = time.monotonic() - start
        assert elapsed < 12, elapsed
        assert server.hits("/api/items") == 1  # a server too slow is not asked again
    Figures.record("hostile", f"trickle-{attack}", seconds=round(elapsed, 1))


def test_trickling_streamed_read_is_stopped_too(user_state):
    """A body read by the caller inside the request layer (streamed ATLAS answers use this) is bounded too."""
    body = b"[" + b"1," * 40 + b"1]"
    with HostileServer() as server:
        server.route("/api/items", trickle(body, per_second=4))
        client = TestbedClass(server=server.url + "/api/", timeout=2)
        start = time.monotonic()
        with pytest.raises(ServiceTimeoutError):
            client._http("GET", "items", read=lambda response: b"".join(response.iter_content(1)))
        assert time.monotonic() - start < 12


def test_a_body_that_keeps_arriving_is_not_cut_at_the_timeout(user_state, tmp_path):
    """A slow link is not an attack: 384 KiB at 96 KiB/s (4 s) with timeout=1 (a 2 s deadline) completes,
    as an answer read by the base, a body read through read_ahead (ATLAS objects/) and a download."""
    from astroquery_ext._base import DownloadJob, download_file
    from astroquery_ext._base.stream import read_ahead

    body = json.dumps(list(range(70_000))).encode()[: 384 * 1024 - 1] .rsplit(b",", 1)[0] + b"]"
    with HostileServer() as server:
        server.route("/api/items", steady(body, bytes_per_second=96 * 1024))
        server.route("/api/file.bin", steady(body, bytes_per_second=96 * 1024,
                                             content_type="application/octet-stream"))
        client = TestbedClass(server=server.url + "/api/", timeout=1)
        start = time.monotonic()
        assert client._json("GET", "items") == json.loads(body)
        assert time.monotonic() - start > 3  # it did outlast the fixed deadline
        assert client._http("GET", "items", read=lambda r: b"".join(read_ahead(r.iter_content(8192)))) == body
        result = download_file(client, DownloadJob("file.bin", tmp_path, "file.bin", expected_size=len(body)))
        assert (tmp_path / "file.bin").read_bytes() == body, result
        assert server.hits("/api/items") == 2 and server.hits("/api/file.bin") == 1  # no retries


@pytest.mark.slow
def test_trickling_server_one_byte_a_second_full(user_state):
    """The report's case: 1 byte/s kept a call with timeout=2 alive over 45 s."""
    body = b"[" + b"1," * 100 + b"1]"
    with HostileServer() as server:
        server.route("/api/items", trickle(body, per_second=1))
        client = TestbedClass(server=server.url + "/api/", timeout=2)
        start = time.monotonic()
        with pytest.raises(ServiceTimeoutError):
            client._json("GET", "items")
        assert time.monotonic() - start < 10


def test_silent_server_is_still_retried_within_the_timeout(testbed_sandbox, user_state):
    """The deadline stops slow answers, not the retry of a silent one (a read timeout)."""
    client = TestbedClass(server=testbed_sandbox.url("testbed"), timeout=1)
    client.retry_backoff = 0.01
    client.login(token=testbed_sandbox.credentials("testbed", "alice")["token"])
    testbed_sandbox.set_faults("testbed", [Fault("delay", seconds=2.5, path="/api/whoami", nth=[1])])
    try:
        assert client._json("GET", "whoami", auth="required")["user"] == "alice"
    finally:
        testbed_sandbox.set_faults("testbed", [])


# -- item 7: secrets in no object ------------------------------------------------------------------


def test_atlas_info_text_is_redacted(atlas_sandbox, user_state):
    token = atlas_sandbox.credentials("atlas")["token"]
    with HostileServer(upstream=_root(atlas_sandbox.url("atlas"))) as proxy:
        proxy.route("/objectlist/", answer({"info": f"Invalid token {token} for this list"}), times=1)
        atlas = AtlasClass(server=_via(proxy, atlas_sandbox.url("atlas")))
        atlas.login(token=token, store_token=False)
        with pytest.raises(InvalidQueryError) as info:
            atlas.query_list(2, cache=False)
        assert "Invalid token *** for this list" in str(info.value)
        assert_no_secret(info.value, token)


def test_echoed_password_is_in_no_error(grad300_sandbox, user_state, monkeypatch):
    """An echoing server puts the password into its error: not into ours, its payload or its chain."""
    cred = grad300_sandbox.credentials("grad300")
    password = "echo-me-" + cred["password"]
    monkeypatch.setenv("ASTROQUERY_EXT_GRAD300_PASSWORD", password)

    def echo(request):
        request.send_answer(400, json.dumps({"detail": f"Incorrect password {password}",
                                             "echo": {"password": password, "form": request.body.decode()}
                                             }).encode())

    with HostileServer(upstream=_root(grad300_sandbox.url("grad300"))) as proxy:
        proxy.route("/login/access-token", echo)
        grad = Grad300Class(server=_via(proxy, grad300_sandbox.url("grad300")))
        with pytest.raises(LoginError) as info:
            grad.login(cred["username"], reenter_password=True, store_token=False)
        assert proxy.hits("/login/access-token") == 1
        assert_no_secret(info.value, password)
        for exc in _chain(info.value):
            assert_no_secret(exc, password)


def test_no_requests_object_with_the_token_or_password_in_exception_chains(testbed_sandbox, user_state):
    """'raise ... from None' keeps __context__: its requests objects must not hold the token or the body."""
    cred = testbed_sandbox.credentials("testbed", "alice")
    client = TestbedClass(server=testbed_sandbox.url("testbed"))
    client.retry_backoff = 0.01
    client.login(token=cred["token"])
    testbed_sandbox.set_faults("testbed", [Fault("reset")])
    try:
        with pytest.raises(RemoteServiceError) as read_error:
            client._json("GET", "whoami", auth="required")
        with pytest.raises(RemoteServiceError) as write_error:  # a password in a form body, not repeated
            client._json("POST", "login", data={"username": "alice", "password": cred["password"]}, auth="none")
    finally:
        testbed_sandbox.set_faults("testbed", [])
    for error, secret in ((read_error.value, cred["token"]), (write_error.value, cred["password"])):
        chain = _chain(error)
        assert len(chain) >= 2  # the requests error is still there, for debugging ...
        assert not any(getattr(e, "request", None) is not None for e in chain)  # ... without its request
        assert_no_secret(error, secret)


def test_redaction_registry_forgets_no_secret_in_use():
    """300 renewals used to push the oldest live refresh token out of a 256-entry registry."""
    first = AuthState(token="access-token-0-" + "x" * 20, refresh_token="refresh-token-0-" + "y" * 20)
    states = [AuthState(token=f"access-token-{i}-" + "x" * 20, refresh_token=f"refresh-token-{i}-" + "y" * 20)
              for i in range(1, 5001)]
    assert redact(f"refresh={first.refresh_token}") == "refresh=***"
    assert redact(states[-1].token) == "***"
    gone = states[10].token
    del states
    gc.collect()
    redact("")  # settles released secrets
    assert redact(gone) == gone  # the dead are forgotten: the registry does not grow without bound
    assert redact(first.token) == "***"


def test_scrub_chain_drops_requests_objects():
    prepared = requests.Request("GET", "http://127.0.0.1:9/x", headers={"Authorization": "Bearer sekrit-123456"}
                                ).prepare()
    inner = requests.ConnectionError("refused", request=prepared)
    try:
        try:
            raise inner
        except requests.ConnectionError:
            raise RemoteServiceError("failed") from None
    except RemoteServiceError as exc:
        assert exc.__context__ is inner and inner.request is None
    outer = ValueError("x")
    outer.__context__ = requests.HTTPError("y", request=prepared)
    scrub_chain(outer)
    assert outer.__context__.request is None


def test_cookies_do_not_survive_logout_or_another_login_or_go_to_another_port(user_state):
    seen = {"a": [], "b": []}

    def set_cookie(request):
        request.send_answer(200, b"{}", {"Set-Cookie": "sid=cookie-of-a; Path=/"})

    def record(name):
        def handler(request):
            seen[name].append(request.headers.get("Cookie"))
            request.send_answer(200, b"{}")
        return handler

    with HostileServer() as a, HostileServer() as b:
        a.route("/api/set", set_cookie)
        a.route("/api/echo", record("a"))
        b.route("/api/echo", record("b"))
        client = TestbedClass(server=a.url + "/api/")
        client.login(token="token-of-user-A")
        client._json("GET", "set")
        client._json("GET", "echo")
        assert seen["a"] == ["sid=cookie-of-a"]  # cookies work for their server
        client._json("GET", b.url + "/api/echo")
        assert seen["b"] == [None]  # another server on the same host: no cookie
        client.login(token="token-of-user-B")
        client._json("GET", "echo")
        assert seen["a"][-1] is None  # a login as another user: no cookie of the first
        client._json("GET", "set")
        client.logout()
        client._json("GET", "echo")
        assert seen["a"][-1] is None  # after logout: none


# -- item 9: decompression bombs and nesting depth -----------------------------------------------------


def test_gzip_bomb_is_refused(user_state):
    bomb = gzip_bomb(64 << 20)  # 64 MiB of JSON in about 64 KiB
    with HostileServer() as server:
        server.route("/api/items", bomb)
        client = TestbedClass(server=server.url + "/api/")
        client.max_answer_bytes = 8 << 20
        with pytest.raises(RemoteServiceError, match="more than 8,388,608 bytes once decompressed"):
            client._json("GET", "items")
    Figures.record("hostile", "gzip-bomb", compressed=bomb.compressed_size, expanded=64 << 20)


@pytest.mark.slow
def test_gzip_bomb_full_size_is_refused_with_the_default_bound(user_state):
    """The report's case: 1 MB of gzip expanding to 1 GiB."""
    bomb = gzip_bomb(1 << 30)
    with HostileServer() as server:
        server.route("/api/items", bomb)
        client = TestbedClass(server=server.url + "/api/", timeout=120)
        with pytest.raises(RemoteServiceError, match="once decompressed"):
            client._json("GET", "items")


@pytest.mark.parametrize("depth", [100_000])
def test_deeply_nested_json_is_a_clear_error(user_state, depth):
    with HostileServer() as server:
        server.route("/api/items", answer(b"[" * depth + b"]" * depth))
        client = TestbedClass(server=server.url + "/api/")
        with pytest.raises(RemoteServiceError, match="nested too deeply"):
            client._json("GET", "items")
