"""pytupli's own client (``TupliAPIClient``, unmodified) against the Tupli sandbox.

pytupli keeps its base URL and tokens in ``keyring`` (service ``pytupli``,
entries ``base_url``, ``access_token``, ``refresh_token``). Each test gets an
in-memory keyring, so the user's real keyring is never touched, and a fresh
client logs in as whoever the test needs.
"""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
import keyring
import keyring.errors
import pytest

pytupli_storage = pytest.importorskip("pytupli.storage")

from pytupli.schema import (  # noqa: E402
    RIGHT,
    ArtifactMetadata,
    BenchmarkMetadata,
    BenchmarkQuery,
    Episode,
    FilterEQ,
    FilterIN,
    Group,
    GroupMembership,
    GroupMembershipQuery,
    RLTuple,
    UserRole,
)

TupliAPIClient = pytupli_storage.TupliAPIClient
TupliStorageError = pytupli_storage.TupliStorageError

from tests.conftest import MemoryKeyring  # noqa: E402

pytestmark = pytest.mark.peers


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture(scope="module")
def base_url(tupli_sandbox):
    # pytupli builds f"{base_url}/access/...": no trailing slash.
    return tupli_sandbox.url("tupli").rstrip("/")


@pytest.fixture
def login(tupli_sandbox, base_url, memory_keyring):
    """``login(user)`` -> a TupliAPIClient logged in as that sandbox user."""

    def _login(user: str) -> TupliAPIClient:
        client = TupliAPIClient()
        client.login(user, tupli_sandbox.credentials("tupli", user)["password"], url=base_url)
        return client

    return _login


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _store_benchmark(client, name=None, **extra):
    name = name or _unique("peer-bench")
    query = BenchmarkQuery(hash=_unique("hash"), serialized='{"env": "%s"}' % name,
                           metadata=BenchmarkMetadata(name=name, description="peer", extra=extra))
    return client.store_benchmark(query)


def test_login_keeps_url_and_tokens_in_keyring(tupli_sandbox, base_url, memory_keyring):
    assert TupliAPIClient().base_url == "http://localhost:8080"  # pytupli's default
    client = TupliAPIClient()
    client.login("alice", "alice-password", url=base_url)
    entries = memory_keyring.entries
    assert entries[("pytupli", "base_url")] == base_url
    secret = tupli_sandbox.info("tupli")["secret_key"]
    claims = jwt.decode(entries[("pytupli", "access_token")], secret, algorithms=["HS256"])
    assert claims["issuer"] == "alice"
    assert ("pytupli", "refresh_token") in entries
    assert TupliAPIClient().base_url == base_url  # a new client finds the URL again
    with pytest.raises(TupliStorageError, match="401"):
        TupliAPIClient().login("alice", "wrong")


def test_signup_and_list_users(login, base_url):
    name = _unique("peer-user")
    client = TupliAPIClient()
    client.set_url(base_url)
    user = client.signup(name, "secret")  # no token yet: pytupli retries without one
    assert user.username == name and user.memberships == []
    client.login(name, "secret")
    users = {u.username: u for u in client.list_users()}
    assert {"admin", "alice", "bob", name} <= set(users)
    assert ("team", ["member"]) in [(m.group, m.roles) for m in users["bob"].memberships]


def test_sample_data_as_seen_by_pytupli(tupli_sandbox, login):
    sample = tupli_sandbox.info("tupli")["sample"]
    client = login("bob")
    listed = client.list_benchmarks(FilterIN(key="id", value=list(sample["benchmarks"].values())))
    assert sorted(b.metadata.name for b in listed) == ["alice-team-bench", "bob-private", "sandbox-cartpole"]
    public = sample["benchmarks"]["sandbox-cartpole"]
    bench = client.load_benchmark(public)
    assert bench.created_by == "alice" and bench.published_in == ["alice", "global"]
    episodes = client.list_episodes(FilterEQ(key="benchmark_id", value=public), include_tuples=True)
    assert sorted(e.id for e in episodes) == sorted(sample["episodes"])
    assert all(len(e.tuples) == e.n_tuples == 10 for e in episodes)
    csv = client.load_artifact(sample["artifacts"]["rewards.csv"])
    assert csv.startswith(b"step,reward\n")


def test_benchmarks(login):
    alice = login("alice")
    header = _store_benchmark(alice, level=3)
    assert header.created_by == "alice" and header.published_in == ["alice"]
    loaded = alice.load_benchmark(header.id)
    assert loaded.serialized == '{"env": "%s"}' % header.metadata.name
    assert loaded.metadata.extra == {"level": 3}
    assert [b.id for b in alice.list_benchmarks(FilterEQ(key="metadata.name", value=header.metadata.name))] \
        == [header.id]
    with pytest.raises(TupliStorageError, match="409 Client Error"):
        alice.store_benchmark(BenchmarkQuery(hash=header.hash, serialized="{}",
                                             metadata=BenchmarkMetadata(name="dup")))

    bob = login("bob")
    by_id = FilterEQ(key="id", value=header.id)
    assert bob.list_benchmarks(by_id) == []
    with pytest.raises(TupliStorageError, match="403 Client Error"):
        bob.load_benchmark(header.id)

    alice = login("alice")
    alice.publish_benchmark(header.id)
    bob = login("bob")
    assert [b.published_in for b in bob.list_benchmarks(by_id)] == [["alice", "global"]]
    assert bob.load_benchmark(header.id).serialized == loaded.serialized

    alice = login("alice")
    alice.delete_benchmark(header.id)
    assert alice.list_benchmarks(by_id) == []


