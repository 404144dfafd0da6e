"""Log lines' times through the agent RPC and the API: the agent's stamp is stored as sent, a
batch without one is stamped by the server from the step's start, a bad stamp is a 400 that
stores nothing, a resend keeps the first stamp; line ranges, search and both live streams give
each line's time (null for a chunk without one)."""

from __future__ import annotations

import json
import time

import pytest

from runner.logtext import MAX_ELAPSED_MS
from runner.services.agents import issue_agent_token, register_agent
from tests.server.conftest import auth, seed_build

BASE = "/api/v1/repos/acme/app/builds/{number}/logs/1/1"


@pytest.fixture
def claimed(client, stores, repo):
    """A running step claimed by an agent: ``(build, step id, stage id, agent headers)``."""
    build = seed_build(stores, repo)
    agent = auth(issue_agent_token(stores, register_agent(stores, "a1", labels={}, capacity=1)))
    answer = client.post("/rpc/v1/claim", headers=agent, json={"timeout": 0})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    stage = answer.get_json()["stage"]
    return build, stage["steps"][0]["id"], stage["id"], agent


def _upload(client, agent, step_id, seq, data, elapsed=None):
    query = f"seq={seq}" + ("" if elapsed is None else f"&elapsed_ms={elapsed}")
    return client.post(f"/rpc/v1/steps/{step_id}/logs?{query}", headers=agent, data=data)


def _times(stores, step_id):
    return [(seq, ms) for seq, _data, ms in stores.logs.iter_timed(step_id)]


def test_the_agents_stamp_is_stored_and_live_and_a_resend_keeps_the_first(
    client, stores, services, claimed
):
    _build, step_id, _stage, agent = claimed
    with services.livelog.subscribe(step_id, timeout=0.1) as live:
        assert _upload(client, agent, step_id, 0, b"a\n", 1200).status_code == 200
        assert _upload(client, agent, step_id, 0, b"a\n", 9999).status_code == 200  # a resend
        assert live.drain() == [(0, ["a"], 1200)]  # the resend stored nothing, sent nothing
    assert _times(stores, step_id) == [(0, 1200)]


def test_a_batch_without_a_stamp_gets_the_servers(client, stores, services, claimed):
    _build, step_id, stage_id, agent = claimed
    assert _upload(client, agent, step_id, 0, b"before the start is known\n").status_code == 200
    started = time.time() - 5
    update = client.post(
        f"/rpc/v1/stages/{stage_id}/steps/{step_id}",
        headers=agent,
        json={"status": "running", "started": started},
    )
    assert update.status_code == 200
    assert _upload(client, agent, step_id, 1, b"old agent\n").status_code == 200
    with services.livelog.subscribe(step_id, 1, timeout=0.1) as live:
        assert _upload(client, agent, step_id, 2, b"old agent again\n").status_code == 200
        (_seq, _lines, sent), *_ = live.drain()
    (_s0, unknown), (_s1, stamped), (_s2, stored) = _times(stores, step_id)
    assert unknown is None
    assert stamped is not None and stamped >= 5000, stamped
    assert sent == stored, "readers get the time the server stored"


@pytest.mark.parametrize("bad", ["-1", "x", "1.5", "", " 7", str(MAX_ELAPSED_MS + 1), "٣"])
def test_a_bad_stamp_is_refused_and_nothing_stored(client, stores, claimed, bad):
    _build, step_id, _stage, agent = claimed
    answer = _upload(client, agent, step_id, 0, b"x\n", bad)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert "elapsed_ms" in answer.get_json()["error"]
    assert _times(stores, step_id) == []


@pytest.fixture
def timed(stores, repo):
    """A finished step with chunks at 0.5 s, 2 s (two lines) and one without a time."""
    build = seed_build(stores, repo)
    step = build.stages[0].steps[0]
    stores.logs.append(step.id, 0, b"first\n", elapsed_ms=500)
    stores.logs.append(step.id, 1, b"second\nthird\n", elapsed_ms=2000)
    stores.logs.append(step.id, 2, b"fourth\n")
    stores.steps.update(step.id, status="success")
    return build, step


def test_line_ranges_and_search_give_the_lines_times(client, tokens, timed):
    build, _step = timed
    url = BASE.format(number=build.number)
    got = client.get(url + "/lines?from=2&count=10", headers=auth(tokens["read"])).get_json()
    assert got["lines"] == ["second", "third", "fourth"]
    assert got["times"] == [[2, 2000], [4, None]]
    found = client.get(url + "/search?q=th", headers=auth(tokens["read"])).get_json()
    assert [(m["line"], m["elapsed_ms"]) for m in found["lines"]] == [(3, 2000), (4, None)]


def test_the_step_log_stream_sends_each_chunks_time_as_a_field(client, tokens, timed):
    build, _step = timed
    body = client.get(BASE.format(number=build.number) + "/stream", headers=auth(tokens["read"]))
    text = body.get_data(as_text=True)
    assert "id: 0\nelapsed: 500\ndata: first\n\n" in text
    assert "id: 1\nelapsed: 2000\ndata: second\ndata: third\n\n" in text
    assert "id: 2\ndata: fourth\n\n" in text  # no time: no field


def test_the_event_stream_sends_each_chunks_time(client, tokens, timed):
    _build, step = timed
    body = client.get(f"/api/v1/stream?log={step.id}", headers=auth(tokens["read"]))
    events = [
        json.loads(block.partition("data: ")[2])
        for block in body.get_data(as_text=True).split("\n\n")
        if block.startswith("event: log\n")
    ]
    assert [(e["seq"], e["lines"], e["elapsed_ms"]) for e in events] == [
        (0, ["first"], 500),
        (1, ["second", "third"], 2000),
        (2, ["fourth"], None),
    ]
