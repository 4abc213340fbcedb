"""``astroquery-ext tupli ...`` against the Tupli sandbox (pytupli's own server), in subprocesses."""

import json

import pytest
from astropy.table import Table

from astroquery_ext.sandbox import Sandbox

PASSWORD = "carol-password-1"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(services=["tupli"]) as sb:
        yield sb


def _runner(cli, sandbox):
    def run(*args, **kwargs):
        return cli("tupli", *args, "--server", sandbox.url("tupli"), **kwargs)
    return run


@pytest.fixture(scope="module")
def tupli(cli, sandbox):
    cli.secrets.update({PASSWORD, sandbox.credentials("tupli")["password"]})
    run = _runner(cli, sandbox)
    created = json.loads(run("signup", "carol", env={"ASTROQUERY_EXT_TUPLI_PASSWORD": PASSWORD}).stdout)
    assert created["username"] == "carol"
    run("login", "--username", "carol", env={"ASTROQUERY_EXT_TUPLI_PASSWORD": PASSWORD})
    return run


def test_whoami(tupli):
    assert tupli("whoami").stdout.strip() == "carol"


def test_anonymous_read_login_logout(fresh_cli, sandbox, tupli):
    run = _runner(fresh_cli, sandbox)
    public = json.loads(run("benchmarks", "list", "--format", "json").stdout)
    assert [b["name"] for b in public] == ["sandbox-cartpole"]
    run("whoami", expect=1)
    assert "log" in run("groups", "create", "nope", expect=1).stderr.lower()       # writes need a login
    run("login", "--username", "carol", env={"ASTROQUERY_EXT_TUPLI_PASSWORD": PASSWORD})
    assert "logged out carol" in run("logout").stderr
    run("whoami", expect=1)


def test_benchmarks_artifacts_episodes(tupli, tmp_path):
    (tmp_path / "env.json").write_text('{"env": "GridWorld", "size": 9}')
    header = json.loads(tupli("benchmarks", "store", tmp_path / "env.json", "--name", "grid9",
                              "--difficulty", "easy", "--extra", '{"size": 9}').stdout)
    bench = header["id"]
    assert json.loads(tupli("benchmarks", "show", bench).stdout)["serialized"] == '{"env": "GridWorld", "size": 9}'
    assert "already exists" in tupli("benchmarks", "store", "-", "--name", "grid9", "--difficulty", "easy",
                                     "--extra", '{"size": 9}', input='{"env": "GridWorld", "size": 9}',
                                     expect=1).stderr              # HTTP 409, one line
    mine = json.loads(tupli("benchmarks", "list", "--where", "metadata.name=grid9", "--format", "json").stdout)
    assert [b["id"] for b in mine] == [bench]

    (tmp_path / "returns.csv").write_text("episode,return\n0,2.0\n")
    item = json.loads(tupli("artifacts", "upload", tmp_path / "returns.csv", "--benchmark-id", bench).stdout)
    listed = json.loads(tupli("artifacts", "list", "--filter",
                              json.dumps({"type": "EQ", "key": "benchmark_id", "value": bench}), "--format", "json").stdout)
    assert [a["id"] for a in listed] == [item["id"]]
    saved = tupli("artifacts", "download", item["id"], "-o", tmp_path / "copy.csv").stdout.strip()
    assert open(saved).read() == "episode,return\n0,2.0\n"
    tupli("artifacts", "delete", item["id"])
    tupli("benchmarks", "delete", bench)

    # Episodes of the sample benchmark: one row each, and their steps with array columns.
    episodes = Table.read(tupli("episodes", "list", "--where", "metadata.agent=random", "--format", "ecsv").stdout,
                          format="ascii.ecsv")
    assert len(episodes) == 3
    steps = Table.read(tupli("episodes", "tuples", "--episode", episodes["id"][0], "--format", "ecsv").stdout,
                       format="ascii.ecsv")
    assert steps["state"].ndim == 2 and len(steps) == episodes["n_tuples"][0]
    every = Table.read(tupli("episodes", "tuples", "--benchmark-id", episodes["benchmark_id"][0],
                             "--format", "csv").stdout, format="ascii.csv")
    assert len(every) == sum(episodes["n_tuples"]) and json.loads(every["state"][0])   # arrays as JSON text


def test_groups(tupli):
    assert "team" in tupli("groups", "list").stdout
    assert json.loads(tupli("groups", "create", "lab", "--description", "my lab").stdout)["name"] == "lab"
    tupli("groups", "add", "lab", "bob:member")
    assert "bob" in json.loads(tupli("groups", "show", "lab").stdout)["members"]
    assert json.loads(tupli("groups", "remove", "lab", "bob").stdout)["members"] == ["carol"]
    tupli("groups", "delete", "lab")


def test_refusals(tupli):
    assert "JSON" in tupli("benchmarks", "list", "--filter", "[1", expect=1).stderr
    tupli("benchmarks", "list", "--where", "novalue", expect=2)


def test_download_to_a_folder_keeps_the_server_file_name(tupli, tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\x00\x01weights")
    item = json.loads(tupli("artifacts", "upload", tmp_path / "weights.bin").stdout)
    # "models/" does not exist: it is made, and the artifact keeps its name inside it.
    saved = tupli("artifacts", "download", item["id"], "-o", f"{tmp_path / 'models'}/").stdout.strip()
    assert saved == str(tmp_path / "models" / "weights.bin")
    assert (tmp_path / "models" / "weights.bin").read_bytes() == b"\x00\x01weights"
    # An existing directory without the slash is a folder too; a new name without it is a file.
    (tmp_path / "again").mkdir()
    assert tupli("artifacts", "download", item["id"], "-o", tmp_path / "again").stdout.strip() == \
        str(tmp_path / "again" / "weights.bin")
    assert tupli("artifacts", "download", item["id"], "-o", tmp_path / "copy").stdout.strip() == \
        str(tmp_path / "copy")
    tupli("artifacts", "delete", item["id"])


def test_columns_of_lists(tupli):
    groups = Table.read(tupli("groups", "list", "--columns", "name", "--format", "csv").stdout, format="ascii.csv")
    assert groups.colnames == ["name"] and "team" in list(groups["name"])
    plain = tupli("episodes", "list", "--columns", "id,n_tuples").stdout.splitlines()
    assert plain[0].split() == ["id", "n_tuples"]


def test_output_to_fits_gz_is_compressed(tupli, tmp_path):
    tupli("benchmarks", "list", "-o", tmp_path / "benchmarks.fits.gz")
    path = tmp_path / "benchmarks.fits.gz"
    assert path.read_bytes()[:2] == b"\x1f\x8b"  # gzip, not a plain FITS file under a .gz name
    assert "sandbox-cartpole" in set(Table.read(path)["name"])
