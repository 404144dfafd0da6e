"""``runner exec`` on real pipeline files and the real Docker engine: workspace, Drone 0.8 tag
substitution, services, DAG overlap, policies, exit 78, stage dependencies, caches, secrets,
trust, timeout, Ctrl-C cleanup and clone from a local bare repository."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.docker

TEST_LABEL = "pipeline-runner.test"
PROBE = "for i in $(seq 1 300); do wget -q -O - http://web:8080/ && exit 0; sleep 0.1; done; exit 1"
WAIT_FOR = "i=0; while [ ! -f {0} ]; do i=$((i+1)); [ $i -lt 300 ] || exit 9; sleep 0.1; done"


@pytest.fixture
def project(tmp_path):
    """An empty working tree to write a pipeline file into."""
    work = tmp_path / "project"
    work.mkdir()
    return work


@pytest.fixture
def runner_exec(docker_client, project, run_id, tmp_path):
    """Run ``runner exec ARGS`` in ``project``; every resource carries the test label."""

    def run(*args, timeout=180):
        return subprocess.run(
            [sys.executable, "-m", "runner", "exec", *args],
            cwd=project,
            env={**_env(run_id), "RUNNER_DATA_DIR": str(tmp_path / "data")},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


def _env(run_id):
    return {**os.environ, "RUNNER_EXEC_LABELS": f"{TEST_LABEL}={run_id}", "NO_COLOR": "1"}


def leftovers(client, run_id) -> list[str]:
    flt = {"label": f"{TEST_LABEL}={run_id}"}
    found = [f"container {c.name}" for c in client.containers.list(all=True, filters=flt)]
    found += [f"network {n.name}" for n in client.networks.list(filters=flt)]
    found += [
        f"volume {v.name}"
        for v in client.volumes.list(filters=flt)
        if (v.attrs.get("Labels") or {}).get("pipeline-runner.cache") != "1"
    ]
    return found


def write(project, text, name=".drone.yml"):
    (project / name).write_text(textwrap.dedent(text))


def step_lines(output: str, step: str) -> list[str]:
    """The log lines of ``step`` in runner exec's output, without the prefix."""
    out = []
    for line in output.splitlines():
        if line.startswith(f"[{step} ") and "] " in line:
            out.append(line.split("] ", 1)[1])
    return out


def test_files_pass_between_steps_and_the_summary_says_so(
    runner_exec, project, docker_client, run_id
):
    write(
        project,
        """\
        kind: pipeline
        type: docker
        name: default
        steps:
        - name: write
          image: runner-test/busybox
          commands:
          - echo from-write > made.txt
        - name: read
          image: runner-test/busybox
          commands:
          - cat made.txt
          - cat input.txt
        """,
    )
    (project / "input.txt").write_text("from the working tree\n")
    proc = runner_exec()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert step_lines(proc.stdout, "read") == [
        "+ cat made.txt",
        "from-write",
        "+ cat input.txt",
        "from the working tree",
    ]
    assert (project / "made.txt").read_text() == "from-write\n"
    table = proc.stdout.split("STAGE")[-1]
    assert "write  success" in table and "read   success" in table
    assert leftovers(docker_client, run_id) == []


