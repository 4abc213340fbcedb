"""Advice and small holes (issue #14 item 10): what the error says must be true, bad input never sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from astroquery_ext.exceptions import LoginError, RemoteServiceError
from astroquery_ext.sandbox import Sandbox
from tests.resilience._helpers import Figures
from tests.resilience._hostile import HostileProxy


def test_a_502_after_the_gateway_forwarded_is_reported_as_unknown_not_as_refused(tupli_sandbox):
    """Attack: a gateway recorded episode 2 and answered 502: the error said 'refused... can be sent again'."""
    from astroquery_ext.tupli import Filter, TupliClass
    alice = TupliClass(server=tupli_sandbox.url("tupli"))
    alice.retry_backoff = 0.01
    alice.login("alice", tupli_sandbox.credentials("tupli", "alice")["password"], store_token=False)
    bench = alice.store_benchmark('{"env": "gateway"}', {"name": f"gateway-{time.time_ns()}"})["id"][0]
    seen = []

    def gateway(method, path, status, headers, body):
        if method == "POST" and path.endswith("/episodes/record"):
            seen.append(path)
            if len(seen) == 2:  # forwarded and recorded, then the gateway fails
                return 502, {"Content-Type": "application/json"}, b'{"detail": "Bad Gateway"}', False
        return None

    scheme, _, host, root = tupli_sandbox.url("tupli").split("/", 3)
    with HostileProxy(f"{scheme}//{host}", gateway) as proxy:
        client = TupliClass(server=proxy.url("/" + root))
        client._set_auth(alice._auth)
        client.retry_backoff = 0.01
        episodes = [{"state": [[float(i)]], "action": [0], "reward": [1.0]} for i in range(3)]
        with pytest.raises(RemoteServiceError) as err:
            client.record_episodes(bench, episodes, [{"i": i} for i in range(3)], max_workers=1)
    text = str(err.value)
    assert "refused" not in text and "can be sent again" not in text
    assert "1 may or may not have been recorded" in text and "HTTP 502" in text and "list_episodes" in text
    recorded = err.value.table  # what succeeded, as record_episodes would have returned it
    assert [m["i"] for m in recorded["metadata"]] == [0, 2] and recorded.meta["failed"] == [1]
    assert list(recorded["id"]) == [r["id"] for r in err.value.results if not isinstance(r, Exception)]
    stored = sorted(m["i"] for m in alice.list_episodes(Filter("benchmark_id") == bench)["metadata"])
    assert stored == [0, 1, 2]  # sending episode 1 again would have recorded it twice
    Figures.record("advice", "episodes-502", attacks=1, held=1)


def test_download_scans_of_bare_ids_names_the_argument(grad300_sandbox):
    """Attack: download_scans([1]) raised a raw TypeError ('int' object is not subscriptable)."""
    from astroquery_ext.grad300 import Grad300Class
    grad = Grad300Class(server=grad300_sandbox.url("grad300"))
    grad.login(token=grad300_sandbox.credentials("grad300")["token"])
    grad300_sandbox.clear_request_log("grad300")
    with pytest.raises(TypeError, match=r"rows\[0\] must be a row .* got int 1"):
        grad.download_scans([1], "unused-dir")
    with pytest.raises(TypeError, match="row_or_id must be"):
        grad.get_scan(1.5)
    assert grad300_sandbox.request_log("grad300") == []
    assert not os.path.exists("unused-dir")


@pytest.mark.parametrize("kwargs", [{"preal": 2.0}, {"preal": -0.1}, {"pgal": 1.5}, {"pfast": [0.5, 7]}])
def test_vra_probabilities_outside_0_1_are_refused_before_sending(atlas_sandbox, kwargs):
    """Attack: add_vra_scores(preal=2.0) was sent (and stored: the server checks nothing)."""
    from astroquery_ext.atlas import AtlasClass
    atlas = AtlasClass(server=atlas_sandbox.url("atlas"))
    atlas.login(token=atlas_sandbox.credentials("atlas")["token"], store_token=False)
    atlas_sandbox.clear_request_log("atlas")
    with pytest.raises(ValueError, match=f"{next(iter(kwargs))} is a probability and must be between 0 and 1"):
        atlas.add_vra_scores([1000005291314656200, 1000005291314656201], **kwargs)
    assert [e for e in atlas_sandbox.request_log("atlas") if "vrascores" in e["path"]] == []


def test_grad300_login_with_a_wrong_password_fails_even_with_a_stored_session(grad300_sandbox, monkeypatch):
    """Attack: `grad300 login` with a wrong password said 'logged in' because a stored session existed."""
    from astroquery_ext.grad300 import Grad300Class
    cred = grad300_sandbox.credentials("grad300")
    monkeypatch.setenv("ASTROQUERY_EXT_GRAD300_PASSWORD", cred["password"])
    first = Grad300Class(server=grad300_sandbox.url("grad300"))
    first.login(cred["username"])  # stores the session
    grad300_sandbox.clear_request_log("grad300")
    again = Grad300Class(server=grad300_sandbox.url("grad300"))
    assert again.login(cred["username"]) is True  # the right password: the stored session, no request
    assert grad300_sandbox.request_log("grad300") == []
    monkeypatch.setenv("ASTROQUERY_EXT_GRAD300_PASSWORD", "not-" + cred["password"])
    wrong = Grad300Class(server=grad300_sandbox.url("grad300"))
    with pytest.raises(LoginError, match="Check the e-mail address and password"):
        wrong.login(cred["username"])
    assert not wrong.authenticated()
    monkeypatch.delenv("ASTROQUERY_EXT_GRAD300_PASSWORD")  # no password given: the session stands
    assert Grad300Class(server=grad300_sandbox.url("grad300")).login(cred["username"]) is True
    Figures.record("advice", "grad300-wrong-password", attacks=1, held=1)


RENEWER = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {root!r})
    from astroquery_ext.grad300 import Grad300Class

    def meet(step):  # a file barrier: all three at once, however long each took to get here
        os.makedirs(f"{barrier}/{{step}}", exist_ok=True)
        open(f"{barrier}/{{step}}/{{os.getpid()}}", "w").close()
        deadline = time.monotonic() + 300
        while len(os.listdir(f"{barrier}/{{step}}")) < 3 or not os.path.exists(f"{barrier}/{{step}}.go"):
            if time.monotonic() > deadline:
                sys.exit(f"no go for {{step}}")
            time.sleep(0.01)

    grad = Grad300Class(server={url!r})
    grad.retry_backoff = 0.01
    meet("login")   # all three, at once, with a stored session whose token has expired
    grad.login({user!r})
    meet("renew")   # all three, at once, with a token the server has expired
    grad.list_scans("TPI", limit=1, cache=False)
    print("ok")
""")

