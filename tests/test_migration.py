"""docs/migration.rst runs: every row of its call tables is executed against the sandbox.

The page's tables (``.. list-table::``) are read here; each row, keyed by its
first cell (the seed client's call, or the old form), must have an entry in
``ROWS`` that makes the calls of its second cell. A row added, reworded or
removed on the page without its entry here fails `test_every_row_has_its_calls`,
so the page cannot drift from the package. What a row's second cell names
(``Atlas.get_objects``, ``parse(text, mode)``) must be called by its entry
(`test_every_call_a_row_names_is_made`), and every ``Service.method`` the page
names must exist (`test_every_named_method_exists`).
"""

from __future__ import annotations

import io
import os
import re
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import requests
from astropy.io import fits
from astropy.table import Table, vstack
from astropy.utils.exceptions import AstropyDeprecationWarning

from astroquery_ext import exceptions
from astroquery_ext.cli import main as cli_main

PAGE = Path(__file__).resolve().parent.parent / "docs" / "migration.rst"


def page_tables(text: str) -> dict[str, list[tuple[str, str]]]:
    """The page's list-tables: header's first cell -> [(first cell, second cell), ...] of the rows."""
    tables, lines, i = {}, text.splitlines(), 0
    while i < len(lines):
        if lines[i].strip() != ".. list-table::":
            i += 1
            continue
        rows, i = [], i + 1
        while i < len(lines) and (not lines[i].strip() or lines[i].startswith("   ")):
            line = lines[i]
            if line.startswith("   * - "):
                rows.append([line[7:].strip()])
            elif line.startswith("     - ") and rows:
                rows[-1].append(line[7:].strip())
            elif line.startswith("       ") and rows:
                rows[-1][-1] += " " + line.strip()
            i += 1
        tables[rows[0][0]] = [tuple(r) for r in rows[1:]]
    return tables


TABLES = page_tables(PAGE.read_text())


# -- clients logged in to the suite's sandboxes ----------------------------------------------------


class Env:
    """What a row's calls use: the four clients, the sandboxes, a scratch directory, the CLI."""

    def __init__(self, request, tmp_path, monkeypatch):
        self._request, self.tmp, self.monkeypatch = request, tmp_path, monkeypatch

    def sandbox(self, service):
        return self._request.getfixturevalue(f"{service}_sandbox")

    def client(self, service):
        return self.sandbox(service).client(service)

    @property
    def atlas(self):
        client = self.client("atlas")
        client.login(token=self.sandbox("atlas").credentials("atlas")["token"], store_token=False)
        return client

    @property
    def ids(self):
        return self.sandbox("atlas").info("atlas")["example_ids"][:2]

    @property
    def grad300(self):
        credentials = self.sandbox("grad300").credentials("grad300")
        self.monkeypatch.setenv("ASTROQUERY_EXT_GRAD300_PASSWORD", credentials["password"])
        client = self.client("grad300")
        client.login(credentials["username"], store_token=False)
        return client

    @property
    def glance(self):
        client = self.client("glance")
        client.login(open_browser=lambda url: requests.get(url, timeout=10), store_token=False)
        return client

    def tupli_password(self, user):
        """``ASTROQUERY_EXT_TUPLI_PASSWORD`` set to ``user``'s password, as a pipeline would."""
        password = self.sandbox("tupli").credentials("tupli", user)["password"]
        self.monkeypatch.setenv("ASTROQUERY_EXT_TUPLI_PASSWORD", password)

    def tupli_as(self, user="alice"):
        self.tupli_password(user)
        client = self.client("tupli")
        client.login(user, store_token=False)
        return client

    @property
    def tupli(self):
        return self.tupli_as("alice")

    def cli(self, service, *argv, env=None):
        """``astroquery-ext SERVICE ARGV --server URL`` in this process; its standard output."""
        for key, value in (env or {}).items():
            self.monkeypatch.setenv(key, value)
        out = io.StringIO()
        with redirect_stdout(out):
            status = cli_main([service, *map(str, argv), "--server", self.sandbox(service).url(service)])
        assert status == 0, (argv, out.getvalue())
        return out.getvalue()


@pytest.fixture
def env(request, tmp_path, monkeypatch):
    return Env(request, tmp_path, monkeypatch)


def one_row(table):
    assert isinstance(table, Table) and len(table) == 1, table
    return table


# -- the rows -------------------------------------------------------------------------------------


def _changes_tupli_password(env):
    client = env.client("tupli")
    password = env.sandbox("tupli").credentials("tupli", "alice")["password"]
    with pytest.warns(AstropyDeprecationWarning, match="password"):
        client.login("alice", password, store_token=False)
    env.monkeypatch.setenv("ASTROQUERY_EXT_TUPLI_PASSWORD", password)
    assert env.client("tupli").login("alice", store_token=False)


def _changes_tupli_persist(env):
    env.tupli_password("bob")
    with pytest.warns(AstropyDeprecationWarning, match="store_token"):
        env.client("tupli").login("bob", persist=False)
    client = env.client("tupli")
    assert client.login("bob", store_token=False) and client.whoami() == "bob"


