"""FITS synthesis for the GRAD300 sandbox (the layouts RadioUniversePRO writes).

Every file is written as header blocks built card by card plus data produced in
chunks of rows, so the byte length of a file is known before it is written
(:func:`file_size`) and a file of any size is synthesised with flat memory.

Layouts (row lengths fixed by the spec; header lengths fixed by our cards):

``TPI``       primary (no data) + BINTABLE, 124-byte rows, headers 14 400 bytes
``Images``    one primary int16 N x N image, header 5 760 bytes
``Spectrum``  primary (no data) + BINTABLE, 16 460-byte rows, headers 11 520 bytes
``OnOff``     primary (no data) + BINTABLE, 53-byte rows (layout invented)

``raw=True`` reproduces the RadioUniversePRO quirks of the real archive: no
padding after the last HDU, and the non-standard ``DIAMETER =`` card (space
before ``=``). Otherwise the files are standard FITS (padded to 2880 bytes).

Names of the four TPI/Spectrum double columns after ``Elevation`` are not
known; we call them ``AZ_OFFSET``, ``EL_OFFSET`` (pointing
offsets, deg) and ``GLON``, ``GLAT`` (galactic coordinates of the pointing).
"""

from __future__ import annotations

import math
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
from astropy.io import fits

BLOCK = 2880
CHUNK_ROWS = 65536
TYPE_INDEX = {"TPI": 1, "Images": 2, "Spectrum": 3, "OnOff": 4}

# 62.5 MHz over 1024 channels, as the real headers have it (BANDWID / 1023).
BASEFREQ = 1_398_000_000
BANDWID = 62_500_000
NCHAN = 1024
BEAM_DEG = 4.03376144265431
PIX_DEG = 0.403376144265431

_DOUBLE_COLS = [("JD", "D", "d"), ("Azimuth", "D", "deg"), ("Elevation", "D", "deg"),
                ("AZ_OFFSET", "D", "deg"), ("EL_OFFSET", "D", "deg"),
                ("GLON", "D", "deg"), ("GLAT", "D", "deg")]
_BBCS = [f"BBC{k:02d}u" for k in range(9, 17)]

COLUMNS = {
    "TPI": _DOUBLE_COLS + [("LEFT_POL", "K", "ct"), ("RIGHT_POL", "K", "ct")]
    + [(b, "J", "ct") for b in _BBCS] + [("CAL", "4A", None), ("MARKER", "16A", None)],
    "Spectrum": _DOUBLE_COLS + [("LEFT_POL", f"{NCHAN}K", "ct"), ("RIGHT_POL", f"{NCHAN}K", "ct"),
                                ("STATUS", "4A", None), ("MARKER", "16A", None)],
    "OnOff": [("REP", "J", None), ("DEV", "8A", None), ("SB", "1A", None),
              ("ON_TPI", "D", "ct"), ("OFF_TPI", "D", "ct"), ("CAL_TPI", "D", "ct"),
              ("FLUX", "D", "Jy"), ("SEFD", "D", "Jy")],
}

_NP_FORMAT = {"D": ">f8", "K": ">i8", "J": ">i4", "A": "S"}


def _dtype(scan_type: str) -> np.dtype:
    fields = []
    for name, form, _unit in COLUMNS[scan_type]:
        code = form.lstrip("0123456789")
        count = int(form[: len(form) - len(code)] or 1)
        if code == "A":
            fields.append((name, f"S{count}"))
        elif count == 1:
            fields.append((name, _NP_FORMAT[code]))
        else:
            fields.append((name, _NP_FORMAT[code], (count,)))
    return np.dtype(fields)


ROW_BYTES = {t: _dtype(t).itemsize for t in COLUMNS}
assert ROW_BYTES["TPI"] == 124 and ROW_BYTES["Spectrum"] == 16460


# -- headers ----------------------------------------------------------------

def _card(key, value=None, comment=None) -> str:
    return fits.Card(key, value, comment).image


