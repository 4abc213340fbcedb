"""stare 0.6.1 (the seed client, unmodified) and astroquery_ext.glance agree on the same sandbox data.

For the same query-language text on every resource, stare's own paged
``search`` loop and our one ``query_*`` call must return the same records, in
the same order; ``get`` must find the same record. stare runs in a subprocess
(it reads its token path from the environment at import time), configured as
in ``test_glance_peer.py``; its driver is below.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import requests

from astroquery_ext.sandbox import Sandbox

pytestmark = pytest.mark.peers

pytest.importorskip("stare")
from tests.peers.test_glance_peer import _stare_env  # noqa: E402  (after the skip)

#: resource (stare accessor, our method) -> queries sent by both (None: everything)
CASES = {
    ("analyses", "query_analyses"): [
        None, 'status = "Phase 0 Active" and groups.leadingGroup.name in [HDBS, SUSY, EXOT]',
        "metadata.keywords.name contain higgs OR phase0.state = closed"],
    ("papers", "query_papers"): [None, "status = submission_active OR status = submission_closed"],
    ("confnotes", "query_confnotes"): [None, "finalReferenceCode != __EMPTY__"],
    ("pubnotes", "query_pubnotes"): [None, "metadata.keywords.name contain tev"],
    ("plots", "query_plots"): [None, "phase1.state = finished or phase1.state = sign_off"],
    ("publications", "query_publications"): [None, 'type = "CONF note" AND status = "Phase 1 Finished"'],
    ("leadinggroups", "query_leading_groups"): [None, "name contain S"],
    ("subgroups", "query_subgroups"): [None, "name not in [HDBS-DiHiggs, SUSY-EW]"],
    ("triggers", "query_triggers"): [None, "category.name = primary AND year = 2018"],
}
SORTED = ("analyses", "query_analyses", "referenceCode")
KEYS = ("referenceCode", "temporaryReferenceCode", "finalReferenceCode", "type", "status", "shortTitle",
        "name", "year", "category")

DRIVER = textwrap.dedent('''
    import json, sys
    import httpx
    from stare import Glance
    from stare.auth import TokenManager
    from stare.exceptions import NotFoundError

    cases, sorted_case, keys, gets = json.loads(sys.stdin.read())

    def browse(url):
        with httpx.Client(trust_env=False, timeout=10) as client:
            location = client.get(url).headers["location"]
            client.get(location.replace("://localhost:", "://127.0.0.1:", 1))

    manager = TokenManager()
    manager.login(on_url_ready=browse)
    glance = Glance(token_manager=manager)

    def pick(model):
        data = model.model_dump(mode="json", by_alias=True)
        return {k: data[k] for k in keys if data.get(k) is not None}

    def search_all(resource, query, **sort):
        out, offset, total = [], 0, None
        while total is None or offset < total:
            page = getattr(glance, resource).search(query=query, offset=offset, limit=1000, **sort)
            total = page.number_of_results
            out += [pick(r) for r in page.results]
            offset += 1000
        return {"total": total, "records": out}

    report = {"searches": {}, "gets": {}}
    for resource, queries in cases.items():
        report["searches"][resource] = [search_all(resource, q) for q in queries]
    resource, _ours, field = sorted_case
    report["sorted"] = search_all(resource, None, sort_by=field, sort_desc=True)
    for resource, code in gets:
        try:
            report["gets"][f"{resource}:{code}"] = pick(getattr(glance, resource).get(code))
        except NotFoundError:
            report["gets"][f"{resource}:{code}"] = "404"
    print(json.dumps(report))
''')


def _ours(record):
    return {k: record[k] for k in KEYS if record.get(k) is not None}


@pytest.fixture(scope="module")
def peer_sandbox():
    with Sandbox(services={"glance": {"n_analyses": 1500}}, seed=5) as sb:
        yield sb


@pytest.fixture(scope="module")
def gets(peer_sandbox):
    known = peer_sandbox.info("glance")["known"]
    return [["analyses", known["analysis"][0]], ["papers", known["paper"][1]],
            ["confnotes", known["confnote"][0]], ["pubnotes", known["pubnote"][0]],
            ["publications", known["paper"][0]], ["analyses", "ANA-NONE-1999-01"]]


@pytest.fixture(scope="module")
def stare_report(peer_sandbox, gets, tmp_path_factory):
    home = tmp_path_factory.mktemp("stare-home")
    env = _stare_env(peer_sandbox, home)
    payload = json.dumps([{k[0]: v for k, v in CASES.items()}, SORTED, KEYS, gets])
    proc = subprocess.run([sys.executable, "-c", DRIVER], input=payload, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def ours(peer_sandbox):
    client = peer_sandbox.client("glance")
    client.login(open_browser=lambda url: requests.get(url, timeout=10), store_token=False)
    return client


@pytest.mark.parametrize("resource, method", list(CASES))
def test_same_records_for_the_same_queries(stare_report, ours, resource, method):
    for query, theirs in zip(CASES[resource, method], stare_report["searches"][resource]):
        table = getattr(ours, method)(query, cache=False)
        assert len(table) == theirs["total"] > 0, query
        assert [_ours(r) for r in table["record"]] == theirs["records"], query


def test_same_order_when_sorted(stare_report, ours):
    resource, method, field = SORTED
    table = getattr(ours, method)(sort_by=field, sort_desc=True, cache=False)
    assert [_ours(r) for r in table["record"]] == stare_report["sorted"]["records"]
    assert len(table) == 1500


def test_same_single_records(stare_report, ours, gets):
    methods = {"analyses": ours.get_analysis, "papers": ours.get_paper, "confnotes": ours.get_confnote,
               "pubnotes": ours.get_pubnote, "publications": ours.get_publication}
    assert sum(v == "404" for v in stare_report["gets"].values()) == 1
    for resource, code in gets:
        theirs = stare_report["gets"][f"{resource}:{code}"]
        if theirs == "404":
            with pytest.raises(LookupError):
                methods[resource](code)
        else:
            assert _ours(methods[resource](code)["record"][0]) == theirs and code in theirs.values(), code