def test_artifacts(login, base_url):
    alice = login("alice")
    data = b"\x00\x01peer artifact\xff" * 5000
    item = alice.store_artifact(data, ArtifactMetadata(name="peer.bin", description="p",
                                                       extra={"k": "v"}))
    assert item.name == "peer.bin" and item.created_by == "alice" and item.extra == {"k": "v"}
    # Repeated downloads: pytupli opens a new connection per call, so the
    # server's hang-up after each download never bites it.
    for _ in range(3):
        assert alice.load_artifact(item.id) == data
    listed = alice.list_artifacts(FilterEQ(key="id", value=item.id))
    assert listed == [item]
    # Our raw view of the same item agrees with pytupli's.
    token = keyring.get_password("pytupli", "access_token")
    raw = httpx.post(base_url + "/artifacts/list", json={"type": "EQ", "key": "id", "value": item.id},
                     headers={"Authorization": f"Bearer {token}"}).json()
    assert raw == [item.model_dump()]
    alice.publish_artifact(item.id)
    bob = login("bob")
    assert bob.load_artifact(item.id) == data
    with pytest.raises(TupliStorageError, match="403 Client Error"):
        bob.delete_artifact(item.id)
    alice = login("alice")
    alice.delete_artifact(item.id)
    assert alice.list_artifacts(FilterEQ(key="id", value=item.id)) == []


def test_episodes(login):
    alice = login("alice")
    bench = _store_benchmark(alice)
    tuples = [RLTuple(state=[0.0, 1.0], action=[1], reward=0.5),
              RLTuple(state=[0.5, 1.5], action=[0], reward=1.5, timeout=True)]
    header = alice.record_episode(Episode(benchmark_id=bench.id, metadata={"agent": "peer"}, tuples=tuples))
    assert header.n_tuples == 2 and header.terminated is False and header.timeout is True
    by_bench = FilterEQ(key="benchmark_id", value=bench.id)
    heads = alice.list_episodes(by_bench)
    assert [h.id for h in heads] == [header.id] and not hasattr(heads[0], "tuples")
    full = alice.list_episodes(by_bench, include_tuples=True)
    assert full[0].tuples == tuples
    assert alice.list_episodes(FilterEQ(key="metadata.agent", value="peer") & by_bench)[0].id == header.id
    alice.publish_episode(header.id)
    assert [e.published_in for e in login("bob").list_episodes(by_bench)] == [["alice", "global"]]
    alice = login("alice")
    alice.delete_episode(header.id)
    assert alice.list_episodes(by_bench) == []
    with pytest.raises(TupliStorageError, match="500 Server Error"):
        alice.record_episode(Episode(benchmark_id=bench.id, metadata={}, tuples=[]))


def test_groups_and_publishing_into_a_group(login):
    name = _unique("peer-group")
    alice = login("alice")
    assert alice.create_group(Group(name=name, description="peers")).name == name
    assert name in {g.name for g in alice.list_groups()}
    added = alice.add_group_members(GroupMembershipQuery(
        group_name=name, members=[GroupMembership(user="bob", roles=["member"])]))
    assert sorted(added.members) == ["alice", "bob"]
    bench = _store_benchmark(alice)
    alice.publish_benchmark(bench.id, publish_in=name)

    bob = login("bob")
    assert bob.read_group(name).description == "peers"
    assert [b.id for b in bob.list_benchmarks(FilterEQ(key="id", value=bench.id))] == [bench.id]

    alice = login("alice")
    removed = alice.remove_group_members(GroupMembershipQuery(
        group_name=name, members=[GroupMembership(user="bob")]))
    assert removed.members == ["alice"]
    bob = login("bob")
    assert bob.list_benchmarks(FilterEQ(key="id", value=bench.id)) == []
    alice = login("alice")
    alice.delete_group(name)
    assert name not in {g.name for g in alice.list_groups()}


def test_roles(login):
    admin = login("admin")
    roles = {r.role: r for r in admin.list_roles()}
    assert set(roles) >= {"admin", "content_admin", "user_admin", "group_admin", "contributor",
                          "member", "global_member", "guest"}
    assert len(roles["admin"].rights) == 18
    name = _unique("peer-role")
    created = admin.create_role(UserRole(role=name, rights=[RIGHT.BENCHMARK_READ], description="r"))
    assert created.role == name and created.rights == [RIGHT.BENCHMARK_READ]
    assert name in {r.role for r in admin.list_roles()}
    admin.delete_role(name)
    assert name not in {r.role for r in admin.list_roles()}
    with pytest.raises(TupliStorageError, match="403 Client Error"):
        login("alice").list_roles()


def test_pytupli_refresh_fails_against_the_real_server_shape(tupli_sandbox, login, memory_keyring):
    """pytupli 1.2.9 reads ``access_token`` from the refresh answer; the server sends ``token``."""
    client = login("bob")
    secret = tupli_sandbox.info("tupli")["secret_key"]
    expired = jwt.encode({"issuer": "bob", "exp": int(time.time()) - 5}, secret, algorithm="HS256")
    memory_keyring.set_password("pytupli", "access_token", expired)
    with pytest.raises(TupliStorageError, match="Token refresh failed: 'access_token'. Please login again."):
        client.list_benchmarks()
    assert memory_keyring.get_password("pytupli", "access_token") is None
    assert memory_keyring.get_password("pytupli", "refresh_token") is None
