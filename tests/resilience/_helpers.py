"""Shared pieces of the resilience suites: fault plans, table fingerprints, file and cache checks, figures."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import replace as dataclass_replace
from pathlib import Path

import numpy as np
from astropy.table import Table
from astropy.time import Time

from astroquery_ext.sandbox import Fault

#: The fault kinds a bulk run must survive (all retryable for reads).
TRANSIENT_KINDS = ("502", "503", "429", "reset", "truncate", "delay")


def _kinds(timeout, retry_after, **common) -> list[Fault]:
    return [Fault("status", status=502, **common), Fault("status", status=503, **common),
            Fault("status", status=429, retry_after=retry_after, **common), Fault("reset", **common),
            Fault("truncate", **common), Fault("delay", seconds=timeout + 0.5, **common)]


def transient_faults(rate: float, *, timeout: float, method=None, path=None, retry_after: float = 1,
                     every_kind: bool = False) -> list[Fault]:
    """``rate`` of the matching responses go wrong, split evenly over the transient kinds.

    ``delay`` sleeps past the client's ``timeout``; ``429`` asks to wait
    ``retry_after`` s. ``every_kind`` adds rules (first, so they win) that
    make each kind fire once for sure, on matching requests 2, 5, 8, 11, 14
    and 17: a small CI run then meets every kind whatever the draw.
    """
    rules = []
    if every_kind:
        rules += [dataclass_replace(f, nth=[2 + 3 * i], rate=None)
                  for i, f in enumerate(_kinds(timeout, retry_after, method=method, path=path))]
    return rules + _kinds(timeout, retry_after, rate=rate / len(TRANSIENT_KINDS), method=method, path=path)


def fired(sandbox, service: str) -> dict[str, int]:
    """How often each rule fired, by kind (``status`` rules by their status)."""
    out: dict[str, int] = {}
    for rule in sandbox.faults(service):
        kind = str(rule["status"]) if rule["kind"] == "status" else rule["kind"]
        out[kind] = out.get(kind, 0) + rule["fired"]
    return out


def _cell(value):
    if isinstance(value, np.ma.core.MaskedConstant):
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, Table):
        return table_rows(value)
    return value


def table_rows(table: Table, *, drop=()) -> list:
    """Every value of a table as plain Python (masked -> None, Time -> ISO), row by row."""
    names = [n for n in table.colnames if n not in drop]
    columns = []
    for name in names:
        col = table[name]
        if isinstance(col, Time):
            values = [None if m else v for v, m in zip(col.isot.tolist(), np.broadcast_to(
                getattr(col, "mask", False), len(col)))] if len(col) else []
        else:
            mask = np.ma.getmaskarray(col) if hasattr(col, "mask") else np.zeros(len(col), bool)
            data = np.asarray(col) if col.dtype.kind != "O" else list(col)
            values = [None if mask.any() and bool(np.all(m)) else _cell(v) for v, m in zip(data, mask)]
        columns.append(values)
    return [names] + [list(row) for row in zip(*columns)]


def table_digest(table: Table, *, drop=()) -> str:
    """SHA-256 of a table's column names, dtypes, units and every value (not its meta)."""
    header = [(n, str(table[n].dtype) if not isinstance(table[n], Time) else "Time",
               str(getattr(table[n], "unit", None))) for n in table.colnames if n not in drop]
    blob = json.dumps([header, table_rows(table, drop=drop)], default=repr, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def assert_identical(got: Table, expected: Table, *, drop=()) -> None:
    assert got.colnames == expected.colnames
    assert len(got) == len(expected)
    if table_digest(got, drop=drop) != table_digest(expected, drop=drop):
        a, b = table_rows(got, drop=drop), table_rows(expected, drop=drop)
        first = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
        raise AssertionError(f"tables differ first at row {first - 1}: {a[first]!r} != {b[first]!r}")


def file_digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(directory).iterdir())
            if p.is_file()}


def part_files(root: Path) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*") if p.name.endswith(".part"))


def cache_entries(root: Path) -> list[Path]:
    return sorted(Path(root).rglob("*.entry")) if Path(root).exists() else []


def check_cache(root: Path) -> int:
    """Every cache entry is whole (its SHA-256 matches), parses as JSON, and is private. Returns the count."""
    entries = cache_entries(root)
    for path in entries:
        raw = path.read_bytes()
        head, _, payload = raw.partition(b"\n")
        header = json.loads(head)
        assert header["sha256"] == hashlib.sha256(payload).hexdigest(), path
        assert header.get("status", 200) < 300, path
        json.loads(payload)
        assert path.stat().st_mode & 0o077 == 0, path
    for directory in [p for p in Path(root).rglob("*") if p.is_dir()] + ([Path(root)] if Path(root).exists() else []):
        assert directory.stat().st_mode & 0o077 == 0, directory
    return len(entries)


class Figures:
    """Counts for the "Reliability and security" page; appended as JSON lines to $RESILIENCE_FIGURES."""

    _lock = threading.Lock()

    @classmethod
    def record(cls, suite: str, case: str, **counts) -> None:
        target = os.environ.get("RESILIENCE_FIGURES")
        if not target:
            return
        with cls._lock, open(target, "a") as handle:
            handle.write(json.dumps({"suite": suite, "case": case, **counts}, default=str) + "\n")
