"""Sphinx configuration of the astroquery-ext documentation.

Every example is executed: ``sphinx-build -b doctest`` (``python3 dev.py docs``)
runs them against a sandbox started here, once for the whole build.
"""

import atexit
import os
import sys

import astroquery_ext

project = "astroquery-ext"
author = "the astroquery-ext developers"
copyright = "2026, the astroquery-ext developers"
version = release = astroquery_ext.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.napoleon",
    "sphinx_automodapi.automodapi",
]
numpydoc_show_class_members = False
automodapi_toctreedirnm = "api"
automodsumm_inherited_members = False
autodoc_typehints = "none"
default_role = "obj"
exclude_patterns = ["_build", "_inventories", "api/*.inc", "**.ipynb_checkpoints"]
suppress_warnings = ["config.cache"]

# -- look: the theme of astropy and its affiliated packages (astroquery, pyvo) ----
html_theme = "bootstrap-astropy"
html_static_path = ["_static"]
html_title = f"astroquery-ext {release}"
html_theme_options = {"logotext1": "astroquery", "logotext2": "-ext", "logotext3": ":docs",
                      "astropy_project_menubar": False}
html_sidebars = {"**": ["localtoc.html", "searchbox.html"]}

# -- links to the documentation of Python, numpy, astropy, astroquery, requests ----
# The build works offline: the inventories are made from the text files in
# docs/_inventories/ (see its README). ASTROQUERY_EXT_DOCS_ONLINE=1 tries the
# published inventories first, with these as the fallback.
_DOCS_ROOTS = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "astropy": "https://docs.astropy.org/en/stable/",
    "astroquery": "https://astroquery.readthedocs.io/en/latest/",
    "requests": "https://requests.readthedocs.io/en/latest/",
    "matplotlib": "https://matplotlib.org/stable/",
}


def _inventory(project: str) -> str:
    """docs/_inventories/<project>.txt written as a Sphinx inventory (version 2); its path."""
    import zlib

    here = os.path.dirname(os.path.abspath(__file__))
    lines = []
    with open(os.path.join(here, "_inventories", f"{project}.txt"), encoding="utf-8") as source:
        for line in source:
            if line.strip() and not line.startswith("#"):
                name, role, uri = line.split()
                lines.append(f"{name} {role} 1 {uri} -\n")
    out_dir = os.path.join(here, "_build", "_inventories")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{project}.inv")
    header = f"# Sphinx inventory version 2\n# Project: {project}\n# Version: \n" \
             "# The remainder of this file is compressed using zlib.\n"
    with open(path, "wb") as out:
        out.write(header.encode() + zlib.compress("".join(lines).encode()))
    return path


_online = os.environ.get("ASTROQUERY_EXT_DOCS_ONLINE") == "1"
intersphinx_mapping = {name: (root, ((None,) if _online else ()) + (_inventory(name),))
                       for name, root in _DOCS_ROOTS.items()}
intersphinx_timeout = 10

# -- executed examples ----------------------------------------------------------
# The doctest builder runs every example against a sandbox of the four services.
# Its URLs and credentials reach the examples through environment variables
# (read by doctest_global_setup), and the user state is a temporary directory.
if "doctest" in sys.argv:
    import tempfile

    from astropy.config.paths import set_temp_cache, set_temp_config

    from astroquery_ext.sandbox import Sandbox

    _home = tempfile.mkdtemp(prefix="astroquery-ext-docs-")
    _services = [s for s in ("atlas", "grad300", "glance", "tupli")
                 if os.path.exists(os.path.join(os.path.dirname(astroquery_ext.__file__), "sandbox", f"{s}.py"))]
    # Relaxed mode (docs/sandbox.rst): the pages make more ATLAS requests than production's 100 an hour.
    _sandbox = Sandbox(services=_services, mode="relaxed").start()
    atexit.register(_sandbox.stop)
    for _name in _services:
        os.environ[f"DOCS_{_name.upper()}_URL"] = _sandbox.url(_name)
    _cache = set_temp_cache(os.path.join(_home, "cache"))
    _cache.__enter__()
    _config = set_temp_config(os.path.join(_home, "config"))
    _config.__enter__()
    # Worker processes of docs/processes.rst (spawn, Dask) find the same user
    # state through the environment: astropy reads $XDG_*_HOME/astropy.
    for _kind in ("config", "cache"):
        os.makedirs(os.path.join(_home, _kind, "astropy"), exist_ok=True)
        os.environ[f"XDG_{_kind.upper()}_HOME"] = os.path.join(_home, _kind)
    os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    import keyring
    import keyring.backends.fail
    keyring.set_keyring(keyring.backends.fail.Keyring())
    doctest_global_setup = "import os\nimport warnings\n"
    import doctest as _doctest
    # Printed tables end lines with padding: compare whitespace loosely, as doctestplus does.
    # Only the pages' doctest/testcode directives run here; docstring examples run
    # in the test suite, with their module's namespace.
    doctest_test_doctest_blocks = ""
    doctest_default_flags = (_doctest.ELLIPSIS | _doctest.IGNORE_EXCEPTION_DETAIL
                             | _doctest.DONT_ACCEPT_TRUE_FOR_1 | _doctest.NORMALIZE_WHITESPACE)
