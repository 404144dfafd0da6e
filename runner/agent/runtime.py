"""The agent loop: claim stages from the server and run them on the local engine.

``AgentRuntime.start()`` starts ``capacity`` worker threads. Before each claim a worker asks
``runner.agent.health.EngineHealth`` whether the engine answers (the first time it does, the
leftovers of an earlier interrupted run are removed): an agent whose engine is down takes no
stage, shows the reason on the server, retries with a backoff and recovers on its own. Each
worker long-polls ``claim``; a claimed stage runs through
``runner.agent.executor.Executor`` with a ``LogShipper`` for its logs, a heartbeat thread that
renews the lease and turns the server's "cancel" into the executor's cancel event, and step
updates sent as they happen. A server that cannot be reached is retried with a capped backoff;
work in progress keeps running meanwhile and its reports are resent when the server is back.

The embedded agent of ``runner server`` is this same class talking HTTP to its own server.
"""

from __future__ import annotations

import functools
import json
import logging
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runner import __version__
from runner.agent.health import EngineHealth
from runner.agent.logship import LogShipper
from runner.agent.rpc_client import RpcClient, RpcRefused, RpcUnavailable
from runner.core import ERROR, FAILURE, KILLED, RUNNING
from runner.engine.base import Engine, StepLog
from runner.errors import PayloadError
from runner.pipeline.payload import StagePayload
from runner.pipeline.spec import StepResult
from runner.retry import Backoff, retry

if TYPE_CHECKING:
    from runner.agent.clone import CloneSource

log = logging.getLogger(__name__)

RPC_BACKOFF = Backoff(first=0.2, cap=5.0)  # a step update the server did not take
CLAIM_BACKOFF = Backoff(first=0.2, cap=10.0)  # a claim the server did not answer
HEALTH_POLL = 1.0  # seconds between asking an unhealthy engine's state (it backs off itself)


def _step_sink(shipper: LogShipper, step_id: int) -> StepLog:
    """The executor's per-step log: the shipper's own per-line function (no extra call per
    line), and the ``close`` the executor calls after the step's last line."""
    return StepLog(shipper.sink(step_id), functools.partial(shipper.end_step, step_id))


class _Reporter:
    """Sends a stage's step updates in order from its own thread, so the executor never waits
    on the network; a final status goes out only once the step's last log lines are stored.

    ``finish()`` stops it and hands back the updates not sent yet, which the agent sends with
    the stage's end (one request less at the end of every stage).
    """

    def __init__(
        self, client: RpcClient, stage_id: int, shipper: LogShipper, stop: threading.Event
    ) -> None:
        self._client = client
        self._stage_id = stage_id
        self._shipper = shipper
        self._stop = stop
        self._queue: queue.Queue[tuple[int, dict[str, Any]] | None] = queue.Queue()
        self._finishing = False
        self._rest: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._run, name="step-reporter", daemon=True)
        self._thread.start()

    def put(self, step_id: int, fields: dict[str, Any]) -> None:
        self._queue.put((step_id, fields))

    def finish(self, timeout: float = 300.0) -> list[dict[str, Any]]:
        """Stop; the updates not sent by then (``{"id": step_id, **fields}``, in order), each
        final one only once its step's log lines are stored."""
        self._finishing = True
        self._queue.put(None)
        self._thread.join(timeout)
        return self._rest

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            step_id, fields = item
            if fields["status"] != RUNNING:
                self._shipper.close_step(step_id)
            if self._finishing:
                self._rest.append({"id": step_id, **fields})
                continue
            try:
                _retry(
                    functools.partial(self._client.update_step, self._stage_id, step_id, fields),
                    self._stop,
                    f"update of step {step_id}",
                )
            except (RpcRefused, RpcUnavailable) as exc:
                log.error("step %s update not delivered: %s", step_id, exc)


def _retry(call: Callable[[], Any], stop: threading.Event, what: str) -> Any:
    """Call until the server answers; RpcRefused propagates; gives up only when stopping."""
    return retry(
        call,
        retry_on=RpcUnavailable,
        give_up=lambda delay: stop.is_set() and delay >= RPC_BACKOFF.cap,
        on_retry=lambda exc, delay: log.warning(
            "%s failed, retrying in %.1fs: %s", what, delay, exc
        ),
    )


