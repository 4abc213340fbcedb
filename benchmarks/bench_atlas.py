"""Light curves of many ATLAS objects: astroquery_ext.atlas against atlasapiclient 1.2.0.

    python benchmarks/bench_atlas.py            # 1,000 objects, ~300 detections each
    python benchmarks/bench_atlas.py --quick    # 100 small objects, one repeat

One sandbox serves both clients, in one run. Each client runs in a fresh
child process (so its peak memory is its own), alternately, ``--repeat``
times; the best wall time of each is compared.

- seed: ``RequestMultipleSourceData(array_ids, mjdthreshold).chunk_get_response()``
  (chunks of 100, one after the other), then a ``pandas.DataFrame`` of ``lc``
  and of ``lcnondets`` per object, as its documentation does;
- ours: ``Atlas.get_lightcurves(ids)``: one Table of detections and limits
  for all objects (and the forced photometry from the same fetch);
- floor: one bare ``requests`` POST for all ids, the body received as bytes,
  then decoded untyped by each decoder at hand (json, msgspec, orjson),
  timed apart: receiving plus the fastest untyped decode is what no client
  can beat; receiving plus ``json`` is the standard library's floor.

Printed: wall time, HTTP requests (from the sandbox's request log), the
server's CPU time during the run, peak memory (the child's peak RSS above
its RSS after imports), the ratios, ours against the floor, and whether the
two clients' light-curve rows are identical (every key of every row,
compared after the timed part).
Timings on a shared machine are noisy: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from _floor import decode_times  # noqa: E402 (benchmarks/ is the script's folder)


def _rss_kib() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _peak_kib() -> int:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


#: The light-curve keys compared between the clients (every key the server sends in lc / lcnondets).
DET_KEYS = ("mjd filter mag magerr mag5sig det dup zp exptime expname atlas_metadata_id pointing ra dec x y "
            "major minor phi chin pvr ptr pmv pkn pno pbn pcr pxt psc wpflx dflx date_inserted").split()
NON_KEYS = "mjd filter mag5sig zp exptime expname id pointing filename input reference date_inserted".split()
OUR_NAMES = {"atlas_metadata_id": "exposure_id", "id": "exposure_id"}


def _norm(value):
    """One spelling per value: numbers as float reprs (pandas turns ints with gaps into floats), NaN/None as
    None, times to the second (``...Z`` from the server, ``isot`` from an astropy Time)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) or hasattr(value, "dtype"):
        value = float(value)
        return None if value != value else repr(value)
    text = str(value)
    return text[:19] if len(text) >= 19 and text[4] == "-" and text[10] == "T" else text


def _digest(rows) -> str:
    """sha256 of the rows, each normalised and the whole sorted (row order is each client's own)."""
    import hashlib
    lines = sorted("|".join("" if v is None else str(v) for v in (_norm(x) for x in row)) for row in rows)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def run_seed(url: str, token: str, ids: list[int]) -> dict:
    import numpy as np
    import pandas as pd
    import yaml
    from atlasapiclient import client as ac
    base = _rss_kib()
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "api_config.yaml")
        with open(config, "w") as handle:
            yaml.safe_dump({"token": token, "base_url": url}, handle)
        start, cpu = time.perf_counter(), time.process_time()
        client = ac.RequestMultipleSourceData(array_ids=np.array(ids), mjdthreshold=None, api_config_file=config)
        client.chunk_get_response_quiet()
        frames = {rec["object"]["id"]: (pd.DataFrame(rec["lc"]), pd.DataFrame(rec["lcnondets"]))
                  for rec in client.response_data}
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = (_peak_kib() - base) / 1024
    rows = sum(len(d) + len(n) for d, n in frames.values())
    digest = _digest(
        [(oid, "det") + tuple(r[k] for k in DET_KEYS) for oid, (d, _) in frames.items()
         for r in d.to_dict("records")]
        + [(oid, "non") + tuple(r[k] for k in NON_KEYS) for oid, (_, n) in frames.items()
           for r in n.to_dict("records")])
    return {"wall": wall, "cpu": cpu, "rows": rows, "objects": len(frames), "peak_mib": peak, "digest": digest}