def test_drone_08_tag_pipeline_substitutes_the_version(runner_exec, project):
    write(
        project,
        """\
        pipeline:
          version:
            image: runner-test/busybox
            commands:
              - echo "version=${DRONE_TAG##v}"
            when:
              event: tag
          on-push:
            image: runner-test/busybox
            commands:
              - echo push only
            when:
              event: push
        """,
    )
    proc = runner_exec("--event", "tag", "--tag", "v1.4.0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "version=1.4.0" in step_lines(proc.stdout, "version")
    assert step_lines(proc.stdout, "on-push") == []


def test_config_revision_option_reaches_steps_and_substitution(runner_exec, project):
    write(
        project,
        """\
        kind: pipeline
        name: default
        steps:
          - name: version
            image: runner-test/busybox
            commands:
              - echo "r=$CI_CONFIG_REVISION d=$DRONE_CONFIG_REVISION s=${CI_CONFIG_REVISION}"
        """,
    )
    proc = runner_exec("--config-revision", "7")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "r=7 d=7 s=7" in step_lines(proc.stdout, "version")
    # Without the option no server numbered the file: 0, as for a pull request's new file.
    plain = runner_exec()
    assert "r=0 d=0 s=0" in step_lines(plain.stdout, "version"), plain.stdout + plain.stderr


def test_service_dag_policies_and_exit_78(runner_exec, project):
    write(
        project,
        f"""\
        kind: pipeline
        type: docker
        name: default
        services:
        - name: web
          image: runner-test/python
          commands:
          - mkdir -p /srv && cd /srv && echo served > index.html
          - python3 -m http.server 8080
        steps:
        - name: probe
          image: runner-test/busybox
          commands:
          - {PROBE}
        - name: left
          image: runner-test/busybox
          depends_on: [probe]
          commands:
          - touch left.mark
          - {WAIT_FOR.format("right.mark")}
        - name: right
          image: runner-test/busybox
          depends_on: [probe]
          commands:
          - touch right.mark
          - {WAIT_FOR.format("left.mark")}
        - name: broken
          image: runner-test/busybox
          depends_on: [left, right]
          commands:
          - exit 4
        - name: on-failure
          image: runner-test/busybox
          depends_on: [broken]
          commands:
          - echo cleaning up
          when:
            status: [failure]
        - name: on-success
          image: runner-test/busybox
          depends_on: [broken]
          commands:
          - echo never
        """,
    )
    proc = runner_exec()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "served" in step_lines(proc.stdout, "probe")
    assert "cleaning up" in step_lines(proc.stdout, "on-failure")
    table = proc.stdout.split("STAGE")[-1]
    for row in (
        "left        success",
        "right       success",
        "broken      failure (4)",
        "on-failure  success",
        "on-success  skipped",
    ):
        assert row in table, table

    write(
        project,
        """\
        kind: pipeline
        type: docker
        name: default
        steps:
        - name: gate
          image: runner-test/busybox
          commands: [echo nothing to do, exit 78]
        - name: deploy
          image: runner-test/busybox
          commands: [echo deploying]
        """,
    )
    proc = runner_exec()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert step_lines(proc.stdout, "deploy") == []
    assert "deploy  skipped" in proc.stdout


def test_stages_follow_the_readiness_rule_of_the_server(runner_exec, project):
    write(
        project,
        """\
        kind: pipeline
        type: docker
        name: deploy
        depends_on: [build]
        steps:
        - name: ship
          image: runner-test/busybox
          commands: [echo shipping]
        ---
        kind: pipeline
        type: docker
        name: build
        steps:
        - name: compile
          image: runner-test/busybox
          commands: [echo compiling, exit 3]
        ---
        kind: pipeline
        type: docker
        name: report
        depends_on: [build]
        trigger:
          status: [failure]
        steps:
        - name: tell
          image: runner-test/busybox
          commands: [echo build broke]
        """,
    )
    proc = runner_exec()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    headers = [line for line in proc.stdout.splitlines() if line.startswith("--- stage")]
    # deploy waits for build, whose failure skips it and runs report.
    assert headers == [
        "--- stage build",
        "--- stage deploy: skipped",
        "--- stage report",
    ], proc.stdout
    assert step_lines(proc.stdout, "ship") == []
    assert "build broke" in step_lines(proc.stdout, "tell")


def test_cache_is_kept_between_runs(runner_exec, project, docker_client, run_id):
    from runner.engine.cleanup import list_caches, prune_caches

    repo = f"test/cache-{run_id}"
    write(
        project,
        """\
        kind: pipeline
        type: docker
        name: default
        steps:
        - name: cached
          image: runner-test/busybox
          cache: [/cache]
          commands:
          - cat /cache/stamp || true
          - echo "$DRONE_BUILD_NUMBER-run" > /cache/stamp
        """,
    )
    try:
        first = runner_exec("--repo", repo)
        second = runner_exec("--repo", repo)
        assert first.returncode == second.returncode == 0, first.stdout + second.stdout
        assert step_lines(second.stdout, "cached")[1].endswith("-run")
        assert len(list_caches(docker_client, repo)) == 1
    finally:
        prune_caches(docker_client, repo)


def test_secrets_from_flags_and_file_are_masked(runner_exec, project, tmp_path):
    write(
        project,
        """\
        kind: pipeline
        type: docker
        name: default
        steps:
        - name: leak
          image: runner-test/busybox
          environment:
            TOKEN:
              from_secret: token
            KEY:
              from_secret: deploy_key
          commands:
          - echo "token=$TOKEN"
          - printf '%s\\n' "$KEY"
        """,
    )
    secrets = tmp_path / "secrets.env"
    secrets.write_text('deploy_key="-----BEGIN-----\\nabcdef123456\\n-----END-----"\n')
    proc = runner_exec("--secret", "token=tok-9f8e7d", "--secrets-file", str(secrets))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = step_lines(proc.stdout, "leak")
    assert "token=******" in lines and lines[-3:] == ["******"] * 3
    assert "tok-9f8e7d" not in proc.stdout and "abcdef123456" not in proc.stdout


def test_docker_socket_needs_trust(runner_exec, project, docker_client, run_id):
    write(
        project,
        """\
        kind: pipeline
        type: docker
        name: default
        steps:
        - name: engine
          image: runner-test/busybox
          volumes:
          - name: sock
            path: /var/run/docker.sock
          - name: cli
            path: /bin/docker
          commands:
          - docker version --format '{{.Server.Version}}'
        volumes:
        - name: sock
          host:
            path: /var/run/docker.sock
        - name: cli
          host:
            path: /usr/local/bin/docker
        """,
    )
    refused = runner_exec()
    assert refused.returncode == 2
    assert "docker.sock" in refused.stderr and "trusted" in refused.stderr
    assert leftovers(docker_client, run_id) == []
    trusted = runner_exec("--trusted")
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert step_lines(trusted.stdout, "engine")[-1] == docker_client.version()["Version"]


def test_timeout_kills_and_cleans_up(runner_exec, project, docker_client, run_id):
    write(
        project,
        """\
        kind: pipeline
        type: docker
        name: default
        services:
        - name: idle
          image: runner-test/busybox
          commands: [sleep 300]
        steps:
        - name: hang
          image: runner-test/busybox
          commands: [sleep 300]
        """,
    )
    # Long enough for the service and the step to start on a loaded machine (a step that never
    # started would be skipped, not killed); far shorter than the step's 300 s.
    proc = runner_exec("--timeout", "15s")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "hang   killed" in proc.stdout and "timed out" in proc.stdout
    assert leftovers(docker_client, run_id) == []


def test_ctrl_c_stops_and_removes_everything(project, docker_client, run_id):
    write(
        project,
        """\
        kind: pipeline
        type: docker
        name: default
        steps:
        - name: long
          image: runner-test/busybox
          commands:
          - echo started
          - sleep 300
        - name: never
          image: runner-test/busybox
          commands: [echo never]
        """,
    )
    with subprocess.Popen(
        [sys.executable, "-m", "runner", "exec"],
        cwd=project,
        env=_env(run_id),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        try:
            for line in proc.stdout:
                if line.rstrip().endswith("] started"):
                    break
            proc.send_signal(signal.SIGINT)
            rest = proc.stdout.read()
            assert proc.wait(timeout=60) == 130
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "long   killed" in rest and "never  skipped" in rest
    assert leftovers(docker_client, run_id) == []


def test_clone_from_a_bare_repository_honours_depth(runner_exec, project, tmp_path):
    origin = tmp_path / "origin"
    origin.mkdir()
    git = ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=origin, check=True)
    for i in (1, 2, 3):
        (origin / f"file{i}.txt").write_text(f"content {i}\n")
        subprocess.run([*git, "add", "."], cwd=origin, check=True)
        subprocess.run([*git, "commit", "-q", "-m", f"c{i}"], cwd=origin, check=True)
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(origin), str(bare)], check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=origin, capture_output=True, text=True, check=True
    ).stdout.strip()
    write(
        project,
        """\
        kind: pipeline
        type: docker
        name: default
        clone:
          depth: 1
        steps:
        - name: inspect
          image: runner-test/python
          commands:
          - ls
          - git log --format=%H | wc -l
          - git rev-parse HEAD
        """,
    )
    proc = runner_exec("--clone", bare.as_uri(), "--commit", head, "--branch", "main")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = step_lines(proc.stdout, "inspect")
    assert lines[1:4] == ["file1.txt", "file2.txt", "file3.txt"]
    assert lines[-4:] == ["+ git log --format=%H | wc -l", "1", "+ git rev-parse HEAD", head]
    assert f"workspace at commit {head}" in step_lines(proc.stdout, "clone")
