"""What the command line writes: results on standard output (or ``-o``), messages on standard error.

Every command hands `emit` a `Result`; this module turns it into the chosen
format. Nothing here knows a service.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import errno
import math
import os
import re
import shutil
import stat
import sys
from pathlib import Path
from typing import Any

PROG = "astroquery-ext"
FORMATS = ("table", "csv", "ecsv", "json", "votable", "fits")
#: File name endings and the format they mean (the longest ending wins).
EXTENSIONS = {".csv": "csv", ".ecsv": "ecsv", ".json": "json", ".xml": "votable", ".vot": "votable",
              ".votable": "votable", ".txt": "table", ".tbl": "table", ".fits": "fits", ".fit": "fits",
              ".fts": "fits", ".fits.gz": "fits"}
BINARY_FORMATS = ("fits",)


class UsageError(Exception):
    """A command line that parses but makes no sense (exit status 2)."""


#: What a terminal may take as a command: C0 and C1 controls (ESC, BEL, CSI...), DEL, and the
#: bidirectional overrides and isolates that reorder what is shown (text that hides other text).
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str, *, keep: str = "") -> str:
    """``text`` with every control character shown escaped (``\\x1b``, ``\\u202e``), except those in ``keep``.

    What a server sent must never reach a terminal raw: an escape sequence can
    retitle the window, move the cursor or hide text. Files (``-o``) and
    redirected output keep the data as received; only what is printed to a
    terminal, and every message on standard error, goes through here.
    """
    if keep:
        return "".join(part if part in keep else _CONTROLS.sub(_escaped, part)
                       for part in re.split(f"([{re.escape(keep)}])", text))
    return _CONTROLS.sub(_escaped, text)


def say(message: str) -> None:
    """A message for the user: standard error, never standard output; control characters escaped."""
    print(f"{PROG}: {terminal_safe(str(message), keep=chr(10))}",
          file=sys.__stderr__ if sys.stderr is None else sys.stderr, flush=True)


# -- results -----------------------------------------------------------------------------------


class Result:
    """What a command hands back to `main` to write on standard output.

    Parameters
    ----------
    value
        A Table (``kind="table"``), a JSON-able value (``"json"``), text
        (``"text"``), an exit status (``"exit"``) or nothing (``"none"``).
    columns : list of str, optional
        The columns the plain ``table`` format shows when ``--columns`` does not say.
    hidden : list of str, optional
        Columns left out unless ``--columns all`` (or named in ``--columns``).
    """

    def __init__(self, value: Any = None, *, kind: str = "none", columns: list[str] | None = None,
                 hidden: list[str] | None = None):
        self.value = value
        self.kind = kind
        self.columns = columns
        self.hidden = list(hidden or ())
        self.error: str | None = None  # set when the output is partial: exit status 1 after writing it


def json_value(value: Any) -> Any:
    """A value of a table cell or record, as JSON can hold it (NaN and masked become null)."""
    import numpy as np

    if value is None or value is np.ma.masked:
        return None
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_value(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "isot"):  # astropy Time
        return value.isot
    if hasattr(value, "value") and hasattr(value, "unit"):  # Quantity
        return json_value(value.value)
    return str(value)


def _column_values(col) -> list:
    """A column's values as Python objects (masked -> None, Time -> ISO strings)."""
    import numpy as np
    from astropy.table import Column
    from astropy.time import Time
    from astropy.units import Quantity

    if isinstance(col, Time):
        iso = col.isot
        mask = np.ma.getmaskarray(col.mask) if getattr(col, "masked", False) else None
        values = np.asarray(getattr(iso, "unmasked", iso)).tolist()
        if isinstance(values, str):
            values = [values]
        return [None if mask is not None and m else v for v, m in zip(values, mask)] if mask is not None \
            else values
    if isinstance(col, Quantity):
        data = col.value
    elif isinstance(col, Column):
        data = col.data  # a masked array for a MaskedColumn
    else:  # other mixins (SkyCoord...): their text
        data = np.array([str(v) for v in col], dtype=object)
    if data.dtype.kind == "O":
        mask = np.ma.getmaskarray(data) if np.ma.isMaskedArray(data) else np.zeros(len(data), bool)
        return [None if m else json_value(v) for v, m in zip(np.asarray(data), mask)]
    return [json_value(v) for v in data.tolist()]


