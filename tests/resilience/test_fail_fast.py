"""A batch that meets a server which stops answering gives up in seconds and keeps what it finished.

The calls of one batch share a circuit breaker (`astroquery_ext._base.policy`):
after a few connection failures in a row, the items not finished fail at
once instead of each spending its own retries (before: 20 downloads, the
server resetting every one after the 2nd, took 98 s to give up). The error
says what failed and carries what succeeded (``.table``); ``errors="ignore"``
returns it with the failed items marked. Default retry settings throughout.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from astroquery_ext.atlas import AtlasClass, conf as atlas_conf
from astroquery_ext.exceptions import DownloadError, IncompleteResultWarning, RemoteServiceError
from astroquery_ext.grad300 import Grad300Class
from astroquery_ext.sandbox import Fault, Sandbox

N_FILES = 20
#: Every download request after the 2nd is reset before any byte of the answer.
RESET_AFTER_2 = [Fault("reset", path="*/download", nth=list(range(3, 1000)))]


@pytest.fixture(scope="module")
def grad300():
    with Sandbox(services={"grad300": {"n_scans": 80}}, mode="relaxed") as sb:
        client = Grad300Class(server=sb.url("grad300"))
        client.login(token=sb.credentials("grad300")["token"])
        rows = [r for r in client.query(row_limit=-1, cache=False) if "evil" not in r["scan_name"] and r["size"]]
        yield sb, client, rows[:N_FILES]


def _downloads(sb):
    return [e for e in sb.request_log("grad300") if e["path"].endswith("/download")]


@pytest.mark.parametrize("errors", ["raise", "ignore"])
def test_downloads_stop_in_seconds_and_keep_the_finished_files(grad300, user_state, tmp_path, errors):
    sb, client, rows = grad300
    assert len(rows) == N_FILES
    sb.clear_request_log("grad300")
    sb.set_faults("grad300", RESET_AFTER_2)
    try:
        started = time.monotonic()
        if errors == "raise":
            with pytest.raises(DownloadError, match="the server stopped answering") as info:
                client.download_scans(rows, tmp_path, show_progress=False)
            table, message = info.value.table, str(info.value)
        else:
            table = client.download_scans(rows, tmp_path, show_progress=False, errors="ignore")
            message = ""
        elapsed = time.monotonic() - started
    finally:
        sb.set_faults("grad300", [])
    assert elapsed < 15, f"{elapsed:.1f} s to give up"
    done = table[table["status"] == "downloaded"]
    assert len(table) == N_FILES and len(done) == 2
    assert set(table["status"][table["status"] != "downloaded"]) == {"error"}
    for row in done:  # kept, whole, and listed
        assert (tmp_path / row["file_name"]).stat().st_size == rows[int(np.flatnonzero(
            [r["file_name"] == row["file_name"] for r in rows])[0])]["size"]
        assert errors == "ignore" or row["local_path"] in message
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(done["file_name"])
    # The remaining files were not each tried again and again.
    assert len(_downloads(sb)) <= 2 + 8


def test_downloads_against_a_live_server_are_unaffected(grad300, user_state, tmp_path):
    """Sporadic resets with successes in between never open the breaker."""
    sb, client, rows = grad300
    sb.set_faults("grad300", [Fault("reset", path="*/download", nth=[2, 4, 6, 8])])
    try:
        table = client.download_scans(rows[:8], tmp_path, show_progress=False, max_workers=1)
    finally:
        sb.set_faults("grad300", [])
    assert set(table["status"]) == {"downloaded"}


# -- chunked light curves: the chunks received are kept --------------------------------------------


def _atlas(sandbox) -> AtlasClass:
    client = AtlasClass(server=sandbox.url("atlas"))
    client.login(token=sandbox.credentials("atlas")["token"], store_token=False)
    return client


@pytest.mark.parametrize("errors", ["raise", "ignore"])
@pytest.mark.parametrize("call", ["get_lightcurves", "query_objects", "get_forced_photometry"])
def test_chunks_stop_in_seconds_and_keep_the_finished_ones(atlas_sandbox, user_state, call, errors):
    ids = [int(i) for i in atlas_sandbox.info("atlas")["example_ids"][:10]]
    assert len(ids) == 10
    atlas = _atlas(atlas_sandbox)
    whole = getattr(atlas, call)(ids, cache=False, show_progress=False)
    # 5 requests of 2 ids, one at a time: the 1st is answered, the server dies after it.
    atlas_sandbox.set_faults("atlas", [Fault("reset", path="*/objects/", nth=list(range(2, 1000)))])
    try:
        with atlas_conf.set_temp("chunk_size", 2), atlas_conf.set_temp("max_workers", 1):
            started = time.monotonic()
            if errors == "raise":
                with pytest.raises(RemoteServiceError, match="stopped answering") as info:
                    getattr(atlas, call)(ids, cache=False, show_progress=False)
                table = info.value.table
                assert "8 of the 10 ids were not fetched" in str(info.value)
            else:
                with warnings.catch_warnings(record=True) as caught:  # astroquery routes warnings to its log
                    warnings.simplefilter("always")
                    table = getattr(atlas, call)(ids, cache=False, show_progress=False, errors="ignore")
                assert [w.category for w in caught] == [IncompleteResultWarning]
                assert "8 of the 10 ids were not fetched" in str(caught[0].message)
            elapsed = time.monotonic() - started
    finally:
        atlas_sandbox.set_faults("atlas", [])
    assert elapsed < 15, f"{elapsed:.1f} s to give up"
    assert table.meta["failed"] == ids[2:]
    # What the first request brought is all there, as the whole call gives it.
    expected = whole[np.isin(np.asarray(whole["atlas_id"]), ids[:2])]
    assert len(expected) > 0 and len(table) == len(expected)
    assert list(table["atlas_id"]) == list(expected["atlas_id"])


def test_a_failed_later_chunk_keeps_the_others_rows(atlas_sandbox, user_state):
    """An error answer to one chunk (past its retries) does not lose the other chunks."""
    ids = [int(i) for i in atlas_sandbox.info("atlas")["example_ids"][:6]]
    atlas = _atlas(atlas_sandbox)
    atlas_sandbox.set_faults("atlas", [Fault("status", status=500, path="*/objects/", nth=[3])])
    try:
        with atlas_conf.set_temp("chunk_size", 2), atlas_conf.set_temp("max_workers", 1):
            with pytest.raises(RemoteServiceError, match="HTTP 500") as info:
                atlas.get_lightcurves(ids, cache=False, show_progress=False)
    finally:
        atlas_sandbox.set_faults("atlas", [])
    table = info.value.table
    assert table.meta["failed"] == ids[4:]
    assert set(np.unique(table["atlas_id"])) <= set(ids[:4]) and len(table) > 0
    with pytest.raises(ValueError, match="errors must be 'raise' or 'ignore'"):
        atlas.get_lightcurves(ids, errors="later")


def test_per_id_writes_stop_in_seconds_and_say_which_ids_were_not_sent(atlas_sandbox, user_state):
    ids = [int(i) for i in atlas_sandbox.info("atlas")["example_ids"][:10]]
    atlas = _atlas(atlas_sandbox)
    atlas_sandbox.set_faults("atlas", [Fault("reset", path="*/vratodo/", nth=list(range(3, 1000)))])
    try:
        with atlas_conf.set_temp("max_workers", 1), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            started = time.monotonic()
            result = atlas.add_vra_todo(ids)
            elapsed = time.monotonic() - started
    finally:
        atlas_sandbox.set_faults("atlas", [])
    assert elapsed < 15, f"{elapsed:.1f} s to give up"
    assert list(result["ok"][:2]) == [True, True]
    # The 3rd was sent (its fate is unknown: not ok); after the breaker opened, none was sent.
    assert not result["ok"][2] and not any(result["sent"][3:])
    assert all("not sent" in info and "stopped answering" in info for info in result["info"][3:])
    assert any("7 of 10 ids were not sent" in str(w.message) for w in caught), [str(w.message) for w in caught]


# -- paged catalogues: the pages before the one that failed ------------------------------------------

#: Every request for a catalogue page after the 2nd is refused (an answer that is not retried).
REFUSED_AFTER_2 = {"kind": "status", "status": 400, "nth": list(range(3, 1000))}


def test_a_paged_catalogue_that_fails_keeps_the_pages_before(grad300, user_state):
    from astroquery_ext.exceptions import AstroqueryExtError
    from astroquery_ext.grad300 import conf as grad300_conf
    sb, client, _ = grad300
    whole = client.query("TPI", row_limit=-1, cache=False)
    sb.set_faults("grad300", [Fault(path="*/scans/TPI/", **REFUSED_AFTER_2)])
    try:
        with grad300_conf.set_temp("page_size", 5), grad300_conf.set_temp("max_workers", 1):
            with pytest.raises(AstroqueryExtError, match="The 10 scans received before it") as info:
                client.query("TPI", row_limit=-1, cache=False)
    finally:
        sb.set_faults("grad300", [])
    assert info.value.status == 400
    assert list(info.value.table["id"]) == list(whole["id"][:10])  # the first two pages, in order
    assert info.value.table.colnames == whole.colnames


def test_a_paged_search_that_fails_keeps_the_pages_before(glance_sandbox, user_state):
    import requests

    from astroquery_ext.exceptions import AstroqueryExtError
    from astroquery_ext.glance import conf as glance_conf
    glance = glance_sandbox.client("glance")
    glance.login(open_browser=lambda url: requests.get(url, timeout=30))
    whole = glance.query_papers(cache=False)
    glance_sandbox.set_faults("glance", [Fault(path="*/searchPaper", **REFUSED_AFTER_2)])
    try:
        with glance_conf.set_temp("page_size", 7), glance_conf.set_temp("max_workers", 1):
            with pytest.raises(AstroqueryExtError, match="The 14 papers received before it") as info:
                glance.query_papers(cache=False)
    finally:
        glance_sandbox.set_faults("glance", [])
    assert list(info.value.table["referenceCode"]) == list(whole["referenceCode"][:14])
    assert info.value.table.colnames == whole.colnames

