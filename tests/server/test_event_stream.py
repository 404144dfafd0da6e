"""The public event stream (GET /api/v1/stream) in-process with the real store and change
watcher: a build's state and a step's log arrive on one connection in order and once, resumed
after a given chunk; topics are authorised per repository and bounded; a revoked token ends the
stream with ``signed-out``; a missing build says ``deleted``. Also the pieces: writes to builds,
stages and steps (and only those) wake the watcher once per commit, and a slow subscriber's
buffer stays bounded."""

from __future__ import annotations

import json
import threading
import time

import pytest

from runner.server.api import stream as stream_api
from runner.server.changes import ChangeHub, ChangeWatcher, state_changes
from tests.server.conftest import auth, seed_build
from webui.live_state import build_state


@pytest.fixture
def watcher(app, services, stores):
    """The change watcher as ``create_app`` starts it with the background threads."""
    watch = ChangeWatcher(services.changes, stores, build_state, idle=0.5)
    services.db.on_state_commit(watch.notify)
    watch.start(app.app_context)
    yield watch
    watch.stop()


class Reader:
    """Reads a stream on a thread, parsing its events as they come."""

    def __init__(self, client, url: str, headers: dict[str, str]):
        self.events: list[tuple[str, dict]] = []
        self.error = ""
        self.response = None
        self._stop = threading.Event()
        self._opened = threading.Event()
        # The request and the reading of its stream on one thread, as the server does.
        self.thread = threading.Thread(target=self._read, args=(client, url, headers), daemon=True)
        self.thread.start()
        self._opened.wait(30)

    def _read(self, client, url: str, headers: dict[str, str]) -> None:
        try:
            self.response = client.get(url, headers=headers, buffered=False)
            self._opened.set()
            self._parse()
            self.response.close()
        except Exception as exc:  # shown by wait_for
            self.error = repr(exc)

    def _parse(self) -> None:
        buf = ""
        for chunk in self.response.response:
            if self._stop.is_set():
                return
            buf += chunk.decode() if isinstance(chunk, bytes) else chunk
            while "\n\n" in buf:
                block, buf = buf.split("\n\n", 1)
                kind, data = "message", ""
                for line in block.splitlines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        data = line[6:]
                if data:
                    self.events.append((kind, json.loads(data)))

    def wait_for(self, kind: str, test=lambda data: True, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event_kind, data in list(self.events):
                if event_kind == kind and test(data):
                    return data
            time.sleep(0.02)
        raise AssertionError(f"no {kind} event; got {self.events} {self.error}")

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]

    def close(self) -> None:
        """Stop reading at the next chunk (a keep-alive at the latest) and close the stream on
        the reading thread."""
        self._stop.set()
        self.thread.join(30)


def test_state_changes_and_log_chunks_arrive_on_one_stream_in_order_once(
    client, stores, services, repo, tokens, watcher, monkeypatch
):
    monkeypatch.setattr(stream_api, "KEEPALIVE_SECONDS", 0.5)
    build = seed_build(stores, repo)
    stage, step = build.stages[0], build.stages[0].steps[0]
    url = f"/api/v1/stream?build=acme/app/{build.number}&repo=acme/app&log={step.id}"
    reader = Reader(client, url, auth(tokens["read"]))
    try:
        first = reader.wait_for("state")
        assert first["state"]["status"] == "pending" and first["changes"] == []
        agent = auth(tokens["agent"])
        assert client.post("/rpc/v1/claim", headers=agent, json={"timeout": 0}).status_code == 200
        # The watcher's first look at a build names no changes (its readers got the state when
        # they subscribed): once it has published the claimed build, it knows the build, and
        # the step's change that follows is named.
        reader.wait_for("state", lambda d: d["state"]["status"] == "running")
        client.post(
            f"/rpc/v1/stages/{stage.id}/steps/{step.id}",
            headers=agent,
            json={"status": "running", "started": time.time()},
        )
        running = reader.wait_for(
            "state", lambda d: any(c["kind"] == "step" and c["id"] == step.id for c in d["changes"])
        )
        change = next(c for c in running["changes"] if c["kind"] == "step")
        assert change["kind"] == "step" and change["status"] == "running"
        reader.wait_for("build", lambda d: d["status"] == "running")
        for seq, text in enumerate([b"one\ntwo\n", b"three\n"]):
            client.post(f"/rpc/v1/steps/{step.id}/logs?seq={seq}", headers=agent, data=text)
        client.post(
            f"/rpc/v1/stages/{stage.id}/done",
            headers=agent,
            json={
                "status": "failure",
                "steps": [
                    {"id": step.id, "status": "failure", "exit_code": 3, "finished": time.time()}
                ],
            },
        )
        reader.wait_for("log-end")
        done = reader.wait_for("state", lambda d: d["state"]["status"] == "failure")
        failed = done["state"]["stages"][0]["steps"][0]
        assert failed["exit_code"] == 3 and failed["status"] == "failure"
        logs = [data for kind, data in reader.events if kind == "log"]
        assert [(d["seq"], d["lines"]) for d in logs] == [(0, ["one", "two"]), (1, ["three"])]
        assert reader.kinds()[0] == "ready"
    finally:
        reader.close()
    assert services.admission.streams.open() == 0