def _changes_glance_hint(env):
    client = env.client("glance")
    with pytest.warns(AstropyDeprecationWarning, match="login_hint"):
        client.login(login_hint="alice", open_browser=lambda url: requests.get(url, timeout=10), store_token=False)
    client = env.client("glance")
    assert client.login("alice", open_browser=lambda url: requests.get(url, timeout=10), store_token=False)


def _changes_atlas_token_first(env):
    token = env.sandbox("atlas").credentials("atlas")["token"]
    with pytest.warns(AstropyDeprecationWarning, match="token"):
        env.client("atlas").login(token, store_token=False)
    assert env.client("atlas").login(token=token, store_token=False)


def _changes_atlas_username(env):
    env.monkeypatch.setenv("ASTROQUERY_EXT_ATLAS_PASSWORD", "vra_bot-password")
    assert env.client("atlas").login(username="vra_bot", store_token=False)
    client = env.client("atlas")
    assert client.login("vra_bot", store_token=False, store_password=True, reenter_password=True)
    assert client.whoami() == "vra_bot"


def _atlas_config(env):
    env.monkeypatch.setenv("ASTROQUERY_EXT_ATLAS_TOKEN", env.sandbox("atlas").credentials("atlas")["token"])
    from astroquery_ext.atlas import conf

    with conf.set_temp("server", env.sandbox("atlas").url("atlas")):
        from astroquery_ext.atlas import AtlasClass

        assert len(AtlasClass().query_custom_lists("vra")) >= 0   # the token from the environment
    env.monkeypatch.delenv("ASTROQUERY_EXT_ATLAS_TOKEN")
    assert env.client("atlas").login(token=env.sandbox("atlas").credentials("atlas")["token"], store_token=False)


def _atlas_password_login(env):
    env.monkeypatch.setenv("ASTROQUERY_EXT_ATLAS_PASSWORD", "vra_bot-password")
    client = env.client("atlas")
    assert client.login(username="vra_bot", store_token=True)
    assert client.store.get(client._session_account("vra_bot"))     # stored for the next session


def _atlas_cone(env):
    pair = env.sandbox("atlas").info("atlas")["fixture_pair"]
    atlas = env.atlas
    table = atlas.query_region(f"{pair['ra']} {pair['dec']}", pair["radius"] / 3600, request_type="all")
    assert list(table["atlas_id"]) == pair["ids"]
    assert len(atlas.query_region(f"{pair['ra']} {pair['dec']}", pair["radius"] / 3600, request_type="nearest")) == 1
    assert len(atlas.query_region(f"{pair['ra']} {pair['dec']}", pair["radius"] / 3600, request_type="count")) == 1


def _atlas_single(env):
    parts = env.atlas.get_objects(env.ids[:1])
    assert {"object", "lc", "lcnondets"} <= set(parts.keys()) and len(parts["lc"]) > 0


def _atlas_lc(env):
    lc = env.atlas.get_lightcurves(env.ids[:1])
    assert "detected" in lc.colnames and set(np.unique(lc["detected"])) <= {True, False}


def _atlas_many(env):
    atlas, ids = env.atlas, env.ids
    lc = atlas.get_lightcurves(ids, mjd_min=58000)
    assert len(lc) and (lc["mjd"] >= 58000).all()
    atlas.get_forced_photometry(ids)
    assert len(atlas.get_objects(ids)["object"]) == 2
    assert sorted(atlas.query_objects(ids)["atlas_id"]) == sorted(ids)


def _atlas_main_list(env):
    ids = env.atlas.query_list("good")["atlas_id"]
    assert len(ids) > 10 and ids.dtype == np.int64


def _atlas_custom_members(env):
    assert set(env.atlas.query_custom_lists("vra").colnames) >= {"atlas_id", "list_id"}


def _atlas_custom_of_objects(env):
    atlas, ids = env.atlas, env.ids
    with pytest.raises(ValueError, match="one id"):          # what the page said before: refused
        atlas.query_custom_lists(atlas_id=ids)
    one = atlas.query_custom_lists(atlas_id=ids[0])
    several = vstack([atlas.query_custom_lists(atlas_id=i) for i in ids])
    assert set(one["atlas_id"]) <= {ids[0]} and len(several) >= len(one)


def _atlas_custom_write(env):
    atlas, ids = env.atlas, env.ids
    assert len(atlas.add_to_custom_list(ids, "cv")) == 2
    assert set(ids) <= set(atlas.query_custom_lists("cv")["atlas_id"])
    assert len(atlas.remove_from_custom_list(ids, "cv")) == 2


def _atlas_detection_list(env):
    assert len(env.atlas.set_detection_list(env.ids[:1], "eyeball")) == 1


def _atlas_vra_scores(env):
    assert isinstance(env.atlas.query_vra_scores(since="2020-01-01"), Table)


def _atlas_vra_write(env):
    assert len(env.atlas.add_vra_scores(env.ids[:1], preal=0.9, pgal=0.1)) == 1


