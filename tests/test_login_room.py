"""The one login room (issue 22), over real HTTP against the sandbox: forget forgets in any process,
credentials never follow a redirect, forked workers share renewals (or fail clearly), a login moves
with export_session/import_session, whoami answers alike, the account lock is a portable file lock."""

from __future__ import annotations

import concurrent.futures
import http.server
import json
import multiprocessing
import os
import subprocess
import sys
import threading

import filelock
import pytest
import requests

from astroquery_ext.atlas import AtlasClass
from astroquery_ext.exceptions import LoginError
from astroquery_ext.glance import GlanceClass
from astroquery_ext.grad300 import Grad300Class
from astroquery_ext.tupli import TupliClass
from tests.test_processes import shared_user_state  # noqa: F401 - the fixture: user state child processes see

CLASSES = {"atlas": AtlasClass, "grad300": Grad300Class, "glance": GlanceClass, "tupli": TupliClass}
#: A call of each service that needs a login.
QUERIES = {"atlas": "query_list('good')", "grad300": "list_scans('TPI')", "glance": "query_triggers(cache=False)",
           "tupli": "list_users(cache=False)"}


def _settings(sandbox, service) -> dict:
    """The constructor arguments of a client of this sandbox (Glance: its login service too)."""
    return {"server": sandbox.url(service), **sandbox.info(service).get("client_settings", {})}


def _log_in(sandbox, service, monkeypatch, **kwargs):
    """A login as the sandbox's user, stored (a password login; Glance's browser login, approved headlessly)."""
    client = CLASSES[service](**_settings(sandbox, service))
    if service == "glance":
        client.login(open_browser=lambda url: requests.get(url, timeout=30), **kwargs)
        return client
    user = sandbox.credentials(service)
    monkeypatch.setenv(f"ASTROQUERY_EXT_{service.upper()}_PASSWORD", user["password"])
    try:
        client.login(user["username"], **kwargs)
    finally:
        monkeypatch.delenv(f"ASTROQUERY_EXT_{service.upper()}_PASSWORD")
    return client


FRESH = """
import json, sys
from astroquery_ext.{service} import {cls}
from astroquery_ext.exceptions import LoginError
client = {cls}(**json.loads(sys.argv[1]))
step, user = sys.argv[2], sys.argv[3]
try:
    if step == "forget":
        client.logout(forget=True)
    elif step == "named":
        if "{service}" == "glance":   # no password here: a login without a browser is the stored session only
            client._auto_login()
        else:
            client.login(user)
    elif step == "bare":
        client.login()
    elif step == "import":
        client.import_session(sys.stdin.read(), store_token=False)
    if step != "forget":
        client.{query}
    print("ok", client.whoami())
except LoginError as exc:
    print("LoginError", str(exc).replace(chr(10), " "))
"""


def _fresh(sandbox, service, step, *, stdin=None, settings=None) -> str:
    code = FRESH.format(service=service, cls=CLASSES[service].__name__, query=QUERIES[service])
    user = sandbox.credentials(service)["username"]
    done = subprocess.run([sys.executable, "-c", code, json.dumps(settings or _settings(sandbox, service)), step,
                           user], capture_output=True, text=True, input=stdin, timeout=180, env=os.environ.copy())
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


# -- logout(forget=True) forgets, in any process ------------------------------------------------------


@pytest.mark.parametrize("shared_user_state", ["file"], indirect=True)
@pytest.mark.parametrize("service", sorted(CLASSES))
def test_forget_in_a_fresh_process_forgets_everything(service, shared_user_state, sandboxes, monkeypatch):
    sandbox = sandboxes.get(service)
    user = sandbox.credentials(service)["username"]
    extra = {} if service == "glance" else {"store_password": True}
    _log_in(sandbox, service, monkeypatch, **extra)           # stored login (and password)
    assert _fresh(sandbox, service, "forget") == "ok None"   # a process that never logged in
    answer = _fresh(sandbox, service, "named")
    assert answer.startswith("LoginError"), answer           # nothing stored is used any more
    assert ("No password" in answer) if service != "glance" else ("Not logged in" in answer)
    _log_in(sandbox, service, monkeypatch)                    # log in again
    assert _fresh(sandbox, service, "bare") == f"ok {user}"   # a bare login() finds it