def test_a_log_resumes_after_the_chunk_given(client, stores, repo, tokens):
    build = seed_build(stores, repo)
    step = build.stages[0].steps[0]
    for seq, lines in enumerate([["a"], ["b"], ["c", "d"]]):
        stores.logs.append(step.id, seq, lines)
    stores.steps.update(step.id, status="success")
    body = client.get(f"/api/v1/stream?log={step.id}:1", headers=auth(tokens["read"]))
    text = body.get_data(as_text=True)
    assert '"seq":0' not in text and '"seq":1' not in text
    chunk = f'data: {{"step":{step.id},"seq":2,"lines":["c","d"],"elapsed_ms":null}}'
    assert chunk in text
    assert text.index("event: log-end") < text.index("event: end")


@pytest.mark.parametrize(
    ("query", "who", "status"),
    [
        ("", "read", 400),
        ("?repo=acme", "read", 400),
        ("?build=acme/app/x", "read", 400),
        ("?log=abc", "read", 400),
        ("?log=1:x", "read", 400),
        ("?" + "&".join(["repo=acme/app"] * 65), "read", 400),
        ("?repo=acme/app", "none", 401),
        ("?repo=acme/secret", "outsider", 404),
        ("?repo=acme/nothing", "read", 404),
    ],
)
def test_bad_unknown_or_unreadable_topics_are_refused(client, stores, tokens, query, who, status):
    stores.repos.create("acme/secret", private=True)
    resp = client.get("/api/v1/stream" + query, headers=auth(tokens[who]))
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert "error" in resp.get_json()


def test_a_missing_build_is_deleted_and_an_unreadable_log_is_gone(client, stores, tokens):
    secret = stores.repos.create("acme/secret", private=True)
    hidden = seed_build(stores, secret).stages[0].steps[0]
    url = f"/api/v1/stream?build=acme/app/99&log={hidden.id}&log=999999"
    text = client.get(url, headers=auth(tokens["outsider"])).get_data(as_text=True)
    assert 'event: deleted\ndata: {"build_id":0,"repo":"acme/app","number":99}' in text
    assert f'event: log-end\ndata: {{"step":{hidden.id},"gone":true}}' in text
    assert 'event: log-end\ndata: {"step":999999,"gone":true}' in text
    assert text.rstrip().endswith("event: end\ndata: {}")


def test_a_revoked_token_ends_the_stream_with_signed_out(client, stores, repo, tokens, monkeypatch):
    monkeypatch.setattr(stream_api, "KEEPALIVE_SECONDS", 0.2)
    user = stores.users.find("reader")
    token, plain = stores.tokens.create("short-lived", kind="user", user_id=user.id)
    reader = Reader(client, "/api/v1/stream?repo=acme/app", auth(plain))
    try:
        reader.wait_for("ready")
        stores.tokens.revoke(token.id)
        reader.wait_for("signed-out")
        reader.thread.join(10)
        assert not reader.thread.is_alive(), "the stream went on after signed-out"
    finally:
        reader.close()


