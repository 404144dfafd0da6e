"""The Docker engine under the executor on a real daemon: workspace, services, DAG overlap,
caches, secrets, trust policy, missing images, cancel/timeout cleanup, runs kept apart by run id,
leftovers and the clone."""

from __future__ import annotations

import io
import subprocess
import tarfile
import threading

import pytest

from runner.agent.clone import CloneSource
from runner.agent.executor import Executor
from runner.agent.masking import MASK
from runner.engine.base import StepLog
from runner.engine.cleanup import list_caches, prune_caches
from runner.engine.docker import DockerEngine
from runner.errors import PolicyError
from runner.pipeline.spec import (
    KIND_SERVICE,
    ON_FAILURE,
    Mount,
    SecretRef,
    StageSpec,
    StepSpec,
)
from runner.pipeline.trust import DOCKER_SOCKET

pytestmark = pytest.mark.docker

BUSYBOX = "runner-test/busybox"
PYTHON = "runner-test/python"
# Waits (bounded) until a file exists in the workspace: proves ordering without timing.
WAIT_FOR = "i=0; while [ ! -f {0} ]; do i=$((i+1)); [ $i -lt 300 ] || exit 9; sleep 0.1; done"


class Collect:
    """A thread-safe log_sink_factory: every line per step, and all lines in arrival order."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_step: dict[str, list[str]] = {}
        self.all: list[tuple[str, str]] = []

    def __call__(self, name):
        def sink(line):
            with self.lock:
                self.by_step.setdefault(name, []).append(line)
                self.all.append((name, line))

        return StepLog(sink)


def sh(name, *commands, image=BUSYBOX, **kw) -> StepSpec:
    return StepSpec(name=name, image=image, commands=list(commands), **kw)


def run(engine, *steps, logs=None, **kw):
    executor_kw = {k: kw.pop(k) for k in ("secrets", "cancel", "clone_source") if k in kw}
    stage = StageSpec(name="test", steps=list(steps), **kw)
    result = Executor(engine, stage, log_sink_factory=logs or Collect(), **executor_kw).run()
    return result, {s.name: s.status for s in result.steps}


def test_workspace_passes_files_and_commands_are_echoed(engine, leftovers):
    logs = Collect()
    result, statuses = run(
        engine,
        sh("write", "echo hello > greeting.txt", "echo 'it''s \"quoted\" $HOME'"),
        sh("read", "cat greeting.txt", "pwd"),
        logs=logs,
    )
    assert result.status == "success", result
    assert logs.by_step["write"] == [
        "+ echo hello > greeting.txt",
        "+ echo 'it''s \"quoted\" $HOME'",
        'its "quoted" $HOME',
    ]
    assert logs.by_step["read"] == ["+ cat greeting.txt", "hello", "+ pwd", "/drone/src"]
    assert leftovers() == []


def test_set_e_stops_at_the_first_failing_command(engine):
    logs = Collect()
    result, statuses = run(engine, sh("fail", "false", "echo unreachable"), logs=logs)
    assert result.status == "failure" and result.steps[0].exit_code == 1
    assert logs.by_step["fail"] == ["+ false"]


def test_service_is_reachable_by_name(engine, leftovers):
    service = StepSpec(
        "web",
        PYTHON,
        kind=KIND_SERVICE,
        commands=["echo served > index.html", "python3 -m http.server 8080"],
    )
    probe = sh(
        "probe",
        "for i in $(seq 1 300); do wget -q -O - http://web:8080/index.html && exit 0; "
        "sleep 0.1; done; exit 1",
    )
    logs = Collect()
    stage = StageSpec(name="test", steps=[probe], services=[service])
    result = Executor(engine, stage, log_sink_factory=logs).run()
    assert result.status == "success", result
    assert "served" in logs.by_step["probe"]
    assert leftovers() == []


def test_depends_on_siblings_overlap(engine):
    # Each sibling waits for the other's marker: they can only both pass when running together.
    result, statuses = run(
        engine,
        sh("prepare", "mkdir -p marks"),
        sh("left", "touch marks/left", WAIT_FOR.format("marks/right"), depends_on=["prepare"]),
        sh("right", "touch marks/right", WAIT_FOR.format("marks/left"), depends_on=["prepare"]),
        sh("after", "ls marks", depends_on=["left", "right"]),
    )
    assert statuses == dict.fromkeys(["prepare", "left", "right", "after"], "success")


def test_failure_policy_exit_78_and_ignored_failure(engine):
    result, statuses = run(
        engine,
        sh("flaky", "exit 3", failure_ignored=True),
        sh("build", "exit 1"),
        sh("deploy", "echo deploy"),
        sh("alert", "echo failed", run_policy=ON_FAILURE),
    )
    assert result.status == "failure"
    assert statuses == {
        "flaky": "failure",
        "build": "failure",
        "deploy": "skipped",
        "alert": "success",
    }
    result, statuses = run(engine, sh("gate", "exit 78"), sh("rest", "echo no"))
    assert result.status == "success"
    assert statuses == {"gate": "success", "rest": "skipped"}


def test_cache_volume_survives_between_runs(docker_client, engine, run_id):
    repo = f"test/cache-{run_id}"
    cache = [Mount(kind="cache", source="deps", target="/cache")]
    first, _ = run(engine, sh("fill", "echo run1 > /cache/data", mounts=cache), repo=repo)
    logs = Collect()
    second, _ = run(engine, sh("use", "cat /cache/data", mounts=cache), repo=repo, logs=logs)
    assert first.status == second.status == "success"
    assert logs.by_step["use"][-1] == "run1"
    caches = list_caches(docker_client, repo)
    assert [(c.repo, c.key) for c in caches] == [(repo, "deps")]
    assert prune_caches(docker_client, repo) == [caches[0].name]
    assert list_caches(docker_client, repo) == []


def test_secrets_are_masked_in_the_log(engine):
    logs = Collect()
    step = sh(
        "leak",
        'echo "token=$TOKEN"',
        'printf "%s\\n" "$KEY"',
        secrets=[SecretRef("TOKEN", "token"), SecretRef("KEY", "key")],
    )
    result, _ = run(
        engine, step, logs=logs, secrets={"token": "hunter2-s3cret", "key": "line-one\nline-two"}
    )
    assert result.status == "success"
    text = "\n".join(logs.by_step["leak"])
    assert "hunter2" not in text and "line-one" not in text and "line-two" not in text
    assert f"token={MASK}" in logs.by_step["leak"] and logs.by_step["leak"][-2:] == [MASK, MASK]


def test_docker_socket_is_refused_untrusted_and_works_trusted(
    docker_client, engine, run_id, agent_name, leftovers
):
    mounts = [
        Mount(kind="host", source="/var/run/docker.sock", target="/var/run/docker.sock"),
        Mount(kind="host", source="/usr/local/bin/docker", target="/bin/docker", read_only=True),
    ]
    step = sh("engine", "docker version --format '{{.Server.Version}}'", mounts=mounts)
    result, statuses = run(engine, sh("first", "echo must not run"), step)
    assert result.status == "error"
    assert "docker.sock" in result.error and "trusted" in result.error
    assert statuses == {"first": "skipped", "engine": "skipped"}
    assert leftovers() == []
    logs = Collect()
    result, statuses = run(engine, step, logs=logs, trusted=True)
    assert result.status == "success", result
    server = docker_client.version()["Version"]
    assert logs.by_step["engine"][-1] == server


def test_allow_listed_image_gets_host_paths_only_as_shipped(docker_client, agent_name, run_id):
    # drone-runner-docker does the same: its compiler's isPrivileged (engine/compiler/
    # compiler.go) drops the privilege of an allow-listed image whose step sets commands,
    # command, entrypoint or volumes.
    engine = DockerEngine(
        docker_client,
        agent_name=agent_name,
        privileged_images=[BUSYBOX],
        extra_labels={"pipeline-runner.test": run_id},
    )
    socket = [Mount(kind="host", source=DOCKER_SOCKET, target=DOCKER_SOCKET)]
    shipped = StageSpec(name="s", steps=[StepSpec("plugin", BUSYBOX, mounts=socket)])
    engine.check_policy(shipped)
    # The agent holds a fork's stage to the same rule as the server did.
    shipped.trust = "fork"
    with pytest.raises(PolicyError, match="from a fork"):
        engine.check_policy(shipped)
    shipped.fork_privileged = True
    engine.check_policy(shipped)
    root = [Mount(kind="host", source="/", target="/host")]
    for step in (
        sh("script", "touch /host/tmp/escaped", mounts=socket),
        StepSpec("plugin", BUSYBOX, mounts=[*socket, *root]),
        StepSpec("plugin", BUSYBOX, entrypoint=["sh", "-c"], command=["id"], mounts=socket),
    ):
        result, statuses = run(engine, step)
        assert result.status == "error" and "only as shipped" in result.error, result
        assert statuses[step.name] != "success"
    result, _ = run(engine, sh("other", "true", image=PYTHON, privileged=True))
    assert result.status == "error"
    assert 'step "other" (runner-test/python) asks for privileged mode' in result.error


def test_missing_image_and_image_without_shell_are_step_errors(docker_client, engine, run_id):
    result, statuses = run(engine, sh("ghost", "true", image=f"runner-test/missing-{run_id}"))
    assert statuses == {"ghost": "error"}
    assert "cannot be pulled" in result.steps[0].error
    image = _image_without_shell(docker_client, run_id)
    try:
        result, statuses = run(engine, sh("noshell", "echo hi", image=image))
    finally:
        docker_client.images.remove(image, force=True)
    assert statuses == {"noshell": "error"}
    assert "has no /bin/sh" in result.steps[0].error


def _image_without_shell(client, run_id) -> str:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    name = f"runner-test/noshell-{run_id}"
    client.api.import_image_from_data(data.getvalue(), repository=name, tag="latest")
    return name


def test_cancel_stops_the_step_and_leaves_nothing(engine, leftovers):
    cancel = threading.Event()
    logs = Collect()

    def sink_factory(name):
        inner = logs(name)

        def sink(line):
            inner.write(line)
            if line == "started":
                cancel.set()

        return StepLog(sink)

    service = StepSpec("svc", BUSYBOX, kind=KIND_SERVICE, commands=["sleep 300"])
    stage = StageSpec(
        name="test",
        services=[service],
        steps=[sh("long", "echo started", "sleep 300"), sh("next", "true")],
    )
    result = Executor(engine, stage, log_sink_factory=sink_factory, cancel=cancel).run()
    assert result.status == "killed"
    assert {s.name: s.status for s in result.steps} == {
        "svc": "success",
        "long": "killed",
        "next": "skipped",
    }
    assert leftovers() == []


def test_timeouts_kill_and_leave_nothing(engine, leftovers):
    result, statuses = run(engine, sh("hang", "sleep 300", timeout=1), sh("after", "true"))
    assert result.status == "failure"
    assert statuses == {"hang": "killed", "after": "skipped"}
    result, statuses = run(engine, sh("hang", "sleep 300"), timeout=1)
    assert result.status == "killed" and "timed out" in result.error
    assert leftovers() == []


def test_two_runs_of_one_stage_are_kept_apart_by_their_run_ids(engine, leftovers):
    step = sh("say", "echo hello")
    stage = StageSpec(name="same", steps=[step])
    first, second = engine.setup(stage), engine.setup(stage)
    assert first != second
    engine.destroy(first)
    lines: list[str] = []
    result = engine.run_step(second, step, {}, lines.append)
    assert result.status == "success" and lines == ["+ echo hello", "hello"]
    engine.destroy(second)
    assert leftovers() == []


def test_cleanup_leftovers_removes_an_interrupted_run(docker_client, agent_name, run_id, leftovers):
    crashed = DockerEngine(
        docker_client, agent_name=agent_name, extra_labels={"pipeline-runner.test": run_id}
    )
    service = StepSpec("svc", BUSYBOX, kind=KIND_SERVICE, commands=["sleep 300"])
    stage = StageSpec(name="test", temp_volumes=["scratch"], services=[service])
    run = crashed.setup(stage)
    assert crashed.run_step(run, service, {}, lambda line: None).status == "running"
    assert len(leftovers()) == 4  # container, network, workspace and temp volumes
    restarted = DockerEngine(docker_client, agent_name=agent_name)
    restarted.cleanup_leftovers()
    assert leftovers() == []
    crashed.destroy(run)  # safe after everything is gone, and twice
    crashed.destroy(run)


def test_detached_step_is_reachable_and_pull_always_falls_back_to_local(engine, leftovers):
    logs = Collect()
    server = sh(
        "server",
        "mkdir -p /www && echo detached-ok > /www/index.html",
        "python3 -m http.server 8000 --directory /www",
        image=PYTHON,
        detach=True,
    )
    client = sh(
        "client",
        "for i in $(seq 1 300); do wget -q -O - http://server:8000/ && exit 0; sleep 0.1; done;"
        " exit 1",
        pull="always",
    )
    result, statuses = run(engine, server, client, logs=logs)
    assert statuses == {"server": "success", "client": "success"}, result
    assert "detached-ok" in logs.by_step["client"]
    assert any("using the local image" in line for line in logs.by_step["client"])
    assert leftovers() == []


def test_clone_files_are_in_the_workspace_of_parallel_first_steps(engine, leftovers, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "hello.txt").write_text("from the repository\n")
    git = ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=work, check=True)
    subprocess.run([*git, "add", "."], cwd=work, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], cwd=work, check=True)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=work, check=True, capture_output=True, text=True
    ).stdout.strip()
    source = CloneSource(work.as_uri(), commit=sha, cache_dir=str(tmp_path / "mirrors"))
    logs = Collect()
    # Two steps start at once after the clone: each must find the files already there.
    result, statuses = run(
        engine,
        sh("left", "cat hello.txt", depends_on=["clone"]),
        sh("right", "cat hello.txt", depends_on=["clone"]),
        logs=logs,
        clone_source=source,
    )
    assert statuses == {"clone": "success", "left": "success", "right": "success"}, result
    assert "from the repository" in logs.by_step["left"]
    assert "from the repository" in logs.by_step["right"]
    assert leftovers() == []


def test_clone_without_any_container_leaves_nothing(engine, leftovers, tmp_path):
    source_dir = tmp_path / "src"
    source_dir.mkdir()
    (source_dir / "a.txt").write_text("a\n")
    stage = StageSpec(name="test", steps=[sh("never", "true", run_policy=ON_FAILURE)])
    run = engine.setup(stage)
    engine.copy_to_workspace(run, str(source_dir))
    engine.destroy(run)
    engine.destroy(run)
    assert leftovers() == []
