"""The unmodified ``stare`` 0.6.1 (the seed client) against the Glance sandbox.

stare is configured only through its ``STARE_*`` environment variables, with
private ``HOME``/``XDG_*`` directories, file token storage and the keyring
switched off, as ``specs/glance.md`` section 7 says. The login is headless:
the library's ``on_url_ready`` callback (or, for the CLI, a ``BROWSER``
script) fetches the authorization URL, and the sandbox redirects to stare's
loopback callback at once. stare runs in subprocesses because it reads its
token path from the environment at import time.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from astroquery_ext.sandbox import Sandbox

pytestmark = pytest.mark.peers

pytest.importorskip("stare")
ACCESS_TTL = 65  # stare refreshes 60 s before expiry: a refresh is due 5 s after login
DRIVER = Path(__file__).with_name("_glance_stare_driver.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def peer_sandbox():
    with Sandbox(services={"glance": {"access_token_ttl": ACCESS_TTL}}, seed=3) as sb:
        yield sb


def _stare_env(sb: Sandbox, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STARE_")}
    for sub in ("data", "cache", "config"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env.update(sb.info("glance")["stare_env"])
    env.update({
        "HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_CONFIG_HOME": str(home / "config"), "STARE_CACHE_DIR": str(home / "cache" / "stare"),
        "STARE_CALLBACK_PORT": str(_free_port()), "STARE_TOKEN_STORAGE": "file",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "BROWSER": "true",
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        "PEER_ACCESS_TTL": str(ACCESS_TTL),
    })
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(var, None)
    return env


@pytest.fixture(scope="module")
def report(peer_sandbox, tmp_path_factory):
    home = tmp_path_factory.mktemp("stare-home")
    env = _stare_env(peer_sandbox, home)
    stats_url = peer_sandbox.info("glance")["stats_url"]
    proc = subprocess.run([sys.executable, str(DRIVER), stats_url], env=env, capture_output=True,
                          text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["_home"] = str(home)
    return out


def _ok(report, name):
    assert name not in report["errors"], report["errors"][name]
    return report[name]


def test_headless_pkce_login(report, peer_sandbox):
    login = _ok(report, "login")
    info = peer_sandbox.info("glance")
    assert login["mode"] == "0o600"
    assert login["token_path"].startswith(report["_home"])
    assert login["has_id_token"]
    assert login["claims"]["claims"]["preferred_username"] == "alice"
    assert login["claims"]["claims"]["email"] == "alice.archer@cern.ch"
    assert login["session"]["offline"] is False
    assert report["redirects"][0].endswith("/callback")
    assert info["issuer"].startswith(peer_sandbox.origin("glance"))


def test_searches_parse_into_strict_models(report):
    s = _ok(report, "searches")
    assert s["analysis"]["total"] > 0
    assert s["analysis"]["statuses"] == ["Phase 0 Active"]
    assert set(s["analysis"]["groups"]) <= {"HDBS", "SUSY", "EXOT"}
    assert s["analysis"]["codes"] == sorted(s["analysis"]["codes"], reverse=True)
    assert s["paper"]["total"] > 0
    assert set(s["paper"]["statuses"]) <= {"Publication Phase Active", "Publication Phase Finished"}
    assert s["confnote"]["total"] > 0
    assert all(final and final.startswith("ATLAS-CONF-") for _tmp, final in s["confnote"]["pairs"])
    assert s["pubnote"]["n"] == min(50, s["pubnote"]["total"] - 2)
    assert s["plot"]["total"] > 0
    assert s["publication"]["types"] == ["CONF note"]
    assert "SUSY" in s["leadinggroup"] and all("s" in g.lower() for g in s["leadinggroup"])
    assert s["subgroup"] and all(g.startswith("HDBS-") for g in s["subgroup"])
    assert all(t[1] == "2018" and t[2] == "primary" for t in s["trigger"])
    assert s["trigger_total"] == len(s["trigger"])


def test_every_record_parses(report, peer_sandbox):
    pages = _ok(report, "full_pages")
    counts = peer_sandbox.info("glance")["counts"]
    names = {"analyses": "analysis", "papers": "paper", "confnotes": "confnote", "pubnotes": "pubnote",
             "plots": "plot", "publications": "publication", "triggers": "trigger",
             "leadinggroups": "leadinggroup", "subgroups": "subgroup"}
    for name, (seen, total) in pages.items():
        assert seen == total == counts[names[name]], name


def test_get_by_reference_code(report):
    gets = _ok(report, "gets")
    for kind in ("analysis", "paper", "confnote", "pubnote", "plot"):
        asked, got = gets[kind]
        assert asked == got, kind
    assert gets["publication"] == gets["paper"][0]
    assert gets["missing"] == "404"


def test_one_login_one_exchange_before_expiry(report):
    assert _ok(report, "before_refresh") == {"codes_redeemed": 1, "refreshes": 0, "exchanges": 1}


def test_refresh_rotates(report):
    r = _ok(report, "refresh")
    assert r["refreshes"] == 1
    assert r["exchanges"] == 0  # the exchanged token is still fresh in stare's memory
    assert r["rotated"] and r["new_access"]
    assert r["n"] == 5
    assert r["replay_status"] == 400
    assert r["replay_body"]["error"] == "invalid_grant"


def test_exchanged_token_audience(report, peer_sandbox):
    claims = _ok(report, "exchange_claims")["claims"]
    assert claims["aud"] == peer_sandbox.info("glance")["exchange_audience"]
    assert claims["preferred_username"] == "alice"


def test_unexchanged_token_refused(report):
    r = _ok(report, "no_exchange")
    assert r["status"] == 401
    assert "audience" in r["detail"]


def test_offline_session_export_import(report):
    r = _ok(report, "offline")
    assert r["session"]["offline"] is True
    assert r["after_import"] > 0


def test_logout_revokes(report):
    r = _ok(report, "logout")
    assert r["revocations"] == 2
    assert r["api_before_logout"] == 200
    assert r["api_after_logout"] == 401
    assert r["token_file_left"] is False


def test_cli_login_and_search(peer_sandbox, tmp_path):
    """The stare command line, with a BROWSER script doing the browser's job."""
    stare = shutil.which("stare", path=str(Path(sys.executable).parent))
    if stare is None:
        pytest.skip("stare CLI not installed")
    env = _stare_env(peer_sandbox, tmp_path / "home")
    browser = tmp_path / "browser.py"
    browser.write_text(
        "import sys, httpx\n"
        "r = httpx.get(sys.argv[1], trust_env=False)\n"
        "httpx.get(r.headers['location'].replace('://localhost:', '://127.0.0.1:', 1), trust_env=False)\n")
    env["BROWSER"] = f"{sys.executable} {browser} %s"
    login = subprocess.run([stare, "auth", "login"], env=env, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
    assert login.returncode == 0, login.stdout + login.stderr
    known = peer_sandbox.info("glance")["known"]
    code = known["analysis"][0]
    search = subprocess.run([stare, "analysis", "search", "-q", f"referenceCode = {code}", "--json",
                             "--no-cache"], env=env, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert search.returncode == 0, search.stderr
    payload = json.loads(search.stdout)
    results = payload["results"] if isinstance(payload, dict) else payload
    assert [r.get("reference_code", r.get("referenceCode")) for r in results] == [code]
    bad = subprocess.run([stare, "analysis", "search", "--offset", "100000", "--no-cache", "--json"],
                         env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert bad.returncode == 2  # stare's own "invalid offset" check against numberOfResults
    stats = httpx.get(peer_sandbox.info("glance")["stats_url"], trust_env=False).json()
    assert stats["codes_redeemed"] >= 1
