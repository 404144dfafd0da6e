"""A TCP load balancer on 127.0.0.1 for tests of several server processes (``runner.testing``).

Each connection goes to the next backend in turn that accepts it; a backend that refuses (it
was killed) is skipped, as a load balancer's health check would. Bytes are copied both ways
until either side closes. Nothing is parsed: HTTP keep-alive connections stay with their
backend, and die with it, as behind a real balancer.
"""

from __future__ import annotations

import socket
import threading

BUFFER = 64 * 1024


class Balancer:
    """Round-robin over ``ports`` of 127.0.0.1; ``url`` is where clients connect. ``close()``
    stops accepting (connections in flight end with their peers)."""

    def __init__(self, ports: list[int]):
        self.ports = list(ports)
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._turn = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="balancer", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with self._lock:
            first = self._turn
            self._turn += 1
        for i in range(len(self.ports)):
            port = self.ports[(first + i) % len(self.ports)]
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                continue
            upstream.settimeout(None)
            threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
            _pipe(client, upstream)
            return
        client.close()  # no backend answers

    def close(self) -> None:
        self._closed.set()
        self._listener.close()


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(BUFFER):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
