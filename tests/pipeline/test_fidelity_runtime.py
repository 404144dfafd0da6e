"""Runtime fidelity: the build-state variables a step sees are those of the moment it starts,
the links point where Drone and Woodpecker point them, ``depends_on`` goes through stages the
Docker engine cannot run, and Drone's privileged plugins run privileged as shipped.

Each golden test compiles a small file of ``tests/pipeline/fidelity/runtime/`` with
``load_pipeline`` and asserts the fields its item is about; where the item changes what runs,
a real run (``runner exec``, a real server with its agent, or the Docker engine) proves it.
The original each expectation comes from is cited in the test's docstring.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from runner.agent.executor import Executor
from runner.engine.docker import DockerEngine
from runner.engine.labels import LABEL_STEP
from runner.pipeline.config import load_pipeline
from runner.pipeline.environ import build_environment
from runner.pipeline.runtime_env import BuildProgress, StepOutcome, runtime_variables
from runner.pipeline.spec import BuildContext, StageSpec
from runner.pipeline.trust import DEFAULT_PRIVILEGED_IMAGES, FORK
from runner.settings import Settings
from runner.testing import TEST_LABEL, LocalRepo, ServerProcess, github_push

FILES = Path(__file__).parent / "fidelity" / "runtime"
CTX = BuildContext(
    repo="acme/app",
    event="push",
    branch="main",
    ref="refs/heads/main",
    commit="5d2f8c1a9b3e4d6f7a8b9c0d1e2f3a4b5c6d7e8f",
    remote_url="https://git.example.com/acme/app.git",
    link="https://git.example.com/acme/app/compare/0a1b2c3d...5d2f8c1a",
    build_number=42,
    server_url="https://ci.example.com",
    created=1700000000,
)
STATUS_VARIABLES = (
    "DRONE_BUILD_STATUS",
    "DRONE_STAGE_STATUS",
    "DRONE_FAILED_STEPS",
    "DRONE_FAILED_STAGES",
    "CI_PIPELINE_STATUS",
    "CI_STEP_STATUS",
)


def compile_file(name: str, ctx: BuildContext = CTX, **kwargs: Any):
    """The compiled build of fidelity file ``name``, as a ``.drone.yml``."""
    return load_pipeline({".drone.yml": (FILES / name).read_text(encoding="utf-8")}, ctx, **kwargs)


def step_of(build, stage: str, step: str):
    spec = next(s for s in build.stages if s.name == stage)
    return next(s for s in [*spec.steps, *spec.services] if s.name == step)


def exec_run(project: Path, run_id: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``runner exec`` in ``project``, every resource labelled for this test."""
    return subprocess.run(
        [sys.executable, "-m", "runner", "exec", *args],
        cwd=project,
        env={
            **os.environ,
            "RUNNER_EXEC_LABELS": f"{TEST_LABEL}={run_id}",
            "RUNNER_DATA_DIR": str(tmp_path / "data"),
            "NO_COLOR": "1",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )


def exec_lines(output: str, step: str) -> list[str]:
    """What ``step`` printed under ``runner exec``, without the echo of its commands."""
    out = []
    for line in output.splitlines():
        if line.startswith(f"[{step} ") and "] " in line:
            text = line.split("] ", 1)[1]
            if not text.startswith("+ "):
                out.append(text)
    return out


def status_lines(lines: list[str]) -> dict[str, str]:
    """The ``NAME=value`` lines of the status variables among ``lines``."""
    pairs = (line.split("=", 1) for line in lines if "=" in line)
    return {name: value for name, value in pairs if name in STATUS_VARIABLES}


# 1. Runtime variables are runtime -------------------------------------------------------------


def test_runtime_variables_say_how_the_build_goes_when_the_step_starts():
    """drone/runner-go environ/environ.go (``Build``, ``Stage``, ``isStageFailing``,
    ``failedSteps``, ``failedStages``): a failed, errored or killed step fails the stage, one
    with ``failure: ignore`` does not; a failing stage of the build (this one or another)
    makes ``DRONE_BUILD_STATUS`` failure and is named in ``DRONE_FAILED_STAGES``; ``*_FINISHED``
    is "now". Woodpecker agent/tracer.go (``createTracer``): ``CI_PIPELINE_STATUS`` and
    ``CI_STEP_STATUS`` follow the workflow's own state, not other workflows'."""
    clean = runtime_variables(
        stage="test",
        stage_started=1000,
        ended=[StepOutcome("clone", "success"), StepOutcome("lint", "failure", True)],
        progress=BuildProgress(started=990, stages={"test": "running"}),
        now=1005,
    )
    assert clean["DRONE_BUILD_STATUS"] == clean["DRONE_STAGE_STATUS"] == "success"
    assert clean["CI_PIPELINE_STATUS"] == clean["CI_STEP_STATUS"] == "success"
    assert "DRONE_FAILED_STEPS" not in clean and "DRONE_FAILED_STAGES" not in clean
    assert clean["DRONE_BUILD_STARTED"] == "990" and clean["DRONE_STAGE_STARTED"] == "1000"
    assert clean["DRONE_BUILD_FINISHED"] == clean["CI_PIPELINE_FINISHED"] == "1005"

    failing = runtime_variables(
        stage="test",
        stage_started=1000,
        ended=[StepOutcome("build", "failure"), StepOutcome("push", "killed")],
        progress=BuildProgress(started=990, stages={"docs": "error", "test": "running"}),
        now=1010,
    )
    assert failing["DRONE_BUILD_STATUS"] == failing["DRONE_STAGE_STATUS"] == "failure"
    assert failing["DRONE_FAILED_STEPS"] == "build,push"
    assert failing["DRONE_FAILED_STAGES"] == "docs,test"
    assert failing["CI_PIPELINE_STATUS"] == failing["CI_STEP_STATUS"] == "failure"

    after_other_stage = runtime_variables(
        stage="notify",
        stage_started=1020,
        ended=[],
        progress=BuildProgress(started=990, stages={"test": "failure", "notify": "running"}),
        now=1021,
    )
    assert after_other_stage["DRONE_BUILD_STATUS"] == "failure"
    assert after_other_stage["DRONE_FAILED_STAGES"] == "test"
    assert after_other_stage["DRONE_STAGE_STATUS"] == "success"
    assert after_other_stage["CI_PIPELINE_STATUS"] == "success"  # Woodpecker: the workflow's


def test_compiled_plan_holds_success_until_the_step_starts():
    """The compiled environment is the plan before anything ran (drone-runner-docker
    engine/compiler/compiler.go ``Compile`` puts ``environ.Build`` of the pending build in
    every step); the executor replaces the status variables when each step starts."""
    build = compile_file("status_after_failure.yml")
    report = step_of(build, "first", "report")
    assert report.run_policy == "on-failure"
    assert report.environment["DRONE_BUILD_STATUS"] == "frozen-by-the-file"
    announce = step_of(build, "notify", "announce")
    assert announce.environment["DRONE_BUILD_STATUS"] == "success"
    assert next(s for s in build.stages if s.name == "notify").run_policy == "on-failure"


@pytest.mark.docker
def test_exec_notification_after_a_failure_announces_the_failure(docker_client, run_id, tmp_path):
    """A real ``runner exec`` run of status_after_failure.yml: before the failure a step sees
    success; the ``when: status: [failure]`` step after it sees failure and the failed step's
    name, over its own ``environment`` (drone/runner-go pipeline/runtime/execer.go
    ``Execer.exec`` combines the state's variables last); the stage that runs on the first
    stage's failure sees the build failing, the failed stage, and its own stage succeeding."""
    project = tmp_path / "project"
    project.mkdir()
    (project / ".drone.yml").write_text((FILES / "status_after_failure.yml").read_text())
    result = exec_run(project, run_id, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert status_lines(exec_lines(result.stdout, "before")) == {
        "DRONE_BUILD_STATUS": "success",
        "DRONE_STAGE_STATUS": "success",
        "CI_PIPELINE_STATUS": "success",
        "CI_STEP_STATUS": "success",
    }, output
    assert status_lines(exec_lines(result.stdout, "report")) == {
        "DRONE_BUILD_STATUS": "failure",
        "DRONE_STAGE_STATUS": "failure",
        "DRONE_FAILED_STEPS": "build",
        "DRONE_FAILED_STAGES": "first",
        "CI_PIPELINE_STATUS": "failure",
        "CI_STEP_STATUS": "failure",
    }, output
    assert status_lines(exec_lines(result.stdout, "announce")) == {
        "DRONE_BUILD_STATUS": "failure",
        "DRONE_STAGE_STATUS": "success",
        "DRONE_FAILED_STAGES": "first",
        "CI_PIPELINE_STATUS": "success",
        "CI_STEP_STATUS": "success",
    }, output


@pytest.mark.docker
def test_server_agent_gives_a_later_stage_the_builds_failure(docker_client, run_id, tmp_path):
    """The same file through a real server and its embedded agent: the claim carries the
    build's stage statuses (drone-runner-docker's runner reads the build's stages with the
    stage it runs, ``environ.Build`` judges them), so the stage that runs on ``first``'s
    failure announces the build's failure and names ``first``."""
    server = ServerProcess(tmp_path / "data", engine_labels=f"{TEST_LABEL}={run_id}").start()
    try:
        token = server.token("admin")
        forge = LocalRepo(tmp_path / "git")
        slug = f"acme/runtime-{uuid.uuid4().hex[:8]}"
        resp = server.api(
            "POST",
            "/repos",
            token,
            json={"slug": slug, "forge": "github", "clone_url": forge.clone_url},
        )
        assert resp.status_code == 201, resp.text
        secret = resp.json()["webhook_secret"]
        sha = forge.commit({".drone.yml": (FILES / "status_after_failure.yml").read_text()}, "go")
        resp = server.post_hook(slug, *github_push(slug, forge, sha, secret))
        assert resp.status_code == 201, resp.text
        number = resp.json()["build"]["number"]
        build = server.wait_build(slug, number, token)
        assert build["status"] == "failure", build
        logs = {name: _log(server, slug, token, build, name) for name in ("report", "announce")}
        link = dict(line.split("=", 1) for line in logs["announce"] if "=" in line)
        page = _web_page(server, link["DRONE_BUILD_LINK"])
    finally:
        server.stop()
    # DRONE_BUILD_LINK is the build's page of the web UI, on this server.
    assert link["DRONE_BUILD_LINK"] == f"{server.url}/repos/{slug}/{number}"
    assert link["CI_PIPELINE_URL"] == link["DRONE_BUILD_LINK"]
    assert page.status_code == 200 and f"#{number}" in page.text, page.status_code
    assert status_lines(logs["report"])["DRONE_FAILED_STEPS"] == "build", logs
    assert status_lines(logs["announce"]) == {
        "DRONE_BUILD_STATUS": "failure",
        "DRONE_STAGE_STATUS": "success",
        "DRONE_FAILED_STAGES": "first",
        "CI_PIPELINE_STATUS": "success",
        "CI_STEP_STATUS": "success",
    }, logs


def _web_page(server: ServerProcess, url: str) -> Any:
    """``url`` of the web UI fetched as the admin, logged in through the login form."""
    session = requests.Session()
    form = session.get(f"{server.url}/login", timeout=30).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    data = {"login": "admin", "password": server.admin_password}
    if csrf:
        data["csrf_token"] = csrf.group(1)
    session.post(f"{server.url}/login", data=data, timeout=30)
    return session.get(url, timeout=30)


def _log(server: ServerProcess, slug: str, token: str, build: dict, step_name: str) -> list[str]:
    for stage in build["stages"]:
        for step in stage["steps"]:
            if step["name"] == step_name:
                path = f"/repos/{slug}/builds/{build['number']}/logs/{stage['number']}"
                resp = server.api("GET", f"{path}/{step['number']}", token)
                assert resp.status_code == 200, resp.text
                return [line for line in resp.text.splitlines() if not line.startswith("+ ")]
    raise AssertionError(f"no step {step_name} in {build}")


# 2. Links -------------------------------------------------------------------------------------


def test_links_point_at_the_build_page_and_the_repository_page():
    """drone/runner-go environ/environ.go: ``Link`` makes ``DRONE_BUILD_LINK`` the build's page
    on the server (here the web UI's ``/repos/<owner>/<name>/<number>``), ``Repo`` makes
    ``DRONE_REPO_LINK`` the repository's page (``repo.Link``), ``Build`` makes
    ``DRONE_COMMIT_LINK`` the event's link. Woodpecker pipeline/frontend/metadata/
    environment.go: ``CI_PIPELINE_URL`` is the pipeline's web page (``getPipelineWebURL``),
    ``CI_REPO_URL`` the forge's repository page (``repo.ForgeURL``), ``CI_PIPELINE_FORGE_URL``
    the event's link, ``CI_FORGE_URL`` the forge."""
    env = step_of(compile_file("links.yml"), "default", "notify").environment
    assert env["DRONE_BUILD_LINK"] == env["CI_PIPELINE_URL"]
    assert env["DRONE_BUILD_LINK"] == "https://ci.example.com/repos/acme/app/42"
    assert env["DRONE_REPO_LINK"] == env["CI_REPO_URL"] == "https://git.example.com/acme/app"
    assert env["DRONE_COMMIT_LINK"] == env["CI_PIPELINE_FORGE_URL"] == CTX.link
    assert env["CI_FORGE_URL"] == "https://git.example.com"
    ssh = BuildContext(remote_url="git@github.com:acme/app.git")
    assert build_environment(ssh)["DRONE_REPO_LINK"] == "https://github.com/acme/app"


def test_exec_has_no_build_page():
    """``runner exec`` has no server, so the build has no page: the links to it are empty
    rather than naming a page nobody serves."""
    from runner.commands.exec_context import context_from_git

    env = build_environment(context_from_git(Path(__file__).parent))
    assert env["DRONE_BUILD_LINK"] == env["CI_PIPELINE_URL"] == ""


# 3. depends_on through stages the Docker engine cannot run -----------------------------------


def test_depends_on_goes_through_unrunnable_stages_transitively():
    """drone/drone operator/manager/teardown.go (``scheduleDownstream``, ``areDepsComplete``):
    a stage starts once the stages it names have ended, whichever runner runs them; the
    kubernetes stage ``smoke`` waits for the exec stage ``publish``, which waits for
    ``build``, so ``deploy`` (after ``smoke``) never starts before ``build`` has ended. Here
    ``smoke`` and ``publish`` are left out, and ``deploy`` keeps their dependencies; ``lint``,
    after an ssh stage with none, waits for nothing."""
    build = compile_file("depends_through_unrunnable.yml")
    assert build.unsupported == ["smoke", "publish", "docs"]
    assert {s.name: s.depends_on for s in build.stages} == {
        "deploy": ["build"],
        "build": [],
        "lint": [],
    }


def test_woodpecker_workflow_after_a_local_backend_one_is_kept_and_waits_for_its_dependency():
    """Woodpecker leaves out only the workflows whose dependencies do not run at all
    (its stepbuilder's ``filterItemsWithMissingDependencies``); a
    workflow on the local backend runs on its own agents there, so ``release`` (after
    ``sign``, local) is kept and waits for ``build``, which ``sign`` waits for."""
    folder = FILES / "woodpecker_local"
    files = {f".woodpecker/{p.name}": p.read_text() for p in sorted(folder.glob("*.yml"))}
    build = load_pipeline(files, CTX)
    assert build.unsupported == ["sign"] and build.skipped == []
    assert {s.name: s.depends_on for s in build.stages} == {"build": [], "release": ["build"]}


@pytest.mark.docker
def test_exec_runs_the_stage_after_its_dependency_through_an_unrunnable_one(
    docker_client, run_id, tmp_path
):
    """A real ``runner exec`` run: ``deploy`` comes first in the file, yet runs after
    ``build`` (whose file it reads), through the two stages it cannot run."""
    project = tmp_path / "project"
    project.mkdir()
    (project / ".drone.yml").write_text((FILES / "depends_through_unrunnable.yml").read_text())
    result = exec_run(project, run_id, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    order = [line for line in result.stdout.splitlines() if line.startswith("--- stage ")]
    assert order.index("--- stage build") < order.index("--- stage deploy"), output
    assert exec_lines(result.stdout, "deploy") == ["deploy-after-build"], output


# 4. Drone's privileged plugins ---------------------------------------------------------------


def test_drones_privileged_plugins_are_the_default_list():
    """drone-runner-docker engine/compiler/compiler.go ``Privileged``: plugins/docker, acr,
    ecr, gcr and heroku; this project's docker plugin is on the agents' list too."""
    assert Settings().agent_privileged_images == list(DEFAULT_PRIVILEGED_IMAGES)
    for image in ("plugins/docker", "plugins/acr", "plugins/ecr", "plugins/gcr"):
        assert image in DEFAULT_PRIVILEGED_IMAGES
    assert {"plugins/heroku", "pipeline-runner/docker"} <= set(DEFAULT_PRIVILEGED_IMAGES)


def test_privileged_plugins_run_privileged_as_shipped_only():
    """drone-runner-docker engine/compiler/compiler.go (``Compile``, ``isPrivileged``): a step
    (not a service) of an image of the list, under any tag or registry spelling
    (internal/docker/image ``Match``), is privileged unless it sets commands, command,
    entrypoint or volumes. This project's own docker plugin, under its own names and under
    ``plugins/docker`` (which ``runner plugin build`` tags it with), uses the socket instead
    and is not made privileged; an image off the list is not either."""
    build = compile_file("privileged_plugins.yml", privileged_images=DEFAULT_PRIVILEGED_IMAGES)
    privileged = {s.name: s.privileged for s in [*build.stages[0].steps, *build.stages[0].services]}
    assert privileged == {
        "clone": False,
        "docker": False,
        "ecr": True,
        "gcr": True,
        "acr": True,
        "heroku": True,
        "heroku-script": False,
        "acr-with-volume": False,
        "own-docker-plugin": False,
        "slack": False,
        "dind": False,
    }
    assert step_of(build, "default", "ecr").needs_trust == ["privileged mode"]
    assert step_of(build, "default", "docker").needs_trust == [
        "the Docker socket /var/run/docker.sock"
    ]
    assert not any(s.privileged for s in compile_file("privileged_plugins.yml").stages[0].steps)


def test_a_forks_build_gets_privileged_plugins_only_with_fork_privileged():
    """Within this project's trust rules (runner/pipeline/trust.py): a pull request from a fork
    gets no privilege without the repository's ``fork_privileged`` (its step runs unprivileged,
    not refused: it asked for nothing), and gets Drone's treatment with it."""
    fork = BuildContext(**{**CTX.__dict__, "event": "pull_request", "fork": True})
    plain = compile_file(
        "privileged_plugins.yml", fork, privileged_images=DEFAULT_PRIVILEGED_IMAGES
    )
    assert plain.stages[0].trust == FORK
    assert not any(s.privileged for s in plain.stages[0].steps)
    allowed = compile_file(
        "privileged_plugins.yml",
        fork,
        privileged_images=DEFAULT_PRIVILEGED_IMAGES,
        fork_privileged=True,
    )
    assert step_of(allowed, "default", "ecr").privileged


def _listed_plugin(docker_client: Any, run_id: str, program: str) -> str:
    """A local image under a name of Drone's privileged list (``plugins/heroku``, a tag of this
    test's own): busybox whose own command is ``program``."""
    container = docker_client.containers.create(
        "runner-test/busybox", "true", labels={TEST_LABEL: run_id}
    )
    try:
        container.commit(
            repository="plugins/heroku",
            tag=f"fidelity-{run_id}",
            changes=[f"CMD {json.dumps(['sh', '-c', program])}"],
        )
    finally:
        container.remove(force=True)
    return f"plugins/heroku:fidelity-{run_id}"


class _InspectingEngine(DockerEngine):
    """The Docker engine, noting whether each container it created is privileged (read back
    from the engine: privileged containers cannot start on the test machines' engine)."""

    privileged: dict[str, bool]

    def _create(self, state, step, env, log):  # type: ignore[no-untyped-def]
        cid = super()._create(state, step, env, log)
        attrs = self.api.inspect_container(cid)
        self.privileged[attrs["Config"]["Labels"][LABEL_STEP]] = attrs["HostConfig"]["Privileged"]
        return cid


@pytest.mark.docker
def test_engine_creates_the_plugin_as_shipped_privileged(docker_client, run_id):
    """What Docker is asked for: the compiled stage of a listed image (a local image tagged
    ``plugins/heroku:<run>``, matched by name under any tag) creates the step that runs it as
    shipped privileged and the one with commands not, with the agent's default list."""
    image = _listed_plugin(docker_client, run_id, "echo as-shipped")
    text = f"""\
kind: pipeline
type: docker
name: default
clone: {{disable: true}}
steps:
- name: script
  image: {image}
  commands: [echo unprivileged]
- name: shipped
  image: {image}
"""
    try:
        build = load_pipeline(
            {".drone.yml": text}, CTX, privileged_images=DEFAULT_PRIVILEGED_IMAGES
        )
        stage: StageSpec = build.stages[0]
        engine = _InspectingEngine(
            docker_client,
            agent_name=f"test-{run_id}",
            privileged_images=list(DEFAULT_PRIVILEGED_IMAGES),
            extra_labels={TEST_LABEL: run_id},
        )
        engine.privileged = {}
        result = Executor(engine, stage).run()
    finally:
        docker_client.images.remove(image)
    assert engine.privileged == {"script": False, "shipped": True}, (result, engine.privileged)
    assert {s.name: s.status for s in result.steps}["script"] == "success"


@pytest.mark.docker
def test_runner_exec_allows_drones_privileged_plugins_by_default(docker_client, run_id, tmp_path):
    """drone exec's ``--privileged`` flag defaults to Drone's privileged plugins
    (drone-runner-docker command/exec.go); ``runner exec`` allows them without any
    ``--privileged-image``: a listed plugin as shipped gets the Docker socket it mounts, and
    the same step with commands is refused."""
    probe = "if test -S /var/run/docker.sock; then echo socket-ok; else echo socket-missing; fi"
    image = _listed_plugin(docker_client, run_id, probe)
    pipeline = f"""\
kind: pipeline
type: docker
name: default
clone: {{disable: true}}
steps:
- name: deploy
  image: {image}
  volumes:
  - {{name: sock, path: /var/run/docker.sock}}
volumes:
- {{name: sock, host: {{path: /var/run/docker.sock}}}}
"""
    project = tmp_path / "project"
    project.mkdir()
    try:
        (project / ".drone.yml").write_text(pipeline)
        shipped = exec_run(project, run_id, tmp_path)
        (project / ".drone.yml").write_text(
            pipeline.replace("  volumes:\n  - {", "  commands: [id]\n  volumes:\n  - {", 1)
        )
        scripted = exec_run(project, run_id, tmp_path)
    finally:
        docker_client.images.remove(image)
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    assert exec_lines(shipped.stdout, "deploy") == ["socket-ok"], shipped.stdout
    assert scripted.returncode == 2 and "only as shipped" in scripted.stderr, scripted.stderr


def test_drone_stage_depends_on_names_the_stages_the_stage_waits_for():
    """drone/runner-go environ/environ.go (``Stage``): ``DRONE_STAGE_DEPENDS_ON`` is the
    stage's ``depends_on`` joined with commas, in every step of the stage."""
    text = """\
kind: pipeline
name: build
steps:
- name: b
  image: alpine
  commands: [true]
---
kind: pipeline
name: test
steps:
- name: t
  image: alpine
  commands: [true]
---
kind: pipeline
name: deploy
depends_on: [build, test]
steps:
- name: d
  image: alpine
  commands: [true]
"""
    build = load_pipeline({".drone.yml": text}, CTX)
    env = {s.name: s.steps[-1].environment["DRONE_STAGE_DEPENDS_ON"] for s in build.stages}
    assert env == {"build": "", "test": "", "deploy": "build,test"}
