"""The ATLAS sandbox's default (production) mode: each point with its evidence.

Evidence cited per test: specs/atlas.md (from the server's public source, psat-server-web ac9f2aec),
fixtures/atlas/exchanges/*.json, and the upstream code of Django REST framework the server runs.
The relaxed mode's values are checked once, at the end.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from astroquery_ext.sandbox import Sandbox

FIXTURES = Path("/work/shared/fixtures/atlas/exchanges")
SMALL = {"n_objects": 20, "lc_length": 6, "prewarm": False}


def _exchange(endpoint_file, name_part):
    data = json.loads((FIXTURES / endpoint_file).read_text())
    return next(e for e in data["exchanges"] if name_part in e["name"])


@pytest.fixture(scope="module")
def sb():
    with Sandbox(services={"atlas": SMALL}) as box:  # no mode: production
        yield box


@pytest.fixture
def post(sb, http):
    def send(endpoint, user="vra_bot", **kwargs):
        token = sb.credentials("atlas", user)["token"]
        headers = kwargs.pop("headers", {"Authorization": f"Token {token}"})
        return http.post(sb.url("atlas") + endpoint, headers=headers, **kwargs)
    return send


def test_default_mode_is_production(sb):
    assert sb.mode("atlas") == "production"
    assert sb.info("atlas")["throttle"] == {"rate": 100, "staff_rate": 100000, "anon_rate": 10, "period": 3600.0}


def test_101st_request_of_the_hour_is_429_with_retry_after(http):
    # specs/atlas.md §3: 100 requests/hour per non-staff user, all endpoints; 10/hour on auth-token/.
    # fixtures errors.json "throttled (101st request within an hour, non-staff)": body and Retry-After.
    expected = _exchange("errors.json", "throttled")["response"]
    with Sandbox(services={"atlas": SMALL}) as box:
        token = box.credentials("atlas", "reader")["token"]
        url = box.url("atlas")
        for _ in range(100):
            ok = http.post(url + "cone/", data={"ra": 1, "dec": 2, "radius": 3, "requestType": "count"},
                           headers={"Authorization": f"Token {token}"})
            assert ok.status_code == 200
        r = http.post(url + "objects/", data={"objects": "1000005291314656200"},
                      headers={"Authorization": f"Token {token}"})
        assert r.status_code == expected["status"] == 429
        wait = int(r.headers["Retry-After"])
        assert 3000 < wait <= 3600
        assert r.json() == {"detail": expected["body"]["detail"].replace("1284", str(wait))}
        # byte for byte as DRF renders it (compact)
        assert r.content == b'{"detail":"Request was throttled. Expected available in %d seconds."}' % wait
        for _ in range(10):
            assert http.post(url + "auth-token/", data={"username": "x", "password": "y"}).status_code == 400
        eleventh = http.post(url + "auth-token/", data={"username": "vra_bot", "password": "vra_bot-password"})
        assert eleventh.status_code == 429 and int(eleventh.headers["Retry-After"]) > 3000


@pytest.mark.parametrize("endpoint, payload, field", [
    ("objects/", {"objects": "1000005291314656200", "mjd": None}, "mjd"),
    ("objectlist/", {"objectlistid": 2, "datethreshold": None}, "datethreshold"),
    ("objectlist/", {"objectlistid": 2, "getcustomlist": None}, "getcustomlist"),
    ("objectgroupslist/", {"objectid": None}, "objectid"),
    ("vrascores/", {"objectid": 1000005291314656200, "preal": None}, "preal"),
    ("vrascoreslist/", {"objects": None}, "objects"),
])
def test_json_null_on_an_optional_field_is_400(post, endpoint, payload, field):
    # DRF fields refuse None unless allow_null=True, which none of the server's serializers set
    # (fields.py Field.validate_empty_values: 'null' -> "This field may not be null.").
    r = post(endpoint, json=payload)
    assert r.status_code == 400
    assert r.json() == {field: ["This field may not be null."]}


def test_externalobjects_is_optional(post):
    # psat-server-web ExternalCrossmatchesListSerializer: externalObjects required=False (absent: no names).
    r = post("externalxmlist/", data={})
    assert r.status_code == 200 and r.json() == []
    named = _exchange("externalxmlist.json", "external name")["request"]["form"]
    assert post("externalxmlist/", data=named).status_code == 200


def test_query_token_next_to_another_scheme_is_accepted(sb, http):
    # DRF: TokenAuthentication returns None for a scheme other than "Token"; QueryAuthentication then
    # reads ?token= (specs/atlas.md §2 lists both classes in that order).
    token = sb.credentials("atlas")["token"]
    data = {"ra": 1, "dec": 2, "radius": 3, "requestType": "count"}
    r = http.post(sb.url("atlas") + f"cone/?token={token}", data=data, headers={"Authorization": "Bearer abc"})
    assert r.status_code == 200 and r.json() == {"count": 0}
    bearer_only = http.post(sb.url("atlas") + "cone/", data=data, headers={"Authorization": "Bearer abc"})
    assert bearer_only.status_code == 401


def test_floats_are_what_python_float_takes(post):
    # DRF FloatField.to_internal_value is float(data): 'nan', 'inf' and JSON true pass validation;
    # OverflowError gives 'Integer value too large to convert to float'.
    base = {"dec": 2, "radius": 3, "requestType": "count"}
    assert post("cone/", data=dict(base, ra="nan")).json() == {"count": 0}
    assert post("cone/", data=dict(base, ra="inf")).status_code == 200
    assert post("cone/", json=dict(base, ra=True)).status_code == 200
    big = post("cone/", json=dict(base, ra=10 ** 400))
    assert big.status_code == 400 and big.json() == {"ra": ["Integer value too large to convert to float"]}
    assert post("cone/", data=dict(base, ra="x")).json() == {"ra": ["A valid number is required."]}


def test_allow_and_security_headers(post, sb, http):
    # DRF APIView.finalize_response sets Allow (the view's methods) and Vary: Accept on every answer;
    # Django's SecurityMiddleware and XFrameOptionsMiddleware add the rest, to every answer.
    security = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin", "Cross-Origin-Opener-Policy": "same-origin"}
    ok = post("cone/", data={"ra": 1, "dec": 2, "radius": 3, "requestType": "count"})
    unauth = http.post(sb.url("atlas") + "vratodo/", data={"objectid": 1})
    auth = http.post(sb.url("atlas") + "auth-token/", data={})
    for r, allow in ((ok, "GET, POST, HEAD, OPTIONS"), (unauth, "GET, POST, HEAD, OPTIONS"),
                     (auth, "POST, OPTIONS")):
        assert r.headers["Allow"] == allow and r.headers["Vary"] == "Accept"
        assert {k: r.headers[k] for k in security} == security
    missing = http.get(sb.origin("atlas") + "/api/nothing/")
    assert missing.status_code == 404 and missing.headers["X-Frame-Options"] == "DENY"


def test_json_is_compact(post, sb):
    # DRF JSONRenderer: COMPACT_JSON (separators ',' and ':'), non-ASCII kept.
    oid = sb.info("atlas")["example_ids"][0]
    for r in (post("objects/", data={"objects": f"{oid},1132507360113744501"}),
              post("objectlist/", data={"objectlistid": 2}),
              post("objectgroups/", data={"objectid": 1, "objectgroupid": 73})):
        assert r.status_code in (200, 201)
        assert r.content == json.dumps(r.json(), separators=(",", ":"), ensure_ascii=False).encode()


def test_timestamps_written_by_the_api_are_whole_seconds(post, sb):
    # The server's DATETIME columns have no fraction (vrascoreslist/vratodolist fixtures: whole seconds).
    oid = sb.info("atlas")["example_ids"][1]
    assert post("vratodo/", data={"objectid": oid, "insertdate": "2026-01-02T03:04:05.678Z"}).status_code == 201
    todo = post("vratodolist/", data={"objects": str(oid)}).json()
    assert todo == [{"transient_object_id": oid, "timestamp": "2026-01-02T03:04:06Z"}]
    assert post("vrascores/", data={"objectid": oid, "rank": 3}).status_code == 201
    stamps = [row["timestamp"] for row in post("vrascoreslist/", data={"objects": str(oid)}).json()]
    assert stamps and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t) for t in stamps)


def test_relaxed_mode_is_explicit_and_lenient(http):
    with Sandbox(services={"atlas": SMALL}, mode="relaxed") as box:
        assert box.mode("atlas") == "relaxed"
        assert box.info("atlas")["throttle"]["rate"] == 100_000
        token = box.credentials("atlas")["token"]
        r = http.post(box.url("atlas") + "objects/", json={"objects": "1000005291314656200", "mjd": None},
                      headers={"Authorization": f"Token {token}"})
        assert r.status_code == 200


@pytest.mark.parametrize("header, detail", [
    ("Basic", "Invalid basic header. No credentials provided."),
    ("Basic a b", "Invalid basic header. Credentials string should not contain spaces."),
    ("basic !!!notbase64", "Invalid basic header. Credentials not correctly base64 encoded."),
    ("Basic " + base64.b64encode(b"no-colon").decode(),
     "Invalid basic header. Credentials not correctly base64 encoded."),
    ("Basic " + base64.b64encode(b"vra_bot:wrong").decode(), "Invalid username/password."),
])
def test_auth_token_refuses_a_bad_basic_header_with_403(sb, http, header, detail):
    # DRF's default authentication classes on the token view: SessionAuthentication, then
    # BasicAuthentication; the first gives no WWW-Authenticate, so a failure is 403, not 401.
    answer = http.post(sb.url("atlas") + "auth-token/", headers={"Authorization": header},
                       data={"username": "vra_bot", "password": "vra_bot-password"})
    assert (answer.status_code, answer.json()) == (403, {"detail": detail})
    assert "WWW-Authenticate" not in answer.headers


def test_auth_token_takes_a_valid_basic_header_and_other_schemes_as_before(sb, http):
    creds = {"username": "vra_bot", "password": "vra_bot-password"}
    basic = "Basic " + base64.b64encode(b"vra_bot:vra_bot-password").decode()
    for header in (basic, "Token abc", "Bearer x"):
        answer = http.post(sb.url("atlas") + "auth-token/", headers={"Authorization": header}, data=creds)
        assert answer.status_code == 200 and len(answer.json()["token"]) == 40
