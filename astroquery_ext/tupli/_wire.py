"""Tupli's wire machinery: argument checks, JSON request bodies, the benchmark
hash, the streamed multipart body of artifact uploads, and episodes as tuples.

Nothing here sends a request; `TupliClass` (core.py) does.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any, Mapping

import msgspec
import numpy as np
from astropy.table import Table

from astroquery_ext._base.args import pattern_arg, text_arg

__all__ = ["benchmark_hash"]

ID_PATTERN = re.compile(r"[0-9a-f]{32}")
BENCHMARK_KEYS = ("name", "description", "difficulty", "version", "extra")
ARTIFACT_KEYS = ("name", "description", "benchmark_id", "extra")
TUPLE_KEYS = ("state", "action", "reward", "info", "terminal", "timeout")
METADATA_LIMIT = 1 << 20  # Starlette's cap on a multipart text field


ID_WHAT = "a Tupli id (32 lower-case hex characters, as in the 'id' column of the list_* tables)"


def id_arg(value: Any, name: str) -> str:
    """A Tupli id (`pattern_arg` with Tupli's id pattern)."""
    return pattern_arg(value, name, ID_PATTERN, ID_WHAT)


def optional_str_arg(value: Any, name: str) -> str | None:
    """A string (may be empty) or None: free-text metadata the server stores as given."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a string or None; got {type(value).__name__}")
    return value


def _json_default(value: Any):
    """numpy values to JSON (used while encoding request bodies)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON data")


def encode_json(body: Any, what: str) -> bytes:
    try:
        return json.dumps(body, allow_nan=False, default=_json_default, separators=(",", ":")).encode()
    except ValueError as exc:
        raise ValueError(f"{what} contains NaN or infinity, which JSON cannot carry ({exc})") from None
    except TypeError as exc:
        raise TypeError(f"{what} must be JSON data (numbers, strings, bools, lists, dicts, numpy "
                        f"arrays): {exc}") from None


def jsonable_dict(value: Any, argument: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{argument} must be a dict; got {type(value).__name__}")
    if any(not isinstance(k, str) for k in value):
        raise TypeError(f"{argument} keys must be strings")
    return json.loads(encode_json(dict(value), argument))


def check_latin1(text: str, argument: str) -> None:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError as exc:
        bad = text[exc.start:exc.end]
        raise ValueError(
            f"{argument} contains {bad!r}, a character outside Latin-1: the Tupli server would accept "
            f"the upload but then fail (HTTP 500) on every download of it. Use Latin-1 text "
            f"(e.g. transliterate, or put the value in a file artifact).") from None


def as_metadata_dict(metadata: Any, argument: str) -> dict:
    if hasattr(metadata, "model_dump"):  # a pytupli metadata object
        metadata = {k: v for k, v in metadata.model_dump().items() if k in metadata.model_fields_set}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"{argument} must be a dict; got {type(metadata).__name__}")
    return dict(metadata)


# -- benchmark hash -------------------------------------------------------------------


def benchmark_metadata(metadata: Any) -> tuple[dict, list[str]]:
    """Checked benchmark metadata with defaults filled, and the keys the caller gave."""
    given = as_metadata_dict(metadata, "metadata")
    unknown = sorted(set(given) - set(BENCHMARK_KEYS))
    if unknown:
        raise ValueError(f"unknown benchmark metadata keys {unknown}; allowed: {list(BENCHMARK_KEYS)} "
                         f"(put anything else under 'extra')")
    if "name" not in given:
        raise ValueError("benchmark metadata needs a 'name'")
    full = {"name": text_arg(given["name"], "metadata['name']", exact=True),
            "description": given.get("description", ""),
            "difficulty": optional_str_arg(given.get("difficulty"), "metadata['difficulty']"),
            "version": optional_str_arg(given.get("version"), "metadata['version']"),
            "extra": jsonable_dict(given.get("extra"), "metadata['extra']")}
    if not isinstance(full["description"], str):
        raise TypeError("metadata['description'] must be a string")
    return full, [k for k in BENCHMARK_KEYS if k in given]


def _shift_refs(node: Any) -> Any:
    """jsonpickle back-references (``py/id``) renumbered as inside a one-level-deeper list."""
    if isinstance(node, dict):
        return {k: (v + 1 if k == "py/id" and isinstance(v, int) else _shift_refs(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_shift_refs(v) for v in node]
    return node


def benchmark_hash(serialized: str, metadata: Mapping) -> str:
    """The hash pytupli's ``TupliEnvWrapper`` gives a benchmark, from what is stored.

    pytupli hashes ``jsonpickle.encode([env, metadata])``: the environment
    (whose indented jsonpickle form is ``serialized``) and its
    ``BenchmarkMetadata`` object. This function rebuilds that text from
    ``serialized`` and ``metadata`` without jsonpickle or pytupli, so both
    clients detect the same duplicates.

    One part of pytupli's text is not reproducible: the metadata fields that
    were set explicitly are written as a Python set, whose order changes from
    one process to the next (string hashing is randomised). Here they are
    written in the model's order (name, description, difficulty, version,
    extra), so the hash is stable. It equals pytupli's whenever pytupli's
    order is the same, which is always the case when only ``name`` was given.

    Parameters
    ----------
    serialized : str
        The serialized environment (any text; jsonpickle JSON for pytupli's).
    metadata : dict
        ``name`` and optionally ``description``, ``difficulty``, ``version``,
        ``extra``.
    """
    if not isinstance(serialized, str):
        raise TypeError(f"serialized must be a str; got {type(serialized).__name__}")
    full, given = benchmark_metadata(metadata)
    try:
        env = _shift_refs(json.loads(serialized))
    except ValueError:
        env = serialized  # not JSON: hashed as the text itself
    meta = {"py/object": "pytupli.schema.BenchmarkMetadata",
            "py/state": {"__dict__": full, "__pydantic_extra__": None,
                         "__pydantic_fields_set__": {"py/set": given},
                         "__pydantic_private__": None}}
    return hashlib.sha256(json.dumps([env, meta]).encode("utf-8")).hexdigest()


# -- artifact upload body --------------------------------------------------------------


class UploadSource:
    """What ``store_artifact`` was given: bytes, a path, or a binary file object."""

    def __init__(self, data: Any):
        self.path: Path | None = None
        self.bytes: bytes | None = None
        self.handle = None
        if isinstance(data, (bytes, bytearray, memoryview)):
            self.bytes = bytes(data)
            self.size = len(self.bytes)
            self.name = None
        elif isinstance(data, (str, os.PathLike)):
            path = Path(data)
            if not path.is_file():
                raise ValueError(f"data: {str(path)!r} is not a file (pass bytes, a file path or a binary "
                                 f"file object)")
            self.path, self.size, self.name = path, path.stat().st_size, path.name
        elif hasattr(data, "read"):
            if isinstance(data, io.TextIOBase):
                raise TypeError("data: open the file in binary mode ('rb')")
            self.handle = data
            self.name = Path(getattr(data, "name", "") or "").name or None
            try:
                self.start = data.tell()
                self.size = data.seek(0, os.SEEK_END) - self.start
                data.seek(self.start)
            except (OSError, AttributeError, ValueError):
                raise ValueError("data: the file object must be seekable (its size is sent first); "
                                 "pass bytes or a path instead") from None
        else:
            raise TypeError(f"data must be bytes, a file path or a binary file object; "
                            f"got {type(data).__name__}")

    def chunks(self, size: int):
        if self.bytes is not None:
            view = memoryview(self.bytes)
            for i in range(0, len(view), size):
                yield view[i:i + size]
            return
        if self.path is not None:
            with open(self.path, "rb") as handle:
                yield from self._read(handle, self.size, size)
            return
        self.handle.seek(self.start)
        yield from self._read(self.handle, self.size, size)

    def _read(self, handle, total: int, size: int):
        left = total
        while left > 0:
            block = handle.read(min(size, left))
            if not block:
                raise ValueError(f"data: the file shrank while being uploaded ({total - left} of {total} bytes)")
            left -= len(block)
            yield block


def new_boundary() -> str:
    """A fresh multipart boundary (one per upload; every attempt of it reuses it)."""
    return "astroquery-ext-" + uuid.uuid4().hex


def multipart_content_type(boundary: str) -> str:
    return f"multipart/form-data; boundary={boundary}"


class MultipartBody:
    """A ``multipart/form-data`` body read piece by piece, with a known length.

    requests sends it with a ``Content-Length`` (it has ``__len__``), and
    urllib3 reads it in blocks, so a file is never held whole in memory.
    """

    def __init__(self, fields: Mapping[str, str], file_field: str, source: UploadSource, chunk_size: int,
                 boundary: str | None = None):
        self.boundary = boundary or new_boundary()
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n".encode() + value.encode("utf-8") + b"\r\n"
            for name, value in fields.items())
        head += (f'--{self.boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
                 f'filename="{file_field}"\r\nContent-Type: application/octet-stream\r\n\r\n').encode()
        tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._length = len(head) + source.size + len(tail)
        self._pieces = self._iter(head, source, tail, chunk_size)
        self._current = memoryview(b"")

    @property
    def content_type(self) -> str:
        return multipart_content_type(self.boundary)

    @staticmethod
    def _iter(head, source, tail, chunk_size):
        yield head
        yield from source.chunks(chunk_size)
        yield tail

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        while not len(self._current):
            piece = next(self._pieces, None)
            if piece is None:
                return b""
            self._current = memoryview(piece)
        if size is None or size < 0:
            size = len(self._current)
        out, self._current = self._current[:size], self._current[size:]
        return bytes(out)

    def __iter__(self):
        while True:
            block = self.read(1 << 20)
            if not block:
                return
            yield block


# -- episodes and tuples ----------------------------------------------------------------


def _column_values(values: Any, name: str, n: int | None) -> list:
    """A column (array, Column, list) as a list of JSON-able Python values."""
    if hasattr(values, "mask") and np.any(getattr(values, "mask", False)):
        raise ValueError(f"tuples: column {name!r} has masked (missing) values")
    if isinstance(values, np.ndarray) or hasattr(values, "dtype"):
        array = np.asarray(values)
        if array.ndim == 0:
            raise ValueError(f"tuples: column {name!r} must have one entry per step, not a scalar")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ValueError(f"tuples: column {name!r} contains NaN or infinity, which JSON cannot carry")
        out = array.tolist()
    elif isinstance(values, (list, tuple)):
        out = list(values)
    else:
        raise TypeError(f"tuples: column {name!r} must be an array or a list; got {type(values).__name__}")
    if n is not None and len(out) != n:
        raise ValueError(f"tuples: column {name!r} has {len(out)} entries but 'state' has {n}")
    return out


def episode_json(benchmark_id: str, metadata: dict, tuples: Any) -> bytes:
    """The body of ``episodes/record``: ``metadata`` already JSON data (`jsonable_dict`)."""
    rows, plain = wire_tuples(tuples)
    body = {"benchmark_id": benchmark_id, "metadata": metadata, "tuples": rows}
    if plain:
        # Only numbers, bools and lists from numpy arrays (checked finite): msgspec writes them as json
        # would, ~10x quicker. Anything else goes through json, which refuses what JSON cannot carry.
        return msgspec.json.encode(body)
    return encode_json(body, "the episode")


def _numeric(values: Any) -> bool:
    return (isinstance(values, np.ndarray) or hasattr(values, "dtype")) and np.asarray(values).dtype.kind in "biuf"


def wire_tuples(tuples: Any) -> tuple[list[dict], bool]:
    """Steps of an episode (Table, dict of arrays, list of dicts) as Tupli's tuple dicts, and whether every
    value came from a numeric array (no info dicts)."""
    if isinstance(tuples, Table):
        columns = {name: tuples[name] for name in tuples.colnames}
    elif isinstance(tuples, Mapping):
        columns = dict(tuples)
    elif isinstance(tuples, (list, tuple)):
        rows = []
        for i, row in enumerate(tuples):
            if hasattr(row, "model_dump"):  # a pytupli RLTuple
                row = row.model_dump()
            if not isinstance(row, Mapping):
                raise TypeError(f"tuples[{i}] must be a dict with state, action, reward; "
                                f"got {type(row).__name__}")
            unknown = sorted(set(row) - set(TUPLE_KEYS))
            missing = [k for k in ("state", "action", "reward") if k not in row]
            if unknown or missing:
                raise ValueError(f"tuples[{i}]: " + "; ".join(
                    ([f"missing {missing}"] if missing else []) + ([f"unknown keys {unknown}"] if unknown else []))
                    + f" (allowed: {list(TUPLE_KEYS)})")
            rows.append({"state": row["state"], "action": row["action"], "reward": row["reward"],
                         "info": _check_info(row.get("info"), i),
                         "terminal": _check_flag(row.get("terminal", False), "terminal", i),
                         "timeout": _check_flag(row.get("timeout", False), "timeout", i)})
        if not rows:
            raise ValueError("tuples is empty: an episode needs at least one step "
                             "(the Tupli server fails with HTTP 500 on an empty episode)")
        return rows, False
    else:
        raise TypeError(f"tuples must be a Table, a dict of arrays or a list of dicts; "
                        f"got {type(tuples).__name__}")
    unknown = sorted(set(columns) - set(TUPLE_KEYS))
    missing = [k for k in ("state", "action", "reward") if k not in columns]
    if unknown or missing:
        raise ValueError("tuples: " + "; ".join(
            ([f"missing columns {missing}"] if missing else []) + ([f"unknown columns {unknown}"] if unknown else []))
            + f" (allowed: {list(TUPLE_KEYS)})")
    state = _column_values(columns["state"], "state", None)
    n = len(state)
    if n == 0:
        raise ValueError("tuples is empty: an episode needs at least one step "
                         "(the Tupli server fails with HTTP 500 on an empty episode)")
    action = _column_values(columns["action"], "action", n)
    reward = _column_values(columns["reward"], "reward", n)
    terminal = ([_check_flag(v, "terminal", i) for i, v in enumerate(_column_values(columns["terminal"], "terminal", n))]
                if "terminal" in columns else [False] * n)
    timeout = ([_check_flag(v, "timeout", i) for i, v in enumerate(_column_values(columns["timeout"], "timeout", n))]
               if "timeout" in columns else [False] * n)
    info = ([_check_info(v, i) for i, v in enumerate(_column_values(columns["info"], "info", n))]
            if "info" in columns else [{}] * n)
    rows = [{"state": s, "action": a, "reward": r, "info": i, "terminal": t, "timeout": o}
            for s, a, r, i, t, o in zip(state, action, reward, info, terminal, timeout)]
    plain = "info" not in columns and all(_numeric(columns[k]) for k in ("state", "action", "reward"))
    return rows, plain


def _check_flag(value: Any, name: str, i: int) -> bool:
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
        return bool(value)
    raise TypeError(f"tuples: {name} of step {i} must be a bool; got {value!r}")


def _check_info(value: Any, i: int) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"tuples: info of step {i} must be a dict; got {type(value).__name__}")
    return dict(value)


def artifact_expectation(headers: Mapping[str, str]) -> dict:
    """What the download's ``x-metadata`` header says the bytes must hash to.

    The server files an artifact under ``sha256(bytes + uploader name)``; a
    header that is missing or unreadable gives no check (the length still does).
    """
    try:
        meta = json.loads(headers.get("x-metadata") or "null")
    except ValueError:
        return {}
    if not isinstance(meta, dict):
        return {}
    digest, owner = meta.get("hash"), meta.get("created_by")
    if isinstance(digest, str) and re.fullmatch(r"[0-9a-fA-F]{64}", digest) and isinstance(owner, str):
        return {"sha256": digest.lower(), "sha256_suffix": owner.encode("utf-8")}
    return {}
