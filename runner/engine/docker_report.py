"""The deploy report file of a step's container (``runner.deploy_report``): its directory made
before the container starts, the file read from the stopped container through Docker's
archive API (no helper container, no volume)."""

from __future__ import annotations

import io
import posixpath
import tarfile
from typing import Any

import docker.errors

from runner.deploy_report import MAX_REPORT_BYTES, REPORT_DIR, REPORT_PATH

_NAME = posixpath.basename(REPORT_PATH)
# Type bits of Go's os.FileMode, which Docker's archive stat gives as ``mode``: a directory,
# symlink, device, named pipe, socket, character device or irregular file is no report.
_NOT_REGULAR = (1 << 31) | (1 << 27) | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)
# Room for the tar headers (a pax header included) before the file's first bytes.
_TAR_SLACK = 16 * 1024
_CHUNK = 64 * 1024


def prepare_report_dir(api: Any, cid: str) -> None:
    """Create the report's directory (any user may write, as in ``/tmp``) in the created
    container ``cid``, so a step can write the file without making it first. Only the
    directory itself is in the archive: the image's own parents (``/run``) keep their modes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(REPORT_DIR.strip("/"))
        info.type = tarfile.DIRTYPE
        info.mode = 0o1777
        archive.addfile(info)
    api.put_archive(cid, "/", buffer.getvalue())


def read_report_file(api: Any, cid: str) -> bytes:
    """The report file the step left in its stopped container ``cid``; b"" when there is none
    or it is not a regular file (a directory at that path is not read). At most
    ``MAX_REPORT_BYTES + 1`` bytes of the file, so a larger one is known as such (and refused):
    the archive is read in chunks and no further than that and its headers."""
    try:
        stream, stat = api.get_archive(cid, REPORT_PATH, chunk_size=_CHUNK)
    except docker.errors.NotFound:
        return b""
    stat = stat or {}
    if int(stat.get("mode", 0)) & _NOT_REGULAR:
        _close(stream)
        return b""
    if int(stat.get("size", 0)) > 4 * MAX_REPORT_BYTES:
        # Far too large to be a report: not worth transferring; refused as too large.
        _close(stream)
        return b"\0" * (MAX_REPORT_BYTES + 1)
    data = bytearray()
    for chunk in stream:
        data += chunk
        if len(data) > MAX_REPORT_BYTES + _TAR_SLACK:
            break
    _close(stream)
    with tarfile.open(fileobj=io.BytesIO(bytes(data)), mode="r") as archive:
        member = archive.next()  # the archive of a file is that file alone
        if member is None or not member.isfile() or posixpath.basename(member.name) != _NAME:
            return b""
        extracted = archive.extractfile(member)
        return extracted.read(MAX_REPORT_BYTES + 1) if extracted else b""


def _close(stream: Any) -> None:
    """Stop the archive's generator, so what is left of it is not read."""
    close = getattr(stream, "close", None)
    if close is not None:
        close()