def _pad_header(cards: list[str]) -> bytes:
    text = "".join(cards) + "END".ljust(80)
    text += " " * (-len(text) % BLOCK)
    return text.encode("ascii")


def _common_cards(scan: dict, raw: bool) -> list[str]:
    """The 44 observation keywords of every RadioUniversePRO file."""
    date_obs = scan["date"][:19]
    date_end = scan["date_end"][:19]
    blank = " " * 19
    if raw:
        diameter = "DIAMETER =                    3 / TELESCOPE diameter".ljust(80)
    else:
        diameter = _card("DIAMETER", 3, "TELESCOPE diameter")
    return [
        _card("ORIGIN", "RADIOUNIVERSE_PRO", "Software"),
        _card("DATE-OBS", date_obs, "UTC start of the observation"),
        _card("DATE-END", date_end, "UTC end of the observation"),
        _card("HIERARCH Project_Name", scan["project"]),
        _card("HIERARCH Scan Tag", str(scan["counter"])),
        _card("HIERARCH SubScanID", "1"),
        _card("HIERARCH ScheduleName", ""),
        _card("MJD", 0), _card("LST", 0), _card("SITELAT", 0), _card("SITELONG", 0),
        _card("SITEELEV", 0),
        _card("RA", float(scan["ra"]), "RA at t=0 (hours)"),
        _card("DEC", float(scan["dec"]), "DEC at t=0 (deg)"),
        _card("SUNANGLE", 0), _card("TELAPSE", 0), _card("AIRMASS", 0),
        _card("AUTHOR", blank), _card("OBSERVER", blank),
        _card("OBJECT", scan["object"].rjust(19), "Source name"),
        _card("EQUINOX", 2000.0),
        diameter,
        _card("FRONTEND", blank), _card("BACKEND", blank),
        _card("BMAJ", BEAM_DEG, "Beam major axis (deg)"),
        _card("BMIN", BEAM_DEG, "Beam minor axis (deg)"),
        _card("OBSFREQ", 1429250000, "Observed frequency (Hz)"),
        _card("TCAL", 0),
        _card("RESTFRQ", 1420405751.7667, "Rest frequency (Hz)"),
        _card("SPECSYS", "LSRK"),
        _card("BNDRES", BANDWID / 1023, "Channel width (Hz)"),
        _card("BASEFREQ", BASEFREQ, "Baseband frequency (Hz)"),
        _card("BANDWID", BANDWID, "Bandwidth (Hz)"),
        _card("POLARIZ", "L,R"),
        _card("VLSR", 0),
    ] + [_card("COMMENT", "*")] * 9


def _empty_primary(scan: dict) -> list[str]:
    # 14 cards as in the real Spectrum files (content invented, wrong comments are real).
    return [
        _card("SIMPLE", True, "conforms to FITS standard"),
        _card("BITPIX", 16, "16 bits ASCII"),
        _card("NAXIS", 0, "No image data"),
        _card("EXTEND", True),
        _card("ORIGIN", "RADIOUNIVERSE_PRO"),
        _card("TELESCOP", "GRAD-300"),
        _card("INSTRUME", "SPIDER 300A"),
        _card("OBJECT", scan["object"].rjust(19)),
        _card("DATE-OBS", scan["date"][:19]),
        _card("DATE-END", scan["date_end"][:19]),
        _card("DATE", scan["date_end"][:19], "File creation date (UTC)"),
        _card("FILENAME", _ascii(scan["file_name"])[-60:]),
        _card("OBSMODE", scan["scan_type"].upper()),
        _card("COMMENT", "GRAD300 sandbox synthetic data"),
    ]


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii").replace("?", "_")


