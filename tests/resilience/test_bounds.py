"""Bounds a hostile server cannot get past: nesting depth before decoding, error bodies within their bound.

- A JSON answer nested 50,001 deep, to the streamed ATLAS readers (``objects/``
  behind `query_objects` and `get_lightcurves`) and to the plain JSON path,
  raises the package's `RemoteServiceError`, never `RecursionError` (and never
  reaches a decoder that would crash on it).
- An error answer that decompresses to 2 GB is read only up to the 1 MiB
  error-body bound, ATLAS's own error reading included.
"""

from __future__ import annotations

import gzip
import time
import tracemalloc
import urllib.parse

import pytest

from astroquery_ext._base.nesting import JsonTooDeep, NestingGuard, check_nesting
from astroquery_ext.atlas import AtlasClass, conf
from astroquery_ext.exceptions import AstroqueryExtError, InvalidQueryError, RemoteServiceError, ServiceTimeoutError
from tests.base.testbed_client import TestbedClass

from .hostile import HostileServer, answer, steady

DEPTH = 50_001


def _atlas_via(proxy, sandbox) -> AtlasClass:
    path = urllib.parse.urlsplit(sandbox.url("atlas")).path
    atlas = AtlasClass(server=proxy.url + path)
    atlas.login(token=sandbox.credentials("atlas")["token"], store_token=False)
    return atlas


def _proxy(sandbox) -> HostileServer:
    parts = urllib.parse.urlsplit(sandbox.url("atlas"))
    return HostileServer(upstream=f"{parts.scheme}://{parts.netloc}")


DEEP_BODIES = {
    "a deep array": b"[" * DEPTH + b"]" * DEPTH,
    "a deep value in a record": b'[{"object": {"id": 1, "x": ' + b"[" * DEPTH + b"]" * DEPTH + b"}}]",
    "a deep object instead of records": b'{"info": ' + b'{"a":' * DEPTH + b"1" + b"}" * DEPTH + b"}",
}


@pytest.mark.parametrize("call", ["query_objects", "get_lightcurves"])
@pytest.mark.parametrize("kind", list(DEEP_BODIES))
def test_atlas_streamed_readers_refuse_deep_json(atlas_sandbox, user_state, call, kind):
    ids = atlas_sandbox.info("atlas")["example_ids"][:2]
    with _proxy(atlas_sandbox) as proxy:
        proxy.route("/objects/", answer(DEEP_BODIES[kind]))
        atlas = _atlas_via(proxy, atlas_sandbox)
        with pytest.raises(RemoteServiceError, match="nested too deeply") as info:
            getattr(atlas, call)(ids, cache=False, show_progress=False)
    assert not isinstance(info.value.__context__, RecursionError)
    assert proxy.hits("/objects/") == 1  # refused, not tried again


def test_atlas_error_answer_nested_deeply_keeps_its_status(atlas_sandbox, user_state):
    with _proxy(atlas_sandbox) as proxy:
        proxy.route("/objects/", answer(b'{"info": ' + b"[" * DEPTH + b"]" * DEPTH + b"}", status=400))
        atlas = _atlas_via(proxy, atlas_sandbox)
        with pytest.raises(InvalidQueryError) as info:
            atlas.query_objects(atlas_sandbox.info("atlas")["example_ids"][:1], cache=False, show_progress=False)
    assert info.value.status == 400


def test_plain_json_path_refuses_deep_json(user_state):
    with HostileServer() as server:
        server.route("/api/items", answer(b"[" * DEPTH + b"]" * DEPTH))
        with pytest.raises(RemoteServiceError, match="nested too deeply"):
            TestbedClass(server=server.url + "/api/")._json("GET", "items")


def test_the_scan_follows_strings_and_escapes_across_blocks():
    body = b'[{"a": "[[[[\\"[[", "b\\\\": [[1]]}, "\\\\\\"]]]]"]'
    for limit, ok in ((4, True), (3, False)):  # [ { [ [: four levels
        for cut in range(len(body) + 1):  # every split into two blocks judges like the whole
            guard = NestingGuard(limit)
            try:
                guard.feed(body[:cut])
                guard.feed(body[cut:])
            except JsonTooDeep:
                assert not ok, cut
            else:
                assert ok, cut
    check_nesting("[" * 512 + "]" * 512)
    with pytest.raises(JsonTooDeep):
        check_nesting("[" * 513 + "]" * 513)


def _reference_depths(body: bytes) -> tuple[int, int]:
    """(deepest, final) nesting of ``body`` read byte by byte: brackets count outside strings, and a
    quote escaped by a backslash (the first, third... of a run) neither opens nor closes one."""
    depth = deepest = 0
    in_string = escaped = False
    for c in body:
        if c == 0x22 and not escaped:
            in_string = not in_string
        elif c in b"[{" and not in_string:
            depth += 1
            deepest = max(deepest, depth)
        elif c in b"]}" and not in_string:
            depth -= 1
        escaped = c == 0x5C and not escaped
    return deepest, depth


