"""Per-request extra headers: ``_json(headers=...)`` and ``DownloadJob(headers=...)``.

Some servers need a header on one kind of request only (Tupli's artifact
download closes the connection afterwards, so the client sends
``Connection: close`` there). The header goes on that request, never on the
shared session.
"""

from astroquery_ext._base import DownloadJob, download_many
from tests.base.testbed_client import TestbedClass


def _recorder(client):
    sent = []
    client._session.hooks["response"].append(lambda r, *a, **k: sent.append(dict(r.request.headers)))
    return sent


def test_json_sends_extra_headers_on_that_request_only(testbed_sandbox):
    client = TestbedClass(server=testbed_sandbox.url("testbed"))
    sent = _recorder(client)
    client._json("GET", "counters", auth="none", headers={"X-Extra": "1"})
    client._json("GET", "counters", auth="none")
    assert sent[0]["X-Extra"] == "1"
    assert "X-Extra" not in sent[1]
    assert "X-Extra" not in client._session.headers


def test_download_job_headers_are_sent_with_identity_encoding(testbed_sandbox, tmp_path):
    client = TestbedClass(server=testbed_sandbox.url("testbed"))
    sent = _recorder(client)
    job = DownloadJob(url="files/h.bin", directory=tmp_path, name="h.bin",
                      headers={"Connection": "close", "Accept-Encoding": "gzip"})
    (result,) = download_many(client, [job], show_progress=False)
    assert result.status == "downloaded" and (tmp_path / "h.bin").exists()
    assert sent[-1]["Connection"] == "close"
    assert sent[-1]["Accept-Encoding"] == "identity"  # the base's rule wins
    assert "Connection" not in client._session.headers or client._session.headers["Connection"] != "close"