def run_ours(url: str, token: str, ids: list[int]) -> dict:
    import numpy as np

    from astroquery_ext.atlas import AtlasClass
    base = _rss_kib()
    start, cpu = time.perf_counter(), time.process_time()
    atlas = AtlasClass(server=url)
    atlas.login(token=token, store_token=False)
    lc = atlas.get_lightcurves(ids, show_progress=False)
    fp = atlas.get_forced_photometry(ids, show_progress=False)  # same fetch: no request
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = (_peak_kib() - base) / 1024
    columns = {}
    for name in set(DET_KEYS + NON_KEYS):
        ours_name = OUR_NAMES.get(name, name)
        col = lc[ours_name]
        values = col.isot.tolist() if name == "date_inserted" else col.tolist()
        mask = np.ma.getmaskarray(col.mask if name == "date_inserted" else col)
        columns[name] = [None if m else v for v, m in zip(values, mask)]
    ids_ = lc["atlas_id"].tolist()
    detected = lc["detected"].tolist()
    digest = _digest([(ids_[i], "det" if detected[i] else "non")
                      + tuple(columns[k][i] for k in (DET_KEYS if detected[i] else NON_KEYS))
                      for i in range(len(lc))])
    return {"wall": wall, "cpu": cpu, "rows": len(lc), "objects": len(lc.groups), "fp_rows": len(fp),
            "peak_mib": peak, "digest": digest}


def run_floor(url: str, token: str, ids: list[int]) -> dict:
    """Receive the body (no decoding), then decode it untyped with each decoder at hand, timed apart."""
    import requests
    base = _rss_kib()
    start = time.perf_counter()
    with requests.Session() as session:
        body = session.post(url + "objects/", data={"objects": ",".join(map(str, ids))},
                            headers={"Authorization": "Token " + token}, timeout=600).content
    receive = time.perf_counter() - start
    return {"receive": receive, "bytes": len(body), **_decode_times(body),
            "peak_mib": (_peak_kib() - base) / 1024}


def _decode_times(body: bytes) -> dict:
    """Seconds of each untyped decoder on ``body``, and the light-curve rows it holds."""
    def rows(decoded):
        return sum(len(r["lc"] or ()) + len(r["lcnondets"] or ()) for r in decoded[0]
                   if isinstance(r["object"], dict))
    times = decode_times([body], inspect=rows)
    return {"decode": {k: v for k, v in times.items() if k != "inspected"}, "rows": times["inspected"]}