@pytest.mark.parametrize("seed", range(4))
def test_nesting_guard_judges_as_a_byte_by_byte_reading_whatever_the_blocks(seed):
    import random
    rng = random.Random(seed)
    for size in [rng.randint(0, 200) for _ in range(300)] + [rng.randint(1, 300_000) for _ in range(3)]:
        # Short ones, and long enough to cross the guard's 256 KiB pieces; in few or many blocks.
        body = rng.choices(b'[]{}"\\ax_Y', weights=[3, 3, 3, 3, 4, 1, 20, 1, 1, 1], k=size)
        body = bytes(body)
        cuts = sorted(rng.sample(range(size + 1), min(size + 1, rng.randint(0, 6))))
        deepest, final = _reference_depths(body)
        limit = max(0, deepest + rng.choice([-1, 0, 1]))
        guard = NestingGuard(limit)
        try:
            for start, stop in zip([0] + cuts, cuts + [size]):
                guard.feed(body[start:stop])
        except JsonTooDeep:
            assert deepest > limit
        else:
            assert deepest <= limit and guard.depth == final


# -- error bodies ---------------------------------------------------------------------------------

#: One gzip member of 64 MiB of spaces (about 64 KiB); members one after another decompress to
#: their concatenation, so 32 of them are a 2 GiB body that is never held anywhere.
_MEMBER_SIZE = 64 << 20
_MEMBERS = 32


def _bomb_error(status: int):
    member = gzip.compress(b" " * _MEMBER_SIZE, compresslevel=9)
    head = gzip.compress(b'{"info": "')

    def handler(request):
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Encoding", "gzip")
        request.send_header("Content-Length", str(len(head) + _MEMBERS * len(member)))
        request.end_headers()
        request.wfile.write(head)
        for _ in range(_MEMBERS):
            request.wfile.write(member)
        request.wfile.flush()
    return handler


@pytest.mark.parametrize("status", [400, 500])
def test_atlas_gzip_bomb_error_body_is_read_within_the_bound(atlas_sandbox, user_state, status):
    with _proxy(atlas_sandbox) as proxy:
        proxy.route("/objects/", _bomb_error(status))
        atlas = _atlas_via(proxy, atlas_sandbox)
        tracemalloc.start()
        try:
            with pytest.raises(AstroqueryExtError) as info:  # InvalidQueryError, RemoteServiceError
                atlas.query_objects(atlas_sandbox.info("atlas")["example_ids"][:1], cache=False,
                                    show_progress=False)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert info.value.status == status and len(str(info.value)) < 2000
    assert peak < 64 << 20, f"{peak:,} bytes held while reading a 2 GiB error body"


# -- time: a server that keeps dripping cannot hold a call past its total bound -------------------


def drip(bytes_per_second: int = 40 * 1024, block: int = 4096, prefix: bytes = b"", stop_after: float = 120.0):
    """An endless chunked body of JSON whitespace at ``bytes_per_second``: always progress, never an end."""
    def handler(request):
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Transfer-Encoding", "chunked")
        request.end_headers()
        end = time.monotonic() + stop_after
        pieces = [prefix] if prefix else []
        while time.monotonic() < end:
            for piece in pieces or [b" " * block]:
                request.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            request.wfile.flush()
            pieces = []
            time.sleep(block / bytes_per_second)
    return handler


def test_a_dripping_server_cannot_hold_a_call_past_the_automatic_bound(user_state):
    """timeout=2 and no conf.total_timeout: the documented bound is 10 x timeout = 20 s."""
    with HostileServer() as server:
        server.route("/api/items", drip())
        client = TestbedClass(server=server.url + "/api/", timeout=2)
        started = time.monotonic()
        with pytest.raises(ServiceTimeoutError, match=r"total bound of 20 s") as info:
            client._json("GET", "items")
        elapsed = time.monotonic() - started
    assert elapsed < 20 + 10, f"held for {elapsed:.1f} s"
    assert "conf.total_timeout" in str(info.value) and server.hits("/api/items") == 1


@pytest.mark.parametrize("call", ["query_objects", "get_lightcurves"])
def test_a_dripping_server_cannot_hold_an_atlas_stream_past_total_timeout(atlas_sandbox, user_state, call):
    ids = atlas_sandbox.info("atlas")["example_ids"][:2]
    with _proxy(atlas_sandbox) as proxy, conf.set_temp("total_timeout", 5):
        proxy.route("/objects/", drip(prefix=b"["))
        atlas = _atlas_via(proxy, atlas_sandbox)
        atlas.timeout = 2
        started = time.monotonic()
        with pytest.raises(ServiceTimeoutError, match=r"total bound of 5 s \(conf.total_timeout\)"):
            getattr(atlas, call)(ids, cache=False, show_progress=False)
        elapsed = time.monotonic() - started
    assert elapsed < 5 + 10, f"held for {elapsed:.1f} s"


def test_an_announced_length_gets_the_time_it_needs(user_state):
    """A body of announced length at a usable rate completes past 10 x timeout (the bound grows with it)."""
    body = b"[" + b" " * (200 * 1024) + b"1]"
    with HostileServer() as server:
        server.route("/api/items", steady(body, bytes_per_second=64 * 1024))
        client = TestbedClass(server=server.url + "/api/", timeout=0.25)  # automatic bound: 2.5 s; needs ~3 s
        started = time.monotonic()
        assert client._json("GET", "items") == [1]
    assert time.monotonic() - started > 2.5
