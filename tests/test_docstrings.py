"""Every public method of the four service classes documents what ``help()`` readers need.

Checked with numpydoc's own validation (`numpydoc.validate.validate`), not a
parser of ours. The methods are those a user sees (``dir()`` of each module's
singleton: inherited methods of the base included, the base's machinery
hidden), so a method added later is checked as soon as it exists.
"""

from __future__ import annotations

import inspect

import pytest
from numpydoc.docscrape import get_doc_object
from numpydoc.validate import validate

from astroquery_ext.atlas import Atlas
from astroquery_ext.glance import Glance
from astroquery_ext.grad300 import Grad300
from astroquery_ext.tupli import Tupli

#: The numpydoc checks a public method must pass, and what each failure means in plain words.
CHECKS = {
    "GL08": "has no docstring",
    "SS01": "has no one-line summary",
    "SS03": "has a summary that does not end with a period",
    "SS06": "has a summary longer than one line",
    "PR01": "lacks a Parameters entry",
    "PR02": "documents a parameter it does not take",
    "PR07": "has a parameter without a description",
    "RT01": "returns a value but has no Returns section",
    "RT03": "has a Returns entry without a description",
}

CLIENTS = (Atlas, Grad300, Glance, Tupli)


def public_methods(client) -> list[tuple[str, object]]:
    """``(name, function)`` for every method in ``dir(client)`` (properties and attributes are not methods)."""
    methods = []
    for name in dir(client):
        attr = inspect.getattr_static(type(client), name, None)
        if isinstance(attr, (staticmethod, classmethod)):
            attr = attr.__func__
        if inspect.isfunction(attr):
            methods.append((name, attr))
    return methods


def problems(function) -> list[str]:
    """What numpydoc finds missing in ``function``'s docstring, as ``"<what> (<code>: <numpydoc's words>)"``."""
    found = validate(get_doc_object(function))["errors"]
    return [f"{CHECKS[code]} ({code}: {message})" for code, message in found if code in CHECKS]


METHODS = [pytest.param(function, id=f"{type(client).__name__}.{name}")
           for client in CLIENTS for name, function in public_methods(client)]


@pytest.mark.parametrize("function", METHODS)
def test_public_method_has_a_complete_docstring(request, function):
    shown_as = request.node.callspec.id
    defined_in = function.__qualname__
    found = problems(function)
    assert not found, (f"{shown_as} (defined as {defined_in} in {function.__module__}): "
                       + "; ".join(found) + ". Write its numpydoc sections (see docs/developer.rst).")


def test_every_service_has_its_methods_checked():
    """The list above is not empty by accident: each client's query and login methods are in it."""
    for client in CLIENTS:
        names = {name for name, _ in public_methods(client)}
        assert {"login", "logout", "whoami", "clear_cache"} <= names, type(client).__name__
        assert any(name.startswith(("query", "list_", "get_")) for name in names), type(client).__name__


class _Example:
    def complete(self, ids, *, cache=True):
        """Rows of some ids.

        Parameters
        ----------
        ids : list of int
            The ids.
        cache : bool
            Whether to use the cache.

        Returns
        -------
        list
            One row per id.
        """
        return [ids, cache]

    def lacking(self, ids, *, cache=True):
        """Rows of some ids."""
        return [ids, cache]

    def nothing_returned(self):
        """Forget everything."""


def test_the_check_catches_missing_parameters_and_returns():
    assert problems(_Example.complete) == []
    assert problems(_Example.nothing_returned) == []  # no value returned: no Returns section needed
    found = problems(_Example.lacking)
    assert any("PR01" in p and "ids" in p and "cache" in p for p in found), found
    assert any("RT01" in p for p in found), found
