"""``request`` and ``get_json``: any endpoint of the four services, through the client's own request layer."""

from __future__ import annotations

import pickle
import socket
import threading
import time

import pytest
import requests

from astroquery_ext.exceptions import (
    LoginError, NotFoundError, RemoteServiceError, ServiceTimeoutError)
from astroquery_ext.sandbox.faults import Fault
from tests.base.conftest import requests_to


def _log(sandbox, service):
    return [(e["method"], e["path"], e["status"]) for e in sandbox.request_log(service)]


# -- the four services, logged in --------------------------------------------------------------


@pytest.fixture
def atlas(atlas_sandbox):
    client = atlas_sandbox.client("atlas")
    client.login(token=atlas_sandbox.credentials("atlas")["token"], store_token=False)
    return client


@pytest.fixture
def grad300(grad300_sandbox, monkeypatch):
    credentials = grad300_sandbox.credentials("grad300")
    monkeypatch.setenv("ASTROQUERY_EXT_GRAD300_PASSWORD", credentials["password"])
    client = grad300_sandbox.client("grad300")
    client.login(credentials["username"], store_token=False)
    return client


@pytest.fixture
def glance(glance_sandbox):
    client = glance_sandbox.client("glance")
    client.login(open_browser=lambda url: requests.get(url, timeout=10), store_token=False)
    return client


@pytest.fixture
def tupli(tupli_sandbox, monkeypatch):
    monkeypatch.setenv("ASTROQUERY_EXT_TUPLI_PASSWORD", tupli_sandbox.credentials("tupli", "alice")["password"])
    client = tupli_sandbox.client("tupli")
    client.login("alice", store_token=False)
    return client


def test_atlas_request_posts_a_cone_search_with_the_token(atlas, atlas_sandbox):
    pair = atlas_sandbox.info("atlas")["fixture_pair"]
    atlas_sandbox.clear_request_log("atlas")
    response = atlas.request("POST", "cone/", data={"ra": pair["ra"], "dec": pair["dec"],
                                                     "radius": pair["radius"], "requestType": "all"})
    assert response.status_code == 200
    assert [row["object"] for row in response.json()] == pair["ids"]
    # The same answer as the module's own call; the token went with the request, and is not left on it.
    assert [e["path"] for e in atlas_sandbox.request_log("atlas")] == ["/api/cone/"]
    assert atlas._auth.token not in str(response.request.headers)
    assert response.request.headers["Authorization"] == "Token ***"
    assert not hasattr(response, "auth_state")


def test_grad300_get_json_users_me(grad300, grad300_sandbox):
    me = grad300.get_json("users/me")
    assert me["email"] == grad300_sandbox.credentials("grad300")["username"]


def test_glance_get_json_search(glance, glance_sandbox):
    page = glance.get_json("searchSubgroup", params={"offset": 0, "limit": 2})
    assert len(page["results"]) == 2 and page["numberOfResults"] >= 2
    # Through the login's exchanged token, as the module's own queries.
    assert page["results"][0]["name"] in glance.query_subgroups(cache=False)["name"]


def test_tupli_request_lists_groups(tupli):
    response = tupli.request("GET", "access/groups/list")
    names = [g["name"] for g in response.json()]
    assert names == list(tupli.list_groups()["name"])


def test_login_found_on_demand_and_required(tupli_sandbox, monkeypatch):
    client = tupli_sandbox.client("tupli")
    with pytest.raises(LoginError):                     # auth="required" and no login anywhere
        client.get_json("access/users/list")
    assert client.get_json("access/groups/list", auth="optional")   # anonymous reads where the server allows
    monkeypatch.setenv("ASTROQUERY_EXT_TUPLI_USERNAME", "bob")
    monkeypatch.setenv("ASTROQUERY_EXT_TUPLI_PASSWORD", tupli_sandbox.credentials("tupli", "bob")["password"])
    assert any(u["username"] == "bob" for u in client.get_json("access/users/list"))   # logged in, no prompt
    assert client.whoami() == "bob"


# -- nothing to another origin -------------------------------------------------------------------