def _table_header(scan: dict, nrows: int, raw: bool) -> list[str]:
    cols = COLUMNS[scan["scan_type"]]
    cards = [
        _card("XTENSION", "BINTABLE", "binary table extension"),
        _card("BITPIX", 8), _card("NAXIS", 2),
        _card("NAXIS1", ROW_BYTES[scan["scan_type"]], "width of table in bytes"),
        _card("NAXIS2", nrows, "number of rows in table"),
        _card("PCOUNT", 0), _card("GCOUNT", 1),
        _card("TFIELDS", len(cols), "number of fields in each row"),
    ]
    for i, (name, form, unit) in enumerate(cols, 1):
        cards.append(_card(f"TTYPE{i}", name))
        cards.append(_card(f"TFORM{i}", form))
        if unit or scan["scan_type"] == "TPI":  # TPI: a TUNIT for every column (spec card count)
            cards.append(_card(f"TUNIT{i}", unit or ""))
    return cards + _common_cards(scan, raw)


def _image_header(scan: dict, n: int, raw: bool) -> list[str]:
    ra_deg = float(scan["ra"]) * 15.0
    return [
        _card("SIMPLE", True), _card("BITPIX", 16), _card("NAXIS", 2),
        _card("NAXIS1", n), _card("NAXIS2", n), _card("EXTEND", False),
        _card("CRPIX1", (n + 1) / 2), _card("CRPIX2", (n + 1) / 2),
        _card("CRVAL1", ra_deg), _card("CRVAL2", float(scan["dec"])),
        _card("CDELT1", PIX_DEG), _card("CDELT2", -PIX_DEG),
        _card("CTYPE1", "RA"), _card("CTYPE2", "DEC"),
        _card("CUNIT1", "deg"), _card("CUNIT2", "deg"),
    ] + _common_cards(scan, raw)


def headers(scan: dict) -> list[bytes]:
    """The header blocks of each HDU, in file order."""
    raw = bool(scan.get("raw"))
    nrows = int(scan["nrows"])
    if scan["scan_type"] == "Images":
        return [_pad_header(_image_header(scan, nrows, raw))]
    return [_pad_header(_empty_primary(scan)), _pad_header(_table_header(scan, nrows, raw))]


_DUMMY = {"date": "2025-01-01T00:00:00Z", "date_end": "2025-01-01T00:00:00Z", "project": "CSCAN_LON",
          "counter": 1, "ra": 1.0, "dec": 1.0, "object": "sun", "file_name": "x", "nrows": 1}
HEADER_BYTES = {t: sum(len(h) for h in headers(dict(_DUMMY, scan_type=t))) for t in TYPE_INDEX}
assert HEADER_BYTES["TPI"] == 14400 and HEADER_BYTES["Spectrum"] == 11520
assert HEADER_BYTES["Images"] == 5760


def data_bytes(scan_type: str, nrows: int) -> int:
    """Unpadded data length: rows x row length, or 2 N^2 for an N x N image."""
    if scan_type == "Images":
        return 2 * nrows * nrows
    return ROW_BYTES[scan_type] * nrows


def file_size(scan_type: str, nrows: int, raw: bool) -> int:
    """Exact byte length of the file :func:`write_scan_file` writes."""
    data = data_bytes(scan_type, nrows)
    if not raw:
        data += -data % BLOCK
    return HEADER_BYTES[scan_type] + data


# -- data ---------------------------------------------------------------------

_AMPLITUDE = {"sun": 8000.0, "moon": 1500.0, "casa": 700.0, "cyga": 600.0, "taua": 350.0,
              "3c48": 60.0, "azel": 0.0, "": 0.0}
_FLUX_JY = {"sun": 250000.0, "moon": 900.0, "casa": 1700.0, "cyga": 1600.0, "taua": 900.0,
            "3c48": 16.0, "azel": 0.0, "": 0.0}

# ICRS (J2000) -> galactic rotation.
_GAL = np.array([[-0.0548755604, -0.8734370902, -0.4838350155],
                 [+0.4941094279, -0.4448296300, +0.7469822445],
                 [-0.8676661490, -0.1980763734, +0.4559837762]])


def galactic(ra_hours: float, dec_deg: float) -> tuple[float, float]:
    ra, dec = math.radians(ra_hours * 15.0), math.radians(dec_deg)
    v = np.array([math.cos(dec) * math.cos(ra), math.cos(dec) * math.sin(ra), math.sin(dec)])
    x, y, z = _GAL @ v
    return math.degrees(math.atan2(y, x)) % 360.0, math.degrees(math.asin(max(-1.0, min(1.0, z))))


