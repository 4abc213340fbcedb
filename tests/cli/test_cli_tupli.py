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


# -- users, roles, recording episodes (pytupli's whole command line) ----------------------------------


@pytest.fixture(scope="module")
def admin(tmp_path_factory, cli, sandbox):
    """Another HOME, logged in as the sandbox's admin."""
    from tests.cli.conftest import CLI

    runner = CLI(tmp_path_factory.mktemp("admin-home"))
    password = sandbox.credentials("tupli", "admin")["password"]
    runner.secrets = cli.secrets
    runner.secrets.add(password)
    run = _runner(runner, sandbox)
    run("login", "--username", "admin", env={"ASTROQUERY_EXT_TUPLI_PASSWORD": password})
    yield run
    runner.assert_no_secrets()


def test_help_of_each_new_command(tupli):
    for words in (("users", "list"), ("users", "change-password"), ("users", "delete"), ("roles", "list"),
                  ("roles", "create"), ("roles", "delete"), ("episodes", "record")):
        assert "usage: astroquery-ext tupli " + " ".join(words) in tupli(*words, "--help").stdout
    assert "never from the command line" in tupli("users", "change-password", "--help").stdout


def test_users_and_roles(admin, tupli):
    users = json.loads(admin("users", "list", "--format", "json").stdout)
    assert {"alice", "carol", "admin"} <= {u["username"] for u in users}
    created = json.loads(admin("roles", "create", "reviewer", "--rights", "benchmark_read,episode_read",
                               "--rights", "artifact_read", "--description", "reads").stdout)
    assert created["role"] == "reviewer" and sorted(created["rights"]) == ["artifact_read", "benchmark_read",
                                                                            "episode_read"]
    roles = Table.read(admin("roles", "list", "--format", "ecsv").stdout, format="ascii.ecsv")
    assert "reviewer" in list(roles["role"])
    assert "rights must be" in admin("roles", "create", "flyer", "--rights", "fly", expect=1).stderr
    assert "HTTP 403" in tupli("roles", "list", expect=1).stderr                # admin only
    admin("roles", "delete", "reviewer")
    roles = json.loads(admin("roles", "list", "--format", "json").stdout)
    assert "reviewer" not in [r["role"] for r in roles]


def test_change_password_and_delete_yourself(fresh_cli, sandbox, tupli):
    run = _runner(fresh_cli, sandbox)
    old, new = "dave-password-1", "dave-password-2"
    fresh_cli.secrets.update({old, new})
    run("signup", "dave", env={"ASTROQUERY_EXT_TUPLI_PASSWORD": old})
    run("login", "--username", "dave", env={"ASTROQUERY_EXT_TUPLI_PASSWORD": old})
    run("users", "change-password", "dave", "argv-password", expect=2)        # never from the command line
    refused = run("users", "change-password", "dave", expect=1).stderr         # no terminal, no variable
    assert "ASTROQUERY_EXT_TUPLI_NEW_PASSWORD" in refused
    assert "changed" in run("users", "change-password", "dave",
                            env={"ASTROQUERY_EXT_TUPLI_NEW_PASSWORD": new}).stderr
    run("login", "--username", "dave", "--no-store", env={"ASTROQUERY_EXT_TUPLI_PASSWORD": old}, expect=1)
    run("login", "--username", "dave", env={"ASTROQUERY_EXT_TUPLI_PASSWORD": new})
    assert "logged out" in run("users", "delete", "dave").stderr
    run("whoami", expect=1)
    run("login", "--username", "dave", "--no-store", env={"ASTROQUERY_EXT_TUPLI_PASSWORD": new}, expect=1)


def _steps(n, seed=0):
    return [{"state": [float(seed + i), 0.5], "action": [i % 2], "reward": 1.0 * i, "terminal": i == n - 1,
             "timeout": False, "info": {"t": i}} for i in range(n)]


def test_episodes_record_from_json_lines(tupli, tmp_path):
    bench = json.loads(tupli("benchmarks", "store", "-", "--name", "rec-jsonl", input='{"env": "rec"}').stdout)["id"]
    path = tmp_path / "steps.jsonl"
    path.write_text("\n".join(json.dumps(s) for s in _steps(4)) + "\n\n")
    recorded = json.loads(tupli("episodes", "record", path, "--benchmark-id", bench, "--metadata",
                                '{"agent": "cli"}', "--format", "json").stdout)
    assert [(e["benchmark_id"], e["n_tuples"], e["terminated"]) for e in recorded] == [(bench, 4, True)]
    steps = json.loads(tupli("episodes", "tuples", "--episode", recorded[0]["id"], "--format", "json").stdout)
    assert [s["state"] for s in steps] == [s["state"] for s in _steps(4)]
    assert [s["info"] for s in steps] == [{"t": i} for i in range(4)]
    listed = json.loads(tupli("episodes", "list", "--benchmark-id", bench, "--format", "json").stdout)
    assert [e["metadata"] for e in listed] == [{"agent": "cli"}]
    # Standard input, and a JSON array (what 'episodes tuples --format json' writes) work the same.
    again = json.loads(tupli("episodes", "record", "-", "--benchmark-id", bench, "--format", "json",
                             input=json.dumps(_steps(2, seed=9))).stdout)
    assert again[0]["n_tuples"] == 2
    path.write_text('{"state": [1], "action": [0], "reward": 1}\n{"state": [2], "action"\n')
    assert "line 2" in tupli("episodes", "record", path, "--benchmark-id", bench, expect=1).stderr
    path.write_text('{"state": [1], "action": [0]}\n')
    assert "reward" in tupli("episodes", "record", path, "--benchmark-id", bench, expect=1).stderr
    assert len(json.loads(tupli("episodes", "list", "--benchmark-id", bench, "--format", "json").stdout)) == 2
    tupli("benchmarks", "delete", bench)


@pytest.mark.parametrize("suffix", ["ecsv", "fits"])
def test_episodes_record_what_episodes_tuples_wrote(tupli, tmp_path, suffix):
    sample = json.loads(tupli("episodes", "list", "--where", "metadata.agent=random", "--format", "json").stdout)
    source = sample[0]["benchmark_id"]
    bench = json.loads(tupli("benchmarks", "store", "-", "--name", f"rec-{suffix}",
                             input=f'{{"env": "{suffix}"}}').stdout)["id"]
    tupli("episodes", "tuples", "--benchmark-id", source, "-o", tmp_path / f"steps.{suffix}")
    recorded = json.loads(tupli("episodes", "record", tmp_path / f"steps.{suffix}", "--benchmark-id", bench,
                                "--format", "json").stdout)
    # One episode per episode_id of the file, in order, each with its steps.
    by_source = {e["id"]: e["n_tuples"] for e in json.loads(
        tupli("episodes", "list", "--benchmark-id", source, "--format", "json").stdout)}
    assert sorted(e["n_tuples"] for e in recorded) == sorted(by_source.values())
    original = json.loads(tupli("episodes", "tuples", "--benchmark-id", source, "--format", "json").stdout)
    copied = json.loads(tupli("episodes", "tuples", "--benchmark-id", bench, "--format", "json").stdout)
    key = lambda s: (s["state"], s["reward"])  # noqa: E731
    assert sorted(map(key, copied)) == sorted(map(key, original))
    for episode in recorded:
        tupli("episodes", "delete", episode["id"])
    tupli("benchmarks", "delete", bench)
