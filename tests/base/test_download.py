"""Streaming downloads: .part + rename, resume, validation, safe names, flat memory."""

import hashlib
import tracemalloc

import pytest

from astroquery_ext._base import DownloadError, filename_from_disposition, safe_filename
from astroquery_ext.sandbox import Fault, Sandbox
from astroquery_ext.sandbox.testbed import _file_bytes
from tests.base.conftest import requests_to
from tests.base.testbed_client import TestbedClass, fresh_client

SIZE = 300_000


@pytest.fixture(scope="module")
def files_sandbox():
    with Sandbox(services={"testbed": {"file_size": SIZE}}) as sb:
        yield sb


@pytest.fixture
def fclient(files_sandbox):
    return fresh_client(files_sandbox)


def test_download_is_byte_identical_and_leaves_no_part(fclient, tmp_path):
    (result,) = fclient.download_files(["a.fits"], tmp_path,
                                       sha256={"a.fits": hashlib.sha256(_file_bytes("a.fits", SIZE)).hexdigest()})
    assert result.status == "downloaded" and result.bytes == SIZE
    assert (tmp_path / "a.fits").read_bytes() == _file_bytes("a.fits", SIZE)
    assert [p.name for p in tmp_path.iterdir()] == ["a.fits"]


def test_resume_after_connection_drop_mid_file(files_sandbox, fclient, tmp_path):
    files_sandbox.set_faults("testbed", [Fault("truncate", path="/api/files/*", nth=[1], fraction=0.4)])
    (result,) = fclient.download_files(["b.fits"], tmp_path, sizes={"b.fits": SIZE})
    assert (tmp_path / "b.fits").read_bytes() == _file_bytes("b.fits", SIZE)
    assert [e["status"] for e in requests_to(files_sandbox, "testbed", "/files/b.fits")] == [200, 206]


def test_part_file_from_earlier_run_is_resumed_when_a_checksum_guards_it(fclient, tmp_path, files_sandbox):
    (tmp_path / "c.fits.part").write_bytes(_file_bytes("c.fits", SIZE)[:1000])
    fclient.download_files(["c.fits"], tmp_path, sizes={"c.fits": SIZE},
                           sha256={"c.fits": hashlib.sha256(_file_bytes("c.fits", SIZE)).hexdigest()})
    assert (tmp_path / "c.fits").read_bytes() == _file_bytes("c.fits", SIZE)
    assert [e["status"] for e in requests_to(files_sandbox, "testbed", "/files/c.fits")] == [206]


def test_part_file_from_earlier_run_without_checksum_is_restarted(fclient, tmp_path, files_sandbox):
    """Nothing tells whether the server's file is still the one the .part holds half of: start again."""
    (tmp_path / "c2.fits.part").write_bytes(b"v1" * 500)
    fclient.download_files(["c2.fits"], tmp_path, sizes={"c2.fits": SIZE})
    assert (tmp_path / "c2.fits").read_bytes() == _file_bytes("c2.fits", SIZE)
    assert [e["status"] for e in requests_to(files_sandbox, "testbed", "/files/c2.fits")] == [200]


def test_leftover_part_of_another_version_is_fetched_again_whole(fclient, tmp_path, files_sandbox):
    """A blind resume spliced with the wrong bytes fails the checksum and is fetched once more from byte 0."""
    (tmp_path / "c3.fits.part").write_bytes(b"v1" * 500)
    fclient.download_files(["c3.fits"], tmp_path, sizes={"c3.fits": SIZE},
                           sha256={"c3.fits": hashlib.sha256(_file_bytes("c3.fits", SIZE)).hexdigest()})
    assert (tmp_path / "c3.fits").read_bytes() == _file_bytes("c3.fits", SIZE)
    assert [e["status"] for e in requests_to(files_sandbox, "testbed", "/files/c3.fits")] == [206, 200]


