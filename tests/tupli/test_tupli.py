"""`astroquery_ext.tupli` over real HTTP against the Tupli sandbox (pytupli's own server)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import time
import uuid
import warnings
from unittest import mock

import numpy as np
import pytest
from astropy.table import Table

from astroquery_ext._base import (
    AuthorizationError, ConflictError, LoginError, NoResultsWarning, NotFoundError)
from astroquery_ext.results import calls
from astroquery_ext.sandbox import Sandbox
from astroquery_ext.tupli import Filter, TupliClass, benchmark_hash


def _unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def url(tupli_sandbox):
    return tupli_sandbox.url("tupli")


@pytest.fixture(scope="module")
def sessions(tupli_sandbox, url):
    """One login per user for the module (bcrypt costs ~0.3 s a login); tokens kept in memory only."""
    out = {}
    for name in ("alice", "bob", "admin"):
        c = TupliClass(server=url)
        _login(c, name, tupli_sandbox.credentials("tupli", name)["password"], store_token=False)
        out[name] = c._auth
    return out


def _login(client, name, password, **kwargs):
    """Log in with the password in the environment, as a script does (login() takes no password argument)."""
    with mock.patch.dict(os.environ, {"ASTROQUERY_EXT_TUPLI_PASSWORD": password}):
        return client.login(name, **kwargs)


def _client(url, sessions, who):
    c = TupliClass(server=url)
    if who is not None:
        c._set_auth(sessions[who])
    return c


@pytest.fixture
def alice(url, sessions):
    return _client(url, sessions, "alice")


@pytest.fixture
def bob(url, sessions):
    return _client(url, sessions, "bob")


@pytest.fixture
def admin(url, sessions):
    return _client(url, sessions, "admin")


@pytest.fixture
def anon(url):
    return TupliClass(server=url)


def _bench(client, **meta):
    meta.setdefault("name", _unique("bench"))
    return client.store_benchmark(json.dumps({"env": meta["name"]}), meta)[0]  # the one row


def _count(sandbox):
    return len(sandbox.request_log("tupli"))


# -- accounts ---------------------------------------------------------------------


def test_anonymous_reads_see_only_global_content(anon, tupli_sandbox):
    sample = tupli_sandbox.info("tupli")["sample"]
    names = set(anon.list_benchmarks()["name"])
    assert "sandbox-cartpole" in names and "alice-private" not in names and "alice-team-bench" not in names
    assert sample["artifacts"]["rewards.csv"] in set(anon.list_artifacts()["id"])
    assert "team" in set(anon.list_groups()["name"])
    assert anon.whoami() is None


def test_writes_without_login_raise_before_sending(anon, tupli_sandbox):
    before = _count(tupli_sandbox)
    with pytest.raises(LoginError, match="ASTROQUERY_EXT_TUPLI_USERNAME"):
        anon.create_group(_unique("g"))
    assert _count(tupli_sandbox) == before


def test_login_from_environment_persists_session_and_reuses_it(url, tupli_sandbox, monkeypatch, user_state):
    monkeypatch.setenv("ASTROQUERY_EXT_TUPLI_USERNAME", "bob")
    monkeypatch.setenv("ASTROQUERY_EXT_TUPLI_PASSWORD", "bob-password")
    c = TupliClass(server=url)
    assert c.login() is True and c.whoami() == "bob"
    assert "bob-password" not in repr(c) and c._auth.token not in repr(c._auth)
    stored = [k for k in user_state.keyring.entries if k[1].startswith("session:bob@")]
    assert stored, user_state.keyring.entries.keys()
    monkeypatch.delenv("ASTROQUERY_EXT_TUPLI_PASSWORD")
    before = [e for e in tupli_sandbox.request_log("tupli") if e["path"].endswith("users/token")]
    again = TupliClass(server=url)
    again.login("bob")  # from the stored session: no password needed, no token request
    after = [e for e in tupli_sandbox.request_log("tupli") if e["path"].endswith("users/token")]
    assert len(after) == len(before) and again.whoami() == "bob"
    assert len(again.list_users()) >= 3
    again.logout(forget=True)
    assert not [k for k in user_state.keyring.entries if k[1].startswith("session:bob@")]
    with pytest.raises(LoginError):
        TupliClass(server=url).login("bob")  # nothing stored, no password, no terminal


def test_wrong_password_is_a_login_error_with_the_servers_words(url):
    with pytest.raises(LoginError, match="Incorrect username or password"):
        _login(TupliClass(server=url), "alice", "nope", store_token=False)


def test_password_argument_is_deprecated_but_still_works(url, user_state):
    from astropy.utils.exceptions import AstropyDeprecationWarning
    c = TupliClass(server=url)
    with pytest.warns(AstropyDeprecationWarning, match=r"login\(password=...\) is deprecated.*"
                                                       r"ASTROQUERY_EXT_TUPLI_PASSWORD"):
        assert c.login("alice", "alice-password", store_token=False) is True
    assert c.whoami() == "alice"
    with pytest.warns(AstropyDeprecationWarning) as caught:
        TupliClass(server=url).login("alice", password="alice-password", persist=False)
    assert {str(w.message).split(" is deprecated")[0] for w in caught} == {
        "Tupli.login(password=...)", "Tupli.login(persist=...)"}
    assert not [k for k in user_state.keyring.entries if k[1].startswith("session:")]  # persist=False kept
    with pytest.raises(TypeError, match="only positional argument"):
        TupliClass(server=url).login("alice", "a", "b")


def test_signup_change_password_and_delete_user(url, admin):
    name = _unique("carol")
    c = TupliClass(server=url)
    assert c.signup(name, "first-pw")["username"].tolist() == [name]
    with pytest.raises(ConflictError, match="User already exists"):
        c.signup(name, "again")
    _login(c, name, "first-pw", store_token=False)
    c.change_password(name, "second-pw")
    with pytest.raises(LoginError):
        _login(TupliClass(server=url), name, "first-pw", store_token=False)
    _login(TupliClass(server=url), name, "second-pw", store_token=False)
    assert name in set(admin.list_users()["username"])
    c.delete_user(name)
    assert c.whoami() is None
    assert name not in set(admin.list_users()["username"])
    with pytest.raises(ValueError, match="pass the new password"):
        admin.change_password("alice")


# -- groups and roles -----------------------------------------------------------------


def test_groups_membership_and_group_publishing(alice, bob, anon):
    group = _unique("grp")
    created = alice.create_group(group, "test group")
    assert created["name", "description"].as_array().tolist() == [(group, "test group")]
    assert group in set(alice.list_groups()["name"])
    header = _bench(alice)
    alice.publish_benchmark(header["id"], group)
    assert header["id"] not in set(bob.list_benchmarks()["id"])
    with pytest.raises(AuthorizationError, match="sufficient permissions"):
        bob.load_benchmark(header["id"])
    out = alice.add_group_members(group, {"bob": "member"})
    assert len(out) == 1 and set(out["members"][0]) == {"alice", "bob"}
    assert header["id"] in set(bob.list_benchmarks()["id"])
    assert bob.load_benchmark(header["id"])["serialized"][0] == json.dumps({"env": header["name"]})
    assert header["id"] not in set(anon.list_benchmarks()["id"])
    assert alice.remove_group_members(group, "bob")["members"][0] == ["alice"]
    assert header["id"] not in set(bob.list_benchmarks()["id"])
    alice.delete_group(group)
    assert group not in set(alice.list_groups()["name"])
    alice.delete_benchmark(header["id"])


@pytest.mark.parametrize("call, match", [
    (lambda c: c.create_group("global"), "server-wide scope"),
    (lambda c: c.create_group(" x"), "surrounding spaces"),
    (lambda c: c.add_group_members("team", {"bob": []}), "remove_group_members"),
    (lambda c: c.add_group_members("team", {}), "non-empty dict"),
    (lambda c: c.remove_group_members("team", []), "at least one"),
    (lambda c: c.create_role("r", ["BENCHMARK_READ", "fly"]), "not allowed: \\['fly'\\]"),
    (lambda c: c.create_role("r", []), "must not be empty"),
])
def test_bad_group_and_role_arguments(alice, tupli_sandbox, call, match):
    before = _count(tupli_sandbox)
    with pytest.raises((ValueError, TypeError), match=match):
        call(alice)
    assert _count(tupli_sandbox) == before


def test_roles_are_admin_only(alice, admin):
    with pytest.raises(AuthorizationError, match="sufficient permissions"):
        alice.list_roles()
    name = _unique("reviewer")
    role = admin.create_role(name, ["BENCHMARK_READ", "episode_read"], "reads")
    assert (role["role"][0], role["rights"][0], role["description"][0]) == (name, ["benchmark_read", "episode_read"], "reads")
    roles = admin.list_roles()
    assert {"admin", "member", name} <= set(roles["role"])
    assert list(roles[roles["role"] == name]["rights"][0]) == ["benchmark_read", "episode_read"]
    with pytest.raises(AuthorizationError):
        alice.delete_role(name)
    admin.delete_role(name)
    assert name not in set(admin.list_roles()["role"])


# -- benchmarks -------------------------------------------------------------------------


def test_benchmark_round_trip_filters_and_publishing(alice, bob, anon):
    name = _unique("bm")
    header = _bench(alice, name=name, difficulty="hard", version="2", extra={"n": 7})
    assert header["hash"] == benchmark_hash(json.dumps({"env": name}),
                                            {"name": name, "difficulty": "hard", "version": "2", "extra": {"n": 7}})
    loaded = alice.load_benchmark(header["id"])
    assert loaded["serialized"][0] == json.dumps({"env": name}) and loaded["extra"][0] == {"n": 7} and len(loaded) == 1
    table = alice.list_benchmarks((Filter("metadata.name") == name) & (Filter("metadata.extra.n") >= 7))
    assert list(table["id"]) == [header["id"]] and table["difficulty"][0] == "hard"
    assert table["created_at"][0].isot.startswith(header["created_at"].isot[:19])
    assert calls(table)[0]["query"]["filter"]["type"] == "AND" and table.meta["service"] == ["tupli"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        empty = alice.list_benchmarks(Filter("metadata.name") == _unique("none"))
    assert len(empty) == 0 and empty.colnames == table.colnames
    assert any(issubclass(w.category, NoResultsWarning) for w in caught)
    assert header["id"] not in set(bob.list_benchmarks()["id"])
    alice.publish_benchmark(header["id"])
    assert header["id"] in set(anon.list_benchmarks()["id"])
    with pytest.raises(AuthorizationError, match="Required: benchmark_delete"):
        alice.unpublish_benchmark(header["id"], "global")  # pytupli's rule: owners cannot
    with pytest.raises(AuthorizationError):
        bob.delete_benchmark(header["id"])
    alice.delete_benchmark(header["id"])
    with pytest.raises(NotFoundError, match="Benchmark not found"):
        alice.load_benchmark(header["id"])
    alice.delete_benchmark(header["id"])  # missing: the server answers 200


def test_duplicate_benchmark_conflict_names_the_existing_one(alice):
    header = _bench(alice)
    with pytest.raises(ConflictError, match=f"stored as id {header['id']}") as info:
        alice.store_benchmark(json.dumps({"env": header["name"]}), {"name": header["name"]})
    assert info.value.status == 409 and info.value.existing["id"] == header["id"]
    assert "Benchmark already exists" in info.value.detail
    alice.delete_benchmark(header["id"])


def test_get_query_payload_is_the_exact_request(alice, tupli_sandbox):
    before = _count(tupli_sandbox)
    payload = alice.list_episodes(Filter("n_tuples") > 3, get_query_payload=True)
    assert payload == {"method": "POST", "url": alice._url("episodes/list"),
                       "json": {"type": "GT", "key": "n_tuples", "value": 3, "include_tuples": False}}
    body = alice.store_benchmark("s", {"name": "n"}, hash="h", get_query_payload=True)["json"]
    assert body == {"hash": "h", "serialized": "s", "metadata": {
        "name": "n", "description": "", "difficulty": None, "version": None, "extra": {}}}
    assert _count(tupli_sandbox) == before


@pytest.mark.parametrize("call, match", [
    (lambda c: c.load_benchmark("nope"), "32 lower-case hex"),
    (lambda c: c.store_benchmark({"a": 1}, {"name": "x"}), "serialized must be a str"),
    (lambda c: c.store_benchmark("s", {"title": "x"}), "unknown benchmark metadata keys"),
    (lambda c: c.store_benchmark("s", {"description": "x"}), "needs a 'name'"),
    (lambda c: c.store_benchmark("s", {"name": "x", "extra": {"v": float("nan")}}), "NaN"),
    (lambda c: c.list_benchmarks("metadata.name == x"), "filter must be"),
    (lambda c: c.publish_benchmark("0" * 32, "a&b "), "surrounding spaces"),
])
def test_bad_benchmark_arguments_raise_before_sending(alice, tupli_sandbox, call, match):
    before = _count(tupli_sandbox)
    with pytest.raises((ValueError, TypeError), match=match):
        call(alice)
    assert _count(tupli_sandbox) == before


# -- artifacts ---------------------------------------------------------------------------


def test_artifacts_from_bytes_path_and_file_object(alice, bob, tmp_path):
    data = os.urandom(200_000)
    src = tmp_path / "weights.bin"
    src.write_bytes(data)
    from_path = alice.store_artifact(src, {"description": "w", "extra": {"kind": "npz"}})[0]
    assert from_path["name"] == "weights.bin"
    assert from_path["hash"] == hashlib.sha256(data + b"alice").hexdigest()
    assert alice.store_artifact(io.BytesIO(data), {"name": "other"})[0]["id"] == from_path["id"]  # server dedup
    small = alice.store_artifact(b"a,b\n1,2\n", {"name": "t.csv"})[0]
    assert alice.load_artifact(small["id"]) == b"a,b\n1,2\n"
    assert alice.load_artifact(from_path["id"]) == data
    out = alice.load_artifact(from_path["id"], tmp_path / "copy.bin")
    assert out == tmp_path / "copy.bin" and out.read_bytes() == data
    with pytest.raises(FileExistsError):
        alice.load_artifact(from_path["id"], out)
    sub = tmp_path / "dir"
    sub.mkdir()
    assert alice.load_artifact(small["id"], sub) == sub / "t.csv"
    assert sorted(p.name for p in tmp_path.rglob("*.part")) == []
    table = alice.list_artifacts(Filter("extra.kind") == "npz")  # keys relative to the metadata
    assert from_path["id"] in set(table["id"]) and small["id"] not in set(table["id"])
    with pytest.raises(AuthorizationError):
        bob.load_artifact(small["id"])
    with pytest.raises(AuthorizationError):
        bob.load_artifact(small["id"], tmp_path / "nope.csv")
    assert not (tmp_path / "nope.csv").exists()
    alice.publish_artifact(small["id"], "team")
    assert bob.load_artifact(small["id"]) == b"a,b\n1,2\n"
    for item in (from_path, small):
        alice.delete_artifact(item["id"])
    with pytest.raises(NotFoundError, match="Artifact does not exist"):
        alice.load_artifact(small["id"], tmp_path / "gone.csv")


def test_downloads_do_not_break_the_next_request(alice):
    """The server drops the connection after a download; pooled POSTs must not hit it."""
    item = alice.store_artifact(b"x" * 1000, {"name": "k.bin"})[0]
    for _ in range(15):
        assert alice.load_artifact(item["id"]) == b"x" * 1000
        # A POST (not retried: not idempotent by method) right after the download.
        group = alice.create_group(_unique("after-dl"))["name"][0]
        alice.delete_group(group)
    alice.delete_artifact(item["id"])


@pytest.mark.parametrize("data, meta, match", [
    (b"x", {"name": "数据.csv"}, "outside Latin-1"),
    (b"x", {"name": "a", "extra": {"who": "Zoë ✓"}}, "outside Latin-1"),
    (b"x", {}, "needs a 'name'"),
    (b"x", {"name": "a", "size": 1}, "unknown artifact metadata keys"),
    ("/no/such/file", {"name": "a"}, "is not a file"),
    (io.StringIO("text"), {"name": "a"}, "binary mode"),
    (12, {"name": "a"}, "must be bytes"),
    (b"x", {"name": "a", "benchmark_id": "b1"}, "32 lower-case hex"),
])
def test_bad_artifacts_raise_before_sending(alice, tupli_sandbox, data, meta, match):
    before = _count(tupli_sandbox)
    with pytest.raises((ValueError, TypeError), match=match):
        alice.store_artifact(data, meta)
    assert _count(tupli_sandbox) == before


def test_latin1_metadata_is_accepted(alice):
    item = alice.store_artifact(b"ok", {"name": "données.csv", "description": "été"})[0]
    assert alice.load_artifact(item["id"]) == b"ok"
    alice.delete_artifact(item["id"])


def test_large_artifact_round_trips_byte_identical(alice, tmp_path):
    size = 64 * 1024 * 1024
    src = tmp_path / "big.bin"
    digest = hashlib.sha256()
    block = np.random.default_rng(1).integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()
    with open(src, "wb") as handle:
        for i in range(size // len(block)):
            chunk = block[i:] + block[:i]
            handle.write(chunk)
            digest.update(chunk)
    item = alice.store_artifact(src)[0]
    out = alice.load_artifact(item["id"], tmp_path / "back.bin")
    assert out.stat().st_size == size
    check = hashlib.sha256()
    with open(out, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            check.update(chunk)
    assert check.hexdigest() == digest.hexdigest()
    alice.delete_artifact(item["id"])


# -- episodes ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bench_id(url, sessions):
    c = _client(url, sessions, "alice")
    header = _bench(c, name=_unique("ep-bench"))
    yield header["id"]
    c.delete_benchmark(header["id"])


def test_record_episodes_from_each_input_shape_and_read_tuples(alice, bench_id):
    n = 6
    state = np.arange(n * 3, dtype=float).reshape(n, 3)
    as_table = Table({"state": state, "action": np.arange(n) % 2, "reward": np.linspace(0, 1, n),
                      "terminal": [False] * (n - 1) + [True]})
    as_dict = {"state": state, "action": np.ones((n, 2), dtype=np.int32), "reward": [1.0] * n,
               "timeout": np.array([False] * (n - 1) + [True]), "info": [{"k": i} for i in range(n)]}
    as_list = [{"state": [float(i)], "action": i, "reward": np.float32(0.5)} for i in range(3)]
    recorded = [alice.record_episode(bench_id, t, {"src": s}) for s, t in
                (("table", as_table), ("dict", as_dict), ("list", as_list))]
    assert all(isinstance(r, Table) and len(r) == 1 for r in recorded)
    assert recorded[0].colnames == alice.list_episodes(Filter("benchmark_id") == bench_id).colnames
    headers = [r[0] for r in recorded]
    assert [h["n_tuples"] for h in headers] == [6, 6, 3]
    assert headers[0]["terminated"] and headers[1]["timeout"] and not headers[2]["terminated"]
    first = alice.get_episode(headers[0]["id"])
    assert first.colnames == ["state", "action", "reward", "terminal", "timeout", "info"]
    assert first["state"].shape == (6, 3) and first["state"].dtype == np.float64
    np.testing.assert_array_equal(first["state"], state)
    assert first["action"].dtype == np.int64 and list(first["terminal"]) == [False] * 5 + [True]
    assert json.loads(first.meta["header"][0])["metadata"] == {"src": "table"}
    second = alice.get_episode(headers[1]["id"])
    assert second["action"].shape == (6, 2) and second["info"][3] == {"k": 3}
    tuples = alice.get_tuples(Filter("benchmark_id") == bench_id)
    assert len(tuples) == 15 and tuples.colnames[:2] == ["episode_id", "step"]
    assert tuples["state"].dtype == object  # shapes differ across these episodes
    listed = alice.list_episodes(Filter("benchmark_id") == bench_id, include_tuples=True)
    assert sorted(listed["n_tuples"]) == [3, 6, 6]
    assert {len(t) for t in listed["tuples"]} == {3, 6}
    plain = alice.list_episodes(Filter("metadata.src").isin(["dict", "list"]) & (Filter("benchmark_id") == bench_id))
    assert sorted(plain["metadata"], key=str) and "tuples" not in plain.colnames and len(plain) == 2
    for h in headers:
        alice.delete_episode(h["id"])
    with pytest.raises(NotFoundError, match="no episode"):
        alice.get_episode(headers[0]["id"])


def test_record_episodes_concurrently_one_request_each(alice, bench_id, tupli_sandbox):
    rng = np.random.default_rng(0)
    episodes = [{"state": rng.normal(size=(20, 4)), "action": rng.integers(0, 2, 20), "reward": np.ones(20)}
                for _ in range(12)]
    tupli_sandbox.clear_request_log("tupli")
    table = alice.record_episodes(bench_id, episodes, [{"i": i} for i in range(12)], max_workers=4)
    log = tupli_sandbox.request_log("tupli")
    assert [e["path"] for e in log].count("/episodes/record") == 12 and len(log) == 12
    assert [m["i"] for m in table["metadata"]] == list(range(12)) and set(table["n_tuples"]) == {20}
    back = alice.get_tuples(Filter("id").isin(list(table["id"])))
    assert back["state"].shape == (240, 4)
    for i in table["id"]:
        alice.delete_episode(i)


def test_episode_permissions_and_publishing(alice, bob, anon, bench_id):
    header = alice.record_episode(bench_id, [{"state": [0], "action": 0, "reward": 1}])[0]
    assert header["id"] not in set(bob.list_episodes()["id"])
    alice.publish_episode(header["id"], "global")
    assert header["id"] in set(anon.list_episodes(Filter("benchmark_id") == bench_id)["id"])
    assert len(anon.get_episode(header["id"])) == 1
    with pytest.raises(AuthorizationError, match="Required: episode_delete"):
        alice.unpublish_episode(header["id"], "global")
    with pytest.raises(NotFoundError, match="Benchmark id doesn't exist"):
        alice.record_episode("0" * 32, [{"state": [0], "action": 0, "reward": 1}])
    alice.delete_episode(header["id"])


@pytest.mark.parametrize("tuples, match", [
    ([], "empty"),
    ({"state": np.zeros((0, 2)), "action": [], "reward": []}, "empty"),
    (Table({"state": [1.0], "action": [0], "rewards": [1.0]}), "unknown columns \\['rewards'\\]"),
    ({"state": [1, 2], "action": [0], "reward": [1, 1]}, "has 1 entries"),
    ({"state": [1.0], "action": [0], "reward": [float("nan")]}, "NaN"),
    ([{"state": 1, "action": 0, "reward": float("inf")}], "NaN or infinity"),
    ([{"state": 1, "action": 0}], "missing \\['reward'\\]"),
    ([{"state": 1, "action": 0, "reward": 1, "terminal": "yes"}], "must be a bool"),
    ([{"state": object(), "action": 0, "reward": 1}], "JSON data"),
    # arrays go the fast way (msgspec) only when every value is a finite number
    ({"state": np.array([[1.0, np.nan]]), "action": np.array([0]), "reward": np.array([1.0])}, "NaN"),
    ({"state": np.array([1.0]), "action": np.array([0]), "reward": np.array([1.0]), "info": [{"raw": b"x"}]},
     "JSON data"),
    ({"state": np.array([b"x"], dtype=object), "action": np.array([0]), "reward": np.array([1.0])}, "JSON data"),
    ("tuples", "must be a Table"),
])
def test_bad_episodes_raise_before_sending(alice, bench_id, tupli_sandbox, tuples, match):
    before = _count(tupli_sandbox)
    with pytest.raises((ValueError, TypeError), match=match):
        alice.record_episode(bench_id, tuples)
    with pytest.raises((ValueError, TypeError), match=match):
        alice.record_episodes(bench_id, [[{"state": 1, "action": 0, "reward": 1}], tuples])
    assert _count(tupli_sandbox) == before


# -- tokens ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def expiring_tokens():
    """Access tokens that expire when a test says so (the sandbox's control), never while it works."""
    with Sandbox(services={"tupli": {"bcrypt_rounds": 4, "sample_data": False}}) as sb:
        yield sb


def _refreshes(sb):
    return [e for e in sb.request_log("tupli") if e["path"].endswith("refresh-token")]


def test_expired_access_token_is_refreshed_and_shared_through_the_store(expiring_tokens):
    url = expiring_tokens.url("tupli")
    c = TupliClass(server=url)
    _login(c, "alice", "alice-password")
    first = c._auth.token
    expiring_tokens.control("tupli", "expire-access-tokens")
    c._set_auth(dataclasses.replace(c._auth, expires_at=time.time() - 1))  # as the client sees it: renew first
    expiring_tokens.clear_request_log("tupli")
    assert len(c.list_users()) == 3
    assert len(_refreshes(expiring_tokens)) == 1 and c._auth.token != first
    assert c._auth.refresh_token  # the server sends no new one; the old is kept
    # Another client (another process, say) picks up the renewed session instead of logging in
    # (no password here): the same token, or, if it is due for renewal by now, one refreshed from it.
    expiring_tokens.clear_request_log("tupli")
    other = TupliClass(server=url)
    other.login("alice")
    assert other.whoami() == "alice"
    paths = [e["path"] for e in expiring_tokens.request_log("tupli")]
    assert other._auth.token == c._auth.token if not paths else paths == ["/access/users/refresh-token"]


def test_a_401_on_a_token_we_thought_valid_renews_once_and_repeats(expiring_tokens):
    c = TupliClass(server=expiring_tokens.url("tupli"))
    _login(c, "bob", "bob-password", store_token=False)
    c._set_auth(dataclasses.replace(c._auth, expires_at=None))  # unknown expiry: no early renewal
    expiring_tokens.control("tupli", "expire-access-tokens")
    expiring_tokens.clear_request_log("tupli")
    assert c.create_group(_unique("g"))["description"].mask[0]
    statuses = [(e["path"], e["status"]) for e in expiring_tokens.request_log("tupli")]
    assert statuses[0][1] == 401 and statuses[1] == ("/access/users/refresh-token", 200)
    assert statuses[2][1] == 200 and len(statuses) == 3


def test_expired_refresh_token_asks_to_log_in_again(expiring_tokens):
    c = TupliClass(server=expiring_tokens.url("tupli"))
    _login(c, "bob", "bob-password", store_token=False)
    c._set_auth(dataclasses.replace(c._auth, extra={**c._auth.extra, "refresh_expires_at": time.time() - 1}))
    expiring_tokens.control("tupli", "expire-access-tokens")
    with pytest.raises(LoginError, match="Could not validate credentials.*login"):
        c.list_users()


def test_an_episode_of_arrays_is_the_same_json_either_way():
    """Arrays are written by msgspec, anything else by json: the server receives the same values."""
    import json

    from astroquery_ext.tupli._wire import encode_json, episode_json, wire_tuples
    tuples = {"state": np.array([[0.1, -2.5e-300], [1e300, 3.0]]), "action": np.array([1, 2 ** 40]),
              "reward": np.array([0.5, -1.0], dtype=np.float32), "terminal": np.array([False, True])}
    rows, plain = wire_tuples(tuples)
    assert plain and not wire_tuples([{"state": 1, "action": 0, "reward": 1}])[1]
    fast = episode_json("b1", {"k": "ü"}, tuples)
    slow = encode_json({"benchmark_id": "b1", "metadata": {"k": "ü"}, "tuples": rows}, "the episode")
    assert json.loads(fast) == json.loads(slow)
    assert json.loads(fast)["tuples"][1] == {"state": [1e300, 3.0], "action": 2 ** 40, "reward": -1.0,
                                              "info": {}, "terminal": True, "timeout": False}
