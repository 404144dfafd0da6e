"""deploy/stack.yml, deployed as docs/scaling.md says with `docker stack deploy` on a single-node
swarm from images built here (the server from this checkout, PostgreSQL, an S3 server), runs a
build through its two servers: the webhook goes to server A, the step's live log is read from
server B, A is killed (SIGKILL of its container) mid-step, and the build still ends once, every
line of its log stored once, in order, and moved into the bucket. Swarm starts A again, which
then reads the same log back. The agent, with the host's Docker socket, clones over git:// from a
forge service on the stack's network and runs the step as a container of this engine.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import boto3
import docker
import pytest
import requests
from botocore.config import Config

from runner.testing import (
    TEST_LABEL,
    LocalRepo,
    free_port,
    github_push,
    session_id,
    session_label,
)
from tests.e2e.harness import sse_events
from tests.e2e.stack_images import POSTGRES, PYTHON, build_runner_image, build_s3_image

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(900)]

STACK_FILE = Path(__file__).resolve().parents[2] / "deploy" / "stack.yml"
SLUG = "acme/stack"
ADMIN_PASSWORD = "admin-password-stack"
DEADLINE = 240  # seconds, for what a loaded machine may be slow to do
LINES = 60


@pytest.fixture(scope="session")
def stack_images(docker_client, session_labels):
    """The images deployed instead of the public ones, built once; removed at the end."""
    try:
        docker_client.images.get(POSTGRES)
    except docker.errors.ImageNotFound:
        pytest.fail(f"local image {POSTGRES} missing: run scripts/base-images.sh")
    tag = f"test-{session_id()}"
    built: list[str] = []
    try:
        built.append(build_runner_image(docker_client, f"pipeline-runner:{tag}", session_labels))
        built.append(build_s3_image(docker_client, f"runner-test/s3:{tag}", session_labels))
        yield {"RUNNER_IMAGE": built[0], "S3_IMAGE": built[1], "POSTGRES_IMAGE": POSTGRES}
    finally:
        for ref in built:
            try:
                docker_client.images.remove(ref, force=True)
            except docker.errors.APIError:
                pass


class Stack:
    """One deployment of deploy/stack.yml, named ``name``, driven by the docker CLI as a user
    would; ``remove`` takes away its services, containers, volumes and network."""

    def __init__(self, client, name: str, images: dict[str, str]):
        self.client = client
        self.name = name
        self.ports = {"a": free_port(), "b": free_port(), "s3": free_port()}
        # Only what the docker CLI needs of this environment: a stack variable set in it
        # (S3_BUCKET, AGENT_NAME...) must not change the deployment.
        docker_env = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH")
        self.env = {
            **{key: os.environ[key] for key in docker_env if key in os.environ},
            **images,
            "SERVER_A_PORT": str(self.ports["a"]),
            "SERVER_B_PORT": str(self.ports["b"]),
            "S3_PORT": str(self.ports["s3"]),
            "POSTGRES_PASSWORD": secrets.token_hex(12),
            "S3_SECRET_KEY": secrets.token_hex(12),
            "RUNNER_SECRET_KEY": secrets.token_hex(32),
            "RUNNER_ADMIN_PASSWORD": ADMIN_PASSWORD,
            # The step containers the agent makes on this engine: swept with the session's.
            "RUNNER_AGENT_ENGINE_LABELS": session_label(),
        }

    def url(self, server: str) -> str:
        return f"http://127.0.0.1:{self.ports[server]}"

    def deploy(self, **variables: str) -> None:
        """`docker stack deploy` of the file with the images as they are here (no registry)."""
        self.env.update(variables)
        done = subprocess.run(
            ["docker", "stack", "deploy", "--resolve-image", "never", "-c", str(STACK_FILE)]
            + [self.name],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"stack deploy failed: {done.stderr}"

    def containers(self, service: str) -> list:
        label = f"com.docker.swarm.service.name={self.name}_{service}"
        return self.client.containers.list(filters={"label": label})

    def logs(self) -> str:
        """The end of every service's log, for a failing assertion."""
        out = []
        for service in ("server-a", "server-b", "agent", "postgres", "s3", "bucket", "forge"):
            done = subprocess.run(
                ["docker", "service", "logs", "--tail", "30", f"{self.name}_{service}"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            out.append(f"--- {service}\n{done.stdout[-4000:]}{done.stderr[-2000:]}")
        return "\n".join(out)

    def remove(self) -> None:
        subprocess.run(["docker", "stack", "rm", self.name], capture_output=True, timeout=120)
        # Swarm removes the tasks' containers after `stack rm` returns; volumes and the network
        # can go once they are gone.
        namespace = {"label": f"com.docker.stack.namespace={self.name}"}
        deadline = time.monotonic() + 120
        # The low-level list: the high-level one inspects each container it lists, and Swarm
        # removes them meanwhile.
        while containers := self.client.api.containers(all=True, filters=namespace):
            if time.monotonic() > deadline:
                for found in containers:
                    _quietly(self.client.api.remove_container, found["Id"], force=True)
                break
            time.sleep(0.5)
        for network in self.client.networks.list(filters=namespace):
            _quietly(network.remove)
        for volume in self.client.volumes.list(filters=namespace):
            _quietly(volume.remove, force=True)


def _quietly(remove, *args, **kwargs) -> None:
    """Remove something that may be gone already (its owner got there first)."""
    try:
        remove(*args, **kwargs)
    except docker.errors.NotFound:
        pass


def wait_for(what: str, check, deadline: float = DEADLINE, explain=lambda: ""):
    """Poll ``check()`` until it returns something true; that value. Fails after ``deadline``."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            found = check()
        except requests.RequestException:
            found = None
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"{what} within {deadline:.0f} s\n{explain()}")


class Api:
    """The REST API of one of the stack's servers, as the admin."""

    def __init__(self, base: str, token: str = ""):
        self.base = base
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, f"{self.base}/api/v1{path}", timeout=30, **kwargs)

    def build(self, number: int) -> dict:
        resp = self.call("GET", f"/repos/{SLUG}/builds/{number}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    def rpc_calls(self) -> dict[str, int]:
        """The agent RPC calls this process answered so far, by call (its /metrics)."""
        resp = self.http.get(f"{self.base}/metrics", timeout=30)
        assert resp.status_code == 200, resp.text
        calls: dict[str, int] = {}
        for line in resp.text.splitlines():
            if line.startswith("runner_rpc_request_duration_seconds_count{"):
                call = line.split('call="', 1)[1].split('"', 1)[0]
                calls[call] = calls.get(call, 0) + int(float(line.rsplit(" ", 1)[1]))
        return calls


def start_forge(client, stack: Stack, folder: Path) -> str:
    """A `git daemon` service on the stack's network serving ``folder``; its git:// URL base."""
    name = f"{stack.name}_forge"
    client.services.create(
        PYTHON,
        ["git", "daemon", "--reuseaddr", "--export-all", "--base-path=/srv/git", "/srv/git"],
        name=name,
        labels={TEST_LABEL: session_id()},
        container_labels={TEST_LABEL: session_id()},
        networks=[f"{stack.name}_runner"],
        mounts=[f"{folder}:/srv/git:ro"],
        endpoint_spec=docker.types.EndpointSpec(mode="dnsrr"),
    )
    probe = ["git", "ls-remote", "git://127.0.0.1/origin.git"]

    def answers():
        running = stack.containers("forge")
        return running and running[0].exec_run(probe).exit_code == 0

    wait_for("the forge did not serve the repository", answers, explain=stack.logs)
    return f"git://{name}"


class LiveReader(threading.Thread):
    """Reads a step's live log (SSE) from one server: ``chunks`` as ``(seq, lines)``, one
    event per chunk the agent uploaded."""

    def __init__(self, url: str, token: str):
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.chunks: list[tuple[int, list[str]]] = []
        self.ended = threading.Event()
        self.error = ""

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            with requests.get(self.url, headers=headers, stream=True, timeout=DEADLINE) as resp:
                if resp.status_code != 200:
                    self.error = f"{resp.status_code} {resp.text}"
                    return
                for event, ident, data in sse_events(resp):
                    if event == "end":
                        self.ended.set()
                        return
                    if ident is not None:
                        self.chunks.append((int(ident), data))
        except requests.RequestException as exc:
            self.error = str(exc)

    def texts(self) -> list[str]:
        return [text for _seq, lines in list(self.chunks) for text in lines]


@pytest.fixture
def stack(stack_images, swarm_node, docker_client):
    """A stack to deploy on the test's swarm, removed with the forge service afterwards."""
    deployed = Stack(docker_client, f"rt{uuid.uuid4().hex[:8]}", stack_images)
    try:
        yield deployed
    finally:
        for service in docker_client.services.list(filters={"name": f"{deployed.name}_forge"}):
            service.remove()
        deployed.remove()


def test_a_webhook_to_a_live_log_from_b_and_a_killed_mid_build_lose_nothing(stack, tmp_path):
    client = stack.client
    stack.deploy()  # no agent token yet: the agent restarts until the second deploy
    for server in ("a", "b"):
        wait_for(
            f"server {server} was not ready",
            lambda s=server: requests.get(stack.url(s) + "/readyz", timeout=5).status_code == 200,
            explain=stack.logs,
        )
    made = requests.post(
        stack.url("a") + "/api/v1/tokens",
        json={"login": "admin", "password": ADMIN_PASSWORD, "name": "stack-test"},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    a, b = Api(stack.url("a"), token), Api(stack.url("b"), token)

    # The agent's token, made through B, reaches the agent through the second deploy.
    registered = b.call("POST", "/agents", json={"name": "agent-1", "capacity": 2})
    assert registered.status_code == 201, registered.text
    stack.deploy(AGENT_TOKEN=registered.json()["token"])
    wait_for(
        "the agent did not connect",
        lambda: any(x["connected"] for x in a.call("GET", "/agents/status").json()),
        explain=stack.logs,
    )

    repo = LocalRepo(tmp_path / "forge")
    forge = start_forge(client, stack, tmp_path / "forge")

    served = SimpleNamespace(clone_url=f"{forge}/origin.git")  # as the webhook names it
    added = a.call(
        "POST", "/repos", json={"slug": SLUG, "forge": "github", "clone_url": served.clone_url}
    )
    assert added.status_code == 201, added.text
    pipeline = (
        "kind: pipeline\nname: build\nsteps:\n- name: work\n  image: runner-test/busybox\n"
        "  commands:\n  - cat message.txt\n"
        f'  - for i in $(seq 1 {LINES}); do echo "line $i"; sleep 0.5; done\n'
    )
    sha = repo.commit({".drone.yml": pipeline, "message.txt": "cloned from the forge\n"})
    headers, body = github_push(SLUG, served, sha, added.json()["webhook_secret"])
    hook = requests.post(f"{stack.url('a')}/hook/{SLUG}", data=body, headers=headers, timeout=60)
    assert hook.status_code == 201, hook.text
    number = a.call("GET", f"/repos/{SLUG}/builds").json()[0]["number"]

    def running_step():
        build = b.build(number)
        steps = [s for st in build["stages"] for s in st["steps"] if s["name"] == "work"]
        return steps[0] if steps and steps[0]["status"] == "running" else None

    step = wait_for("the step did not start", running_step, explain=stack.logs)
    stream = f"/repos/{SLUG}/builds/{number}/logs/1/{step['number']}"
    reader = LiveReader(f"{b.base}/api/v1{stream}/stream", token)
    reader.start()
    wait_for("line 5 did not reach B's live reader", lambda: "line 5" in reader.texts())

    (server_a,) = stack.containers("server-a")
    before = {"a": a.rpc_calls(), "b": b.rpc_calls()}
    server_a.kill()  # SIGKILL: no goodbye to the agent, the database or the readers
    heard_before = len(reader.chunks)
    assert running_step(), "the step ended before server A was killed"
    # The agent's threads each keep a connection to one of the two (`server` names both).
    print(f"agent RPC calls answered before A was killed: {before}")
    wait_for(
        "no new line reached B's live reader while the step ran on after A was killed",
        lambda: len(reader.chunks) > heard_before and running_step(),
        explain=stack.logs,
    )
    reader.join(DEADLINE)

    def ended():
        build = b.build(number)
        return build if build["status"] not in ("pending", "running") else None

    build = wait_for("the build did not end", ended, explain=stack.logs)
    assert reader.ended.is_set(), (reader.error, reader.chunks[-3:])
    assert build["status"] == "success", (build, stack.logs())
    assert build["stages"][0]["attempts"] == 1, "the stage was taken back and run again"

    # B's reader got every line, each once and in order, across A's death.
    printed = [t for t in reader.texts() if t.startswith("line ")]
    assert printed == [f"line {i}" for i in range(1, LINES + 1)], printed
    seqs = [seq for seq, _lines in reader.chunks]
    assert seqs == sorted(set(seqs)), f"a chunk reached the reader twice or out of order: {seqs}"
    assert reader.texts().count("cloned from the forge") == 1

    # The stored log, from the bucket once moved there: the same lines, once each.
    expected = ["+ cat message.txt", "cloned from the forge"]
    expected += [f"line {i}" for i in range(1, LINES + 1)]

    def stored_lines(api: Api) -> list[str]:
        resp = api.call("GET", stream)
        assert resp.status_code == 200, resp.text
        return [line for line in resp.text.splitlines() if not line.startswith("+ for ")]

    assert stored_lines(b) == expected
    print(f"agent RPC calls B answered by the build's end: {b.rpc_calls()}")
    bucket = boto3.client(
        "s3",
        endpoint_url=stack.url("s3"),
        region_name="us-east-1",
        aws_access_key_id="runner",
        aws_secret_access_key=stack.env["S3_SECRET_KEY"],
        config=Config(s3={"addressing_style": "path"}),
    )

    def moved() -> list[str]:
        listed = bucket.list_objects_v2(Bucket="runner-logs", Prefix="logs/")
        keys = [item["Key"] for item in listed.get("Contents", [])]
        return [key for key in keys if key.rsplit("/", 1)[-1].startswith(f"{step['id']}-")]

    wait_for("the step's log did not move into the bucket", moved, explain=stack.logs)
    assert stored_lines(b) == expected

    # Swarm started A again: it reads the same log back.
    wait_for(
        "server A did not come back",
        lambda: requests.get(stack.url("a") + "/readyz", timeout=5).status_code == 200,
        explain=stack.logs,
    )
    assert stored_lines(a) == expected
