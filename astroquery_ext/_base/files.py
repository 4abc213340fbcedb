"""Local files a download writes: safe names, ``.part`` files never opened through a link, sizes, hashes.

- A name a server suggests is reduced to a base name that stays in the target
  directory (``../x`` and ``C:\\x`` cannot leave it) and fits the file system
  with ``.part`` added: longer names are shortened, keeping the extension.
- A ``.part`` file is opened without following symlinks, and created
  exclusively: a link planted under that name is removed, never written through.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import unicodedata
import urllib.parse
from pathlib import Path

__all__ = ["safe_filename", "filename_from_disposition", "PART_SUFFIX", "NAME_MAX", "CHUNK"]

CHUNK = 1 << 20
PART_SUFFIX = ".part"
#: Longest file name (in bytes) most file systems take (ext4, XFS, APFS, NTFS in UTF-16 units).
NAME_MAX = 255
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _fit(name: str, limit: int) -> str:
    """``name`` cut to at most ``limit`` UTF-8 bytes, keeping its extension and telling cut names apart."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, ext = os.path.splitext(name)
    if len(ext.encode("utf-8")) > 16:  # not an extension worth keeping
        stem, ext = name, ""
    # A short hash of the whole name: two long names cut to the same prefix stay two files.
    tag = "~" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    room = limit - len(ext.encode("utf-8")) - len(tag)
    cut = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip()
    return f"{cut}{tag}{ext}"


def safe_filename(name: str | None, fallback: str = "download") -> str:
    """A file name that stays inside the directory it is joined to and fits the file system.

    Takes the last path component (``/`` and ``\\`` both count), drops
    control characters, leading dots and drive letters, and falls back to
    ``fallback`` when nothing usable is left. Names longer than
    ``NAME_MAX - len(".part")`` bytes (UTF-8) are shortened, keeping the
    extension and adding a short hash of the full name, so that the
    ``.part`` file beside them can be created too.
    """
    if name:
        name = unicodedata.normalize("NFC", str(name))
        name = re.split(r"[\\/]", name)[-1]
        name = re.sub(r"^[A-Za-z]:", "", name)
        name = "".join(c for c in name if c.isprintable() and c not in '<>:"|?*')
        name = name.strip().lstrip(".").strip()
    if not name or name in (".", ".."):
        name = safe_filename(fallback, "download") if fallback != name else "download"
    return _fit(name, NAME_MAX - len(PART_SUFFIX))


def filename_from_disposition(header: str | None) -> str | None:
    """The file name in a ``Content-Disposition`` header (``filename*=`` preferred), unsanitised."""
    if not header:
        return None
    match = re.search(r"filename\*\s*=\s*([^;]+)", header, re.IGNORECASE)
    if match:
        value = match.group(1).strip().strip('"')
        charset, _, rest = value.partition("'")
        _, _, encoded = rest.partition("'")
        try:
            return urllib.parse.unquote(encoded, encoding=charset or "utf-8", errors="strict")
        except (LookupError, UnicodeDecodeError):
            pass
    match = re.search(r'filename\s*=\s*"((?:[^"\\]|\\.)*)"', header, re.IGNORECASE) or \
        re.search(r"filename\s*=\s*([^;]+)", header, re.IGNORECASE)
    return match.group(1).strip() if match else None


def _regular_size(path: Path) -> int:
    """Size of ``path`` if it is a regular file (not followed if a link); else remove whatever is there. 0 if none."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return 0
    if stat.S_ISREG(info.st_mode):
        return info.st_size
    _remove(path)
    return 0


def _remove(path: Path | None) -> None:
    if path is None:
        return
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            return  # never a directory of the user's; open() will fail and say so
        os.unlink(path)
    except FileNotFoundError:
        pass


def _open_part(part: Path, *, append: bool) -> int:
    """A descriptor for writing ``part``: never through a symlink, a new file created exclusively."""
    if append:
        try:
            return os.open(part, os.O_RDWR | _NOFOLLOW)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOENT, errno.EMLINK):
                raise
    _remove(part)
    return os.open(part, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666)


def _hash_prefix(fd: int, length: int, chunk: int) -> "hashlib._Hash":
    digest = hashlib.sha256()
    done = 0
    while done < length:
        block = os.pread(fd, min(chunk, length - done), done)
        if not block:
            break
        digest.update(block)
        done += len(block)
    return digest


def _sha256_file(path: Path, suffix: bytes = b"") -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    digest.update(suffix)
    return digest.hexdigest()