def _atlas_vra_todo(env):
    atlas = env.atlas
    assert isinstance(atlas.query_vra_todo(), Table) and len(atlas.add_vra_todo(env.ids[:1])) == 1


def _atlas_vra_rank(env):
    atlas = env.atlas
    assert len(atlas.set_vra_rank(env.ids[:1], 5.0)) == 1 and isinstance(atlas.query_vra_rank(), Table)


def _atlas_raw(env):
    atlas, pair = env.atlas, env.sandbox("atlas").info("atlas")["fixture_pair"]
    payload = {"ra": pair["ra"], "dec": pair["dec"], "radius": pair["radius"], "requestType": "all"}
    assert [r["object"] for r in atlas.request("POST", "cone/", data=payload).json()] == pair["ids"]
    assert sorted(r["id"] for r in atlas.get_json("objectlist/", {"objectlistid": 2})) == \
        sorted(atlas.query_list("good")["atlas_id"])


def _atlas_token_object(env):
    atlas = env.client("atlas")
    assert atlas.login(token=env.sandbox("atlas").credentials("atlas")["token"], store_token=False)
    assert not any(hasattr(atlas, name) for name in ("as_cookie", "as_query_param", "as_auth_header"))
    response = atlas.request("GET", "objectlist/", params={"objectlistid": 2})
    assert response.request.headers["Authorization"] == "Token ***"   # sent in the header, not kept
    assert "token" not in response.request.url


def _atlas_errors(env):
    with pytest.raises(exceptions.AstroqueryExtError):
        env.atlas.request("GET", "no-such-endpoint/")
    assert issubclass(exceptions.NotFoundError, exceptions.AstroqueryExtError)


def _grad300_constructor(env):
    from astroquery_ext.grad300 import Grad300Class

    credentials = env.sandbox("grad300").credentials("grad300")
    env.monkeypatch.setenv("ASTROQUERY_EXT_GRAD300_PASSWORD", credentials["password"])
    client = Grad300Class(server=env.sandbox("grad300").url("grad300"))
    assert client.login(credentials["username"], store_token=False)


def _grad300_login(env):
    credentials = env.sandbox("grad300").credentials("grad300")
    env.monkeypatch.setenv("ASTROQUERY_EXT_GRAD300_PASSWORD", credentials["password"])
    client = env.client("grad300")
    assert client.login(credentials["username"], store_password=True, store_token=False)
    assert client.store.get(credentials["username"]) == credentials["password"]


def _grad300_token(env):
    token = env.sandbox("grad300").credentials("grad300")["token"]
    assert env.client("grad300").login(token=token)
    env.monkeypatch.setenv("ASTROQUERY_EXT_GRAD300_TOKEN", token)
    assert env.client("grad300").test_token()["email"]


def _grad300_logout(env):
    client = env.grad300
    client.logout()
    assert not client.authenticated()


def _grad300_test_token(env):
    assert env.grad300.test_token()["email"] == env.sandbox("grad300").credentials("grad300")["username"]


def _grad300_list(env):
    assert len(env.grad300.list_scans("TPI", offset=1, limit=2)) == 2


def _grad300_records(env):
    t = env.grad300.list_scans("TPI", limit=1)
    assert isinstance(t[0]["id"], (int, np.integer)) and dict(zip(t.colnames, t[0]))["id"] == t[0]["id"]


def _grad300_query(env):
    assert len(env.grad300.query("TPI", source="casa", row_limit=2)) == 2


def _grad300_query_names(env):
    grad300 = env.grad300
    name = grad300.query_source("casa", row_limit=1)["scan_name"][0]
    assert grad300.query_scan_name(name[:15])["scan_name"][0].startswith(name[:15])


def _grad300_dates(env):
    t = env.grad300.query_date_range("2025-02-04", "2025-02-05T00:00:00")
    assert len(t) and (t["date"].jd >= 2460710.5).all()


def _grad300_get_scan(env):
    grad300 = env.grad300
    row = grad300.query("TPI", row_limit=1)[0]
    hdul = grad300.get_scan(row)
    assert isinstance(hdul, fits.HDUList) and len(Table.read(hdul[1]))


def _grad300_download(env):
    grad300 = env.grad300
    rows = grad300.query("OnOff", row_limit=2)
    done = grad300.download_scans(rows, env.tmp)
    assert all(Path(p).is_file() for p in done["local_path"])


def _grad300_by_id(env):
    grad300 = env.grad300
    row = grad300.query("Images", row_limit=1)[0]
    assert isinstance(grad300.get_scan(int(row["id"]), scan_type="Images"), fits.HDUList)


def _grad300_by_name(env):
    grad300 = env.grad300
    name = grad300.query("TPI", row_limit=1)["scan_name"][0]
    assert isinstance(grad300.get_scan(name), fits.HDUList)
    saved = grad300.download_by_scan_name(name, env.tmp)
    assert Path(saved["local_path"][0]).is_file()


def _grad300_server(env):
    assert env.grad300.server == env.sandbox("grad300").url("grad300")


