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
- Every attempt goes through the client's one retry policy
  (`DownloadClient.get_streamed`, which `ServiceQuery` provides): a body cut
  short raises `Retryable`, and the next attempt's ``Range`` is computed from
  what the last one wrote (``headers`` is called once per attempt).
- ``Accept-Encoding: identity`` is asked for and raw bytes are written, so the
  file is byte-identical to the server's and ``Content-Length`` means what it says.
- Memory stays flat: the body is read in chunks, never held whole.
- File names a server suggests are reduced to a safe base name that fits the
  file system (`~astroquery_ext._base.files.safe_filename`).
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

import dataclasses
import hashlib
import os
import re
import stat
import time
import urllib.parse
from pathlib import Path
from typing import Callable, ContextManager, Mapping, NoReturn, Protocol, Sequence

import requests
from urllib3.exceptions import HTTPError as Urllib3Error

from astroquery_ext._base.cache import _effective_ttl
from astroquery_ext._base.deadline import progress as body_progress
from astroquery_ext._base.args import errors_arg
from astroquery_ext._base.batch import Batch, Cancelled, run_batch
from astroquery_ext._base.locks import held
from astroquery_ext._base.private import private_dir
from astroquery_ext._base.exceptions import AstroqueryExtError, DownloadError, RemoteServiceError
from astroquery_ext._base.files import (
    CHUNK, NAME_MAX, PART_SUFFIX, _hash_prefix, _open_part, _regular_size, _remove, _sha256_file,
    filename_from_disposition, safe_filename)
from astroquery_ext._base.progress import BatchProgress
from astroquery_ext._base.policy import batch_breaker
from astroquery_ext._base.retry import Retryable


__all__ = ["safe_filename", "filename_from_disposition", "download_file", "download_many", "cached_download",
           "DownloadClient", "DownloadJob", "DownloadResult", "PART_SUFFIX", "NAME_MAX"]

_NETWORK_ERRORS = (requests.RequestException, Urllib3Error, ConnectionError, TimeoutError)


class DownloadClient(Protocol):
    """What a download needs from a client; `~astroquery_ext._base.query.ServiceQuery` provides it.

    The functions of this module take any object with these members, so
    they depend on this small interface and not on the client's internals.
    """

    #: The client's display name (``Atlas``, ``Grad300`` ...), for messages.
    name: str
    #: The service name, carried by the exceptions.
    service: str
    #: The server's base URL (the file cache is kept per server).
    server: str

    def get_streamed(self, url: str, read: Callable[[requests.Response], object], *,
                     headers: Callable[[], Mapping[str, str]], auth: str = "optional",
                     retries: int | None = None) -> object:
        """GET ``url`` under the client's login, deadline and retry policy; each
        successful answer goes to ``read``, whose `Retryable` asks for another
        attempt; ``headers()`` gives each attempt's headers."""

    def file_cache_dir(self) -> Path:
        """The private directory of the file cache of whoever is logged in."""


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