def _jd(iso: str) -> float:
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp() / 86400.0 + 2440587.5


def _rng(scan: dict, seed: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), TYPE_INDEX[scan["scan_type"]], int(scan["id"])])


def _tpi_chunks(scan: dict, seed: int) -> Iterator[bytes]:
    rng = _rng(scan, seed)
    nrows = int(scan["nrows"])
    dtype = _dtype("TPI")
    per_line = max(8, int(math.sqrt(max(nrows, 1)) * 1.6))
    n_lines = max(2, -(-nrows // per_line))
    width = 12.0
    az0 = float(scan.get("azimuth_center") or 180.0)
    el0 = float(scan.get("elevation_center") or 30.0)
    amp = _AMPLITUDE.get(scan["object"], 0.0)
    glon, glat = galactic(float(scan["ra"]), float(scan["dec"]))
    jd0 = _jd(scan["date"])
    cos_el = max(0.2, math.cos(math.radians(el0)))
    gains = 1.0 + 0.15 * rng.standard_normal(8)
    for start in range(0, nrows, CHUNK_ROWS):
        n = min(CHUNK_ROWS, nrows - start)
        i = np.arange(start, start + n)
        line, pos = np.divmod(i, per_line)
        frac = pos / (per_line - 1)
        frac = np.where(line % 2 == 1, 1.0 - frac, frac)
        x = (frac - 0.5) * width
        y = (line / (n_lines - 1) - 0.5) * width
        beam = np.exp(-4 * math.log(2) * (x * x + y * y) / BEAM_DEG ** 2)
        cal = (i % 600) < 6
        rows = np.zeros(n, dtype=dtype)
        rows["JD"] = jd0 + (i * 0.47 + rng.uniform(0, 0.05, n)) / 86400.0
        rows["Azimuth"] = np.round(az0 + x / cos_el, 2)
        rows["Elevation"] = np.round(el0 + y, 2)
        rows["AZ_OFFSET"] = x
        rows["EL_OFFSET"] = y
        rows["GLON"] = glon + x * 0.7
        rows["GLAT"] = glat + y * 0.7
        rows["LEFT_POL"] = (1500 + amp * beam + 400 * cal + rng.normal(0, 20, n)).astype(np.int64)
        rows["RIGHT_POL"] = (3000 + 1.8 * amp * beam + 700 * cal + rng.normal(0, 35, n)).astype(np.int64)
        for k, name in enumerate(_BBCS):
            rows[name] = (300 + gains[k] * (amp / 8 * beam + 50 * cal + 200)
                          + rng.normal(0, 5, n)).astype(np.int32)
        rows["CAL"] = np.where(cal, b"ON  ", b"OFF ")
        rows["MARKER"] = np.char.ljust(np.char.add(b"TPI ", np.char.zfill(
            (line % 1000).astype("S3"), 3)), 16)
        if scan.get("garbage"):
            bad = (i % 97) == 0
            rows["Azimuth"][bad] = 1e-310
            rows["Elevation"][bad] = 1e307
        yield rows.tobytes()


def _image_bytes(scan: dict, seed: int) -> bytes:
    rng = _rng(scan, seed)
    n = int(scan["nrows"])
    c = (n - 1) / 2
    yy, xx = np.mgrid[0:n, 0:n]
    r2 = (xx - c) ** 2 + (yy - c) ** 2
    fwhm_px = BEAM_DEG / PIX_DEG
    amp = min(25000.0, _AMPLITUDE.get(scan["object"], 0.0) * 3 + 200)
    img = 1200 + amp * np.exp(-4 * math.log(2) * r2 / fwhm_px ** 2) + rng.normal(0, 15, (n, n))
    img = np.clip(img, -32768, 32767).astype(">i2")
    if n > 3:  # the raster ends before the last row is filled
        img[-1, n // 2:] = 0
    return img.tobytes()


def _spectrum_bytes(scan: dict, seed: int) -> bytes:
    rng = _rng(scan, seed)
    nrows = int(scan["nrows"])
    rows = np.zeros(nrows, dtype=_dtype("Spectrum"))
    k = np.arange(NCHAN)
    bandpass = 1 + 0.3 * np.sin(k / NCHAN * math.pi) + 0.05 * np.sin(k / 37.0)
    line_center = 367 + rng.normal(0, 6)
    hi_line = np.exp(-0.5 * ((k - line_center) / 6.0) ** 2)
    glon, glat = galactic(float(scan["ra"]), float(scan["dec"]))
    jd0 = _jd(scan["date"])
    az0 = float(scan.get("azimuth_center") or 180.0)
    el0 = float(scan.get("elevation_center") or 30.0)
    amp = _AMPLITUDE.get(scan["object"], 0.0)
    for r in range(nrows):
        status = ("on", "off", "cal")[r % 3]
        off = 5.0 if status == "off" else float(rng.normal(0, 0.01))
        level = 2e5 * (1 + (amp / 2e4 if status == "on" else 0) + (0.2 if status == "cal" else 0))
        left = level * bandpass * (1 + 0.04 * hi_line) + rng.normal(0, 300, NCHAN)
        right = 120 * left + rng.normal(0, 5e4, NCHAN)
        left[-1] = right[-1] = 0
        rows[r]["JD"] = jd0 + r * 6.7 / 86400.0
        rows[r]["Azimuth"] = az0 + off
        rows[r]["Elevation"] = el0
        rows[r]["AZ_OFFSET"] = off
        rows[r]["EL_OFFSET"] = float(rng.normal(0, 0.005))
        rows[r]["GLON"], rows[r]["GLAT"] = glon, glat
        rows[r]["LEFT_POL"] = left.astype(np.int64)
        rows[r]["RIGHT_POL"] = right.astype(np.int64)
        rows[r]["STATUS"] = status.encode().ljust(4)
        rows[r]["MARKER"] = f"SPC {r:03d}".rjust(16).encode()
    return rows.tobytes()


def _onoff_bytes(scan: dict, seed: int) -> bytes:
    rng = _rng(scan, seed)
    nrows = int(scan["nrows"])
    rows = np.zeros(nrows, dtype=_dtype("OnOff"))
    flux = _FLUX_JY.get(scan["object"], 100.0) or 100.0
    for r in range(nrows):
        rep, dev = divmod(r, 8)
        off = 2000 + 300 * rng.standard_normal() * 0.1 + 40 * dev
        sefd = 2.4e5 * (1 + 0.05 * rng.standard_normal())
        on = off * (1 + flux / sefd)
        rows[r] = (rep + 1, f"bbc{dev + 9:02d}".encode(), b"u", on, off, off * 1.1,
                   flux * (1 + 0.02 * rng.standard_normal()), sefd)
    return rows.tobytes()


def data_chunks(scan: dict, seed: int) -> Iterator[bytes]:
    kind = scan["scan_type"]
    if kind == "TPI":
        yield from _tpi_chunks(scan, seed)
    elif kind == "Images":
        yield _image_bytes(scan, seed)
    elif kind == "Spectrum":
        yield _spectrum_bytes(scan, seed)
    else:
        yield _onoff_bytes(scan, seed)


def write_scan_file(path: Path, scan: dict, seed: int) -> int:
    """Synthesise the file of one scan at ``path`` (temp file + rename); return its size."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    expected = file_size(scan["scan_type"], int(scan["nrows"]), bool(scan.get("raw")))
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for block in headers(scan):
                out.write(block)
            written = 0
            for chunk in data_chunks(scan, seed):
                out.write(chunk)
                written += len(chunk)
            if not scan.get("raw"):
                out.write(b"\0" * (-written % BLOCK))
            size = out.tell()
        if size != expected:
            raise RuntimeError(f"synthesised {size} bytes for {path.name}, expected {expected}")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return size
