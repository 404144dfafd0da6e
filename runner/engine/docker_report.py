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
    or it is not a regular file. Read up to ``MAX_REPORT_BYTES + 1`` bytes, so a larger one is
    known as such (and refused) without reading it whole."""
    try:
        stream, stat = api.get_archive(cid, REPORT_PATH)
    except docker.errors.NotFound:
        return b""
    if int(stat.get("size", 0)) > 4 * MAX_REPORT_BYTES:
        # Far too large to be a report: not worth transferring; refused as too large.
        return b"\0" * (MAX_REPORT_BYTES + 1)
    data = b"".join(stream)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as archive:
        for member in archive:
            if member.isfile() and posixpath.basename(member.name) == _NAME:
                extracted = archive.extractfile(member)
                return extracted.read(MAX_REPORT_BYTES + 1) if extracted else b""
    return b""
