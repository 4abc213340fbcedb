"""Hostile strings never spoil a file.

What other users stored (control characters, very long texts, a trailing NUL)
comes back exactly as stored, in memory and from every format a result is
written to; what no format can hold (a lone surrogate, nesting deeper than a
writer can follow) raises the package's error naming the column, and nothing
is written.
"""

from __future__ import annotations

import http.server
import json
import threading
import uuid
import warnings

import numpy as np
import pytest
from astropy.table import Table

from astroquery_ext._base import Field
from astroquery_ext.exceptions import AstroqueryExtError, RemoteServiceError, TableWriteError
from astroquery_ext.results import ResultTable
from astroquery_ext.tupli import TupliClass

FORMATS = {"fits": "fits", "fits.gz": "fits", "xml": "votable", "ecsv": "ascii.ecsv"}

HOSTILE = {
    "vertical tab": "a\x0bb",
    "terminal escapes": "\x1b]0;title\x07 and \x1b[31mred",
    "line separators": "one\rtwo\x0cthree\x1cfour\x85five\u2028six\u2029seven",
    "NUL inside": "before\x00after",
    "trailing NUL": "ends with a NUL\x00",
    "escape-like text": "C:\\new\\u000b\\\\ \\x0b",
    "non-characters": "\ufffe\uffff",
    "non-ASCII": "Wärme ± 1 σ, 北京, 🚀",
    "140 kB": "x" * 140_000,
    "1 MB": "é" * 1_000_000,
}


def _user(sb, name):
    client = TupliClass(server=sb.url("tupli"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # login(password=...) is deprecated
        client.login(name, password=sb.credentials("tupli", name)["password"])
    return client


@pytest.fixture(scope="module")
def listing(tupli_sandbox):
    """Bob's listing of the benchmarks alice stored with hostile descriptions and published to their group."""
    alice, bob = _user(tupli_sandbox, "alice"), _user(tupli_sandbox, "bob")
    tag = uuid.uuid4().hex[:8]
    names = {}
    for i, (what, text) in enumerate(HOSTILE.items()):
        stored = alice.store_benchmark(json.dumps({"env": tag, "i": i}), {"name": f"hostile-{tag}-{i}",
                                                                          "description": text})
        alice.publish_benchmark(stored["id"][0], "team")
        names[f"hostile-{tag}-{i}"] = what
    table = bob.list_benchmarks()
    table = table[[name in names for name in table["name"]]]
    yield table, names
    for item in table["id"]:
        alice.delete_benchmark(item)


def test_strings_are_kept_as_received(listing):
    table, names = listing
    assert len(table) == len(HOSTILE)
    for name, description in zip(table["name"], table["description"]):
        assert description == HOSTILE[names[name]], names[name]


@pytest.mark.parametrize("ext", list(FORMATS))
def test_another_users_listing_reads_back_from_every_format(listing, ext, tmp_path):
    table, names = listing
    path = tmp_path / f"listing.{ext}"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table.write(path)
        back = ResultTable.read(path)
        plain = Table.read(path, format=FORMATS[ext])  # as any reader sees it: every row, every column
    if ext.endswith(".gz"):
        assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert len(back) == len(plain) == len(table) and back.colnames == plain.colnames == table.colnames
    for name, description in zip(back["name"], back["description"]):
        assert description == HOSTILE[names[name]], (ext, names[name])


def test_the_escape_rule_is_what_other_readers_see(listing, tmp_path):
    table, names = listing
    table.write(tmp_path / "listing.ecsv")
    plain = Table.read(tmp_path / "listing.ecsv")
    assert plain["description"].meta["escaped"] == "backslash"
    seen = {names[n]: d for n, d in zip(plain["name"], plain["description"])}
    assert seen["vertical tab"] == "a\\u000bb" and seen["escape-like text"] == "C:\\\\new\\\\u000b\\\\\\\\ \\\\x0b"
    assert seen["non-ASCII"] == HOSTILE["non-ASCII"]  # what every format carries is left alone


def test_a_surrogate_the_server_cannot_store_is_the_packages_error(tupli_sandbox):
    alice = _user(tupli_sandbox, "alice")
    with pytest.raises(AstroqueryExtError):
        alice.store_benchmark(json.dumps({"env": uuid.uuid4().hex}), {"name": "s", "description": "s\ud800"})


# -- from a hostile server: a lone surrogate, 900-deep nesting ------------------------------------------------

DEPTH = 900


def _nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


class _Hostile(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        tags = _nested(DEPTH) if self.path.endswith("/deep") else '["a"]'
        body = ('[{"id": 1, "name": "lone \\ud800 surrogate", "tags": ' + tags + '},'
                ' {"id": 2, "name": "fine", "tags": []}]').encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def hostile_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    server.shutdown()
    server.server_close()


FIELDS = [Field("id", "int64"), Field("name", "str"), Field("tags", "object")]


@pytest.fixture(scope="module")
def hostile_client(hostile_server):
    from tests.base.testbed_client import TestbedClass

    client = TestbedClass(server=hostile_server)
    client.login(token="not-a-secret-here")
    return client


@pytest.fixture(scope="module")
def hostile_table(hostile_client):
    return hostile_client._table(hostile_client._json("GET", "items"), FIELDS, path="items", what="items")


def test_hostile_values_are_held_in_memory(hostile_table):
    assert hostile_table["name"][0] == "lone \ud800 surrogate"
    assert list(hostile_table["tags"][0]) == ["a"]


def test_nesting_deeper_than_the_bound_is_refused_when_read(hostile_client):
    # The base bounds nesting before decoding (512 levels): a 900-deep answer never becomes a table.
    with pytest.raises(RemoteServiceError, match="nested too deeply"):
        hostile_client._json("GET", "items/deep")


@pytest.mark.parametrize("ext", list(FORMATS))
def test_unwritable_values_raise_the_packages_error_naming_the_column(hostile_table, ext, tmp_path):
    table = hostile_table[["id", "name"]]
    path = tmp_path / f"hostile.{ext}"
    with pytest.raises(TableWriteError, match="column 'name', row 0"):  # a ValueError, not UnicodeEncodeError
        table.write(path)
    assert not path.exists(), "nothing is written"
    table[1:].write(path)  # the other row is fine
    assert len(ResultTable.read(path)) == 1


@pytest.mark.parametrize("ext", list(FORMATS))
def test_nesting_no_writer_can_follow_is_the_packages_error(ext, tmp_path):
    # A value a user built in memory, deeper than any JSON writer follows.
    deep: list = [1]
    for _ in range(5000):
        deep = [deep]
    table = ResultTable({"id": [1, 2], "tags": np.array([deep, []], dtype=object)})
    path = tmp_path / f"deep.{ext}"
    with pytest.raises(TableWriteError, match="column 'tags', row 0"):
        table.write(path)
    assert not path.exists(), "nothing is written"


def test_a_surrogate_in_lists_and_dicts_is_written_as_a_json_escape(tmp_path):
    table = ResultTable({"tags": np.array([{"k": "lone \ud800"}, ["\u2028"]], dtype=object)})
    for ext in FORMATS:
        table.write(tmp_path / f"t.{ext}")
        back = ResultTable.read(tmp_path / f"t.{ext}")
        assert list(back["tags"]) == [{"k": "lone \ud800"}, ["\u2028"]], ext
