"""Drive the unmodified ``stare`` against the Glance sandbox; print a JSON report.

Run by ``test_glance_peer.py`` in a subprocess whose environment carries the
``STARE_*`` settings, private ``HOME``/``XDG_*`` directories and
``STARE_TOKEN_STORAGE=file`` (stare reads its token path at import time, so
the environment must be set before Python starts). Argument: the sandbox's
stats URL. Every step records what it saw; the test asserts on it.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
import traceback

import httpx

STATS_URL = sys.argv[1]
report: dict = {"steps": [], "errors": {}}


def stats() -> dict:
    return httpx.get(STATS_URL, trust_env=False).json()


def step(name):
    def wrap(fn):
        try:
            report[name] = fn()
            report["steps"].append(name)
        except Exception:  # noqa: BLE001 - reported to the test
            report["errors"][name] = traceback.format_exc()
        return fn
    return wrap


def _v(value):
    """An enum member's wire value (stare parses statuses into lenient enums)."""
    return getattr(value, "value", value)


def browse(url: str) -> None:
    """A headless 'browser': follow the authorization redirect to stare's callback."""
    with httpx.Client(trust_env=False, timeout=10) as client:
        first = client.get(url)
        assert first.status_code == 302, (first.status_code, first.text)
        location = first.headers["location"]
        report.setdefault("redirects", []).append(location.split("?")[0])
        # stare listens on 127.0.0.1 only; "localhost" may resolve to ::1 first
        client.get(location.replace("://localhost:", "://127.0.0.1:", 1))


from stare import Glance  # noqa: E402  (after the environment is known)
from stare.auth import TokenManager  # noqa: E402
from stare.exceptions import NotFoundError, UnauthorizedError  # noqa: E402
from stare.settings import StareSettings  # noqa: E402

stats0 = stats()
manager = TokenManager()
t_login = time.time()


@step("login")
def _login():
    manager.login(on_url_ready=browse)
    path = manager.token_path
    stored = json.loads(path.read_text())
    return {"token_path": str(path), "mode": oct(stat.S_IMODE(os.stat(path).st_mode)),
            "keys": sorted(stored), "has_id_token": bool(stored.get("id_token")),
            "session": manager.get_session_info().model_dump(mode="json") if manager.get_session_info() else None,
            "claims": manager.get_token_info().model_dump(mode="json", exclude_none=True)
            if manager.get_token_info() else None,
            "refresh_token": stored["refresh_token"]}


glance = Glance(token_manager=manager)


@step("searches")
def _searches():
    out = {}
    res = glance.analyses.search(query='status = "Phase 0 Active" and groups.leadingGroup.name in [HDBS, SUSY, EXOT]',
                                 limit=20, sort_by="referenceCode", sort_desc=True)
    out["analysis"] = {"total": res.number_of_results,
                       "codes": [a.reference_code for a in res.results],
                       "statuses": sorted({_v(a.status) for a in res.results}),
                       "groups": sorted({a.groups.leading_group.name for a in res.results})}
    res = glance.papers.search(query="status = submission_active OR status = submission_closed", limit=50)
    out["paper"] = {"total": res.number_of_results, "codes": [p.reference_code for p in res.results],
                    "statuses": sorted({_v(p.status) for p in res.results})}
    res = glance.confnotes.search(query="finalReferenceCode != __EMPTY__", limit=50)
    out["confnote"] = {"total": res.number_of_results,
                       "pairs": [[c.temp_reference_code, c.final_reference_code] for c in res.results]}
    res = glance.pubnotes.search(query="metadata.keywords.name contain tev", limit=50, offset=2)
    out["pubnote"] = {"total": res.number_of_results, "n": len(res.results),
                      "codes": [p.temp_reference_code for p in res.results]}
    res = glance.plots.search(query="phase1.state = finished or phase1.state = sign_off", limit=50)
    out["plot"] = {"total": res.number_of_results, "codes": [p.reference_code for p in res.results]}
    res = glance.publications.search(query='type = "CONF note" AND status = "Phase 1 Finished"', limit=50)
    out["publication"] = {"total": res.number_of_results,
                          "types": sorted({_v(p.type) for p in res.results})}
    res = glance.leadinggroups.search(query="name contain S", limit=100)
    out["leadinggroup"] = sorted(g.name for g in res.results)
    res = glance.subgroups.search(query="name contain HDBS", limit=100)
    out["subgroup"] = sorted(g.name for g in res.results)
    res = glance.triggers.search(query="category.name = primary AND year = 2018", limit=100)
    out["trigger"] = [[t.name, t.year, t.category.name] for t in res.results]
    out["trigger_total"] = res.number_of_results
    return out


