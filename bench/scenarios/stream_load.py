"""API and agent RPC latency while 200 live-log streams are open, as ratios to the same calls
with none open (≤ 1.5).

A `runner server` subprocess with its embedded agent runs one step printing a line every 0.2 s
(clone disabled). After a warm-up, ``CALLS`` API reads of the build and ``CALLS`` agent claims (a
second agent's ``POST /rpc/v1/claim`` with ``timeout: 0``, answered 204) are timed with no
stream open; then 200 live-log streams of that step are opened over raw sockets (4 users of 50,
the limits raised through ``RUNNER_LIVE_STREAMS_*``) and read by one thread, as browsers would,
and the same calls are timed again; then once more after the streams are closed (the figures
"none" hold both rounds without streams). ``api_ratio`` and ``rpc_ratio`` are the medians with
streams over the medians without; the 95th percentiles are beside them. Every stream must be
admitted (200) and every call answered.
"""

from __future__ import annotations

import selectors
import socket
import statistics
import threading
import time

import requests

from bench.scenarios._server import BUSYBOX, SLUG, BenchServer

STREAMS = 200
USERS = 4
CALLS = 60
PIPELINE = f"""\
kind: pipeline
name: ticks
clone:
  disable: true
steps:
- name: ticks
  image: {BUSYBOX}
  commands:
  - for i in $(seq 1 3000); do echo tick $i; sleep 0.2; done
"""


def _timed(call, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        resp = call()
        times.append((time.perf_counter() - started) * 1000)
        if resp.status_code >= 400:
            raise RuntimeError(f"call refused: {resp.status_code} {resp.text}")
    return times


def _p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95) - 1]


def _open_stream(url: str, path: str, token: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        got = sock.recv(4096)
        if not got:
            break
        head += got
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"stream refused: {head[:200]!r}")
    sock.setblocking(False)
    return sock


class Readers:
    """Reads every open stream on one thread, as the browsers watching them would."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def add(self, sock: socket.socket) -> None:
        self.selector.register(sock, selectors.EVENT_READ)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _mask in self.selector.select(0.2):
                try:
                    self.bytes += len(key.fileobj.recv(65536))
                except BlockingIOError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()
        self.selector.close()


def run() -> dict:
    extra = {
        "RUNNER_LIVE_STREAMS_MAX": str(STREAMS + 10),
        "RUNNER_LIVE_STREAMS_PER_USER": str(STREAMS // USERS),
        "RUNNER_LEASE_SECONDS": "60",
    }
    with BenchServer(capacity=1, extra_env=extra) as server:
        tokens = []
        for i in range(USERS):
            login = f"viewer{i}"
            server.session.post(
                server.url + "/api/v1/users",
                json={"login": login, "password": "viewer-password"},
                timeout=30,
            ).raise_for_status()
            server.session.put(
                server.url + f"/api/v1/repos/{SLUG}/perms/{login}",
                json={"role": "read"},
                timeout=30,
            ).raise_for_status()
            tokens.append(server.token(login))
        probe = server.cli("user", "agent-token", "probe").strip()
        rpc = requests.Session()
        rpc.headers["Authorization"] = f"Bearer {probe}"

        server.commit(PIPELINE)
        server.webhook()
        number = server.builds()[0]["number"]
        deadline = time.monotonic() + 120
        while server.full_build(number)["stages"][0]["steps"][0]["status"] != "running":
            if time.monotonic() > deadline:
                raise RuntimeError("the ticking step never started")
            time.sleep(0.25)

        def api_call():
            return server.session.get(server.url + f"/api/v1/repos/{SLUG}/builds/{number}")

        def rpc_call():
            return rpc.post(server.url + "/rpc/v1/claim", json={"timeout": 0}, timeout=30)

        _timed(api_call, CALLS), _timed(rpc_call, CALLS)  # warm-up, not counted
        api_none, rpc_none = _timed(api_call, CALLS), _timed(rpc_call, CALLS)
        readers = Readers()
        path = f"/api/v1/repos/{SLUG}/builds/{number}/logs/1/1/stream"
        try:
            for i in range(STREAMS):
                readers.add(_open_stream(server.url, path, tokens[i % USERS]))
            readers.start()
            time.sleep(2)  # every stream has sent its backlog and is following the step live
            api_load, rpc_load = _timed(api_call, CALLS), _timed(rpc_call, CALLS)
            streamed = readers.bytes
        finally:
            readers.close()
        time.sleep(2)  # the server notices the closed streams at their next line
        api_none += _timed(api_call, CALLS)
        rpc_none += _timed(rpc_call, CALLS)
        server.session.post(server.url + f"/api/v1/repos/{SLUG}/builds/{number}/cancel")
        server.wait_all(1, timeout=120)

    api_ratio = statistics.median(api_load) / statistics.median(api_none)
    rpc_ratio = statistics.median(rpc_load) / statistics.median(rpc_none)
    return {
        "scenario": "stream-load",
        "streams": STREAMS,
        "stream_bytes_read": streamed,
        "api_ms_none": round(statistics.median(api_none), 1),
        "api_ms_streams": round(statistics.median(api_load), 1),
        "api_p95_ms_none": round(_p95(api_none), 1),
        "api_p95_ms_streams": round(_p95(api_load), 1),
        "rpc_ms_none": round(statistics.median(rpc_none), 1),
        "rpc_ms_streams": round(statistics.median(rpc_load), 1),
        "rpc_p95_ms_none": round(_p95(rpc_none), 1),
        "rpc_p95_ms_streams": round(_p95(rpc_load), 1),
        "api_ratio": round(api_ratio, 2),
        "rpc_ratio": round(rpc_ratio, 2),
        "ratio": round(max(api_ratio, rpc_ratio), 2),
        "ok": api_ratio <= 1.5 and rpc_ratio <= 1.5,
        "target": "api_ratio <= 1.5, rpc_ratio <= 1.5",
    }
