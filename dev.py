#!/usr/bin/env python3
"""Set up a virtual environment and run the demo tour, the tests, the docs or a benchmark.

    python3 dev.py demo         # the demo tour against the local sandbox
    python3 dev.py test         # the whole test suite, then the docs build with examples executed
    python3 dev.py docs         # the docs only (HTML in docs/_build/html)
    python3 dev.py bench NAME   # a benchmark from benchmarks/ (atlas, grad300, glance, tupli)

Needs only Python 3.11+ with venv and pip. The environment lives in ``.venv``
and is reinstalled when pyproject.toml changes. Extra arguments after the
command go to the tool (``python3 dev.py test -k cache``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("ASTROQUERY_EXT_VENV", ROOT / ".venv"))
EXTRAS = {"demo": "sandbox,plot", "test": "sandbox,test,peers,docs,plot", "docs": "sandbox,docs,plot",
          "bench": "sandbox,peers,plot"}


def python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_env(extras: str) -> None:
    """Create .venv and install the package with ``extras`` unless already done."""
    stamp_text = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".astroquery-ext-{stamp_text[:16]}"
    if stamp.exists():
        return
    if not python().exists():
        print(f"dev.py: creating {VENV}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print(f"dev.py: installing astroquery-ext[{extras}] into {VENV}", file=sys.stderr)
    run([python(), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([python(), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[{extras}]"])
    stamp.touch()


def run(cmd, **kwargs) -> None:
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT, **kwargs)
    if result.returncode:
        sys.exit(result.returncode)


def main(argv: list[str]) -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"dev.py: astroquery-ext needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not argv or argv[0] not in EXTRAS:
        sys.exit(__doc__)
    command, rest = argv[0], argv[1:]
    ensure_env(EXTRAS[command])
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    if command == "demo":
        run([python(), "-m", "astroquery_ext.demo", *rest], env=env)
    elif command == "test":
        run([python(), "-m", "pytest", "-n", "2", *rest], env=env)
        build_docs(env)
    elif command == "docs":
        build_docs(env)
    elif command == "bench":
        if not rest:
            sys.exit("dev.py bench NAME [--quick]: NAME is one of atlas, grad300, glance, tupli")
        run([python(), f"benchmarks/bench_{rest[0]}.py", *rest[1:]], env=env)


def build_docs(env) -> None:
    """Sphinx with warnings as errors, then the doctests (every example runs against the sandbox)."""
    run([python(), "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", "docs/_build/html"], env=env)
    run([python(), "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "doctest", "docs", "docs/_build/doctest"],
        env=env)


if __name__ == "__main__":
    main(sys.argv[1:])