@pytest.mark.parametrize("mode", ["ignore_range", "bad_range"])
def test_a_range_answer_that_does_not_fit_restarts_from_zero(fclient, tmp_path, mode):
    (tmp_path / "d.fits.part").write_bytes(b"x" * 5000)  # wrong bytes: must not survive
    fclient.download_files(["d.fits"], tmp_path, query=f"?mode={mode}", sizes={"d.fits": SIZE})
    assert (tmp_path / "d.fits").read_bytes() == _file_bytes("d.fits", SIZE)


def test_short_body_is_never_accepted(fclient, tmp_path):
    fclient.max_retries = 1
    with pytest.raises(DownloadError, match="1 of 1 downloads failed") as info:
        fclient.download_files(["e.fits"], tmp_path, query="?mode=short", sizes={"e.fits": SIZE})
    assert not (tmp_path / "e.fits").exists()
    assert info.value.results[0].status == "error"


def test_checksum_mismatch_is_an_error(fclient, tmp_path):
    with pytest.raises(DownloadError, match="SHA-256"):
        fclient.download_files(["f.fits"], tmp_path, sha256={"f.fits": "0" * 64})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("disposition", ["plain", "rfc5987"])
@pytest.mark.parametrize("name", ["../../evil.bin", "..\\..\\evil.bin", "sub/dir/evil.bin"])
def test_server_file_names_cannot_escape_the_target_dir(fclient, tmp_path, name, disposition):
    target = tmp_path / "inner"
    (result,) = fclient.download_files([name], target, query=f"?disposition={disposition}", use_name=False)
    assert result.path == target / "evil.bin"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["evil.bin", "inner"]


def test_existing_complete_file_is_kept_unless_overwrite(fclient, tmp_path, files_sandbox):
    fclient.download_files(["g.fits"], tmp_path, sizes={"g.fits": SIZE})
    (again,) = fclient.download_files(["g.fits"], tmp_path, sizes={"g.fits": SIZE})
    assert again.status == "exists"
    (forced,) = fclient.download_files(["g.fits"], tmp_path, sizes={"g.fits": SIZE}, overwrite=True)
    assert forced.status == "downloaded"
    assert len(requests_to(files_sandbox, "testbed", "/files/g.fits")) == 2


def test_one_failed_file_is_reported_and_the_others_complete(fclient, tmp_path):
    fclient.max_retries = 0
    results = fclient.download_files(["h1", "h2", "h3"], tmp_path, sizes={"h2": 1}, errors="ignore")
    assert [r.status for r in results] == ["downloaded", "error", "downloaded"]
    assert "record says 1" in str(results[1].error)


def test_memory_stays_flat(tmp_path):
    big = 24 * 1024 * 1024
    with Sandbox(services={"testbed": {"file_size": big}}) as sb:
        client = TestbedClass(server=sb.url("testbed"))
        tracemalloc.start()
        try:
            client.download_files(["big.bin"], tmp_path, sizes={"big.bin": big})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert (tmp_path / "big.bin").stat().st_size == big
    assert peak < 6 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a {big / 2**20:.0f} MiB file"


def test_max_workers_is_bounded(fclient, tmp_path):
    from astroquery_ext._base import check_max_workers
    with pytest.raises(ValueError, match="max_workers must be an integer from 1 to 16"):
        check_max_workers(64, fclient.max_workers_limit)


@pytest.mark.parametrize("header, expected", [
    ('attachment; filename="scan 1.fits"', "scan 1.fits"),
    ("attachment; filename*=UTF-8''%C3%A9t%C3%A9.fits", "été.fits"),
    ('attachment; filename="a.fits"; filename*=UTF-8\'\'b.fits', "b.fits"),
    ("attachment; filename=plain.fits", "plain.fits"),
    ("inline", None),
    (None, None),
])
def test_filename_from_disposition(header, expected):
    assert filename_from_disposition(header) == expected


@pytest.mark.parametrize("raw, safe", [
    ("../../etc/passwd", "passwd"), ("C:\\Windows\\x.fits", "x.fits"), ("..", "download"),
    (".hidden", "hidden"), ("a\x00b\nc.fits", "abc.fits"), ("", "download"), ("ok.fits", "ok.fits"),
])
def test_safe_filename(raw, safe):
    assert safe_filename(raw) == safe
