"""A long-poll whose agent has gone away takes no stage: a claim whose connection was closed
while it waited is let go when work arrives, so the stage goes to a live agent at its first
attempt instead of waiting for a dead one's lease — against a real `runner server`."""

from __future__ import annotations

import json
import socket
import time

import requests

from tests.agents.harness import SLUG, Fleet, pipeline


def open_claim(url: str, token: str) -> socket.socket:
    """A raw long-poll claim of 30 s, sent and left waiting for its answer."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"timeout": 30}).encode()
    sock = socket.create_connection((host, int(port)))
    sock.sendall(
        b"POST /rpc/v1/claim HTTP/1.1\r\n"
        + f"Host: {host}\r\nAuthorization: Bearer {token}\r\n".encode()
        + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return sock


def test_a_claim_whose_agent_went_away_takes_no_stage(tmp_path):
    with Fleet(tmp_path) as fleet:
        server = fleet.server
        token = server.agent_token("vanished")
        dead = open_claim(server.url, token)
        time.sleep(1)  # the server holds the poll open
        dead.close()  # the agent dies mid-poll: the kernel closes its connection

        number = fleet.trigger(fleet.forge.push({".drone.yml": pipeline("work", "true")}))
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            stage = server.build(SLUG, number)["stages"][0]
            assert stage["status"] == "pending" and stage["attempts"] == 0, stage
            time.sleep(0.2)

        live = requests.post(
            server.url + "/rpc/v1/claim",
            json={"timeout": 10},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert live.status_code == 200, live.text
        assert server.build(SLUG, number)["stages"][0]["attempts"] == 1
