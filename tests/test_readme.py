"""The README's tour runs against the sandbox and shows what it shows there.

Every ```python block of README.md with ``>>>`` prompts is run as a doctest
(ELLIPSIS, NORMALIZE_WHITESPACE), with the module singletons pointed at the
sandbox through their ``conf`` and the credentials in the environment, as a
user's would be, in an empty working directory.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

from astroquery_ext.atlas import conf as atlas_conf

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks(text: str) -> list[str]:
    return [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if ">>>" in b]


def test_the_readme_has_a_tour():
    assert python_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_tour_runs_against_the_sandbox(atlas_sandbox, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASTROQUERY_EXT_ATLAS_TOKEN", atlas_sandbox.credentials("atlas")["token"])
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs: dict = {}
    with atlas_conf.set_temp("server", atlas_sandbox.url("atlas")):
        for i, block in enumerate(python_blocks(README.read_text(encoding="utf-8"))):
            test = parser.get_doctest(block, globs, f"README block {i}", str(README), 0)
            runner.run(test, out=lambda text: pytest.fail(f"README block {i}:\n{text}"))
    assert runner.summarize(verbose=False).attempted > 0
    assert (tmp_path / "curves.fits").exists()
