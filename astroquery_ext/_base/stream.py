"""A JSON array decoded while its bytes arrive, and the reader that feeds it.

- `ArrayStream` cuts a streamed JSON array (``[{...}, {...}]``) into batches of
  whole elements and decodes each batch in place, as the bytes arrive; the
  columnar engine (`~astroquery_ext._base.columns`) and ATLAS's ``objects/``
  reader are built on it.
- `read_ahead` receives the next blocks of a body in a thread while the caller
  decodes the last ones, each block counted towards the caller's deadline.
- `wrong_type_error`: a value of the wrong type in a batch, as the package's
  `RemoteServiceError` naming where it was.

Nesting is bounded before any decoder sees a byte (`NestingGuard`).
"""

from __future__ import annotations

import json as _json
import queue
import re
import threading
from typing import Iterable

import msgspec

from astroquery_ext._base.deadline import progress as body_progress
from astroquery_ext._base.exceptions import RemoteServiceError
from astroquery_ext._base.nesting import JsonTooDeep, NestingGuard

__all__ = ["ArrayStream", "read_ahead", "wrong_type_error"]


# -- a JSON array decoded while it arrives ------------------------------------------------

_RAW = msgspec.json.Decoder(msgspec.Raw)
_TRAILING = re.compile(r"trailing characters \(byte (\d+)\)")
_AT_BYTE = re.compile(r"\(byte (\d+)\)")
_WHITESPACE = frozenset(b" \t\r\n")