def _child(which: str, url: str, token: str, ids_file: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", which, url, token, ids_file],
                         capture_output=True, text=True, check=False,
                         env=dict(os.environ, NO_PROXY="127.0.0.1,localhost", PYTHON_KEYRING_BACKEND=
                                  "keyring.backends.fail.Keyring"))
    if out.returncode:
        raise SystemExit(f"{which} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 small objects, one repeat")
    parser.add_argument("--objects", type=int, default=None, help="how many objects (default 1000)")
    parser.add_argument("--repeat", type=int, default=None, help="runs of each client (default 2)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        which, url, token, ids_file = args.child
        with open(ids_file) as handle:
            ids = json.load(handle)
        result = {"seed": run_seed, "ours": run_ours, "floor": run_floor}[which](url, token, ids)
        print(json.dumps(result))
        return

    import requests

    from astroquery_ext.sandbox import Sandbox

    n = args.objects or (100 if args.quick else 1000)
    repeat = args.repeat or (1 if args.quick else 2)
    lc_length = 60 if args.quick else 300
    # Main lists hold the promoted objects (about 89 %); make enough of them.
    options = {"n_objects": int(n * 1.15) + 20, "lc_length": lc_length}
    print(f"ATLAS sandbox: {options['n_objects']} objects, lc_length {lc_length}; "
          f"light curves of {n} objects, {repeat} run(s) each", flush=True)
    with Sandbox(mode="relaxed", services={"atlas": options}) as sb:
        url, token = sb.url("atlas"), sb.credentials("atlas")["token"]
        headers = {"Authorization": "Token " + token}
        ids: list[int] = []
        for list_id in range(14):
            ids += [row["id"] for row in requests.post(url + "objectlist/", data={"objectlistid": list_id},
                                                       headers=headers, timeout=120).json()]
        ids = ids[:n]
        if len(ids) < n:
            raise SystemExit(f"only {len(ids)} listed objects in the sandbox")
        # Warm-up: the sandbox formats every light curve once, in the background.
        started = time.perf_counter()
        requests.post(url + "objects/", data={"objects": ",".join(map(str, ids))}, headers=headers,
                      timeout=600).raise_for_status()
        print(f"warm-up request: {time.perf_counter() - started:.1f} s", flush=True)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(ids, handle)
        results: dict[str, list[dict]] = {"seed": [], "ours": [], "floor": []}
        try:
            for _ in range(repeat):
                for which in ("seed", "ours", "floor"):
                    sb.clear_request_log("atlas")
                    cpu = sb.cpu_seconds("atlas")
                    result = _child(which, url, token, handle.name)
                    result["server_cpu"] = sb.cpu_seconds("atlas") - cpu
                    log = sb.request_log("atlas")
                    result["requests"] = len(log)
                    result["statuses"] = sorted({e["status"] for e in log})
                    if which == "floor":
                        result["wall"] = result["receive"] + min(result["decode"].values())
                        decodes = ", ".join(f"{k} {v:.2f} s" for k, v in result["decode"].items())
                        print(f"  floor: {result['wall']:6.2f} s (server CPU {result['server_cpu']:5.2f} s), "
                              f"receiving {result['bytes'] / 2**20:.0f} MiB {result['receive']:.2f} s; "
                              f"untyped decode: {decodes}", flush=True)
                    else:
                        print(f"  {which:5s}: {result['wall']:6.2f} s (client CPU {result['cpu']:5.2f} s, server CPU "
                              f"{result['server_cpu']:5.2f} s), "
                              f"{result['requests']:3d} requests, {result['rows']:8d} light-curve rows, "
                              f"peak +{result['peak_mib']:7.0f} MiB", flush=True)
                    results[which].append(result)
        finally:
            os.unlink(handle.name)
    seed = min(results["seed"], key=lambda r: r["wall"])
    ours = min(results["ours"], key=lambda r: r["wall"])
    floor = min(results["floor"], key=lambda r: r["wall"])
    stdlib = min(r["receive"] + r["decode"]["json"] for r in results["floor"])
    fastest = min(floor["decode"], key=floor["decode"].get)
    same = seed["digest"] == ours["digest"] and seed["rows"] == ours["rows"] == floor["rows"]
    print()
    print(f"{'':18s}{'seed (atlasapiclient)':>24s}{'astroquery_ext':>18s}{'ratio':>10s}")
    print(f"{'wall time (best)':18s}{seed['wall']:22.2f} s{ours['wall']:16.2f} s{seed['wall'] / ours['wall']:9.1f}x")
    print(f"{'client CPU':18s}{seed['cpu']:22.2f} s{ours['cpu']:16.2f} s{seed['cpu'] / ours['cpu']:9.1f}x")
    print(f"{'HTTP requests':18s}{seed['requests']:24d}{ours['requests']:18d}"
          f"{seed['requests'] / max(ours['requests'], 1):9.1f}x")
    print(f"{'peak memory':18s}{seed['peak_mib']:20.0f} MiB{ours['peak_mib']:14.0f} MiB"
          f"{seed['peak_mib'] / max(ours['peak_mib'], 1):9.1f}x")
    print(f"{'rows':18s}{seed['rows']:24d}{ours['rows']:18d}")
    print(f"rows and values identical (every lc/lcnondets key of every row, sha256 of the sorted rows): "
          f"{'yes' if same else 'NO'}")
    print(f"floor (receive the {floor['bytes'] / 2**20:.0f} MiB answer + fastest untyped decode, {fastest}, no "
          f"tables): {floor['wall']:.2f} s (receive {floor['receive']:.2f} s + decode "
          f"{floor['decode'][fastest]:.2f} s); with the standard library's json: {stdlib:.2f} s")
    print(f"ours / floor: {ours['wall'] / floor['wall']:.2f}x (goal: within 1.5x); "
          f"seed / floor: {seed['wall'] / floor['wall']:.2f}x")
    print(f"peak memory of ours: {ours['peak_mib']:.0f} MiB (limit: the 672 MiB of the earlier engine)")
    print("seed result: a dict of pandas DataFrames per object; ours: one astropy Table "
          f"({ours['objects']} groups) plus {ours['fp_rows']} forced-photometry rows from the same fetch")
    if not same:
        raise SystemExit("the clients' light-curve rows differ")


if __name__ == "__main__":
    main()
