"""Docstring text that several methods share, written once.

A method's docstring holds a line that is only ``{name}``; `shared_doc`
replaces it with the text given for ``name``, indented as that line was, so
that ``help()`` and the API pages show each method's whole numpydoc section::

    _IDS = '''ids : int, str or sequence
        ATLAS ids.'''

    @shared_doc(ids=_IDS)
    def get_objects(self, ids):
        '''Everything the server holds on some objects.

        Parameters
        ----------
        {ids}
        '''
"""

from __future__ import annotations

from typing import Callable, TypeVar

__all__ = ["shared_doc"]

F = TypeVar("F", bound=Callable)


def shared_doc(**parts: str) -> Callable[[F], F]:
    """A decorator that puts the shared ``parts`` into a docstring's ``{name}`` lines.

    Parameters
    ----------
    **parts : str
        The text of each part as a module-level string holds it: lines at
        no indentation (``name : type``), their descriptions indented by
        four spaces.

    Returns
    -------
    callable
        The decorator; it raises `ValueError` when a part has no ``{name}``
        line in the docstring (a misspelt placeholder is not left in the text).
    """
    def decorate(func: F) -> F:
        if func.__doc__ is None:  # python -OO
            return func
        used, lines = set(), []
        for line in func.__doc__.splitlines():
            key = line.strip()[1:-1] if line.strip().startswith("{") and line.strip().endswith("}") else None
            if key not in parts:
                lines.append(line)
                continue
            used.add(key)
            indent = line[:len(line) - len(line.lstrip())]
            lines.extend(indent + part if part.strip() else "" for part in parts[key].strip("\n").splitlines())
        if used != set(parts):
            raise ValueError(f"{func.__qualname__}'s docstring has no line {{{sorted(set(parts) - used)[0]}}}")
        func.__doc__ = "\n".join(lines)
        return func
    return decorate
