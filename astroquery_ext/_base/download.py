"""Streaming downloads that never leave a partial file looking complete.

- Bytes go to ``<name>.part`` beside the target, which is renamed into place
  only after the size (and checksum, when known) check out.
- An interrupted transfer resumes with a per-request ``Range`` header; only a
  206 whose ``Content-Range`` starts where the ``.part`` file ends is
  appended, anything else restarts from byte 0.
- ``Accept-Encoding: identity`` is asked for and raw bytes are written, so the
  file is byte-identical to the server's and ``Content-Length`` means what it says.
- Memory stays flat: the body is read in chunks, never held whole.
- File names a server suggests are reduced to a safe base name: ``../x`` or
  ``C:\\x`` cannot leave the target directory.
- One progress bar per batch (silent when stderr is not a terminal).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import sys
import threading
import time
import unicodedata
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import requests
from astropy.utils.console import ProgressBar
from urllib3.exceptions import HTTPError as Urllib3Error

from astroquery_ext._base.exceptions import AstroqueryExtError, DownloadError
from astroquery_ext._base.paging import bounded_map

if TYPE_CHECKING:  # pragma: no cover
    from astroquery_ext._base.query import ServiceQuery

__all__ = ["safe_filename", "filename_from_disposition", "download_file", "download_many",
           "DownloadJob", "DownloadResult", "BatchProgress"]

CHUNK = 1 << 20
_NETWORK_ERRORS = (requests.RequestException, Urllib3Error, ConnectionError, TimeoutError)


def safe_filename(name: str | None, fallback: str = "download") -> str:
    """A file name that stays inside the directory it is joined to.

    Takes the last path component (``/`` and ``\\`` both count), drops
    control characters, leading dots and drive letters, and falls back to
    ``fallback`` when nothing usable is left.
    """
    if name:
        name = unicodedata.normalize("NFC", str(name))
        name = re.split(r"[\\/]", name)[-1]
        name = re.sub(r"^[A-Za-z]:", "", name)
        name = "".join(c for c in name if c.isprintable() and c not in '<>:"|?*')
        name = name.strip().lstrip(".").strip()
    if not name or name in (".", ".."):
        name = safe_filename(fallback, "download") if fallback != name else "download"
    return name[:255]


def filename_from_disposition(header: str | None) -> str | None:
    """The file name in a ``Content-Disposition`` header (``filename*=`` preferred), unsanitised."""
    if not header:
        return None
    match = re.search(r"filename\*\s*=\s*([^;]+)", header, re.IGNORECASE)
    if match:
        value = match.group(1).strip().strip('"')
        charset, _, rest = value.partition("'")
        _, _, encoded = rest.partition("'")
        try:
            return urllib.parse.unquote(encoded, encoding=charset or "utf-8", errors="strict")
        except (LookupError, UnicodeDecodeError):
            pass
    match = re.search(r'filename\s*=\s*"((?:[^"\\]|\\.)*)"', header, re.IGNORECASE) or \
        re.search(r"filename\s*=\s*([^;]+)", header, re.IGNORECASE)
    return match.group(1).strip() if match else None


class BatchProgress:
    """One progress bar for a batch of downloads, safe to update from threads."""

    def __init__(self, total: int, show: bool):
        self._lock = threading.Lock()
        self._done = 0
        self._bar = ProgressBar(max(total, 1), file=sys.stderr) if show else None

    def advance(self, amount: int) -> None:
        if self._bar is None or amount <= 0:
            return
        with self._lock:
            self._done += amount
            self._bar.update(min(self._done, self._bar._total))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


@dataclasses.dataclass
class DownloadJob:
    """One file to download."""

    url: str
    #: Target directory.
    directory: Path
    #: File name (sanitised before use); None: from Content-Disposition, else the URL.
    name: str | None = None
    expected_size: int | None = None
    sha256: str | None = None
    #: Anything the caller wants back in the result (ids, types...).
    key: object = None
    #: Extra request headers for this file (e.g. ``Connection: close`` for a
    #: server that drops the connection after each download).
    headers: "dict[str, str] | None" = None


@dataclasses.dataclass
class DownloadResult:
    job: DownloadJob
    path: Path | None
    bytes: int
    #: ``downloaded``, ``exists`` (kept, matched), or ``error``.
    status: str
    error: Exception | None = None


def _parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value or "")
    if not match:
        return None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), int(match.group(2)), total


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download_file(client: "ServiceQuery", job: DownloadJob, *, auth: str = "optional",
                  overwrite: bool = False, progress: BatchProgress | None = None,
                  retries: int | None = None, chunk_size: int = CHUNK) -> DownloadResult:
    """Download one file (see the module docstring); raises `DownloadError` on failure."""
    directory = Path(job.directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = safe_filename(job.name) if job.name else None
    if name is not None:
        target = directory / name
        if target.exists() and not overwrite and (
                job.expected_size is None or target.stat().st_size == job.expected_size):
            return DownloadResult(job, target, target.stat().st_size, "exists")
    budget = client.max_retries if retries is None else retries
    failures = 0
    part: Path | None = None if name is None else directory / (name + ".part")
    restarted = False

    def fail(message: str, exc: Exception | None = None):
        where = f" ({part} kept to resume)" if part is not None and part.exists() else ""
        raise DownloadError(f"{client.name}: download of {target_label} failed: {message}{where}",
                            url=job.url, service=client.service) from exc

    target_label = name or job.url.rsplit("/", 1)[-1]
    while True:
        offset = part.stat().st_size if part is not None and part.exists() else 0
        if job.expected_size is not None and offset > job.expected_size:
            part.unlink()
            offset = 0
        headers = dict(job.headers or {})
        headers["Accept-Encoding"] = "identity"
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            response = client._http("GET", job.url, headers=headers, stream=True, auth=auth)
        except AstroqueryExtError as exc:
            if exc.status == 416 and part is not None:  # nothing after our offset: the .part is whole, or wrong
                if job.expected_size is not None and offset == job.expected_size:
                    break
                part.unlink(missing_ok=True)
                if restarted:
                    fail("the server refuses the byte range", exc)
                restarted = True
                continue
            if isinstance(exc, DownloadError):
                raise
            raise DownloadError(str(exc), status=exc.status, detail=exc.detail, url=exc.url,
                                service=exc.service) from None
        with response:
            if name is None:
                name = safe_filename(filename_from_disposition(response.headers.get("Content-Disposition")),
                                     fallback=safe_filename(urllib.parse.urlsplit(job.url).path))
                target_label = name
                target = directory / name
                if target.exists() and not overwrite and (
                        job.expected_size is None or target.stat().st_size == job.expected_size):
                    return DownloadResult(job, target, target.stat().st_size, "exists")
                part = directory / (name + ".part")
                if part.exists():
                    part.unlink()  # we did not ask for a range: start clean
            encoding = response.headers.get("Content-Encoding", "identity").lower()
            if encoding not in ("identity", ""):
                fail(f"the server sent it {encoding}-encoded although identity was asked for")
            if response.status_code == 206:
                span = _parse_content_range(response.headers.get("Content-Range"))
                if span is None or span[0] != offset:
                    # Not the bytes we asked for: start again from zero, without a range.
                    part.unlink(missing_ok=True)
                    if restarted:
                        fail("the server answers byte ranges inconsistently")
                    restarted = True
                    continue
                total = span[2]
                mode = "ab"
            else:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                offset = 0
                mode = "wb"
            if total is not None and job.expected_size is not None and total != job.expected_size:
                fail(f"the server offers {total} bytes but the record says {job.expected_size}")
            written = offset
            error: Exception | None = None
            with open(part, mode) as handle:
                while True:
                    try:
                        chunk = response.raw.read(chunk_size, decode_content=False)
                    except _NETWORK_ERRORS as exc:
                        error = exc
                        break
                    if not chunk:
                        break
                    handle.write(chunk)
                    written += len(chunk)
                    if progress is not None:
                        progress.advance(len(chunk))
        expected = total if total is not None else job.expected_size
        if error is None and expected is not None and written < expected:
            error = ConnectionError(f"connection closed after {written} of {expected} bytes")
        if error is not None:
            failures += 1
            if failures > budget:
                fail(f"the connection broke {failures} times ({type(error).__name__}: {error})", error)
            time.sleep(client._backoff(failures - 1))
            continue
        if expected is not None and written > expected:
            part.unlink(missing_ok=True)
            fail(f"received {written} bytes, more than the {expected} announced")
        break
    size = part.stat().st_size
    if job.expected_size is not None and size != job.expected_size:
        part.unlink(missing_ok=True)
        fail(f"received {size} bytes but the record says {job.expected_size}")
    if job.sha256 is not None and _sha256_of(part) != job.sha256.lower():
        part.unlink(missing_ok=True)
        fail("the SHA-256 checksum does not match")
    os.replace(part, target)
    return DownloadResult(job, target, size, "downloaded")


def download_many(client: "ServiceQuery", jobs: Sequence[DownloadJob], *, max_workers: int = 4,
                  show_progress: bool = True, overwrite: bool = False, auth: str = "optional",
                  errors: str = "raise",
                  on_done: Callable[[DownloadResult], None] | None = None) -> list[DownloadResult]:
    """Download many files with at most ``max_workers`` at once and one progress bar.

    A failed file is reported in its result (``status="error"``); with
    ``errors="raise"`` a `DownloadError` naming every failed file is raised
    after the others finished.
    """
    if errors not in ("raise", "ignore"):
        raise ValueError(f"errors must be 'raise' or 'ignore'; got {errors!r}")
    sizes = [job.expected_size for job in jobs]
    by_bytes = all(s is not None for s in sizes)
    progress = BatchProgress(sum(sizes) if by_bytes else len(jobs), show_progress and len(jobs) > 0)

    def one(job: DownloadJob) -> DownloadResult:
        try:
            result = download_file(client, job, auth=auth, overwrite=overwrite,
                                   progress=progress if by_bytes else None)
        except DownloadError as exc:
            result = DownloadResult(job, None, 0, "error", exc)
        if not by_bytes:
            progress.advance(1)
        elif result.status == "exists":
            progress.advance(result.bytes)
        if on_done:
            on_done(result)
        return result

    try:
        results = bounded_map(one, jobs, max_workers=max_workers)
    finally:
        progress.close()
    failed = [r for r in results if r.status == "error"]
    if failed and errors == "raise":
        lines = "\n".join(f"  {r.job.name or r.job.url}: {r.error}" for r in failed[:20])
        more = f"\n  ... and {len(failed) - 20} more" if len(failed) > 20 else ""
        error = DownloadError(f"{len(failed)} of {len(jobs)} downloads failed (the others completed):\n"
                              f"{lines}{more}\nPass errors='ignore' to get the table with these rows "
                              f"marked instead.", service=client.service)
        error.results = results
        raise error
    return results