STALE = textwrap.dedent("""
    import dataclasses, sys, time
    sys.path.insert(0, {root!r})
    from astroquery_ext.grad300 import Grad300Class
    grad = Grad300Class(server={url!r})
    grad.login({user!r})
    grad._save_session(dataclasses.replace(grad._auth, expires_at=time.time() - 1))  # stored, expired
""")


@pytest.fixture(scope="module")
def grad300_small():
    with Sandbox(services={"grad300": {"n_scans": {"TPI": 3, "Images": 1, "Spectrum": 1, "OnOff": 1}}}) as sandbox:
        yield sandbox


def _all_at(barrier: Path, step: str, timeout: float = 300) -> None:
    """Wait until the three children stand at ``step`` (they go on when ``<step>.go`` exists)."""
    deadline = time.monotonic() + timeout
    while not (barrier / step).is_dir() or len(list((barrier / step).iterdir())) < 3:
        assert time.monotonic() < deadline, f"the children never met at {step}"
        time.sleep(0.01)


def _logins(box) -> list[dict]:
    return [e for e in box.request_log("grad300") if e["path"].endswith("login/access-token")]


def test_three_grad300_processes_renewing_at_once_log_in_once(grad300_small, tmp_path):
    """Attack: three processes renewing an expired token together made 2 password logins in one run of two."""
    box = grad300_small
    cred = box.credentials("grad300")
    env = dict(os.environ, ASTROQUERY_EXT_GRAD300_PASSWORD=cred["password"], XDG_CONFIG_HOME=str(tmp_path),
               XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    (tmp_path / "astropy").mkdir()
    (tmp_path / "cache" / "astropy").mkdir(parents=True)
    url, barrier = box.url("grad300"), tmp_path / "barrier"
    barrier.mkdir()
    stale = STALE.format(root=os.getcwd(), url=url, user=cred["username"])
    subprocess.run([sys.executable, "-c", stale], env=env, check=True, timeout=120)
    box.clear_request_log("grad300")
    code = RENEWER.format(root=os.getcwd(), url=url, user=cred["username"], barrier=str(barrier))
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    try:
        _all_at(barrier, "login")
        (barrier / "login.go").touch()
        _all_at(barrier, "renew")
        starting = _logins(box)   # three login() calls with a stale stored session
        box.clear_request_log("grad300")
        assert box.control("grad300", "expire-access-tokens") >= 1
        (barrier / "renew.go").touch()
        outputs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [o[0].strip() for o in outputs] == ["ok"] * 3, outputs
    renewing = _logins(box)       # three renewals of a token the server no longer takes
    assert (len(starting), len(renewing)) == (1, 1), json.dumps(box.request_log("grad300"), indent=1)
    Figures.record("advice", "grad300-3-process-renewal", processes=3,
                   password_logins=len(starting) + len(renewing))