class _Download:
    """One file on its way to disk, in four named states.

    - request (`_request_headers`): each attempt asks for the bytes the
      ``.part`` lacks (``Range`` plus ``If-Range``) or for the whole file;
    - resume (`_resume`): the answer is taken as the continuation asked for
      (a 206 whose ``Content-Range`` starts where the ``.part`` ends, of the
      same version) or as the whole file, else the download starts again;
    - validate (`_write`, `_validate`): the bytes are written and checked
      against the announced size, the record's size and the checksum;
    - rename (`_rename`): the checked ``.part`` takes the target's name.

    The state between attempts is plain attributes: where the target and
    ``.part`` are, what the file should be (size, checksum), the version
    being resumed (``validator``) and whether the one restart from byte 0
    has been used.
    """

    def __init__(self, client: DownloadClient, job: DownloadJob, *, overwrite: bool,
                 progress: BatchProgress | None, chunk_size: int, batch: Batch):
        self.client, self.job, self.overwrite = client, job, overwrite
        self.progress, self.chunk_size, self.batch = progress, chunk_size, batch
        self.directory = Path(job.directory)
        self.name = safe_filename(job.name) if job.name else None
        self.target: Path | None = None
        self.part: Path | None = None
        self.label = self.name or job.url.rsplit("/", 1)[-1]
        self.expected_size, self.sha256, self.suffix = job.expected_size, job.sha256, job.sha256_suffix
        self.restarted = False
        self.validator: str | None = None  # of the first whole answer; resumes must match it
        # A .part left by an earlier run is resumed only when a checksum guards the result.
        self.blind_resume = self.sha256 is not None
        self.offset = 0
        self.checked = False  # the bytes were hashed on the way in
        self.found: DownloadResult | None = None  # the target was there already

    def run(self, *, auth: str, retries: int | None) -> DownloadResult:
        """The file in place (or found there already); a cancelled download leaves no ``.part``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.name is not None:
            found = self._settle(self.name)
            if found is not None:
                return found
        try:
            if not self._fetch(auth, retries):
                return self.found
            return self._rename()
        except (Cancelled, KeyboardInterrupt, SystemExit):
            _remove(self.part)  # cancelled by the user: nothing is left behind
            raise

    # -- errors and restarts ---------------------------------------------------------------------

    def _fail(self, message: str) -> NoReturn:
        where = f" ({self.part} kept to resume)" if self.part is not None and _regular_size(self.part) else ""
        raise DownloadError(f"{self.client.name}: download of {self.label} failed: {message}{where}",
                            url=self.job.url, service=self.client.service) from None

    def _restart(self, message: str) -> None:
        """Drop the .part; start again from byte 0 once per download (a second time fails)."""
        _remove(self.part)
        self.validator, self.blind_resume = None, False
        if self.restarted:
            self._fail(message)
        self.restarted = True

    def _broke(self, reason: str) -> Retryable:
        """A transfer cut short: the retry policy repeats the request (resuming, or from byte 0)."""
        if self.validator is None:
            _remove(self.part)  # no validator: resuming could splice two versions, restart instead
        return Retryable(reason, message=f"{self.client.name}: download of {self.label} failed: the "
                                         f"connection broke ({reason})")

    # -- the target ------------------------------------------------------------------------------

    def _settle(self, chosen: str) -> DownloadResult | None:
        """Fix the target; an existing one is kept (matched) or refused (different), unless overwrite."""
        self.name, self.target, self.part = chosen, self.directory / chosen, self.directory / (chosen + PART_SUFFIX)
        self.batch.parts.add(self.part)
        target, size, sha256 = self.target, self.expected_size, self.sha256
        if self.overwrite or not os.path.lexists(target):
            return None
        if target.is_file() and (
                (size is not None and sha256 is None and target.stat().st_size == size)
                or (sha256 is not None and _sha256_file(target, self.suffix) == sha256.lower())
                # Named by the caller and nothing to compare with: the file there is taken as this one.
                or (size is None and sha256 is None and self.job.name is not None)):
            return DownloadResult(self.job, target, target.stat().st_size, "exists")
        raise FileExistsError(f"{self.client.name}: {target} exists and is not the file asked for; "
                              f"pass overwrite=True to replace it")

    # -- request ---------------------------------------------------------------------------------

    def _fetch(self, auth: str, retries: int | None) -> bool:
        """Run the attempts; False when the target turned out to exist (``self.found``)."""
        while True:
            try:
                self.client.get_streamed(self.job.url, self._receive, headers=self._request_headers,
                                         auth=auth, retries=retries)
            except DownloadError:
                raise
            except AstroqueryExtError as exc:
                if exc.status == 416 and self.part is not None:  # nothing after our offset: whole, or wrong
                    if self.expected_size is not None and self.offset == self.expected_size:
                        return True
                    self._restart("the server refuses the byte range")
                    continue
                if exc.status is None and type(exc) is RemoteServiceError:
                    # No answer to go by: the connection failed or the body broke once too often.
                    self._fail(str(exc).removeprefix(f"{self.client.name}: download of {self.label} failed: "))
                raise  # an error answer keeps its own class (NotFoundError, LoginError...)
            return self.found is None

    def _request_headers(self) -> dict:
        """This attempt's headers: a range from where the .part ends, if it may be resumed."""
        self.batch.check()
        part = self.part
        self.offset = _regular_size(part) if part is not None else 0
        if self.offset and self.validator is None and not self.blind_resume:
            _remove(part)  # no way to tell whether the server's file is still the one we have half of
            self.offset = 0
        if self.expected_size is not None and self.offset > self.expected_size:
            _remove(part)
            self.offset = 0
        headers = dict(self.job.headers or {})
        headers["Accept-Encoding"] = "identity"
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
            if self.validator is not None:
                headers["If-Range"] = self.validator
        return headers

    def _receive(self, response: requests.Response) -> None:
        """One answer: resume or restart, write, validate. `Retryable` asks the policy for another attempt."""
        with self.batch.track(response):
            if self.job.expect is not None:
                described = self.job.expect(response.headers) or {}
                self.expected_size = described.get("expected_size", self.expected_size)
                self.sha256 = described.get("sha256", self.sha256)
                self.suffix = described.get("sha256_suffix", self.suffix)
            if self.target is None:  # named by the answer
                url_name = safe_filename(urllib.parse.urlsplit(self.job.url).path)
                self.found = self._settle(safe_filename(
                    filename_from_disposition(response.headers.get("Content-Disposition")), fallback=url_name))
                self.label = self.name
                if self.found is not None:
                    return
                _remove(self.part)  # we did not ask for a range: start clean
                self.offset = 0
            encoding = response.headers.get("Content-Encoding", "identity").lower()
            if encoding not in ("identity", ""):
                self._fail(f"the server sent it {encoding}-encoded although identity was asked for")
            append, expected = self._resume(response)
            written, digest = self._write(response, append)
        self._validate(written, expected, digest)

    # -- resume ----------------------------------------------------------------------------------

    def _resume(self, response: requests.Response) -> tuple[bool, int | None]:
        """Whether the answer continues the .part, and the file's full size when known."""
        answer_validator = _validator(response.headers)
        if response.status_code == 206:
            span = _parse_content_range(response.headers.get("Content-Range"))
            if span is None or span[0] != self.offset or (
                    self.validator is not None and answer_validator not in (None, self.validator)):
                # Not the bytes we asked for, or of another version: start again from zero.
                self._restart("the server answers byte ranges inconsistently")
                raise Retryable("the server answered a byte range that does not fit")
            total, append = span[2], True
            self.validator = self.validator or answer_validator
        else:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            self.offset, append = 0, False
            self.validator = answer_validator  # a whole answer: later resumes must be of this version
        if total is not None and self.expected_size is not None and total != self.expected_size:
            self._fail(f"the server offers {total} bytes but the record says {self.expected_size}")
        expected = total if total is not None else self.expected_size
        if expected is None and self.sha256 is None and self.job.require_length:
            self._fail("the server did not say how long the file is, so a cut-off answer could not be "
                       "told from a whole one; try again later or report it to the service")
        return append, expected

    # -- validate --------------------------------------------------------------------------------

    def _write(self, response: requests.Response, append: bool) -> tuple[int, "hashlib._Hash | None"]:
        """The body appended to (or written over) the .part, in chunks; the bytes now there and their hash."""
        written = self.offset
        fd = _open_part(self.part, append=append)
        try:
            if not append:
                os.ftruncate(fd, 0)
            elif os.fstat(fd).st_size != self.offset:
                self._restart("the partial file changed while resuming")
                raise Retryable("the partial file changed while resuming")
            digest = _hash_prefix(fd, self.offset, self.chunk_size) if self.sha256 is not None else None
            os.lseek(fd, self.offset, os.SEEK_SET)
            # What has arrived, up to chunk_size (urllib3 2's read1), so that each block is
            # reported to the deadline as it comes; read() would wait for a whole chunk.
            read = getattr(response.raw, "read1", response.raw.read)
            while True:
                self.batch.check()
                try:
                    chunk = read(self.chunk_size, decode_content=False)
                except _NETWORK_ERRORS as exc:
                    self.batch.check()
                    raise self._broke(f"{type(exc).__name__} after {written} bytes") from None
                if not chunk:
                    return written, digest
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                if digest is not None:
                    digest.update(chunk)
                written += len(chunk)
                body_progress(len(chunk))  # a file that keeps arriving is not held to the timeout
                if self.progress is not None:
                    self.progress.advance(len(chunk))
        finally:
            os.close(fd)

    def _validate(self, written: int, expected: int | None, digest: "hashlib._Hash | None") -> None:
        """Size and checksum of what arrived; a short body is retried, a wrong one fails."""
        if expected is not None and written < expected:
            raise self._broke(f"connection closed after {written} of {expected} bytes")
        if expected is not None and written > expected:
            _remove(self.part)
            self._fail(f"received {written} bytes, more than the {expected} announced")
        if self.expected_size is not None and written != self.expected_size:
            _remove(self.part)
            self._fail(f"received {written} bytes but the record says {self.expected_size}")
        if digest is not None:
            self.checked = True
            digest.update(self.suffix)
            if digest.hexdigest() != self.sha256.lower():
                if self.offset and not self.restarted:  # resumed a .part of unknown origin: fetch it whole once
                    self._restart("the SHA-256 checksum does not match")
                    raise Retryable("the SHA-256 checksum of a resumed file does not match")
                _remove(self.part)
                self._fail("the SHA-256 checksum does not match")

    # -- rename ----------------------------------------------------------------------------------

    def _rename(self) -> DownloadResult:
        """The checked .part becomes the target."""
        self.batch.check()
        if self.sha256 is not None and not self.checked and _sha256_file(self.part, self.suffix) != self.sha256.lower():
            _remove(self.part)  # a whole .part from an earlier run (416), of another version
            self._fail("the SHA-256 checksum does not match")
        size = _regular_size(self.part)
        os.replace(self.part, self.target)
        return DownloadResult(self.job, self.target, size, "downloaded")


