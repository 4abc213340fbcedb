"""How deeply a JSON body nests, found by a byte scan before any decoder sees it.

Decoders recurse once per level of nesting: Python's ``json`` and msgspec
raise `RecursionError` on a body of 50,000 ``[``, and pyarrow's JSON reader
crashes the process. So every JSON body the package decodes, streamed or not,
goes through `NestingGuard` (or `check_nesting` for a whole body) first, and
one deeper than `MAX_DEPTH` is refused with `JsonTooDeep` (the request layer
turns it into `~astroquery_ext.exceptions.RemoteServiceError`).

The scan keeps only the bytes that matter (``"``, ``[``, ``]``, ``{``, ``}``,
after removing escaped backslashes and quotes) with ``bytes.translate`` and
counts the brackets outside strings with numpy: about 10 ms per 10 MiB, a
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

_KEEP = b'"[]{}'
_DROP = bytes(c for c in range(256) if c not in _KEEP)
_QUOTE = 0x22


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
        if self._carry:
            data, self._carry = self._carry + data, b""
        if b"\\" in data:
            stripped = data.rstrip(b"\\")
            self._carry = data[len(stripped):]
            # An escape is a backslash and the character after it: escaped backslashes first, then
            # escaped quotes (the only escaped character that would change what is a string).
            data = stripped.replace(b"\\\\", b"").replace(b'\\"', b"")
        marks = np.frombuffer(data.translate(None, _DROP), np.uint8)
        if not len(marks):
            return
        quotes = marks == _QUOTE
        # A mark is inside a string when an odd number of quotes came before it (this block's, plus
        # the one left open by the last block); a uint8 running sum keeps the parity.
        parity = np.cumsum(quotes, dtype=np.uint8)
        outside = ((parity & 1) == int(self._in_string)) & ~quotes
        self._in_string = bool((int(parity[-1]) + self._in_string) & 1)
        brackets = marks[outside]
        if not len(brackets):
            return
        # "[" and "{" have bit 1 set, "]" and "}" do not: +1 and -1.
        steps = (brackets & 2).view(np.int8) - 1
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