@step("full_pages")
def _full_pages():
    """Every record of every document type parses into stare's strict models."""
    out = {}
    for name in ("analyses", "papers", "confnotes", "pubnotes", "plots", "publications", "triggers",
                 "leadinggroups", "subgroups"):
        resource = getattr(glance, name)
        offset, seen, total = 0, 0, None
        while total is None or offset < total:
            page = resource.search(offset=offset, limit=1000)
            total = page.number_of_results
            seen += len(page.results)
            offset += 1000
        out[name] = [seen, total]
    return out


@step("gets")
def _gets():
    ana = glance.analyses.search(limit=1).results[0]
    paper = glance.papers.search(limit=1).results[0]
    conf = glance.confnotes.search(limit=1).results[0]
    pub = glance.pubnotes.search(limit=1).results[0]
    plot = glance.plots.search(limit=1).results[0]
    try:
        glance.analyses.get("ANA-NONE-1999-01")
        missing = "found?"
    except NotFoundError as exc:
        missing = f"{exc.status_code}"
    return {"analysis": [ana.reference_code, glance.analyses.get(ana.reference_code).reference_code],
            "paper": [paper.reference_code, glance.papers.get(paper.reference_code).reference_code],
            "confnote": [conf.temp_reference_code, glance.confnotes.get(conf.temp_reference_code).temp_reference_code],
            "pubnote": [pub.temp_reference_code, glance.pubnotes.get(pub.temp_reference_code).temp_reference_code],
            "plot": [plot.reference_code, glance.plots.get(plot.reference_code).reference_code],
            "publication": glance.publications.get(paper.reference_code).reference_code,
            "missing": missing}


@step("before_refresh")
def _before_refresh():
    return {k: stats()[k] - stats0[k] for k in ("codes_redeemed", "refreshes", "exchanges")}


@step("refresh")
def _refresh():
    old = json.loads(manager.token_path.read_text())
    # the access token lives access_token_ttl s; stare refreshes 60 s before expiry
    wait = t_login + float(os.environ["PEER_ACCESS_TTL"]) - 60 + 1.0 - time.time()
    if wait > 0:
        time.sleep(wait)
    before = stats()
    res = glance.leadinggroups.search(limit=5)
    after = stats()
    new = json.loads(manager.token_path.read_text())
    replay = httpx.post(os.environ["STARE_TOKEN_URL"], trust_env=False,
                        data={"grant_type": "refresh_token", "refresh_token": old["refresh_token"],
                              "client_id": "stare"})
    return {"refreshes": after["refreshes"] - before["refreshes"],
            "exchanges": after["exchanges"] - before["exchanges"],
            "rotated": new["refresh_token"] != old["refresh_token"],
            "new_access": new["access_token"] != old["access_token"],
            "n": len(res.results),
            "replay_status": replay.status_code, "replay_body": replay.json()}


@step("exchange_claims")
def _exchange_claims():
    info = manager.get_exchange_token_info()
    return info.model_dump(mode="json", exclude_none=True) if info else None


@step("no_exchange")
def _no_exchange():
    """With exchange disabled stare sends the login token, which the API refuses by default."""
    settings = StareSettings(exchange_audience="", cache_enabled=False)
    plain = Glance(settings=settings, token_manager=TokenManager(settings))
    try:
        plain.analyses.search(limit=1)
        return "accepted"
    except UnauthorizedError as exc:
        return {"status": exc.status_code, "title": exc.title, "detail": exc.detail}


@step("offline")
def _offline():
    manager.login(on_url_ready=browse, offline=True)
    session = manager.get_session_info()
    exported = manager.export_refresh_token()
    manager.import_refresh_token(exported)  # redeems it through a refresh grant
    return {"session": session.model_dump(mode="json") if session else None,
            "exported_prefix": exported[:10],
            "after_import": glance.triggers.search(limit=1).number_of_results}


@step("logout")
def _logout():
    base = manager.get_pkce_access_token()
    exchanged = httpx.post(os.environ["STARE_TOKEN_URL"], trust_env=False, data={
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "client_id": "stare",
        "subject_token": base, "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "audience": os.environ["STARE_EXCHANGE_AUDIENCE"]}).json()["access_token"]
    url = os.environ["STARE_BASE_URL"] + "/searchTrigger"
    ok = httpx.get(url, trust_env=False, headers={"Authorization": f"Bearer {exchanged}"}).status_code
    before = stats()["revocations"]
    manager.logout()
    after = stats()["revocations"]
    api = httpx.get(url, trust_env=False, headers={"Authorization": f"Bearer {exchanged}"})
    return {"revocations": after - before, "api_before_logout": ok, "api_after_logout": api.status_code,
            "token_file_left": manager.token_path.exists()}


print(json.dumps(report))