def _grad300_get_json(env):
    grad300 = env.grad300
    assert grad300.get_json("users/me")["email"] == grad300.test_token()["email"]
    assert len(grad300.get_json("scans/TPI/", {"limit": 2})) == 2


def _grad300_request(env):
    with env.grad300.request("GET", "scans/TPI/", params={"limit": 1}, stream=True) as response:
        assert response.status_code == 200 and b"file_name" in b"".join(response.iter_content(1024))


def _glance_import(env):
    from astroquery_ext.glance import Glance, GlanceClass

    assert isinstance(Glance, GlanceClass)


def _glance_login(env):
    from astroquery_ext.glance import GlanceClass

    client = env.glance
    assert client.authenticated()
    import inspect

    params = inspect.signature(GlanceClass.login).parameters
    assert "method" in params and "offline" in params      # device, manual, offline: other tests run them


def _glance_logout(env):
    client = env.glance
    client.logout()
    assert not client.authenticated()


def _glance_analyses(env):
    t = env.glance.query_analyses('status = "Phase 0 Active"', sort_by="referenceCode", sort_desc=True, row_limit=3)
    assert len(t) == 3 and list(t["referenceCode"]) == sorted(t["referenceCode"], reverse=True)


def _glance_other_searches(env):
    glance = env.glance
    for name in ("query_papers", "query_confnotes", "query_pubnotes", "query_plots"):
        assert isinstance(getattr(glance, name)(row_limit=2), Table)


def _glance_publications(env):
    assert isinstance(env.glance.query_publications(row_limit=2), Table)


def _glance_groups(env):
    glance = env.glance
    for name in ("query_leading_groups", "query_subgroups", "query_triggers"):
        assert len(getattr(glance, name)(row_limit=2)) == 2


def _glance_get(env):
    glance = env.glance
    ref = glance.query_analyses(row_limit=1)["referenceCode"][0]
    analysis = one_row(glance.get_analysis(ref))
    assert analysis["record"][0]["referenceCode"] == ref
    for kind in ("paper", "confnote", "pubnote", "plot", "publication"):
        record = getattr(glance, f"query_{kind}s")(row_limit=1)["record"][0]
        code = record.get("referenceCode") or record.get("temporaryReferenceCode")
        one_row(getattr(glance, f"get_{kind}")(code))


def _glance_reference_code(env):
    table = env.glance.query_analyses(row_limit=2)
    assert table["referenceCode"][1] == table["record"][1]["referenceCode"]


def _glance_parse(env):
    from astroquery_ext.glance import parse
    from astroquery_ext.glance.dsl import modes

    text = 'status = "Phase 0 Active"'
    assert "analysis" in modes() and "paper" in modes()
    assert parse(text, "analysis").to_dsl() == parse(text, None).to_dsl()
    with pytest.raises(TypeError):               # what the page said before: mode is needed
        parse(text)


def _glance_builder(env):
    from astroquery_ext.glance import F

    query = (F("status") == "Phase 0 Active") & ((F("referenceCode") == "X") | (F("referenceCode") == "Y"))
    assert isinstance(env.glance.query_analyses(query), Table)


def _glance_urls(env):
    glance = env.glance
    table = glance.query_analyses(row_limit=1)
    assert glance.analysis_url(table["referenceCode"][0]) == table["web_url"][0]


def _glance_errors(env):
    from astroquery_ext.glance.dsl import DSLError

    assert issubclass(DSLError, ValueError)
    assert issubclass(exceptions.LoginError, exceptions.AstroqueryExtError)
    assert issubclass(exceptions.AuthorizationError, exceptions.AstroqueryExtError)
    with pytest.raises(exceptions.NotFoundError):
        env.glance.get_analysis("ANA-NONE-2099-99")
    with pytest.raises(DSLError):
        env.glance.query_analyses("no_such_field = 1")


def _glance_models(env):
    glance = env.glance
    ref = glance.query_analyses(row_limit=1)["referenceCode"][0]
    record = glance.get_analysis(ref)["record"][0]
    from stare.models import Analysis   # a test peer: stare's model still accepts the record as sent

    assert Analysis.model_validate(record).reference_code == ref


def _glance_any_endpoint(env):
    glance = env.glance
    page = glance.get_json("searchSubgroup", {"offset": 0, "limit": 2})
    assert len(page["results"]) == 2
    assert glance.request("GET", "searchSubgroup", params={"limit": 1}).json()["numberOfResults"] == \
        page["numberOfResults"]


def _glance_cache_clear(env):
    glance = env.glance
    glance.query_subgroups(row_limit=2, cache=True)
    glance.clear_cache()
    assert not Path(glance.cache_location).exists() or not any(Path(glance.cache_location).rglob("*.entry"))


def _glance_conf(env):
    from astroquery_ext.glance import conf

    assert {"server", "timeout", "issuer"} <= {name for name in dir(type(conf)) if not name.startswith("_")}


