"""``astroquery-ext atlas ...`` against the ATLAS sandbox, in subprocesses."""

import io
import json

import numpy as np
import pytest
from astropy.table import Table

from astroquery_ext.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(mode="relaxed", services={"atlas": {"n_objects": 120}}) as sb:
        yield sb


def _runner(cli, sandbox):
    def run(*args, **kwargs):
        return cli("atlas", *args, "--server", sandbox.url("atlas"), **kwargs)
    run.creds = sandbox.credentials("atlas")
    run.info = sandbox.info("atlas")
    return run


@pytest.fixture(scope="module")
def atlas(cli, sandbox):
    """Logged in with a password from the environment; the token is stored for the next commands."""
    run = _runner(cli, sandbox)
    cli.secrets.update({run.creds["token"], run.creds["password"]})
    run("login", "--username", run.creds["username"], env={"ASTROQUERY_EXT_ATLAS_PASSWORD": run.creds["password"]})
    return run


def test_whoami(atlas):
    assert atlas("whoami").stdout.strip() == atlas.creds["username"]


def test_login_with_token_from_stdin_and_logout(fresh_cli, sandbox, atlas):
    run = _runner(fresh_cli, sandbox)
    result = run("login", "--token", "-", input=run.creds["token"] + "\n")
    assert "logged in" in result.stderr and result.stdout == ""
    assert "user name unknown" in run("whoami").stdout
    assert "logged out" in run("logout").stderr
    run("whoami", expect=1)


def test_cone_search_formats(atlas):
    pair = atlas.info["fixture_pair"]
    where = [str(pair["ra"]), str(pair["dec"])]
    plain = atlas("cone", *where, "1arcmin").stdout
    assert str(pair["ids"][0]) in plain and "separation" in plain
    records = json.loads(atlas("cone", *where, "60", "--format", "json").stdout)
    assert [r["atlas_id"] for r in records] == pair["ids"]          # int64 ids stay exact in JSON
    assert records[1]["name"] is None                               # masked -> null
    count = Table.read(atlas("cone", *where, "60", "--type", "count", "--format", "csv").stdout,
                       format="ascii.csv")
    assert count["count"][0] == 2


def test_light_curves_to_files_round_trip(atlas, tmp_path):
    ids = [str(i) for i in atlas.info["fixture_pair"]["ids"]]
    result = atlas("lightcurves", *ids, "-o", tmp_path / "lc.ecsv")
    assert result.stdout == "" and "rows to" in result.stderr
    lc = Table.read(tmp_path / "lc.ecsv")
    assert lc["atlas_id"].dtype == np.int64 and set(lc["atlas_id"]) == {int(i) for i in ids}
    assert lc["mag"].unit == "mag" and lc["detected"].dtype == bool
    vot = atlas("lightcurves", "--ids-file", "-", "--format", "votable", input="\n".join(ids) + "\n").stdout
    assert len(Table.read(io.BytesIO(vot.encode()), format="votable")) == len(lc)
    fp = json.loads(atlas("lightcurves", str(atlas.info["object_with_fp"]), "--forced", "--format", "json").stdout)
    assert fp and {"uJy", "duJy", "mjd"} <= set(fp[0])


def test_objects_and_lists(atlas):
    first = str(atlas.info["fixture_pair"]["ids"][0])
    objects = Table.read(atlas("objects", first, "--format", "ecsv").stdout, format="ascii.ecsv")
    assert objects["atlas_id"].tolist() == [int(first)]
    members = Table.read(atlas("list", "vra", "--custom", "--format", "csv").stdout, format="ascii.csv")
    assert len(members) > 0
    good = json.loads(atlas("list", "good", "--vra-min", "5", "--format", "json").stdout)
    assert all(row["vra"] >= 5 for row in good)


def test_refusals(atlas):
    assert "300 arcsec" in atlas("cone", "0", "0", "900", expect=1).stderr            # argument check
    assert "not an ATLAS object id" in atlas("lightcurves", "12", expect=1).stderr
    atlas("cone", "0", "0", expect=2)                                                   # usage
    atlas("cone", "0", "0", "5", "-o", "out.xlsx", expect=2)


def test_service_error_is_one_line(fresh_cli, sandbox, atlas):
    # A token the server does not know: HTTP 401, one line, exit 1; the token is never shown.
    run = _runner(fresh_cli, sandbox)
    wrong = "0123456789abcdef0123456789abcdef01234567"
    fresh_cli.secrets.add(wrong)
    run("login", "--token", "-", input=wrong + "\n")
    error = run("cone", "0", "0", "5", "--no-cache", expect=1).stderr
    assert "401" in error or "log in" in error.lower()


