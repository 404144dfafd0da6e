"""Two `runner server` processes on one PostgreSQL database act as one server: a stage queued
through one wakes an agent's long-poll waiting on the other, a step's log uploaded to one is
streamed live by the other, and a build changed through one reaches the other's event stream
(``runner.server.cluster``: PostgreSQL LISTEN/NOTIFY; the last one the change watcher's
periodic full scan would also bring, later). Real processes, a real agent, Docker.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid

import pytest
import requests

from runner.testing import AgentProcess, Balancer, LocalRepo, ServerProcess, github_push

pytestmark = [pytest.mark.docker, pytest.mark.postgres]

SLUG = "acme/cluster"
DEADLINE = 120  # seconds, for what a loaded machine may be slow to do


class Pair:
    """Servers A and B on one database with one secret key; no embedded agents."""

    def __init__(self, root, database_url: str):
        key = secrets.token_urlsafe(32)
        self.a, self.b = (
            ServerProcess(
                root / name,
                embedded_agent=False,
                database_url=database_url,
                extra_env={"RUNNER_SECRET_KEY": key},
            )
            for name in ("a", "b")
        )
        self.a.start()  # migrates and makes the admin; then B joins
        self.b.start()
        self.token = self.a.token()
        self.repo = LocalRepo(root / "forge")
        made = self.a.api(
            "POST",
            "/repos",
            self.token,
            json={"slug": SLUG, "forge": "github", "clone_url": self.repo.clone_url},
        )
        assert made.status_code == 201, made.text
        self.secret = made.json()["webhook_secret"]

    def push(self, server: ServerProcess, commands: list[str], branch: str) -> int:
        """Commit a one-step pipeline, send its webhook to ``server``; the build's number."""
        steps = "".join(f"  - {c}\n" for c in commands)
        text = (
            "kind: pipeline\nname: build\nclone:\n  disable: true\nsteps:\n"
            f"- name: work\n  image: runner-test/busybox\n  commands:\n{steps}"
        )
        sha = self.repo.commit({".drone.yml": text}, f"Build {branch}", branch=branch)
        headers, body = github_push(SLUG, self.repo, sha, self.secret, branch=branch)
        resp = server.post_hook(SLUG, headers, body)
        assert resp.status_code in (200, 201), resp.text
        builds = server.api("GET", f"/repos/{SLUG}/builds?branch={branch}", self.token).json()
        return int(builds[0]["number"])

    def stop(self) -> None:
        self.b.stop()
        self.a.stop()


@pytest.fixture
def pair(tmp_path, postgres_url, docker_client):
    world = Pair(tmp_path, postgres_url)
    yield world
    world.stop()


def test_a_stage_queued_through_one_server_wakes_a_long_poll_waiting_on_the_other(pair):
    agent_token = pair.a.cli("user", "agent-token", f"poller-{uuid.uuid4().hex[:6]}").strip()
    answer: dict = {}

    def long_poll() -> None:
        # Without a signal from B, this claim would wait its whole 90 s and answer 204.
        resp = requests.post(
            pair.a.url + "/rpc/v1/claim",
            json={"timeout": 90},
            headers={"Authorization": f"Bearer {agent_token}"},
            timeout=DEADLINE,
        )
        answer["status"] = resp.status_code
        answer["body"] = resp.json() if resp.status_code == 200 else resp.text

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(1)  # the long-poll is waiting on A (it claims at once if it comes later)
    number = pair.push(pair.b, ["echo queued through b"], branch="wake")
    poller.join(DEADLINE)
    assert answer.get("status") == 200, answer
    build = pair.b.api("GET", f"/repos/{SLUG}/builds/{number}", pair.token).json()
    assert answer["body"]["stage"]["id"] == build["stages"][0]["id"], (answer, build)


def _read_stream(url: str, token: str, into: list[tuple[int, str]], ended: threading.Event):
    with requests.get(
        url, headers={"Authorization": f"Bearer {token}"}, stream=True, timeout=DEADLINE
    ) as resp:
        assert resp.status_code == 200, resp.text
        seq = -1
        for raw in resp.iter_lines(decode_unicode=True):
            if raw.startswith("id: "):
                seq = int(raw[4:])
            elif raw.startswith("data: ") and seq >= 0:
                into.append((seq, raw[6:]))
            elif raw == "event: end":
                ended.set()
                return


