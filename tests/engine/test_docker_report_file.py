"""Reading the deploy report file from the container's archive, with a fake Docker API: only a
regular file is read (a directory, a symlink or a pipe at the path is no report, whatever it
holds), the archive is read in chunks no further than the limit and its headers, and an engine
that does not answer is a warning in the step's log, not an error of the step. The real archive
API is tests/engine/test_docker_report.py."""

from __future__ import annotations

import io
import tarfile
from types import SimpleNamespace

import pytest
import requests

from runner.deploy_report import MAX_REPORT_BYTES
from runner.engine.docker import DockerEngine
from runner.engine.docker_report import read_report_file

MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_NAMED_PIPE = 1 << 25


def archive_of(content: bytes, name: str = "deployment.json") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class FakeApi:
    """get_archive answering with ``data`` in chunks and ``stat``; counts the chunks read."""

    def __init__(self, data: bytes, stat: dict, chunk: int = 4096, error: Exception | None = None):
        self.data, self.stat, self.chunk, self.error = data, stat, chunk, error
        self.read = 0

    def get_archive(self, cid, path, chunk_size=2 * 1024 * 1024):
        if self.error:
            raise self.error
        return self.chunks(), self.stat

    def put_archive(self, cid, path, data):
        if self.error:
            raise self.error

    def chunks(self):
        for start in range(0, len(self.data), self.chunk):
            self.read += self.chunk
            yield self.data[start : start + self.chunk]


def test_a_regular_file_is_read():
    api = FakeApi(archive_of(b'{"state": "live"}'), {"size": 17, "mode": 0o644})
    assert read_report_file(api, "cid") == b'{"state": "live"}'


@pytest.mark.parametrize("kind", [MODE_DIR, MODE_SYMLINK, MODE_NAMED_PIPE])
def test_anything_but_a_regular_file_at_the_path_is_no_report_and_is_not_read(kind):
    # A directory's entry is small whatever the files under it hold.
    api = FakeApi(archive_of(b"x" * (1 << 20)), {"size": 4096, "mode": kind | 0o755})
    assert read_report_file(api, "cid") == b""
    assert api.read == 0


def test_a_large_archive_is_read_no_further_than_the_limit():
    # The stat says small (as a file growing after it was taken would); the stream is large.
    data = archive_of(b"x" * (8 * MAX_REPORT_BYTES))
    api = FakeApi(data, {"size": 10, "mode": 0o644})
    assert read_report_file(api, "cid") == b"x" * (MAX_REPORT_BYTES + 1)
    assert api.read < 3 * MAX_REPORT_BYTES


@pytest.mark.parametrize(
    "error",
    [requests.exceptions.ReadTimeout("timed out"), requests.exceptions.ConnectionError("gone")],
)
def test_an_engine_that_does_not_answer_is_a_warning_not_an_error(error):
    engine = DockerEngine(SimpleNamespace(api=FakeApi(b"", {}, error=error)))
    lines: list[str] = []
    assert engine._read_report("cid", lines.append) == b""
    assert lines == [f"warning: cannot read the deploy report: {error}"]


@pytest.mark.parametrize(
    "error",
    [requests.exceptions.ReadTimeout("timed out"), requests.exceptions.ConnectionError("gone")],
)
def test_an_engine_too_slow_to_make_the_report_folder_is_a_warning_not_an_error(error):
    engine = DockerEngine(SimpleNamespace(api=FakeApi(b"", {}, error=error)))
    lines: list[str] = []
    engine._prepare_report("cid", lines.append)
    assert lines == [f"warning: cannot create /run/runner for the deploy report: {error}"]
