"""astroquery_ext.tupli side by side with pytupli's TupliAPIClient, on one Tupli sandbox.

Run: ``python benchmarks/bench_tupli.py`` (``--quick`` for a small variant).

In one run, on the same sandbox and the same generated data:

1. record N episodes of T tuples, then list them back with their tuples:
   our module (``record_episodes`` with ``conf.max_workers`` requests in
   flight, ``get_tuples`` -> one Table) and pytupli (``record_episode`` per
   episode, ``list_episodes(include_tuples=True)``). Printed: wall times and
   their ratio, request counts (from the sandbox's request log), and the
   Python heap peak of each (tracemalloc, in a second, traced pass so the
   timings are not slowed by tracing);
2. one large artifact uploaded from a file and downloaded to a file with our
   module: wall time and client heap peak (the server, in its own process,
   holds the whole artifact in memory; that is not counted).

Compare ratios within one run; absolute times vary from machine to machine.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import resource
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import keyring
import keyring.backend
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from astropy.config.paths import set_temp_cache, set_temp_config  # noqa: E402

from astroquery_ext.sandbox import Sandbox  # noqa: E402
from astroquery_ext.tupli import Filter, TupliClass  # noqa: E402


class _MemoryKeyring(keyring.backend.KeyringBackend):
    """Keeps pytupli's and our tokens in this process: the user's keyring is never touched."""

    priority = 1

    def __init__(self):
        super().__init__()
        self.entries = {}

    def get_password(self, service, username):
        return self.entries.get((service, username))

    def set_password(self, service, username, password):
        self.entries[(service, username)] = password

    def delete_password(self, service, username):
        self.entries.pop((service, username), None)


def _episodes(n: int, t: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        terminal = np.zeros(t, dtype=bool)
        terminal[-1] = True
        out.append({"state": rng.normal(size=(t, 4)), "action": rng.integers(0, 2, t),
                    "reward": rng.random(t), "terminal": terminal})
    return out


def _measure(func, traced: bool):
    gc.collect()
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    result = func()
    elapsed = time.perf_counter() - start
    peak = None
    if traced:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, elapsed, peak


def _requests(sandbox) -> int:
    return len(sandbox.request_log("tupli"))


def _mb(n) -> str:
    return "n/a" if n is None else f"{n / 2**20:.1f} MB"


def run_episodes(sandbox, n: int, t: int) -> None:
    from pytupli.schema import BenchmarkMetadata, BenchmarkQuery, Episode, FilterEQ, RLTuple
    from pytupli.storage import TupliAPIClient

    url = sandbox.url("tupli")
    ours = TupliClass(server=url)
    ours.login("alice", "alice-password", persist=False)
    theirs = TupliAPIClient()
    theirs.login("alice", "alice-password", url=url.rstrip("/"))
    data = _episodes(n, t)

    def ours_record(bench):
        return ours.record_episodes(bench, data, {"agent": "bench"})

    def theirs_record(bench):
        for ep in data:
            tuples = [RLTuple(state=s, action=a, reward=r, terminal=bool(d), timeout=False, info={})
                      for s, a, r, d in zip(ep["state"].tolist(), ep["action"].tolist(), ep["reward"].tolist(),
                                            ep["terminal"].tolist())]
            theirs.record_episode(Episode(benchmark_id=bench, metadata={"agent": "bench"}, tuples=tuples))

    def ours_list(bench):
        table = ours.get_tuples(Filter("benchmark_id") == bench)
        assert len(table) == n * t and table["state"].shape == (n * t, 4)
        return table

    def theirs_list(bench):
        items = theirs.list_episodes(FilterEQ(key="benchmark_id", value=bench), include_tuples=True)
        assert sum(len(e.tuples) for e in items) == n * t
        return items

    rows = []
    for traced in (False, True):
        benches = {}
        for who in ("ours", "pytupli"):
            name = f"bench-{who}-{'traced' if traced else 'timed'}-{os.getpid()}"
            benches[who] = ours.store_benchmark('{"env": "bench"}', {"name": name}, hash=name)["id"]
        for who, record, listing in (("ours", ours_record, ours_list), ("pytupli", theirs_record, theirs_list)):
            sandbox.clear_request_log("tupli")
            _, rec_time, rec_peak = _measure(lambda: record(benches[who]), traced)
            rec_requests = _requests(sandbox)
            sandbox.clear_request_log("tupli")
            result, list_time, list_peak = _measure(lambda: listing(benches[who]), traced)
            list_requests = _requests(sandbox)
            del result
            rows.append((traced, who, rec_time, rec_requests, rec_peak, list_time, list_requests, list_peak))
        for bench in benches.values():
            for row in ours.list_episodes(Filter("benchmark_id") == bench):
                ours.delete_episode(row["id"])
            ours.delete_benchmark(bench)

    timed = {r[1]: r for r in rows if not r[0]}
    traced = {r[1]: r for r in rows if r[0]}
    print(f"\nEpisodes: {n} x {t} tuples (state: 4 floats), recorded then listed back with tuples")
    print(f"{'client':10s} {'record s':>9s} {'requests':>9s} {'peak heap':>10s} {'list s':>8s} "
          f"{'requests':>9s} {'peak heap':>10s}")
    for who in ("ours", "pytupli"):
        _, _, rt, rr, _, lt, lr, _ = timed[who]
        rp, lp = traced[who][4], traced[who][7]
        print(f"{who:10s} {rt:9.2f} {rr:9d} {_mb(rp):>10s} {lt:8.2f} {lr:9d} {_mb(lp):>10s}")
    o, p = timed["ours"], timed["pytupli"]
    print(f"time ratio ours/pytupli: record {o[2] / p[2]:.2f}, list {o[5] / p[5]:.2f}; "
          f"heap ratio: record {traced['ours'][4] / traced['pytupli'][4]:.2f}, "
          f"list {traced['ours'][7] / traced['pytupli'][7]:.2f}")


def run_artifact(sandbox, size: int) -> None:
    ours = TupliClass(server=sandbox.url("tupli"))
    ours.login("alice", "alice-password", persist=False)
    with tempfile.TemporaryDirectory(prefix="bench-tupli-") as tmp:
        src = Path(tmp) / "big.bin"
        digest = hashlib.sha256()
        block = np.random.default_rng(2).integers(0, 256, 8 << 20, dtype=np.uint8).tobytes()
        with open(src, "wb") as handle:
            left = size
            while left:
                piece = block[:min(left, len(block))]
                handle.write(piece)
                digest.update(piece)
                left -= len(piece)
        del block
        sandbox.clear_request_log("tupli")
        item, up_time, up_peak = _measure(lambda: ours.store_artifact(src), True)
        out, down_time, down_peak = _measure(lambda: ours.load_artifact(item["id"], Path(tmp) / "back.bin"), True)
        check = hashlib.sha256()
        with open(out, "rb") as handle:
            for chunk in iter(lambda: handle.read(8 << 20), b""):
                check.update(chunk)
        same = check.hexdigest() == digest.hexdigest()
        requests = _requests(sandbox)
        ours.delete_artifact(item["id"])
    print(f"\nArtifact: {size / 2**20:.0f} MB from a file and back to a file (our module)")
    print(f"upload {up_time:.2f} s ({size / 2**20 / up_time:.0f} MB/s), client heap peak {_mb(up_peak)}")
    print(f"download {down_time:.2f} s ({size / 2**20 / down_time:.0f} MB/s), client heap peak {_mb(down_peak)}")
    print(f"byte-identical: {same}; requests: {requests}; target heap peak < 150 MB: "
          f"{'met' if max(up_peak, down_peak) < 150 * 2**20 else 'MISSED'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 episodes of 100 tuples, a 50 MB artifact")
    parser.add_argument("--episodes", type=int)
    parser.add_argument("--tuples", type=int)
    parser.add_argument("--artifact-mb", type=int)
    args = parser.parse_args(argv)
    n = args.episodes or (20 if args.quick else 200)
    t = args.tuples or (100 if args.quick else 1000)
    size = (args.artifact_mb or (50 if args.quick else 500)) * 2**20
    warnings.simplefilter("ignore")
    keyring.set_keyring(_MemoryKeyring())
    with tempfile.TemporaryDirectory(prefix="bench-tupli-home-") as home, \
            set_temp_cache(os.path.join(home, "cache")), set_temp_config(os.path.join(home, "config")), \
            Sandbox(services={"tupli": {"sample_data": False}}) as sandbox:
        print(f"Tupli sandbox at {sandbox.url('tupli')} (pytupli {sandbox.info('tupli')['pytupli_version']})")
        run_episodes(sandbox, n, t)
        run_artifact(sandbox, size)
    print(f"\nclient process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
