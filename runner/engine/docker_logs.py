"""Reading a container's output line by line from a Docker attach stream.

The stream is opened before the container starts, so every line is seen, and the daemon
pushes output as it is written, so a line reaches the sink within milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from docker.utils.socket import frames_iter

from runner.engine.base import LogSink


class OutputStream(Protocol):
    """A container's output as chunks of bytes; ``close`` ends it from any thread."""

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


def attach(api: Any, cid: str) -> _Frames:
    """Attach to the output of container ``cid`` (created, not yet started).

    ``APIClient.attach`` would inspect the container first (to learn whether it has a TTY:
    ours never do) and keep the client's read timeout, which would cut a step that is silent
    for a minute; this is the same request without both. No ``logs`` replay: the daemon
    attaches the streams before it answers, so nothing printed after ``start`` is missed,
    and a replay would repeat early lines.
    """
    params = {"stdout": 1, "stderr": 1, "stream": 1}
    headers = {"Connection": "Upgrade", "Upgrade": "tcp"}
    url = api._url("/containers/{0}/attach", cid)
    response = api._post(url, headers=headers, params=params, stream=True)
    sock = api._get_raw_response_socket(response)
    api._disable_socket_timeout(sock)
    return _Frames(frames_iter(sock, tty=False), response)


class _Frames:
    """The data chunks of an attach stream; ``close`` ends it from any thread."""

    def __init__(self, frames: Iterable[tuple[int, bytes]], response: Any) -> None:
        self._frames = frames
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        for _stream_id, data in self._frames:
            yield data

    def close(self) -> None:
        self._response.close()


# A line longer than this (binary output, a progress bar without newlines) is handed over in
# pieces, so one step cannot hold unbounded memory.
MAX_LINE = 64 * 1024


class LinePiece(str):
    """A piece of a longer line cut at ``MAX_LINE``: the line goes on in the next piece.

    Sinks that look across pieces (secret masking: a secret may straddle the cut) recognise
    it; for every other sink it is the plain text of the piece.
    """

    __slots__ = ()


def pump_lines(stream: OutputStream, log: LogSink) -> None:
    """Hand every line of an attach stream to ``log``; returns when the container stops."""
    pending = b""
    try:
        for chunk in stream:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                log(line.rstrip(b"\r").decode("utf-8", "replace"))
            while len(pending) > MAX_LINE:
                cut = _piece_end(pending)
                log(LinePiece(pending[:cut].decode("utf-8", "replace")))
                pending = pending[cut:]
    except Exception:  # the connection drops when the container is removed: end of log
        pass
    finally:
        close_stream(stream)
    if pending:
        log(pending.rstrip(b"\r").decode("utf-8", "replace"))


def _piece_end(data: bytes) -> int:
    """Where to cut ``data`` near ``MAX_LINE`` without splitting a UTF-8 character."""
    cut = MAX_LINE
    while cut > MAX_LINE - 4 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut


def close_stream(stream: OutputStream) -> None:
    """End ``stream``; never raises (its connection may be gone already)."""
    try:
        stream.close()
    except Exception:
        pass
