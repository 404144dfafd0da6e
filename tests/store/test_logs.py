"""Log chunks: idempotent per (step, seq), read after a seq, streamed raw, capped to the tail."""

from __future__ import annotations

import threading

import pytest

from runner.errors import Forbidden, NotFound
from runner.store import LogStore

from .helpers import make_build


@pytest.fixture
def step_id(stores, repo):
    return stores.builds.create(make_build(repo.id)).stages[0].steps[1].id


def test_append_is_idempotent_per_sequence_number(stores, step_id):
    assert stores.logs.append(step_id, 0, ["line 1", "line 2"])
    assert stores.logs.append(step_id, 1, b"line 3\n")
    assert not stores.logs.append(step_id, 1, b"line 3\n")  # an agent's resend
    assert list(stores.logs.iter_chunks(step_id)) == [(0, b"line 1\nline 2\n"), (1, b"line 3\n")]
    assert list(stores.logs.iter_chunks(step_id, 0)) == [(1, b"line 3\n")]
    assert stores.logs.tail(step_id, max_bytes=1024, max_lines=1).last_seq == 1
    assert stores.steps.get(step_id).log_bytes == len(b"line 1\nline 2\nline 3\n")


def test_raw_stream_returns_whole_log_in_order(stores, step_id):
    expected = b""
    for seq in range(200):
        chunk = f"chunk {seq}\n".encode() * 3
        stores.logs.append(step_id, seq, chunk)
        expected += chunk
    assert b"".join(stores.logs.iter_raw(step_id)) == expected
    assert stores.logs.size(step_id) == (len(expected), 0)


def test_out_of_order_chunks_read_back_in_sequence(stores, step_id):
    for seq in (2, 0, 1):
        stores.logs.append(step_id, seq, f"{seq}\n")
    assert b"".join(stores.logs.iter_raw(step_id)) == b"0\n1\n2\n"


def test_cap_drops_oldest_chunks_and_counts_cut_bytes(db, stores, step_id):
    logs = LogStore(db, cap_bytes=1000)
    for seq in range(30):
        logs.append(step_id, seq, f"{seq:03d}".encode() * 25 + b"\n")  # 76 bytes each
    stored, cut = logs.size(step_id)
    assert stored <= 1000
    assert stored + cut == 30 * 76
    raw = b"".join(logs.iter_raw(step_id))
    assert len(raw) == stored
    assert raw.endswith(b"029" * 25 + b"\n")  # the tail is kept
    assert not raw.startswith(b"000")
    assert stores.steps.get(step_id).log_cut_bytes == cut


def test_single_chunk_over_cap_keeps_its_tail_from_a_line_start(db, step_id):
    logs = LogStore(db, cap_bytes=100)
    data = b"".join(f"line {i:04d}\n".encode() for i in range(100))  # 10 bytes a line
    logs.append(step_id, 0, data)
    raw = b"".join(logs.iter_raw(step_id))
    assert raw == b"".join(f"line {i:04d}\n".encode() for i in range(90, 100))
    assert logs.size(step_id) == (100, len(data) - 100)


def test_append_to_unknown_step_raises_not_found(stores):
    with pytest.raises(NotFound):
        stores.logs.append(424242, 0, b"x")


def test_concurrent_appends_and_resends(stores, step_id):
    def send(offset):
        for seq in range(offset, 100, 4):
            stores.logs.append(step_id, seq, f"{seq}\n")
            stores.logs.append(step_id, seq, f"{seq}\n")  # resend, dropped

    pool = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    expected = "".join(f"{seq}\n" for seq in range(100)).encode()
    assert b"".join(stores.logs.iter_raw(step_id)) == expected
    assert stores.steps.get(step_id).log_bytes == len(expected)


def test_purge_drops_logs_of_old_finished_stages(stores, repo):
    agent = stores.agents.create("a")
    build = stores.builds.create(make_build(repo.id))
    stage = stores.stages.claim(agent)
    step = stage.steps[0].id
    stores.logs.append(step, 0, b"old log\n")
    stores.stages.done(stage.id, "success", agent_id=agent.id, now=500.0)
    fresh = stores.builds.create(make_build(repo.id)).stages[0].steps[0].id
    stores.logs.append(fresh, 0, b"new log\n")
    assert stores.logs.purge_expired(now=500.0 + 86400 - 1, default_days=1) == 0
    assert stores.logs.purge_expired(now=500.0 + 86400 + 1, default_days=0) == 0  # keep all
    assert stores.logs.purge_expired(now=500.0 + 86400 + 1, default_days=1) == 1
    assert list(stores.logs.iter_chunks(step)) == []
    assert stores.steps.get(step).log_cut_bytes == len(b"old log\n")
    assert list(stores.logs.iter_chunks(fresh)) == [(0, b"new log\n")]
    assert build.id


def test_iter_chunks_reads_past_any_page_size(stores, step_id):
    for seq in range(1500):
        stores.logs.append(step_id, seq, f"{seq}\n")
    chunks = list(stores.logs.iter_chunks(step_id, after=99))
    assert [seq for seq, _data in chunks] == list(range(100, 1500))


def test_append_for_an_agent_only_while_it_holds_the_stage(stores, repo):
    first = stores.agents.create("first")
    second = stores.agents.create("second")
    stores.builds.create(make_build(repo.id))
    stage = stores.stages.claim(first)
    step = stage.steps[0].id
    assert stores.logs.append(step, 0, b"attempt 1\n", agent_id=first.id)
    with pytest.raises(Forbidden):
        stores.logs.append(step, 1, b"not mine\n", agent_id=second.id)
    stores.stages.requeue(stage.id, "agent lost")
    with pytest.raises(Forbidden):  # the lost agent's late batch
        stores.logs.append(step, 1, b"late line\n", agent_id=first.id)
    assert stores.stages.claim(second).id == stage.id
    assert stores.logs.append(step, 0, b"attempt 2\n", agent_id=second.id)
    assert b"".join(stores.logs.iter_raw(step)) == b"attempt 2\n"
    with pytest.raises(NotFound):
        stores.logs.append(99999, 0, b"x", agent_id=second.id)


def test_a_repository_keeps_logs_for_its_own_days_else_the_servers(stores, repo):
    agent = stores.agents.create("a")
    short = stores.repos.update(
        stores.repos.create("acme/short", forge="github", clone_url="file:///tmp/s.git").id,
        log_retention_days=2,
    )
    steps = {}
    for name, owner in (("server's", repo), ("short", short)):
        stores.builds.create(make_build(owner.id))
        stage = stores.stages.claim(agent)
        steps[name] = stage.steps[0].id
        stores.logs.append(steps[name], 0, f"{name} log\n".encode())
        stores.stages.done(stage.id, "success", agent_id=agent.id, now=1000.0)
    three_days_on = 1000.0 + 3 * 86400
    assert stores.logs.purge_expired(three_days_on, default_days=0) == 1  # only its own 2 days
    assert list(stores.logs.iter_chunks(steps["short"])) == []
    assert stores.logs.purge_expired(three_days_on, default_days=5) == 0
    assert stores.logs.purge_expired(three_days_on + 3 * 86400, default_days=5) == 1
    assert list(stores.logs.iter_chunks(steps["server's"])) == []
