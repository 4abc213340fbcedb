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
