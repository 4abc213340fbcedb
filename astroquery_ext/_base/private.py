"""Private files: directories only the user can enter (0700), files only the user can read (0600).

Used for everything of astroquery_ext that must not be readable by other
users of the machine: the response cache, the credential file store (when no
keyring is usable) and the CLI's state file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["private_dir", "write_private"]


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) with mode 0700; tighten it if it exists."""
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file renamed into place), as a 0600 file.

    Readers see the old content or the new one, never a part of it; the parent
    directory is created private if missing.
    """
    path = Path(path)
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