def test_a_role_taken_away_ends_the_stream_of_that_repository(
    client, stores, repo, tokens, watcher, monkeypatch
):
    # Read access is checked again while the stream lasts, not only when it opens: a reader
    # whose role is taken away gets no more of the repository's builds or logs.
    monkeypatch.setattr(stream_api, "KEEPALIVE_SECONDS", 0.2)
    stores.repos.update(repo.id, private=True)
    build = seed_build(stores, repo)
    url = f"/api/v1/stream?repo=acme/app&build=acme/app/{build.number}"
    reader = Reader(client, url, auth(tokens["read"]))
    try:
        reader.wait_for("ready")
        stores.users.revoke_role(stores.users.find("reader").id, repo.id)
        ended = reader.wait_for("end")
        assert "acme/app" in ended["reason"]
        reader.thread.join(10)
        assert not reader.thread.is_alive(), "the stream went on after its end"
        seen = len(reader.events)
        seed_build(stores, repo)
        time.sleep(1)
        assert len(reader.events) == seen
    finally:
        reader.close()


def test_only_build_stage_and_step_writes_wake_the_watcher_once_per_commit(stores, repo):
    woken = []
    stores.db.on_state_commit(lambda: woken.append(1))
    build = seed_build(stores, repo)
    assert woken, "creating a build is a change"
    woken.clear()
    step = build.stages[0].steps[0]
    stores.steps.update(step.id, status="running")
    assert len(woken) == 1
    woken.clear()
    stores.logs.append(step.id, 0, ["a line"])
    stores.users.create("someone", "password-someone")
    assert woken == []


def test_a_slow_subscriber_keeps_only_the_newest_events_and_knows_it_lost_some():
    hub = ChangeHub(max_events=3)
    sub = hub.subscribe(builds=[7])
    for i in range(10):
        hub.publish({"type": "state", "build_id": 7, "n": i})
    hub.publish({"type": "state", "build_id": 8, "n": 99})
    assert [e["n"] for e in sub.drain()] == [7, 8, 9]
    assert sub.lost
    sub.close()
    assert hub.watched() == (set(), set())


def test_state_changes_name_what_differs():
    old = {
        "status": "running",
        "started": 1,
        "finished": 0,
        "stages": [
            {
                "id": 1,
                "status": "running",
                "why": "",
                "started": 1,
                "finished": 0,
                "steps": [
                    {
                        "id": 5,
                        "status": "running",
                        "exit_code": 0,
                        "error": "",
                        "started": 1,
                        "finished": 0,
                    }
                ],
            }
        ],
    }
    new = json.loads(json.dumps(old))
    new["stages"][0]["steps"][0].update(status="failure", exit_code=2, finished=9)
    assert state_changes(old, new) == [
        {
            "kind": "step",
            "id": 5,
            "status": "failure",
            "exit_code": 2,
            "error": "",
            "started": 1,
            "finished": 9,
        }
    ]
    assert state_changes(new, new) == []


def test_a_write_rereads_only_the_followed_builds_that_can_still_change(app, stores, repo):
    # Following many finished builds must not make every write anywhere cost a read of each:
    # a finished build is read again (was it deleted?) only on the periodic full scan.
    hub = ChangeHub()
    watch = ChangeWatcher(hub, stores, build_state)
    done = seed_build(stores, repo)
    stores.builds.update(done.id, status="success")
    running = seed_build(stores, repo)
    sub = hub.subscribe(builds=[done.id, running.id])
    with app.app_context():
        watch.scan(full=True)
        assert {e["build_id"] for e in sub.drain()} == {done.id, running.id}
        stores.builds.delete(done.id)
        stores.builds.update(running.id, status="running")
        watch.scan(full=False)
        assert [(e["type"], e["build_id"]) for e in sub.drain()] == [("state", running.id)]
        watch.scan(full=True)
        assert [(e["type"], e["build_id"]) for e in sub.drain()] == [("deleted", done.id)]
    sub.close()
