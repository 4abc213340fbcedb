"""Streaming downloads that never leave a partial, spliced or foreign file looking complete.

- Bytes go to ``<name>.part`` beside the target, which is renamed into place
  only after the size (and checksum, when known) check out. The ``.part`` file
  is opened without following symlinks and created exclusively, so a link
  planted under that name in a shared directory is removed, never written through.
- An existing target is never replaced without ``overwrite=True``, whoever
  chose its name (the caller or the server's ``Content-Disposition``).
- An interrupted transfer resumes with ``Range`` plus ``If-Range`` carrying the
  first answer's strong ``ETag`` (else its ``Last-Modified``): a file that
  changed on the server comes back whole (200) and is written from byte 0, so
  two versions are never spliced. Without a validator the transfer restarts
  from byte 0 instead of resuming. A ``.part`` left by an earlier run is
  resumed only when the job knows the file's SHA-256 (a splice would fail the
  check and the file is fetched again from byte 0); otherwise it is restarted.
- A body is accepted only when its length is known and met: from
  ``Content-Length``/``Content-Range``, or from what the service says about the
  file (``expected_size``, a checksum, ``require_length`` when neither exists).
- Every attempt goes through the base's one retry policy
  (``ServiceQuery._http(read=...)``, `ServiceQuery._retrying`): a body cut
  short raises `Retryable`, and the next attempt's ``Range`` is computed from
  what the last one wrote (``_http(headers=<callable>)``).
- ``Accept-Encoding: identity`` is asked for and raw bytes are written, so the
  file is byte-identical to the server's and ``Content-Length`` means what it says.
- Memory stays flat: the body is read in chunks, never held whole.
- File names a server suggests are reduced to a safe base name (``../x`` or
  ``C:\\x`` cannot leave the target directory) that fits the file system with
  ``.part`` added: longer names are shortened, keeping the extension.
- Errors keep their type end to end: an error answer raises the service's own
  class (`~astroquery_ext.exceptions.NotFoundError`, `~astroquery_ext.exceptions.LoginError`...); a transfer that broke or came out
  wrong raises `~astroquery_ext.exceptions.DownloadError`; a local file-system failure an `OSError`.
- In a batch, Ctrl-C (or any exception in the caller's thread) stops every
  transfer within about a second: the sockets are shut down, workers stop,
  and the ``.part`` files of the batch are removed.
- `cached_download`: a file kept in the service's private cache, one download
  for any number of threads and processes asking at once, checked against its
  size and refreshed after the cache lifetime.
- One progress bar per batch (silent when stderr is not a terminal).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import os
import re
import socket
import stat
import threading
import time
import unicodedata
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ContextManager, Iterator, Mapping, Sequence

import requests
from urllib3.exceptions import HTTPError as Urllib3Error

from astroquery_ext._base.cache import _effective_ttl
from astroquery_ext._base.deadline import progress as body_progress
from astroquery_ext._base.locks import held
from astroquery_ext._base.private import private_dir
from astroquery_ext._base.exceptions import AstroqueryExtError, DownloadError, RemoteServiceError
from astroquery_ext._base.progress import progress_bar
from astroquery_ext._base.http import Retryable

if TYPE_CHECKING:  # pragma: no cover
    from astroquery_ext._base.query import ServiceQuery

__all__ = ["safe_filename", "filename_from_disposition", "download_file", "download_many", "cached_download",
           "DownloadJob", "DownloadResult", "BatchProgress", "PART_SUFFIX", "NAME_MAX"]

CHUNK = 1 << 20
PART_SUFFIX = ".part"
#: Longest file name (in bytes) most file systems take (ext4, XFS, APFS, NTFS in UTF-16 units).
NAME_MAX = 255
_NETWORK_ERRORS = (requests.RequestException, Urllib3Error, ConnectionError, TimeoutError)
#: How long a cancelled batch waits for its workers before returning.
_CANCEL_GRACE = 1.0


def _fit(name: str, limit: int) -> str:
    """``name`` cut to at most ``limit`` UTF-8 bytes, keeping its extension and telling cut names apart."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, ext = os.path.splitext(name)
    if len(ext.encode("utf-8")) > 16:  # not an extension worth keeping
        stem, ext = name, ""
    # A short hash of the whole name: two long names cut to the same prefix stay two files.
    tag = "~" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    room = limit - len(ext.encode("utf-8")) - len(tag)
    cut = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip()
    return f"{cut}{tag}{ext}"