def table_records(table) -> list[dict]:
    """The rows of a Table as JSON-ready dicts (column order kept)."""
    names = table.colnames
    columns = [_column_values(table[name]) for name in names]
    return [dict(zip(names, row)) for row in zip(*columns)] if names else []


def _flatten_for(table, fmt: str, *, escape: bool = False):
    """A copy of ``table`` for the csv writer or the plain ``table`` text.

    Object columns (lists, dicts) become compact JSON text; multidimensional
    columns become JSON text for csv; Time columns become ISO text for csv.
    ``escape``: text cells with control characters are shown escaped
    (`terminal_safe`) before the columns are lined up.
    """
    import numpy as np
    from astropy.table import MaskedColumn, Table
    from astropy.time import Time

    out = Table(table, copy=False)
    for name in out.colnames:
        col = out[name]
        if isinstance(col, Time):
            if fmt == "csv":
                values = _column_values(col)
                out[name] = MaskedColumn([v or "" for v in values], mask=[v is None for v in values],
                                         description=getattr(col.info, "description", None))
            continue
        kind = getattr(getattr(col, "dtype", None), "kind", "")
        multi = getattr(col, "ndim", 1) > 1
        if kind == "O" or (multi and fmt == "csv"):
            values = _column_values(col)
            text = [json.dumps(v, separators=(",", ":"), default=str) if v is not None else "" for v in values]
            if fmt == "table":
                text = [t if len(t) <= 60 else t[:59] + "\u2026" for t in text]
            out[name] = MaskedColumn(np.array(text, dtype=str) if text else np.array([], dtype=str),
                                     mask=[v is None for v in values], unit=getattr(col, "unit", None),
                                     description=getattr(col.info, "description", None))
        elif escape and kind == "U" and len(col) and any(_CONTROLS.search(v) for v in np.ravel(np.asarray(col))):
            safe = np.vectorize(terminal_safe, otypes=[str])(np.asarray(col))
            out[name] = MaskedColumn(safe, mask=np.ma.getmaskarray(col), unit=getattr(col, "unit", None),
                                     description=getattr(col.info, "description", None))
    out.meta = {}
    return out


def format_for(path: str | None, fmt: str | None) -> str:
    """The output format: ``--format``, else the file's ending, else ``table``."""
    if fmt:
        return fmt
    if path is None or path == "-":
        return "table"
    name = Path(path).name.lower()
    for ending in sorted(EXTENSIONS, key=len, reverse=True):
        if name.endswith(ending):
            return EXTENSIONS[ending]
    raise UsageError(f"cannot tell the format of {path!r} from its extension; pass --format "
                     f"({', '.join(FORMATS)})")


def write_table(table, fmt: str, stream, *, width: int | None = None, escape: bool = False) -> list[str]:
    """Write ``table`` in ``fmt`` to a binary stream.

    ``width`` (the plain ``table`` format only) fits the lines to that many
    characters, leaving out middle columns as astropy's ``pprint`` does.
    ``escape`` (output to a terminal): text cells are shown with their
    control characters escaped. Returns the columns left out by ``width``.
    """
    if fmt == "json":
        stream.write(json.dumps(table_records(table), indent=None, allow_nan=False).encode() + b"\n")
        return []
    if fmt in ("fits", "votable", "ecsv"):
        # The table's own writer: the modules' result tables (ResultTable) convert what each
        # format cannot hold (times, lists and dicts, meta), and read back with ResultTable.read.
        buffer = io.StringIO() if fmt == "ecsv" else io.BytesIO()
        table.write(buffer, format="ascii.ecsv" if fmt == "ecsv" else fmt)
        data = buffer.getvalue()
        stream.write(data if isinstance(data, bytes) else data.encode())
        return []
    flat = _flatten_for(table, fmt, escape=escape)
    if fmt == "table":
        lines = flat.pformat(max_lines=-1, max_width=-1 if width is None else width)
        stream.write(("\n".join(lines) + "\n").encode())
        if width is None or not lines:
            return []
        header = lines[0]
        return [name for name in flat.colnames if name not in header.split()]
    text = io.StringIO()
    flat.write(text, format="ascii.csv")
    stream.write(text.getvalue().encode())
    return []


