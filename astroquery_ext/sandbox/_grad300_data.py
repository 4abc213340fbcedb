"""GRAD300 sandbox: the deterministic scan catalogue (what the archive holds), apart from the app.

`_generate` draws every scan of a catalogue from ``(params, seed)``: dates in
observing runs, sources and sky positions, file names as RadioUniversePRO
writes them, sizes of the FITS files (synthesised on demand by
:mod:`._grad300_fits`) and the API records. :mod:`.grad300` stores it in SQLite
and serves it, as :mod:`._atlas_data` and :mod:`._glance_data` do for theirs.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from datetime import datetime, timedelta, timezone
from typing import Any

from astroquery_ext.sandbox import _grad300_fits as fitsgen

SCAN_TYPES = ("TPI", "Images", "Spectrum", "OnOff")
TAGS = {"TPI": "TPI", "Images": "IMAGE", "Spectrum": "SPECTRUM", "OnOff": "ONOFF"}
SHARES = {"TPI": 0.40, "Images": 0.35, "Spectrum": 0.15, "OnOff": 0.10}
CATALOGUE_VERSION = 3  # bump when the generated data change
START = datetime(2025, 2, 4, 9, 0, tzinfo=timezone.utc)
SITE_LON_DEG = 5.7153


# -- sky positions (cheap approximations, good to a few tenths of a degree) ---

_FIXED = {"casa": (23.391, 58.815), "cyga": (19.9912, 40.7339), "taua": (5.5755, 22.0145),
          "3c48": (1.6281, 33.1597)}


def _ecl_to_eq(lon_deg: float, lat_deg: float, n: float) -> tuple[float, float]:
    eps = math.radians(23.439 - 4e-7 * n)
    lam, beta = math.radians(lon_deg), math.radians(lat_deg)
    ra = math.atan2(math.sin(lam) * math.cos(eps) - math.tan(beta) * math.sin(eps), math.cos(lam))
    dec = math.asin(math.sin(beta) * math.cos(eps) + math.cos(beta) * math.sin(eps) * math.sin(lam))
    return (math.degrees(ra) / 15.0) % 24.0, math.degrees(dec)


def _radec(obj: str, when: datetime, rng: random.Random) -> tuple[float, float]:
    """RA in decimal hours, Dec in degrees, of where the dish points at ``when``."""
    n = when.timestamp() / 86400.0 + 2440587.5 - 2451545.0
    if obj == "sun":
        g = math.radians(357.528 + 0.9856003 * n)
        lam = 280.460 + 0.9856474 * n + 1.915 * math.sin(g) + 0.020 * math.sin(2 * g)
        ra, dec = _ecl_to_eq(lam % 360.0, 0.0, n)
    elif obj == "moon":
        m = math.radians(134.963 + 13.064993 * n)
        lam = 218.316 + 13.176396 * n + 6.289 * math.sin(m)
        beta = 5.128 * math.sin(math.radians(93.272 + 13.229350 * n))
        ra, dec = _ecl_to_eq(lam % 360.0, beta, n)
    elif obj in _FIXED:
        ra, dec = _FIXED[obj]
    else:  # a fixed Az/El pointing: whatever sky is there
        gmst = 18.697374558 + 24.06570982441908 * n
        ra = (gmst + SITE_LON_DEG / 15.0 - rng.uniform(-3, 3)) % 24.0
        dec = rng.uniform(-10.0, 60.0)
    return ra + rng.gauss(0, 2e-4), dec + rng.gauss(0, 3e-3)


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- catalogue generation -------------------------------------------------------

def _counts(option) -> dict[str, int]:
    if isinstance(option, dict):
        unknown = set(option) - set(SCAN_TYPES)
        if unknown:
            raise ValueError(f"n_scans: unknown scan types {sorted(unknown)}")
        return {t: int(option.get(t, 0)) for t in SCAN_TYPES}
    total = int(option)
    counts = {t: int(total * SHARES[t]) for t in SCAN_TYPES}
    counts["TPI"] += total - sum(counts.values())
    return counts


def _range(option, default_min_fraction=10) -> tuple[int, int]:
    if isinstance(option, (list, tuple)):
        lo, hi = int(option[0]), int(option[1])
    else:
        hi = int(option)
        lo = max(1, hi // default_min_fraction)
    if lo < 0 or hi < lo:
        raise ValueError(f"bad row range {option!r}")
    return lo, hi


class _Params:
    def __init__(self, opts: dict):
        self.counts = _counts(opts.get("n_scans", 300))
        self.tpi_rows = _range(opts.get("tpi_rows", 2000))
        self.image_size = int(opts.get("image_size", 75))
        self.spectrum_rows = int(opts.get("spectrum_rows", 15))
        self.onoff_reps = int(opts.get("onoff_reps", 20))
        self.big_file_mb = float(opts.get("big_file_mb", 0))
        self.quirks = str(opts.get("quirks", "some"))
        if self.quirks not in ("none", "some", "all"):
            raise ValueError("quirks must be 'none', 'some' or 'all'")
        self.specials = bool(opts.get("specials", True))
        sizes = [3, 13, 27, 31, 37, 39, 51, 63, 75]
        self.image_sizes = [n for n in sizes if n <= self.image_size] or [max(1, self.image_size | 1)]
        if self.image_size > 75:
            self.image_sizes.append(self.image_size | 1)
        self.spec_rows = [n for n in (3, 6, 15) if n <= self.spectrum_rows] or [max(1, self.spectrum_rows)]
        if self.spectrum_rows > 15:
            self.spec_rows.append(self.spectrum_rows)

    def fingerprint(self, seed: int) -> str:
        doc = json.dumps([CATALOGUE_VERSION, seed, self.counts, self.tpi_rows, self.image_sizes,
                          self.spec_rows, self.onoff_reps, self.big_file_mb, self.quirks,
                          self.specials], sort_keys=True)
        return hashlib.sha256(doc.encode()).hexdigest()[:20]


def _raw(params: _Params, scan_id: int) -> bool:
    return params.quirks == "all" or (params.quirks == "some" and scan_id % 10 == 7)


def _generate(params: _Params, seed: int) -> tuple[list[dict], dict]:
    """Scans as dicts (record fields + synthesis parameters) and the ``special`` info."""
    rng = random.Random(f"grad300:{seed}")
    remaining = dict(params.counts)
    events: list[dict] = []
    now = START + timedelta(minutes=rng.randint(0, 50))
    day_counters: dict[tuple[str, str], int] = {}
    objects = ["sun"] * 8 + ["moon"] * 2 + ["casa"] * 3 + ["cyga"] * 2 + ["taua"] * 2 + ["azel"] * 2
    projects = ["GRAD300"] * 7 + ["PROJ01"] * 2 + ["CSCAN_LON"]

    def counter(kind: str, when: datetime) -> int:
        key = (kind, when.strftime("%Y%m%d"))
        day_counters[key] = day_counters.get(key, 0) + 1
        return day_counters[key]

    def new_scan(kind: str, when: datetime, seconds: float, obj: str, project: str, nrows: int,
                 count: int) -> dict:
        ra, dec = _radec(obj, when, rng)
        end = when + timedelta(seconds=max(1.0, seconds))
        return {"scan_type": kind, "date": when, "date_end": end, "object": obj, "project": project,
                "ra": ra, "dec": dec, "nrows": nrows, "counter": count,
                "azimuth_center": round(rng.uniform(95.0, 265.0), 2),
                "elevation_center": round(rng.uniform(15.0, 62.0), 3)}

    while sum(remaining.values()) > 0:
        lonely_images = max(0, remaining["Images"] - remaining["TPI"])
        weights = [remaining["TPI"], remaining["Spectrum"], remaining["OnOff"], lonely_images]
        kind = rng.choices(["TPI", "Spectrum", "OnOff", "Images"], weights=weights)[0]
        obj = rng.choice(objects + (["3c48"] if kind != "TPI" else []))
        project = rng.choice(projects)
        if kind == "TPI":
            rows = rng.randint(*params.tpi_rows)
            seconds = rows * 0.47
            events.append(new_scan("TPI", now, seconds, obj, project, rows, counter("TPI", now)))
            remaining["TPI"] -= 1
            want_image = remaining["Images"] > 0 and (
                remaining["Images"] > remaining["TPI"] or rng.random() < 0.8)
            if want_image:
                img = new_scan("Images", now + timedelta(seconds=3), seconds - 5, obj, project,
                               rng.choice(params.image_sizes), 1)
                events.append(img)
                remaining["Images"] -= 1
        elif kind == "Spectrum":
            rows = rng.choice(params.spec_rows)
            seconds = rows * 6.7
            events.append(new_scan("Spectrum", now, seconds, obj, project, rows, counter("Spectrum", now)))
            remaining["Spectrum"] -= 1
        elif kind == "OnOff":
            reps = rng.randint(2, max(2, params.onoff_reps))
            events.append(new_scan("OnOff", now, reps * 12.0, obj, project, reps * 8, counter("OnOff", now)))
            remaining["OnOff"] -= 1
        else:
            seconds = rng.uniform(120, 1800)
            events.append(new_scan("Images", now, seconds, obj, project,
                                   rng.choice(params.image_sizes), 1))
            remaining["Images"] -= 1
        last_end = max(e["date_end"] for e in events[-2:])
        now = last_end + timedelta(seconds=rng.randint(20, 900))
        if now.hour >= 17:
            day = (now + timedelta(days=rng.choice([1, 1, 1, 2, 3]))).date()
            now = datetime(day.year, day.month, day.day, 8, tzinfo=timezone.utc) + timedelta(
                seconds=rng.randint(0, 3600))

    by_type: dict[str, list[dict]] = {t: [] for t in SCAN_TYPES}
    for event in events:  # chronological ids per type
        by_type[event["scan_type"]].append(event)
    for kind, scans in by_type.items():
        for i, scan in enumerate(scans, 1):
            scan["id"] = i

    special: dict[str, Any] = {}
    if params.specials:
        _apply_specials(by_type, special)
    if params.big_file_mb > 0:
        last = by_type["TPI"][-1]["date_end"] if by_type["TPI"] else START
        when = last + timedelta(hours=1)
        rows = max(0, int((params.big_file_mb * 2 ** 20 - fitsgen.HEADER_BYTES["TPI"]) // 124))
        big = new_scan("TPI", when, rows * 0.47, "sun", "GRAD300", rows, counter("TPI", when))
        big["id"] = len(by_type["TPI"]) + 1
        big["raw"] = False
        by_type["TPI"].append(big)
        special["big_file"] = {"scan_type": "TPI", "id": big["id"]}

    scans = [s for kind in SCAN_TYPES for s in by_type[kind]]
    for scan in scans:
        scan.setdefault("raw", _raw(params, scan["id"]))
        _finish(scan)
    for entry in _special_entries(special):
        scan = next(s for s in by_type[entry["scan_type"]] if s["id"] == entry["id"])
        entry["file_name"] = scan["file_name"]
        entry["size"] = scan["size"]
    return scans, special


def _special_entries(special: dict):
    for value in special.values():
        yield from (value if isinstance(value, list) else [value])


def _apply_specials(by_type: dict[str, list[dict]], special: dict) -> None:
    tpi, images = by_type["TPI"], by_type["Images"]

    def pick(scans, index):
        return scans[index] if len(scans) > index else None

    if (s := pick(tpi, 2)) is not None:
        s["nrows"] = 0
        s["date_end"] = s["date"] + timedelta(seconds=2)
        special["empty_tpi"] = {"scan_type": "TPI", "id": s["id"]}
    if (s := pick(tpi, 5)) is not None:
        s["garbage"] = True  # Az/El of some rows at 1e-310 / 1e307; record az/el null
        special["corrupt_azel"] = {"scan_type": "TPI", "id": s["id"]}
    if (s := pick(tpi, 8)) is not None:
        s["object"], s["target"] = "casa", "CASSIOPÉE A"
        s["ra"], s["dec"] = 23.3911, 58.8118
        special["non_ascii_name"] = {"scan_type": "TPI", "id": s["id"]}
    if (s := pick(tpi, 11)) is not None:
        s["object"], s["project"], s["target"] = "", "PROJ01", ""
        special["empty_object"] = {"scan_type": "TPI", "id": s["id"]}
    hostile = []
    for index, name in ((3, "../../etc/evil.fits"), (6, "..\\..\\Windows\\System32\\evil.fits"),
                        (9, "/tmp/absolute-evil.fits")):
        if (s := pick(images, index)) is not None:
            s["file_name"] = name
            hostile.append({"scan_type": "Images", "id": s["id"]})
    if hostile:
        special["hostile"] = hostile
    for i, s in enumerate(tpi):  # a few free-text comments, like an operator's note
        if i % 23 == 4:
            s["comment"] = "pointing check"


def _finish(scan: dict) -> None:
    """Fill in the record fields (file name, size, json) of one generated scan."""
    kind = scan["scan_type"]
    when, end = scan["date"], scan["date_end"]
    target = scan.get("target", scan["object"].upper())
    if "file_name" not in scan:
        scan["file_name"] = (f"{when:%Y%m%d-%H%M%S}_{TAGS[kind]}-{scan['project']}-{target}"
                             f"_{scan['counter']:02d}#_01#.fits")
    scan["size"] = fitsgen.file_size(kind, scan["nrows"], bool(scan["raw"]))
    scan["date"] = _iso(when)
    scan["date_end"] = _iso(end)
    az = el = nsamples = None
    if kind == "TPI":
        nsamples = scan["nrows"]
        if not scan.get("garbage"):
            az, el = scan["azimuth_center"], scan["elevation_center"]
    elif kind == "Spectrum":
        nsamples = scan["nrows"]
    record = {
        "id": scan["id"],
        "file_path": f"/data/GRAD-300/{when:%Y%m%d}/FITS/{scan['file_name']}",
        "file_name": scan["file_name"],
        "size": scan["size"],
        "ctime": _iso(when),
        "mtime": _iso(end + timedelta(seconds=2)),
        "object": scan["object"],
        "ra": scan["ra"],
        "dec": scan["dec"],
        "gain": None,
        "comment": scan.get("comment"),
        "date": scan["date"],
        "date_obs": scan["date"],
        "date_end": scan["date_end"],
        "azimuth": az,
        "elevation": el,
        "nsamples": nsamples,
    }
    scan["record"] = record