def safe_filename(name: str | None, fallback: str = "download") -> str:
    """A file name that stays inside the directory it is joined to and fits the file system.

    Takes the last path component (``/`` and ``\\`` both count), drops
    control characters, leading dots and drive letters, and falls back to
    ``fallback`` when nothing usable is left. Names longer than
    ``NAME_MAX - len(".part")`` bytes (UTF-8) are shortened, keeping the
    extension and adding a short hash of the full name, so that the
    ``.part`` file beside them can be created too.
    """
    if name:
        name = unicodedata.normalize("NFC", str(name))
        name = re.split(r"[\\/]", name)[-1]
        name = re.sub(r"^[A-Za-z]:", "", name)
        name = "".join(c for c in name if c.isprintable() and c not in '<>:"|?*')
        name = name.strip().lstrip(".").strip()
    if not name or name in (".", ".."):
        name = safe_filename(fallback, "download") if fallback != name else "download"
    return _fit(name, NAME_MAX - len(PART_SUFFIX))


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
    """One progress bar for a batch (of downloads, of ids), safe to update from threads; it shows on a
    terminal and in a Jupyter notebook (`progress_bar`)."""

    def __init__(self, total: int, show: bool):
        self._lock = threading.Lock()
        self._done = 0
        self._bar = progress_bar(max(total, 1)) if show else None  # a terminal or a notebook

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
    #: Bytes appended to the file's bytes before hashing (a service that hashes
    #: ``content + uploader``, as Tupli does).
    sha256_suffix: bytes = b""
    #: Anything the caller wants back in the result (ids, types...).
    key: object = None
    #: Extra request headers for this file (e.g. ``Connection: close`` for a
    #: server that drops the connection after each download).
    headers: "dict[str, str] | None" = None
    #: Refuse a body whose length nothing tells (no ``Content-Length``, no
    #: ``expected_size``, no checksum): a cut-off answer would look complete.
    require_length: bool = False
    #: ``expect(headers) -> dict`` read from the answer's headers before the
    #: body: may return ``expected_size``, ``sha256`` and ``sha256_suffix``
    #: (a service that describes the file in a header).
    expect: "Callable[[Mapping[str, str]], Mapping[str, object]] | None" = None


@dataclasses.dataclass
class DownloadResult:
    job: DownloadJob
    path: Path | None
    bytes: int
    #: ``downloaded``, ``exists`` (kept, matched), ``error`` or ``cancelled``.
    status: str
    error: BaseException | None = None


class _Cancelled(Exception):
    """Raised inside a worker when its batch is cancelled."""


class _Batch:
    """What a batch shares: a stop flag, the open responses (to abort them) and the ``.part`` files in use."""

    def __init__(self):
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._responses: set = set()
        self.parts: set[Path] = set()

    def check(self) -> None:
        if self.stop.is_set():
            raise _Cancelled()

    @contextlib.contextmanager
    def track(self, response) -> Iterator[None]:
        with self._lock:
            self._responses.add(response)
        try:
            if self.stop.is_set():
                _abort(response)
            yield
        finally:
            with self._lock:
                self._responses.discard(response)

    def cancel(self) -> None:
        self.stop.set()
        with self._lock:
            responses = list(self._responses)
        for response in responses:
            _abort(response)


def _abort(response) -> None:
    """Wake a thread blocked reading ``response``: shut its socket down (closing alone does not wake a read)."""
    try:
        connection = getattr(response.raw, "connection", None) or getattr(response.raw, "_connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, AttributeError):
        pass


def _parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value or "")
    if not match:
        return None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), int(match.group(2)), total


