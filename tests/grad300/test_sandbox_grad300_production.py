"""The GRAD300 sandbox's default mode where production is unknown: the more demanding choice.

Evidence: specs/grad300.md §12 (uncertainties: item 2, GET /login/test-token by the client vs POST in
the template the backend forks; item 11, whether and how Content-Disposition is sent) and §6 (what
Starlette's FileResponse sends for names with '#').
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from astroquery_ext.sandbox import Sandbox


@pytest.fixture(scope="module")
def sb():
    with Sandbox(services={"grad300": {"n_scans": 12}}) as box:  # no mode: production
        yield box


def _auth(sb):
    return {"Authorization": f"Bearer {sb.credentials('grad300')['token']}"}


def test_test_token_is_post_only(sb, http):
    assert sb.mode("grad300") == "production" and sb.info("grad300")["test_token_get"] is False
    url = sb.url("grad300") + "login/test-token"
    assert http.post(url, headers=_auth(sb)).status_code == 200
    assert http.get(url, headers=_auth(sb)).status_code == 405


def test_names_with_hash_come_as_rfc5987_only(sb, http):
    records = http.get(sb.url("grad300") + "scans/TPI/", headers=_auth(sb)).json()
    record = next(r for r in records if "#" in r["file_name"])
    r = http.get(sb.url("grad300") + f"scans/TPI/{record['id']}/download", headers=_auth(sb))
    assert r.status_code == 200
    assert r.headers["Content-Disposition"] == f"attachment; filename*=utf-8''{quote(record['file_name'])}"


def test_our_client_works_in_production_mode(sb, tmp_path):
    # Our module POSTs test-token and names files after the catalogue, not the header.
    client = sb.client("grad300")
    client.login(token=sb.credentials("grad300")["token"], store_token=False)
    assert client.test_token()["email"] == sb.credentials("grad300")["username"]
    scans = client.query("TPI")[:2]
    client.download_scans(scans, tmp_path, show_progress=False)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(str(n) for n in scans["scan_name"]) and all("#" in n for n in names)


def test_relaxed_mode_answers_get_and_sends_the_quoted_form(http):
    with Sandbox(services={"grad300": {"n_scans": 8}}, mode="relaxed") as box:
        assert box.info("grad300")["content_disposition"] == "quoted"
        url = box.url("grad300") + "login/test-token"
        assert http.get(url, headers=_auth(box)).status_code == 200
