"""The sandbox's modes (production by default, relaxed by name) and the clients it offers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import astroquery_ext
from astroquery_ext.atlas import AtlasClass
from astroquery_ext.glance import GlanceClass
from astroquery_ext.sandbox import Sandbox, _modes


def test_modes_are_checked_before_anything_starts():
    with pytest.raises(ValueError, match="unknown sandbox mode 'lenient'.*'production'.*'relaxed'"):
        Sandbox(services=["testbed"], mode="lenient")
    with pytest.raises(ValueError, match="mode names services not started: glance"):
        Sandbox(services=["testbed"], mode={"glance": "relaxed"})


def test_options_are_the_mode_then_what_is_given():
    sb = Sandbox(services={"atlas": {"throttle_rate": 7}, "glance": {}}, mode={"glance": "relaxed"})
    assert sb.mode("atlas") == "production" and sb.mode("glance") == "relaxed"
    assert sb.options("atlas")["throttle_rate"] == 7 and sb.options("atlas")["null_as_absent"] is False
    assert sb.options("glance")["quirks"] == [] and sb.options("glance")["password_grant"] is True
    relaxed = Sandbox(services={"atlas": {"throttle_rate": 7}}, mode="relaxed")
    assert relaxed.options("atlas")["throttle_rate"] == 7 and relaxed.options("atlas")["null_as_absent"] is True


def test_every_difference_names_its_evidence():
    assert {d.service for d in _modes.DIFFERENCES} == {"atlas", "glance", "grad300"}
    for d in _modes.DIFFERENCES:
        assert d.production != d.relaxed and d.what and d.evidence
    assert all(len(entry) == 3 and all(entry) for entry in _modes.FIXED)


def test_the_sandbox_offers_clients(testbed_sandbox):
    # The clients stop knowing the sandbox: no from_sandbox on any of them.
    assert not hasattr(GlanceClass, "from_sandbox")
    for path in Path(astroquery_ext.__file__).parent.rglob("*.py"):
        if "sandbox" not in path.parts and path.name != "demo.py" and "cli" not in path.parts:
            assert "from_sandbox" not in path.read_text(), path
    with pytest.raises(ValueError, match="offers clients of atlas, grad300, glance, tupli, not 'testbed'"):
        testbed_sandbox.client("testbed")


def test_glance_client_points_at_the_sandbox_provider(glance_sandbox):
    client = glance_sandbox.client("glance", timeout=7)
    info = glance_sandbox.info("glance")
    assert isinstance(client, GlanceClass) and client.server == glance_sandbox.url("glance")
    assert client._endpoints().token_endpoint == info["token_endpoint"] and client.timeout == 7


def test_atlas_client(atlas_sandbox):
    client = atlas_sandbox.client("atlas")
    assert type(client) is AtlasClass and client.server == atlas_sandbox.url("atlas")


def test_python_m_sandbox_prints_each_services_mode(tmp_path):
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    proc = subprocess.Popen([sys.executable, "-m", "astroquery_ext.sandbox", "--services", "atlas", "testbed",
                             "--mode", "atlas=relaxed", "--options", '{"atlas": {"n_objects": 10, "prewarm": false}}'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if len(lines) >= 5:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    text = "".join(lines)
    assert re.search(r"atlas\s+http://127\.0\.0\.1:\d+/api/\s+\(relaxed mode: throttle_rate=100000, "
                     r"anon_throttle_rate=1000, null_as_absent=True\)", text), text
    assert re.search(r"testbed\s+http://127\.0\.0\.1:\d+/\S*\s+\(production mode\)", text), text
    bad = subprocess.run([sys.executable, "-m", "astroquery_ext.sandbox", "--mode", "loose"],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "bad --mode 'loose'" in bad.stderr


def test_docs_table_lists_every_difference():
    page = (Path(__file__).parents[2] / "docs" / "sandbox.rst").read_text()
    table = page[page.index("What differs between the modes"):page.index("What the sandbox now does")]
    for d in _modes.DIFFERENCES:
        assert f"``{d.option}``" in table, d.option
    fixed = page[page.index("What the sandbox now does"):page.index("Where the sandbox still differs")]
    assert fixed.count("   * - ") == len(_modes.FIXED) + 1  # one per row, and the header
    unlike = page[page.index("Where the sandbox still differs"):page.index("Each row has a test")]
    assert unlike.count("   * - ") == len(_modes.UNLIKE) + 1
