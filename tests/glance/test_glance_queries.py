"""astroquery_ext.glance: searches, single records, web links and errors, over real HTTP against the sandbox."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import requests
from astropy.table import Table
from astropy.time import Time

from astroquery_ext._base import (
    AuthorizationError, InvalidQueryError, LoginError, MaxResultsWarning, NoResultsWarning, NotFoundError,
    RemoteServiceError, records_to_table)
from astroquery_ext.glance import DSLError, F, GlanceClass, conf, dsl
from astroquery_ext.glance.core import ENDPOINTS
from astroquery_ext.glance.fields import FIELDS
from astroquery_ext.results import calls
from astroquery_ext.sandbox import Fault

FIXTURES = Path("/work/shared/fixtures/glance/responses")
QUERIES = ["query_analyses", "query_papers", "query_confnotes", "query_pubnotes", "query_plots",
           "query_publications", "query_leading_groups", "query_subgroups", "query_triggers"]
MODES = ["analysis", "paper", "confnote", "pubnote", "plot", "publication", "leadinggroup", "subgroup", "trigger"]


def browser(url):
    """A headless browser: the sandbox approves at once and redirects to our loopback server."""
    requests.get(url, timeout=10)


@pytest.fixture
def glance(glance_sandbox):
    client = glance_sandbox.client("glance")
    client.login(open_browser=browser)
    return client


def api_requests(sandbox, endpoint=None):
    return [e for e in sandbox.request_log("glance")
            if e["path"].startswith("/api/") and (endpoint is None or e["path"].endswith(endpoint))]


@pytest.mark.parametrize("method, mode", list(zip(QUERIES, MODES)))
def test_every_search_returns_all_records(glance, glance_sandbox, method, mode):
    table = getattr(glance, method)()
    assert isinstance(table, Table)
    assert len(table) == glance_sandbox.info("glance")["counts"][mode]
    assert table.colnames == [f.name for f in FIELDS[mode]]
    assert table.meta["service"] == ["glance"] and table.meta["url"][0].endswith("/" + ENDPOINTS[mode][0])
    assert all(isinstance(r, dict) for r in table["record"])


def test_analysis_columns(glance):
    table = glance.query_analyses('status = "Phase 0 Active"', sort_by="referenceCode")
    assert set(table["status"]) == {"Phase 0 Active"}
    assert table["referenceCode"].dtype.kind == "U"
    assert isinstance(table["creationDate"], Time) and isinstance(table["phase0.startDate"], Time)
    assert list(table["referenceCode"]) == sorted(table["referenceCode"])
    row = table[0]
    record = row["record"]
    assert row["referenceCode"] == record["referenceCode"]
    assert row["groups.leadingGroup.name"] == record["groups"]["leadingGroup"]["name"]
    assert row["metadata.keywords.name"] == [k["name"] for k in record["metadata"]["keywords"]]
    assert row["creationDate"].isot.startswith(record["creationDate"])
    assert row["web_url"] == glance.analysis_url(record["referenceCode"])
    # Nulls are masked, not "None" strings
    empty = [i for i, r in enumerate(table["record"]) if r.get("publicShortTitle") is None]
    if empty:
        assert table["publicShortTitle"].mask[empty[0]]


def test_dsl_string_and_builder_agree(glance, glance_sandbox):
    text = 'groups.leading_group.name in [SUSY, EXOT] AND phase_0.state != closed'
    built = F("groups.leadingGroup.name").isin(["SUSY", "EXOT"]) & (F("phase0.state") != "closed")
    glance_sandbox.clear_request_log("glance")
    a = glance.query_analyses(text, cache=False)
    b = glance.query_analyses(built, cache=False)
    assert len(a) > 0 and list(a["referenceCode"]) == list(b["referenceCode"])
    assert set(a["groups.leadingGroup.name"]) <= {"SUSY", "EXOT"}
    canonical = dsl.parse(text, "analysis").to_dsl()
    assert calls(a)[0]["query"]["queryString"] == calls(b)[0]["query"]["queryString"] == canonical


def test_queries_on_every_resource(glance, glance_sandbox):
    known = glance_sandbox.info("glance")["known"]
    assert set(glance.query_papers("status = submission_active OR status = submission_closed")["status"]) <= {
        "Publication Phase Active", "Publication Phase Finished"}
    final = glance.query_confnotes("finalReferenceCode != __EMPTY__")
    assert len(final) and all(code.startswith("ATLAS-CONF-") for code in final["finalReferenceCode"])
    assert all("tev" in " ".join(k).lower() for k in
               glance.query_pubnotes(F("metadata.keywords.name").contains("TeV"))["metadata.keywords.name"])
    assert known["plot"][0] in glance.query_plots(F("referenceCode") == known["plot"][0])["referenceCode"]
    pubs = glance.query_publications('type = "CONF note"')
    assert set(pubs["type"]) == {"CONF note"} and all(u.startswith(glance.web_base_url) for u in pubs["web_url"])
    assert all("s" in n.lower() for n in glance.query_leading_groups("name contain S")["name"])
    assert all(n.startswith("HDBS-") for n in glance.query_subgroups("name contain HDBS")["name"])
    triggers = glance.query_triggers((F("category.name") == "primary") & (F("year") == 2018))
    assert len(triggers) and set(triggers["year"]) == {"2018"} and set(triggers["category.name"]) == {"primary"}


def test_invalid_queries_fail_before_any_request(glance_sandbox):
    client = glance_sandbox.client("glance")  # not even logged in: validation comes first
    glance_sandbox.clear_request_log("glance")
    with pytest.raises(DSLError, match="did you mean 'referenceCode'"):
        client.query_analyses("referenceCod = ANA-SUSY-2019-01")
    with pytest.raises(DSLError, match="at column"):
        client.query_papers("status == Active")
    with pytest.raises(DSLError, match="boolean"):
        client.query_analyses(F("analysisTeam.isContactEditor").contains("x"))
    with pytest.raises(DSLError, match="referenceCode"):
        client.query_publications("temporaryReferenceCode = CONF-SUSY-2023-04")
    with pytest.raises(ValueError, match="sort_by 'creation' is not a searchable field"):
        client.query_analyses(sort_by="creation")
    with pytest.raises(ValueError, match="sort_desc=True needs sort_by"):
        client.query_triggers(sort_desc=True)
    with pytest.raises(ValueError, match="row_limit"):
        client.query_triggers(row_limit=0)
    with pytest.raises(ValueError, match="max_workers"):
        client.query_triggers(max_workers=1000)
    with pytest.raises(TypeError, match="query must be"):
        client.query_triggers(42)
    with pytest.raises(ValueError, match="ref_code"):
        client.get_analysis(" ")
    assert api_requests(glance_sandbox) == []
    assert [e for e in glance_sandbox.request_log("glance") if "/token" in e["path"]] == []


def test_sort_and_row_limit(glance, glance_sandbox):
    with pytest.warns(MaxResultsWarning, match="row_limit=7"):
        table = glance.query_analyses(sort_by="reference_code", sort_desc=True, row_limit=7)
    assert len(table) == 7
    assert list(table["referenceCode"]) == sorted(table["referenceCode"], reverse=True)
    assert calls(table)[0]["query"] == {"sortBy": "referenceCode", "sortDesc": "true"}
    everything = glance.query_analyses(sort_by="referenceCode", sort_desc=True)
    assert list(everything["referenceCode"][:7]) == list(table["referenceCode"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaxResultsWarning)
        assert len(glance.query_leading_groups(row_limit=30)) == 30  # exactly all: no warning


def test_paging_request_counts(glance, glance_sandbox):
    total = glance_sandbox.info("glance")["counts"]["analysis"]
    with conf.set_temp("page_size", 70):
        glance_sandbox.clear_request_log("glance")
        table = glance.query_analyses(cache=False, max_workers=3)
        assert len(table) == total and len(set(table["referenceCode"])) == total
        assert len(api_requests(glance_sandbox, "searchAnalysis")) == -(-total // 70)
        glance_sandbox.clear_request_log("glance")
        with pytest.warns(MaxResultsWarning):
            cut = glance.query_analyses(cache=False, row_limit=150)
        assert list(cut["referenceCode"]) == list(table["referenceCode"][:150])
        assert len(api_requests(glance_sandbox, "searchAnalysis")) == 3  # 70 + 70 + 10
    glance_sandbox.clear_request_log("glance")
    glance.query_analyses(cache=False)  # conf.page_size 1000: one request
    assert len(api_requests(glance_sandbox, "searchAnalysis")) == 1


def test_empty_result_is_typed_and_warns(glance):
    with pytest.warns(NoResultsWarning):
        table = glance.query_papers("referenceCode = NONE-1999-01")
    assert len(table) == 0 and table.colnames == [f.name for f in FIELDS["paper"]]
    assert isinstance(table["phase1.startDate"], Time)


def test_get_query_payload(glance_sandbox):
    client = glance_sandbox.client("glance")
    payload = client.query_triggers("name contain mu", sort_by="year", get_query_payload=True)
    assert payload["method"] == "GET" and payload["url"].endswith("/searchTrigger")
    assert payload["params"] == {"offset": 0, "limit": 1000, "queryString": "name contain mu",
                                 "sortBy": "year", "sortDesc": "false"}


def test_cache_serves_repeats(glance, glance_sandbox):
    glance_sandbox.clear_request_log("glance")
    first = glance.query_subgroups("name contain SUSY", cache=True)
    second = glance.query_subgroups("name contain SUSY", cache=True)
    assert list(first["name"]) == list(second["name"])
    assert len(api_requests(glance_sandbox, "searchSubgroup")) == 1


def test_single_records(glance, glance_sandbox):
    known = glance_sandbox.info("glance")["known"]
    analysis = glance.get_analysis(known["analysis"][0])
    listed = glance.query_analyses(F("referenceCode") == known["analysis"][0])
    assert isinstance(analysis, Table) and len(analysis) == 1 and analysis.colnames == listed.colnames
    assert analysis["referenceCode"][0] == known["analysis"][0] and "groups" in analysis["record"][0]
    assert analysis["record"][0] == listed["record"][0]
    assert glance.get_analysis(known["analysis"][0].lower())["referenceCode"][0] == known["analysis"][0]
    assert glance.get_paper(known["paper"][0])["referenceCode"][0] == known["paper"][0]
    assert glance.get_plot(known["plot"][0])["referenceCode"][0] == known["plot"][0]
    for kind in ("confnote", "pubnote"):
        pair = known[f"{kind}_final"]
        get = getattr(glance, f"get_{kind}")
        by_temporary = get(pair["temporaryReferenceCode"])
        by_final = get(pair["finalReferenceCode"])
        assert by_temporary["record"][0] == by_final["record"][0]
        assert by_final["finalReferenceCode"][0] == pair["finalReferenceCode"]
    pub = glance.get_publication(known["confnote_final"]["finalReferenceCode"])
    assert len(pub) == 1 and pub["type"][0] == "CONF note"
    assert pub["temporaryReferenceCode"][0] == known["confnote_final"]["temporaryReferenceCode"]
    assert glance.get_publication(known["paper"][0])["type"][0] == "Paper"


def test_not_found(glance):
    with pytest.raises(NotFoundError, match="no analysis has the reference code 'ANA-NONE-1999-01'"):
        glance.get_analysis("ANA-NONE-1999-01")
    with pytest.raises(NotFoundError, match="temporaryReferenceCode and finalReferenceCode"):
        glance.get_pubnote("ATL-PHYS-PUB-1999-999")
    with pytest.raises(LookupError):
        glance.get_publication("NONE-1999-01")


def test_web_links(glance_sandbox):
    client = GlanceClass(web_base_url="https://example.cern.ch/atlas/analysis/")
    assert client.analysis_url("ANA-SUSY-2019-01") == \
        "https://example.cern.ch/atlas/analysis/analyses/details.php?ref_code=ANA-SUSY-2019-01"
    assert client.paper_url("HDBS-2018-33").endswith("/papers/details.php?ref_code=HDBS-2018-33")
    assert client.confnote_url("ATLAS-CONF-2023-009").endswith("/confnotes/details?ref_code=ATLAS-CONF-2023-009")
    assert client.pubnote_url("PUB-EGAM-2019-01").endswith("/pubnotes/details?ref_code=PUB-EGAM-2019-01")
    assert client.plot_url("PLOT-MUON-2018-08").endswith("/plots/details.php?ref_code=PLOT-MUON-2018-08")
    assert GlanceClass().analysis_url("X-1").startswith(conf.web_base_url)
    with pytest.raises(ValueError):
        client.paper_url("two words")
    # The sandbox serves the pages the links point at
    sandboxed = glance_sandbox.client("glance")
    known = glance_sandbox.info("glance")["known"]
    for url in (sandboxed.analysis_url(known["analysis"][0]), sandboxed.confnote_url(known["confnote"][0]),
                sandboxed.pubnote_url(known["pubnote_final"]["finalReferenceCode"])):
        assert requests.get(url, timeout=10).status_code == 200, url


def test_error_mapping(glance, glance_sandbox):
    with conf.set_temp("page_size", 5000):  # the server's limit is 1..1000
        with pytest.raises(InvalidQueryError, match="HTTP 400: Invalid query parameters: limit must be between 1 and 1000.*conf.page_size"):
            glance.query_triggers(cache=False)
    glance_sandbox.set_faults("glance", [Fault("status", status=500, path="/api/searchSubgroup")])
    try:
        with pytest.raises(RemoteServiceError, match="HTTP 500") as err:
            glance.query_subgroups(cache=False)
        assert err.value.status == 500
        glance_sandbox.set_faults("glance", [Fault("status", status=503, path="/api/searchSubgroup", nth=[1])])
        glance.retry_backoff = 0.01
        assert len(glance.query_subgroups(cache=False)) > 0  # a 503 is retried
    finally:
        glance_sandbox.set_faults("glance", [])
    bad = glance_sandbox.client("glance")
    bad.login(token="not-a-token")
    with pytest.raises(LoginError, match="Invalid or missing authentication token"):
        bad.query_triggers(cache=False)


def test_forbidden_user(glance_sandbox):
    guest = glance_sandbox.client("glance")
    guest.login("guest", open_browser=browser, store_token=False)
    assert guest._auth.principal == "guest"
    with pytest.raises(AuthorizationError, match="lacks the 'atlas-readers' role") as err:
        guest.query_triggers(cache=False)
    assert err.value.status == 403 and "login(force=True)" in str(err.value)


@pytest.mark.parametrize("name, mode", [("analysis_search", "analysis"), ("paper_search", "paper"),
                                        ("confnote_search", "confnote"), ("pubnote_search", "pubnote"),
                                        ("plot_search", "plot")])
def test_recorded_responses_parse(name, mode):
    """The real server's recorded envelopes (stare's fixtures) fit the Field lists."""
    envelope = json.loads((FIXTURES / f"{name}.json").read_text())
    fields = [f for f in FIELDS[mode] if f.name != "web_url"]
    table = records_to_table(envelope["results"], fields)
    assert len(table) == len(envelope["results"]) == envelope["numberOfResults"]
    record = envelope["results"][0]
    assert table["record"][0] == record
    assert table["status"][0] == record["status"]
    code = "referenceCode" if "referenceCode" in record else "temporaryReferenceCode"
    assert table[code][0] == record[code]
    for field in fields:
        if field.dtype == "time" and np.ma.is_masked(table[field.name][0]) is False:
            assert isinstance(table[field.name], Time)
    if mode == "paper":
        assert table["publicationPhase.state"][0] == record["publicationPhase"]["state"]


def test_date_forms():
    """Plain dates, aware datetimes and the {date, time} object all become UTC times."""
    records = [{"referenceCode": "HDBS-2020-01", "status": "x",
                "publicationPhase": {"arXivSubmissionDate": {"date": "2024-03-01", "time": "10:00:00+01:00"},
                                     "publishedOnlineDate": "2024-05-08T13:00:00+02:00",
                                     "journalAcceptanceDate": "2024-04-02"}},
               {"referenceCode": "HDBS-2020-02", "status": "y",
                "publicationPhase": {"arXivSubmissionDate": "not a date"}}]
    table = records_to_table(records, [f for f in FIELDS["paper"] if f.name != "web_url"])
    assert table["publicationPhase.arXivSubmissionDate"][0].isot == "2024-03-01T09:00:00.000"
    assert table["publicationPhase.publishedOnlineDate"][0].isot == "2024-05-08T11:00:00.000"
    assert table["publicationPhase.journalAcceptanceDate"][0].isot == "2024-04-02T00:00:00.000"
    assert table["publicationPhase.arXivSubmissionDate"].mask.tolist() == [False, True]
    assert table["record"][1]["publicationPhase"]["arXivSubmissionDate"] == "not a date"
