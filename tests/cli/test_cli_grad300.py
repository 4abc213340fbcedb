"""``astroquery-ext grad300 ...`` against the GRAD300 sandbox, in subprocesses."""

import json

import pytest
from astropy.table import Table
from astropy.time import Time

from astroquery_ext.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(services=["grad300"]) as sb:
        yield sb


def _runner(cli, sandbox):
    def run(*args, **kwargs):
        return cli("grad300", *args, "--server", sandbox.url("grad300"), **kwargs)
    run.creds = sandbox.credentials("grad300")
    run.password = {"ASTROQUERY_EXT_GRAD300_PASSWORD": run.creds["password"]}
    run.cli, run.server = cli, sandbox.url("grad300")
    return run


@pytest.fixture(scope="module")
def grad(cli, sandbox):
    run = _runner(cli, sandbox)
    cli.secrets.update({run.creds["password"], run.creds["token"]})
    run("login", "--username", run.creds["username"], env=run.password)
    return run


def test_whoami_logs_in_with_the_stored_password(grad):
    # The password went to the (file) keyring at login: later commands log in on their own.
    assert grad("whoami").stdout.strip() == grad.creds["email"]


def test_login_refusals_and_logout(fresh_cli, sandbox, grad):
    run = _runner(fresh_cli, sandbox)
    assert "grad300 login" in run("whoami", expect=1).stderr
    # No password anywhere and no terminal: a clear refusal, not a hanging prompt.
    assert "ASTROQUERY_EXT_GRAD300_PASSWORD" in run("login", "--username", run.creds["username"], expect=1).stderr
    assert "Incorrect" in run("login", "--username", run.creds["username"],
                              env={"ASTROQUERY_EXT_GRAD300_PASSWORD": "wrong-password"}, expect=1).stderr
    run("login", "--username", run.creds["username"], env=run.password)
    run("logout")
    run("whoami", expect=1)


def test_query_formats(grad):
    plain = grad("query", "--type", "TPI", "--source", "casa").stdout
    assert "casa" in plain and "file_name" in plain
    table = Table.read(grad("query", "--type", "TPI", "--source", "casa", "--format", "ecsv").stdout,
                       format="ascii.ecsv")
    assert set(table["source"]) == {"casa"} and isinstance(table["date"], Time) and table["ra"].unit == "deg"
    grad("query", "--from", "not a date", expect=1)


def test_download_by_id_and_by_query(grad, tmp_path):
    result = grad("download", "--type", "TPI", "--id", "3", "-o", tmp_path, "--format", "json")
    [row] = json.loads(result.stdout)
    assert row["status"] == "downloaded" and (tmp_path / row["file_name"]).stat().st_size == row["bytes"]
    again = json.loads(grad("download", "--type", "OnOff", "--limit", "2", "-o", tmp_path, "--format", "json").stdout)
    assert [r["status"] for r in again] == ["downloaded", "downloaded"]
    failed = grad("download", "--type", "TPI", "--id", "99999", "-o", tmp_path, "--format", "csv", expect=1)
    assert Table.read(failed.stdout, format="ascii.csv")["status"][0] == "error"     # the manifest still comes
    grad("download", "-o", tmp_path, expect=2)                                        # nothing selected
    grad("download", "--id", "3", "-o", tmp_path, expect=2)                           # id without type


def test_wide_tables_fit_the_terminal(grad):
    # On a terminal 80 characters wide: lines fit, middle columns give way, and stderr says how to see them.
    out, err = grad.cli.in_terminal("grad300", "query", "--type", "TPI", "--server", grad.server, columns=80)
    lines = out.splitlines()
    assert lines and all(len(line) <= 80 for line in lines)
    assert "..." in lines[0]
    assert "columns fit the terminal" in err and "--columns" in err and "--format" in err
    # Piped (a script, a file): every column, however long the lines.
    piped = grad("query", "--type", "TPI").stdout.splitlines()
    assert max(map(len, piped)) > 80 and "file_name" in piped[0] and "..." not in piped[0]


def test_download_folder_is_made_and_manifest_columns(grad, tmp_path):
    target = tmp_path / "new" / "scans"
    result = grad("download", "--type", "TPI", "--id", "3", "-o", target, "--format", "csv",
                  "--columns", "status,file_name")
    manifest = Table.read(result.stdout, format="ascii.csv")
    assert manifest.colnames == ["status", "file_name"] and manifest["status"][0] in ("downloaded", "exists")
    assert (target / manifest["file_name"][0]).is_file()


def test_grad300_errors_name_commands(fresh_cli, sandbox):
    run = _runner(fresh_cli, sandbox)
    error = run("query", "--type", "TPI", expect=1).stderr
    assert "'astroquery-ext grad300 login --username EMAIL" in error and "Grad300.login" not in error


def test_limit_is_the_total_and_help_says_so(grad):
    assert "the total over every scan type" in " ".join(grad("query", "--help").stdout.split())
    scans = json.loads(grad("query", "--limit", "3", "--format", "json").stdout)
    assert len(scans) == 3                      # 3 in all (per scan type it would be 3 of each of 4 types)