def _tupli_login(env):
    from astroquery_ext.tupli import TupliClass, conf

    url = env.sandbox("tupli").url("tupli")
    assert TupliClass(server=url).server == url
    with conf.set_temp("server", url):
        env.tupli_password("alice")
        assert TupliClass().login("alice", store_token=False)


def _unique(prefix):
    return f"{prefix}-{os.getpid()}-{np.random.default_rng().integers(1 << 30)}"


def _tupli_signup(env):
    name = _unique("signup")
    env.monkeypatch.setenv("ASTROQUERY_EXT_TUPLI_PASSWORD", "a-new-password-1")
    assert env.client("tupli").signup(name)["username"][0] == name


def _tupli_users(env):
    name = _unique("user")
    env.monkeypatch.setenv("ASTROQUERY_EXT_TUPLI_PASSWORD", "first-password-1")
    env.client("tupli").signup(name)
    user = env.client("tupli")
    user.login(name, store_token=False)
    assert name in list(user.list_users()["username"])
    user.change_password(name, "second-password-2")
    user.delete_user(name)
    assert name not in list(env.tupli_as("admin").list_users()["username"])


def _tupli_create_group(env):
    tupli, name = env.tupli, _unique("g")
    assert tupli.create_group(name, "a group")["name"][0] == name
    tupli.delete_group(name)


def _tupli_groups(env):
    tupli, name = env.tupli, _unique("g")
    tupli.create_group(name)
    assert name in list(tupli.list_groups()["name"]) and tupli.read_group(name)["name"][0] == name
    tupli.delete_group(name)


def _tupli_add_members(env):
    tupli, name = env.tupli, _unique("g")
    tupli.create_group(name)
    assert "bob" in tupli.add_group_members(name, {"bob": "member"})["members"][0]
    tupli.delete_group(name)


def _tupli_remove_members(env):
    tupli, name = env.tupli, _unique("g")
    tupli.create_group(name)
    tupli.add_group_members(name, {"bob": "member"})
    assert "bob" not in tupli.remove_group_members(name, ["bob"])["members"][0]
    tupli.delete_group(name)


def _tupli_roles(env):
    admin, name = env.tupli_as("admin"), _unique("role")
    assert admin.create_role(name, ["benchmark_read"], "reads")["role"][0] == name
    assert name in list(admin.list_roles()["role"])
    admin.delete_role(name)


def _bench(tupli):
    return tupli.store_benchmark('{"env": "%s"}' % _unique("env"), {"name": _unique("bench")})[0]  # the one row


def _tupli_store_benchmark(env):
    tupli = env.tupli
    header = tupli.store_benchmark('{"env": "%s"}' % _unique("env"), {"name": _unique("bench")})
    assert len(header) == 1 and header["id"][0] and header["hash"][0]
    header = header[0]
    tupli.delete_benchmark(header["id"])


def _tupli_load_delete_benchmark(env):
    tupli = env.tupli
    header = _bench(tupli)
    assert tupli.load_benchmark(header["id"])["serialized"][0].startswith('{"env"')
    tupli.delete_benchmark(header["id"])
    with pytest.raises(exceptions.NotFoundError):
        tupli.load_benchmark(header["id"], cache=False)


def _tupli_filter(env):
    from astroquery_ext.tupli import Filter

    found = env.tupli.list_benchmarks(Filter("metadata.name") == "sandbox-cartpole")
    assert list(found["name"]) == ["sandbox-cartpole"]


def _tupli_filter_and_or(env):
    from astroquery_ext.tupli import Filter

    tupli = env.tupli
    name = Filter("metadata.name") == "sandbox-cartpole"
    both = tupli.list_benchmarks(name & (Filter("metadata.difficulty") == "easy"))
    either = tupli.list_benchmarks(name | (Filter("metadata.name") == "x"))
    assert len(both) == len(either) == 1


def _tupli_publish(env):
    # Unpublishing needs benchmark_delete in the group (pytupli's rule, owners included): a role for it.
    admin, tupli, group, role = env.tupli_as("admin"), env.tupli, _unique("g"), _unique("curator")
    admin.create_role(role, ["benchmark_read", "benchmark_delete"])
    tupli.create_group(group)
    admin.add_group_members(group, {"alice": ["group_admin", "contributor", role]})
    header = _bench(tupli)
    tupli.publish_benchmark(header["id"], group)
    assert group in tupli.load_benchmark(header["id"], cache=False)["published_in"][0]
    tupli.unpublish_benchmark(header["id"], group)
    assert group not in tupli.load_benchmark(header["id"], cache=False)["published_in"][0]
    tupli.delete_benchmark(header["id"])
    tupli.delete_group(group)
    admin.delete_role(role)


def _tupli_store_artifact(env):
    tupli = env.tupli
    (env.tmp / "data.csv").write_text("a,b\n1,2\n")
    with open(env.tmp / "data.csv", "rb") as handle:
        items = [tupli.store_artifact(b"raw bytes", {"name": _unique("bytes")}),
                 tupli.store_artifact(env.tmp / "data.csv", {"name": _unique("path")}),
                 tupli.store_artifact(handle, {"name": _unique("file")})]
    for item in items:
        tupli.delete_artifact(one_row(item)["id"][0])