def _validator(headers: Mapping[str, str]) -> str | None:
    """What ``If-Range`` may carry for this answer: a strong ETag, else Last-Modified (RFC 9110 §13.1.5)."""
    etag = (headers.get("ETag") or "").strip()
    if etag and not etag.startswith("W/"):
        return etag
    return (headers.get("Last-Modified") or "").strip() or None


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _regular_size(path: Path) -> int:
    """Size of ``path`` if it is a regular file (not followed if a link); else remove whatever is there. 0 if none."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return 0
    if stat.S_ISREG(info.st_mode):
        return info.st_size
    _remove(path)
    return 0


def _remove(path: Path | None) -> None:
    if path is None:
        return
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            return  # never a directory of the user's; open() will fail and say so
        os.unlink(path)
    except FileNotFoundError:
        pass


def _open_part(part: Path, *, append: bool) -> int:
    """A descriptor for writing ``part``: never through a symlink, a new file created exclusively."""
    if append:
        try:
            return os.open(part, os.O_RDWR | _NOFOLLOW)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOENT, errno.EMLINK):
                raise
    _remove(part)
    return os.open(part, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666)


def _hash_prefix(fd: int, length: int, chunk: int) -> "hashlib._Hash":
    digest = hashlib.sha256()
    done = 0
    while done < length:
        block = os.pread(fd, min(chunk, length - done), done)
        if not block:
            break
        digest.update(block)
        done += len(block)
    return digest


def download_file(client: "ServiceQuery", job: DownloadJob, *, auth: str = "optional",
                  overwrite: bool = False, progress: BatchProgress | None = None,
                  retries: int | None = None, chunk_size: int = CHUNK, _batch: _Batch | None = None) -> DownloadResult:
    """Download one file (see the module docstring).

    Raises
    ------
    AstroqueryExtError
        The service's own class for an error answer (`~astroquery_ext.exceptions.NotFoundError`, `~astroquery_ext.exceptions.LoginError`...).
    DownloadError
        The transfer broke more often than the retry budget allows, or its
        bytes did not check out (size, checksum, range answers).
    FileExistsError
        The target exists, is not the expected file, and ``overwrite`` is False.
    OSError
        The file could not be written locally.
    """
    batch = _batch or _Batch()
    directory = Path(job.directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = safe_filename(job.name) if job.name else None
    target: Path | None = None
    part: Path | None = None
    expected_size, sha256, suffix = job.expected_size, job.sha256, job.sha256_suffix

    def settle(chosen: str) -> DownloadResult | None:
        """Fix the target; an existing one is kept (matched) or refused (different), unless overwrite."""
        nonlocal name, target, part
        name, target, part = chosen, directory / chosen, directory / (chosen + PART_SUFFIX)
        batch.parts.add(part)
        if overwrite or not os.path.lexists(target):
            return None
        if target.is_file() and expected_size is not None and target.stat().st_size == expected_size \
                and sha256 is None:
            return DownloadResult(job, target, target.stat().st_size, "exists")
        if target.is_file() and sha256 is not None and _sha256_file(target, suffix) == sha256.lower():
            return DownloadResult(job, target, target.stat().st_size, "exists")
        if expected_size is None and sha256 is None and job.name is not None and target.is_file():
            # Named by the caller and nothing to compare with: the file there is taken as this one.
            return DownloadResult(job, target, target.stat().st_size, "exists")
        raise FileExistsError(f"{client.name}: {target} exists and is not the file asked for; "
                              f"pass overwrite=True to replace it")

    if name is not None:
        found = settle(name)
        if found is not None:
            return found
    restarted = False
    validator: str | None = None     # of the first whole answer; resumes must match it
    # A .part left by an earlier run is resumed only when a checksum guards the result.
    blind_resume = sha256 is not None
    target_label = name or job.url.rsplit("/", 1)[-1]
    offset = 0
    checked = False  # the bytes were hashed on the way in

    def fail(message: str, exc: BaseException | None = None):
        where = f" ({part} kept to resume)" if part is not None and _regular_size(part) else ""
        raise DownloadError(f"{client.name}: download of {target_label} failed: {message}{where}",
                            url=job.url, service=client.service) from exc

    def restart(message: str) -> None:
        """Drop the .part; start again from byte 0 once per download (a second time fails)."""
        nonlocal restarted, validator, blind_resume
        _remove(part)
        validator, blind_resume = None, False
        if restarted:
            fail(message)
        restarted = True

    def request_headers() -> dict:
        """This attempt's headers: a range from where the .part ends, if it may be resumed."""
        nonlocal offset
        batch.check()
        offset = _regular_size(part) if part is not None else 0
        if offset and validator is None and not blind_resume:
            _remove(part)  # no way to tell whether the server's file is still the one we have half of
            offset = 0
        if expected_size is not None and offset > expected_size:
            _remove(part)
            offset = 0
        headers = dict(job.headers or {})
        headers["Accept-Encoding"] = "identity"
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if validator is not None:
                headers["If-Range"] = validator
        return headers

    def broke(reason: str) -> Retryable:
        """A transfer cut short: the retry policy repeats the request (resuming, or from byte 0)."""
        if validator is None:
            _remove(part)  # no validator: resuming could splice two versions, restart instead
        return Retryable(reason, message=f"{client.name}: download of {target_label} failed: the connection "
                                         f"broke ({reason})")

    def transfer(response) -> None:
        """Write one answer's body to the .part; raise `Retryable` to ask the policy for another attempt."""
        nonlocal expected_size, sha256, suffix, target_label, offset, validator, checked, found
        with batch.track(response):
            if job.expect is not None:
                described = job.expect(response.headers) or {}
                expected_size = described.get("expected_size", expected_size)
                sha256 = described.get("sha256", sha256)
                suffix = described.get("sha256_suffix", suffix)
            if target is None:
                found = settle(safe_filename(filename_from_disposition(response.headers.get("Content-Disposition")),
                                             fallback=safe_filename(urllib.parse.urlsplit(job.url).path)))
                target_label = name
                if found is not None:
                    return
                _remove(part)  # we did not ask for a range: start clean
                offset = 0
            encoding = response.headers.get("Content-Encoding", "identity").lower()
            if encoding not in ("identity", ""):
                fail(f"the server sent it {encoding}-encoded although identity was asked for")
            answer_validator = _validator(response.headers)
            if response.status_code == 206:
                span = _parse_content_range(response.headers.get("Content-Range"))
                if span is None or span[0] != offset or (
                        validator is not None and answer_validator not in (None, validator)):
                    # Not the bytes we asked for, or of another version: start again from zero.
                    restart("the server answers byte ranges inconsistently")
                    raise Retryable("the server answered a byte range that does not fit")
                total = span[2]
                append = True
                validator = validator or answer_validator
            else:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                offset = 0
                append = False
                validator = answer_validator  # a whole answer: later resumes must be of this version
            if total is not None and expected_size is not None and total != expected_size:
                fail(f"the server offers {total} bytes but the record says {expected_size}")
            expected = total if total is not None else expected_size
            if expected is None and sha256 is None and job.require_length:
                fail("the server did not say how long the file is, so a cut-off answer could not be "
                     "told from a whole one; try again later or report it to the service")
            written = offset
            fd = _open_part(part, append=append)
            try:
                if not append:
                    os.ftruncate(fd, 0)
                elif os.fstat(fd).st_size != offset:
                    restart("the partial file changed while resuming")
                    raise Retryable("the partial file changed while resuming")
                digest = _hash_prefix(fd, offset, chunk_size) if sha256 is not None else None
                os.lseek(fd, offset, os.SEEK_SET)
                # What has arrived, up to chunk_size (urllib3 2's read1), so that each block is
                # reported to the deadline as it comes; read() would wait for a whole chunk.
                read = getattr(response.raw, "read1", response.raw.read)
                while True:
                    batch.check()
                    try:
                        chunk = read(chunk_size, decode_content=False)
                    except _NETWORK_ERRORS as exc:
                        batch.check()
                        raise broke(f"{type(exc).__name__} after {written} bytes") from None
                    if not chunk:
                        break
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view):]
                    if digest is not None:
                        digest.update(chunk)
                    written += len(chunk)
                    body_progress(len(chunk))  # a file that keeps arriving is not held to the timeout
                    if progress is not None:
                        progress.advance(len(chunk))
            finally:
                os.close(fd)
        if expected is not None and written < expected:
            raise broke(f"connection closed after {written} of {expected} bytes")
        if expected is not None and written > expected:
            _remove(part)
            fail(f"received {written} bytes, more than the {expected} announced")
        if expected_size is not None and written != expected_size:
            _remove(part)
            fail(f"received {written} bytes but the record says {expected_size}")
        if digest is not None:
            checked = True
            digest.update(suffix)
            if digest.hexdigest() != sha256.lower():
                if offset and not restarted:  # resumed a .part of unknown origin: fetch it whole once
                    restart("the SHA-256 checksum does not match")
                    raise Retryable("the SHA-256 checksum of a resumed file does not match")
                _remove(part)
                fail("the SHA-256 checksum does not match")

    found: DownloadResult | None = None
    try:
        while True:
            try:
                client._http("GET", job.url, headers=request_headers, stream=True, auth=auth, read=transfer,
                             retries=retries)
            except DownloadError:
                raise
            except AstroqueryExtError as exc:
                if exc.status == 416 and part is not None:  # nothing after our offset: the .part is whole, or wrong
                    if expected_size is not None and offset == expected_size:
                        break
                    restart("the server refuses the byte range")
                    continue
                if exc.status is None and type(exc) is RemoteServiceError:
                    # No answer to go by: the connection failed or the body broke once too often.
                    fail(str(exc).removeprefix(f"{client.name}: download of {target_label} failed: "))
                raise  # an error answer keeps its own class (NotFoundError, LoginError...)
            if found is not None:
                return found
            break
        batch.check()
        if sha256 is not None and not checked and _sha256_file(part, suffix) != sha256.lower():
            _remove(part)  # a whole .part from an earlier run (416), of another version
            fail("the SHA-256 checksum does not match")
        size = _regular_size(part)
        os.replace(part, target)
        return DownloadResult(job, target, size, "downloaded")
    except (_Cancelled, KeyboardInterrupt, SystemExit):
        _remove(part)  # cancelled by the user: nothing is left behind
        raise


