"""Per-step overhead of runner exec (10 busybox steps, in-process) vs bare docker SDK calls.

``runner exec`` runs in this process (``runner.commands.exec.exec_main``, the same code as the
command, minus the interpreter start) on a pipeline file of 10 steps that each ``echo`` a
line. The floor, measured in the same run, creates, starts, waits for and removes the same 10
containers (same image, shell command, workspace bind mount and no log driver) with the
low-level docker SDK and nothing else.
Runs alternate in pairs, ``REPEAT`` pairs (the order flips each pair); ``ratio`` is the
median of the pairs' exec / floor ratios (target <= 1.10), ``ratio_of_medians`` the ratio of
the median times, ``ratio_of_minimums`` that of the fastest runs (least disturbed by load).

First-log-line latency: a step prints its own clock (``time.time()`` in the container, same
kernel clock as here) and the sink notes when the line arrives; median of ``LATENCY_RUNS``
(target <= 50 ms).

Needs the Docker engine and the local images ``runner-test/busybox`` and
``runner-test/python`` (``scripts/base-images.sh``).
"""

from __future__ import annotations

import io
import os
import statistics
import tempfile
import time
import uuid

from docker.types import Mount

STEPS = 10
REPEAT = 7
LATENCY_RUNS = 5
BUSYBOX = "runner-test/busybox"
PYTHON = "runner-test/python"
LABEL = "pipeline-runner.bench"
RUN = uuid.uuid4().hex[:10]  # this run's label value: only our own leftovers are removed


def _pipeline() -> str:
    steps = "".join(
        f"- name: step{i}\n  image: {BUSYBOX}\n  commands:\n  - echo step {i}\n"
        for i in range(STEPS)
    )
    return f"kind: pipeline\ntype: docker\nname: bench\nclone:\n  disable: true\nsteps:\n{steps}"


def _floor(api, directory: str) -> float:
    """The same containers as the pipeline's (image, shell, working tree bound as the
    workspace, no log driver), with nothing else around them."""
    host_config = api.create_host_config(
        mounts=[Mount("/drone/src", directory, type="bind")],
        log_config={"Type": "none", "Config": {}},  # as the engine's step containers
    )
    started = time.perf_counter()
    for i in range(STEPS):
        cid = api.create_container(
            BUSYBOX,
            command=["/bin/sh", "-c", f"echo step {i}"],
            labels={LABEL: RUN},
            working_dir="/drone/src",
            host_config=host_config,
        )["Id"]
        api.start(cid)
        api.wait(cid)
        api.remove_container(cid, force=True)
    return time.perf_counter() - started


def _exec(directory: str) -> float:
    from runner.commands.exec import exec_main

    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        started = time.perf_counter()
        code = exec_main(out=out, repo="bench/step-overhead")
        took = time.perf_counter() - started
    finally:
        os.chdir(cwd)
    if code != 0 or out.getvalue().count("] step ") != STEPS:
        raise RuntimeError(f"runner exec failed ({code}):\n{out.getvalue()}")
    return took


def _latency(client) -> list[float]:
    from runner.agent.executor import Executor
    from runner.engine.base import StepLog
    from runner.engine.docker import DockerEngine
    from runner.pipeline.spec import StageSpec, StepSpec

    engine = DockerEngine(
        client, agent_name=f"bench-{uuid.uuid4().hex[:8]}", extra_labels={LABEL: RUN}
    )
    delays: list[float] = []
    for _ in range(LATENCY_RUNS):
        arrivals: list[tuple[float, str]] = []
        step = StepSpec(
            "clock",
            PYTHON,
            entrypoint=["python3", "-c"],
            command=["import time; print(repr(time.time()), flush=True); time.sleep(0.3)"],
        )
        stage = StageSpec(name="latency", steps=[step])

        def factory(_name, arrivals=arrivals):
            return StepLog(lambda line: arrivals.append((time.time(), line)))

        Executor(engine, stage, log_sink_factory=factory).run()
        received, printed = arrivals[0]
        delays.append((received - float(printed)) * 1000)
    return delays


def _clean(client) -> None:
    import docker.errors

    for c in client.api.containers(all=True, filters={"label": f"{LABEL}={RUN}"}, quiet=True):
        try:
            client.api.remove_container(c["Id"], force=True)
        except docker.errors.NotFound:
            pass


def run() -> dict:
    import docker

    try:
        client = docker.from_env()
        client.ping()
        for image in (BUSYBOX, PYTHON):
            client.images.get(image)
    except Exception as exc:
        return {
            "scenario": "step-overhead",
            "error": f"needs Docker and the local images (scripts/test-deps.sh): {exc}",
        }
    floors, execs = [], []
    with tempfile.TemporaryDirectory() as directory:
        with open(os.path.join(directory, ".pipeline.yml"), "w") as fh:
            fh.write(_pipeline())
        try:
            _floor(client.api, directory)  # warm-up: image layers and daemon caches
            _exec(directory)
            for rep in range(REPEAT):
                # Alternate which goes first, so a drift in the machine's load hits both.
                if rep % 2:
                    execs.append(_exec(directory))
                    floors.append(_floor(client.api, directory))
                else:
                    floors.append(_floor(client.api, directory))
                    execs.append(_exec(directory))
            delays = _latency(client)
        finally:
            _clean(client)
    floor, ours = statistics.median(floors), statistics.median(execs)
    return {
        "scenario": "step-overhead",
        "mode": "runner exec in-process (exec_main), 10 steps, clone disabled",
        "steps": STEPS,
        "repeat": REPEAT,
        "floor_seconds": round(floor, 3),
        "exec_seconds": round(ours, 3),
        "floor_per_step_ms": round(floor / STEPS * 1000, 1),
        "exec_per_step_ms": round(ours / STEPS * 1000, 1),
        "ratio": round(statistics.median(e / f for e, f in zip(execs, floors, strict=True)), 3),
        "ratio_of_medians": round(ours / floor, 3),
        # Load from other processes only ever adds time: the fastest runs show the engine's
        # own cost best on a busy machine.
        "ratio_of_minimums": round(min(execs) / min(floors), 3),
        "target": 1.10,
        "first_line_latency_ms": round(statistics.median(delays), 1),
        "first_line_latency_max_ms": round(max(delays), 1),
        "latency_target_ms": 50,
    }
