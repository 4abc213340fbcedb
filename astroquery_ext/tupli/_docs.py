"""Docstring sections the Tupli methods share (filled in by `~astroquery_ext._base.docs.shared_doc`)."""

from __future__ import annotations

NOT_CACHED_DOC = """cache : bool
    Accepted as on every query method; Tupli answers are never cached
    (content changes as users write)."""
LIST_OPTIONS_DOC = NOT_CACHED_DOC + """
get_query_payload : bool
    Return the request instead of sending it."""
FILTER_DOC = """filter : `~astroquery_ext.tupli.Filter` or dict, optional
    Only the items that match (a `~astroquery_ext.tupli.Filter`
    expression, or its dict form); default all you can see."""


def list_sections(columns: str, what: str, *, filtered: bool = True) -> str:
    """The Parameters and Returns sections of a ``list_*`` call."""
    return "\n".join(["Parameters", "----------", *([FILTER_DOC] if filtered else []), LIST_OPTIONS_DOC, "",
                      "Returns", "-------", "`~astropy.table.Table` or dict", f"    {columns}: one row per {what}.",
                      "    With ``get_query_payload=True``: the request, nothing sent."])


def item_parameters(kind: str, *more: str) -> str:
    """The Parameters section of a call on one stored item: its id, then the ``more`` parameters."""
    return "\n".join([f"Parameters\n----------\n{kind}_id : str\n    The {kind}'s id.", *more])


PUBLISH_TO = """group : str
    The group that may read it (default ``global``: everyone)."""
UNPUBLISH_FROM = """group : str
    The group to take it back from."""