def _sha256_file(path: Path, suffix: bytes = b"") -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    digest.update(suffix)
    return digest.hexdigest()


def download_many(client: "ServiceQuery", jobs: Sequence[DownloadJob], *, max_workers: int = 4,
                  show_progress: bool = True, overwrite: bool = False, auth: str = "optional",
                  errors: str = "raise",
                  on_done: Callable[[DownloadResult], None] | None = None) -> list[DownloadResult]:
    """Download many files with at most ``max_workers`` at once and one progress bar.

    A failed file is reported in its result (``status="error"``, ``error``
    the exception of its own type: the service's error class, `~astroquery_ext.exceptions.DownloadError`
    or `OSError`) and never stops the others; with ``errors="raise"`` a
    `~astroquery_ext.exceptions.DownloadError` naming every failed file is raised after the others
    finished (``.results`` has every result, ``.errors`` the failures' exceptions).

    Ctrl-C (or any exception raised in the calling thread) stops the batch
    within about a second: transfers are aborted and the batch's ``.part``
    files are removed before the exception propagates.
    """
    if errors not in ("raise", "ignore"):
        raise ValueError(f"errors must be 'raise' or 'ignore'; got {errors!r}")
    sizes = [job.expected_size for job in jobs]
    by_bytes = all(s is not None for s in sizes)
    progress = BatchProgress(sum(sizes) if by_bytes else len(jobs), show_progress and len(jobs) > 0)
    batch = _Batch()

    def one(job: DownloadJob) -> DownloadResult:
        try:
            result = download_file(client, job, auth=auth, overwrite=overwrite,
                                   progress=progress if by_bytes else None, _batch=batch)
        except _Cancelled as exc:
            return DownloadResult(job, None, 0, "cancelled", exc)
        except (AstroqueryExtError, OSError) as exc:  # one bad file (or name) never stops the batch
            result = DownloadResult(job, None, 0, "error", exc)
        if not by_bytes:
            progress.advance(1)
        elif result.status == "exists":
            progress.advance(result.bytes)
        if on_done:
            on_done(result)
        return result

    try:
        results = _run(one, list(jobs), max_workers, batch)
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
        error.errors = [r.error for r in failed]
        raise error
    return results


