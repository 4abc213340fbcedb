"""Each warning is shown once per call site, in the main process and in pool workers alike.

Python shows a warning once per place (its default filter) by keeping a
registry, which every ``warnings.catch_warnings()`` anywhere in the process
empties. A package that enters ``catch_warnings`` while it builds a table
makes the same warning come back on every call: a notebook or a pool worker
looping over calls prints it each time. These tests run, in a fresh process
with Python's default filters, the same calls several times, a call with no
result (``NoResultsWarning``) after one that builds a table with times, and
count what reaches standard error.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

WORKERS = textwrap.dedent("""
    import concurrent.futures, multiprocessing, os, sys, warnings
    from astropy.coordinates import SkyCoord
    import astropy.units as u

    def atlas(url, token):
        from astroquery_ext.atlas import AtlasClass
        atlas = AtlasClass(server=url)
        atlas.login(token=token, store_token=False)
        atlas.query_region(SkyCoord(0, -89.99, unit="deg"), 1 * u.arcsec, cache=False)  # nothing there
        atlas.query_vra_scores(cache=False)  # rows, with times

    def grad300(url):
        from astroquery_ext.grad300 import Grad300Class
        grad = Grad300Class(server=url)
        grad.query_scan_name("no-such-scan", cache=False)
        grad.list_scans("TPI", limit=5, cache=False)

    def tupli(url):
        from astroquery_ext.tupli import Filter, TupliClass
        tupli = TupliClass(server=url)
        tupli.login("alice")
        tupli.list_benchmarks(Filter("metadata.name") == "no-such-benchmark", cache=False)
        tupli.list_benchmarks(cache=False)

    if __name__ == "__main__":
        assert not sys.warnoptions and not os.environ.get("PYTHONWARNINGS")  # Python's default filters
        calls = [(atlas, {atlas_url!r}, {atlas_token!r}), (grad300, {grad300_url!r}), (tupli, {tupli_url!r})]
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            for _ in range(3):
                for function, *args in calls:
                    pool.submit(function, *args).result()
        print("done")
""")

GLANCE = textwrap.dedent("""
    import sys
    import requests
    from astroquery_ext.glance import GlanceClass
    glance = GlanceClass(**{settings!r})
    glance.login(open_browser=lambda url: requests.get(url, timeout=30))
    for _ in range(3):
        glance.query_analyses('shortTitle = "no such analysis"', cache=False)
        glance.query_papers(cache=False)   # rows, with times
    print("done")
""")


def _run(code: str, tmp_path, **env) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    environment.update(XDG_CONFIG_HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"),
                       PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring", **env)
    (tmp_path / "astropy").mkdir(exist_ok=True)
    (tmp_path / "cache" / "astropy").mkdir(parents=True, exist_ok=True)
    script = tmp_path / "calls.py"  # a file: spawned workers import their functions from it
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], env=environment, capture_output=True, text=True,
                          timeout=540, cwd=os.getcwd())
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr
    return done.stderr


def test_each_warning_once_in_a_pool_worker(atlas_sandbox, grad300_sandbox, tupli_sandbox, tmp_path):
    code = WORKERS.format(atlas_url=atlas_sandbox.url("atlas"),
                          atlas_token=atlas_sandbox.credentials("atlas")["token"],
                          grad300_url=grad300_sandbox.url("grad300"), tupli_url=tupli_sandbox.url("tupli"))
    grad = grad300_sandbox.credentials("grad300")
    err = _run(code, tmp_path, ASTROQUERY_EXT_GRAD300_USERNAME=grad["username"],
               ASTROQUERY_EXT_GRAD300_PASSWORD=grad["password"],
               ASTROQUERY_EXT_TUPLI_PASSWORD=tupli_sandbox.credentials("tupli", "alice")["password"])
    for text in ("No objects matched the query", "No scans matched the query", "No benchmarks matched the query"):
        assert err.count(text) == 1, (text, err)


def test_each_warning_once_in_a_notebook_loop(glance_sandbox, tmp_path):
    code = GLANCE.format(settings={"server": glance_sandbox.url("glance"),
                                   **glance_sandbox.info("glance")["client_settings"]})
    err = _run(code, tmp_path)
    assert err.count("No analyses matched the query") == 1, err