def test_negative_sexagesimal_dec_needs_no_double_dash(atlas):
    from astropy.coordinates import Angle

    south = [r for r in json.loads(atlas("list", "good", "--format", "json").stdout) if r["dec"] < -1]
    assert south, "the sandbox's good list has southern objects"
    target = south[0]
    ra = Angle(target["ra"], "deg").to_string(unit="hourangle", sep=":", precision=2)
    dec = Angle(target["dec"], "deg").to_string(unit="deg", sep=":", precision=1)
    dms = Angle(target["dec"], "deg").to_string(unit="deg", sep="dms", precision=1)
    assert dec.startswith("-") and dms.startswith("-")
    for where in ([ra, dec], [ra, dms]):
        # The options after the negative value are still options.
        found = json.loads(atlas("cone", *where, "5", "--type", "nearest", "--format", "json").stdout)
        assert [r["atlas_id"] for r in found] == [target["atlas_id"]]


def test_columns_and_fits_output(atlas, tmp_path):
    pair = atlas.info["fixture_pair"]
    where = [str(pair["ra"]), str(pair["dec"]), "60"]
    picked = Table.read(atlas("cone", *where, "--columns", "separation,atlas_id", "--format", "csv").stdout,
                        format="ascii.csv")
    assert picked.colnames == ["separation", "atlas_id"] and sorted(picked["atlas_id"]) == sorted(pair["ids"])
    refused = atlas("cone", *where, "--columns", "atlas_id,nonsense", expect=1).stderr
    assert "'nonsense'" in refused and "atlas_id" in refused                     # names the columns there are
    # FITS from the extension, and with --format whatever the name.
    ids = [str(i) for i in pair["ids"]]
    atlas("lightcurves", *ids, "-o", tmp_path / "lc.fits")
    ecsv = Table.read(atlas("lightcurves", *ids, "--format", "ecsv").stdout, format="ascii.ecsv")
    fits = Table.read(tmp_path / "lc.fits")
    assert len(fits) == len(ecsv) > 0 and list(fits["atlas_id"]) == list(ecsv["atlas_id"])
    atlas("objects", ids[0], "--format", "fits", "--columns", "atlas_id,ra,dec", "-o", tmp_path / "obj.dat")
    objects = Table.read(tmp_path / "obj.dat", format="fits")
    assert objects.colnames == ["atlas_id", "ra", "dec"] and objects["atlas_id"].tolist() == [int(ids[0])]


def test_not_logged_in_and_unreachable_messages_name_commands(fresh_cli, sandbox, atlas):
    run = _runner(fresh_cli, sandbox)
    error = run("cone", "0", "0", "5", expect=1).stderr
    assert f"'astroquery-ext atlas login --username NAME --server {sandbox.url('atlas')}'" in error
    assert "Atlas.login" not in error and "store_token" not in error              # no Python advice
    # Nothing listens on port 9: the message names the URL and the setting to check.
    token = {"ASTROQUERY_EXT_ATLAS_TOKEN": atlas.creds["token"]}
    refused = fresh_cli("atlas", "cone", "0", "0", "5", "--server", "http://127.0.0.1:9/api/", env=token,
                        expect=1).stderr
    assert "http://127.0.0.1:9/api/" in refused and "--server" in refused and "server=" not in refused


def test_server_refusals_give_advice_as_commands(fresh_cli, sandbox, atlas):
    run = _runner(fresh_cli, sandbox)
    wrong = "fedcba9876543210fedcba9876543210fedcba98"
    fresh_cli.secrets.add(wrong)
    run("login", "--token", "-", input=wrong + "\n")
    error = run("cone", "0", "0", "5", "--no-cache", expect=1).stderr             # HTTP 401
    assert "'astroquery-ext atlas login" in error and "Atlas.login" not in error


def test_login_keeps_the_password_only_when_asked(fresh_cli, sandbox, atlas):
    run = _runner(fresh_cli, sandbox)
    password = {"ASTROQUERY_EXT_ATLAS_PASSWORD": run.creds["password"]}
    user = run.creds["username"]
    run("login", "--username", user, "--no-store", env=password)            # neither token nor password kept
    assert "ASTROQUERY_EXT_ATLAS_PASSWORD" in run("login", "--username", user, "--no-store", expect=1).stderr
    run("login", "--username", user, "--no-store", "--store-password", env=password)
    run("login", "--username", user, "--no-store")                          # the password from the keyring
    # --reenter-password: the kept password is not used.
    run("login", "--username", user, "--no-store", "--reenter-password", expect=1)
    run("logout")
