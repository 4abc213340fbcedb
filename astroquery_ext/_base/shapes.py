"""What an endpoint's JSON answer looks like: declared per call, checked before anything is cached.

A server under load or in maintenance can answer HTTP 200 with something else
than its data: ATLAS ``{"info": "Request was throttled"}``, a proxy's
``{"detail": "maintenance"}``, ``null``, a bare string. Each read endpoint
declares its shape in its ``_json(..., expect=...)`` call; an answer of
another shape is never cached, and raises a `RemoteServiceError` that says
the server answered something unexpected (with the server's own words)::

    records = self._json("GET", "scans/TPI/", expect=RECORDS, cache=cache)
    page = self._json("GET", "search", expect=object_with("results", results=RECORDS))
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

__all__ = ["Shape", "RECORDS", "OBJECT", "CONTAINER", "object_with", "list_of", "any_of"]


class Shape:
    """A predicate on a parsed JSON answer, with a description for messages.

    Parameters
    ----------
    describe : str
        What the answer should be ("a list of records").
    accepts : callable
        ``accepts(value) -> bool``.
    """

    def __init__(self, describe: str, accepts: Callable[[Any], bool]):
        self.describe = describe
        self._accepts = accepts

    def accepts(self, value: Any) -> bool:
        try:
            return bool(self._accepts(value))
        except (TypeError, ValueError, KeyError, AttributeError):
            return False

    def __repr__(self) -> str:
        return f"<Shape {self.describe}>"


#: A JSON list of objects (possibly empty).
RECORDS = Shape("a list of records",
                lambda v: isinstance(v, list) and all(map(isinstance, v, itertools.repeat(dict))))
#: Any JSON object.
OBJECT = Shape("an object", lambda v: isinstance(v, dict))
#: A list or an object (what any cacheable answer must at least be: never null, a number or a string).
CONTAINER = Shape("a list or an object", lambda v: isinstance(v, (list, dict)))


def object_with(*keys: str, **typed: Shape) -> Shape:
    """An object that has ``keys``, and ``typed`` keys whose values have the given shapes."""
    names = list(keys) + list(typed)

    def accepts(value):
        return (isinstance(value, dict) and all(k in value for k in names)
                and all(shape.accepts(value[k]) for k, shape in typed.items()))
    return Shape(f"an object with {', '.join(repr(k) for k in names)}", accepts)


def list_of(item: Shape) -> Shape:
    """A list whose every item has the shape ``item``."""
    return Shape(f"a list of ({item.describe})",
                 lambda v: isinstance(v, list) and all(item.accepts(x) for x in v))


def any_of(*shapes: Shape) -> Shape:
    """Any one of ``shapes``."""
    return Shape(" or ".join(s.describe for s in shapes), lambda v: any(s.accepts(v) for s in shapes))
