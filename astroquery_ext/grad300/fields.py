"""The columns of the GRAD300 result tables.

Scan tables have the same columns for every scan type (a type that lacks a
key has it masked), in the order below; keys the server adds beyond these
follow, sorted, with inferred types.
"""

from __future__ import annotations

from collections.abc import Mapping

from astroquery_ext._base import Field

__all__ = ["SCAN_FIELDS", "KNOWN_KEYS", "DOWNLOAD_FIELDS"]


def _ra_degrees(record: Mapping) -> float | None:
    hours = record.get("ra")
    return None if hours is None else float(hours) * 15.0


#: Columns of every scan table, in order. Keys the server adds beyond these
#: follow them, sorted, with inferred types.
SCAN_FIELDS = [
    Field("id", "int64", description="Scan id (counted per scan type)"),
    Field("scan_type", "str", description="TPI, Images, Spectrum or OnOff"),
    Field("scan_name", "str", source="file_name", description="Scan name: the file name in the archive"),
    Field("file_path", "str", description="Path on the server"),
    Field("size", "int64", unit="byte", description="File size"),
    Field("source", "str", source="object", description="Target (OBJECT card, lower case)"),
    Field("ra", "float64", source=_ra_degrees, unit="deg", description="Right ascension at the start"),
    Field("ra_hours", "float64", source="ra", unit="hourangle", description="Right ascension as served"),
    Field("dec", "float64", unit="deg", description="Declination at the start"),
    Field("date", "time", description="Start of the observation (UTC)"),
    Field("date_obs", "time", description="DATE-OBS (UTC)"),
    Field("date_end", "time", description="DATE-END (UTC)"),
    Field("gain", "int64"),
    Field("comment", "str"),
    Field("azimuth", "float64", unit="deg", description="Azimuth of the pointing (TPI)"),
    Field("elevation", "float64", unit="deg", description="Elevation of the pointing (TPI)"),
    Field("nsamples", "int64", description="Rows of the file (TPI, Spectrum)"),
    Field("ctime", "time", description="File creation time on the server (UTC)"),
    Field("mtime", "time", description="File modification time on the server (UTC)"),
]
KNOWN_KEYS = {"id", "scan_type", "file_name", "file_path", "size", "object", "ra", "dec", "date",
               "date_obs", "date_end", "gain", "comment", "azimuth", "elevation", "nsamples",
               "ctime", "mtime"}

#: Columns of the table `Grad300Class.download_scans` returns.
DOWNLOAD_FIELDS = [
    Field("id", "int64"),
    Field("scan_type", "str"),
    Field("scan_name", "str", description="Scan name: the file name in the archive"),
    Field("local_path", "str", description="Where the file is (empty when it failed)"),
    Field("bytes", "int64", unit="byte"),
    Field("status", "str", description="downloaded, exists or error"),
    Field("error", "str", description="Why it failed"),
]