def _tupli_load_artifact(env):
    tupli = env.tupli
    item = one_row(tupli.store_artifact(b"some bytes", {"name": _unique("a")}))[0]
    assert tupli.load_artifact(item["id"]) == b"some bytes"
    assert Path(tupli.load_artifact(item["id"], env.tmp / "copy.bin")).read_bytes() == b"some bytes"
    tupli.delete_artifact(item["id"])


def _tupli_artifacts(env):
    tupli = env.tupli
    item = one_row(tupli.store_artifact(b"x", {"name": _unique("a")}))[0]
    assert item["id"] in list(tupli.list_artifacts()["id"])
    tupli.publish_artifact(item["id"], "team")
    tupli.delete_artifact(item["id"])


def _steps(n=3):
    return [{"state": [0.1 * i, 1.0], "action": [i % 2], "reward": 1.0, "terminal": i == n - 1} for i in range(n)]


def _tupli_record(env):
    tupli = env.tupli
    header = _bench(tupli)
    one = one_row(tupli.record_episode(header["id"], _steps(), {"agent": "migration"}))
    many = tupli.record_episodes(header["id"], [_steps(2), _steps(4)])
    assert one["n_tuples"][0] == 3 and list(many["n_tuples"]) == [2, 4]
    for episode_id in [one["id"][0], *many["id"]]:
        tupli.delete_episode(episode_id)
    tupli.delete_benchmark(header["id"])


def _tupli_episodes(env):
    from astroquery_ext.tupli import Filter

    tupli = env.tupli
    episodes = tupli.list_episodes(Filter("metadata.agent") == "random")
    assert len(episodes) == 3
    steps = tupli.get_episode(episodes["id"][0])
    every = tupli.get_tuples(Filter("benchmark_id") == episodes["benchmark_id"][0])
    assert len(steps) == episodes["n_tuples"][0] and len(every) >= sum(episodes["n_tuples"])


def _tupli_episode_admin(env):
    tupli = env.tupli
    header = _bench(tupli)
    episode = tupli.record_episode(header["id"], _steps())["id"][0]
    tupli.publish_episode(episode, "team")
    tupli.delete_episode(episode)
    tupli.delete_benchmark(header["id"])


def _tupli_errors(env):
    with pytest.raises(exceptions.AstroqueryExtError):
        env.tupli.load_benchmark("0" * 32)


def _tupli_cli_benchmarks(env):
    assert "sandbox-cartpole" in env.cli("tupli", "benchmarks", "list")


def _cli_login_as(env, user):
    password = env.sandbox("tupli").credentials("tupli", user)["password"]
    env.cli("tupli", "login", "--username", user, env={"ASTROQUERY_EXT_TUPLI_PASSWORD": password})


def _tupli_cli_users(env):
    _cli_login_as(env, "admin")
    assert "alice" in env.cli("tupli", "users", "list")
    name = _unique("cliuser")
    env.cli("tupli", "signup", name, env={"ASTROQUERY_EXT_TUPLI_PASSWORD": "cli-password-1"})
    # The new user's password is no longer the one in the environment: the admin's again (a stored
    # session is used only with its own password, or none).
    _cli_login_as(env, "admin")
    env.cli("tupli", "users", "change-password", name, env={"ASTROQUERY_EXT_TUPLI_NEW_PASSWORD": "cli-password-2"})
    env.cli("tupli", "users", "delete", name)


def _tupli_cli_roles(env):
    _cli_login_as(env, "admin")
    name = _unique("clirole")
    env.cli("tupli", "roles", "create", name, "--rights", "benchmark_read,episode_read")
    assert name in env.cli("tupli", "roles", "list")
    env.cli("tupli", "roles", "delete", name)


def _tupli_cli_record(env):
    import json

    _cli_login_as(env, "alice")
    header = _bench(env.tupli)
    (env.tmp / "steps.jsonl").write_text("\n".join(json.dumps(s) for s in _steps(5)))
    out = json.loads(env.cli("tupli", "episodes", "record", env.tmp / "steps.jsonl", "--benchmark-id", header["id"],
                             "--format", "json"))
    assert [e["n_tuples"] for e in out] == [5]
    env.tupli.delete_episode(out[0]["id"])
    env.tupli.delete_benchmark(header["id"])


def _tupli_any_endpoint(env):
    tupli = env.tupli
    assert [g["name"] for g in tupli.request("GET", "access/groups/list").json()] == list(tupli.list_groups()["name"])
    assert tupli.get_json("benchmarks/load", {"benchmark_id": tupli.list_benchmarks()["id"][0]})["serialized"]