def _run(one: Callable[[DownloadJob], DownloadResult], jobs: list[DownloadJob], max_workers: int,
         batch: _Batch) -> list[DownloadResult]:
    """``[one(job) for job in jobs]``, ``max_workers`` at once; on an exception in this thread, cancel all.

    The workers are daemon threads: a cancelled batch does not hold up the
    interpreter's exit while a worker waits for a server (a thread pool's
    workers are joined at exit).
    """
    try:
        if max_workers <= 1 or len(jobs) <= 1:
            return [one(job) for job in jobs]
        results: list = [None] * len(jobs)
        pending = iter(list(enumerate(jobs)))
        lock = threading.Lock()
        left = [min(max_workers, len(jobs))]
        finished = threading.Event()

        def worker() -> None:
            try:
                while not batch.stop.is_set():
                    with lock:
                        item = next(pending, None)
                    if item is None:
                        return
                    index, job = item
                    try:
                        results[index] = one(job)
                    except BaseException as exc:  # a bug, not a failed file: raised in the caller's thread
                        results[index] = exc
                        batch.stop.set()
            finally:
                with lock:
                    left[0] -= 1
                    if left[0] == 0:
                        finished.set()

        for _ in range(left[0]):
            threading.Thread(target=worker, name="astroquery_ext-download", daemon=True).start()
        while not finished.wait(0.25):
            pass
        for value in results:
            if isinstance(value, BaseException):
                raise value
        return results
    except BaseException:
        # Ctrl-C: stop now, do not wait for the files in flight beyond a short grace.
        batch.cancel()
        if "finished" in locals():
            finished.wait(_CANCEL_GRACE)
        for part in list(batch.parts):
            _remove(part)
        raise


