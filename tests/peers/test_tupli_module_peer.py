"""pytupli's TupliAPIClient and `astroquery_ext.tupli` on the same sandbox: each reads what the other wrote."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import warnings

import numpy as np
import pytest

pytupli_storage = pytest.importorskip("pytupli.storage")
jsonpickle = pytest.importorskip("jsonpickle")

from pytupli.schema import (  # noqa: E402
    ArtifactMetadata, BenchmarkMetadata, BenchmarkQuery, Episode, FilterEQ, RLTuple)

from astroquery_ext._base import AuthorizationError, ConflictError  # noqa: E402
from astroquery_ext.tupli import Filter, TupliClass, benchmark_hash  # noqa: E402

pytestmark = pytest.mark.peers
TupliStorageError = pytupli_storage.TupliStorageError


def _unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def url(tupli_sandbox):
    return tupli_sandbox.url("tupli")


@pytest.fixture(scope="module")
def our_sessions(tupli_sandbox, url):
    out = {}
    for name in ("alice", "bob"):
        c = TupliClass(server=url)
        c.login(name, tupli_sandbox.credentials("tupli", name)["password"], store_token=False)
        out[name] = c._auth
    return out


@pytest.fixture
def ours(url, our_sessions):
    def make(who):
        c = TupliClass(server=url)
        c._set_auth(our_sessions[who])
        return c
    return make


@pytest.fixture
def theirs(tupli_sandbox, url):
    """pytupli's client (its tokens go to the per-test in-memory keyring)."""
    def make(who):
        client = pytupli_storage.TupliAPIClient()
        client.login(who, tupli_sandbox.credentials("tupli", who)["password"], url=url.rstrip("/"))
        return client
    return make


def test_benchmarks_written_by_either_are_read_by_the_other(ours, theirs):
    us, them = ours("alice"), theirs("alice")
    name = _unique("peer")
    header = them.store_benchmark(BenchmarkQuery(hash=_unique("h"), serialized='{"env": 1}',
                                                 metadata=BenchmarkMetadata(name=name, difficulty="easy",
                                                                            extra={"n": 2})))
    row = us.list_benchmarks(Filter("metadata.name") == name)
    assert list(row["id"]) == [header.id] and row["difficulty"][0] == "easy" and row["extra"][0] == {"n": 2}
    assert us.load_benchmark(header.id)["serialized"].tolist() == ['{"env": 1}']
    mine = us.store_benchmark('{"env": 2}', {"name": _unique("ours"), "version": "3", "extra": {"k": [1]}})[0]
    loaded = them.load_benchmark(mine["id"])
    assert loaded.serialized == '{"env": 2}' and loaded.metadata.version == "3" and loaded.metadata.extra == {"k": [1]}
    assert loaded.hash == mine["hash"]
    them.delete_benchmark(mine["id"])
    us.delete_benchmark(header.id)


def test_benchmark_hash_follows_pytupli_and_duplicates_are_caught_across_clients(ours, theirs):
    gym = pytest.importorskip("gymnasium")
    env = gym.make("CartPole-v1")
    env.reset(seed=1)
    env.unwrapped.related_artifacts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serialized = jsonpickle.encode(env, indent=4, warn=True)
        name = _unique("cartpole")
        only_name = BenchmarkMetadata(name=name)
        their_hash = hashlib.sha256(jsonpickle.encode([env, only_name]).encode()).hexdigest()
        full = BenchmarkMetadata(name=name, description="d", difficulty="easy", version="1", extra={"a": 1})
        text = jsonpickle.encode([env, full])
    assert benchmark_hash(serialized, {"name": name}) == their_hash
    # With several fields pytupli writes them as a Python set (order varies per process); ours
    # uses the model's order, and is otherwise the same text.
    fields_set = json.dumps(sorted(full.model_fields_set, key=list(BenchmarkMetadata.model_fields).index))
    canonical = text[:text.rindex('{"py/set": [')] + '{"py/set": ' + fields_set + text[text.rindex("]}"):][1:]
    assert benchmark_hash(serialized, full) == hashlib.sha256(canonical.encode()).hexdigest()
    stored = theirs("alice").store_benchmark(BenchmarkQuery(hash=their_hash, serialized=serialized,
                                                            metadata=only_name))
    with pytest.raises(ConflictError, match=f"stored as id {stored.id}"):
        ours("alice").store_benchmark(serialized, {"name": name})
    ours("alice").delete_benchmark(stored.id)


