"""The agent side without Docker: log lines batched in order with idempotent resends, bounded
memory, and a claimed stage run through the executor with step updates, logs, cancel and the
final report sent to the server; a payload the agent cannot read ends its stage in error."""

from __future__ import annotations

import threading
import time

from runner.agent.logship import MAX_CHUNK_BYTES, LogShipper
from runner.agent.rpc_client import RpcUnavailable
from runner.agent.runtime import AgentRuntime
from runner.engine.fake import FakeBehaviour, FakeEngine
from runner.errors import PayloadError
from runner.pipeline.payload import BuildRef, RepoRef, StagePayload, StageRef, StepRef
from runner.pipeline.spec import BuildContext, CloneSpec, StageSpec, StepSpec


class Recorder:
    """An upload target that fails the first ``failures`` calls like an unreachable server."""

    def __init__(self, failures: int = 0):
        self.failures = failures
        self.calls: list[tuple[int, int, bytes]] = []
        self.times: list[int] = []  # each call's elapsed ms, in order
        self.lock = threading.Lock()

    def __call__(self, step_id: int, seq: int, data: bytes, elapsed_ms: int) -> None:
        with self.lock:
            self.calls.append((step_id, seq, data))
            self.times.append(elapsed_ms)
            if self.failures:
                self.failures -= 1
                raise RpcUnavailable("server away")

    def stored(self, step_id: int) -> str:
        chunks = {}
        for sid, seq, data in self.calls:
            if sid == step_id:
                chunks[seq] = data  # a resend replaces, as the server's (step, seq) key does
        assert sorted(chunks) == list(range(len(chunks)))
        return b"".join(chunks[s] for s in sorted(chunks)).decode()


def test_lines_arrive_in_order_in_numbered_batches():
    upload = Recorder()
    shipper = LogShipper(upload, max_lines=100)
    first, second = shipper.sink(1), shipper.sink(2)
    for i in range(1000):
        first(f"a{i}")
        if i % 3 == 0:
            second(f"b{i}")
    shipper.close_step(1)
    assert upload.stored(1) == "".join(f"a{i}\n" for i in range(1000))
    shipper.close()
    assert upload.stored(2) == "".join(f"b{i}\n" for i in range(0, 1000, 3))


def test_failed_upload_is_resent_with_the_same_number():
    upload = Recorder(failures=2)
    shipper = LogShipper(upload)
    sink = shipper.sink(7)
    sink("only line")
    shipper.close()
    assert [seq for _sid, seq, _data in upload.calls] == [0, 0, 0]
    assert upload.stored(7) == "only line\n"


def test_chunks_of_long_lines_stay_under_the_servers_body_limit():
    upload = Recorder()
    shipper = LogShipper(upload, interval=5.0)  # every line waits for one batch
    sink = shipper.sink(1)
    lines = [chr(0x4E00 + i) * 65536 for i in range(100)]  # 19 MiB of 64 Ki-character lines
    for line in lines:
        sink(line)
    shipper.close()
    assert len(upload.calls) > 1
    assert all(len(data) <= MAX_CHUNK_BYTES for _sid, _seq, data in upload.calls)
    assert upload.stored(1) == "".join(line + "\n" for line in lines)


def test_writer_waits_when_the_backlog_is_full():
    release = threading.Event()
    delivered = []

    def slow_upload(step_id, seq, data, elapsed_ms):
        release.wait(30)
        delivered.append(data)

    shipper = LogShipper(slow_upload, max_lines=10, backlog_lines=50)
    sink = shipper.sink(1)
    writer = threading.Thread(target=lambda: [sink(str(i)) for i in range(500)])
    writer.start()
    writer.join(1.0)
    assert writer.is_alive(), "the writer should wait while 50 lines are pending"
    release.set()
    writer.join(30)
    shipper.close()
    assert b"".join(delivered).decode().split() == [str(i) for i in range(500)]


class FakeClient:
    """Stands in for RpcClient: one stage to hand out, and a record of every report."""

    def __init__(self, payload, cancel_after_beats: int | None = None):
        self.payload = payload
        self.cancel_after_beats = cancel_after_beats
        self.beats = 0
        self.updates: list[tuple[int, dict]] = []
        self.logs = Recorder()
        self.done: list[tuple[int, str, str]] = []
        self.finished = threading.Event()

    def claim(self, wait, **announce):
        payload, self.payload = self.payload, None
        if payload is None:
            self.finished.wait(wait)
        return payload

    def heartbeat(self, stage_id):
        self.beats += 1
        cancel = self.cancel_after_beats is not None and self.beats >= self.cancel_after_beats
        return {"cancel": cancel, "lost": False}

    def update_step(self, stage_id, step_id, fields):
        self.updates.append((step_id, dict(fields)))

    def upload_logs(self, step_id, seq, data, elapsed_ms):
        self.logs(step_id, seq, data, elapsed_ms)

    def stage_done(self, stage_id, status, error="", *, steps=None):
        for update in steps or []:
            self.updates.append((update["id"], {k: v for k, v in update.items() if k != "id"}))
        self.done.append((stage_id, status, error))
        self.finished.set()


