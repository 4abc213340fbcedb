#!/usr/bin/env python3
"""Set up a virtual environment and run the demo tour, the tests, the docs or a benchmark.

    python3 dev.py demo         # the demo tour against the local sandbox
    python3 dev.py test         # the whole test suite, the docs build with examples executed, then dist;
                                #   every step runs even if one before failed, and a summary says which passed
    python3 dev.py docs         # the docs only (HTML in docs/_build/html)
    python3 dev.py dist         # build sdist and wheel, twine check, run the demo from the installed wheel
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
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("ASTROQUERY_EXT_VENV", ROOT / ".venv"))
EXTRAS = {"demo": "sandbox,plot", "test": "sandbox,test,peers,docs,plot", "docs": "sandbox,docs,plot",
          "bench": "sandbox,peers,plot", "dist": "sandbox,test,peers,docs,plot"}
#: What a user installs from the index to run the demo: the wheel with these extras.
WHEEL_EXTRAS = "sandbox,plot"


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


class StepFailed(Exception):
    """A command of a step exited with a non-zero status."""

    def __init__(self, cmd, returncode: int):
        super().__init__(f"{Path(str(cmd[0])).name} {' '.join(map(str, cmd[1:3]))} ... exited {returncode}")
        self.returncode = returncode


def run(cmd, **kwargs) -> None:
    kwargs.setdefault("cwd", ROOT)
    result = subprocess.run([str(c) for c in cmd], **kwargs)
    if result.returncode:
        raise StepFailed(cmd, result.returncode)


def run_steps(steps) -> None:
    """Run every step, even after one failed, then say which passed; exit 1 unless all did.

    A step that failed, was interrupted or never ran is named in the summary,
    so that a red test run never hides that the docs or the dist were not checked.
    """
    outcomes: dict[str, str] = {}
    for name, step in steps:
        started = time.monotonic()
        try:
            step()
            outcome = "passed"
        except StepFailed as exc:
            outcome = f"FAILED ({exc})"
        except SystemExit as exc:  # a check that stopped with a message
            outcome = f"FAILED ({exc.code})"
        except KeyboardInterrupt:
            outcomes[name] = "INTERRUPTED"
            break
        outcomes[name] = f"{outcome} in {time.monotonic() - started:.0f} s"
    print("\ndev.py: summary", file=sys.stderr)
    for name, _ in steps:
        print(f"  {name:<6} {outcomes.get(name, 'NOT RUN')}", file=sys.stderr)
    bad = [name for name, _ in steps if not outcomes.get(name, "").startswith("passed")]
    if bad:
        sys.exit(f"dev.py: FAILED: {', '.join(bad)} did not pass (see the summary above)")
    print(f"dev.py: all {len(steps)} steps passed ({', '.join(name for name, _ in steps)})", file=sys.stderr)


def main(argv: list[str]) -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"dev.py: astroquery-ext needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not argv or argv[0] not in EXTRAS:
        sys.exit(__doc__)
    command, rest = argv[0], argv[1:]
    try:
        dispatch(command, rest)
    except StepFailed as exc:
        sys.exit(exc.returncode)


def dispatch(command: str, rest: list[str]) -> None:
    ensure_env(EXTRAS[command])
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    if command == "demo":
        run([python(), "-m", "astroquery_ext.demo", *rest], env=env)
    elif command == "test":
        run_steps([("tests", lambda: run([python(), "-m", "pytest", "-n", "2", *rest], env=env)),
                   ("docs", lambda: build_docs(env)),
                   ("dist", lambda: check_dist(env))])
    elif command == "docs":
        build_docs(env)
    elif command == "dist":
        check_dist(env)
    elif command == "bench":
        if not rest:
            sys.exit("dev.py bench NAME [--quick]: NAME is one of atlas, grad300, glance, tupli")
        run([python(), f"benchmarks/bench_{rest[0]}.py", *rest[1:]], env=env)


def check_dist(env) -> None:
    """Build the sdist and the wheel as a release would, check them, and use the wheel as a user would.

    The wheel is built from the sdist (so a file missing from either fails), checked with
    ``twine check --strict``, compared with the package files git tracks, then installed with
    its extras into a new virtual environment and run from a directory outside the source tree:
    an import of every module, ``astroquery-ext SERVICE --help`` for each service, the demo tour.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="astroquery-ext-dist-") as tmp:
        tmp = Path(tmp)
        dist = tmp / "dist"
        print("dev.py dist: building the sdist and the wheel", file=sys.stderr)
        run([python(), "-m", "build", "--outdir", dist, ROOT], env=env, stdout=subprocess.DEVNULL)
        wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
        if len(wheels) != 1 or len(sdists) != 1:
            sys.exit(f"dev.py dist: expected one wheel and one sdist, got {[p.name for p in dist.iterdir()]}")
        run([python(), "-m", "twine", "check", "--strict", *wheels, *sdists], env=env)
        check_wheel_contents(wheels[0])

        print("dev.py dist: installing the wheel into a new environment", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(tmp / "venv")
        user_python = tmp / "venv" / python().relative_to(VENV)
        clean = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        run([user_python, "-m", "pip", "install", "--quiet", f"{wheels[0]}[{WHEEL_EXTRAS}]"], env=clean)
        smoke = tmp / "smoke"
        smoke.mkdir()
        in_user_env = dict(cwd=smoke, env=clean)
        run([user_python, "-c", IMPORT_EVERY_MODULE, str(tmp / "venv")], **in_user_env)
        script = user_python.parent / ("astroquery-ext.exe" if os.name == "nt" else "astroquery-ext")
        for service in ("", "atlas", "grad300", "glance", "tupli"):
            run([script, *([service] if service else []), "--help"], stdout=subprocess.DEVNULL, **in_user_env)
        run([user_python, "-m", "astroquery_ext.demo", "--output", smoke / "demo-output"], **in_user_env)
        print(f"dev.py dist: {wheels[0].name} and {sdists[0].name} passed", file=sys.stderr)


#: Run by the installed wheel's python: imports every module of the package
#: (a module or data file missing from the wheel fails here) and checks that it
#: is the installed copy, not the source tree.
IMPORT_EVERY_MODULE = """
import importlib, importlib.util, pkgutil, sys
import astroquery_ext
assert astroquery_ext.__file__.startswith(sys.argv[1]), f"imported from {astroquery_ext.__file__}"
names = [m.name for m in pkgutil.walk_packages(astroquery_ext.__path__, "astroquery_ext.")]
# The pytest plugin is loaded by pytest only (entry point pytest11): without pytest it is not imported.
has_pytest = importlib.util.find_spec("pytest") is not None
for name in names:
    if name.endswith(".pytest_plugin") and not has_pytest:
        continue
    importlib.import_module(name)
from astroquery_ext.glance.dsl import fields, modes  # the field catalogue is package data
assert all(fields(mode) for mode in modes()), "the Glance field catalogue is empty"
print(f"imported {len(names) + 1} modules of astroquery_ext {astroquery_ext.__version__}", file=sys.stderr)
"""


def check_wheel_contents(wheel: Path) -> None:
    """Every file git tracks under astroquery_ext/ is in the wheel (skipped outside a git checkout)."""
    import zipfile

    try:
        tracked = subprocess.run(["git", "ls-files", "astroquery_ext"], cwd=ROOT, capture_output=True,
                                 text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        print("dev.py dist: not a git checkout, wheel contents not compared", file=sys.stderr)
        return
    shipped = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in tracked if f not in shipped]
    if missing:
        sys.exit(f"dev.py dist: files of the package missing from {wheel.name}: {', '.join(missing)} "
                 f"(add them to [tool.setuptools.package-data] in pyproject.toml)")
    for name in ("LICENSE",):
        if not any(n.endswith(f".dist-info/licenses/{name}") or n.endswith(f".dist-info/{name}") for n in shipped):
            sys.exit(f"dev.py dist: {name} is not in {wheel.name}")


def build_docs(env) -> None:
    """Sphinx with warnings as errors, then the doctests (every example runs against the sandbox)."""
    run([python(), "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", "docs/_build/html"], env=env)
    check_docs_links(ROOT / "docs" / "_build" / "html")
    run([python(), "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "doctest", "docs", "docs/_build/doctest"],
        env=env)


#: Pages of other projects that the API pages must link to (intersphinx works).
REQUIRED_LINKS = [f"https://docs.astropy.org/en/stable/api/astropy.{name}.html#astropy.{name}"
                  for name in ("table.Table", "coordinates.SkyCoord", "time.Time")]


def check_docs_links(html: Path) -> None:
    text = "\n".join(page.read_text(encoding="utf-8", errors="replace") for page in html.rglob("*.html"))
    missing = [url for url in REQUIRED_LINKS if f'href="{url}"' not in text]
    if missing:
        sys.exit(f"dev.py docs: no link to {', '.join(missing)} in the built docs (intersphinx broken? "
                 f"see docs/_inventories/README.md)")


if __name__ == "__main__":
    main(sys.argv[1:])