#: Header of each table on the page -> {first cell of a row: the calls of its second cell}.
ROWS = {
    "Before": {
        "``Atlas.login(token)`` (the token first)": _changes_atlas_token_first,
        '``Atlas.login(username="me")``': _changes_atlas_username,
        '``Tupli.login("me", "password")`` / ``Tupli.login(password=...)``': _changes_tupli_password,
        "``Tupli.login(..., persist=False)``": _changes_tupli_persist,
        '``Glance.login(login_hint="me")``': _changes_glance_hint,
    },
    "atlasapiclient 1.2.0": {
        "``api_config_MINE.yaml`` with ``token`` and ``base_url``": _atlas_config,
        "``APIClient().refresh_token()``": _atlas_password_login,
        '``ConeSearch(payload={"ra", "dec", "radius", "requestType"}, get_response=True).response_data``': _atlas_cone,
        "``RequestSingleSourceData(atlas_id=ID, get_response=True)``": _atlas_single,
        '``pd.DataFrame(response_data[0]["lc"])`` and ``["lcnondets"]``': _atlas_lc,
        "``RequestMultipleSourceData(array_ids=ids, mjdthreshold=MJD).chunk_get_response()``": _atlas_many,
        '``RequestATLASIDsFromWebServerList("good").atlas_id_list_int``': _atlas_main_list,
        '``RequestCustomListsTable(payload={"objectgroupid": 73})``': _atlas_custom_members,
        '``RequestCustomListsTable(payload={"objectid": ID})``': _atlas_custom_of_objects,
        "``WriteToCustomList`` / ``RemoveFromCustomList``": _atlas_custom_write,
        '``WriteObjectDetectionListNumber(payload={"objectid", "objectlist"})``': _atlas_detection_list,
        '``RequestVRAScores(payload={"datethreshold": D})``': _atlas_vra_scores,
        "``WriteToVRAScores(payload={...})``": _atlas_vra_write,
        "``RequestVRAToDoList`` / ``WriteToToDo``": _atlas_vra_todo,
        "``WriteToVRARank``": _atlas_vra_rank,
        "``APIClient().get_response(url, payload)`` (any endpoint)": _atlas_raw,
        "``Token(key).as_auth_header()`` / ``as_query_param()`` / ``as_cookie()``": _atlas_token_object,
        "``ATLASAPIClientError``": _atlas_errors,
    },
    "grad300-client 0.1.1": {
        "``Grad300(base_url, user=..., password=...)``": _grad300_constructor,
        "``client.login(email, password)``": _grad300_login,
        "``Grad300(token=...)``, ``set_token``": _grad300_token,
        "``clear_token()``": _grad300_logout,
        "``test_token()``": _grad300_test_token,
        "``list(scan_type, offset=, limit=)``": _grad300_list,
        "``list_records`` / ``query_records``": _grad300_records,
        "``query(scan_type=, source=, ..., max_results=)``": _grad300_query,
        "``query_source`` / ``query_scan_name``": _grad300_query_names,
        "``query_date_range(date_from=, date_to=)``": _grad300_dates,
        "``download(record)``": _grad300_get_scan,
        "``download(record, destination_dir=d)``": _grad300_download,
        "``download_by_id(scan_type=, scan_id=)``": _grad300_by_id,
        "``download_by_scan_name(name)``": _grad300_by_name,
        "``base_api_url``": _grad300_server,
        "``get_json(path, params=)``": _grad300_get_json,
        "``request(method, path, **kwargs)``": _grad300_request,
    },
    "stare 0.6.1": {
        "``g = Glance()``": _glance_import,
        "``TokenManager().login(on_url_ready=...)`` / ``stare auth login``": _glance_login,
        "``stare auth logout``": _glance_logout,
        "``g.analyses.search(query=Q, offset=, limit=50, sort_by=, sort_desc=)``": _glance_analyses,
        "``g.papers.search`` / ``g.confnotes.search`` / ``g.pubnotes.search`` / ``g.plots.search``":
            _glance_other_searches,
        "``g.publications.search``": _glance_publications,
        "``g.leadinggroups.search`` / ``g.subgroups.search`` / ``g.triggers.search``": _glance_groups,
        "``g.analyses.get(REF)`` (and papers, confnotes, pubnotes, plots, publications)": _glance_get,
        "``result.results[i].reference_code``": _glance_reference_code,
        "``parse_dsl(text)``": _glance_parse,
        "``Condition`` / ``And`` / ``Or``": _glance_builder,
        "``stare.urls.analysis_url(REF, web_base=...)``": _glance_urls,
        "``StareError`` / ``AuthenticationError`` / ``NotFoundError`` / ``ForbiddenError`` / ``DSLError``":
            _glance_errors,
        "``stare.models`` (``Analysis``, ``Paper``... pydantic models of the records)": _glance_models,
        "``g._client.get(path, params=)`` (any endpoint, with the login)": _glance_any_endpoint,
        "``stare cache clear``": _glance_cache_clear,
        "``STARE_*`` environment settings": _glance_conf,
    },
    "pytupli 1.2.9 ``TupliAPIClient``": {
        "``set_url(url)``; ``login(username, password, url=)``": _tupli_login,
        "``signup(username, password)``": _tupli_signup,
        "``list_users`` / ``change_password`` / ``delete_user``": _tupli_users,
        "``create_group(Group(name=, description=))``": _tupli_create_group,
        "``list_groups`` / ``read_group`` / ``delete_group``": _tupli_groups,
        "``add_group_members(GroupMembershipQuery(...))``": _tupli_add_members,
        "``remove_group_members(GroupMembershipQuery(...))``": _tupli_remove_members,
        "``list_roles`` / ``create_role(UserRole(...))`` / ``delete_role``": _tupli_roles,
        "``store_benchmark(BenchmarkQuery(hash=, serialized=, metadata=))``": _tupli_store_benchmark,
        "``load_benchmark(id)`` / ``delete_benchmark(id)``": _tupli_load_delete_benchmark,
        "``list_benchmarks(FilterEQ(key=, value=))``": _tupli_filter,
        "``FilterAND(filters=[...])`` / ``FilterOR``": _tupli_filter_and_or,
        "``publish_benchmark(id, publish_in=)`` / ``unpublish_benchmark``": _tupli_publish,
        "``store_artifact(bytes, ArtifactMetadata(name=...))``": _tupli_store_artifact,
        "``load_artifact(id)``": _tupli_load_artifact,
        "``list_artifacts`` / ``delete_artifact`` / ``publish_artifact``": _tupli_artifacts,
        "``record_episode(Episode(benchmark_id=, metadata=, tuples=[RLTuple(...)]))``": _tupli_record,
        "``list_episodes(filter, include_tuples=True)``": _tupli_episodes,
        "``delete_episode`` / ``publish_episode``": _tupli_episode_admin,
        "``TupliStorageError``": _tupli_errors,
        "``pytupli list_benchmarks`` (command line)": _tupli_cli_benchmarks,
        "``pytupli list_users`` / ``change_password USER NEW`` / ``delete_user USER``": _tupli_cli_users,
        "``pytupli list_roles`` / ``create_role`` / ``delete_role``": _tupli_cli_roles,
        "``pytupli record_episode EPISODE``": _tupli_cli_record,
        "any endpoint with the login (``TupliAPIClient._authenticated_request``)": _tupli_any_endpoint,
    },
}


