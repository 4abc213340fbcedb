"""The credential chain, the token store without a keyring, and one refresh under concurrency."""

import json
import os
import stat
import subprocess
import sys
import threading

import pytest

from astroquery_ext._base import AuthState, CredentialChain, LoginError, TokenStore
from astroquery_ext.sandbox import Sandbox
from tests.base.testbed_client import TestbedClass


@pytest.fixture
def chain():
    store = TokenStore("testbed")
    return CredentialChain("testbed", store, "Testbed.login()")


def test_order_explicit_env_keyring(chain, monkeypatch):
    chain.store.set("alice", "from-keyring")
    assert chain.resolve("password", account="alice") == "from-keyring"
    monkeypatch.setenv("ASTROQUERY_EXT_TESTBED_PASSWORD", "from-env")
    assert chain.resolve("password", account="alice") == "from-env"
    assert chain.resolve("password", "explicit", account="alice") == "explicit"


def test_prompt_only_on_a_terminal(chain, monkeypatch):
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    assert chain.resolve("password", account="alice", ask=lambda prompt: "typed") == "typed"
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    with pytest.raises(LoginError, match="ASTROQUERY_EXT_TESTBED_PASSWORD"):
        chain.resolve("password", account="alice", ask=lambda prompt: "typed")


def test_bad_explicit_value(chain):
    with pytest.raises(ValueError, match="token must be a non-empty string"):
        chain.resolve("token", "")


def test_without_keyring_tokens_go_to_a_private_file(no_keyring, user_state):
    store = TokenStore("testbed")
    assert store.set("session:alice", "secret-value-123") == "file"
    assert store.get("session:alice") == "secret-value-123"
    assert stat.S_IMODE(store.file.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    store.delete("session:alice")
    assert store.get("session:alice") is None
    assert json.loads(store.file.read_text()) == {}


def test_keyring_errors_on_get_set_delete_fall_back(no_keyring):
    store = TokenStore("testbed")
    store.delete("nobody")  # no error
    assert store.get("nobody") is None


@pytest.fixture(scope="module")
def expiring_tokens():
    """Access tokens that expire when a test says so (the sandbox's control), never while it works."""
    with Sandbox(services={"testbed": {}}) as sb:
        yield sb


def _expired_session(client, sb):
    """Log in with the password from the environment (the session is stored); the session."""
    creds = sb.credentials("testbed")
    os.environ["ASTROQUERY_EXT_TESTBED_PASSWORD"] = creds["password"]
    try:
        client.login("alice")
    finally:
        del os.environ["ASTROQUERY_EXT_TESTBED_PASSWORD"]
    return client._auth


def test_threads_sharing_a_client_refresh_once(expiring_tokens):
    client = TestbedClass(server=expiring_tokens.url("testbed"))
    _expired_session(client, expiring_tokens)
    assert expiring_tokens.control("testbed", "expire-access-tokens") >= 1  # the clients learn it from a 401
    before = client.counters()["refreshes"]
    results, errors = [], []

    def work():
        try:
            results.append(client.whoami(cache=False)["user"])
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and results == ["alice"] * 8
    assert client.counters()["refreshes"] == before + 1


SCRIPT = r"""
import os, sys, time
from astropy.config.paths import set_temp_config, set_temp_cache
sys.path.insert(0, {root!r})
from tests.base.testbed_client import TestbedClass
with set_temp_config({config!r}), set_temp_cache({cache!r}):
    client = TestbedClass(server={server!r})
    client.login("alice")          # the stored session: no password needed
    # Both processes hold the expired session before either renews it: a barrier, not a start time
    # (starting Python takes seconds on a loaded machine).
    open({barrier!r} + "/" + str(os.getpid()), "w").close()
    deadline = time.monotonic() + 120
    while len(os.listdir({barrier!r})) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    print(client.whoami(cache=False)["user"])
"""


def test_two_processes_refresh_once(expiring_tokens, tmp_path, no_keyring, user_state):
    client = TestbedClass(server=expiring_tokens.url("testbed"))
    _expired_session(client, expiring_tokens)   # stored in the 0600 file (no keyring)
    assert expiring_tokens.control("testbed", "expire-access-tokens") >= 1
    before = client.counters()["refreshes"]
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    code = SCRIPT.format(root=os.getcwd(), config=str(user_state.config_dir.parent),
                         cache=str(tmp_path), server=client.server, barrier=str(barrier))
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=180) for p in procs]
    assert [o[0].strip() for o in outputs] == ["alice", "alice"], outputs
    assert client.counters()["refreshes"] == before + 1


def test_authstate_round_trip_and_repr():
    state = AuthState(token="tok-123456", principal="alice", expires_at=0.0, refresh_token="ref-123456")
    assert AuthState.from_json(state.to_json()) == state
    assert "tok-123456" not in repr(state) and "ref-123456" not in repr(state)
    assert AuthState.from_json("not json") is None
