"""Optional features and the extras that install them.

A plain ``pip install astroquery-ext`` installs the clients. Some features
need more, installed as an extra (``pip install "astroquery-ext[sandbox]"``).
`require_extra` is called where such a feature starts, before anything else
happens, so that a missing package is one clear message naming the extra and
the install command, never a ``ModuleNotFoundError`` from deep inside (or from
a child process of the sandbox).
"""

from __future__ import annotations

import importlib.util

__all__ = ["EXTRAS", "MissingExtraError", "require_extra", "missing_modules"]

#: For each extra, the modules (import names) its features need, in the order
#: they are reported. Keep in step with ``[project.optional-dependencies]``.
EXTRAS: dict[str, tuple[str, ...]] = {
    "sandbox": ("fastapi", "uvicorn", "python_multipart", "jwt", "cryptography", "pytupli", "mongomock",
                "mongomock_motor", "motor", "bson", "dotenv", "passlib", "bcrypt"),
    "plot": ("matplotlib",),
}


class MissingExtraError(ImportError):
    """A feature needs packages of an extra that is not installed.

    The message names the feature, the missing modules and the command that
    installs them. ``extra`` and ``missing`` hold the same as attributes.
    """

    def __init__(self, feature: str, extra: str, missing: list[str]):
        self.feature = feature
        self.extra = extra
        self.missing = list(missing)
        super().__init__(
            f"{feature} needs the '{extra}' extra of astroquery-ext, which is not installed "
            f"(missing: {', '.join(self.missing)}). Install it with: pip install \"astroquery-ext[{extra}]\"",
            name=self.missing[0] if self.missing else None)


MissingExtraError.__module__ = "astroquery_ext.exceptions"  # its public path, in tracebacks and docs


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (none: ``[]``)."""
    try:
        modules = EXTRAS[extra]
    except KeyError:
        raise ValueError(f"extra must be one of {', '.join(EXTRAS)}; got {extra!r}") from None
    missing = []
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(module)
    return missing


def require_extra(extra: str, feature: str) -> None:
    """Raise `MissingExtraError` unless every module of ``extra`` can be imported.

    Parameters
    ----------
    extra : str
        The extra's name in ``pyproject.toml`` (``"sandbox"``, ``"plot"``).
    feature : str
        What the user asked for, as the message should name it
        (``"The sandbox"``, ``"plot_lightcurve"``).

    Raises
    ------
    MissingExtraError
        Some module of the extra is missing; the message says how to install it.
    """
    missing = missing_modules(extra)
    if missing:
        raise MissingExtraError(feature, extra, missing)
