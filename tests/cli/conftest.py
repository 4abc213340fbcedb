"""Helpers of the command-line tests: the real console script, run in a subprocess.

Each test module gets its own HOME (so the astropy cache and config, the
stored logins and the CLI's state live in a temporary directory) and uses the
"fail" keyring backend, so nothing touches a real keyring: tokens go to the
0600 file store under that HOME. Every output is recorded, and checked at the
end of the module for any credential the sandbox handed out or the file store
holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / ("astroquery-ext.exe" if os.name == "nt" else "astroquery-ext")


def base_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ASTROQUERY_EXT_", "XDG_", "PYTHON_KEYRING"))}
    env.update(HOME=str(home), PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", PYTHONWARNINGS="")
    return env


class CLI:
    """Runs ``astroquery-ext`` with a private HOME and records what it printed."""

    def __init__(self, home: Path):
        self.home = home
        self.env = base_env(home)
        self.outputs: list[str] = []
        self.secrets: set[str] = set()

    def command(self, *args) -> list[str]:
        assert SCRIPT.exists(), f"the console script is not installed: {SCRIPT} (pip install -e .)"
        return [str(SCRIPT), *map(str, args)]

    def __call__(self, *args, expect: int = 0, env: dict | None = None, input: str | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(self.command(*args), capture_output=True, text=True, input=input,
                                env={**self.env, **(env or {})}, timeout=timeout, cwd=self.home)
        self.record(result.stdout, result.stderr)
        assert result.returncode == expect, (
            f"astroquery-ext {' '.join(map(str, args))} exited {result.returncode}, expected {expect}\n"
            f"stdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-2000:]}")
        if expect == 1:
            assert_one_error_line(result.stderr)
        return result

    def in_terminal(self, *args, columns: int = 80, timeout: float = 120) -> tuple[str, str]:
        """Run with standard output on a pseudo-terminal ``columns`` wide; returns (stdout, stderr)."""
        import pty

        leader, follower = pty.openpty()
        try:
            process = subprocess.Popen(self.command(*args), stdout=follower, stderr=subprocess.PIPE, text=True,
                                       env={**self.env, "COLUMNS": str(columns)}, cwd=self.home)
            os.close(follower)
            chunks = []
            while True:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # the terminal is closed when the process ends
                    break
                if not data:
                    break
                chunks.append(data)
            err = process.stderr.read()
            process.wait(timeout=timeout)
        finally:
            os.close(leader)
        out = b"".join(chunks).decode().replace("\r\n", "\n")
        self.record(out, err)
        assert process.returncode == 0, err
        return out, err

    def popen(self, *args, env: dict | None = None, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), env={**self.env, **(env or {})}, cwd=self.home,
                                text=True, **kwargs)

    def record(self, *texts: str) -> None:
        self.outputs.extend(t for t in texts if t)

    def stored_secrets(self) -> set[str]:
        """Every token and password in the file store of this HOME."""
        found = set()
        for path in self.home.rglob("credentials/*.json"):
            for value in json.loads(path.read_text()).values():
                found.add(value)
                try:  # stored sessions are JSON with the tokens inside
                    state = json.loads(value)
                except ValueError:
                    continue
                if isinstance(state, dict):
                    found.update(v for k, v in state.items() if k in ("token", "refresh_token") and v)
        return found

    def assert_no_secrets(self) -> None:
        secrets = {s for s in self.secrets | self.stored_secrets() if isinstance(s, str) and len(s) >= 8}
        for text in self.outputs:
            for secret in secrets:
                assert secret not in text, f"a credential appears in the CLI output: {text[:300]!r}"


def assert_one_error_line(stderr: str) -> None:
    """A refused command says why in one line of its own, with no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("astroquery-ext: error:")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr, stderr


# Tests may run on any xdist worker, in any order: the module's ``cli`` is logged in by
# each service's fixture, and tests that log out or log in differently use ``fresh_cli``.

@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    runner = CLI(tmp_path_factory.mktemp("home"))
    yield runner
    runner.assert_no_secrets()


@pytest.fixture
def fresh_cli(tmp_path_factory, cli):
    """Another HOME (nobody logged in), with the same secrets to look out for."""
    runner = CLI(tmp_path_factory.mktemp("home"))
    runner.secrets = cli.secrets
    yield runner
    runner.assert_no_secrets()
