"""astroquery_ext.tupli side by side with pytupli's TupliAPIClient, on one Tupli sandbox.

Run: ``python benchmarks/bench_tupli.py`` (``--quick`` for a small variant).

In one run, on the same sandbox and the same generated data:

1. record N episodes of T tuples, then list them back with their tuples:
   our module (``record_episodes`` with ``conf.max_workers`` requests in
   flight, ``get_tuples`` -> one Table) and pytupli (``record_episode`` per
   episode, ``list_episodes(include_tuples=True)``). Printed: wall times and
   their ratio, each client's own CPU time (this process's; the server runs
   in its own), request counts (from the sandbox's request log), the server's
   CPU time in each phase, the listing's floor (the same list request by bare
   ``requests`` and its body decoded untyped, one clock for both, with the
   fastest decoder at hand: one JSON document, which no decoder at hand
   parses before its end), and the Python heap peak of each (tracemalloc,
   in a separate traced pass so the timings are not slowed by tracing). The
   timed pass runs on bare loopback and again with a round-trip latency added
   to every request (``--latency``, a ``delay`` fault), as a remote server has;
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
from _floor import fetched_and_decoded  # noqa: E402 (benchmarks/ is the script's folder)


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


def _measure(func, traced: bool, cpu: dict | None = None):
    """(result, wall seconds, heap peak or None); ``cpu["last"]``: this process's CPU seconds (the client's:
    the sandbox server runs in its own process)."""
    gc.collect()
    if traced:
        tracemalloc.start()
    start, own = time.perf_counter(), time.process_time()
    result = func()
    elapsed = time.perf_counter() - start
    if cpu is not None:
        cpu["last"] = time.process_time() - own
    peak = None
    if traced:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, elapsed, peak


def _requests(sandbox) -> int:
    return len(sandbox.request_log("tupli"))


def _mb(n) -> str:
    return "n/a" if n is None else f"{n / 2**20:.1f} MB"


def run_episodes(sandbox, n: int, t: int, latencies: list[float]) -> None:
    from pytupli.schema import Episode, FilterEQ, RLTuple
    from pytupli.storage import TupliAPIClient

    url = sandbox.url("tupli")
    ours = TupliClass(server=url)
    ours.login("alice", "alice-password", store_token=False)
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

    import requests
    floor_session = requests.Session()  # kept open, as both clients keep theirs
    floor_session.trust_env = False

    def floor_list(bench):
        """The listing as bare bytes: the request ours sends, by plain requests."""
        payload = ours.list_episodes(Filter("benchmark_id") == bench, include_tuples=True, get_query_payload=True)
        return floor_session.request(payload["method"], payload["url"], json=payload.get("json"),
                                     headers=ours._auth.header(), timeout=600).content

    def one_pass(traced: bool) -> dict:
        """Both clients record then list; wall time, client and server CPU, requests, heap peak per phase."""
        benches = {}
        for who in ("ours", "pytupli"):
            name = f"bench-{who}-{'traced' if traced else 'timed'}-{os.getpid()}-{time.monotonic_ns()}"
            benches[who] = ours.store_benchmark('{"env": "bench"}', {"name": name}, hash=name)["id"][0]
        out = {}
        for who, record, listing in (("ours", ours_record, ours_list), ("pytupli", theirs_record, theirs_list)):
            figures = {}
            for phase, func in (("record", record), ("list", listing)):
                sandbox.clear_request_log("tupli")
                cpu, own = sandbox.cpu_seconds("tupli"), {}
                result, seconds, peak = _measure(lambda: func(benches[who]), traced, own)
                figures[phase] = {"seconds": seconds, "server_cpu": sandbox.cpu_seconds("tupli") - cpu,
                                  "requests": _requests(sandbox), "peak": peak, "cpu": own["last"]}
                del result
            out[who] = figures
        if not traced:
            floor_list(benches["ours"])  # the connection is open, as the clients' are
            out["floor"] = fetched_and_decoded(floor_list, [benches["ours"]], workers=1)
        for bench in benches.values():
            for row in ours.list_episodes(Filter("benchmark_id") == bench):
                ours.delete_episode(row["id"])
            ours.delete_benchmark(bench)
        return out

    print(f"\nEpisodes: {n} x {t} tuples (state: 4 floats), recorded then listed back with tuples")
    for latency in latencies:
        sandbox.set_faults("tupli", [{"kind": "delay", "seconds": latency / 1000}] if latency else [])
        timed = one_pass(traced=False)
        print(f"\nlatency {latency:.0f} ms added to every request")
        print(f"{'client':10s} {'record s':>9s} {'client CPU':>11s} {'server CPU':>11s} {'requests':>9s} "
              f"{'list s':>8s} {'client CPU':>11s} {'server CPU':>11s} {'requests':>9s}")
        for who in ("ours", "pytupli"):
            r, lst = timed[who]["record"], timed[who]["list"]
            print(f"{who:10s} {r['seconds']:9.2f} {r['cpu']:11.2f} {r['server_cpu']:11.2f} {r['requests']:9d} "
                  f"{lst['seconds']:8.2f} {lst['cpu']:11.2f} {lst['server_cpu']:11.2f} {lst['requests']:9d}")
        o, p, fl = timed["ours"], timed["pytupli"], timed["floor"]
        total_o = o["record"]["seconds"] + o["list"]["seconds"]
        total_p = p["record"]["seconds"] + p["list"]["seconds"]
        cpu_o = o["record"]["cpu"] + o["list"]["cpu"]
        cpu_p = p["record"]["cpu"] + p["list"]["cpu"]
        floor = fl["seconds"][fl["fastest"]]
        print(f"speed-up (pytupli time / ours): record {p['record']['seconds'] / o['record']['seconds']:.2f}x, "
              f"list {p['list']['seconds'] / o['list']['seconds']:.2f}x, "
              f"both {total_p / total_o:.2f}x (target at 10 ms >= 1.5x); the server's CPU was busy for "
              f"{100 * (o['record']['server_cpu'] + o['list']['server_cpu']) / total_o:.0f}% of our time")
        print(f"client CPU (pytupli / ours): record {p['record']['cpu'] / o['record']['cpu']:.2f}x, "
              f"list {p['list']['cpu'] / o['list']['cpu']:.2f}x, both {cpu_p / cpu_o:.2f}x less (target >= 3x)")
        print(f"listing floor: {fl['bytes'] / 2**20:.1f} MiB received and decoded untyped, {floor:.2f} s "
              f"({fl['fastest']}; " + ", ".join(f"{k} {v:.3f} s" for k, v in fl["seconds"].items())
              + f"); ours / floor {o['list']['seconds'] / floor:.2f}x (goal: within 1.5x), "
              f"pytupli / floor {p['list']['seconds'] / floor:.2f}x")
    sandbox.set_faults("tupli", [])
    traced = one_pass(traced=True)
    print("\nPython heap peak (tracemalloc, a separate traced pass, no added latency)")
    for who in ("ours", "pytupli"):
        peaks = traced[who]
        print(f"{who:10s} record {_mb(peaks['record']['peak']):>10s}   list {_mb(peaks['list']['peak']):>10s}")


def run_artifact(sandbox, size: int) -> None:
    ours = TupliClass(server=sandbox.url("tupli"))
    ours.login("alice", "alice-password", store_token=False)
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
        out, down_time, down_peak = _measure(lambda: ours.load_artifact(item["id"][0], Path(tmp) / "back.bin"), True)
        check = hashlib.sha256()
        with open(out, "rb") as handle:
            for chunk in iter(lambda: handle.read(8 << 20), b""):
                check.update(chunk)
        same = check.hexdigest() == digest.hexdigest()
        requests = _requests(sandbox)
        ours.delete_artifact(item["id"][0])
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
    parser.add_argument("--latency", default="0,10",
                        help="comma-separated milliseconds added to every request, one episode run each "
                             "(default 0,10)")
    args = parser.parse_args(argv)
    n = args.episodes or (20 if args.quick else 200)
    t = args.tuples or (100 if args.quick else 1000)
    size = (args.artifact_mb or (50 if args.quick else 500)) * 2**20
    warnings.simplefilter("ignore")
    keyring.set_keyring(_MemoryKeyring())
    with tempfile.TemporaryDirectory(prefix="bench-tupli-home-") as home, \
            set_temp_cache(os.path.join(home, "cache")), set_temp_config(os.path.join(home, "config")), \
            Sandbox(mode="relaxed", services={"tupli": {"sample_data": False}}) as sandbox:
        print(f"Tupli sandbox at {sandbox.url('tupli')} (pytupli {sandbox.info('tupli')['pytupli_version']})")
        run_episodes(sandbox, n, t, [float(ms) for ms in args.latency.split(",")])
        run_artifact(sandbox, size)
    print(f"\nclient process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