class AgentRuntime:
    """Runs up to ``capacity`` stages at a time for one agent.

    ``engine_factory()`` returns the engine (a ``DockerEngine`` normally). ``environ`` holds the
    agent's global step variables. ``stop()`` stops claiming and waits for running stages.
    """

    def __init__(
        self,
        client: RpcClient,
        engine_factory: Callable[[], Engine],
        *,
        name: str = "agent",
        capacity: int = 1,
        labels: dict[str, str] | None = None,
        environ: dict[str, str] | None = None,
        poll_wait: float = 30.0,
        heartbeat_every: float = 1.0,  # a cancel rides on the heartbeat: it must land within 2 s
        cache_dir: str = "~/.pipeline-runner/mirrors",
        shutdown: str = "finish",
    ):
        self.shutdown = shutdown  # finish or handback: what a stop does to running stages
        self._handing_back = threading.Event()
        self._cancels: set[threading.Event] = set()
        self.client = client
        self.engine_factory = engine_factory
        self.name = name
        self.capacity = max(1, capacity)
        self.labels = dict(labels or {})
        self.environ = dict(environ or {})
        self.poll_wait = poll_wait
        self.heartbeat_every = heartbeat_every
        self.cache_dir = cache_dir
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._idle = threading.Condition()
        self.health = EngineHealth(
            engine_factory, self._report_health, on_first=self._remove_leftovers
        )

    @property
    def _engine(self) -> Engine:
        """The engine, made by the health check that let the stage be claimed."""
        engine = self.health.engine
        if engine is None:  # a stage is claimed only after the engine answered
            raise RuntimeError("the engine was never reached")
        return engine

    def _report_health(self, reason: str) -> None:
        self.client.report_health(reason)

    def _remove_leftovers(self, engine: Engine) -> None:
        """What an earlier, interrupted run of this agent left on the engine goes first."""
        try:
            engine.cleanup_leftovers(self.name)
        except Exception:
            log.exception("cleanup of earlier leftovers failed")

    def start(self) -> None:
        """Start the worker threads (returns at once; never fails for an engine that is down)."""
        for i in range(self.capacity):
            t = threading.Thread(target=self._work, name=f"agent-{self.name}-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; wait up to ``timeout`` for running stages to finish.

        Workers idle in a long-poll are not waited for (they are daemon threads): a stage
        they might still receive stays leased and is requeued by the server when the lease ends.
        """
        self._stop.set()
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0, timeout)

    def request_stop(self) -> None:
        """Stop claiming new stages (safe from a signal handler).

        With ``shutdown="finish"`` running stages go on to their end; with ``"handback"`` they
        are stopped and handed back to the server, which queues them for another agent.
        """
        if self.shutdown == "handback":
            self._handing_back.set()
            for cancel in list(self._cancels):
                cancel.set()
        self._stop.set()

    def run_forever(self, finish_timeout: float = 3600.0) -> None:
        """``start``, block until ``request_stop``, then let running stages finish."""
        self.start()
        while not self._stop.wait(0.5):
            pass
        self.stop(timeout=finish_timeout)

    def _work(self) -> None:
        delays = CLAIM_BACKOFF.delays()
        while not self._stop.is_set():
            if self.health.check():
                self._stop.wait(HEALTH_POLL)
                continue
            try:
                payload = self.client.claim(
                    self.poll_wait, labels=self.labels, capacity=self.capacity, version=__version__
                )
                delays = CLAIM_BACKOFF.delays()
            except PayloadError as exc:
                self._refuse_payload(exc)
                continue
            except (RpcUnavailable, RpcRefused) as exc:
                delay = next(delays)
                log.warning("claim failed, retrying in %.1fs: %s", delay, exc)
                self._stop.wait(delay)
                continue
            if payload is None:
                continue
            if self._hand_back_if_unhealthy(payload):
                continue
            with self._idle:
                self._busy += 1
            try:
                self.run_stage(payload)
            except Exception:
                log.exception("stage %s crashed the agent worker", payload.stage.id)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    def _refuse_payload(self, exc: PayloadError) -> None:
        """A claimed stage whose payload this agent cannot read ends in error with the reason
        (another agent of the same version could not read it either)."""
        log.error("claimed a stage it cannot read: %s", exc)
        if exc.stage_id is None:
            return
        try:
            self.client.stage_done(exc.stage_id, ERROR, f"agent {self.name}: {exc}")
        except (RpcRefused, RpcUnavailable) as error:
            log.error("could not report stage %s: %s", exc.stage_id, error)

    def _hand_back_if_unhealthy(self, payload: StagePayload) -> bool:
        """The engine may have gone away during the long-poll: a stage it cannot run goes back
        to the queue at once rather than ending in error. True if it was handed back."""
        reason = self.health.check()
        if not reason:
            return False
        stage_id = payload.stage.id
        try:
            self.client.handback(stage_id, f"agent {self.name} cannot run it: {reason}")
        except (RpcRefused, RpcUnavailable) as exc:
            log.error("could not hand back stage %s: %s", stage_id, exc)
        return True

    def run_stage(self, payload: StagePayload) -> str:
        """Run one claimed stage to its end and report it; returns the final status."""
        from runner.agent.executor import Executor

        stage_id = payload.stage.id
        step_ids = payload.step_ids()
        spec = payload.spec
        cancel = threading.Event()
        self._cancels.add(cancel)
        if self._handing_back.is_set():
            cancel.set()
        lost = threading.Event()
        shipper = LogShipper(self.client.upload_logs)
        beat_stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(stage_id, cancel, lost, beat_stop), daemon=True
        )
        beat.start()
        reporter = _Reporter(self.client, stage_id, shipper, self._stop)

        def on_step_update(result: StepResult) -> None:
            step_id = step_ids.get(result.name)
            if step_id is None:
                return
            fields = {
                "status": result.status,
                "exit_code": result.exit_code,
                "started": result.started,
                "finished": result.finished,
                "error": result.error,
            }
            if result.report:  # checked JSON (Executor): what the deploy step reported
                fields["deploy"] = json.loads(result.report)
            reporter.put(step_id, fields)

        def sink_for(step_name: str) -> StepLog:
            step_id = step_ids.get(step_name)
            if step_id is None:
                return StepLog(lambda line: None)
            return _step_sink(shipper, step_id)

        status, error = ERROR, ""
        executor = None
        try:
            executor = Executor(
                self._engine,
                spec,
                secrets=payload.secrets,
                registries=payload.registries,
                withheld=payload.withheld,
                environ={**self.environ, **payload.environ},
                log_sink_factory=sink_for,
                on_step_update=on_step_update,
                cancel=cancel,
                clone_source=self._clone_source(payload),
                progress=payload.build.progress(),
                deploy_report=bool(payload.context.target),
            )
            result = executor.execute()
            status = result.status
            error = result.error or ""
        except Exception as exc:
            log.exception("stage %s failed to run", stage_id)
            status, error = ERROR, f"the agent could not run the stage: {exc}"
        finally:
            # Services and detached steps log until they are removed, so such a stage is
            # reported after its teardown; any other has said everything by its last step's
            # end, and is reported first: the build does not wait for container removal.
            if executor is not None and executor.logs_after_steps:
                executor.teardown()
            last_updates = reporter.finish()
            shipper.close()
            beat_stop.set()
            self._cancels.discard(cancel)
        try:
            return self._report_end(stage_id, status, error, last_updates, cancel, lost)
        finally:
            if executor is not None:
                executor.teardown()

    def _report_end(
        self,
        stage_id: int,
        status: str,
        error: str,
        last_updates: list[dict[str, Any]],
        cancel: threading.Event,
        lost: threading.Event,
    ) -> str:
        """Tell the server how the stage ended, with the step updates not sent yet (or hand
        it back); the status reported."""
        if self._handing_back.is_set() and not lost.is_set():
            reason = f"agent {self.name} stopped and handed it back"
            try:
                _retry(lambda: self.client.handback(stage_id, reason), self._stop, "hand back")
            except (RpcRefused, RpcUnavailable) as exc:
                log.error("could not hand back stage %s: %s", stage_id, exc)
            return "handed back"
        if cancel.is_set() and status in (FAILURE, ERROR):
            status = KILLED
        if lost.is_set():
            log.warning("stage %s was taken back by the server; not reporting it", stage_id)
            return status
        try:
            _retry(
                lambda: self.client.stage_done(stage_id, status, error, steps=last_updates),
                self._stop,
                "stage done",
            )
        except (RpcRefused, RpcUnavailable) as exc:
            log.error("could not report the end of stage %s: %s", stage_id, exc)
        return status

    def _clone_source(self, payload: StagePayload) -> CloneSource | None:
        from runner.agent.clone import CloneSource

        url = payload.repo.clone_url
        if not url:
            return None
        ctx = payload.context
        return CloneSource(
            url, commit=ctx.commit, ref=ctx.ref, branch=ctx.branch, cache_dir=self.cache_dir
        )

    def _heartbeat(
        self, stage_id: int, cancel: threading.Event, lost: threading.Event, stop: threading.Event
    ) -> None:
        while not stop.wait(self.heartbeat_every):
            try:
                answer = self.client.heartbeat(stage_id)
                if answer.get("lost"):
                    lost.set()
                if answer.get("cancel"):
                    cancel.set()
            except RpcRefused as exc:
                log.warning("stage %s is no longer ours, stopping it: %s", stage_id, exc)
                lost.set()
                cancel.set()
            except RpcUnavailable as exc:
                log.warning("heartbeat of stage %s failed: %s", stage_id, exc)
