"""Focused regression tests for what the resilience suites found (one per fix)."""

from __future__ import annotations

import pytest

from astroquery_ext.grad300 import Grad300Class


def test_grad300_file_cache_directories_are_private(grad300_sandbox, user_state):
    """Found by the fault matrix: get_scan(cache=True) made <cache>/<id>/files/<server>/<type>/ 0755."""
    grad = Grad300Class(server=grad300_sandbox.url("grad300"))
    grad.login(token=grad300_sandbox.credentials("grad300")["token"])
    row = grad.list_scans("Spectrum", limit=1)[0]
    grad.get_scan(row, cache=True)
    root = grad.cache_location
    paths = [root, *root.rglob("*")]
    assert any(p.suffix == ".fits" for p in paths)
    for path in paths:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