# -- where output goes ---------------------------------------------------------------------------


def is_directory_target(path: str | os.PathLike) -> bool:
    """Whether ``-o PATH`` names a folder: it ends in a slash, or is an existing directory."""
    text = os.fspath(path)
    return text.endswith(("/", os.sep)) or Path(text).is_dir()


def directory_target(path: str | os.PathLike, option: str = "--output") -> Path:
    """The folder ``path`` names, created (with its parents) if missing."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ValueError(f"{option} {os.fspath(path)!r} is a file, not a directory")
    target.mkdir(parents=True, exist_ok=True)
    return target


@contextlib.contextmanager
def _output_stream(path: str | None, stdout):
    """The binary stream to write to: standard output, or a file written as downloads are.

    A terminal gets the bytes with their control characters escaped
    (`terminal_safe`); a pipe or a file gets them as they are.
    """
    if path is None or path == "-":
        out = stdout.buffer if hasattr(stdout, "buffer") else _TextAsBinary(stdout)
        if not _is_terminal(stdout):
            yield out
        else:
            buffer = io.BytesIO()
            yield buffer
            text = buffer.getvalue().decode("utf-8", "replace")
            out.write(terminal_safe(text, keep="\n\t").encode())
        stdout.flush()
        return
    if is_directory_target(path):
        raise UsageError(f"--output {path!r} is a directory; give a file name")
    with atomic_output(path) as handle:
        yield handle


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike):
    """A binary file handle whose bytes replace ``path`` at once when the block ends without error.

    As downloads are written: ``<name>.part`` is created exclusively in the
    target directory without following links (whatever another user planted
    under that name is removed, never written through: the directory is held
    open, so a swapped parent cannot redirect it either), then renamed over
    the target. An existing target keeps its permission bits (a 0600 file
    stays 0600); a new one gets the usual mode for new files (umask).
    On an error the ``.part`` file is removed and the target left as it was.
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise ValueError(f"--output: directory {str(target.parent)!r} does not exist")
    name, part = target.name, target.name + ".part"
    directory = os.open(target.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        try:
            kept = os.stat(name, dir_fd=directory, follow_symlinks=False)
        except FileNotFoundError:
            kept = None
        if kept is not None and stat.S_ISDIR(kept.st_mode):
            raise UsageError(f"--output {os.fspath(path)!r} is a directory; give a file name")
        fd = _create_exclusive(part, directory)
        try:
            with open(fd, "wb", closefd=True) as handle:
                if kept is not None and stat.S_ISREG(kept.st_mode):
                    os.fchmod(handle.fileno(), stat.S_IMODE(kept.st_mode))
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(part, name, src_dir_fd=directory, dst_dir_fd=directory)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part, dir_fd=directory)
            raise
    finally:
        os.close(directory)


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _create_exclusive(name: str, directory: int) -> int:
    """A new file ``name`` in the directory ``directory`` (a descriptor), created exclusively, never
    through a link: anything in its way that is not a directory (a planted link, a stale part) is
    removed first (the link itself, not what it points to)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    for _ in range(3):
        try:
            return os.open(name, flags, 0o666, dir_fd=directory)
        except FileExistsError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=directory)
        except OSError as exc:  # ELOOP: a link, where the platform says so instead of EEXIST
            if exc.errno != errno.ELOOP:
                raise
            os.unlink(name, dir_fd=directory)
    raise FileExistsError(errno.EEXIST, f"{name} keeps being created by someone else", name)


class _TextAsBinary:
    def __init__(self, text_stream):
        self._stream = text_stream

    def write(self, data: bytes) -> int:
        return self._stream.write(data.decode())

    def flush(self) -> None:
        self._stream.flush()


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def select_columns(table, wanted: str | None, *, default: list[str] | None = None, hidden=(),
                   plain: bool = False):
    """The columns of ``table`` to output.

    ``wanted`` is ``--columns``: ``A,B,...`` (in that order), ``all`` (every
    column, hidden ones too) or None: every column but the hidden ones, and
    in the plain table (``plain``) the ``default`` ones when given.
    """
    if wanted == "all":
        return table
    if wanted:
        names = [c.strip() for c in wanted.split(",") if c.strip()]
        unknown = [c for c in names if c not in table.colnames]
        if unknown or not names:
            raise ValueError(f"--columns: no column {', '.join(map(repr, unknown or [wanted]))}; the columns "
                             f"are {', '.join(table.colnames)} (or 'all')")
        return table[names]
    shown = [c for c in table.colnames if c not in hidden]
    if plain and default:
        shown = [c for c in default if c in table.colnames] or shown
    return table if shown == table.colnames else table[shown]


def emit(result: Result | None, args, stdout) -> None:
    """Write a command's result to standard output or ``--output``."""
    if result is None or result.kind == "none":
        return
    output = getattr(args, "output", None)
    if result.kind == "table":
        fmt = format_for(output, getattr(args, "format", None))
        to_stdout = output in (None, "-")
        if fmt in BINARY_FORMATS and to_stdout and _is_terminal(stdout):
            raise UsageError(f"{fmt.upper()} is binary: write it to a file (-o out.{fmt}) or redirect "
                             f"standard output")
        table = select_columns(result.value, getattr(args, "columns", None), default=result.columns,
                               hidden=result.hidden, plain=fmt == "table")
        width = None
        terminal = to_stdout and _is_terminal(stdout)
        if fmt == "table" and terminal:
            width = max(40, shutil.get_terminal_size().columns)
        with _output_stream(output, stdout) as stream:
            left_out = write_table(table, fmt, stream, width=width, escape=terminal)
        if left_out:
            say(f"{len(table.colnames) - len(left_out)} of {len(table.colnames)} columns fit the terminal "
                f"({width} characters); --columns A,B,... chooses them, --format csv or ecsv (or -o FILE) "
                f"has them all")
        if not to_stdout:
            say(f"wrote {len(result.value)} rows to {output} ({fmt})")
    elif result.kind == "json":
        text = json.dumps(json_value(result.value), indent=2, allow_nan=False) + "\n"
        with _output_stream(output, stdout) as stream:
            stream.write(text.encode())
        if output not in (None, "-"):
            say(f"wrote {output}")
    else:
        with _output_stream(output, stdout) as stream:
            stream.write((str(result.value) + "\n").encode())


# -- the options of commands that output something ---------------------------------------------


def table_options(*, output: bool = True) -> argparse.ArgumentParser:
    """``--format``, ``--columns`` and (unless the command uses ``-o`` otherwise) ``-o FILE``."""
    opts = argparse.ArgumentParser(add_help=False)
    group = opts.add_argument_group("output")
    group.add_argument("--format", choices=FORMATS,
                       help="output format (default: from the --output extension, else table)")
    group.add_argument("--columns", metavar="A,B,...",
                       help="the columns to output, in this order ('all': every one)")
    if output:
        group.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    return opts


def json_options() -> argparse.ArgumentParser:
    opts = argparse.ArgumentParser(add_help=False)
    opts.add_argument("-o", "--output", metavar="FILE", help="write the JSON to FILE instead of standard output")
    return opts
