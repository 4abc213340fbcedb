"""The typed decoder of objects/ answers: what it does with answers that differ from the schema.

A small HTTP server on loopback answers objects/ with crafted bodies (the
sandbox always sends well-formed records), so each test sees the real client
read a real streamed response. Extra keys are ignored, missing keys are
masked, a value of the wrong type is a clear error that names where it is;
never a crash, a shifted column or a wrong number.
"""

import http.server
import json
import threading
import warnings

import numpy as np
import pytest

from astroquery_ext.atlas import AtlasClass, conf
from astroquery_ext.exceptions import RemoteServiceError

OID = 1_161_600_211_221_604_900          # above 2**53: exact only as an int
OID2 = 1_161_600_211_221_604_901

LC_ROW = {"id": OID, "mag": -18.719, "magerr": 0.105, "mjd": 58111.29794476, "exptime": 30.0, "filter": "o",
          "zp": 22.082, "expname": "03a58111o0595o", "ra": 63.69543, "dec": -8.50664,
          "atlas_metadata_id": 8001347, "pointing": "SW064S09", "mag5sig": 19.47, "x": 724.93, "y": 9904.1,
          "major": 3.64, "minor": 1.3, "phi": 47.4, "det": 5, "chin": 2.39, "pvr": 0, "ptr": 0, "pmv": 0,
          "pkn": 0, "pno": 0, "pbn": 0, "pcr": 0, "pxt": 0, "psc": 0, "dup": 0, "wpflx": -345.3, "dflx": 1.3,
          "date_inserted": "2017-12-24T07:34:02Z"}
NON_ROW = {"id": 7916699, "mjd": 58099.54094332, "exptime": 30.0, "filter": "o", "zp": 22.117,
           "expname": "05r58099o1081o", "filename": "05r58099o1081o.ddc", "input": None, "reference": None,
           "pointing": "SW064S09", "mag5sig": 18.91, "date_inserted": "2017-12-12T13:23:57Z"}


def record(oid, lc=(), nondets=(), **extra):
    return {"object": {"id": oid, "ra": 63.69546, "dec": -8.50667, "atlas_designation": None},
            "lc": list(lc), "lcnondets": list(nondets), "fp": [], "sherlock_crossmatches": [],
            "sherlock_classifications": [], "tns_crossmatches": [], "external_crossmatches": [], **extra}


class _Handler(http.server.BaseHTTPRequestHandler):
    body = b"[]"

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = type(self).body
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for i in range(0, len(body), 4096):  # in pieces, as a big answer arrives
            self.wfile.write(body[i:i + 4096])

    def log_message(self, *args):
        pass


@pytest.fixture
def answer():
    """Set the objects/ body; yields (set_body, client)."""
    handler = type("Handler", (_Handler,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = AtlasClass(server=f"http://127.0.0.1:{server.server_address[1]}/api/")
    client.login(token="0123456789abcdef0123456789abcdef01234567", store_token=False)

    def set_body(records):
        handler.body = records if isinstance(records, bytes) else json.dumps(records).encode()
    with conf.set_temp("memo_timeout", 0):
        yield set_body, client
    server.shutdown()
    server.server_close()


def test_well_formed_answer_has_exact_ids_units_and_times(answer):
    set_body, atlas = answer
    set_body([record(OID, [LC_ROW, dict(LC_ROW, mjd=58112.5, mag=None)], [NON_ROW])])
    lc = atlas.get_lightcurves([OID], show_progress=False)
    assert lc["atlas_id"].dtype == np.int64 and set(lc["atlas_id"].tolist()) == {OID}
    assert lc["detected"].tolist() == [False, True, True]
    assert lc["mag"].unit == "mag" and lc["mag"].mask.tolist() == [True, False, True]
    assert lc["mag"][1] == -18.719 and lc["exposure_id"].tolist() == [7916699, 8001347, 8001347]
    assert lc["date_inserted"][1].isot == "2017-12-24T07:34:02.000"


def test_unknown_extra_keys_are_ignored_and_shift_nothing(answer):
    set_body, atlas = answer
    odd = {"zzz_new": [1, {"nested": "x"}], **LC_ROW, "aaa_new": "first"}
    set_body([record(OID, [odd], [dict(NON_ROW, extra_key=3.5)], new_part=[{"a": 1}])])
    lc = atlas.get_lightcurves([OID], show_progress=False)
    assert "zzz_new" not in lc.colnames and "aaa_new" not in lc.colnames
    det = lc[lc["detected"]][0]
    for key in ("mag", "magerr", "mjd", "zp", "x", "y", "wpflx", "dflx"):
        assert det[key] == LC_ROW[key], key
    assert det["expname"] == LC_ROW["expname"] and det["filter"] == "o"


def test_a_missing_key_is_a_masked_value(answer):
    set_body, atlas = answer
    rows = [{k: v for k, v in LC_ROW.items() if k not in ("magerr", "dup", "date_inserted")},
            dict(LC_ROW, mjd=58113.0)]
    set_body([record(OID, rows)])
    fp_free = atlas.get_objects([OID], show_progress=False)["lc"]
    assert fp_free["magerr"].mask.tolist() == [True, False]
    assert fp_free["dup"].mask.tolist() == [True, False] and fp_free["dup"].dtype == np.int64
    assert fp_free["date_inserted"].mask.tolist() == [True, False]
    assert fp_free["mag"].tolist() == [LC_ROW["mag"]] * 2


@pytest.mark.parametrize("key, value", [("mag", "bright"), ("det", 5.5), ("atlas_metadata_id", [1]),
                                        ("mjd", {"v": 1})])
def test_a_value_of_the_wrong_type_is_a_clear_error(answer, key, value):
    set_body, atlas = answer
    set_body([record(OID, [LC_ROW]), record(OID2, [LC_ROW, dict(LC_ROW, **{key: value})])])
    with pytest.raises(RemoteServiceError, match="wrong type") as info:
        atlas.get_lightcurves([OID, OID2], show_progress=False)
    message = str(info.value)
    assert f"$[1].lc[1].{key}" in message and "report this to the service" in message


def test_ids_beyond_int64_are_kept_exact_in_an_object_column(answer):
    set_body, atlas = answer
    big = 2 ** 64 + 7
    set_body([record(OID, [dict(LC_ROW, atlas_metadata_id=big)])])
    lc = atlas.get_objects([OID], show_progress=False)["lc"]
    assert lc["atlas_metadata_id"].dtype.kind == "O" and lc["atlas_metadata_id"].tolist() == [big]


def test_a_cut_off_answer_is_retried_then_reported(answer):
    set_body, atlas = answer
    body = json.dumps([record(OID, [LC_ROW])]).encode()
    set_body(body[:-40])
    with pytest.raises(RemoteServiceError, match="cut off"):
        atlas.get_lightcurves([OID], show_progress=False)


def test_empty_answer_parts_keep_their_columns(answer):
    set_body, atlas = answer
    set_body([record(OID)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parts = atlas.get_objects([OID], show_progress=False)
    assert len(parts["lc"]) == 0 and parts["lc"]["mag"].unit == "mag"
    assert parts["lc"]["atlas_id"].dtype == np.int64 and parts["fp"]["uJy"].unit == "uJy"
