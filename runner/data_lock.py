"""The data directory's lock file: every server on a data directory shares it, a restore takes it
alone.

``runner server`` holds ``<data_dir>/server.lock`` with a shared ``flock`` for as long as it
runs (its worker inherits the lock), so several servers may share a data directory while
``runner db restore`` can tell that one is running and refuse. The kernel lets go of a lock when
its process ends, however it ends, so a killed server never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.errors import RunnerError
from runner.private_files import private_dir

LOCK_FILE = "server.lock"


class DataDirBusy(RunnerError):
    """The data directory's lock is held in a way that forbids what was asked."""

    http_status = 409


@contextmanager
def server_lock(data_dir: Path) -> Iterator[None]:
    """Hold the data directory's lock shared while the block runs (a running server);
    ``DataDirBusy`` when a restore holds it."""
    with _locked(data_dir, fcntl.LOCK_SH) as held:
        if not held:
            raise DataDirBusy(
                f"a restore is writing the data directory {data_dir}: start the server when "
                "`runner db restore` has finished"
            )
        yield


@contextmanager
def restore_lock(data_dir: Path) -> Iterator[None]:
    """Hold the data directory's lock alone while the block runs, so no server starts
    meanwhile; ``DataDirBusy`` when a server (or another restore) runs on it."""
    with _locked(data_dir, fcntl.LOCK_EX) as held:
        if not held:
            raise DataDirBusy(
                f"a server is running on the data directory {data_dir} (it holds "
                f"{data_dir / LOCK_FILE}): stop it before restoring"
            )
        yield


@contextmanager
def _locked(data_dir: Path, mode: int) -> Iterator[bool]:
    path = private_dir(data_dir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
