"""What the command line writes cannot be turned against its user.

- ``-o FILE`` is written as downloads are: ``FILE.part`` created exclusively
  without following links, then renamed; a planted ``FILE.part`` link is
  removed, never written through; an existing ``FILE`` keeps its mode.
- What a server sent reaches a terminal with its control characters escaped
  (table cells and error lines); a file written with ``-o`` keeps it as it is.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from astropy.table import Table

from astroquery_ext.sandbox import Sandbox
from tests.resilience.hostile import HostileServer, answer

PASSWORD = "dora-password-1"
#: A window title change (OSC 0 ... BEL) and a colour change (CSI 31 m).
HOSTILE = "calm \x1b]0;owned\x07 then \x1b[31mred"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(services=["tupli"], mode="relaxed") as sb:
        yield sb


@pytest.fixture(scope="module")
def tupli(cli, sandbox, tmp_path_factory):
    cli.secrets.add(PASSWORD)

    def run(*args, **kwargs):
        return cli("tupli", *args, "--server", sandbox.url("tupli"), **kwargs)
    run("signup", "dora", env={"ASTROQUERY_EXT_TUPLI_PASSWORD": PASSWORD})
    run("login", "--username", "dora", env={"ASTROQUERY_EXT_TUPLI_PASSWORD": PASSWORD})
    env = tmp_path_factory.mktemp("bench") / "env.json"
    env.write_text('{"env": "Hostile"}')
    # Another user could have stored this description: the server keeps it as sent.
    run("benchmarks", "store", env, "--name", "hostile", "--description", HOSTILE)
    run.in_terminal = lambda *args: cli.in_terminal("tupli", *args, "--server", sandbox.url("tupli"))
    return run


def _mine(path):
    return [row for row in json.loads(path.read_text()) if row.get("name") == "hostile"]


def test_a_terminal_sees_escape_sequences_escaped(tupli):
    out, err = tupli.in_terminal("benchmarks", "list", "--columns", "name,description")
    assert "\x1b" not in out and "\x07" not in out
    assert r"calm \x1b]0;owned\x07 then \x1b[31mred" in out
    assert "\x1b" not in err


def test_error_lines_show_escape_sequences_escaped(cli):
    # A server's own words come back in the error line: here a hostile one's.
    with HostileServer() as server:
        server.route("/benchmarks/list", answer({"detail": f"failed: {HOSTILE}"}, status=500))
        result = cli("tupli", "benchmarks", "list", "--server", server.url + "/api/", expect=1)
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert r"failed: calm \x1b]0;owned\x07 then \x1b[31mred" in result.stderr


def test_output_files_keep_the_data_as_is(tupli, tmp_path):
    tupli("benchmarks", "list", "-o", tmp_path / "all.json")
    assert [row["description"] for row in _mine(tmp_path / "all.json")] == [HOSTILE]
    tupli("benchmarks", "list", "--columns", "name,description", "-o", tmp_path / "all.ecsv")
    table = Table.read(tmp_path / "all.ecsv", format="ascii.ecsv")
    assert list(table["description"][table["name"] == "hostile"]) == [HOSTILE]
    # A pipe is not a terminal: the bytes go through unchanged as well.
    piped = json.loads(tupli("benchmarks", "list", "--format", "json").stdout)
    assert [r["description"] for r in piped if r["name"] == "hostile"] == [HOSTILE]


def test_a_planted_part_link_is_not_written_through(tupli, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    target = tmp_path / "out.json"
    os.symlink(victim, tmp_path / "out.json.part")
    tupli("benchmarks", "list", "-o", target)
    assert victim.read_text() == "precious\n"
    assert not os.path.lexists(tmp_path / "out.json.part")
    assert not target.is_symlink() and len(_mine(target)) == 1


def test_a_planted_target_link_is_replaced_not_followed(tupli, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    os.symlink(victim, tmp_path / "out.json")
    tupli("benchmarks", "list", "-o", tmp_path / "out.json")
    assert victim.read_text() == "precious\n" and not (tmp_path / "out.json").is_symlink()


@pytest.mark.parametrize("mode", [0o600, 0o640])
def test_an_existing_file_keeps_its_mode(tupli, tmp_path, mode):
    target = tmp_path / "mine.csv"
    target.write_text("old\n")
    target.chmod(mode)
    tupli("benchmarks", "list", "-o", target)
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert target.read_text() != "old\n" and not os.path.lexists(tmp_path / "mine.csv.part")


def test_a_failed_write_leaves_the_target_as_it_was(tupli, tmp_path):
    target = tmp_path / "kept.json"
    target.write_text("old\n")
    tupli("benchmarks", "show", "no-such-id", "-o", target, expect=1)
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["kept.json"]
