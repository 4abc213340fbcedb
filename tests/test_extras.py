"""A feature whose extra is missing says which extra and how to install it.

Each case runs in a fresh interpreter where the extra's package is hidden
(``sys.modules[name] = None`` makes both ``import name`` and
``importlib.util.find_spec(name)`` fail, as if it were not installed).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from astroquery_ext._base.extras import EXTRAS, MissingExtraError, missing_modules, require_extra


def run_hidden(hidden: list[str], code: str) -> subprocess.CompletedProcess:
    prelude = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in hidden)
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)


def test_every_extra_module_is_importable_in_the_test_environment():
    # The test environment installs every extra; an import name that does not
    # exist (a typo in EXTRAS) would make require_extra refuse forever.
    for extra in EXTRAS:
        assert missing_modules(extra) == [], extra


def test_unknown_extra_is_a_clear_error():
    with pytest.raises(ValueError, match="extra must be one of sandbox, plot"):
        require_extra("sandboxx", "x")


def test_sandbox_without_its_extra_names_the_install_command():
    result = run_hidden(["uvicorn"], """
        from astroquery_ext.sandbox import Sandbox
        from astroquery_ext.exceptions import MissingExtraError
        try:
            Sandbox(services=["atlas"])
        except MissingExtraError as exc:
            print(type(exc).__mro__[1].__name__, exc.extra, exc.missing, exc, sep="|")
        """)
    assert result.returncode == 0, result.stderr
    base, extra, missing, message = result.stdout.strip().split("|")
    assert (base, extra, missing) == ("ImportError", "sandbox", "['uvicorn']")
    assert message == ("The sandbox needs the 'sandbox' extra of astroquery-ext, which is not installed "
                       "(missing: uvicorn). Install it with: pip install \"astroquery-ext[sandbox]\"")


def test_sandbox_command_without_its_extra_is_one_line_and_exit_1():
    result = run_hidden(["fastapi", "uvicorn"], """
        import runpy
        sys.argv = ["python -m astroquery_ext.sandbox", "--services", "atlas"]
        runpy.run_module("astroquery_ext.sandbox", run_name="__main__")
        """)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "python -m astroquery_ext.sandbox: The sandbox needs the 'sandbox' extra of astroquery-ext, which is not "
        "installed (missing: fastapi, uvicorn). Install it with: pip install \"astroquery-ext[sandbox]\""]


def test_demo_without_matplotlib_says_plot_extra():
    result = run_hidden(["matplotlib"], """
        from astroquery_ext.demo import main
        sys.exit(main(["--services", "atlas"]))
        """)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert 'pip install "astroquery-ext[plot]"' in result.stderr
    assert "Starting the sandbox" not in result.stdout  # refused before anything started


def test_plot_lightcurve_without_matplotlib_says_plot_extra():
    result = run_hidden(["matplotlib", "matplotlib.pyplot"], """
        from astropy.table import Table
        from astroquery_ext.atlas import plot_lightcurve
        from astroquery_ext.exceptions import MissingExtraError
        try:
            plot_lightcurve(Table({"mjd": [1.0], "mag": [2.0], "filter": ["o"]}))
        except MissingExtraError as exc:
            print(exc)
        """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("plot_lightcurve needs the 'plot' extra of astroquery-ext, which is not "
                                     "installed (missing: matplotlib). Install it with: "
                                     "pip install \"astroquery-ext[plot]\"")


def test_missing_extra_error_is_an_import_error_with_the_module_name():
    exc = MissingExtraError("The sandbox", "sandbox", ["uvicorn", "fastapi"])
    assert isinstance(exc, ImportError) and exc.name == "uvicorn"
