"""Texts every file format carries: the escape rule for characters a format cannot hold.

XML 1.0 refuses control characters, line-based readers (ECSV) split rows on
the Unicode line separators, FITS ends a text at a NUL. In every format alike,
a text column holding one of them is written with each such character as
``\\uXXXX`` and each backslash doubled, and marked ``escaped: backslash`` in
its meta; reading undoes it (see :doc:`/results`). A lone surrogate cannot be
written at all: `TableWriteError` names the column and row.
"""

from __future__ import annotations

import re

import numpy as np
from astropy.table import Column, MaskedColumn, Table

from astroquery_ext._base.exceptions import TableWriteError

__all__ = ["ESCAPED", "escape_json", "texts", "safe_text", "unescape_columns"]

#: Characters no format carries as they are (XML 1.0 refuses them, line-based readers split rows on
#: them, FITS ends a text at a NUL): escaped on write, in every format alike (see :doc:`/results`).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x85\u2028\u2029\ufffe\uffff]")
#: In JSON text the same characters, and lone surrogates, are written as JSON's own ``\\uXXXX`` escapes.
_UNSAFE_JSON = re.compile("[\x85\u2028\u2029\ufffe\uffff\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED = re.compile(r"\\(\\|u[0-9a-f]{4})")
#: The column meta key (and VOTable INFO) that marks text columns written with `_escape`.
ESCAPED = "escaped"


def escape_json(text: str) -> str:
    """JSON text with the unsafe characters (and lone surrogates) as JSON's own ``\\uXXXX`` escapes.

    They can only stand inside JSON strings, where an escape means the same character.
    """
    return _UNSAFE_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _escape(text: str) -> str:
    """The documented rule: a backslash as ``\\\\``, each unsafe character as ``\\uXXXX``."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text.replace("\\", "\\\\"))


def _unescape(text: str) -> str:
    return _ESCAPED.sub(lambda m: "\\" if m.group(1) == "\\" else chr(int(m.group(1)[1:], 16)), text)


def texts(col) -> list[str] | None:
    """The texts of a text column (numpy text, or objects that are all texts), else None.

    Texts ending in a NUL are kept in ``object`` columns (numpy would drop
    the NUL): they are written as text too, the NUL escaped.
    """
    if not isinstance(col, Column) or not len(col):
        return None
    if col.dtype.kind == "U":
        return np.ma.getdata(col).ravel().tolist()
    if col.dtype.kind != "O" or col.ndim != 1:
        return None
    values, masked = np.ma.getdata(col).tolist(), np.ma.getmaskarray(col).tolist()
    if not all(m or isinstance(v, str) for v, m in zip(values, masked)) or all(masked):
        return None
    return ["" if m else v for v, m in zip(values, masked)]


def safe_text(col, fmt: str):
    """``col`` (a text column) as every format can carry it: escaped when needed, else itself.

    A lone surrogate (no UTF-8 file can hold one) raises `TableWriteError` naming the column and row.
    """
    values = texts(col)
    if values is None:
        return col
    data = np.ma.getdata(col)
    joined = "\n".join(values)
    if _SURROGATE.search(joined):
        index = next(i for i, v in enumerate(values) if _SURROGATE.search(v))
        row = index // max(1, data.size // len(col))
        raise TableWriteError(f"column {col.info.name!r}, row {row}: the text holds a lone surrogate "
                              f"({values[index].encode('utf-8', 'backslashreplace')[:60]!r}), which no {fmt} "
                              f"file can hold; nothing was written. Replace it first, e.g. "
                              f"table[{col.info.name!r}][{row}] = value.encode('utf-8', 'replace').decode()")
    unsafe = _UNSAFE.search(joined) is not None
    if not unsafe and col.dtype.kind == "U":
        return col
    escaped = np.array([_escape(v) for v in values] if unsafe else values, dtype=str).reshape(data.shape)
    meta = {**(col.info.meta or {}), **({ESCAPED: "backslash"} if unsafe else {})}
    if isinstance(col, MaskedColumn):
        return MaskedColumn(escaped, name=col.info.name, mask=col.mask, unit=col.unit,
                            description=col.info.description, meta=meta)
    return Column(escaped, name=col.info.name, unit=col.unit, description=col.info.description, meta=meta)


def unescape_columns(table: Table) -> None:
    """Undo `safe_text` on the columns marked as escaped (in place)."""
    for name in table.colnames:
        col = table[name]
        meta = getattr(col.info, "meta", None) or {}
        if meta.get(ESCAPED) != "backslash":
            continue
        data = np.ma.getdata(col)
        values = [_unescape(v.decode("utf-8") if isinstance(v, bytes) else str(v)) for v in data.ravel().tolist()]
        plain = np.array(values, dtype=object if any(v.endswith("\x00") for v in values) else str)
        rest = {k: v for k, v in meta.items() if k != ESCAPED}
        kwargs = {"mask": col.mask} if isinstance(col, MaskedColumn) else {}
        cls = MaskedColumn if kwargs else Column
        table.replace_column(name, cls(plain.reshape(data.shape), name=name, unit=col.unit,
                                       description=col.info.description, meta=rest, **kwargs))
