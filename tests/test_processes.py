"""Clients across processes: fork, pickle (spawn), a stored login found again, bulk answers that
belong to their request. Over real HTTP against the sandbox."""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import http.server
import multiprocessing
import os
import pickle
import subprocess
import sys
import threading

import keyring
import keyring.backends.fail
import pytest
import requests
from astropy.config.paths import set_temp_cache, set_temp_config

from astroquery_ext.atlas import MAIN_LISTS, AtlasClass, UnknownIdsWarning
from astroquery_ext.exceptions import LoginError, RemoteServiceError
from astroquery_ext.grad300 import Grad300Class
from astroquery_ext.tupli import TupliClass

TIMEOUT = 240  # seconds for a whole pool run: a hang fails, never blocks the suite


# -- user state shared with child processes ---------------------------------------------


@pytest.fixture(params=["keyring", "file"])
def shared_user_state(request, tmp_path, monkeypatch):
    """User state that child processes see too: config, cache and keyring found through the
    environment (XDG_* and PYTHON_KEYRING_BACKEND), with a file keyring or with no usable
    keyring (the 0600 credential file)."""
    for kind in ("config", "cache", "data"):
        (tmp_path / kind / "astropy").mkdir(parents=True)
        monkeypatch.setenv(f"XDG_{kind.upper()}_HOME", str(tmp_path / kind))
    if request.param == "keyring":
        from keyrings.alt.file import PlaintextKeyring
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
        ring = PlaintextKeyring()
    else:
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
        ring = keyring.backends.fail.Keyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(ring)
    try:
        with set_temp_config(tmp_path / "config"), set_temp_cache(tmp_path / "cache"):
            yield type("Shared", (), {"kind": request.param, "root": tmp_path})
    finally:
        keyring.set_keyring(previous)


def _stored_where(shared) -> str:
    """Where the stored login went: the keyring file or the 0600 credential file."""
    ring_file = shared.root / "data" / "python_keyring" / "keyring_pass.cfg"
    cred_dir = shared.root / "config" / "astropy" / "astroquery_ext" / "credentials"
    files = sorted(p.name for p in cred_dir.glob("*.json")) if cred_dir.exists() else []
    return f"keyring file: {ring_file.exists()}; credential files: {files}"


# -- a bare login() in a fresh process -------------------------------------------------------

_SERVICES = {
    "atlas": (AtlasClass, "auth-token/", "query_list('good')"),
    "grad300": (Grad300Class, "login/access-token", "list_scans('TPI')"),
    "tupli": (TupliClass, "access/users/token", "list_benchmarks()"),
}

_FRESH = """
import sys
from astroquery_ext.{module} import {cls}
client = {cls}(server=sys.argv[1])
assert client.login() is True
print(client._auth.principal)
print(len(client.{query}))
"""


