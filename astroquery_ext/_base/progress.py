"""Progress bars that show where the user is: a terminal or a Jupyter notebook.

astropy's `~astropy.utils.console.ProgressBar` draws on a terminal and is
silent on any other stream, which includes a notebook's output (ipykernel's
streams are not TTYs). Here:

- on a terminal (``sys.stderr`` is a TTY): astropy's bar, on stderr;
- in a Jupyter kernel: astropy's IPython widget when ``ipywidgets`` is
  installed, else astropy's text bar written to the cell's stderr output (the
  notebook front ends redraw lines on ``\\r``, as a terminal does);
- elsewhere (a log file, a pipe, CI): nothing.

`BatchProgress` is the one bar of a batch (of downloads, of ids), updated
from any thread. No dependency beyond astropy.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from typing import Any

from astropy.utils.console import ProgressBar

__all__ = ["BatchProgress", "progress_bar", "in_notebook"]


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython running under ipykernel)."""
    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return False
    try:
        shell = sys.modules["IPython"].get_ipython()
    except Exception:  # pragma: no cover - a broken IPython
        return False
    return shell is not None and hasattr(shell, "kernel")


class _NotebookStream:
    """A notebook's output stream, presented as a terminal so that astropy's text bar draws on it."""

    def __init__(self, stream: Any):
        self._stream = stream

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress_bar(total: int) -> ProgressBar | None:
    """A started astropy progress bar for ``total`` steps (``.update(done)``), or None where none can show."""
    stream = sys.stderr
    if stream is None:
        return None
    if _is_tty(stream):
        return ProgressBar(total, file=stream)
    if in_notebook():
        if importlib.util.find_spec("ipywidgets") is not None:
            return ProgressBar(total, ipython_widget=True)
        return ProgressBar(total, file=_NotebookStream(stream))
    return None


class BatchProgress:
    """One progress bar for a batch (of downloads, of ids), safe to update from threads.

    Parameters
    ----------
    total : int
        The steps of the whole batch (bytes, files or ids).
    show : bool
        Whether to draw at all; even then the bar shows only where
        `progress_bar` can draw one (a terminal or a notebook).
    """

    def __init__(self, total: int, show: bool):
        self._lock = threading.Lock()
        self._done = 0
        self._bar = progress_bar(max(total, 1)) if show else None

    def advance(self, amount: int) -> None:
        """Count ``amount`` more steps done."""
        if self._bar is None or amount <= 0:
            return
        with self._lock:
            self._done += amount
            self._bar.update(min(self._done, self._bar._total))

    def close(self) -> None:
        """Finish the bar (its line stays on a terminal)."""
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