def test_a_log_uploaded_to_one_server_streams_live_from_the_other_in_order_once(pair, tmp_path):
    agent = AgentProcess(pair.a, tmp_path / "agent", f"agent-{uuid.uuid4().hex[:6]}")
    agent.start()
    try:
        # 60 lines over 30 s: the reader on B must get them while the step runs on A's agent.
        number = pair.push(
            pair.a, ['for i in $(seq 1 60); do echo "line $i"; sleep 0.5; done'], "live"
        )
        build = pair.b.wait_build(
            SLUG,
            number,
            pair.token,
            lambda b: b["stages"] and b["stages"][0]["steps"][0]["status"] == "running",
            DEADLINE,
        )
        url = f"{pair.b.url}/api/v1/repos/{SLUG}/builds/{number}/logs/1/1/stream"
        got: list[tuple[int, str]] = []
        ended = threading.Event()
        reader = threading.Thread(target=_read_stream, args=(url, pair.token, got, ended))
        reader.start()
        # B's reader sees new lines arrive while the step is still running (A's agent stores
        # them through A; without the signal, B would send them only once the step ended).
        deadline = time.monotonic() + DEADLINE
        seen = 0
        while time.monotonic() < deadline:
            lines = [text for _seq, text in got]
            status = pair.b.build(SLUG, number, pair.token)["stages"][0]["steps"][0]["status"]
            if seen and len(lines) > seen and status == "running":
                break
            seen = seen or len(lines)
            time.sleep(0.5)
        else:
            pytest.fail(f"no new line reached B while the step ran: {got[-3:]}, {status}")
        reader.join(DEADLINE)
        assert ended.is_set(), f"B's stream did not end with the step: {got[-3:]}"
        printed = [text for _seq, text in got if not text.startswith("+ ")]  # not the trace
        assert printed == [f"line {i}" for i in range(1, 61)]
        seqs = [seq for seq, _text in got]
        assert seqs == sorted(seqs)
    finally:
        agent.stop()
    assert build["number"] == number


def test_a_build_changed_through_one_server_reaches_the_event_stream_of_the_other(pair):
    number = pair.push(pair.a, ["echo waits for an agent that never comes"], branch="state")
    key = f"{SLUG}/{number}"
    events: list[tuple[str, dict]] = []
    cancelled = threading.Event()

    def follow() -> None:
        with requests.get(
            f"{pair.b.url}/api/v1/stream?build={key}",
            headers={"Authorization": f"Bearer {pair.token}"},
            stream=True,
            timeout=DEADLINE,
        ) as resp:
            assert resp.status_code == 200, resp.text
            kind = ""
            for raw in resp.iter_lines(decode_unicode=True):
                if raw.startswith("event: "):
                    kind = raw[7:]
                elif raw.startswith("data: ") and kind == "state":
                    state = json.loads(raw[6:])["state"]
                    events.append((kind, state))
                    if state["status"] not in ("pending", "running"):
                        cancelled.set()
                        return

    watcher = threading.Thread(target=follow, daemon=True)
    watcher.start()
    deadline = time.monotonic() + DEADLINE
    while not events and time.monotonic() < deadline:
        time.sleep(0.2)  # B's stream has sent the build's first state: it follows it now
    assert events and events[0][1]["status"] == "pending", events
    resp = pair.a.api("POST", f"/repos/{SLUG}/builds/{number}/cancel", pair.token)
    assert resp.status_code in (200, 202), resp.text
    assert cancelled.wait(DEADLINE), f"B's stream never said the build was cancelled: {events}"
    final = pair.a.build(SLUG, number, pair.token)["status"]
    assert events[-1][1]["status"] == final == "killed", (events[-1], final)


def _queue_stages(database_url: str, repo_id: int, builds: int, stages: int) -> list[int]:
    """Queue ``builds`` builds of ``stages`` one-step stages straight in the database (as the
    claims benchmark does); the stage ids."""
    from runner.core import Build
    from runner.pipeline.spec import CloneSpec, StageSpec, StepSpec
    from runner.store import Database, Stores, stage_from_spec

    db = Database(database_url)
    try:
        stores = Stores(db)
        ids: list[int] = []
        for _ in range(builds):
            specs = [
                StageSpec(
                    name=f"s{i}",
                    clone=CloneSpec(disable=True),
                    steps=[StepSpec(name="s", image="runner-test/busybox", commands=["true"])],
                )
                for i in range(stages)
            ]
            made = stores.builds.create(
                Build(
                    id=0,
                    repo_id=repo_id,
                    number=0,
                    event="custom",
                    stages=[stage_from_spec(s) for s in specs],
                )
            )
            ids += [stage.id for stage in made.stages]
        return ids
    finally:
        db.dispose()