class ArrayStream:
    """Decodes a JSON array (``[{...}, {...}]``) batch by batch as its bytes arrive.

    Each `feed` returns the elements completed so far, decoded in one call of
    ``decoder`` (a decoder of ``list[T]``, e.g. `RecordSchema.decoder`); the
    bytes of an element are kept only until it is complete. Element
    boundaries are found by msgspec's validating skip (no values built), so
    a boundary is never guessed: a batch decodes only if it is whole JSON.

    Parameters
    ----------
    decoder : msgspec.json.Decoder
        Decoder of a list of elements. It reads the stream's own buffer (no
        copy), so its type must not hold `msgspec.Raw` (a view into that buffer).
    where : str
        What the body is, for error messages.
    batch_bytes : int
        About how many bytes of JSON `feed_batches` decodes at a time.
    opening : bytes, optional
        How every element is expected to begin (e.g. ``b'{"object":'``). When
        given, a batch is first cut at the last ``","`` followed by it and
        decoded at once, without the skip of each element: a cut that is not
        between two elements (inside a string, or in a nested array) makes the
        batch invalid JSON, and the skip then finds the boundaries as usual.
        Whatever the answer, the elements and errors are the same.

    Attributes
    ----------
    other : list of bytes or None
        The body, when it is not an array (a service's ``{"info": ...}``).
    count : int
        Elements decoded so far.

    Raises
    ------
    json.JSONDecodeError
        When the body is cut off or not JSON (a retry may help).
    RemoteServiceError
        When an element has a value of the wrong type.
    """

    def __init__(self, decoder: msgspec.json.Decoder, where: str = "the server's answer", *,
                 batch_bytes: int = 1 << 20, opening: bytes | None = None):
        self._decoder = decoder
        self._guess = None if opening is None else b"," + opening
        self.batch_bytes = batch_bytes
        self._where = where
        self._buf = bytearray()
        self._scan = 0        # where the next element (or its separator) starts in _buf
        self._need = 0        # bytes to wait for before scanning an unfinished element again
        self._after = False   # an element was just read: a "," or the "]" comes next
        self._elements = 0    # elements found (count: decoded)
        self._open = 0        # where the "[" or "," before the next element is
        self.started = False
        self.done = False
        self.other: list[bytes] | None = None
        self.count = 0
        self._nesting = NestingGuard(what=where)

    def _bad(self, why: str) -> _json.JSONDecodeError:
        return _json.JSONDecodeError(f"{self._where} {why}", "", self.count)

    def feed(self, data: bytes, final: bool = False) -> list:
        """Add bytes; returns the elements they complete. ``final=True`` after the last bytes."""
        return [element for batch in self.feed_batches(data, final) for element in batch]

    def feed_batches(self, data: bytes, final: bool = False) -> list[list]:
        """Like `feed`, the elements in batches of about ``batch_bytes`` of JSON each.

        Small batches are quicker to tabulate than one large one: the decoded
        objects of a batch are still in the processor's cache when their
        values are read into columns.
        """
        try:  # before any decoder sees these bytes
            self._nesting.feed(data)
        except JsonTooDeep as exc:
            raise RemoteServiceError(f"{exc}: nested too deeply to be read; the answer was refused. Report "
                                     f"it to the service if it persists.") from None
        if self.other is not None:
            self.other.append(bytes(data))
            return []
        buf = self._buf
        if self.done:
            if bytes(data).strip():
                raise self._bad("has data after its end")
            return []
        buf += data
        if not self.started:
            i = 0
            while i < len(buf) and buf[i] in b" \t\r\n":
                i += 1
            if i == len(buf):
                if final:
                    raise self._bad("is empty")
                return []
            if buf[i] != 0x5B:  # not "[": keep the body for the caller's error message
                self.other = [bytes(buf[i:])]
                self._buf = bytearray()
                return []
            self.started = True
            del buf[:i]  # keep the "[": each batch is decoded in place, between its two delimiters
            self._scan, self._open = 1, 0
        if self._guess is not None and not final:
            guessed = self._guessed_batch()
            if guessed is not None:
                return guessed
        n = len(buf)
        if not final and n - self._scan < self._need:
            return []
        cuts = []  # (start, stop) of each batch of whole elements
        first = end = None
        pos = self._scan
        with memoryview(buf) as view:
            while True:
                while pos < n and buf[pos] in _WHITESPACE:
                    pos += 1
                if pos >= n:
                    break
                if buf[pos] == 0x5D and (self._after or not self._elements):  # "]"
                    self.done = True
                    break
                if self._after:  # after an element: one "," then the next
                    if buf[pos] != 0x2C:
                        raise self._bad(f"is not valid JSON (expected ',' or ']' at element {self._elements})")
                    self._after = False
                    self._open = pos
                    pos += 1
                    continue
                if buf[pos] in b",]":
                    raise self._bad(f"is not valid JSON (expected an element after element {self._elements})")
                try:
                    with view[pos:] as rest:
                        _RAW.decode(rest)
                except msgspec.DecodeError as exc:
                    message = str(exc)
                    match = _TRAILING.search(message)
                    if match is None:
                        # Cut at the end of what has arrived ("truncated", or a number or literal cut
                        # short): wait for more. Malformed before that: an error now.
                        at = _AT_BYTE.search(message)
                        if not final and ("truncated" in message or at is None
                                          or pos + int(at.group(1)) >= n - 64):
                            self._need = 2 * (n - pos)
                            break
                        if final and (at is None or pos + int(at.group(1)) >= n - 64):
                            raise self._bad(f"was cut off ({message})") from None
                        raise self._bad(f"is not valid JSON ({message})") from None
                    stop = pos + int(match.group(1))
                    # msgspec names the byte after the first character past the element
                    stop = next((k for k in (stop - 1, stop) if k < n and buf[k] in b",]"), None)
                    if stop is None:
                        raise self._bad(f"is not a JSON array of elements ({message})") from None
                else:
                    break  # an element with nothing after it yet: wait for the "," or "]"
                if first is None:
                    first = self._open
                end = pos = stop
                self._need = 0
                self._after = True
                self._elements += 1
                if end - first >= self.batch_bytes:
                    cuts.append((first, end))
                    first = None
        if first is not None:
            cuts.append((first, end))
        out = []
        for a, b in cuts:
            # No copy: the delimiters around the batch ("[" or "," before, "," or "]" after) become
            # "[" and "]" while it is decoded, then are put back.
            before, after = buf[a], buf[b]
            buf[a], buf[b] = 0x5B, 0x5D
            try:
                with memoryview(buf) as view, view[a:b + 1] as piece:
                    batch = self._decoder.decode(piece)
            except msgspec.ValidationError as exc:
                raise wrong_type_error(exc, self._where, self.count) from None
            except msgspec.DecodeError as exc:
                raise self._bad(f"is not valid JSON ({exc})") from None
            finally:
                buf[a], buf[b] = before, after
            self.count += len(batch)
            out.append(batch)
        if cuts:
            cut = cuts[-1][1]  # the delimiter after the last batch stays: it opens the next one
            del buf[:cut]
            pos -= cut
            self._open -= cut
        self._scan = pos
        if self.done:
            if bytes(buf[pos + 1:]).strip():
                raise self._bad("has data after its end")
            del buf[:]
        elif final:
            raise self._bad("was cut off" if self.started else "is empty")
        return out

    def _guessed_batch(self) -> list[list] | None:
        """The elements up to the last guessed boundary, decoded at once; None to take the usual way
        (nothing to guess from yet, or the guess was wrong: the skip then finds the boundaries)."""
        buf = self._buf
        start = self._scan if self._after else self._open  # the "[" or "," before the next element
        if len(buf) - start < self.batch_bytes:
            return []  # wait for a batch's worth (the end of the body is read the usual way)
        cut = buf.rfind(self._guess, start + 1)
        if cut < 0 or (not self._after and cut < self._scan):
            return None
        before, after = buf[start], buf[cut]
        buf[start], buf[cut] = 0x5B, 0x5D
        try:
            with memoryview(buf) as view, view[start:cut + 1] as piece:
                batch = self._decoder.decode(piece)
        except (msgspec.DecodeError, RecursionError):  # not whole elements, or a wrong value: the usual way says which
            return None
        finally:
            buf[start], buf[cut] = before, after
        del buf[:cut]  # the "," stays: it opens the next element
        self._scan, self._open, self._after, self._need = 0, 0, True, 0
        self._elements += len(batch)
        self.count += len(batch)
        return [batch] if batch else []


def wrong_type_error(exc: msgspec.ValidationError, where: str, before: int = 0) -> RemoteServiceError:
    """The error for msgspec's ``exc`` in a batch of array elements that ``before`` elements preceded."""
    path = re.sub(r"^\$\[(\d+)\]", lambda m: f"$[{int(m.group(1)) + before}]",
                  str(exc).rpartition(" - at `")[2].rstrip("`"))
    return RemoteServiceError(f"{where} has a value of the wrong type: {str(exc).partition(' - at ')[0]} at "
                              f"{path}. Nothing was returned; report this to the service.")


_END = object()


def read_ahead(blocks: Iterable[bytes], depth: int = 2):
    """Iterate over ``blocks`` (e.g. ``response.iter_content(...)``) read by a helper thread.

    Reading a socket releases the GIL, so the next blocks arrive while this
    thread decodes the last one: receiving overlaps decoding. At most
    ``depth`` blocks wait. An error of the reading is raised here, in order;
    when the consumer stops early, the reader stops after its current block
    (close the response to cut that short).
    """
    waiting: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                waiting.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def pump():
        try:
            for block in blocks:
                if not put(block):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put(exc)

    reader = threading.Thread(target=pump, name="astroquery_ext-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            item = waiting.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            body_progress(len(item))  # in the caller's thread, where its deadline is active
            yield item
    finally:
        stop.set()
