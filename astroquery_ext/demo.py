"""The demo tour: every module against a local sandbox, as a notebook user would use it.

    python -m astroquery_ext.demo [--output DIR] [--services atlas grad300 ...]

Starts the sandbox, then walks through each service: queries, tables
(trimmed), downloads through the cache, plots saved as PNG files. Nothing
touches a real service or your real keyring: credentials, cache and config
live in a temporary directory for the duration of the tour.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

from astroquery_ext._base.extras import MissingExtraError, require_extra

SERVICES = ("atlas", "grad300", "glance", "tupli")


def heading(text: str) -> None:
    print()
    print(text)
    print("=" * len(text))


def show(table, rows: int = 5) -> None:
    """Print a table trimmed to a few rows, as a notebook would show it."""
    table.pprint(max_lines=rows + 4, max_width=110)


def tour_atlas(sandbox, out: Path) -> None:
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    from astroquery_ext.atlas import AtlasClass, plot_lightcurve

    heading("ATLAS Transient Server")
    atlas = AtlasClass(server=sandbox.url("atlas"))
    atlas.login(token=sandbox.credentials("atlas")["token"], store_token=False)
    cluster = sandbox.info("atlas")["cluster"]
    where = SkyCoord(cluster["ra"] * u.deg, cluster["dec"] * u.deg)
    print(f">>> Atlas.query_region(SkyCoord({where.ra.deg:.4f}, {where.dec.deg:.4f}, unit='deg'), 60 * u.arcsec)")
    found = atlas.query_region(where, 60 * u.arcsec)
    show(found)
    ids = [int(i) for i in found["atlas_id"][:3]]
    print(f"\n>>> Atlas.get_lightcurves({ids})")
    curves = atlas.get_lightcurves(ids, show_progress=False)
    show(curves)
    one = curves[curves["atlas_id"] == ids[0]]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ax = plot_lightcurve(one)
    path = out / "atlas_lightcurve.png"
    ax.figure.savefig(path, dpi=100)
    plt.close(ax.figure)
    print(f"\nLight curve of {ids[0]} saved to {path}")


def tour_grad300(sandbox, out: Path) -> None:
    import numpy as np

    from astroquery_ext.grad300 import Grad300Class

    heading("GRAD300 radio telescope")
    grad = Grad300Class(server=sandbox.url("grad300"))
    creds = sandbox.credentials("grad300")
    os.environ["ASTROQUERY_EXT_GRAD300_PASSWORD"] = creds["password"]
    grad.login(creds["username"])
    print(">>> Grad300.query('Spectrum', row_limit=5)")
    scans = grad.query("Spectrum", row_limit=5)
    show(scans)
    first = scans[0]
    print(f"\n>>> Grad300.get_scan({first['id']}, scan_type='Spectrum')   # downloaded once, then from the cache")
    hdul = grad.get_scan(first)
    hdul.info()
    before = len(sandbox.request_log("grad300"))
    grad.get_scan(first)
    print(f"Second get_scan: {len(sandbox.request_log('grad300')) - before} requests (served from the cache)")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    data = hdul[1].data
    status = np.char.strip(np.asarray(data["STATUS"]).astype(str))
    on = data["LEFT_POL"][status == "on"].mean(axis=0)
    off = data["LEFT_POL"][status == "off"].mean(axis=0)
    freq_mhz = 1398 + np.arange(on.size) * 62.5 / (on.size - 1)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(freq_mhz[:-1], (on - off)[:-1], lw=0.8)
    ax.axvline(1420.405751, ls=":", color="grey")
    ax.set_xlabel("Frequency (MHz)")
    ax.set_ylabel("ON - OFF (counts)")
    ax.set_title(f"GRAD300 spectrum: {first['scan_name']}", fontsize=9)
    fig.tight_layout()
    path = out / "grad300_spectrum.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"Spectrum plotted to {path}")
    print("\n>>> Grad300.download_scans(scans[:3], download_dir=...)")
    manifest = grad.download_scans(scans[:3], download_dir=out / "grad300", show_progress=False)
    show(manifest)
    print("\n>>> Grad300.get_json('users/me')          # any endpoint, with the client's login and errors")
    me = grad.get_json("users/me")
    print({key: me[key] for key in sorted(me) if key in ("username", "email", "is_active")})
    print(">>> other = Grad300Class(server=...); other.import_session(Grad300.export_session())")
    other = Grad300Class(server=sandbox.url("grad300"))
    other.import_session(grad.export_session(), store_token=False)   # the text is a secret: never printed
    print(f"other.whoami() -> {other.whoami()!r}   # the login moved, no password asked")


def tour_glance(sandbox, out: Path) -> None:
    import requests

    from astroquery_ext.glance import F

    heading("CERN ATLAS Glance")
    glance = sandbox.client("glance")
    print(">>> Glance.login()          # PKCE in a browser; here the sandbox's login page approves at once")
    glance.login(open_browser=lambda url: requests.get(url, timeout=30))
    print(glance)
    query = 'status = "Phase 0 Active" AND groups.leadingGroup.name in [SUSY, EXOT]'
    print(f"\n>>> Glance.query_analyses(query={query!r})")
    analyses = glance.query_analyses(query=query, sort_by="referenceCode")
    show(analyses["referenceCode", "shortTitle", "status", "web_url"])
    print('\n>>> higgs = (F("groups.leadingGroup.name") == "HDBS") & F("metadata.keywords.name").contains("Higgs")')
    higgs = (F("groups.leadingGroup.name") == "HDBS") & F("metadata.keywords.name").contains("Higgs")
    print(f">>> higgs.to_dsl(mode='analysis')\n{higgs.to_dsl(mode='analysis')!r}")
    print(">>> Glance.query_analyses(higgs)")
    show(glance.query_analyses(higgs)["referenceCode", "shortTitle", "web_url"])


def tour_tupli(sandbox, out: Path) -> None:
    import numpy as np

    from astroquery_ext.tupli import Filter, TupliClass

    heading("Tupli offline-RL store")
    tupli = TupliClass(server=sandbox.url("tupli"))
    user = "demo-user"
    os.environ["ASTROQUERY_EXT_TUPLI_PASSWORD"] = "demo-password-1"
    print(f">>> Tupli.signup({user!r}); Tupli.login({user!r})")
    tupli.signup(user)
    tupli.login(user)
    print(">>> Tupli.store_benchmark('{\"env\": \"CartPole-v1\"}', {'name': 'demo-cartpole', 'difficulty': 'easy'})")
    bench = tupli.store_benchmark('{"env": "CartPole-v1", "seed": 7}', {"name": "demo-cartpole", "difficulty": "easy"})
    bench_id = bench["id"][0]  # a one-row Table, as every one-record call returns
    rng = np.random.default_rng(0)
    runs = [{"state": rng.normal(size=(20, 4)), "action": rng.integers(0, 2, 20), "reward": np.ones(20),
             "terminal": [False] * 19 + [True]} for _ in range(3)]
    print(">>> Tupli.record_episodes(bench_id, runs)          # 3 episodes of 20 steps, sent concurrently")
    tupli.record_episodes(bench_id, runs, {"agent": "random"})
    print(">>> Tupli.list_episodes(Filter('benchmark_id') == bench_id)")
    show(tupli.list_episodes(Filter("benchmark_id") == bench_id))
    print("\n>>> steps = Tupli.get_tuples(Filter('benchmark_id') == bench_id)")
    steps = tupli.get_tuples(Filter("benchmark_id") == bench_id)
    show(steps)
    print(f"steps['state'] is a {steps['state'].shape} array, ready for numpy")


TOURS = {"atlas": tour_atlas, "grad300": tour_grad300, "glance": tour_glance, "tupli": tour_tupli}


@contextlib.contextmanager
def private_user_state(root: Path):
    """Cache, config and keyring of the tour live under ``root`` only."""
    from astropy.config.paths import set_temp_cache, set_temp_config
    import keyring
    import keyring.backends.fail

    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())  # tokens go to a 0600 file under root
    saved_env = {k: v for k, v in os.environ.items() if k.startswith("ASTROQUERY_EXT_")}
    try:
        with set_temp_cache(root / "cache"), set_temp_config(root / "config"):
            yield
    finally:
        keyring.set_keyring(previous)
        for key in [k for k in os.environ if k.startswith("ASTROQUERY_EXT_")]:
            del os.environ[key]
        os.environ.update(saved_env)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m astroquery_ext.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="demo-output", help="where plots and files go (default ./demo-output)")
    parser.add_argument("--services", nargs="+", default=list(SERVICES), choices=SERVICES, metavar="SERVICE")
    parser.add_argument("--mode", choices=("production", "relaxed"), default="production",
                        help="the sandbox's mode (default production: as the real services, ATLAS's "
                             "100 requests an hour included; the tour stays well under it)")
    args = parser.parse_args(argv)
    try:
        require_extra("sandbox", "The demo tour")
        require_extra("plot", "The demo tour")
    except MissingExtraError as exc:
        print(f"python -m astroquery_ext.demo: {exc}", file=sys.stderr)
        return 1

    from astroquery_ext.sandbox import Sandbox

    out = Path(args.output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"Starting the sandbox ({', '.join(args.services)})...")
    failures = []
    with tempfile.TemporaryDirectory(prefix="astroquery-ext-demo-") as home, \
            Sandbox(services=args.services, mode=args.mode) as sandbox, private_user_state(Path(home)):
        for name in args.services:
            print(f"  {name:8s} {sandbox.url(name)}")
        for name in args.services:
            try:
                TOURS[name](sandbox, out)
            except Exception as exc:  # keep touring; report at the end
                failures.append(name)
                print(f"\n!! The {name} tour failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    print(f"\nDone in {time.monotonic() - started:.0f} s. Plots and files are in {out}")
    if failures:
        print(f"Tours that failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