def _agent_tokens(database_url: str, count: int, capacity: int) -> list[str]:
    from runner.services.agents import issue_agent_token, register_agent
    from runner.store import Database, Stores

    db = Database(database_url)
    try:
        stores = Stores(db)
        return [
            issue_agent_token(
                stores, register_agent(stores, f"sim-{uuid.uuid4().hex[:8]}", capacity=capacity)
            )
            for _ in range(count)
        ]
    finally:
        db.dispose()


def test_three_servers_and_fifty_agents_drain_two_thousand_stages_each_claimed_once(
    tmp_path, postgres_url, docker_client
):
    key = secrets.token_urlsafe(32)
    # The simulated agents renew no lease: a lease longer than the drain keeps the reaper from
    # (rightly) handing their first stages out again while the test runs.
    servers = [
        ServerProcess(
            tmp_path / name,
            embedded_agent=False,
            database_url=postgres_url,
            lease_seconds=1800,
            extra_env={"RUNNER_SECRET_KEY": key},
        )
        for name in ("a", "b", "c")
    ]
    try:
        for server in servers:  # the first migrates and makes the admin
            server.start()
        token = servers[0].token()
        repo = LocalRepo(tmp_path / "forge")
        made = servers[1].api(
            "POST", "/repos", token, json={"slug": SLUG, "clone_url": repo.clone_url}
        )
        assert made.status_code == 201, made.text
        queued = _queue_stages(postgres_url, made.json()["id"], builds=100, stages=20)
        assert len(queued) == 2000
        # 50 simulated agents (real RPC clients that run nothing), spread over the servers,
        # each registered to hold whatever it takes; they claim until the queue is empty.
        tokens = _agent_tokens(postgres_url, 50, capacity=len(queued))
        claimed: list[int] = []
        failures: list[str] = []
        lock = threading.Lock()

        def agent(index: int) -> None:
            http = requests.Session()
            http.headers["Authorization"] = f"Bearer {tokens[index]}"
            url = servers[index % len(servers)].url + "/rpc/v1/claim"
            empty = 0
            while empty < 2:  # an empty answer twice in a row: nothing left for anyone
                resp = http.post(url, json={"timeout": 0}, timeout=DEADLINE)
                if resp.status_code == 204:
                    empty += 1
                    continue
                if resp.status_code != 200:
                    with lock:
                        failures.append(f"{resp.status_code} {resp.text[:200]}")
                    return
                empty = 0
                with lock:
                    claimed.append(resp.json()["stage"]["id"])

        threads = [threading.Thread(target=agent, args=(i,)) for i in range(len(tokens))]
        begun = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(600)
        took = time.monotonic() - begun
        print(f"\n{len(claimed)} claims through 3 servers in {took:.1f}s")  # a figure, not a bound
        assert not failures, failures[:5]
        doubles = sorted({i for i in claimed if claimed.count(i) > 1})
        assert not doubles, f"claimed more than once: {doubles[:10]}"
        assert sorted(claimed) == sorted(queued), f"{len(claimed)} of {len(queued)} claimed"
    finally:
        for server in reversed(servers):
            server.stop()


def test_a_server_killed_mid_build_loses_nothing_the_agent_goes_on_through_the_other(
    pair, tmp_path
):
    balancer = Balancer([pair.a.port, pair.b.port])
    agent = AgentProcess(
        pair.a, tmp_path / "agent", f"agent-{uuid.uuid4().hex[:6]}", server_url=balancer.url
    )
    agent.start()
    try:
        number = pair.push(
            pair.b, ['for i in $(seq 1 60); do echo "line $i"; sleep 0.5; done'], "killed"
        )

        def printed_some(build: dict) -> bool:
            if not (build["stages"] and build["stages"][0]["steps"][0]["status"] == "running"):
                return False
            log = pair.b.api("GET", f"/repos/{SLUG}/builds/{number}/logs/1/1", pair.token)
            return "line 5\n" in log.text

        pair.b.wait_build(SLUG, number, pair.token, printed_some, DEADLINE)
        pair.a.kill()  # mid-step: the agent's next requests go to B through the balancer
        build = pair.b.wait_build(SLUG, number, pair.token, timeout=300)
        assert build["status"] == "success", (build, agent.log())
        assert build["stages"][0]["attempts"] == 1, "the stage was taken back and run again"
        log = pair.b.api("GET", f"/repos/{SLUG}/builds/{number}/logs/1/1", pair.token).text
        printed = [line for line in log.splitlines() if line.startswith("line ")]
        assert printed == [f"line {i}" for i in range(1, 61)], printed
    finally:
        agent.stop()
        balancer.close()
