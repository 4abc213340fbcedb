"""Glance: fetch every analysis matching a query into rows, stare 0.6.1 against astroquery_ext.glance.

    python benchmarks/bench_glance.py            # 10,000 matching analyses
    python benchmarks/bench_glance.py --quick    # 2,000

One sandbox, one process run: both clients log in to the same sandbox and
ask for the same analyses with the same query.

- stare: its documented paging loop over ``glance.analyses.search(query=...,
  offset=..., limit=1000)``, keeping its validated models as the rows;
- ours: one ``Glance.query_analyses(query)``, which fetches the pages
  concurrently (the first page gives the total) into an astropy Table;
- floor: the same pages fetched by bare ``requests`` with the same number
  in flight, each decoded untyped as soon as it has arrived by the thread
  that received it (while the other pages are on their way), one clock for
  the whole, with each decoder at hand (json, msgspec, orjson); the fastest
  is the floor: what no client can beat.

Printed: wall time and the client's own CPU time (this process; the sandbox
runs in its own) of each, best of ``--repeat`` interleaved runs, requests,
the ratios, and ours against the floor.

Before timing, both clients are logged in and have done one small search
(so token exchange is not timed), and the server has served every record once
(its per-record JSON is then warm for both). Timings are noisy on shared
machines: compare the ratio of one run, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import requests
from _floor import best_rounds, fetched_and_decoded  # noqa: E402 (benchmarks/ is the script's folder)

QUERY = "referenceCode contain ANA AND status != __EMPTY__"
PAGE = 1000


def browse(url: str) -> None:
    """A headless browser: the sandbox approves at once and redirects to the client's loopback server."""
    import httpx
    with httpx.Client(trust_env=False, timeout=10) as client:
        location = client.get(url).headers["location"]
        client.get(location.replace("://localhost:", "://127.0.0.1:", 1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stare_env(info: dict, home: Path) -> None:
    """Point stare at the sandbox through its STARE_* settings, with private storage and no cache."""
    for sub in ("data", "cache", "config"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    os.environ.update(info["stare_env"])
    os.environ.update({
        "HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_CONFIG_HOME": str(home / "config"), "STARE_CACHE_ENABLED": "false", "STARE_TOKEN_STORAGE": "file",
        "STARE_CALLBACK_PORT": str(free_port()), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "BROWSER": "true", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})


def api_calls(sandbox) -> int:
    return sum(1 for e in sandbox.request_log("glance") if e["path"].endswith("/searchAnalysis"))


def timed(sandbox, func, *, memory: bool = False):
    gc.collect()
    sandbox.clear_request_log("glance")
    if memory:
        tracemalloc.start()
    start, cpu = time.perf_counter(), time.process_time()
    rows = func()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1] if memory else None
    if memory:
        tracemalloc.stop()
    return rows, elapsed, api_calls(sandbox), peak, cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 analyses instead of 10,000")
    parser.add_argument("--no-memory", action="store_true", help="skip the (slower) peak-memory pass")
    parser.add_argument("--repeat", type=int, default=None, help="interleaved runs of each (default 3; --quick 1)")
    args = parser.parse_args(argv)
    args.repeat = args.repeat or (1 if args.quick else 3)
    n = 2000 if args.quick else 10000

    from astropy.config.paths import set_temp_cache, set_temp_config

    from astroquery_ext.sandbox import Sandbox

    with tempfile.TemporaryDirectory() as tmp, \
            Sandbox(mode="relaxed", services={"glance": {"n_analyses": n}}) as sandbox, \
            set_temp_cache(tmp), set_temp_config(tmp):
        info = sandbox.info("glance")
        stare_env(info, Path(tmp) / "stare-home")
        import keyring
        import keyring.backends.fail
        keyring.set_keyring(keyring.backends.fail.Keyring())  # our session goes to the temp file store

        from stare import Glance as StareGlance
        from stare.auth import TokenManager

        manager = TokenManager()
        manager.login(on_url_ready=browse)
        theirs = StareGlance(token_manager=manager)
        ours = sandbox.client("glance")
        ours.login(open_browser=lambda url: requests.get(url, timeout=10))
        theirs.analyses.search(limit=1)  # log in, exchange: not timed
        ours.query_leading_groups(cache=False)
        expected = len(ours.query_analyses(QUERY, cache=False))  # warms the server's record JSON for both
        if expected < n:
            raise SystemExit(f"only {expected} analyses match {QUERY!r}; expected {n}")

        def run_stare():
            rows, offset, total = [], 0, None
            while total is None or offset < total:
                page = theirs.analyses.search(query=QUERY, offset=offset, limit=PAGE)
                total = page.number_of_results
                rows.extend(page.results)
                offset += PAGE
            return rows

        def run_ours():
            return ours.query_analyses(QUERY, cache=False)

        from astroquery_ext.glance.core import ENDPOINTS
        endpoint = ours._url(ENDPOINTS["analysis"][0])
        headers = ours._auth_header(ours._auth)  # the token exchange is done: a bare header
        workers = int(ours.conf.max_workers)

        floor_session = requests.Session()  # kept open, as both clients keep theirs
        floor_session.trust_env = False
        offsets = range(0, expected, PAGE)

        def floor_page(offset):
            return floor_session.get(endpoint, params={"queryString": QUERY, "offset": offset, "limit": PAGE},
                                     headers=headers, timeout=120).content

        runs: dict[str, list] = {"stare": [], "ours": [], "floor": []}
        for _ in range(args.repeat):
            for which, func in (("stare", run_stare), ("ours", run_ours)):
                runs[which].append(timed(sandbox, func))
            runs["floor"].append(fetched_and_decoded(floor_page, offsets, workers, runs=1))
        s_rows, s_time, s_calls, _, s_cpu = min(runs["stare"], key=lambda r: r[1])
        o_rows, o_time, o_calls, _, o_cpu = min(runs["ours"], key=lambda r: r[1])
        decodes = best_rounds(runs["floor"])
        fastest = decodes["fastest"]
        floor = decodes["seconds"][fastest]
        assert len(s_rows) == len(o_rows) == expected, (len(s_rows), len(o_rows), expected)
        assert [a.reference_code for a in s_rows] == list(o_rows["referenceCode"])

        print(f"Glance: all {expected:,} analyses matching {QUERY!r} into rows (page size {PAGE}); best of "
              f"{args.repeat} interleaved run(s)")
        print(f"  stare 0.6.1 analyses.search loop -> models : {s_time:7.3f} s (client CPU {s_cpu:6.3f} s) "
              f"{s_calls:3d} API requests")
        print(f"  astroquery_ext Glance.query_analyses -> Table: {o_time:7.3f} s (client CPU {o_cpu:6.3f} s) "
              f"{o_calls:3d} API requests ({workers} in flight)")
        print(f"  floor: {decodes['bytes'] / 2**20:.0f} MiB in {len(offsets)} requests ({workers} in flight), each "
              f"page decoded untyped as it arrives, {floor:.3f} s ({fastest}; "
              + ", ".join(f"{k} {v:.3f} s" for k, v in decodes["seconds"].items()) + ")")
        print(f"  ratio (stare / ours): {s_time / o_time:.2f}x less wall time, {s_cpu / o_cpu:.2f}x less client CPU; "
              f"requests {o_calls} vs {s_calls}")
        print(f"  ours / floor: {o_time / floor:.2f}x (goal: within 1.5x); stare / floor: {s_time / floor:.2f}x")
        if not args.no_memory:
            s_peak = timed(sandbox, run_stare, memory=True)[3]
            o_peak = timed(sandbox, run_ours, memory=True)[3]
            print(f"  peak Python memory (tracemalloc, separate pass): stare {s_peak / 2**20:.1f} MiB, "
                  f"ours {o_peak / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
