"""``dev.py test`` runs every step (tests, docs, dist) even after one failed, and says which passed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dev():
    spec = importlib.util.spec_from_file_location("dev_script", ROOT / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fail(dev):
    return lambda: dev.run([sys.executable, "-c", "raise SystemExit(3)"])


def test_a_failed_step_does_not_hide_the_others(dev, capsys):
    ran = []
    with pytest.raises(SystemExit, match="FAILED: tests did not pass"):
        dev.run_steps([("tests", _fail(dev)), ("docs", lambda: ran.append("docs")),
                       ("dist", lambda: ran.append("dist"))])
    err = capsys.readouterr().err
    assert ran == ["docs", "dist"]
    assert "tests  FAILED" in err and "docs   passed" in err and "dist   passed" in err


def test_a_step_that_never_ran_is_named(dev, capsys):
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit, match="FAILED: docs, dist did not pass"):
        dev.run_steps([("tests", lambda: None), ("docs", interrupted), ("dist", lambda: None)])
    err = capsys.readouterr().err
    assert "docs   INTERRUPTED" in err and "dist   NOT RUN" in err


def test_all_steps_passed_is_said(dev, capsys):
    dev.run_steps([("tests", lambda: None), ("docs", lambda: None), ("dist", lambda: None)])
    assert "all 3 steps passed (tests, docs, dist)" in capsys.readouterr().err