@pytest.fixture
def listener():
    """A TCP server on loopback that records whether anything connected."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    seen = []

    def accept():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            seen.append(conn.recv(65536))
            conn.close()

    stop = threading.Event()
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    stop.set()
    thread.join(5)
    server.close()


@pytest.mark.parametrize("form", ["http://127.0.0.1:{port}/api/cone/", "//127.0.0.1:{port}/api/cone/",
                                  "http://localhost:{port}/", "HTTP://127.0.0.1:{port}/x",
                                  "https://127.0.0.1:{port}/x"])
def test_another_origin_is_refused_before_anything_is_sent(atlas, listener, form):
    port, seen = listener
    # The same host on another port is another origin (another server, another owner).
    url = form.format(port=port)
    for call in (lambda: atlas.request("POST", url, data={"ra": 1}),
                 lambda: atlas.get_json(url), lambda: atlas.request("GET", url, stream=True)):
        with pytest.raises(ValueError, match=rf"127\.0\.0\.1:{port}|localhost:{port}") as info:
            call()
        assert "another origin" in str(info.value)
    # A normal request afterwards: the listener would have seen anything sent to it by now.
    atlas.request("GET", "objectlist/", params={"objectlistid": 2})
    assert seen == []


def test_credentials_in_a_url_are_refused(atlas, atlas_sandbox):
    url = atlas_sandbox.origin("atlas").replace("http://", "http://user:s3cret-pw@") + "/api/objectlist/"
    atlas_sandbox.clear_request_log("atlas")
    with pytest.raises(ValueError, match="user name or password") as info:
        atlas.get_json(url)
    assert "s3cret-pw" not in str(info.value) and atlas_sandbox.request_log("atlas") == []


def test_same_origin_absolute_url_is_the_server(atlas, atlas_sandbox):
    origin = atlas_sandbox.origin("atlas")
    expected = atlas.get_json("objectlist/", params={"objectlistid": 2})
    for url in (origin + "/api/objectlist/?objectlistid=2", origin.upper()
                + "/api/objectlist/?objectlistid=2", origin[len("http:"):] + "/api/objectlist/?objectlistid=2"):
        assert atlas.get_json(url) == expected


@pytest.mark.parametrize("headers, match", [
    ({"Authorization": "Token stolen"}, "Authorization"),
    ({"authorization ": "x"}, "Authorization"),
    ({"Cookie": "session=1"}, "cookies"),
    ({"Host": "evil.example"}, "Host"),
    ({"Content-Length": "0"}, "Content-Length"),
    ({"Transfer-Encoding": "chunked"}, "Transfer-Encoding"),
    ({"X-Note": "a\r\nAuthorization: Token x"}, "control characters"),
    ({"X-Note\n": "a"}, "control characters"),
])
def test_headers_cannot_carry_credentials_or_framing(atlas, atlas_sandbox, headers, match):
    atlas_sandbox.clear_request_log("atlas")
    with pytest.raises(ValueError, match=match):
        atlas.request("GET", "objectlist/", headers=headers, auth="none")
    assert atlas_sandbox.request_log("atlas") == []


@pytest.mark.parametrize("call, match", [
    (lambda c: c.request("FETCH", "x"), "method must be one of"),
    (lambda c: c.request("GET", "x\r\nHost: evil"), "control characters"),
    (lambda c: c.request("GET", "x", auth="maybe"), "auth must be one of"),
    (lambda c: c.request("GET", "x", timeout=0), "timeout must be a positive"),
    (lambda c: c.request("POST", "x", cache=True), "cache=True is for GET"),
    (lambda c: c.request("GET", "x", stream=True, cache=True), "cache=True is for GET"),
    (lambda c: c.get_json("x", headers={"Accept": "a"}, cache=True), "cannot be combined"),
])
def test_bad_arguments_are_refused_before_sending(atlas, atlas_sandbox, call, match):
    atlas_sandbox.clear_request_log("atlas")
    with pytest.raises(ValueError, match=match):
        call(atlas)
    assert atlas_sandbox.request_log("atlas") == []


# -- errors, renewal, retries, bounds --------------------------------------------------------------


@pytest.mark.parametrize("service", ["atlas", "grad300", "tupli"])
def test_404_is_not_found_with_the_servers_words_and_no_secret(service, request):
    client = request.getfixturevalue(service)
    token = client._auth.token
    path, params = {"atlas": ("objectz/", None), "grad300": ("scans/TPI/999999999/download", None),
                    "tupli": ("benchmarks/load", {"benchmark_id": "0" * 24})}[service]
    with pytest.raises(NotFoundError) as info:
        client.request("GET", path, params=params)
    error = info.value
    assert error.status == 404 and error.detail and error.detail.rstrip(".") in str(error)
    for text in (str(error), repr(error), repr(error.args), str(error.url), str(error.payload)):
        assert token not in text


def test_404_of_a_missing_route_says_the_server_url(testbed_client):
    with pytest.raises(NotFoundError, match="no such endpoint"):
        testbed_client.get_json("no/such/route")


@pytest.fixture
def testbed_client(client, alice, monkeypatch):
    monkeypatch.setenv("ASTROQUERY_EXT_TESTBED_PASSWORD", alice["password"])
    client.login("alice", persist=False)
    return client


def test_401_renews_the_token_once_and_repeats(testbed_sandbox, testbed_client):
    short_tokens, client = testbed_sandbox, testbed_client
    old = client._auth.token
    # The server forgets the token (as when it expires early): the next call answers 401, then renews.
    short_tokens.set_faults("testbed", [Fault("status", status=401, path="/api/whoami", nth=[1])])
    try:
        short_tokens.clear_request_log("testbed")
        assert client.get_json("whoami")["user"] == "alice"
    finally:
        short_tokens.set_faults("testbed", [])
    assert [(m, p) for m, p, _ in _log(short_tokens, "testbed")] == [
        ("GET", "/api/whoami"), ("POST", "/api/refresh"), ("GET", "/api/whoami")]
    assert client._auth.token != old


def test_retries_for_idempotent_methods_only(testbed_sandbox, testbed_client):
    testbed_sandbox.set_faults("testbed", [Fault("status", status=503, path="/api/whoami", nth=[1]),
                                           Fault("drop_response", method="POST", path="/api/things", nth=[1])])
    try:
        testbed_sandbox.clear_request_log("testbed")
        assert testbed_client.request("GET", "whoami").json()["user"] == "alice"   # 503 then 200
        assert len(requests_to(testbed_sandbox, "testbed", "/api/whoami")) == 2
        with pytest.raises(RemoteServiceError, match="not repeated"):               # a lost POST answer
            testbed_client.request("POST", "things", json={"name": "x"})
        assert len(requests_to(testbed_sandbox, "testbed", "/api/things")) == 1
    finally:
        testbed_sandbox.set_faults("testbed", [])


def test_not_json_is_an_error_after_retries(testbed_client):
    testbed_client.max_retries = 1
    with pytest.raises(RemoteServiceError, match="not valid JSON"):
        testbed_client.get_json("notjson")
    assert testbed_client.request("GET", "notjson").status_code == 200   # the raw answer is the caller's


def test_body_bounded_without_stream(testbed_client):
    testbed_client.max_answer_bytes = 10_000
    with pytest.raises(RemoteServiceError, match="more than 10,000 bytes"):
        testbed_client.request("GET", "files/a.bin")
    with testbed_client.request("GET", "files/a.bin", stream=True) as response:   # the caller's to bound
        assert sum(len(b) for b in response.iter_content(1 << 14)) == 300_000


def test_stream_read_whole_and_closed(testbed_client, testbed_sandbox):
    with testbed_client.request("GET", "files/b.bin", stream=True) as response:
        first = next(response.iter_content(1000))
        rest = b"".join(response.iter_content(1 << 16))
    assert len(first) + len(rest) == 300_000
    # The connection went back to the pool and serves the next call; its deadline no longer watches it.
    assert testbed_client.get_json("whoami")["user"] == "alice"


def test_stream_stays_under_the_deadline(testbed_sandbox, alice):
    from tests.base.testbed_client import TestbedClass

    client = TestbedClass(server=testbed_sandbox.url("testbed"), timeout=3.0)
    client.login(token=alice["token"])
    # Headers come at once; the caller then reads nothing for longer than the deadline (3 s + 1 s slack):
    # the socket is stopped and the next read says so.
    response = client.request("GET", "files/c.bin", stream=True)
    time.sleep(5.0)   # past the deadline, a wall-clock fact that no load can change
    with pytest.raises(ServiceTimeoutError, match="did not arrive within the deadline"):
        b"".join(response.iter_content(1 << 16))
    response.close()
    assert client.get_json("whoami")["user"] == "alice"   # the client goes on


def test_cache_only_when_asked_and_per_identity(testbed_client, testbed_sandbox, bob, monkeypatch):
    from astroquery import cache_conf

    from tests.base.testbed_client import TestbedClass

    monkeypatch.setattr(cache_conf, "cache_active", True)
    testbed_client.clear_cache()
    testbed_sandbox.clear_request_log("testbed")
    testbed_client.get_json("whoami")
    testbed_client.get_json("whoami")
    assert len(requests_to(testbed_sandbox, "testbed", "/api/whoami")) == 2          # default: no cache
    assert testbed_client.get_json("whoami", cache=True)["user"] == "alice"
    assert testbed_client.get_json("whoami", cache=True)["user"] == "alice"
    first = testbed_client.request("GET", "whoami", cache=True)
    again = testbed_client.request("GET", "whoami", cache=True)
    assert (first.from_cache, again.from_cache) == (False, True) and again.json() == first.json()
    assert len(requests_to(testbed_sandbox, "testbed", "/api/whoami")) == 4
    other = TestbedClass(server=testbed_sandbox.url("testbed"))
    other.login(token=bob["token"])
    other.cache_location = testbed_client.cache_location
    assert other.get_json("whoami", cache=True)["user"] == "bob"                    # never alice's entry
    assert other.request("GET", "whoami", cache=True).json()["user"] == "bob"
    assert not any(testbed_client._auth.token.encode() in p.read_bytes()
                   for p in testbed_client.cache_location.rglob("*") if p.is_file())


def test_pickled_client_keeps_the_escape_hatch(testbed_sandbox, monkeypatch, alice):
    from tests.base.testbed_client import TestbedClass

    monkeypatch.setenv("ASTROQUERY_EXT_TESTBED_TOKEN", alice["token"])
    client = pickle.loads(pickle.dumps(TestbedClass(server=testbed_sandbox.url("testbed"))))
    assert client.get_json("whoami")["user"] == "alice"


def test_flags_must_be_bools(atlas, atlas_sandbox):
    atlas_sandbox.clear_request_log("atlas")
    for call in (lambda: atlas.request("GET", "x", stream="yes"), lambda: atlas.get_json("x", cache=1),
                 lambda: atlas.request("GET", "x", headers=[("Accept", "a")])):
        with pytest.raises(TypeError):
            call()
    assert atlas_sandbox.request_log("atlas") == []