# -- credential-bearing requests never follow a redirect --------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Another origin: records whatever reaches it."""

    def _any(self):
        self.server.seen.append((self.command, self.path, self.rfile.read(int(self.headers.get("Content-Length") or 0))))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"token": "0123456789abcdef0123456789abcdef01234567", "access_token": "x"}')

    do_GET = do_POST = do_PUT = _any

    def log_message(self, *args):
        pass


class _Redirector(http.server.BaseHTTPRequestHandler):
    """Answers every POST with ``server.status`` to the other origin (Glance's device start is answered)."""

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.endswith("/device"):
            body = json.dumps({"device_code": "dc-123456", "user_code": "ABCD", "interval": 1,
                               "expires_in": 30, "verification_uri": "http://127.0.0.1/"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(self.server.status)
        self.send_header("Location", self.server.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def servers():
    started = []

    def start(handler):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.seen = []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("service", ["atlas", "grad300", "tupli", "glance"])
def test_a_redirected_credential_request_sends_nothing_on(service, status, servers, monkeypatch):
    other = servers(_Recorder)
    redirector = servers(_Redirector)
    redirector.status = status
    redirector.target = f"http://127.0.0.1:{other.server_port}"
    root = f"http://127.0.0.1:{redirector.server_port}"
    target = redirector.target
    if service == "glance":
        client = GlanceClass(server=root + "/api/", issuer=root, authorization_endpoint=root + "/auth",
                             token_endpoint=root + "/token", jwks_uri=root + "/certs", revocation_endpoint="",
                             device_authorization_endpoint=root + "/device", client_id="c")
        with pytest.raises(LoginError, match="307|308") as info:
            client.login(method="device", show=lambda start: None, timeout=20, store_token=False)
        target += "/token"
    else:
        monkeypatch.setenv(f"ASTROQUERY_EXT_{service.upper()}_PASSWORD", "hunter2-secret")
        client = CLASSES[service](server=root + "/api/")
        with pytest.raises(LoginError, match=f"HTTP {status}, a redirect to '{target}") as info:
            client.login("someone", store_token=False)
    assert target in str(info.value) and "hunter2" not in str(info.value)
    assert other.seen == []  # nothing, and no password, reached the other origin
    assert not client.authenticated()


# -- forked workers with a Glance login share renewals, or fail clearly ------------------------------------------

_WORKER_CLIENT = None


def _query_in_worker(_):
    try:
        return "ok", len(_WORKER_CLIENT.query_triggers(cache=False))
    except LoginError as exc:
        return "LoginError", str(exc)


def _stats(sandbox) -> dict:
    return requests.get(sandbox.info("glance")["stats_url"], timeout=30).json()


@pytest.mark.parametrize("shared_user_state", ["file", "keyring"], indirect=True)
@pytest.mark.parametrize("store_token", [True, False])
def test_forked_workers_past_the_token_lifetime(store_token, glance_sandbox, shared_user_state, monkeypatch):
    """The sandbox expires every access token (no wait): workers and parent go on, renewing once."""
    global _WORKER_CLIENT
    client = _log_in(glance_sandbox, "glance", monkeypatch, store_token=store_token)
    expected = len(client.query_triggers(cache=False))  # the exchanged API token is held too
    assert glance_sandbox.control("glance", "expire-access-tokens") >= 2
    before = _stats(glance_sandbox)["refreshes"]
    _WORKER_CLIENT = client
    try:
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
            results = list(pool.map(_query_in_worker, range(4), timeout=240))
    finally:
        _WORKER_CLIENT = None
    if store_token:  # renewed once, by one worker; the others and the parent use the stored renewal
        assert results == [("ok", expected)] * 4
    else:  # in-memory login: the children do not spend the parent's refresh token
        assert {r[0] for r in results} == {"LoginError"}
        assert "inherited by fork" in results[0][1] and "store_token=True" in results[0][1]
    assert len(client.query_triggers(cache=False)) == expected  # the parent was not logged out
    assert _stats(glance_sandbox)["refreshes"] - before == 1


# -- a login moves with export_session / import_session -------------------------------------------------------


@pytest.mark.parametrize("service", sorted(CLASSES))
def test_a_session_moves_to_a_fresh_process(service, sandboxes, user_state, monkeypatch, caplog):
    import logging
    sandbox = sandboxes.get(service)
    client = _log_in(sandbox, service, monkeypatch, store_token=False)  # nothing stored: only the text carries it
    with caplog.at_level(logging.DEBUG):
        text = client.export_session()
    assert text.startswith("astroquery-ext-session:") and text not in repr(client) + caplog.text
    assert _fresh(sandbox, service, "import", stdin=text) == f"ok {client.whoami()}"
    elsewhere = dict(_settings(sandbox, service), server="http://127.0.0.1:9/api/")
    answer = subprocess.run([sys.executable, "-c", f"import json, sys\nfrom astroquery_ext.{service} import "
                             f"{CLASSES[service].__name__} as C\nC(**json.loads(sys.argv[1])).import_session("
                             f"sys.stdin.read())", json.dumps(elsewhere)], input=text, capture_output=True, text=True,
                            timeout=120)
    assert answer.returncode == 1 and "ValueError: import_session: the session is for another server" in answer.stderr
    assert text not in answer.stderr
    fresh = CLASSES[service](**_settings(sandbox, service))
    with pytest.raises(ValueError, match="the exported session is damaged") as info:
        fresh.import_session(text[:40] + "!" + text[41:])
    assert text[40:] not in str(info.value)
    with pytest.raises(ValueError, match="not a session exported by export_session"):
        fresh.import_session(text[1:])
    assert not fresh.authenticated()


# -- whoami answers alike ------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", sorted(CLASSES))
def test_whoami_is_the_user_name_or_none(service, sandboxes, user_state, monkeypatch):
    sandbox = sandboxes.get(service)
    client = _log_in(sandbox, service, monkeypatch, store_token=False)
    assert client.whoami() == sandbox.credentials(service)["username"]
    client.logout()
    assert client.whoami() is None
    token = sandbox.credentials(service).get("token")
    if token:  # a token given directly names no user: the client cannot tell whose it is
        client.login(token=token, store_token=False)
        assert client.authenticated() and client.whoami() is None


# -- the account lock is a file lock (filelock) ------------------------------------------------------------


def test_the_account_lock_is_held_through_filelock(user_state):
    """Another holder of the lock file (here through filelock's own API, as another process would)
    makes the store's lock wait; once it lets go, the store's lock is taken."""
    from astroquery_ext._base.locks import lock_file_name
    store = AtlasClass().store
    account = "session:alice@https://example.org/api"
    with store.lock(account):
        pass
    path = store.directory / lock_file_name(f"atlas.{account}")
    assert path.exists() and path.stat().st_mode & 0o777 == 0o600
    other = filelock.FileLock(str(path), thread_local=False)
    other.acquire()
    taken = threading.Event()

    def take():
        with store.lock(account):
            taken.set()

    thread = threading.Thread(target=take)
    thread.start()
    assert not taken.wait(0.5)
    other.release()
    assert taken.wait(30)
    thread.join()
    with store.lock(account), store.lock(account):  # re-entrant in one thread
        with pytest.raises(filelock.Timeout):
            filelock.FileLock(str(path), thread_local=False).acquire(timeout=0)
