"""Each benchmark runs to its end at its smallest size: both clients, the floor, the comparison of their rows.

No figure is asserted (timings belong to the benchmarks, not to tests): what fails here is a benchmark that no
longer runs against today's API or sandbox, or whose two clients no longer return the same rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.peers  # each drives a seed client

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

RUNS = {
    "atlas": (["--quick", "--objects", "40,60", "--repeat", "1", "--cpu-rounds", "1", "--paced", "50"],
              ["rows and values identical (sha256 of every lc/lcnondets value of every row): yes",
               "paced link 50 MB/s", "least of 2 runs per size"]),
    "grad300": (["--quick", "--catalogue-only"], ["same rows: True", "floor: ", "each page decoded untyped"]),
    "glance": (["--quick", "--repeat", "1", "--no-memory"], ["floor: ", "each page decoded untyped"]),
    "tupli": (["--quick", "--episodes", "4", "--tuples", "50", "--artifact-mb", "2", "--latency", "0"],
              ["listing floor: ", "byte-identical: True"]),
}


@pytest.mark.parametrize("service", sorted(RUNS))
def test_the_benchmark_runs_to_its_end(service, tmp_path):
    pytest.importorskip({"atlas": "atlasapiclient", "grad300": "grad300_client", "glance": "stare",
                         "tupli": "pytupli"}[service])
    args, expected = RUNS[service]
    env = dict(os.environ, HOME=str(tmp_path), NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    run = subprocess.run([sys.executable, str(BENCHMARKS / f"bench_{service}.py"), *args], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for text in expected:
        assert text in run.stdout, (text, run.stdout[-3000:])
