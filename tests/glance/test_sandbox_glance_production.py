"""The Glance sandbox's default (production) mode: each point with its evidence.

Evidence: specs/glance.md §2.6 (the server bugs ATGLANCE-8337 and ATGLANCE-8333, §3.1 the query
language), fixtures/glance/api.yml (the published OpenAPI file: operators, error media type, record
shapes), fixtures/glance/responses (a captured record).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import yaml

from astroquery_ext.glance import GlanceClass  # noqa: F401 (imported before the sandbox's clients are)
from astroquery_ext.sandbox import Sandbox

API_YML = Path("/work/shared/fixtures/glance/api.yml")
MEETINGS = ("eoiMeetings", "editorialBoardRequestMeetings", "preApprovalMeetings", "approvalMeetings")


@pytest.fixture(scope="module")
def sb():
    with Sandbox(services={"glance": {"n_analyses": 120}}) as box:  # no mode: production
        yield box


@pytest.fixture(scope="module")
def api(sb):
    client = sb.client("glance")
    client.login(open_browser=lambda url: requests.get(url, timeout=10))
    token = client._auth_header(client._auth)["Authorization"]
    session = requests.Session()
    session.trust_env = False

    def get(endpoint, **params):
        return session.get(sb.url("glance") + endpoint, params=params, headers={"Authorization": token})
    yield get
    session.close()


@pytest.fixture(scope="module")
def code(api):
    return api("searchAnalysis", limit=1).json()["results"][0]["referenceCode"]


def test_default_mode_is_production(sb):
    info = sb.info("glance")
    assert sb.mode("glance") == "production"
    assert info["quirks"] == ["double_decode", "paren_500"] and info["strict_dsl"] is True
    assert info["list_operators"] is False and info["password_grant"] is False


def test_parenthesis_touching_a_bare_token_is_500(api, code):
    # specs/glance.md §2.6 item 1 (ATGLANCE-8337): "(status = A OR status = B)" fails with HTTP 500.
    crash = api("searchAnalysis", queryString=f"(referenceCode = {code})")
    assert crash.status_code == 500
    padded = api("searchAnalysis", queryString=f"( referenceCode = {code} )")
    assert padded.status_code == 200 and padded.json()["numberOfResults"] == 1


def test_values_with_plus_or_question_mark_never_match(api, code):
    # specs/glance.md §2.6 item 2 (ATGLANCE-8333): queryString is URL-decoded twice.
    prefix = code.rsplit("-", 1)[0]
    assert api("searchAnalysis", queryString=f'referenceCode contain "{prefix}"').json()["numberOfResults"] >= 1
    for bad in (f'referenceCode contain "{prefix}+"', f'referenceCode contain "{prefix}?"',
                'shortTitle contain "a+b"'):
        r = api("searchAnalysis", queryString=bad)
        assert r.status_code == 200 and r.json()["numberOfResults"] == 0, bad


def test_operators_are_case_sensitive_and_only_and_or(api, code):
    # api.yml queryString: operators =, !=, contain, not-contain; AND/OR upper-case (specs §3.1).
    text = API_YML.read_text()
    assert "not-contain" in text
    ok = api("searchAnalysis", queryString=f"referenceCode = {code} AND referenceCode contain ANA")
    assert ok.status_code == 200 and ok.json()["numberOfResults"] == 1
    for bad in (f"referenceCode = {code} and referenceCode contain ANA",
                f"referenceCode CONTAIN {code}", f"referenceCode = {code} Or referenceCode = x"):
        r = api("searchAnalysis", queryString=bad)
        assert r.status_code == 400, bad


def test_no_list_operators(api, code):
    # api.yml lists no 'in': the real API lacks it.
    for bad in (f"referenceCode in [{code}, X]", f"referenceCode not in [{code}]"):
        r = api("searchAnalysis", queryString=bad)
        assert r.status_code == 400 and "expected an operator" in r.json()["detail"]


def test_meeting_lists_are_never_null(api):
    # api.yml: the phase0 *Meetings are arrays (not nullable); the captured record has lists.
    spec = yaml.safe_load(API_YML.read_text())
    assert "eoiMeetings" in json.dumps(spec)
    records = api("searchAnalysis", limit=120).json()["results"]
    with_phase0 = [rec for rec in records if rec.get("phase0")]
    assert len(records) == 120 and len(with_phase0) > 50
    for rec in with_phase0:
        for key in MEETINGS:
            assert isinstance(rec["phase0"][key], list), (rec["referenceCode"], key)


def test_errors_are_application_json(api):
    # api.yml error responses: content application/json (not application/problem+json).
    r = api("searchAnalysis", queryString="referenceCode ==")
    assert r.status_code == 400 and r.headers["Content-Type"] == "application/json"
    assert set(r.json()) == {"status", "title", "detail"}


def test_password_grant_is_off_for_public_clients(sb):
    info = sb.info("glance")
    r = requests.post(info["token_endpoint"], data={"grant_type": "password", "client_id": "stare",
                                                    "username": "alice", "password": "alice-password"},
                      proxies={"http": None, "https": None})
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"


def test_relaxed_mode_switches_them_the_lenient_way():
    with Sandbox(services={"glance": {"n_analyses": 40}}, mode="relaxed") as box:
        info = box.info("glance")
        assert box.mode("glance") == "relaxed"
        assert info["quirks"] == [] and info["strict_dsl"] is False and info["list_operators"] is True
        assert info["password_grant"] is True


def _api_yml_fields(endpoint):
    """The searchable fields api.yml lists under the endpoint's queryString parameter."""
    import re

    spec = yaml.safe_load(API_YML.read_text())
    described = next(p["description"] for p in spec["paths"]["/" + endpoint]["get"]["parameters"]
                     if p["name"] == "queryString")
    return set(re.findall(r"<li><code>([^<]+)</code>", described[described.index("searchable fields"):]))


@pytest.mark.parametrize("endpoint, field", [
    ("searchAnalysis", "documentation.repositories.label"),
    ("searchAnalysis", "extraMetadata.notes"),
    ("searchAnalysis", "groups"),
    ("searchPaper", "documentation.repositories.gitlabId"),
    ("searchConfnote", "documentation.repositories.url"),
    ("searchPubnote", "documentation.repositories"),
    ("searchTrigger", "category"),
])
def test_a_field_api_yml_does_not_list_is_refused(api, endpoint, field):
    assert field not in _api_yml_fields(endpoint)
    answer = api(endpoint, queryString=f'"{field}" = "x"', limit=1)
    assert answer.status_code == 400 and "Unknown field" in answer.text


@pytest.mark.parametrize("endpoint", ["searchAnalysis", "searchPaper", "searchConfnote", "searchPubnote",
                                      "searchPlot", "searchTrigger"])
def test_every_field_api_yml_lists_is_accepted(api, endpoint):
    for field in sorted(_api_yml_fields(endpoint)):
        answer = api(endpoint, queryString=f'"{field}" != "__EMPTY__"', limit=1)
        assert answer.status_code == 200, (field, answer.text)