def _payload(*steps: str) -> StagePayload:
    spec = StageSpec(
        name="default",
        clone=CloneSpec(disable=True),
        steps=[StepSpec(name=s, image="img", commands=["true"]) for s in steps],
    )
    refs = [StepRef(id=10 + i, name=s, number=i + 1) for i, s in enumerate(steps)]
    return StagePayload(
        stage=StageRef(id=5, build_id=1, number=1, name="default", steps=refs),
        build=BuildRef(id=1, number=1, event="push"),
        repo=RepoRef(slug="acme/app", clone_url=""),
        context=BuildContext(),
        spec=spec,
        secrets={"0/token": "s3cret"},
    )


def test_a_claimed_stage_is_run_and_reported():
    engine = FakeEngine(
        {
            "build": FakeBehaviour(lines=["compiling", "leaking s3cret"]),
            "test": FakeBehaviour(exit_code=1, lines=["1 failed"]),
        }
    )
    client = FakeClient(_payload("build", "test"))
    runtime = AgentRuntime(client, lambda: engine, name="unit", heartbeat_every=0.05)
    runtime.start()
    assert client.finished.wait(30)
    runtime.stop(timeout=5)
    assert client.done == [(5, "failure", "")]
    assert client.logs.stored(10) == "compiling\nleaking ******\n"
    assert client.logs.stored(11) == "1 failed\n"
    statuses = [(step_id, fields["status"]) for step_id, fields in client.updates]
    assert statuses == [(10, "running"), (10, "success"), (11, "running"), (11, "failure")]
    assert client.updates[-1][1]["exit_code"] == 1


def test_cancel_from_the_heartbeat_kills_the_stage():
    engine = FakeEngine({"forever": FakeBehaviour(block=True, lines=["working"])})
    client = FakeClient(_payload("forever"), cancel_after_beats=2)
    runtime = AgentRuntime(client, lambda: engine, name="unit", heartbeat_every=0.05)
    runtime.start()
    assert client.finished.wait(30)
    runtime.stop(timeout=5)
    assert client.done[0][1] == "killed"
    assert client.updates[-1][1]["status"] == "killed"


class OrderingClient(FakeClient):
    """Notes whether the engine had removed the stage when its end was reported."""

    def __init__(self, payload, engine):
        super().__init__(payload)
        self.engine = engine
        self.destroyed_at_report: bool | None = None

    def stage_done(self, stage_id, status, error="", *, steps=None):
        self.destroyed_at_report = ("destroy", "default") in self.engine.events
        super().stage_done(stage_id, status, error, steps=steps)


def _wait_for_destroy(engine, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while ("destroy", "default") not in engine.events:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_stage_of_plain_steps_is_reported_before_its_containers_are_removed():
    engine = FakeEngine()
    client = OrderingClient(_payload("build"), engine)
    runtime = AgentRuntime(client, lambda: engine, name="unit", heartbeat_every=0.05)
    runtime.start()
    assert client.finished.wait(30)
    assert _wait_for_destroy(engine), "the stage is removed after the report"
    runtime.stop(timeout=5)
    assert client.done == [(5, "success", "")]
    assert client.destroyed_at_report is False


def test_a_stage_with_services_is_reported_after_its_services_stopped_logging():
    payload = _payload("test")
    payload.spec.services = [StepSpec(name="db", image="img", kind="service")]
    engine = FakeEngine()
    client = OrderingClient(payload, engine)
    runtime = AgentRuntime(client, lambda: engine, name="unit", heartbeat_every=0.05)
    runtime.start()
    assert client.finished.wait(30)
    runtime.stop(timeout=5)
    assert client.done == [(5, "success", "")]
    assert client.destroyed_at_report is True


class UnreadableClient(FakeClient):
    """Hands out one stage whose payload does not decode."""

    def claim(self, wait, **announce):
        payload, self.payload = self.payload, None
        if payload is None:
            self.finished.wait(wait)
            return None
        raise decode_error(payload)


def decode_error(raw: bytes) -> PayloadError:
    try:
        StagePayload.from_json(raw)
    except PayloadError as exc:
        return exc
    raise AssertionError("the payload decoded")


def test_a_payload_the_agent_cannot_read_ends_its_stage_in_error_with_the_reason():
    raw = _payload("build").to_json().replace(b'"image":"img"', b'"image":7')
    client = UnreadableClient(raw)
    runtime = AgentRuntime(client, FakeEngine, name="unit", heartbeat_every=0.05)
    runtime.start()
    assert client.finished.wait(30)
    runtime.stop(timeout=5)
    [(stage_id, status, error)] = client.done
    assert (stage_id, status) == (5, "error")
    assert "spec.steps.0.image: Input should be a valid string" in error
