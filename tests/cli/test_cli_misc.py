"""The command line itself: help, version, usage errors, the cache, the sandbox and the demo commands."""

import json
import subprocess
import sys

from astropy.table import Table

from tests.cli.conftest import base_env




def test_help_version_and_module_entry_point(cli):
    helped = cli("--help").stdout
    for command in ("atlas", "grad300", "glance", "tupli", "cache", "sandbox", "demo"):
        assert command in helped
    version = subprocess.run([sys.executable, "-m", "astroquery_ext", "--version"], capture_output=True,
                             text=True, env=base_env(cli.home), timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("astroquery-ext ")
    assert "--sort-by" in cli("glance", "search", "--help").stdout
    cli(expect=2)
    cli("atlas", expect=2)
    cli("atlas", "cone", "--bogus", "1", "2", "3", expect=2)


def test_cache_info_and_clear(cli):
    info = json.loads(cli("cache", "info", "--format", "json").stdout)
    assert [row["service"] for row in info] == ["atlas", "grad300", "glance", "tupli"]
    atlas = info[0]
    assert atlas["location"].startswith(str(cli.home)) and atlas["entries"] == 0
    # Two answers and one file, as the cache lays them out.
    from pathlib import Path
    root = Path(atlas["location"]) / "someone"
    (root / "ab").mkdir(parents=True)
    (root / "ab" / "abc.entry").write_bytes(b"{}\n" + b"x" * 100)
    (root / "ab" / "abd.entry").write_bytes(b"{}\n")
    (root / "files").mkdir()
    (root / "files" / "scan.fits").write_bytes(b"y" * 50)
    table = Table.read(cli("cache", "info", "atlas", "--format", "ecsv").stdout, format="ascii.ecsv")
    assert (table["entries"][0], table["files"][0], table["bytes"][0]) == (2, 1, 156)
    cleared = cli("cache", "clear", "atlas", "tupli")
    assert "atlas (2 answers, 1 files" in cleared.stderr and cleared.stdout == ""
    assert not root.exists()
    cli("cache", "info", "nowhere", expect=2)


def test_sandbox_command_runs_until_stopped(cli):
    process = cli.popen("sandbox", "--services", "testbed", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = process.stdout.readline()
        second = process.stdout.readline()
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    assert "sandbox running" in first and "testbed" in second and "http://127.0.0.1:" in second
    assert process.returncode == 0, err
    assert "--services" in cli("sandbox", "--help").stdout


def test_demo_command(cli, tmp_path):
    result = cli("demo", "--services", "atlas", "--output", tmp_path, timeout=180)
    assert "ATLAS Transient Server" in result.stdout
    assert (tmp_path / "atlas_lightcurve.png").stat().st_size > 0


def test_cache_info_as_fits_and_columns(cli, tmp_path):
    cli("cache", "info", "--columns", "service,entries", "-o", tmp_path / "cache.fits")
    table = Table.read(tmp_path / "cache.fits")
    assert table.colnames == ["service", "entries"] and list(table["service"]) == ["atlas", "grad300", "glance",
                                                                                   "tupli"]
    assert "--columns" in cli("cache", "info", "--columns", "where", expect=1).stderr


def _hidden(hidden: list[str], argv: list[str], home) -> subprocess.CompletedProcess:
    """The command line in an interpreter where ``hidden`` cannot be imported (as if not installed)."""
    code = ("import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in hidden)
            + f"from astroquery_ext.cli import main\nsys.exit(main({argv!r}))\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=base_env(home),
                          timeout=120, cwd=home)


def test_sandbox_and_demo_without_their_extras_say_how_to_install(cli, tmp_path):
    sandbox = _hidden(["uvicorn"], ["sandbox", "--services", "atlas"], cli.home)
    assert sandbox.returncode == 1 and sandbox.stdout == ""
    assert sandbox.stderr.strip().splitlines() == [
        "astroquery-ext: error: The sandbox needs the 'sandbox' extra of astroquery-ext, which is not installed "
        "(missing: uvicorn). Install it with: pip install \"astroquery-ext[sandbox]\""]
    demo = _hidden(["matplotlib"], ["demo", "--services", "atlas", "--output", str(tmp_path)], cli.home)
    assert demo.returncode == 1 and demo.stdout == ""
    [line] = demo.stderr.strip().splitlines()
    assert line.startswith("astroquery-ext: error: The demo tour needs the 'plot' extra") and \
        line.endswith('pip install "astroquery-ext[plot]"')
    assert not list(tmp_path.iterdir())                                  # refused before anything started