# -- a validated file in the cache ------------------------------------------------------------------

def _file_lock(path: Path) -> ContextManager[None]:
    """One holder at a time for ``path``, across threads and processes (`~astroquery_ext._base.locks.held`)."""
    return held(path.parent / f".{path.name}.lock")


def cached_download(client: "ServiceQuery", job: DownloadJob, *, subdir: str | Sequence[str] = (),
                    ttl: float | None = None, auth: str = "required") -> Path:
    """A file from the client's private file cache, downloaded (validated) when missing or stale.

    The file lives under ``<cache>/<identity>/files/<server hash>/<subdir>/<job.name>``
    (directories ``0700``, file ``0600``). Any number of threads and
    processes asking for the same file at once make one download; the
    others wait and use it. A cached file is used only while it is younger
    than the cache lifetime (the shorter of ``ttl`` and astroquery's
    ``cache_timeout``) and, when ``job.expected_size`` is known, of that size.
    Errors are those of `download_file`.
    """
    if not job.name:
        raise ValueError("a cached download needs job.name (the cache file's name)")
    where = hashlib.sha256(client.server.encode()).hexdigest()[:12]
    directory = private_dir(client._cache.file_dir(client._identity()) / where)
    for part in [subdir] if isinstance(subdir, str) else list(subdir):
        directory = private_dir(directory / safe_filename(part))
    job.directory = directory
    target = directory / safe_filename(job.name)
    limit = _effective_ttl(ttl)
    with _file_lock(target):
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            info = None
        if info is not None:
            fresh = stat.S_ISREG(info.st_mode) and (limit is None or time.time() - info.st_mtime <= limit) \
                and (job.expected_size is None or info.st_size == job.expected_size)
            if fresh:
                return target
            _remove(target)
        result = download_file(client, job, auth=auth, overwrite=True)
        os.chmod(result.path, 0o600)  # cache files are private, like their directory
        return result.path
