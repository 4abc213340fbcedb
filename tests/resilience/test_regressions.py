"""Focused regression tests for what the resilience suites found (one per fix)."""

from __future__ import annotations

import pytest

from astroquery_ext.grad300 import Grad300Class


def test_grad300_file_cache_directories_are_private(grad300_sandbox, user_state):
    """Found by the fault matrix: get_scan(cache=True) made <cache>/<id>/files/<server>/<type>/ 0755."""
    grad = Grad300Class(server=grad300_sandbox.url("grad300"))
    grad.login(token=grad300_sandbox.credentials("grad300")["token"])
    row = grad.list_scans("Spectrum", limit=1)[0]
    grad.get_scan(row, cache=True)
    root = grad.cache_location
    paths = [root, *root.rglob("*")]
    assert any(p.suffix == ".fits" for p in paths)
    for path in paths:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


@pytest.fixture
def tupli_alice(tupli_sandbox, user_state):
    from astroquery_ext.tupli import TupliClass
    tupli = TupliClass(server=tupli_sandbox.url("tupli"))
    tupli.retry_backoff = 0.01
    tupli.login("alice", tupli_sandbox.credentials("tupli", "alice")["password"], store_token=False)
    yield tupli
    tupli_sandbox.set_faults("tupli", [])


def test_tupli_artifact_upload_with_a_lost_answer_is_sent_again_and_stored_once(tupli_sandbox, tupli_alice):
    """Found by the fault matrix: any fault failed store_artifact, though the server deduplicates uploads."""
    import uuid

    from astroquery_ext.sandbox import Fault
    from astroquery_ext.tupli import Filter
    name = f"lost-{uuid.uuid4().hex[:8]}.bin"
    data = uuid.uuid4().bytes * 1000
    tupli_sandbox.set_faults("tupli", [Fault("drop_response", nth=[1], path="/artifacts/upload"),
                                       Fault("status", status=503, nth=[2], path="/artifacts/upload")])
    item = tupli_alice.store_artifact(data, {"name": name})[0]
    assert [r["fired"] for r in tupli_sandbox.faults("tupli")] == [1, 1]
    tupli_sandbox.set_faults("tupli", [])
    assert list(tupli_alice.list_artifacts(Filter("name") == name)["id"]) == [item["id"]]
    assert tupli_alice.load_artifact(item["id"]) == data
    # not transient: no second attempt
    tupli_sandbox.set_faults("tupli", [Fault("status", status=500, path="/artifacts/upload")])
    from astroquery_ext.exceptions import RemoteServiceError
    with pytest.raises(RemoteServiceError, match="HTTP 500"):
        tupli_alice.store_artifact(b"x" * 100, {"name": name})
    assert tupli_sandbox.faults("tupli")[0]["fired"] == 1


def test_tupli_record_episodes_error_tells_refused_from_lost(tupli_sandbox, tupli_alice):
    """Found by the fault matrix: the error called every failed episode "not recorded", lost answers included."""
    from astroquery_ext.exceptions import RemoteServiceError
    from astroquery_ext.sandbox import Fault
    from astroquery_ext.tupli import Filter
    bench = tupli_alice.store_benchmark('{"env": "regression"}', {"name": "regression"})["id"][0]
    episodes = [{"state": [[float(i)]], "action": [0], "reward": [1.0]} for i in range(6)]
    tupli_sandbox.set_faults("tupli", [Fault("drop_response", nth=[2], path="/episodes/record"),
                                       Fault("status", status=503, nth=[4], path="/episodes/record")])
    with pytest.raises(RemoteServiceError) as err:
        tupli_alice.record_episodes(bench, episodes, [{"i": i} for i in range(6)], max_workers=1)
    tupli_sandbox.set_faults("tupli", [])
    text = str(err.value)
    assert text.startswith("4 of 6 episodes were recorded")
    assert "1 were refused and not recorded (episodes [3]" in text
    assert "1 may or may not have been recorded: their answer was lost or does not say whether they were " \
        "recorded (episodes [1]" in text
    stored = sorted(m["i"] for m in tupli_alice.list_episodes(Filter("benchmark_id") == bench)["metadata"])
    assert stored == [0, 1, 2, 4, 5]   # the lost answer's episode is stored, once; the refused one is not
    assert [isinstance(r, Exception) for r in err.value.results] == [False, True, False, True, False, False]


def test_sandbox_answers_out_of_range_and_odd_input_without_a_500(grad300_sandbox, testbed_sandbox):
    """Found by schema fuzzing: these inputs crashed our sandbox code (HTTP 500 or a dropped connection)."""
    import requests
    grad = grad300_sandbox.url("grad300")
    auth = {"Authorization": "Bearer " + grad300_sandbox.credentials("grad300")["token"]}
    assert requests.get(grad + "scans/TPI/", params={"offset": 2**64}, headers=auth, timeout=10).status_code == 422
    assert requests.get(grad + f"scans/TPI/{2**64}/download", headers=auth, timeout=10).status_code == 422
    testbed = testbed_sandbox.url("testbed")
    assert requests.post(testbed + "refresh", timeout=10).status_code == 400
    assert requests.get(testbed + "status/1", timeout=10).status_code == 422
    answer = requests.get(testbed + "files/\u0444\u0430\u0439\u043b\t.bin", timeout=10)
    assert answer.status_code == 200 and "filename*=UTF-8''" in answer.headers["Content-Disposition"]


def test_integers_beyond_int64_are_kept_exact_not_a_crash():
    """Found by property fuzzing: an id of 2**63 or more in a JSON answer raised OverflowError."""
    from astroquery_ext._base.tables import Field, records_to_table
    rows = [{"id": 2**64 + 1}, {"id": 5}, {"id": None}]
    for table in (records_to_table(rows), records_to_table(rows, [Field("id", "int64")])):
        assert table["id"].dtype.kind == "O" and list(table["id"]) == [2**64 + 1, 5, None]
    assert records_to_table(rows[1:], [Field("id", "int64")])["id"].dtype == "int64"