def test_artifacts_written_by_either_are_read_by_the_other(ours, theirs, tmp_path):
    us, them = ours("alice"), theirs("alice")
    data = os.urandom(300_000)
    item = them.store_artifact(data, ArtifactMetadata(name="theirs.bin", extra={"by": "pytupli"}))
    assert us.load_artifact(item.id) == data
    assert us.load_artifact(item.id, tmp_path).read_bytes() == data  # named theirs.bin
    assert (tmp_path / "theirs.bin").exists()
    assert us.store_artifact(data, {"name": "again"})["id"].tolist() == [item.id]  # same user, same bytes: same hash
    src = tmp_path / "ours.bin"
    src.write_bytes(data[::-1])
    mine = us.store_artifact(src, {"description": "from a path"})[0]
    assert them.load_artifact(mine["id"]) == data[::-1]
    listed = them.list_artifacts(FilterEQ(key="name", value="ours.bin"))
    assert [a.id for a in listed] == [mine["id"]] and listed[0].hash == mine["hash"]
    for i in (item.id, mine["id"]):
        us.delete_artifact(i)


def test_episodes_written_by_either_are_read_by_the_other(ours, theirs, tupli_sandbox):
    us, them = ours("alice"), theirs("alice")
    bench = tupli_sandbox.info("tupli")["sample"]["benchmarks"]["alice-private"]
    states = np.arange(12.0).reshape(4, 3)
    tuples = [RLTuple(state=s.tolist(), action=[i % 2], reward=0.5 * i, terminal=i == 3, info={"i": i})
              for i, s in enumerate(states)]
    header = them.record_episode(Episode(benchmark_id=bench, metadata={"by": "pytupli"}, tuples=tuples))
    table = us.get_episode(header.id)
    np.testing.assert_array_equal(table["state"], states)
    assert table["action"].shape == (4, 1) and list(table["reward"]) == [0.0, 0.5, 1.0, 1.5]
    assert list(table["terminal"]) == [False, False, False, True] and table["info"][2] == {"i": 2}
    mine = us.record_episode(bench, {"state": states * 2, "action": np.array([[0], [1], [0], [1]]),
                                     "reward": np.ones(4), "timeout": [False, False, False, True]},
                             {"by": "astroquery_ext"})[0]
    (item,) = them.list_episodes(FilterEQ(key="id", value=mine["id"]), include_tuples=True)
    assert [t.state for t in item.tuples] == (states * 2).tolist() and item.timeout and item.n_tuples == 4
    assert [t.action for t in item.tuples] == [[0], [1], [0], [1]]
    for i in (header.id, mine["id"]):
        us.delete_episode(i)


def test_both_clients_see_the_same_permissions(ours, theirs, tupli_sandbox):
    sample = tupli_sandbox.info("tupli")["sample"]["benchmarks"]
    us_bob, them_bob = ours("bob"), theirs("bob")
    assert set(us_bob.list_benchmarks()["id"]) == {b.id for b in them_bob.list_benchmarks()}
    assert set(us_bob.list_episodes()["id"]) == {e.id for e in them_bob.list_episodes()}
    assert sample["alice-private"] not in set(us_bob.list_benchmarks()["id"])
    with pytest.raises(AuthorizationError):
        us_bob.load_benchmark(sample["alice-private"])
    with pytest.raises(TupliStorageError, match="403"):
        them_bob.load_benchmark(sample["alice-private"])
    # Something alice publishes to the team with one client, bob sees with either.
    mine = ours("alice").store_benchmark("s", {"name": _unique("team")})[0]
    theirs("alice").publish_benchmark(mine["id"], "team")
    assert mine["id"] in set(us_bob.list_benchmarks()["id"])
    assert mine["id"] in {b.id for b in them_bob.list_benchmarks()}
    ours("alice").delete_benchmark(mine["id"])
