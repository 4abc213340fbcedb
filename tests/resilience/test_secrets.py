"""Secrets audit: after login, queries, downloads, errors and logout, no token or password shows anywhere.

For each service, with the file token store (no keyring), the test collects
every token the client held (access, refresh, exchanged) and the password,
then searches: every file under the cache dir and the config dir (the token
file excepted while logged in: it must be 0600; after ``logout(forget=True)``
no file may hold them), log records of every logger at DEBUG, warnings,
exception messages, reprs and full tracebacks, table metadata, and the
output of the ``astroquery-ext`` command (``-v``, and ``--debug`` on errors).
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import traceback
import urllib.parse
import warnings
from pathlib import Path

import pytest
import requests
from astropy import units as u
from astropy.coordinates import SkyCoord

from astroquery_ext.atlas import AtlasClass
from astroquery_ext.grad300 import Grad300Class
from astroquery_ext.sandbox import Fault
from astroquery_ext.tupli import Filter, TupliClass

from ._helpers import Figures
from .test_hostile_base import deep_text


PACKAGE = str(Path(__file__).resolve().parents[2] / "astroquery_ext")


def _package_locals(exc: BaseException) -> str:
    """repr of the locals of every astroquery_ext frame in the tracebacks of ``exc`` and its whole chain
    (``__context__`` followed even under ``raise ... from None``). The caller's own frames are not ours."""
    parts, seen, stack = [], set(), [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        tb = current.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename.startswith(PACKAGE):
                for name, value in dict(tb.tb_frame.f_locals).items():
                    try:
                        parts.append(f"{tb.tb_frame.f_code.co_name} {name}: {value!r}")
                    except Exception as exc:  # noqa: BLE001 - a value whose repr fails shows nothing
                        parts.append(f"{tb.tb_frame.f_code.co_name} {name}: <repr failed: {type(exc).__name__}>")
            tb = tb.tb_next
        stack += [current.__context__, current.__cause__]
    return "\n".join(parts)


class Audit:
    """Everything a user could see or find, and the secrets that must not be in it."""

    def __init__(self):
        self.secrets: set[str] = set()
        self.texts: list[tuple[str, str]] = []
        self.files = 0
        self.chains = 0
        self.log = io.StringIO()
        self._handler = logging.StreamHandler(self.log)
        self._handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self._handler.setLevel(logging.DEBUG)

    def __enter__(self):
        root = logging.getLogger()
        self._level = root.level
        root.addHandler(self._handler)
        root.setLevel(logging.DEBUG)
        self._warnings = warnings.catch_warnings(record=True)
        self.caught = self._warnings.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._warnings.__exit__(*exc)
        root = logging.getLogger()
        root.removeHandler(self._handler)
        root.setLevel(self._level)

    def secret(self, *values):
        self.secrets.update(v for v in values if isinstance(v, str) and len(v) >= 6)

    def holds(self, client):
        state = client._auth
        if state is not None:
            self.secret(state.token, state.refresh_token)
            self.secret(*[v for v in state.extra.values() if isinstance(v, str)])
        for value in getattr(client, "_exchanged", {}).values():
            self.secret(value[0] if isinstance(value, tuple) else value)

    def see(self, label, *objects):
        for obj in objects:
            self.texts.append((label, obj if isinstance(obj, str) else repr(obj)))
            if not isinstance(obj, str):
                self.texts.append((label, str(obj)))
            meta = getattr(obj, "meta", None)
            if meta:
                self.texts.append((label + " meta", repr(dict(meta))))

    def error(self, label, call):
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - every error is audited
            self.see(label, exc, "".join(traceback.format_exception(exc)))
            self.see(label + " args", *[a for a in exc.args if isinstance(a, str)])
            self.see(label + " attrs", {k: v for k, v in vars(exc).items() if k != "results"})
            # The whole chain (__context__ stays even under "raise ... from None") and
            # everything reachable from each exception's __dict__: requests objects
            # keep the token in .request.headers and a password in .request.body.
            self.see(label + " chain", deep_text(exc))
            # The local variables of the package's frames in every traceback of the chain: what a
            # debugger or an error tracker that records locals (Sentry) shows.
            self.see(label + " frames", _package_locals(exc))
            self.chains += 1
            return exc
        raise AssertionError(f"{label}: no error")

    def _forms(self, secret):
        return {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}

    def check_texts(self):
        self.see("logs", self.log.getvalue())
        self.see("warnings", *[str(w.message) for w in self.caught])
        for label, text in self.texts:
            for secret in self.secrets:
                assert not any(f in text for f in self._forms(secret)), f"a secret shows in {label}"

    def check_files(self, root: Path, *, allowed: set[Path] = frozenset()):
        for path in Path(root).rglob("*"):
            if not path.is_file():
                if path.is_dir() and path in allowed:
                    continue
                continue
            self.files += 1
            if path in allowed:
                assert path.stat().st_mode & 0o077 == 0, f"{path} holds a token and is not 0600"
                continue
            data = path.read_bytes()
            for secret in self.secrets:
                assert not any(f.encode() in data for f in self._forms(secret)), f"a secret is in {path}"


def _token_files(config_dir: Path) -> set[Path]:
    return {p for p in Path(config_dir).rglob("*") if p.is_file() and "credentials" in p.parts}


def _finish(audit, user_state, client, service):
    assert len(audit.secrets) >= 2 and "astroquery_ext" in audit.log.getvalue() and "DEBUG" in audit.log.getvalue()
    # while logged in: the token file is private, nothing else holds a secret
    held = _token_files(user_state.config_dir)
    assert held, "the file store was not used"
    audit.check_files(user_state.config_dir, allowed=held)
    audit.check_files(user_state.cache_dir)
    audit.see("repr", client, client._auth)
    client.logout(forget=True)
    audit.see("repr after logout", client)
    # after logout(forget=True): no file anywhere holds a secret
    audit.check_files(user_state.config_dir)
    audit.check_files(user_state.cache_dir)
    audit.check_texts()
    for path in [user_state.cache_dir / "astroquery_ext" / service]:
        if path.exists():
            for p in [path, *path.rglob("*")]:
                assert p.stat().st_mode & 0o077 == 0, p
    Figures.record("secrets", service, secrets=len(audit.secrets), texts=len(audit.texts), files=audit.files,
                   log_bytes=len(audit.log.getvalue()), exception_chains=audit.chains)


def test_atlas_secrets(atlas_sandbox, user_state, no_keyring, monkeypatch, tmp_path):
    cred = atlas_sandbox.credentials("atlas")
    monkeypatch.setenv("ASTROQUERY_EXT_ATLAS_PASSWORD", cred["password"])
    with Audit() as audit:
        audit.secret(cred["password"], cred["token"])
        atlas = AtlasClass(server=atlas_sandbox.url("atlas"))
        atlas.retry_backoff = 0.01
        atlas.login(username=cred["username"])
        audit.holds(atlas)
        ids = atlas_sandbox.info("atlas")["example_ids"][:3]
        audit.see("tables", atlas.query_region(SkyCoord(10, 10, unit="deg"), 10 * u.arcsec),
                  atlas.get_lightcurves(ids, show_progress=False), atlas.query_list(2))
        audit.error("500", lambda: atlas.query_list(14, cache=False))
        atlas_sandbox.set_faults("atlas", [Fault("status", status=503)])
        try:
            audit.error("503", lambda: atlas.get_lightcurves(ids, cache=False, show_progress=False))
            atlas_sandbox.set_faults("atlas", [Fault("reset")])
            audit.error("reset", lambda: atlas.query_list(3, cache=False))
        finally:
            atlas_sandbox.set_faults("atlas", [])
        bad = AtlasClass(server=atlas_sandbox.url("atlas"))
        bad.login(token="f" * 40, store_token=False)
        audit.error("bad token", lambda: bad.query_list(2, cache=False))
        audit.holds(atlas)
        _finish(audit, user_state, atlas, "atlas")


def test_grad300_secrets(grad300_sandbox, user_state, no_keyring, monkeypatch, tmp_path):
    cred = grad300_sandbox.credentials("grad300")
    monkeypatch.setenv("ASTROQUERY_EXT_GRAD300_PASSWORD", cred["password"])
    with Audit() as audit:
        audit.secret(cred["password"], cred["token"])
        grad = Grad300Class(server=grad300_sandbox.url("grad300"))
        grad.retry_backoff = 0.01
        grad.login(cred["username"], store_password=True)
        audit.holds(grad)
        scans = grad.list_scans("Spectrum", limit=3)
        audit.see("tables", scans, grad.download_scans(scans, tmp_path, show_progress=False),
                  grad.get_scan(scans[0]), grad.query("OnOff", row_limit=3))
        audit.error("404", lambda: grad.get_scan(999_999, scan_type="TPI"))
        grad300_sandbox.set_faults("grad300", [Fault("truncate", path="*/download")])
        try:
            audit.error("cut off", lambda: grad.download_scans(scans, tmp_path / "cut", show_progress=False,
                                                               overwrite=True))
        finally:
            grad300_sandbox.set_faults("grad300", [])
        wrong = Grad300Class(server=grad300_sandbox.url("grad300"))
        audit.secret("not-" + cred["password"])
        monkeypatch.setenv("ASTROQUERY_EXT_GRAD300_PASSWORD", "not-" + cred["password"])
        audit.error("bad password", lambda: wrong.login(cred["username"], reenter_password=True))
        monkeypatch.setenv("ASTROQUERY_EXT_GRAD300_PASSWORD", cred["password"])
        _finish(audit, user_state, grad, "grad300")


def test_glance_secrets(glance_sandbox, user_state, no_keyring):
    cred = glance_sandbox.credentials("glance")
    with Audit() as audit:
        audit.secret(cred["password"])
        glance = glance_sandbox.client("glance")
        glance.login(open_browser=lambda url: requests.get(url, timeout=10))
        audit.see("tables", glance.query_analyses('status = "Phase 0 Active"'), glance.query_papers(row_limit=5))
        audit.holds(glance)
        audit.error("404", lambda: glance.get_analysis("ANA-NONE-2000-99"))
        audit.error("400", lambda: glance.query_analyses("nosuchfield = 1"))
        glance_sandbox.set_faults("glance", [Fault("status", status=500, path="/api/*")])
        try:
            audit.error("500", lambda: glance.query_triggers(cache=False))
        finally:
            glance_sandbox.set_faults("glance", [])
        audit.holds(glance)
        _finish(audit, user_state, glance, "glance")


def test_tupli_secrets(tupli_sandbox, user_state, no_keyring, tmp_path):
    """With signup and change_password failures (a taken name, a server that cannot be reached)."""
    cred = tupli_sandbox.credentials("tupli", "bob")
    with Audit() as audit:
        audit.secret(cred["password"])
        tupli = TupliClass(server=tupli_sandbox.url("tupli"))
        tupli.retry_backoff = 0.01
        tupli.login("bob", cred["password"], store_token=True)
        audit.holds(tupli)
        item = tupli.store_artifact(os.urandom(50_000), {"name": "audit.bin"})[0]
        audit.see("tables", item, tupli.list_artifacts(Filter("name") == "audit.bin"),
                  tupli.load_artifact(item["id"], tmp_path / "audit.bin"), tupli.list_benchmarks(cache=True))
        audit.error("404", lambda: tupli.load_artifact("0" * 32, tmp_path / "none.bin"))
        audit.error("lost", lambda: TupliClass(server="http://127.0.0.1:9/").login("bob", cred["password"]))
        wrong = "wrong-" + cred["password"]   # (a literal would show in the traceback's source lines)
        audit.secret(wrong)
        audit.error("wrong password", lambda: TupliClass(server=tupli.server).login("bob", wrong, store_token=False))
        # signup and change_password hold a password in their frames too: a failure leaves none there
        other = "other-" + cred["password"]
        audit.secret(other)
        audit.error("signup taken", lambda: tupli.signup("bob", other))
        audit.error("signup lost", lambda: TupliClass(server="http://127.0.0.1:9/").signup("carl", other))
        audit.error("change_password lost", lambda: TupliClass(server="http://127.0.0.1:9/").change_password(
            "bob", other))
        tupli.delete_artifact(item["id"])
        _finish(audit, user_state, tupli, "tupli")


# -- the command line ------------------------------------------------------------------------------

CLI = [sys.executable, "-m", "astroquery_ext.cli"]


def _cli(home, *args, env=None, expect=None):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ASTROQUERY_EXT_", "XDG_", "PYTHON_KEYRING"))}
    base.update(HOME=str(home), PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
                NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    result = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, env={**base, **(env or {})},
                            timeout=120, cwd=home)
    if expect is not None:
        assert result.returncode == expect, (args, result.stdout[-1000:], result.stderr[-1000:])
    return result.stdout + result.stderr


@pytest.mark.skipif(not (Path(__file__).parents[2] / "astroquery_ext" / "cli").is_dir(), reason="no CLI yet")
def test_cli_output_holds_no_secret(atlas_sandbox, grad300_sandbox, tupli_sandbox, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    atlas, grad = atlas_sandbox.credentials("atlas"), grad300_sandbox.credentials("grad300")
    tupli = tupli_sandbox.credentials("tupli", "alice")
    secrets = {atlas["password"], atlas["token"], grad["password"], grad["token"], tupli["password"]}
    outputs = []
    a, g, t = (["--server", s.url(n)] for s, n in
               ((atlas_sandbox, "atlas"), (grad300_sandbox, "grad300"), (tupli_sandbox, "tupli")))
    outputs.append(_cli(home, "atlas", "login", *a, "-v", "--username", atlas["username"],
                        env={"ASTROQUERY_EXT_ATLAS_PASSWORD": atlas["password"]}, expect=0))
    outputs.append(_cli(home, "atlas", "cone", *a, "-v", "10", "10", "30", expect=0))
    outputs.append(_cli(home, "atlas", "list", *a, "-v", "--debug", "14", expect=1))
    # a refused password first (before any login is stored), then the right one
    outputs.append(_cli(home, "grad300", "login", *g, "-v", "--debug", "--username", grad["username"],
                        env={"ASTROQUERY_EXT_GRAD300_PASSWORD": "x" + grad["password"]}, expect=1))
    outputs.append(_cli(home, "grad300", "login", *g, "-v", "--username", grad["username"],
                        env={"ASTROQUERY_EXT_GRAD300_PASSWORD": grad["password"]}, expect=0))
    outputs.append(_cli(home, "grad300", "query", *g, "-v", "--type", "OnOff", expect=0))
    outputs.append(_cli(home, "tupli", "login", *t, "-v", "--username", "alice",
                        env={"ASTROQUERY_EXT_TUPLI_PASSWORD": tupli["password"]}, expect=0))
    outputs.append(_cli(home, "tupli", "artifacts", "download", *t, "-v", "--debug", "0" * 32, "-o",
                        str(home / "none.bin"), expect=1))
    for service, server in (("atlas", a), ("grad300", g), ("tupli", t)):
        outputs.append(_cli(home, service, "whoami", *server, "-v"))
        outputs.append(_cli(home, service, "logout", *server, "-v", expect=0))
    stored = [p for p in home.rglob("*") if p.is_file()]
    for secret in secrets | {"x" + grad["password"]}:
        for text in outputs:
            assert secret not in text, "a secret shows in the CLI's output"
        for path in stored:
            assert secret.encode() not in path.read_bytes(), f"a secret stays in {path} after logout"
    Figures.record("secrets", "cli", secrets=len(secrets) + 1, texts=len(outputs), files=len(stored))
