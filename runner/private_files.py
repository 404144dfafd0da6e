"""Directories and files only their owner may read: the data directory, the database, keys.

Kept apart from the store so that a process that only needs a private path (the server's
arbiter taking the data directory's lock, the key file) does not load the database libraries.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create the directory ``path`` (and parents) as 0700, or take group and other access
    away from an existing one; the path."""
    path = Path(path).expanduser()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    restrict(path, 0o700)
    return path


def private_file(path: str | os.PathLike[str]) -> Path:
    """Create the file ``path`` empty as 0600 unless it exists, and take group and other access
    away from it either way; the path."""
    path = Path(path)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    restrict(path, 0o600)
    return path


def restrict(path: Path, mode: int) -> None:
    """Take away the permission bits of ``path`` that ``mode`` does not have."""
    current = stat.S_IMODE(path.stat().st_mode)
    if current & 0o077:
        os.chmod(path, current & mode)
