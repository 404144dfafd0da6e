"""Builds and logs through the API in-process: paging and filters, the raw log, the SSE stream
with Last-Event-ID resume, and the agent long-poll answered as soon as work is queued."""

from __future__ import annotations

import threading

from tests.server.conftest import auth, seed_build


def _events(body: str) -> list[tuple[str, str, list[str]]]:
    out = []
    for block in body.split("\n\n"):
        event, ident, data = "message", "", []
        for line in block.splitlines():
            field, _, value = line.partition(": ")
            if field == "event":
                event = value
            elif field == "id":
                ident = value
            elif field == "data":
                data.append(value)
        if data or event != "message":
            out.append((event, ident, data))
    return out


def test_builds_are_paged_and_filtered(client, stores, repo, tokens):
    for i in range(5):
        seed_build(stores, repo, event="push" if i % 2 else "tag")
    headers = auth(tokens["read"])
    page = client.get("/api/v1/repos/acme/app/builds?per_page=2&page=2", headers=headers)
    assert [b["number"] for b in page.get_json()] == [3, 2]
    tags = client.get("/api/v1/repos/acme/app/builds?event=tag", headers=headers).get_json()
    assert [b["number"] for b in tags] == [5, 3, 1]
    one = client.get("/api/v1/repos/acme/app/builds/4", headers=headers).get_json()
    assert one["stages"][0]["steps"][0]["name"] == "test"
    assert "spec" not in one["stages"][0]
    assert client.get("/api/v1/repos/acme/app/builds/99", headers=headers).status_code == 404


def test_raw_log_and_stream_resume(client, stores, repo, tokens):
    build = seed_build(stores, repo)
    step = build.stages[0].steps[0]
    for seq, text in enumerate([b"one\ntwo\n", b"three\n", b"four\nfive\n"]):
        stores.logs.append(step.id, seq, text)
    stores.steps.update(step.id, status="success")
    headers = auth(tokens["read"])
    base = f"/api/v1/repos/acme/app/builds/{build.number}/logs/1/1"
    raw = client.get(base, headers=headers)
    assert raw.get_data(as_text=True) == "one\ntwo\nthree\nfour\nfive\n"

    stream = client.get(base + "/stream", headers=headers)
    assert stream.headers["X-Accel-Buffering"] == "no"
    assert stream.mimetype == "text/event-stream"
    events = _events(stream.get_data(as_text=True))
    assert events == [
        ("message", "0", ["one", "two"]),
        ("message", "1", ["three"]),
        ("message", "2", ["four", "five"]),
        ("end", "", [""]),
    ]
    resumed = client.get(base + "/stream", headers={**headers, "Last-Event-ID": "1"})
    assert _events(resumed.get_data(as_text=True))[0] == ("message", "2", ["four", "five"])


def test_live_chunks_reach_a_waiting_stream(client, stores, services, repo, tokens):
    build = seed_build(stores, repo)
    step = build.stages[0].steps[0]
    headers = auth(tokens["read"])
    url = f"/api/v1/repos/acme/app/builds/{build.number}/logs/1/1/stream"
    received = []

    def read():
        received.append(client.get(url, headers=headers).get_data(as_text=True))

    reader = threading.Thread(target=read)
    reader.start()
    while not services.livelog.subscribers(step.id):
        threading.Event().wait(0.01)
    agent = auth(tokens["agent"])
    assert client.post("/rpc/v1/claim", headers=agent, json={"timeout": 0}).status_code == 200
    for seq, text in enumerate([b"live one\n", b"live two\n"]):
        client.post(f"/rpc/v1/steps/{step.id}/logs?seq={seq}", headers=agent, data=text)
    client.post(
        f"/rpc/v1/stages/{build.stages[0].id}/steps/{step.id}",
        headers=agent,
        json={"status": "success", "exit_code": 0},
    )
    reader.join(30)
    assert _events(received[0]) == [
        ("message", "0", ["live one"]),
        ("message", "1", ["live two"]),
        ("end", "", [""]),
    ]


def test_a_waiting_claim_is_answered_when_work_arrives(client, stores, services, repo, tokens):
    answers = []

    def claim():
        answers.append(
            client.post("/rpc/v1/claim", headers=auth(tokens["agent"]), json={"timeout": 60})
        )

    poller = threading.Thread(target=claim)
    poller.start()
    poller.join(0.3)
    assert poller.is_alive() and not answers
    build = seed_build(stores, repo)
    services.wake_agents()
    poller.join(30)
    assert answers[0].status_code == 200
    assert answers[0].get_json()["stage"]["id"] == build.stages[0].id


def test_a_stream_closed_by_its_reader_frees_its_place(client, stores, services, repo, tokens):
    build = seed_build(stores, repo)
    url = f"/api/v1/repos/acme/app/builds/{build.number}/logs/1/1/stream"
    stream = client.get(url, headers=auth(tokens["read"]), buffered=False)
    assert services.admission.streams.open() == 1
    stream.close()
    assert services.admission.streams.open() == 0


def test_chunk_numbers_that_are_not_numbers_get_400(client, stores, repo, tokens):
    build = seed_build(stores, repo)
    url = f"/api/v1/repos/acme/app/builds/{build.number}/logs/1/1/stream"
    for bad in ("x", "--5", "1" * 40, "9" * 5000, "1.5"):
        resp = client.get(url, headers={**auth(tokens["read"]), "Last-Event-ID": bad})
        assert resp.status_code == 400, (bad, resp.status_code)
        assert "chunk number" in resp.get_json()["error"]
