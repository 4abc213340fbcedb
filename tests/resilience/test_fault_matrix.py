"""Fault matrix: every bulk operation of the four modules under injected faults.

Each operation runs once fault-free (the reference), then again while the
sandbox breaks a share of the responses: 502, 503, 429 with ``Retry-After``,
connection resets, truncated bodies and answers slower than the client's
timeout. Reads must give results identical to the reference (every value
compared, not counts) and leave only whole, valid cache entries; downloads
must give byte-identical files and no ``.part`` left as complete. Past the
retry budget (a server that answers 503 to everything) each operation raises
one clear error and writes nothing to the cache. Writes that are not
idempotent are never repeated after their answer was lost.

Sizes: the CI variant (``ci``) is small with a fault rate high enough to hit
every kind; ``full`` (``--runslow``, ``tox -e resilience``) is the size the
issue asks for at 10 %.
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from astroquery_ext.atlas import AtlasClass
from astroquery_ext.atlas import conf as atlas_conf
from astroquery_ext.exceptions import DownloadError, RemoteServiceError
from astroquery_ext.glance import conf as glance_conf
from astroquery_ext.grad300 import Grad300Class
from astroquery_ext.grad300 import conf as grad300_conf
from astroquery_ext.sandbox import Fault, Sandbox
from astroquery_ext.tupli import Filter, TupliClass

from ._helpers import (
    Figures, TRANSIENT_KINDS, assert_identical, check_cache, file_digests, fired, part_files,
    table_digest, transient_faults)

TIMEOUT = 5.0   # client timeout; the "delay" fault sleeps past it (generous: a busy 2-core machine is slow)
SIZES = {
    "ci": dict(rate=0.12, atlas_objects=60, atlas_chunk=3, lc_length=15, cones=10, grad_files=12, grad_page=8,
               glance_records=300, glance_page=25, episodes=24, artifact_mb=1),
    "full": dict(rate=0.10, atlas_objects=1000, atlas_chunk=50, lc_length=60, cones=50, grad_files=100,
                 grad_page=50, glance_records=10_000, glance_page=100, episodes=200, artifact_mb=64),
}
PARAMS = [pytest.param("ci", id="ci"), pytest.param("full", id="full", marks=pytest.mark.slow)]


@pytest.fixture(params=PARAMS)
def size(request):
    return request.param, SIZES[request.param]


def _faults(label, s, **kwargs):
    return transient_faults(s["rate"], timeout=TIMEOUT, every_kind=label == "ci", **kwargs)


def _over_budget(sandbox, service):
    sandbox.set_faults(service, [Fault("status", status=503)])


def _fast(client):
    client.retry_backoff = 0.01
    return client


def _record(service, case, faults, label, **counts):
    Figures.record("matrix", f"{service}: {case}", size=label, faults=faults, **counts)


def _check_kinds(counts: dict, label: str):
    if label == "ci":  # the CI rate is high enough for every kind to fire
        missing = [k for k in TRANSIENT_KINDS if not counts.get(k)]
        assert not missing, f"fault kinds that never fired: {missing} ({counts})"


# -- ATLAS: light curves of many objects, cone searches through the cache ---------------------

def test_atlas_lightcurves_and_cones(size, user_state):
    label, s = size
    options = {"n_objects": int(s["atlas_objects"] * 1.15) + 20, "lc_length": s["lc_length"]}
    with Sandbox(services={"atlas": options}, mode="relaxed") as sb:  # thousands of requests: no 100/hour
        atlas = _fast(AtlasClass(server=sb.url("atlas"), timeout=TIMEOUT))
        atlas.login(token=sb.credentials("atlas")["token"], store_token=False)
        ids = []
        for list_id in range(14):
            ids += [int(i) for i in atlas.query_list(list_id, cache=False)["atlas_id"]]
        ids = ids[:s["atlas_objects"]]
        assert len(ids) == s["atlas_objects"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_lc = atlas.get_lightcurves(ids, cache=False, show_progress=False)
            ref_fp = atlas.get_forced_photometry(ids, cache=False, show_progress=False)
            ref_obj = atlas.query_objects(ids, cache=False, show_progress=False)
            positions = SkyCoord(ref_obj["ra"][:s["cones"]], ref_obj["dec"][:s["cones"]], unit="deg")
            ref_cones = [atlas.query_region(p, 30 * u.arcsec, cache=False) for p in positions]

            sb.set_faults("atlas", _faults(label, s))
            with atlas_conf.set_temp("chunk_size", s["atlas_chunk"]):
                lc = atlas.get_lightcurves(ids, cache=False, show_progress=False)
                fp = atlas.get_forced_photometry(ids, cache=False, show_progress=False)
                obj = atlas.query_objects(ids, cache=False, show_progress=False)
            cones = [atlas.query_region(p, 30 * u.arcsec, cache=True) for p in positions]
            counts = fired(sb, "atlas")
        for got, expected in [(lc, ref_lc), (fp, ref_fp), (obj, ref_obj)] + list(zip(cones, ref_cones)):
            assert_identical(got, expected)
        cache_dir = atlas.cache_location
        n_entries = check_cache(cache_dir)
        assert n_entries == len(positions)
        # The entries serve the same answers with the server refusing everything
        _over_budget(sb, "atlas")
        for p, expected in zip(positions, ref_cones):
            assert_identical(atlas.query_region(p, 30 * u.arcsec, cache=True), expected)
        # Past the budget: one clear error, and nothing new in the cache
        with pytest.raises(RemoteServiceError, match="HTTP 503") as err:
            atlas.get_lightcurves(ids, cache=False, show_progress=False)
        assert "try again later" in str(err.value).lower()
        with pytest.raises(RemoteServiceError, match="HTTP 503"):
            atlas.query_region(SkyCoord(10, 10, unit="deg"), 30 * u.arcsec, cache=True)
        assert check_cache(cache_dir) == n_entries
    _check_kinds(counts, label)
    _record("atlas", f"light curves of {len(ids)} objects, {len(positions)} cone searches", counts, label,
            operations=3 + len(positions), identical=3 + len(positions), rows=len(lc) + len(fp) + len(obj),
            cache_entries=n_entries)


# -- GRAD300: the catalogue through the cache, 100 files --------------------------------------

def test_grad300_catalogue_and_downloads(size, user_state, tmp_path):
    label, s = size
    with Sandbox(services={"grad300": {"n_scans": max(150, s["grad_files"] + 30), "tpi_rows": [200, 2000]}}) as sb:
        grad = _fast(Grad300Class(server=sb.url("grad300"), timeout=TIMEOUT))
        grad.login(token=sb.credentials("grad300")["token"])
        with grad300_conf.set_temp("page_size", s["grad_page"]):
            reference = grad.query(row_limit=-1, cache=False)
            rows = [r for r in reference if "evil" not in r["scan_name"] and r["size"]][:s["grad_files"]]
            assert len(rows) == s["grad_files"]
            grad.download_scans(rows, tmp_path / "reference", show_progress=False)
            expected_files = file_digests(tmp_path / "reference")
            scans = [r for r in rows if r["scan_type"] != "TPI"][:3]
            ref_scans = [[h.data.tobytes() if h.data is not None else b"" for h in grad.get_scan(r, cache=False)]
                         for r in scans]

            sb.set_faults("grad300", _faults(label, s))
            catalogue = grad.query(row_limit=-1, cache=True)
            manifest = grad.download_scans(rows, tmp_path / "faulty", show_progress=False)
            got_scans = [[h.data.tobytes() if h.data is not None else b"" for h in grad.get_scan(r, cache=True)]
                         for r in scans]
            counts = fired(sb, "grad300")
        assert_identical(catalogue, reference)
        assert set(manifest["status"]) == {"downloaded"}
        assert file_digests(tmp_path / "faulty") == expected_files
        assert got_scans == ref_scans
        assert part_files(tmp_path) == []
        cache_dir = grad.cache_location
        n_entries = check_cache(cache_dir)
        cached_files = sorted(p for p in cache_dir.rglob("*.fits"))
        assert len(cached_files) == len(scans) and not part_files(cache_dir)
        for path in cached_files:
            assert path.stat().st_mode & 0o077 == 0

        # Past the budget: one DownloadError naming the files; nothing half-done looks complete
        sb.set_faults("grad300", [Fault("truncate", path="*/download")])
        with pytest.raises(DownloadError, match=f"{len(rows)} of {len(rows)} downloads failed") as err:
            grad.download_scans(rows, tmp_path / "broken", show_progress=False)
        assert len(err.value.table) == len(rows)
        assert not [p for p in (tmp_path / "broken").iterdir() if not p.name.endswith(".part")]
        sb.set_faults("grad300", [Fault("status", status=503)])
        with pytest.raises(RemoteServiceError, match="HTTP 503"):
            grad.query(row_limit=-1, cache=True, source="no-such-source")
        with pytest.raises(RemoteServiceError):
            grad.get_scan(rows[-1], cache=True)
        assert check_cache(cache_dir) == n_entries
        assert sorted(p for p in cache_dir.rglob("*.fits")) == cached_files
        # Faults lifted: the interrupted batch resumes from its .part files and completes, identical
        sb.set_faults("grad300", [])
        grad.download_scans(rows, tmp_path / "broken", show_progress=False)
        assert file_digests(tmp_path / "broken") == expected_files
    _check_kinds(counts, label)
    _record("grad300", f"catalogue ({len(reference)} scans) and {len(rows)} files", counts, label,
            operations=2 + len(scans), identical=2 + len(scans), files=2 * len(rows) + len(scans),
            cache_entries=n_entries + len(cached_files))


# -- Glance: a 10,000-record search ---------------------------------------------------------------

def test_glance_large_search(size, user_state):
    label, s = size
    with Sandbox(services={"glance": {"n_analyses": s["glance_records"]}}) as sb:
        glance = _fast(sb.client("glance", timeout=TIMEOUT))
        import requests
        glance.login(open_browser=lambda url: requests.get(url, timeout=10))
        with glance_conf.set_temp("page_size", s["glance_page"]):
            reference = glance.query_analyses(sort_by="referenceCode", cache=False)
            assert len(reference) == s["glance_records"]
            sb.set_faults("glance", _faults(label, s, path="/api/*"))
            got = glance.query_analyses(sort_by="referenceCode", cache=True)
            counts = fired(sb, "glance")
            assert_identical(got, reference)
            cache_dir = glance.cache_location
            n_entries = check_cache(cache_dir)
            assert n_entries == -(-s["glance_records"] // s["glance_page"])
            _over_budget(sb, "glance")
            assert_identical(glance.query_analyses(sort_by="referenceCode", cache=True), reference)
            with pytest.raises(RemoteServiceError, match="HTTP 503"):
                glance.query_papers(cache=True)
            assert check_cache(cache_dir) == n_entries
    _check_kinds(counts, label)
    _record("glance", f"search of {len(reference)} analyses", counts, label, operations=1, identical=1,
            rows=len(got), cache_entries=n_entries)


# -- Tupli: episodes and a large artifact -----------------------------------------------------------

def _episodes(n, seed):
    rng = np.random.default_rng(seed)
    return [{"state": rng.normal(size=(8, 3)), "action": rng.integers(0, 4, 8), "reward": rng.normal(size=8),
             "terminal": [False] * 7 + [True]} for _ in range(n)]


def _episode_contents(tupli, benchmark_id):
    table = tupli.list_episodes(Filter("benchmark_id") == benchmark_id, include_tuples=True)
    order = np.argsort([m["i"] for m in table["metadata"]])
    table = table[order]
    return table, table_digest(table, drop=("id", "benchmark_id", "created_at"))


@pytest.fixture
def tupli_run(size):
    label, s = size
    with Sandbox(services={"tupli": {"bcrypt_rounds": 4, "sample_data": False}}) as sb:
        tupli = _fast(TupliClass(server=sb.url("tupli"), timeout=TIMEOUT))
        cred = sb.credentials("tupli")
        tupli.login(cred["username"], cred["password"], store_token=False)
        yield label, s, sb, tupli


def test_tupli_episodes(tupli_run):
    label, s, sb, tupli = tupli_run
    n = s["episodes"]
    episodes, metas = _episodes(n, 1), [{"i": i} for i in range(n)]
    reference_bench = tupli.store_benchmark('{"env": "reference"}', {"name": "reference"})["id"][0]
    tupli.record_episodes(reference_bench, episodes, metas)
    ref_table, ref_digest = _episode_contents(tupli, reference_bench)
    assert len(ref_table) == n

    # Reads fail in every way; writes meet 429s (the server did not act: repeated)
    bench = tupli.store_benchmark('{"env": "faulty"}', {"name": "faulty"})["id"][0]
    sb.set_faults("tupli", [Fault("status", status=429, retry_after=1, nth=[3, 9], method="POST",
                                  path="/episodes/record"),
                            Fault("status", status=429, retry_after=1, rate=s["rate"] / 3, method="POST",
                                  path="/episodes/record")]
                  + _faults(label, s, method="POST", path="/episodes/list"))
    recorded = tupli.record_episodes(bench, episodes, metas)
    table, digest = _episode_contents(tupli, bench)
    # and every episode again, one by one, through the same faults
    singles = [tupli.get_episode(i) for i in table["id"]]
    counts = fired(sb, "tupli")
    sb.set_faults("tupli", [])
    assert len(recorded) == n and len(set(recorded["id"])) == n
    assert digest == ref_digest
    for one, expected in zip(singles, table["tuples"]):
        assert_identical(one, expected)
    _check_kinds(counts, label)

    # Every kind of fault on the writes themselves, answers lost included: never a
    # silent duplicate; one error that says which episodes are stored, which are
    # not, and which may be (their answer was lost).
    lost = tupli.store_benchmark('{"env": "lost"}', {"name": "lost"})["id"][0]
    sb.set_faults("tupli", [Fault("drop_response", nth=[4], method="POST", path="/episodes/record")]
                  + _faults(label, s, method="POST", path="/episodes/record")
                  + [Fault("drop_response", rate=s["rate"] / 6, method="POST", path="/episodes/record")])
    try:
        tupli.record_episodes(lost, episodes, metas)
        outcome = None
    except RemoteServiceError as exc:
        outcome = exc
    write_counts = fired(sb, "tupli")
    sb.set_faults("tupli", [])
    stored, _ = _episode_contents(tupli, lost)
    stored_i = [m["i"] for m in stored["metadata"]]
    assert len(stored_i) == len(set(stored_i)), "an episode was recorded twice"
    if outcome is not None:
        results = outcome.results
        ok = {i for i, r in enumerate(results) if not isinstance(r, Exception)}
        refused = {i for i, r in enumerate(results) if isinstance(r, Exception) and r.status is not None}
        unknown = {i for i, r in enumerate(results) if isinstance(r, Exception) and r.status is None}
        assert ok <= set(stored_i) and not (refused & set(stored_i))
        assert set(stored_i) <= ok | unknown
        text = str(outcome)
        assert f"{len(ok)} of {n} episodes were recorded" in text
        if unknown:
            assert "answer was lost" in text and "list_episodes" in text
        # What the error says is enough to finish the job without a duplicate
        todo = sorted(refused | (unknown - set(stored_i)))
        tupli.record_episodes(lost, [episodes[i] for i in todo], [metas[i] for i in todo])
    final, final_digest = _episode_contents(tupli, lost)
    assert final_digest == ref_digest
    _record("tupli", f"record and list {n} episodes", counts, label, operations=4, identical=3,
            rows=2 * n, faults_writes=write_counts,
            lost_writes_stored=0 if outcome is None else len(set(stored_i) - ok))


def test_tupli_large_artifact(tupli_run, tmp_path):
    label, s, sb, tupli = tupli_run
    rng = np.random.default_rng(7)
    source = tmp_path / "weights.bin"
    with open(source, "wb") as handle:
        for _ in range(s["artifact_mb"]):
            handle.write(rng.bytes(1 << 20))
    expected = hashlib.sha256(source.read_bytes()).hexdigest()
    faults = [Fault("drop_response", nth=[1], method="POST", path="/artifacts/upload"),
              Fault("status", status=503, nth=[3], method="POST", path="/artifacts/upload"),
              Fault("reset", nth=[1], path="/artifacts/download"),
              Fault("truncate", nth=[2, 4], path="/artifacts/download"),
              Fault("delay", seconds=TIMEOUT + 0.5, nth=[5], path="/artifacts/download")]
    faults += transient_faults(s["rate"], timeout=TIMEOUT, path="/artifacts/*")
    sb.set_faults("tupli", faults)
    item = tupli.store_artifact(source, {"name": "weights.bin"})[0]
    out = tupli.load_artifact(item["id"], tmp_path / "back.bin")
    data = tupli.load_artifact(item["id"])
    counts = fired(sb, "tupli")
    sb.set_faults("tupli", [])
    assert hashlib.sha256(out.read_bytes()).hexdigest() == expected
    assert hashlib.sha256(data).hexdigest() == expected
    assert part_files(tmp_path) == []
    # the upload was never stored twice
    assert len(tupli.list_artifacts(Filter("name") == "weights.bin")) == 1
    # past the budget: one clear error, no file
    sb.set_faults("tupli", [Fault("status", status=503, path="/artifacts/*")])
    with pytest.raises(RemoteServiceError, match="HTTP 503"):
        tupli.load_artifact(item["id"], tmp_path / "never.bin")
    assert not (tmp_path / "never.bin").exists()
    with pytest.raises(RemoteServiceError, match="HTTP 503"):
        tupli.store_artifact(b"other bytes", {"name": "other.bin"})
    sb.set_faults("tupli", [])
    assert len(tupli.list_artifacts(Filter("name") == "other.bin", )) == 0
    _record("tupli", f"artifact of {s['artifact_mb']} MiB, up and down", counts, label, operations=3, identical=2,
            files=2, bytes=2 * source.stat().st_size)