def test_every_row_has_its_calls():
    assert set(TABLES) == set(ROWS), "a call table was added to or removed from docs/migration.rst"
    for header, rows in TABLES.items():
        on_page = [first for first, _ in rows]
        assert len(on_page) == len(set(on_page)), f"{header}: a row appears twice"
        assert set(on_page) == set(ROWS[header]), (
            f"{header}: rows on the page without calls here: {sorted(set(on_page) - set(ROWS[header]))}; "
            f"calls here for rows no longer on the page: {sorted(set(ROWS[header]) - set(on_page))}")


def named_calls(cell: str) -> set[str]:
    """The functions and methods a cell's literals call or name (``Atlas.get_objects``, ``parse(text, mode)``)."""
    names = set()
    for literal in re.findall(r"``(.+?)``", cell):
        names.update(re.findall(r"(?<![\w.-])(?:[A-Z]\w*\.)?([a-z_][a-z0-9_]*)\(", literal))
        names.update(re.findall(r"\b(?:Atlas|Grad300|Glance|Tupli)\.([a-z_]\w*)", literal))
    return names


def test_every_call_a_row_names_is_made():
    """What a row's second cell names is what its entry calls: a cell that comes to name another call
    (even one that exists) fails here until the entry makes that call."""
    import inspect

    unmade, checked = [], 0
    for header, rows in TABLES.items():
        for first, ours in rows:
            source = inspect.getsource(ROWS[header][first])
            names = named_calls(ours)
            if ours.startswith("same names"):  # the seed's names: each literal's leading name
                names |= set(re.findall(r"``([a-z_][a-z0-9_]*)", first))
            checked += len(names)
            missing = sorted(n for n in names if not re.search(rf"\b{n}\b", source))
            if missing:
                unmade.append(f"{header}: {first}: the page names {missing}, which its entry does not call")
    assert not unmade, "\n".join(unmade)
    assert checked > 80   # the cells' calls were found (a pattern that finds none would pass anything)


_SERVICES = {"Atlas": "atlas", "Grad300": "grad300", "Glance": "glance", "Tupli": "tupli"}


def test_every_named_method_exists():
    import importlib

    named = set()
    for rows in TABLES.values():
        for _, ours in rows:
            named.update(re.findall(r"\b(Atlas|Grad300|Glance|Tupli)\.([a-z_]\w*)", ours))
    assert len(named) > 40
    for service, attribute in sorted(named):
        cls = getattr(importlib.import_module(f"astroquery_ext.{_SERVICES[service]}"), f"{service}Class")
        assert hasattr(cls, attribute), f"docs/migration.rst names {service}.{attribute}, which does not exist"


@pytest.mark.parametrize("header, first", [(h, f) for h, rows in ROWS.items() for f in rows],
                         ids=lambda v: re.sub(r"\W+", "_", v)[:60])
def test_row_runs(env, header, first):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)   # empty results, truncation: not what is checked
        warnings.simplefilter("default", AstropyDeprecationWarning)
        ROWS[header][first](env)
