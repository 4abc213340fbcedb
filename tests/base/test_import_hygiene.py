"""Importing any module of the package makes no network call, prints nothing, changes no global state."""

import json
import subprocess
import sys

SCRIPT = r"""
import json, logging, pkgutil, socket, sys, tarfile, warnings, importlib
def no_network(*args, **kwargs):
    raise AssertionError("network access at import time")
socket.socket.connect = no_network
socket.create_connection = no_network
# Our dependencies set their own filters when imported; what we check is that we add none.
import numpy, requests, keyring, astropy.table, astropy.time, astropy.units, astroquery.query  # noqa
filters = list(warnings.filters)
handlers = list(logging.getLogger().handlers)
extraction = getattr(tarfile.TarFile, "extraction_filter", None)
import pathlib
import astroquery_ext
root = pathlib.Path(astroquery_ext.__file__).parent
# From the file system: pkgutil.walk_packages would import packages while listing them.
names = sorted("astroquery_ext." + ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
               for p in root.rglob("*.py") if p.name != "__main__.py")
names = [n.removesuffix(".__init__") for n in names]
client_modules = [n for n in names if not n.startswith("astroquery_ext.sandbox") and n != "astroquery_ext.demo"]
for name in client_modules:
    importlib.import_module(name)
sandbox_loaded = "astroquery_ext.sandbox" in sys.modules
filters_changed = list(warnings.filters) != filters
for name in names:  # the sandbox and the demo too: they must import silently
    importlib.import_module(name)
print(json.dumps({
    "modules": names,
    "sandbox_loaded_by_clients": sandbox_loaded,
    "filters_changed": filters_changed,
    "handlers_changed": list(logging.getLogger().handlers) != handlers,
    "tarfile_changed": getattr(tarfile.TarFile, "extraction_filter", None) is not extraction,
}))
"""


def test_imports_are_silent_and_side_effect_free():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    *printed, last = result.stdout.strip().splitlines()
    report = json.loads(last)
    assert printed == [], f"importing printed: {printed}"
    assert "astroquery_ext._base.query" in report["modules"]
    assert not report["sandbox_loaded_by_clients"]
    assert not report["filters_changed"]
    assert not report["handlers_changed"]
    assert not report["tarfile_changed"]
