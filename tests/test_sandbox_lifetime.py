"""The sandbox's servers die with the process that started them, and keep their data private."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import psutil
import pytest

from astroquery_ext.sandbox import Sandbox


def _servers_of(parent: psutil.Process, count: int, bound: float = 120.0) -> list[psutil.Process]:
    """The sandbox servers ``parent`` started, once all ``count`` of them are there."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        servers = [p for p in parent.children() if "astroquery_ext.sandbox._server" in p.cmdline()]
        if len(servers) == count:
            return servers
        time.sleep(0.1)
    raise AssertionError(f"{count} sandbox servers did not start within {bound:.0f} s")


def _gone(processes, bound: float) -> list[psutil.Process]:
    """Those of ``processes`` still alive after ``bound`` seconds (polling: returns as soon as none is)."""
    deadline = time.monotonic() + bound
    alive = list(processes)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.05)
    return alive


@pytest.mark.parametrize("how", ["python -m", "a script holding a Sandbox from a thread"])
def test_sigkill_of_the_parent_leaves_no_server(tmp_path, how):
    if how == "python -m":
        cmd = [sys.executable, "-m", "astroquery_ext.sandbox", "--services", "testbed", "grad300"]
    else:  # started outside the main thread: no parent-death signal, the watchdog pipe alone
        cmd = [sys.executable, "-c",
               "import threading, time\n"
               "from astroquery_ext.sandbox import Sandbox\n"
               "sb = Sandbox(services=['testbed', 'grad300'])\n"
               "t = threading.Thread(target=sb.start); t.start(); t.join()\n"
               "print(sb.data_dir, flush=True)\n"
               "time.sleep(600)\n"]
    parent = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        servers = _servers_of(psutil.Process(parent.pid), 2)
        first_line = parent.stdout.readline()  # printed once every server answers
        assert first_line
        data_dirs = {p.cmdline()[p.cmdline().index("--data-dir") + 1] for p in servers}
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        # The servers notice at once; the bound is generous for a loaded machine, not a sleep.
        assert _gone(servers, bound=5.0) == []
        for directory in data_dirs:  # the temporary data went with them
            assert not os.path.exists(directory)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        parent.stdout.close()


def test_the_data_directory_is_private(tmp_path):
    given = tmp_path / "given"
    with Sandbox(services=["testbed"]) as temporary, Sandbox(services=["testbed"], data_dir=given) as kept:
        for sandbox in (temporary, kept):
            for path in (sandbox.data_dir, sandbox.data_dir / "testbed"):
                assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
