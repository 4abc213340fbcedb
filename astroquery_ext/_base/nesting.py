"""How deeply a JSON body nests, found by a byte scan before any decoder sees it.

Decoders recurse once per level of nesting: Python's ``json`` and msgspec
raise `RecursionError` on a body of 50,000 ``[``, and pyarrow's JSON reader
crashes the process. So every JSON body the package decodes, streamed or not,
goes through `NestingGuard` (or `check_nesting` for a whole body) first, and
one deeper than `MAX_DEPTH` is refused with `JsonTooDeep` (the request layer
turns it into `~astroquery_ext.exceptions.RemoteServiceError`).

The scan finds the quotes and brackets (leaving out quotes escaped by a
backslash) with numpy comparisons, tells the brackets outside strings by the
parity of the quotes before each and counts them: about 8 ms per 10 MiB, a
fraction of any decoder's time. Its state (depth, inside a string, a
backslash at the end of a block) carries from one block to the next, so a
body fed in pieces is judged exactly as the whole.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_DEPTH", "JsonTooDeep", "NestingGuard", "check_nesting"]

#: The deepest nesting accepted. The services' answers nest a handful of levels
#: (records of lists of records); a few hundred leaves room for any real document,
#: far below what the decoders survive (about 1,000 levels).
MAX_DEPTH = 512

_QUOTE = 0x22
_PIECE = 1 << 18
_BACKSLASH = b"\\"
_IS_BRACKET = np.zeros(256, bool)
_IS_BRACKET[list(b"[]{}")] = True


def _parity(words: np.ndarray) -> np.ndarray:
    """The parity (0 or 1, uint8) of the bits set in each 64-bit word."""
    if hasattr(np, "bitwise_count"):  # numpy 2
        return np.bitwise_count(words) & np.uint8(1)
    for shift in (32, 16, 8, 4, 2, 1):
        words = words ^ (words >> np.uint64(shift))
    return (words & np.uint64(1)).astype(np.uint8)


def _escaped(raw: np.ndarray) -> np.ndarray:
    """Positions of the characters escaped by a backslash in ``raw`` (which does not end with one).

    In a run of backslashes the first, third... escape the character after them.
    """
    slashes = np.flatnonzero(raw == 0x5C)
    run_start = np.ones(len(slashes), bool)
    run_start[1:] = slashes[1:] != slashes[:-1] + 1
    first = np.maximum.accumulate(np.where(run_start, np.arange(len(slashes)), 0))
    escaping = slashes[(np.arange(len(slashes)) - first) % 2 == 0]
    return escaping + 1


class JsonTooDeep(ValueError):
    """A JSON body nests deeper than the bound (`MAX_DEPTH`)."""


class NestingGuard:
    """Checks the nesting of a JSON body fed block by block (``feed``), before it is decoded.

    Parameters
    ----------
    limit : int
        The deepest nesting accepted (default `MAX_DEPTH`).
    what : str
        The body, for the message (``"the objects/ answer"``).
    """

    def __init__(self, limit: int = MAX_DEPTH, what: str = "the JSON"):
        self.limit = limit
        self.what = what
        self.depth = 0
        self._in_string = False
        self._carry = b""  # backslashes at the end of the last block: they escape what comes next

    def feed(self, block: bytes | bytearray | memoryview) -> None:
        """Scan the next bytes of the body; raise `JsonTooDeep` as soon as it nests too deeply."""
        data = bytes(block)
        for start in range(0, len(data), _PIECE):  # pieces whose arrays stay in the processor's cache
            self._scan(data[start:start + _PIECE])

    def _scan(self, data: bytes) -> None:
        if self._carry:
            data, self._carry = self._carry + data, b""
        raw = np.frombuffer(data, np.uint8)
        quotes = raw == _QUOTE
        if _BACKSLASH in data:
            stripped = len(data.rstrip(b"\\"))
            self._carry, raw, quotes = data[stripped:], raw[:stripped], quotes[:stripped].copy()
            quotes[_escaped(raw)] = False  # an escaped quote is part of the string
        # The brackets, and the bytes with the same bits outside 0x26 (Y _ y DEL): two passes, not four.
        near = np.flatnonzero((raw & 0xD9) == 0x59)
        brackets = near[_IS_BRACKET[raw[near]]]
        # A bracket is inside a string when an odd number of quotes came before it (this block's,
        # plus the one left open by the last block). The quotes are packed 64 to a word; the parity
        # of the words before the bracket's own, and of the bits before it in its word, give it.
        packed = np.packbits(quotes, bitorder="little")
        words = np.concatenate([packed, np.zeros(-len(packed) % 8, np.uint8)]).view("<u8")
        odd = _parity(words)
        ends = np.bitwise_xor.accumulate(odd)  # of the quotes up to the end of each word
        starts = ends ^ odd
        at, bit = brackets >> 6, (brackets & 63).astype(np.uint64)
        parity = starts[at] ^ _parity(words[at] & ((np.uint64(1) << bit) - np.uint64(1))) ^ self._in_string
        self._in_string = bool(ends[-1] ^ self._in_string) if len(ends) else self._in_string
        if not len(brackets):
            return
        outside = brackets[parity == 0]
        if not len(outside):
            return
        # "[" and "{" have bit 1 set, "]" and "}" do not: +1 and -1.
        steps = (raw[outside] & 2).view(np.int8) - 1
        levels = np.cumsum(steps, dtype=np.int64)
        deepest = self.depth + int(levels.max())
        self.depth += int(levels[-1])
        if deepest > self.limit:
            raise JsonTooDeep(f"{self.what} nests more than {self.limit} levels deep")


def check_nesting(body: bytes | bytearray | memoryview | str, limit: int = MAX_DEPTH,
                  what: str = "the JSON") -> None:
    """Raise `JsonTooDeep` if the JSON document ``body`` nests deeper than ``limit``."""
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    NestingGuard(limit, what).feed(body)
