"""The Glance sandbox over raw HTTP: search API, server DSL, errors, and its OIDC provider."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest

from astroquery_ext.sandbox import Sandbox
from astroquery_ext.sandbox import _glance_data

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
FIELDS_TOML = Path("/work/shared/fixtures/glance/query-fields.toml")
REDIRECT = "http://localhost:8199/callback"


# -- helpers -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sb(glance_sandbox):
    return glance_sandbox


@pytest.fixture(scope="module")
def info(sb):
    return sb.info("glance")


@pytest.fixture(scope="module")
def http():
    with httpx.Client(trust_env=False, timeout=30) as client:
        yield client


def password_login(http, info, user="alice", scope="openid", client_id="stare"):
    r = http.post(info["token_endpoint"], data={"grant_type": "password", "client_id": client_id,
                                                 "username": user, "password": f"{user}-password",
                                                 "scope": scope})
    assert r.status_code == 200, r.text
    return r.json()


def exchange(http, info, access_token, audience=None, client_id="stare"):
    return http.post(info["token_endpoint"], data={
        "grant_type": EXCHANGE, "client_id": client_id, "subject_token": access_token,
        "subject_token_type": ACCESS_TYPE, "audience": audience or info["exchange_audience"]})


def claims(token):
    return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture(scope="module")
def api_token(http, info):
    tokens = password_login(http, info)
    r = exchange(http, info, tokens["access_token"])
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture(scope="module")
def api(sb, http, api_token):
    base = sb.url("glance")

    def get(endpoint, token=api_token, **params):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return http.get(base + endpoint, params=params, headers=headers)

    return get


@pytest.fixture(scope="module")
def search(api):
    def run(endpoint, query=None, **params):
        if query is not None:
            params["queryString"] = query
        params.setdefault("limit", 1000)
        r = api(endpoint, **params)
        assert r.status_code == 200, r.text
        return r.json()

    return run


@pytest.fixture(scope="module")
def everything(search):
    return {ep: search(ep)["results"] for ep in ("searchAnalysis", "searchPaper", "searchConfnote",
                                                  "searchPubnote", "searchPlot", "searchPublication",
                                                  "searchLeadingGroup", "searchSubgroup", "searchTrigger")}


def codes(payload, key="referenceCode"):
    return [r[key] for r in payload["results"]]


def pkce_pair():
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(http, info, challenge, *, client_id="stare", redirect_uri=REDIRECT, **extra):
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "scope": "openid", "state": "st-123", "code_challenge": challenge,
              "code_challenge_method": "S256", **extra}
    return http.get(info["authorization_endpoint"] + "?" + urlencode(params))


def redirect_params(response):
    assert response.status_code == 302, response.text
    loc = response.headers["location"]
    return loc.split("?")[0], {k: v[0] for k, v in parse_qs(urlsplit(loc).query).items()}


def stats(http, info):
    return http.get(info["stats_url"]).json()


# -- envelope and records ----------------------------------------------------------------


def test_envelope_exact(api, info):
    r = api("searchAnalysis", limit=3)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert set(body) == {"numberOfResults", "results"}
    assert body["numberOfResults"] == info["counts"]["analysis"]
    assert len(body["results"]) == 3


def test_default_limit_is_50(api):
    assert len(api("searchPublication").json()["results"]) == 50


def test_counts_and_known_codes(everything, info):
    counts = info["counts"]
    assert counts["analysis"] == 300 and counts["leadinggroup"] == 30
    assert counts["publication"] == sum(counts[k] for k in ("analysis", "paper", "confnote", "pubnote"))
    for ep, mode in (("searchAnalysis", "analysis"), ("searchPaper", "paper"), ("searchPlot", "plot")):
        got = {r["referenceCode"] for r in everything[ep]}
        assert set(info["known"][mode]) <= got
    pair = info["known"]["confnote_final"]
    assert {"temporaryReferenceCode": pair["temporaryReferenceCode"],
            "finalReferenceCode": pair["finalReferenceCode"]} in [
        {k: r[k] for k in ("temporaryReferenceCode", "finalReferenceCode")} for r in everything["searchConfnote"]]


PATTERNS = {"searchAnalysis": ("referenceCode", r"^ANA-[A-Z]+-\d{4}-\d{2}$"),
            "searchPaper": ("referenceCode", r"^[A-Z]+-\d{4}-\d{2}$"),
            "searchConfnote": ("temporaryReferenceCode", r"^CONF-[A-Z]{4}-\d{4}-\d{2}$"),
            "searchPubnote": ("temporaryReferenceCode", r"^PUB-[A-Z]{4}-\d{4}-\d{2}$"),
            "searchPlot": ("referenceCode", r"^PLOT-[A-Z]{4}-\d{4}-\d{2}$")}
STRING_SCALARS = {"cernCcid", "gitlabId", "year", "ecmValue", "luminosityValue"}
NULLABLE_LISTS = {"eoiMeetings", "editorialBoardRequestMeetings", "preApprovalMeetings", "approvalMeetings"}


def _walk(obj, key=None):
    yield key, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, k)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v, key)


def test_record_shapes(everything):
    for ep, (key, pattern) in PATTERNS.items():
        assert everything[ep], ep
        for rec in everything[ep]:
            assert re.match(pattern, rec[key]), rec[key]
    list_keys = {k for recs in everything.values() for rec in recs for k, v in _walk(rec) if isinstance(v, list)}
    for ep, recs in everything.items():
        for rec in recs:
            for k, v in _walk(rec):
                if k in STRING_SCALARS and v is not None:
                    assert isinstance(v, str), (ep, k, v)
                if v is None and k in list_keys:
                    assert k in NULLABLE_LISTS, (ep, k)
    finals = [r["finalReferenceCode"] for r in everything["searchConfnote"] if r["finalReferenceCode"]]
    assert finals and all(re.match(r"^ATLAS-CONF-\d{4}-\d{3}$", f) for f in finals)
    for rec in everything["searchPlot"]:  # plots have the narrower api.yml shape
        assert set(rec["groups"]) <= {"leadingGroup", "otherGroups"}
        assert set(rec["metadata"]) == {"collisions"}
    for rec in everything["searchTrigger"]:
        assert set(rec) == {"name", "year", "category"} and set(rec["category"]) == {"name"}
    for rec in everything["searchPaper"]:
        adt = (rec.get("publicationPhase") or {}).get("arXivSubmissionDate")
        if adt:
            assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$", adt)


def test_data_is_deterministic():
    a = _glance_data.build(5, n_analyses=40)
    b = _glance_data.build(5, n_analyses=40)
    c = _glance_data.build(6, n_analyses=40)
    assert a.analysis == b.analysis and a.trigger == b.trigger
    assert a.known() != c.known()


# -- the server DSL ------------------------------------------------------------------------


def test_raw_and_display_status(search):
    raw = search("searchPaper", "status = submission_active")
    label = search("searchPaper", 'status = "publication phase active"')
    assert raw["numberOfResults"] == label["numberOfResults"] > 0
    assert {r["status"] for r in raw["results"]} == {"Publication Phase Active"}
    # raw values of a state field; two raw values share one label
    a = search("searchConfnote", "phase1.state = lgp_approved")
    b = search("searchConfnote", "phase1.state = edBoardSignOff")
    assert a == b and {r["phase1"]["state"] for r in a["results"]} <= {"Editorial Board Draft Sign-off"}


def test_and_binds_tighter_than_or(search, everything):
    recs = everything["searchAnalysis"]
    A = {r["referenceCode"] for r in recs if r["status"] == "Closed"}
    B = {r["referenceCode"] for r in recs if r["groups"]["leadingGroup"]["name"] == "HDBS"}
    C = {r["referenceCode"] for r in recs if r["status"] == "Phase 0 Active"}
    q = "status = analysis_closed OR groups.leadingGroup.name = HDBS AND status = phase0_active"
    assert set(codes(search("searchAnalysis", q))) == A | (B & C)
    q2 = "( status = analysis_closed OR groups.leadingGroup.name = HDBS ) AND status = phase0_active"
    assert set(codes(search("searchAnalysis", q2))) == (A | B) & C
    assert set(codes(search("searchAnalysis", q.replace("OR", "or").replace("AND", "and")))) == A | (B & C)


def test_in_lists_and_any_element_paths(search, everything):
    hits = search("searchAnalysis", "groups.leadingGroup.name in [HDBS, SUSY, \"EXOT\"]")
    assert hits["numberOfResults"] > 0
    assert {r["groups"]["leadingGroup"]["name"] for r in hits["results"]} <= {"HDBS", "SUSY", "EXOT"}
    not_in = search("searchAnalysis", "groups.leadingGroup.name not in [HDBS, SUSY, EXOT]")
    assert hits["numberOfResults"] + not_in["numberOfResults"] == len(everything["searchAnalysis"])
    kw = search("searchAnalysis", 'metadata.keywords.name = "b-jets"')
    expected = {r["referenceCode"] for r in everything["searchAnalysis"]
                if "b-jets" in [k["name"] for k in r["metadata"]["keywords"]]}
    assert set(codes(kw)) == expected and expected
    none = search("searchAnalysis", 'metadata.keywords.name != "b-jets"')
    assert not set(codes(none)) & expected


def test_contain_is_case_insensitive(search, everything):
    hits = search("searchAnalysis", "shortTitle contain HIGGSINOS")
    expected = {r["referenceCode"] for r in everything["searchAnalysis"] if "higgsinos" in r["shortTitle"].lower()}
    assert set(codes(hits)) == expected and expected
    neg = search("searchAnalysis", "shortTitle not-contain higgsinos")
    assert len(neg["results"]) == len(everything["searchAnalysis"]) - len(expected)


def test_empty_and_null_semantics(search, everything):
    recs = everything["searchAnalysis"]
    null = {r["referenceCode"] for r in recs if not r.get("publicShortTitle")}
    assert set(codes(search("searchAnalysis", "publicShortTitle = __EMPTY__"))) == null and null
    assert set(codes(search("searchAnalysis", 'publicShortTitle != "__EMPTY__"'))) == \
        {r["referenceCode"] for r in recs} - null
    # != never matches a null field (SQL-like)
    ne = set(codes(search("searchAnalysis", "publicShortTitle != nothing-like-this")))
    assert ne == {r["referenceCode"] for r in recs} - null


def test_boolean_fields(search, everything):
    hits = search("searchPaper", "phase2.preliminaryPlotsAndResultsReleased = TRUE")
    expected = {r["referenceCode"] for r in everything["searchPaper"]
                if (r.get("phase2") or {}).get("preliminaryPlotsAndResultsReleased") is True}
    assert set(codes(hits)) == expected and expected


def test_dates_match_on_day_only(search, everything):
    rec = next(r for r in everything["searchPaper"]
               if (r.get("publicationPhase") or {}).get("arXivSubmissionDate"))
    full = rec["publicationPhase"]["arXivSubmissionDate"]
    day = search("searchPaper", f"publicationPhase.arXivSubmissionDate = {full[:10]}")
    assert rec["referenceCode"] in codes(day)
    assert search("searchPaper", f'publicationPhase.arXivSubmissionDate = "{full}"')["numberOfResults"] == 0


def test_publication_reference_code_matches_temporary_and_final(search, info, api):
    pair = info["known"]["confnote_final"]
    for code in pair.values():
        hit = search("searchPublication", f"referenceCode = {code}")
        assert hit["numberOfResults"] == 1
        assert hit["results"][0]["type"] == "CONF note"
        assert hit["results"][0]["temporaryReferenceCode"] == pair["temporaryReferenceCode"]
    for field in ("temporaryReferenceCode", "finalReferenceCode"):
        r = api("searchPublication", queryString=f"{field} = {pair['temporaryReferenceCode']}")
        assert r.status_code == 400 and field in r.json()["detail"]


def test_get_by_code_is_a_limit_1_search(search, info):
    code = info["known"]["pubnote"][0]
    hit = search("searchPubnote", f"temporaryReferenceCode = {code}", limit=1)
    assert hit["numberOfResults"] == 1 and hit["results"][0]["temporaryReferenceCode"] == code
    assert search("searchAnalysis", "referenceCode = ANA-NONE-1999-01") == {"numberOfResults": 0, "results": []}


def test_stare_wire_form_with_padded_parentheses(sb, http, api_token):
    # exactly what stare sends for `... in [EGAM, MUON]`, percent-encoded by hand
    url = (sb.url("glance") + "searchAnalysis?offset=0&limit=50&queryString=status+%21%3D+Closed+AND+%28+"
           "groups.leadingGroup.name+%3D+EGAM+OR+groups.leadingGroup.name+%3D+MUON+%29&sortBy=creationDate"
           "&sortDesc=true")
    r = http.get(url, headers={"Authorization": f"Bearer {api_token}"})
    assert r.status_code == 200
    res = r.json()["results"]
    assert res and {x["groups"]["leadingGroup"]["name"] for x in res} <= {"EGAM", "MUON"}
    assert all(x["status"] != "Closed" for x in res)
    dates = [x["creationDate"] for x in res]
    assert dates == sorted(dates, reverse=True)


def test_catalogue_fields_accepted(api):
    if not FIELDS_TOML.exists():
        pytest.skip("shared fixtures not available")
    catalogue = tomllib.loads(FIELDS_TOML.read_text())
    endpoint = {"analysis": "searchAnalysis", "paper": "searchPaper", "confnote": "searchConfnote",
                "pubnote": "searchPubnote", "plot": "searchPlot", "publication": "searchPublication",
                "leadinggroup": "searchLeadingGroup", "subgroup": "searchSubgroup", "trigger": "searchTrigger"}
    for mode, spec in catalogue.items():
        rejected = {"temporaryReferenceCode", "finalReferenceCode"} if mode == "publication" else set()
        terms = [f"{f} = {'true' if f in spec['boolean_fields'] else 'x'}"
                 for f in spec["fields"] if f not in rejected]
        r = api(endpoint[mode], queryString=" OR ".join(terms), limit=1)
        assert r.status_code == 200, (mode, r.text)
        for field in rejected:
            assert api(endpoint[mode], queryString=f"{field} = x").status_code == 400, field


# -- sorting and paging --------------------------------------------------------------------


def test_sorting(search):
    asc = codes(search("searchPaper", sortBy="referenceCode", sortDesc="false"))
    desc = codes(search("searchPaper", sortBy="referenceCode", sortDesc="true"))
    assert asc == sorted(asc) and desc == asc[::-1]
    trig = search("searchTrigger", sortBy="year", sortDesc="true")["results"]
    assert [t["year"] for t in trig] == sorted((t["year"] for t in trig), reverse=True)


def test_paging_is_consistent(search):
    full = codes(search("searchAnalysis", "status != Closed", sortBy="creationDate"))
    pages = []
    for offset in range(0, len(full), 37):
        page = search("searchAnalysis", "status != Closed", sortBy="creationDate", offset=offset, limit=37)
        assert page["numberOfResults"] == len(full)
        pages += codes(page)
    assert pages == full
    beyond = search("searchAnalysis", offset=10_000, limit=10)
    assert beyond["results"] == [] and beyond["numberOfResults"] == 300


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("params, words", [
    ({"queryString": "status = "}, "value"),
    ({"queryString": "status == Closed"}, "=="),
    ({"queryString": "( status = Closed"}, ")"),
    ({"queryString": "status = Closed AND"}, "field"),
    ({"queryString": "nosuchfield = x"}, "nosuchfield"),
    ({"queryString": "analysisTeam.isContactEditor contain tr"}, "boolean"),
    ({"queryString": "status in []"}, "list"),
    ({"limit": "0"}, "limit"),
    ({"limit": "5000"}, "limit"),
    ({"offset": "-1"}, "offset"),
    ({"offset": "abc"}, "integer"),
    ({"sortBy": "nosuch"}, "nosuch"),
    ({"sortBy": "referenceCode", "sortDesc": "maybe"}, "sortDesc"),
])
def test_400_error_json(api, params, words):
    r = api("searchAnalysis", **params)
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/json"  # as api.yml declares the error bodies
    body = r.json()
    assert body["status"] == 400 and body["title"] == "Bad Request"
    assert words.lower() in body["detail"].lower()


def test_401_403_404_405(api, sb, http, info):
    r = api("searchAnalysis", token=None)
    assert r.status_code == 401 and r.json()["title"] == "Unauthorized"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert api("searchAnalysis", token="not-a-jwt").status_code == 401
    base = password_login(http, info)
    plain = api("searchAnalysis", token=base["access_token"])
    assert plain.status_code == 401 and "audience" in plain.json()["detail"]
    assert api("searchAnalysis", token=base["id_token"]).status_code == 401
    assert api("searchAnalysis", token=base["refresh_token"]).status_code == 401
    guest = exchange(http, info, password_login(http, info, "guest")["access_token"]).json()["access_token"]
    r = api("searchAnalysis", token=guest)
    assert r.status_code == 403 and r.json() == {"status": 403, "title": "Forbidden", "detail": r.json()["detail"]}
    r = api("searchNothing")
    assert r.status_code == 404 and r.json()["status"] == 404
    r = http.post(sb.url("glance") + "searchAnalysis")
    assert r.status_code == 405


# -- OIDC: discovery, PKCE, ID token ---------------------------------------------------------


def test_discovery_matches_info(http, info):
    doc = http.get(info["discovery_url"]).json()
    assert doc["issuer"] == info["issuer"]
    for key in ("authorization_endpoint", "token_endpoint", "revocation_endpoint", "jwks_uri",
                "userinfo_endpoint", "device_authorization_endpoint"):
        assert doc[key] == info[key]
    keys = http.get(info["jwks_uri"]).json()["keys"]
    assert keys == [{"kid": info["kid"], "kty": "RSA", "alg": "RS256", "use": "sig",
                     "n": keys[0]["n"], "e": "AQAB"}]


def test_pkce_code_flow_and_id_token(http, info):
    verifier, challenge = pkce_pair()
    where, params = redirect_params(authorize(http, info, challenge, nonce="n-0S6"))
    assert where == REDIRECT
    assert params["state"] == "st-123" and params["iss"] == info["issuer"] and params["code"]
    r = http.post(info["token_endpoint"], data={"grant_type": "authorization_code", "code": params["code"],
                                                 "redirect_uri": REDIRECT, "client_id": "stare",
                                                 "code_verifier": verifier})
    assert r.status_code == 200, r.text
    tok = r.json()
    assert tok["token_type"] == "Bearer" and tok["expires_in"] >= 300
    assert {"access_token", "refresh_token", "id_token", "scope", "session_state"} <= set(tok)
    # the ID token verifies against the JWKS, as stare and our client check it
    signing_key = jwt.PyJWKClient(info["jwks_uri"]).get_signing_key_from_jwt(tok["id_token"])
    idc = jwt.decode(tok["id_token"], signing_key.key, algorithms=["RS256"], audience="stare",
                     issuer=info["issuer"])
    assert jwt.get_unverified_header(tok["id_token"])["kid"] == info["kid"]
    assert idc["nonce"] == "n-0S6" and idc["preferred_username"] == "alice"
    assert idc["name"] == "Alice Archer" and idc["email"] == "alice.archer@cern.ch"
    assert idc["iat"] <= time.time() < idc["exp"] and idc["sub"]
    rt = claims(tok["refresh_token"])
    assert rt["typ"] == "Refresh" and rt["exp"] > time.time()
    # the code is single-use
    again = http.post(info["token_endpoint"], data={"grant_type": "authorization_code", "code": params["code"],
                                                     "redirect_uri": REDIRECT, "client_id": "stare",
                                                     "code_verifier": verifier})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("change, error", [
    ({"code_verifier": "wrong" * 10}, "invalid_grant"),
    ({"redirect_uri": "http://localhost:9999/callback"}, "invalid_grant"),
    ({"client_id": "astroquery-ext"}, "invalid_grant"),
    ({"client_id": "nobody"}, "invalid_client"),
    ({"code": "forged"}, "invalid_grant"),
])
def test_pkce_token_checks(http, info, change, error):
    verifier, challenge = pkce_pair()
    _, params = redirect_params(authorize(http, info, challenge))
    form = {"grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT,
            "client_id": "stare", "code_verifier": verifier, **change}
    r = http.post(info["token_endpoint"], data=form)
    assert r.status_code in (400, 401) and r.json()["error"] == error
    assert r.json()["error_description"]


def test_authorize_chooses_user_and_reports_errors(http, info):
    verifier, challenge = pkce_pair()
    _, params = redirect_params(authorize(http, info, challenge, login_hint="bob"))
    tok = http.post(info["token_endpoint"], data={"grant_type": "authorization_code", "code": params["code"],
                                                   "redirect_uri": REDIRECT, "client_id": "stare",
                                                   "code_verifier": verifier}).json()
    assert claims(tok["id_token"])["preferred_username"] == "bob"
    _, params = redirect_params(authorize(http, info, challenge, login_hint="mallory"))
    assert params["error"] == "access_denied" and params["state"] == "st-123"
    _, params = redirect_params(authorize(http, info, challenge, code_challenge_method="plain"))
    assert params["error"] == "invalid_request"
    # a redirect URI that is not loopback is never redirected to
    r = authorize(http, info, challenge, redirect_uri="https://evil.example/cb")
    assert r.status_code == 400 and "location" not in r.headers
    r = authorize(http, info, challenge, client_id="unknown-client")
    assert r.status_code == 400


# -- refresh rotation, offline sessions, exchange, revocation ---------------------------------


def test_refresh_rotation(http, info):
    tok = password_login(http, info)
    before = stats(http, info)["refreshes"]
    r = http.post(info["token_endpoint"], data={"grant_type": "refresh_token", "client_id": "stare",
                                                 "refresh_token": tok["refresh_token"]})
    assert r.status_code == 200
    new = r.json()
    assert new["refresh_token"] != tok["refresh_token"] and new["id_token"]
    assert stats(http, info)["refreshes"] == before + 1
    replay = http.post(info["token_endpoint"], data={"grant_type": "refresh_token", "client_id": "stare",
                                                      "refresh_token": tok["refresh_token"]})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    other = http.post(info["token_endpoint"], data={"grant_type": "refresh_token", "client_id": "astroquery-ext",
                                                     "refresh_token": new["refresh_token"]})
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"
    assert stats(http, info)["refreshes"] == before + 1


def test_offline_session(http, info):
    tok = password_login(http, info, scope="openid offline_access")
    rt = claims(tok["refresh_token"])
    assert rt["typ"] == "Offline" and "exp" not in rt and tok["refresh_expires_in"] == 0
    r = http.post(info["token_endpoint"], data={"grant_type": "refresh_token", "client_id": "stare",
                                                 "refresh_token": tok["refresh_token"]})
    assert r.status_code == 200 and claims(r.json()["refresh_token"])["typ"] == "Offline"


def test_token_exchange(http, info, api):
    tok = password_login(http, info, "bob")
    r = exchange(http, info, tok["access_token"])
    assert r.status_code == 200
    ex = r.json()
    assert ex["issued_token_type"] == ACCESS_TYPE and ex["expires_in"] > 120
    c = claims(ex["access_token"])
    assert c["aud"] == info["exchange_audience"] and c["preferred_username"] == "bob" and c["azp"] == "stare"
    assert api("searchTrigger", token=ex["access_token"], limit=1).status_code == 200
    bad = exchange(http, info, tok["access_token"], audience="some-other-api")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"
    bad = exchange(http, info, "garbage")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_token"
    bad = exchange(http, info, tok["refresh_token"])
    assert bad.status_code == 400


def test_revocation_ends_the_session(http, info, api):
    tok = password_login(http, info)
    ex = exchange(http, info, tok["access_token"]).json()["access_token"]
    assert api("searchSubgroup", token=ex, limit=1).status_code == 200
    before = stats(http, info)["revocations"]
    r = http.post(info["revocation_endpoint"], data={"client_id": "stare", "token": tok["refresh_token"],
                                                      "token_type_hint": "refresh_token"})
    assert r.status_code == 200
    assert http.post(info["revocation_endpoint"], data={"token": "junk"}).status_code == 200
    assert stats(http, info)["revocations"] == before + 2
    assert api("searchSubgroup", token=ex, limit=1).status_code == 401
    r = http.post(info["token_endpoint"], data={"grant_type": "refresh_token", "client_id": "stare",
                                                 "refresh_token": tok["refresh_token"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_userinfo(http, info):
    tok = password_login(http, info, "bob")
    r = http.get(info["userinfo_endpoint"], headers={"Authorization": f"Bearer {tok['access_token']}"})
    assert r.status_code == 200 and r.json()["preferred_username"] == "bob"
    assert http.get(info["userinfo_endpoint"]).status_code == 401


def test_wrong_password(http, info):
    r = http.post(info["token_endpoint"], data={"grant_type": "password", "client_id": "stare",
                                                 "username": "alice", "password": "nope"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_grant"
    r = http.post(info["token_endpoint"], data={"grant_type": "magic", "client_id": "stare"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


# -- device authorization grant -----------------------------------------------------------------


def _poll(http, info, device_code, client_id="astroquery-ext"):
    return http.post(info["token_endpoint"], data={"grant_type": DEVICE, "device_code": device_code,
                                                    "client_id": client_id})


def test_device_flow(http, info):
    r = http.post(info["device_authorization_endpoint"], data={"client_id": "astroquery-ext", "scope": "openid"})
    assert r.status_code == 200
    dev = r.json()
    assert re.match(r"^[A-Z]{4}-[A-Z]{4}$", dev["user_code"])
    assert dev["verification_uri"] == info["device_verification_uri"]
    assert dev["interval"] == 1 and dev["expires_in"] == 600
    first = _poll(http, info, dev["device_code"])
    assert first.status_code == 400 and first.json()["error"] == "authorization_pending"
    fast = _poll(http, info, dev["device_code"])
    assert fast.json()["error"] == "slow_down"
    assert _poll(http, info, dev["device_code"], client_id="stare").json()["error"] == "invalid_grant"
    page = http.get(dev["verification_uri_complete"] + "&login_hint=bob")
    assert page.status_code == 200 and "approved" in page.text
    time.sleep(dev["interval"] + 0.05)
    done = _poll(http, info, dev["device_code"])
    assert done.status_code == 200, done.text
    tok = done.json()
    assert claims(tok["id_token"])["preferred_username"] == "bob"
    assert claims(tok["id_token"])["aud"] == "astroquery-ext"
    assert _poll(http, info, dev["device_code"]).json()["error"] == "invalid_grant"  # single use


def test_device_flow_denied(http, info):
    dev = http.post(info["device_authorization_endpoint"], data={"client_id": "stare"}).json()
    page = http.get(info["device_verification_uri"], params={"user_code": dev["user_code"], "action": "deny"})
    assert page.status_code == 200 and "denied" in page.text
    assert _poll(http, info, dev["device_code"], "stare").json()["error"] == "access_denied"
    assert http.get(info["device_verification_uri"], params={"user_code": "ZZZZ-ZZZZ"}).status_code == 400


# -- the web UI links ----------------------------------------------------------------------------


def test_web_details_pages(http, info):
    code = info["known"]["analysis"][0]
    r = http.get(f"{info['web_base_url']}/analyses/details.php", params={"ref_code": code})
    assert r.status_code == 200 and code in r.text
    note = info["known"]["confnote"][0]
    assert http.get(f"{info['web_base_url']}/confnotes/details", params={"ref_code": note}).status_code == 200
    assert http.get(f"{info['web_base_url']}/papers/details.php", params={"ref_code": code}).status_code == 404


# -- options: quirks, strictness, base tokens, short lifetimes, auto-approval ----------------------


@pytest.fixture(scope="module")
def quirky():
    opts = {"n_analyses": 40, "quirks": "all", "strict_dsl": True, "accept_base_tokens": True,
            "access_token_ttl": 600, "device_auto_approve_after": 1, "device_interval": 0, "cache_control": "",
            "max_limit": 20, "auto_approve": False}
    with Sandbox(services={"glance": opts}, seed=1, mode="relaxed") as box:  # + password grant
        yield box


def test_options(quirky):
    info = quirky.info("glance")
    base = quirky.url("glance")
    assert info["counts"]["analysis"] == 40 and info["quirks"] == ["double_decode", "paren_500"]
    with httpx.Client(trust_env=False) as http:
        tok = password_login(http, info)
        assert tok["expires_in"] == 600  # access_token_ttl
        h = {"Authorization": f"Bearer {tok['access_token']}"}  # a base token: accepted here

        def get(**params):
            params.setdefault("limit", 20)
            return http.get(base + "searchAnalysis", params=params, headers=h)

        ok = get(limit=5)
        assert ok.status_code == 200 and "cache-control" not in ok.headers
        assert get(limit=21).status_code == 400
        # ATGLANCE-8337: a parenthesis touching a bare token crashes the real server
        assert get(queryString="(status = Closed OR status = Created)").status_code == 500
        assert get(queryString="( status = Closed OR status = Created )").status_code == 200
        assert get(queryString='("status" = "Closed" OR "status" = "Created")').status_code == 200
        # ATGLANCE-8333: decoded twice, so '+' in a value turns into a space
        title = next(r["shortTitle"] for r in get(limit=20).json()["results"] if "+" not in r["shortTitle"])
        assert get(queryString=f'shortTitle = "{title}"').json()["numberOfResults"] >= 1
        plus = get(queryString='shortTitle contain "a+b"').json()["numberOfResults"]
        spaced = get(queryString='shortTitle contain "a b"').json()["numberOfResults"]
        assert plus == spaced
        # strict DSL: lower-case conjunctions are refused
        assert get(queryString="status = Closed or status = Created").status_code == 400
        assert get(queryString="status = Closed OR status = Created").status_code == 200
        # device grant approved automatically on the second poll
        dev = http.post(info["device_authorization_endpoint"], data={"client_id": "stare"}).json()
        assert _poll(http, info, dev["device_code"], "stare").json()["error"] == "authorization_pending"
        assert _poll(http, info, dev["device_code"], "stare").status_code == 200
        # without auto-approval the authorization endpoint shows a login form
        verifier, challenge = pkce_pair()
        form = authorize(http, info, challenge)
        assert form.status_code == 200 and "<form" in form.text
        params = {"response_type": "code", "client_id": "stare", "redirect_uri": REDIRECT, "state": "s1",
                  "code_challenge": challenge, "code_challenge_method": "S256"}
        wrong = http.post(info["authorization_endpoint"], data={**params, "username": "bob", "password": "x"})
        assert wrong.status_code == 200 and "Invalid username or password" in wrong.text
        _, back = redirect_params(http.post(info["authorization_endpoint"],
                                            data={**params, "username": "bob", "password": "bob-password"}))
        assert back["state"] == "s1" and back["code"]
        # the access token expires (the sandbox's control passes its lifetime)
        assert quirky.control("glance", "expire-access-tokens") >= 1
        late = get(limit=1)
        assert late.status_code == 401 and "expired" in late.json()["detail"]