def download_file(client: DownloadClient, job: DownloadJob, *, auth: str = "optional",
                  overwrite: bool = False, progress: BatchProgress | None = None,
                  retries: int | None = None, chunk_size: int = CHUNK, _batch: Batch | None = None) -> DownloadResult:
    """Download one file (see the module docstring).

    Raises
    ------
    AstroqueryExtError
        The service's own class for an error answer
        (`~astroquery_ext.exceptions.NotFoundError`, `~astroquery_ext.exceptions.LoginError`...).
    DownloadError
        The transfer broke more often than the retry budget allows, or its
        bytes did not check out (size, checksum, range answers).
    FileExistsError
        The target exists, is not the expected file, and ``overwrite`` is False.
    OSError
        The file could not be written locally.
    """
    return _Download(client, job, overwrite=overwrite, progress=progress, chunk_size=chunk_size,
                     batch=_batch or Batch()).run(auth=auth, retries=retries)


def download_many(client: DownloadClient, jobs: Sequence[DownloadJob], *, max_workers: int = 4,
                  show_progress: bool = True, overwrite: bool = False, auth: str = "optional",
                  errors: str = "raise",
                  on_done: Callable[[DownloadResult], None] | None = None) -> list[DownloadResult]:
    """Download many files with at most ``max_workers`` at once and one progress bar.

    A failed file is reported in its result (``status="error"``, ``error``
    the exception of its own type: the service's error class, `~astroquery_ext.exceptions.DownloadError`
    or `OSError`) and does not stop the others, unless the server stops
    answering: the batch's calls share a circuit breaker
    (`~astroquery_ext._base.policy.CircuitBreaker`), and after a few
    connection failures in a row the files not finished fail at once instead
    of each spending its retries. With ``errors="raise"`` a
    `~astroquery_ext.exceptions.DownloadError` naming every failed file and
    the finished ones is raised after the others finished (``.results`` has
    every result, ``.errors`` the failures' exceptions).

    Ctrl-C (or any exception raised in the calling thread) stops the batch
    within about a second: transfers are aborted and the batch's ``.part``
    files are removed before the exception propagates.
    """
    errors_arg(errors)
    sizes = [job.expected_size for job in jobs]
    by_bytes = all(s is not None for s in sizes)
    progress = BatchProgress(sum(sizes) if by_bytes else len(jobs), show_progress and len(jobs) > 0)
    batch = Batch()
    breaker = batch_breaker()

    def one(job: DownloadJob) -> DownloadResult:
        try:
            with breaker.engaged():
                result = download_file(client, job, auth=auth, overwrite=overwrite,
                                       progress=progress if by_bytes else None, _batch=batch)
        except Cancelled as exc:
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
        results = run_batch(one, list(jobs), max_workers, batch)
    finally:
        progress.close()
    failed = [r for r in results if r.status == "error"]
    if failed and errors == "raise":
        lines = "\n".join(f"  {r.job.name or r.job.url}: {r.error}" for r in failed[:20])
        more = f"\n  ... and {len(failed) - 20} more" if len(failed) > 20 else ""
        if breaker.open:
            kept = [str(r.path) for r in results if r.status in ("downloaded", "exists")]
            head = (f"{len(failed)} of {len(jobs)} downloads failed: {breaker.why()}; "
                    f"{len(kept)} finished{': ' + ', '.join(kept[:20]) if kept else ''}")
        else:
            head = f"{len(failed)} of {len(jobs)} downloads failed (the others completed)"
        error = DownloadError(f"{head}:\n{lines}{more}\nPass errors='ignore' to get the table with these rows "
                              f"marked instead.", service=client.service)
        error.results = results
        error.errors = [r.error for r in failed]
        raise error
    return results


# -- a validated file in the cache ------------------------------------------------------------------

def _file_lock(path: Path) -> ContextManager[None]:
    """One holder at a time for ``path``, across threads and processes (`~astroquery_ext._base.locks.held`)."""
    return held(path.parent / f".{path.name}.lock")


def cached_download(client: DownloadClient, job: DownloadJob, *, subdir: str | Sequence[str] = (),
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
    directory = private_dir(client.file_cache_dir() / where)
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
