"""The Tupli sandbox (pytupli's own server on mongomock), driven over raw HTTP.

These tests pin down the wire behaviour the ``astroquery_ext.tupli`` client is
built against, quirks included (see ``shared/specs/tupli.md``).
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
import uuid
from urllib.parse import urlsplit

import httpx
import jwt
import pytest

from astroquery_ext.sandbox import Sandbox


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _login(url: str, user: str, password: str) -> dict:
    response = httpx.post(url + "access/users/token", json={"username": user, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def url(tupli_sandbox):
    return tupli_sandbox.url("tupli")


@pytest.fixture(scope="module")
def tokens(tupli_sandbox, url):
    """One login per sandbox user (bcrypt makes each cost about 0.3 s)."""
    return {name: _login(url, name, creds["password"])
            for name, creds in tupli_sandbox.users("tupli").items()}


@pytest.fixture(scope="module")
def auth(tokens):
    return {name: _bearer(pair["access_token"]["token"]) for name, pair in tokens.items()}


@pytest.fixture
def client():
    with httpx.Client(timeout=30) as c:
        yield c


def _benchmark(client, url, headers, name=None, **extra):
    name = name or _unique("bench")
    body = {"hash": _unique("hash"), "serialized": json.dumps({"env": name}),
            "metadata": {"name": name, "description": "test", "difficulty": "easy",
                         "extra": extra}}
    response = client.post(url + "benchmarks/create", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# -- layout, users, info -------------------------------------------------------------


def test_layout_users_and_info(tupli_sandbox, url):
    assert url.startswith("http://127.0.0.1:") and url.endswith("/")
    assert httpx.get(url).json() is None  # GET / is pytupli's health check: 200 null
    users = tupli_sandbox.users("tupli")
    assert set(users) == {"admin", "alice", "bob"}
    assert users["admin"]["password"] == "pytupli" and users["admin"]["admin"] is True
    assert tupli_sandbox.credentials("tupli")["username"] == "alice"
    info = tupli_sandbox.info("tupli")
    assert info["pytupli_version"] == "1.2.9"
    assert info["jwt_algorithm"] == "HS256" and len(info["secret_key"]) == 64
    assert info["access_token_minutes"] == 30 and info["refresh_token_minutes"] == 12600
    assert info["artifact_store"] == "disk"
    assert set(info["sample"]["benchmarks"]) == {"sandbox-cartpole", "alice-team-bench",
                                                "alice-private", "bob-private"}
    assert len(info["sample"]["episodes"]) == 3


def test_users_list_matches_sandbox_users(client, url, auth):
    listed = {u["username"]: u["memberships"]
              for u in client.get(url + "access/users/list", headers=auth["bob"]).json()}
    assert listed["admin"] == [{"group": "global", "roles": ["admin"]}]
    # Other tests add groups of their own; the sample memberships are always there.
    assert {"group": "team", "roles": ["group_admin", "contributor"]} in listed["alice"]
    assert {"group": "team", "roles": ["member"]} in listed["bob"]


# -- authentication -------------------------------------------------------------------


def test_login_token_pair(tupli_sandbox, tokens):
    pair = tokens["alice"]
    assert set(pair) == {"access_token", "refresh_token"}
    assert pair["access_token"]["token_type"] == "bearer"
    secret = tupli_sandbox.info("tupli")["secret_key"]
    access = jwt.decode(pair["access_token"]["token"], secret, algorithms=["HS256"])
    refresh = jwt.decode(pair["refresh_token"]["token"], secret, algorithms=["HS256"])
    assert set(access) == {"issuer", "exp"} and access["issuer"] == "alice"
    assert 29 * 60 < access["exp"] - time.time() <= 30 * 60
    assert 12599 * 60 < refresh["exp"] - time.time() <= 12600 * 60


def test_wrong_password(client, url):
    response = client.post(url + "access/users/token", json={"username": "alice", "password": "nope"})
    assert response.status_code == 401
    assert response.json() == {"detail": "Incorrect username or password"}
    assert response.headers["www-authenticate"] == "Bearer"


def test_signup_then_login(client, url):
    name = _unique("carol")
    response = client.post(url + "access/users/create", json={"username": name, "password": "pw"})
    assert response.status_code == 200
    assert response.json() == {"username": name, "memberships": []}
    again = client.post(url + "access/users/create", json={"username": name, "password": "pw"})
    assert again.status_code == 409 and again.json() == {"detail": "User already exists"}
    assert _login(url, name, "pw")["access_token"]["token"]


def test_refresh_returns_a_flat_token(client, url, tokens):
    refresh = tokens["bob"]["refresh_token"]["token"]
    response = client.post(url + "access/users/refresh-token", headers=_bearer(refresh))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "token_type"} and body["token_type"] == "bearer"
    assert "access_token" not in body  # what pytupli's own client wrongly expects
    listed = client.post(url + "benchmarks/list", json={}, headers=_bearer(body["token"]))
    assert listed.status_code == 200


def test_refresh_without_token_is_403(client, url):
    response = client.post(url + "access/users/refresh-token")
    assert response.status_code == 403
    assert response.json() == {"detail": "You do not have sufficient permissions for this operation."}


def test_expired_and_forged_tokens(tupli_sandbox, client, url):
    secret = tupli_sandbox.info("tupli")["secret_key"]
    expired = jwt.encode({"issuer": "alice", "exp": int(time.time()) - 10}, secret, algorithm="HS256")
    forged = jwt.encode({"issuer": "alice", "exp": int(time.time()) + 600}, "x" * 32, algorithm="HS256")
    for token in (expired, forged):
        response = client.post(url + "benchmarks/list", json={}, headers=_bearer(token))
        assert response.status_code == 401
        assert response.json() == {"detail": "Could not validate credentials"}
    lower = client.post(url + "benchmarks/list", json={}, headers={"Authorization": f"bearer {expired}"})
    assert lower.status_code == 401 and lower.json() == {"detail": "Invalid authentication scheme"}


# -- benchmarks -----------------------------------------------------------------------


def test_benchmark_store_load_list(client, url, auth):
    name = _unique("bench")
    header = _benchmark(client, url, auth["alice"], name=name, n=7)
    assert len(header["id"]) == 32 and header["created_by"] == "alice"
    assert header["published_in"] == ["alice"]
    assert header["metadata"] == {"name": name, "description": "test", "difficulty": "easy",
                                  "version": None, "extra": {"n": 7}}
    loaded = client.get(url + "benchmarks/load", params={"benchmark_id": header["id"]},
                        headers=auth["alice"]).json()
    assert loaded["serialized"] == json.dumps({"env": name})
    assert {k: v for k, v in loaded.items() if k != "serialized"} == header

    flt = {"type": "EQ", "key": "metadata.name", "value": name}
    listed = client.post(url + "benchmarks/list", json=flt, headers=auth["alice"]).json()
    assert [b["id"] for b in listed] == [header["id"]]
    ranged = {"type": "AND", "filters": [flt, {"type": "GEQ", "key": "metadata.extra.n", "value": 8}]}
    assert client.post(url + "benchmarks/list", json=ranged, headers=auth["alice"]).json() == []

    duplicate = client.post(url + "benchmarks/create", headers=auth["alice"], json={
        "hash": header["hash"], "serialized": "{}", "metadata": {"name": "dup"}})
    assert duplicate.status_code == 409 and duplicate.json() == {"detail": "Benchmark already exists"}

    missing = client.get(url + "benchmarks/load", params={"benchmark_id": "0" * 32}, headers=auth["alice"])
    assert missing.status_code == 404 and missing.json() == {"detail": "Benchmark not found"}
    assert client.delete(url + "benchmarks/delete", params={"benchmark_id": header["id"]},
                         headers=auth["alice"]).json() is None
    # Deleting what does not exist is 200 null too.
    assert client.delete(url + "benchmarks/delete", params={"benchmark_id": header["id"]},
                         headers=auth["alice"]).status_code == 200


# -- artifacts ------------------------------------------------------------------------


def test_artifact_round_trip(client, url, auth):
    data = bytes(range(256)) * 1000
    meta = {"name": "blob.csv", "description": "round trip", "extra": {"kind": "csv"}}
    response = client.post(url + "artifacts/upload", files={"data": ("ignored", data)},
                           data={"metadata": json.dumps(meta)}, headers=auth["alice"])
    assert response.status_code == 200, response.text
    item = response.json()
    assert item["name"] == "blob.csv" and item["created_by"] == "alice"
    assert item["published_in"] == ["alice"] and item["encoding"] == "utf-8"
    assert item["hash"] == hashlib.sha256(data + b"alice").hexdigest()

    headers = {**auth["alice"], "Connection": "close"}
    download = client.get(url + "artifacts/download", params={"artifact_id": item["id"]}, headers=headers)
    assert download.status_code == 200 and download.content == data
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert download.headers["content-disposition"] == 'attachment; filename="blob.csv"'
    assert json.loads(download.headers["x-metadata"]) == item
    ranged = client.get(url + "artifacts/download", params={"artifact_id": item["id"]},
                        headers={**headers, "Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.content == data[:10]

    # Same bytes from the same user: the existing item comes back, new metadata ignored.
    again = client.post(url + "artifacts/upload", files={"data": ("x", data)},
                        data={"metadata": json.dumps({"name": "other.bin"})}, headers=auth["alice"])
    assert again.json() == item
    # Artifact list keys are relative to the metadata.
    listed = client.post(url + "artifacts/list", json={"type": "EQ", "key": "id", "value": item["id"]},
                         headers=auth["alice"]).json()
    assert listed == [item]
    assert client.delete(url + "artifacts/delete", params={"artifact_id": item["id"]},
                         headers=auth["alice"]).status_code == 200
    gone = client.get(url + "artifacts/download", params={"artifact_id": item["id"]}, headers=headers)
    assert gone.status_code == 404 and gone.json() == {"detail": "Artifact does not exist"}


def test_download_closes_the_connection(client, url, auth):
    item = client.post(url + "artifacts/upload", files={"data": ("x", b"hello")},
                       data={"metadata": json.dumps({"name": "h.txt"})}, headers=auth["bob"]).json()
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        request = (f"GET /artifacts/download?artifact_id={item['id']} HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: {auth['bob']['Authorization']}\r\n\r\n")  # keep-alive asked
        sock.sendall(request.encode())
        received = b""
        while chunk := sock.recv(65536):  # ends only because the server closes
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 OK") and received.endswith(b"\r\n\r\nhello")
    assert b"connection: close" not in received.lower()  # no warning: the server just hangs up


def test_non_latin1_metadata_uploads_but_cannot_download(client, url, auth):
    response = client.post(url + "artifacts/upload", files={"data": ("x", b"abc")},
                           data={"metadata": json.dumps({"name": "数据.csv"})}, headers=auth["bob"])
    assert response.status_code == 200 and response.json()["name"] == "数据.csv"
    download = client.get(url + "artifacts/download", params={"artifact_id": response.json()["id"]},
                          headers={**auth["bob"], "Connection": "close"})
    assert download.status_code == 500
    assert download.json()["detail"].startswith("'latin-1' codec can't encode characters")


def test_invalid_artifact_metadata_is_plain_500(client, url, auth):
    response = client.post(url + "artifacts/upload", files={"data": ("x", b"abc")},
                           data={"metadata": "{not json"}, headers={**auth["bob"], "Connection": "close"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "Internal Server Error"


# -- episodes -------------------------------------------------------------------------


def test_episode_record_and_list(client, url, auth):
    bench = _benchmark(client, url, auth["alice"])
    tuples = [{"state": [0.0, 1.0], "action": [1], "reward": 0.5},
              {"state": [0.1, 1.1], "action": [0], "reward": 1.0, "info": {"x": 1}, "terminal": True}]
    response = client.post(url + "episodes/record", headers=auth["alice"], json={
        "benchmark_id": bench["id"], "metadata": {"agent": "a"}, "tuples": tuples})
    assert response.status_code == 200, response.text
    header = response.json()
    assert header["n_tuples"] == 2 and header["terminated"] is True and header["timeout"] is False
    assert header["benchmark_id"] == bench["id"] and "tuples" not in header

    flt = {"type": "EQ", "key": "benchmark_id", "value": bench["id"]}
    assert client.post(url + "episodes/list", json=flt, headers=auth["alice"]).json() == [header]
    full = client.post(url + "episodes/list", json={**flt, "include_tuples": True},
                       headers=auth["alice"]).json()
    assert full[0]["tuples"][1] == {"state": [0.1, 1.1], "action": [0], "reward": 1.0,
                                    "info": {"x": 1}, "terminal": True, "timeout": False}

    empty = client.post(url + "episodes/record", headers=auth["alice"], json={
        "benchmark_id": bench["id"], "metadata": {}, "tuples": []})
    assert empty.status_code == 500
    assert empty.json() == {"detail": "Failed to record episode: list index out of range"}
    unknown = client.post(url + "episodes/record", headers=auth["alice"], json={
        "benchmark_id": "0" * 32, "metadata": {}, "tuples": tuples})
    assert unknown.status_code == 404 and unknown.json() == {"detail": "Benchmark id doesn't exist"}


# -- permissions ----------------------------------------------------------------------


def test_private_items_are_invisible_to_others(client, url, auth):
    bench = _benchmark(client, url, auth["alice"])
    flt = {"type": "EQ", "key": "id", "value": bench["id"]}
    assert client.post(url + "benchmarks/list", json=flt, headers=auth["bob"]).json() == []
    assert client.post(url + "benchmarks/list", json=flt).json() == []  # the guest
    denied = client.get(url + "benchmarks/load", params={"benchmark_id": bench["id"]}, headers=auth["bob"])
    assert denied.status_code == 403
    # Not even the admin may read another user's private item.
    assert client.get(url + "benchmarks/load", params={"benchmark_id": bench["id"]},
                      headers=auth["admin"]).status_code == 403
    # Only the owner may publish; then everyone (the guest too) sees it.
    assert client.put(url + "benchmarks/publish", params={"benchmark_id": bench["id"], "publish_in": "global"},
                      headers=auth["bob"]).status_code == 403
    assert client.put(url + "benchmarks/publish", params={"benchmark_id": bench["id"], "publish_in": "global"},
                      headers=auth["alice"]).json() is None
    assert [b["published_in"] for b in client.post(url + "benchmarks/list", json=flt).json()] == [["alice", "global"]]
    # ... and the owner cannot unpublish from global.
    unpublish = client.put(url + "benchmarks/unpublish",
                           params={"benchmark_id": bench["id"], "unpublish_from": "global"}, headers=auth["alice"])
    assert unpublish.status_code == 403
    assert unpublish.json() == {"detail": "Insufficient permissions in group: global. Required: benchmark_delete"}


def test_roles_are_admin_only(client, url, auth):
    roles = client.get(url + "access/roles/list", headers=auth["admin"])
    assert roles.status_code == 200
    assert {r["role"] for r in roles.json()} >= {"admin", "content_admin", "user_admin", "group_admin",
                                                 "contributor", "member", "global_member", "guest"}
    for who in ("alice", "bob"):
        denied = client.get(url + "access/roles/list", headers=auth[who])
        assert denied.status_code == 403
        assert denied.json() == {"detail": "You do not have sufficient permissions for this operation."}
    assert client.get(url + "access/roles/list").status_code == 403


def test_sample_data_visibility(tupli_sandbox, client, url, auth):
    sample = tupli_sandbox.info("tupli")["sample"]
    ids = sample["benchmarks"]
    by_id = {"type": "IN", "key": "id", "value": list(ids.values())}

    def names(headers):
        listed = client.post(url + "benchmarks/list", json=by_id, headers=headers).json()
        return sorted(b["metadata"]["name"] for b in listed)

    assert names(auth["alice"]) == ["alice-private", "alice-team-bench", "sandbox-cartpole"]
    assert names(auth["bob"]) == ["alice-team-bench", "bob-private", "sandbox-cartpole"]
    assert names({}) == ["sandbox-cartpole"]
    episodes = client.post(url + "episodes/list",
                           json={"type": "EQ", "key": "benchmark_id", "value": ids["sandbox-cartpole"]}).json()
    assert sorted(e["id"] for e in episodes) == sorted(sample["episodes"])
    assert {e["n_tuples"] for e in episodes} == {10}
    artifact = sample["artifacts"]["rewards.csv"]
    csv = client.get(url + "artifacts/download", params={"artifact_id": artifact},
                     headers={"Connection": "close"})
    assert csv.status_code == 200 and csv.text.startswith("step,reward\n0,")
    team = client.get(url + "access/groups/read", params={"group_name": "team"}, headers=auth["bob"]).json()
    assert team["name"] == "team" and sorted(team["members"]) == ["alice", "bob"]


# -- options and persistence (a sandbox of its own) --------------------------------------


def test_options_and_restart(tmp_path):
    options = {"access_token_minutes": 0.5, "refresh_token_minutes": 2, "open_signup": False,
               "bcrypt_rounds": 4, "sample_data": False, "users": {"dora": "dora-pw"}}
    with Sandbox(services={"tupli": options}, data_dir=tmp_path, seed=7) as sb:
        url = sb.url("tupli")
        assert set(sb.users("tupli")) == {"admin", "dora"}
        assert sb.info("tupli")["sample"] == {} and sb.info("tupli")["restored"] is False
        pair = _login(url, "dora", "dora-pw")
        secret = sb.info("tupli")["secret_key"]
        exp = jwt.decode(pair["access_token"]["token"], secret, algorithms=["HS256"])["exp"]
        assert 20 < exp - time.time() <= 30
        exp = jwt.decode(pair["refresh_token"]["token"], secret, algorithms=["HS256"])["exp"]
        assert 110 < exp - time.time() <= 120
        signup = httpx.post(url + "access/users/create", json={"username": "eve", "password": "x"})
        assert signup.status_code == 403  # open signup off: the guest lacks user_create
        with httpx.Client() as client:
            bench = _benchmark(client, url, _bearer(pair["access_token"]["token"]), name="kept")
            item = client.post(url + "artifacts/upload", files={"data": ("x", b"kept bytes")},
                               data={"metadata": json.dumps({"name": "kept.bin"})},
                               headers=_bearer(pair["access_token"]["token"])).json()
    with Sandbox(services={"tupli": options}, data_dir=tmp_path, seed=7) as sb:
        url = sb.url("tupli")
        assert sb.info("tupli")["restored"] is True
        headers = _bearer(_login(url, "dora", "dora-pw")["access_token"]["token"])
        listed = httpx.post(url + "benchmarks/list", json={}, headers=headers).json()
        assert [b["id"] for b in listed] == [bench["id"]]
        blob = httpx.get(url + "artifacts/download", params={"artifact_id": item["id"]},
                         headers={**headers, "Connection": "close"})
        assert blob.content == b"kept bytes"
        admin = _bearer(_login(url, "admin", "pytupli")["access_token"]["token"])
        assert len(httpx.get(url + "access/roles/list", headers=admin).json()) == 8  # not re-seeded
