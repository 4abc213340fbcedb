"""``astroquery-ext glance ...`` against the Glance sandbox and its OIDC provider, in subprocesses."""

import io
import json
import subprocess

import pytest
import requests
from astropy.table import Table

from astroquery_ext.sandbox import Sandbox

@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(services=["glance"]) as sb:
        yield sb


def _runner(cli, sandbox):
    info = sandbox.info("glance")
    where = ["--server", sandbox.url("glance"), "--issuer", info["issuer"], "--web-url", info["web_base_url"]]

    def run(*args, **kwargs):
        return cli("glance", *args, *where, **kwargs)
    run.popen = lambda *args, **kw: cli.popen("glance", *args, *where, stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, **kw)
    run.cli, run.info = cli, info
    return run


def _url_from(process) -> str:
    """The first address the login prints on stderr."""
    for line in process.stderr:
        for word in line.split():
            if word.startswith("http"):
                return word
    raise AssertionError("no URL was printed")


def _finish(process, glance) -> None:
    out, err = process.communicate(timeout=60)
    glance.cli.record(out, err)
    assert process.returncode == 0, err
    assert out == ""


def _device_login(glance) -> None:
    login = glance.popen("login", "--device")
    url = _url_from(login)                          # the verification page; the sandbox approves on sight
    assert requests.get(url, timeout=30).status_code == 200
    _finish(login, glance)


@pytest.fixture(scope="module")
def glance(cli, sandbox):
    cli.secrets.add(sandbox.credentials("glance")["password"])
    run = _runner(cli, sandbox)
    _device_login(run)
    return run


def test_whoami_after_device_login(glance):
    assert glance("whoami").stdout.strip() == "alice"


def test_search_formats(glance):
    query = 'status = "Phase 0 Active" AND groups.leadingGroup.name in [SUSY, EXOT]'
    plain = glance("search", "analyses", query, "--sort-by", "referenceCode", "--limit", "20").stdout
    header = plain.splitlines()[0].split()
    assert header == ["referenceCode", "status", "shortTitle", "web_url"]
    records = json.loads(glance("search", "analyses", query, "--sort-by", "referenceCode", "--format", "json").stdout)
    codes = [r["referenceCode"] for r in records]
    assert codes == sorted(codes) and all(r["status"] == "Phase 0 Active" for r in records)
    assert isinstance(records[0]["metadata.keywords.name"], list) and "record" not in records[0]
    ecsv = Table.read(glance("search", "analysis", "-q", query, "--format", "ecsv").stdout, format="ascii.ecsv")
    assert sorted(ecsv["referenceCode"]) == codes and isinstance(ecsv["metadata.keywords.name"][0], list)
    vot = glance("search", "triggers", "year = 2018", "--format", "votable").stdout
    assert set(Table.read(io.BytesIO(vot.encode()), format="votable")["year"].astype(str)) == {"2018"}
    picked = glance("search", "confnotes", "--limit", "3", "--columns", "temporaryReferenceCode,status",
                    "--format", "csv")
    assert Table.read(picked.stdout, format="ascii.csv").colnames == ["temporaryReferenceCode", "status"]
    assert "--limit 3" in picked.stderr                       # the truncation warning, in CLI terms


def test_get_and_open(glance):
    code = glance.info["known"]["analysis"][0]
    record = json.loads(glance("get", "analysis", code).stdout)
    assert record["referenceCode"] == code
    final = glance.info["known"]["confnote_final"]
    assert json.loads(glance("get", "confnote", final["finalReferenceCode"]).stdout)["temporaryReferenceCode"] \
        == final["temporaryReferenceCode"]
    url = glance("open", "analysis", code).stdout.strip()
    assert url.startswith(glance.info["web_base_url"]) and url.endswith(code)
    assert requests.get(url, timeout=30).status_code == 200


def test_refusals(glance):
    assert "did you mean 'referenceCode'" in glance("search", "analyses", "referenceCod = x", expect=1).stderr
    assert "no analysis has the reference code" in glance("get", "analysis", "ANA-NONE-1999-01", expect=1).stderr
    glance("search", "widgets", expect=2)
    glance("open", "publication", "X", expect=2)


def test_browser_and_manual_logins_and_logout(fresh_cli, sandbox, glance):
    run = _runner(fresh_cli, sandbox)
    run("whoami", expect=1)
    # --no-browser: the URL is printed; a "browser" (requests) follows it back to the loopback callback.
    login = run.popen("login", "--no-browser", "--offline", "--port", "0")
    assert requests.get(_url_from(login), timeout=30).status_code == 200
    _finish(login, run)
    assert run("whoami").stdout.strip() == "alice"
    # --manual: the address the browser ends on is pasted back on stdin.
    login = run.popen("login", "--manual", "--force", stdin=subprocess.PIPE)
    answer = requests.get(_url_from(login), allow_redirects=False, timeout=30)
    out, err = login.communicate(answer.headers["Location"] + "\n", timeout=60)
    fresh_cli.record(out, err)
    assert login.returncode == 0, err
    assert "logged out" in run("logout").stderr
    run("whoami", expect=1)


def test_later_commands_use_the_login_service_of_the_stored_login(fresh_cli, sandbox, glance):
    run = _runner(fresh_cli, sandbox)
    _device_login(run)                        # with --issuer (the sandbox's own login service)

    def bare(*args, **kwargs):                # no --issuer: the one of the login is used
        return fresh_cli("glance", *args, "--server", sandbox.url("glance"), **kwargs)

    assert bare("whoami").stdout.strip() == "alice"
    codes = json.loads(bare("search", "analyses", "--limit", "2", "--format", "json").stdout)
    assert len(codes) == 2
    assert "logged out" in bare("logout").stderr
    error = bare("whoami", expect=1).stderr
    assert "'astroquery-ext glance login --server" in error and "Glance.login" not in error
    run("whoami", expect=1)                   # the session is gone at the issuer too


def test_fits_votable_ecsv_files_read_back_as_the_module_returns_them(glance, tmp_path):
    # Glance tables hold lists and times: each file is written by the result table's own writer.
    from astroquery_ext.results import ResultTable

    query = 'status = "Phase 0 Active"'
    records = json.loads(glance("search", "analyses", query, "--sort-by", "referenceCode", "--format", "json").stdout)
    for name in ("hits.fits", "hits.xml", "hits.ecsv"):
        result = glance("search", "analyses", query, "--sort-by", "referenceCode", "-o", tmp_path / name)
        assert "warning" not in result.stderr, result.stderr
        back = ResultTable.read(tmp_path / name)
        assert list(back["referenceCode"]) == [r["referenceCode"] for r in records], name
        assert [list(v) for v in back["metadata.keywords.name"]] == \
            [r["metadata.keywords.name"] for r in records], name