@pytest.mark.parametrize("service", sorted(_SERVICES))
def test_bare_login_in_a_fresh_process_finds_a_password_login(service, shared_user_state, sandboxes,
                                                              monkeypatch):
    sandbox = sandboxes.get(service)
    cls, token_path, query = _SERVICES[service]
    user = sandbox.credentials(service)
    monkeypatch.setenv(f"ASTROQUERY_EXT_{service.upper()}_PASSWORD", user["password"])
    client = cls(server=sandbox.url(service))
    assert client.login(user["username"]) is True  # user name + password; store_token=True by default
    monkeypatch.delenv(f"ASTROQUERY_EXT_{service.upper()}_PASSWORD")
    assert user["password"] not in _stored_where(shared_user_state)
    sandbox.clear_request_log(service)
    code = _FRESH.format(module=service, cls=cls.__name__, query=query)
    done = subprocess.run([sys.executable, "-c", code, sandbox.url(service)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120, env=os.environ.copy())
    assert done.returncode == 0, (done.stderr[-2000:], _stored_where(shared_user_state))
    principal, _rows = done.stdout.split()
    assert principal == user["username"]
    # The stored token was used: no password exchange in the new process.
    paths = [e["path"] for e in sandbox.request_log(service)]
    assert not [p for p in paths if p.endswith(token_path)], paths
    if shared_user_state.kind == "file":
        cred = shared_user_state.root / "config" / "astropy" / "astroquery_ext" / "credentials" / f"{service}.json"
        assert cred.stat().st_mode & 0o777 == 0o600


def test_bare_login_without_any_stored_login_says_how(shared_user_state, atlas_sandbox):
    code = _FRESH.format(module="atlas", cls="AtlasClass", query="query_list('good')")
    done = subprocess.run([sys.executable, "-c", code, atlas_sandbox.url("atlas")], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert done.returncode == 1 and "No ATLAS credentials" in done.stderr and "login(token=...)" in done.stderr


# -- fork -----------------------------------------------------------------------------------------

_FORKED_CLIENT = None  # set by the parent before the pool forks: the children inherit it


def _chunk_in_forked_child(chunk):
    table = _FORKED_CLIENT.get_lightcurves(chunk, cache=False, show_progress=False)
    return os.getpid(), _rows_per_id(table)


def _rows_per_id(table) -> dict:
    # From the column, not table.groups: a Table that crossed a process boundary
    # (pickled) comes back without its grouping.
    return dict(collections.Counter(table["atlas_id"].tolist()))


def _run_pool(executor, fn, chunks):
    """Map over a pool with a deadline; kill its processes if a child hangs."""
    try:
        futures = [executor.submit(fn, chunk) for chunk in chunks]
        done, pending = concurrent.futures.wait(futures, timeout=TIMEOUT)
        assert not pending, f"{len(pending)} of {len(futures)} chunks did not finish in {TIMEOUT} s (a hang)"
        return [f.result() for f in futures]
    finally:
        for process in list(getattr(executor, "_processes", {}).values()):
            if process.is_alive():
                process.kill()
        executor.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def atlas_ids(atlas_sandbox):
    client = AtlasClass(server=atlas_sandbox.url("atlas"))
    client.login(token=atlas_sandbox.credentials("atlas")["token"], store_token=False)
    ids = []
    for name in MAIN_LISTS.values():
        ids.extend(client.query_list(name)["atlas_id"].tolist())
    return sorted(set(ids))


def test_fork_pool_after_the_parent_used_the_client(atlas_sandbox, atlas_ids):
    """Two forked processes fetch 120 chunks; each chunk's answer holds that chunk's objects."""
    global _FORKED_CLIENT
    assert len(atlas_ids) >= 240
    chunks = [atlas_ids[2 * i:2 * i + 2] for i in range(120)]
    client = AtlasClass(server=atlas_sandbox.url("atlas"))
    client.login(token=atlas_sandbox.credentials("atlas")["token"], store_token=False)
    # The parent uses the client: its session now holds a keep-alive connection.
    expected = _rows_per_id(client.get_lightcurves(atlas_ids[:240], show_progress=False))
    _FORKED_CLIENT = client
    try:
        executor = concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork"))
        results = _run_pool(executor, _chunk_in_forked_child, chunks)
    finally:
        _FORKED_CLIENT = None
    assert len({pid for pid, _ in results}) == 2
    for chunk, (_, rows) in zip(chunks, results):
        assert rows == {oid: expected[oid] for oid in chunk if oid in expected}
    # The parent's client still works, on its own connection.
    assert _rows_per_id(client.get_lightcurves(chunks[0], cache=False, show_progress=False)) == \
        {oid: expected[oid] for oid in chunks[0]}


def _grad300_pages_in_forked_child(scan_type):
    table = _FORKED_CLIENT.query(scan_type=scan_type, cache=False)
    return scan_type, sorted(table["id"].tolist())


def test_fork_pool_grad300_pages(grad300_sandbox):
    global _FORKED_CLIENT
    from astroquery_ext.grad300 import conf
    client = Grad300Class(server=grad300_sandbox.url("grad300"))
    client.login(token=grad300_sandbox.credentials("grad300")["token"])
    kinds = ["TPI", "Images", "Spectrum", "OnOff"] * 30
    with conf.set_temp("page_size", 4):
        expected = {kind: sorted(client.query(scan_type=kind, cache=False)["id"].tolist()) for kind in set(kinds)}
        _FORKED_CLIENT = client
        try:
            executor = concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork"))
            results = _run_pool(executor, _grad300_pages_in_forked_child, kinds)
        finally:
            _FORKED_CLIENT = None
    for kind, ids in results:
        assert ids == expected[kind]


# -- pickle and spawn -------------------------------------------------------------------------------


def test_pickle_holds_no_secret_and_logs_in_again(atlas_sandbox, shared_user_state):
    user = atlas_sandbox.credentials("atlas")
    client = AtlasClass(server=atlas_sandbox.url("atlas"))
    client.login(token=user["token"])  # stored (store_token=True), so the copy can find it
    client.query_list("good")  # a live session with a pooled connection
    blob = pickle.dumps(client)
    assert user["token"].encode() not in blob and b"Authorization" not in blob
    copy = pickle.loads(blob)
    assert not copy.authenticated() and copy.server == client.server
    assert copy._session is not client._session
    assert len(copy.query_list("good")) == len(client.query_list("good"))  # logs in again, from the store
    assert copy.authenticated()


def test_pickled_login_not_found_says_why(atlas_sandbox, user_state):
    client = AtlasClass(server=atlas_sandbox.url("atlas"))
    client.login(token=atlas_sandbox.credentials("atlas")["token"], store_token=False)  # nothing stored
    copy = pickle.loads(pickle.dumps(client))
    with pytest.raises(LoginError, match="logged in where it was pickled.*store_token=True.*"
                                         "ASTROQUERY_EXT_ATLAS_TOKEN"):
        copy.query_list("good")


def test_pickled_glance_client_keeps_its_login_service(glance_sandbox, user_state):
    from astroquery_ext.glance import GlanceClass, conf
    issuer = glance_sandbox.info("glance")["issuer"]
    with conf.set_temp("issuer", issuer):
        client = GlanceClass(server=glance_sandbox.url("glance"))
        blob = pickle.dumps(client)
    copy = pickle.loads(blob)  # conf.issuer is back at production's here
    assert copy._endpoints().token_endpoint.startswith(issuer)


def test_spawned_workers_use_a_pickled_client(atlas_sandbox, atlas_ids, shared_user_state):
    client = AtlasClass(server=atlas_sandbox.url("atlas"))
    client.login(token=atlas_sandbox.credentials("atlas")["token"])
    expected = _rows_per_id(client.get_lightcurves(atlas_ids[:40], show_progress=False))
    chunks = [atlas_ids[i:i + 5] for i in range(0, 40, 5)]
    fetch = functools.partial(client.get_lightcurves, cache=False, show_progress=False)
    executor = concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    tables = _run_pool(executor, fetch, chunks)
    for chunk, table in zip(chunks, tables):
        assert _rows_per_id(table) == {oid: expected[oid] for oid in chunk}


# -- bulk answers belong to their request ---------------------------------------------------


class _Canned(http.server.BaseHTTPRequestHandler):
    """Answers every request with the body the test put in ``server.body``."""

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.requests.append(self.path)
        body = self.server.body
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def canned():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    server.body, server.requests = b"[]", []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _objects_answer(sandbox, ids) -> bytes:
    token = sandbox.credentials("atlas")["token"]
    return requests.post(sandbox.url("atlas") + "objects/", data={"objects": ",".join(map(str, ids))},
                         headers={"Authorization": "Token " + token}, timeout=60).content


@pytest.mark.parametrize("answered, match", [
    ("other", r"1 record\(s\) of ids not asked for \(%(c)s\)"),
    ("twice", r"1 id\(s\) answered twice \(%(a)s\)"),
])
@pytest.mark.parametrize("method", ["get_lightcurves", "get_objects", "get_forced_photometry"])
def test_atlas_records_of_ids_not_asked_are_an_error(atlas_sandbox, atlas_ids, canned, answered, match, method):
    a, b, c = atlas_ids[:3]
    canned.body = _objects_answer(atlas_sandbox, [a, c] if answered == "other" else [a, a])
    client = AtlasClass(server=f"http://127.0.0.1:{canned.server_port}/api/")
    client.login(token="0" * 40, store_token=False)
    with pytest.raises(RemoteServiceError, match="do not belong to the request.*" + match % {"a": a, "c": c}):
        getattr(client, method)([a, b], show_progress=False)
    assert canned.requests == ["/api/objects/"]  # one request, not retried into a wrong answer


def test_atlas_unknown_id_is_a_warning_not_an_error(atlas_sandbox, atlas_ids):
    client = AtlasClass(server=atlas_sandbox.url("atlas"))
    client.login(token=atlas_sandbox.credentials("atlas")["token"], store_token=False)
    missing = atlas_sandbox.info("atlas")["missing_id"]
    with pytest.warns(UnknownIdsWarning, match=f"1 of the 3 ids are not known to the server: {missing}"):
        lc = client.get_lightcurves([atlas_ids[0], missing, atlas_ids[1]], show_progress=False)
    assert lc.meta["missing"] == [missing]
    assert set(lc.groups.keys["atlas_id"]) == {atlas_ids[0], atlas_ids[1]}


def test_grad300_page_of_another_scan_type_is_an_error(grad300_raw, canned):
    canned.body = grad300_raw("scans/Images/", limit=3).content
    assert b"_IMAGE-" in canned.body
    client = Grad300Class(server=f"http://127.0.0.1:{canned.server_port}/api/v1/")
    client.login(token="not-checked-here")
    with pytest.raises(RemoteServiceError, match=r"scans/TPI/ answered a page holding scan .*, a scan of type Images"):
        client.query(scan_type="TPI", cache=False)
    with pytest.raises(RemoteServiceError, match="a scan of type Images"):
        client.list_scans("TPI", cache=False)
    assert len(client.list_scans("Images", cache=False)) == 3


# -- docs/processes.rst: the recipe runs -------------------------------------------------------------


def _rst_blocks(path):
    """The page's testsetup/testcode blocks, each with the testoutput that follows it (or None)."""
    lines = path.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        directive = lines[i].strip()
        if directive in (".. testsetup::", ".. testcode::", ".. testoutput::"):
            i += 1
            while i < len(lines) and (not lines[i].strip() or lines[i].strip().startswith(":")):
                i += 1
            body = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith("    ")):
                body.append(lines[i][4:])
                i += 1
            text = "\n".join(body).strip("\n") + "\n"
            if directive == ".. testoutput::":
                blocks[-1] = (blocks[-1][0], text)
            else:
                blocks.append((text, None))
            continue
        i += 1
    return blocks


@pytest.mark.parametrize("shared_user_state", ["file"], indirect=True)
def test_the_processes_page_recipe_runs(atlas_sandbox, shared_user_state, monkeypatch):
    """docs/processes.rst as the docs build runs it: fork and spawn pools and a Dask LocalCluster."""
    import contextlib
    import doctest
    import io
    import pathlib

    pytest.importorskip("dask.distributed")
    monkeypatch.setenv("DOCS_ATLAS_URL", atlas_sandbox.url("atlas"))
    page = pathlib.Path(__file__).parents[1] / "docs" / "processes.rst"
    blocks = _rst_blocks(page)
    assert len(blocks) >= 5 and any("LocalCluster" in code for code, _ in blocks)
    namespace: dict = {}
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    atlas_sandbox.clear_request_log("atlas")
    for code, expected in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(page), "exec"), namespace)
        if expected is not None:
            assert checker.check_output(expected, out.getvalue(), flags), (code, expected, out.getvalue())
    results = namespace["results"]
    assert set(results) == {"fork", "spawn", "dask"} and len(results["dask"].groups) > 200
    # One password login (in the parent), none in the workers: they found the stored token.
    paths = [e["path"] for e in atlas_sandbox.request_log("atlas")]
    assert sum(p.endswith("auth-token/") for p in paths) == 1
    assert sum(p.endswith("objects/") for p in paths) == 3 * len(namespace["chunks"])
