"""One client object shared by 8 threads; two processes sharing the cache and the token store.

Every thread runs a different mix of queries and downloads and must get
exactly the result the same call gives when run alone (so no Range,
Authorization or paging state crossed from one request to another); a token
that expires under load is renewed once, whoever notices first.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
import requests
from astropy import units as u
from astropy.coordinates import SkyCoord

from astroquery_ext.atlas import AtlasClass
from astroquery_ext.grad300 import Grad300Class
from astroquery_ext.sandbox import Sandbox
from astroquery_ext.tupli import Filter, TupliClass

from ._helpers import Figures, check_cache, file_digests, table_digest

THREADS = 8


def _run_threads(jobs):
    """Run ``jobs`` (callables) on THREADS threads started together; return their results in order."""
    barrier = threading.Barrier(len(jobs))
    results, errors = [None] * len(jobs), []

    def run(i, job):
        barrier.wait()
        try:
            results[i] = job()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append((i, exc))

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return results


def _digest(value):
    if isinstance(value, dict):
        return {k: _digest(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_digest(v) for v in value]
    if hasattr(value, "colnames"):
        return table_digest(value)
    return value


def _same_alone_and_together(make_jobs):
    alone = [_digest(job()) for job in make_jobs("alone")]
    together = [_digest(r) for r in _run_threads(make_jobs("together"))]
    assert together == alone
    return len(alone)


# -- shared objects under mixed load --------------------------------------------------------------

def test_atlas_shared_by_8_threads(atlas_sandbox, user_state):
    atlas = AtlasClass(server=atlas_sandbox.url("atlas"))
    atlas.login(token=atlas_sandbox.credentials("atlas")["token"], store_token=False)
    ids = []
    for list_id in range(14):
        ids += [int(i) for i in atlas.query_list(list_id, cache=False)["atlas_id"]]
    ids = ids[:40]
    assert len(ids) == 40
    objects = atlas.query_objects(ids, cache=False, show_progress=False)
    where = SkyCoord(objects["ra"], objects["dec"], unit="deg")

    def make(_):
        jobs = []
        for k in range(THREADS):
            part = ids[k * 5:(k + 1) * 5]
            if k % 3 == 0:
                jobs.append(lambda p=part: atlas.get_lightcurves(p, cache=False, show_progress=False))
            elif k % 3 == 1:
                jobs.append(lambda w=where[k]: atlas.query_region(w, 20 * u.arcsec, cache=True))
            else:
                jobs.append(lambda p=part: atlas.get_forced_photometry(p, cache=False, show_progress=False))
        return jobs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n = _same_alone_and_together(make)
    check_cache(atlas.cache_location)
    Figures.record("concurrency", "atlas: 8 threads, one client", operations=2 * n)


def test_grad300_shared_by_8_threads(grad300_sandbox, user_state, tmp_path):
    grad = Grad300Class(server=grad300_sandbox.url("grad300"))
    grad.login(token=grad300_sandbox.credentials("grad300")["token"])
    spectra = grad.list_scans("Spectrum", limit=20)
    images = grad.list_scans("Images", limit=20)

    def make(mode):
        jobs = []
        for k in range(THREADS):
            if k % 4 == 0:
                jobs.append(lambda k=k: grad.list_scans("TPI", offset=k, limit=7))
            elif k % 4 == 1:
                jobs.append(lambda k=k: grad.query("Images", row_limit=5 + k, cache=True))
            elif k % 4 == 2:
                def download(k=k):
                    folder = tmp_path / mode / str(k)
                    grad.download_scans(spectra[k:k + 3], folder, show_progress=False)
                    return file_digests(folder)
                jobs.append(download)
            else:
                jobs.append(lambda k=k: [h.header.tostring() for h in grad.get_scan(images[k], cache=mode == "together")])
        return jobs

    n = _same_alone_and_together(make)
    check_cache(grad.cache_location)
    Figures.record("concurrency", "grad300: 8 threads, one client", operations=2 * n)


def test_glance_shared_by_8_threads(glance_sandbox, user_state):
    glance = glance_sandbox.client("glance")
    glance.login(open_browser=lambda url: requests.get(url, timeout=10))
    queries = [("query_analyses", 'status = "Phase 0 Active"'), ("query_papers", None),
               ("query_confnotes", None), ("query_triggers", None), ("query_analyses", None),
               ("query_pubnotes", None), ("query_leading_groups", None), ("query_subgroups", None)]

    def make(mode):
        return [lambda m=m, q=q: getattr(glance, m)(q, cache=mode == "together") for m, q in queries]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n = _same_alone_and_together(make)
    check_cache(glance.cache_location)
    Figures.record("concurrency", "glance: 8 threads, one client", operations=2 * n)


def test_tupli_shared_by_8_threads(tupli_sandbox, user_state, tmp_path):
    tupli = TupliClass(server=tupli_sandbox.url("tupli"))
    tupli.login("alice", tupli_sandbox.credentials("tupli", "alice")["password"], store_token=False)
    bench = tupli.store_benchmark('{"env": "threads"}', {"name": f"threads-{os.getpid()}-{time.time()}"})["id"][0]
    rng = np.random.default_rng(3)
    recorded = tupli.record_episodes(bench, [{"state": rng.normal(size=(4, 2)), "action": [0, 1, 0, 1],
                                              "reward": rng.normal(size=4)} for _ in range(6)],
                                     [{"i": i} for i in range(6)])
    blobs = [rng.bytes(200_000 + k) for k in range(3)]
    artifacts = [tupli.store_artifact(b, {"name": f"t{k}.bin"})["id"][0] for k, b in enumerate(blobs)]

    def make(mode):
        jobs = []
        for k in range(THREADS):
            if k < 3:
                def load(k=k):
                    path = tupli.load_artifact(artifacts[k], tmp_path / f"{mode}-{k}.bin")
                    return path.read_bytes() == blobs[k]
                jobs.append(load)
            elif k < 6:
                jobs.append(lambda k=k: tupli.get_episode(recorded["id"][k]))
            else:
                jobs.append(lambda: tupli.list_episodes(Filter("benchmark_id") == bench)["id", "n_tuples"])
        return jobs

    assert _same_alone_and_together(make) == THREADS
    Figures.record("concurrency", "tupli: 8 threads, one client", operations=2 * THREADS)


# -- a token that expires under load is renewed once ------------------------------------------------

def _count(sandbox, service, method, suffix):
    return sum(1 for e in sandbox.request_log(service) if e["method"] == method and e["path"].endswith(suffix))


@pytest.fixture(scope="module")
def expiring_tokens():
    """Tokens that expire when a test says so (the sandbox's control), never while a test works."""
    services = {"tupli": {"bcrypt_rounds": 4, "sample_data": False}, "grad300": {"n_scans": 40},
                "glance": {"n_analyses": 60}}
    with Sandbox(services=services) as sb:
        yield sb


def test_tupli_refresh_under_8_threads_happens_once(expiring_tokens, user_state):
    tupli = TupliClass(server=expiring_tokens.url("tupli"))
    tupli.login("alice", expiring_tokens.credentials("tupli", "alice")["password"], store_token=False)
    assert expiring_tokens.control("tupli", "expire-access-tokens") >= 1  # the client learns it from a 401
    before = _count(expiring_tokens, "tupli", "POST", "/refresh-token")
    results = _run_threads([lambda: tupli.list_benchmarks()["id"].tolist() for _ in range(THREADS)])
    assert all(r == results[0] for r in results)
    assert _count(expiring_tokens, "tupli", "POST", "/refresh-token") == before + 1


def test_grad300_relogin_under_8_threads_happens_once(expiring_tokens, user_state, monkeypatch):
    cred = expiring_tokens.credentials("grad300")
    monkeypatch.setenv("ASTROQUERY_EXT_GRAD300_PASSWORD", cred["password"])
    grad = Grad300Class(server=expiring_tokens.url("grad300"))
    grad.login(cred["username"])
    expected = [grad.list_scans("TPI", offset=k, limit=3, cache=False)["id"].tolist() for k in range(THREADS)]
    assert expiring_tokens.control("grad300", "expire-access-tokens") >= 1  # answered 403, as an expired JWT is
    before = _count(expiring_tokens, "grad300", "POST", "/login/access-token")
    results = _run_threads([lambda k=k: grad.list_scans("TPI", offset=k, limit=3, cache=False)["id"].tolist()
                            for k in range(THREADS)])
    assert results == expected
    assert _count(expiring_tokens, "grad300", "POST", "/login/access-token") == before + 1


def test_glance_refresh_under_8_threads_happens_once(expiring_tokens, user_state):
    glance = expiring_tokens.client("glance")
    glance.login(open_browser=lambda url: requests.get(url, timeout=10))
    stats = expiring_tokens.origin("glance") + "/_glance/stats"
    assert expiring_tokens.control("glance", "expire-access-tokens") >= 1
    # The client knows when its tokens expire: it renews before sending, and no request meets a 401.
    glance._set_auth(dataclasses.replace(glance._auth, expires_at=time.time() - 1))
    before = requests.get(stats, timeout=10).json()
    results = _run_threads([lambda: table_digest(glance.query_analyses(cache=False)) for _ in range(THREADS)])
    after = requests.get(stats, timeout=10).json()
    assert len(set(results)) == 1
    assert after["refreshes"] == before["refreshes"] + 1
    assert after["exchanges"] - before["exchanges"] <= 1
    assert after["api_unauthorized"] == before["api_unauthorized"]


# -- two processes, one cache and one token store -------------------------------------------------

CHILD = r"""
import os, pathlib, sys, time, json
from astropy.config.paths import set_temp_config, set_temp_cache
from astroquery_ext.tupli import TupliClass
# A file barrier: both children log in at the same moment, however long each took to start.
barrier = pathlib.Path({barrier!r})
(barrier / str(os.getpid())).touch()
deadline = time.monotonic() + 120
while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
    time.sleep(0.01)
with set_temp_config({config!r}), set_temp_cache({cache!r}):
    tupli = TupliClass(server={server!r})
    tupli.login("alice")             # the stored session (expired: one of the two renews it, under the lock)
    table = tupli.list_benchmarks(cache=True)
    print(json.dumps(sorted(table["id"].tolist())))
"""


def test_two_processes_share_cache_and_tokens(expiring_tokens, user_state, no_keyring, tmp_path):
    tupli = TupliClass(server=expiring_tokens.url("tupli"))
    tupli.login("alice", expiring_tokens.credentials("tupli", "alice")["password"], store_token=True)
    for k in range(3):
        tupli.store_benchmark(f'{{"env": "proc-{k}"}}', {"name": f"proc-{k}"})
    expected = sorted(tupli.list_benchmarks()["id"].tolist())
    assert expiring_tokens.control("tupli", "expire-access-tokens") >= 1  # the stored session's token too
    before = _count(expiring_tokens, "tupli", "POST", "/refresh-token")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    cache = tmp_path / "shared-cache"
    code = CHILD.format(config=str(user_state.config_dir.parent), cache=str(cache),
                        server=expiring_tokens.url("tupli"), barrier=str(barrier))
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    import json
    assert [json.loads(o[0]) for o in outputs] == [expected, expected], outputs
    assert _count(expiring_tokens, "tupli", "POST", "/refresh-token") == before + 1
    # Tupli answers are never cached, whatever cache= says (docs/caching.rst: its content changes as
    # users write and delete): the two processes share the token store, and write no cache entry.
    entries = check_cache(cache / "astropy" / "astroquery_ext" / "tupli")
    assert entries == 0
    token_files = [p for p in user_state.config_dir.rglob("*") if p.is_file()]
    assert token_files and all(p.stat().st_mode & 0o077 == 0 for p in token_files)
    Figures.record("concurrency", "tupli: two processes, one cache and token store", operations=2,
                   refreshes=1, cache_entries=entries)
