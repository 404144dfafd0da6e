"""Fixtures of the plugin tests: plugin images built from the local base image, a real
registry, an HTTP receiver, and a way to run a plugin container like the runner does."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest
from fixtures.swarm import SWARM_GROUP, single_node_swarm

from runner.testing import session_id

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
_NAMES = ("_lib", "docker", "oss", "deploy", "sonar", "notify")
for _path in [PLUGINS / n for n in _NAMES]:
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

TEST_LABEL = "pipeline-runner.test"  # as tests/conftest.py
PYTHON = "runner-test/python"
BUSYBOX = "runner-test/busybox"
SWARM_APP = "pipeline-runner/swarm-app"
# The images are this session's (another suite on the same engine removes its own at its end);
# the tests using them run on one worker, which removes them at its end. The swarm tests join
# that worker too (tests/fixtures/swarm.py): an engine has one swarm, so two workers must never
# set it up at once.
IMAGES_GROUP = SWARM_GROUP
ONE_WORKER_FIXTURES = ("plugin_images", "swarm")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups of --dist loadgroup
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if set(ONE_WORKER_FIXTURES) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group(IMAGES_GROUP), append=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def plugin_images(docker_client, session_labels):
    """Every plugin image built from runner-test/python, tagged
    pipeline-runner/<name>:test-<session id> (and plugins/docker:test-<session id>, its Drone
    name).

    The build runs without network (as on a machine that reaches no registry): the libraries
    come from the wheelhouse, which is downloaded through pip first when the cache lacks it.
    """
    from runner.commands.plugin import build_plugin_images, drone_name_refs

    refs = build_plugin_images(
        docker_client,
        base_image=PYTHON,
        tag=f"test-{session_id()}",
        labels=session_labels,
        build_args={"SONAR_SCANNER_VERSION": ""},  # no download: the tests fake the scanner
        log=lambda line: None,
        network_mode="none",
    )
    names = {ref.split("/")[1].split(":")[0]: ref for ref in refs}
    yield names
    for ref in refs + drone_name_refs(list(names), f"test-{session_id()}"):
        try:
            docker_client.images.remove(ref, force=True)
        except Exception:
            pass


@dataclass
class PluginRun:
    exit_code: int
    output: str


class Vanished(Exception):
    """The plugin container was removed by someone else while it ran."""


@pytest.fixture
def run_plugin(docker_client, tmp_path, session_labels):
    """Run a plugin image as a step: env, workspace at /drone/src, optional socket and host net.

    Other test sessions on the same engine sweep every container labelled pipeline-runner.test
    when they end; a run whose container vanishes that way (no exit code at all) is started
    again, at most twice. A plugin that fails still fails: it leaves an exit code.
    """

    def once(image, env, workspace, socket_mount, host_network, timeout):
        volumes = {str(workspace): {"bind": "/drone/src", "mode": "rw"}}
        if socket_mount:
            volumes["/var/run/docker.sock"] = {"bind": "/var/run/docker.sock", "mode": "rw"}
        container = docker_client.containers.create(
            image,
            environment=env,
            working_dir="/drone/src",
            volumes=volumes,
            labels=session_labels,
            network_mode="host" if host_network else None,
        )
        try:
            container.start()
            result = container.wait(timeout=timeout)
            output = container.logs().decode("utf-8", "replace")
            return PluginRun(result["StatusCode"], output)
        except docker.errors.NotFound as exc:
            raise Vanished(str(exc)) from exc
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                raise Vanished(exc.explanation) from exc
            raise
        finally:
            try:
                container.remove(force=True)
            except docker.errors.APIError:
                pass

    def run(image, env, workspace=None, socket_mount=False, host_network=False, timeout=240):
        for attempt in range(3):
            try:
                return once(image, env, workspace or tmp_path, socket_mount, host_network, timeout)
            except Vanished as exc:
                reason = exc
                print(f"plugin container removed by another process (attempt {attempt + 1})")
        pytest.fail(f"the plugin container was removed while it ran, three times: {reason}")

    return run


@dataclass
class Registry:
    address: str
    username: str = ""
    password: str = ""
    process: subprocess.Popen | None = None


@pytest.fixture
def start_registry(tmp_path):
    """Start a real registry (docker-registry serve) on a free loopback port; killed after."""
    started: list[Registry] = []

    def start(username: str = "", password: str = "") -> Registry:
        port = free_port()
        root = tmp_path / f"registry-{port}"
        (root / "data").mkdir(parents=True)
        config = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
            "http": {"addr": f"127.0.0.1:{port}"},
        }
        if username:
            htpasswd = subprocess.run(
                ["htpasswd", "-Bbn", username, password],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            (root / "htpasswd").write_text(htpasswd)
            config["auth"] = {"htpasswd": {"realm": "test", "path": str(root / "htpasswd")}}
        (root / "config.yml").write_text(json.dumps(config))
        with open(root / "registry.log", "w") as log:
            proc = subprocess.Popen(
                ["/usr/bin/docker-registry", "serve", str(root / "config.yml")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        reg = Registry(f"127.0.0.1:{port}", username, password, proc)
        started.append(reg)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail(f"registry did not start: {(root / 'registry.log').read_text()}")
        return reg

    yield start
    for reg in started:
        reg.process.kill()
        reg.process.wait()


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, in order; then 200
    answers: dict[str, bytes] = field(default_factory=dict)  # path -> body for GETs


@pytest.fixture
def receiver():
    """A local HTTP server that records every request and answers 200 (or scripted statuses)."""
    state = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.requests.append(
                Received(self.command, self.path, dict(self.headers.items()), body)
            )
            status = state.statuses.pop(0) if state.statuses else 200
            answer = state.answers.get(self.path.split("?")[0], b'{"ok": true}')
            if callable(answer):
                answer = answer(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def plugin_env():
    """Typical build data of a tag build, as the runner exports it."""
    return {
        "CI": "true",
        "DRONE": "true",
        "DRONE_REPO": "team/app",
        "DRONE_REPO_OWNER": "team",
        "DRONE_REPO_NAME": "app",
        "DRONE_REPO_LINK": "http://git.local/team/app",
        "DRONE_REPO_BRANCH": "main",
        "DRONE_BUILD_NUMBER": "42",
        "DRONE_BUILD_EVENT": "tag",
        "DRONE_BUILD_STATUS": "success",
        "DRONE_BUILD_LINK": "http://ci.local/team/app/42",
        "DRONE_BRANCH": "main",
        "DRONE_TAG": "v1.2.3",
        "DRONE_COMMIT_SHA": "abc1234def5678901234567890abcdef12345678",
        "DRONE_COMMIT_MESSAGE": 'Release "1.2.3"\nwith notes',
        "DRONE_COMMIT_AUTHOR": "alice",
        "DRONE_WORKSPACE": "/drone/src",
    }


@pytest.fixture
def in_process(capsys, monkeypatch):
    """Run a plugin's ``main(env)`` in this process as its image does; (exit code, output)."""
    from plugin_kit.output import run

    def call(main, env: dict[str, str], cwd=None) -> tuple[int, str]:
        if cwd:
            monkeypatch.chdir(cwd)
        with pytest.raises(SystemExit) as stop:
            run(lambda: main(env))
        return stop.value.code, capsys.readouterr().out

    return call


@pytest.fixture
def swarm(docker_client, tmp_path_factory):
    """A single-node swarm on the local engine (tests/fixtures/swarm.py) and three app images;
    left again afterwards, then the images removed."""
    folder = tmp_path_factory.mktemp("swarm-app")
    images = {}
    try:
        with single_node_swarm(docker_client):
            for version, check in (("good1", "true"), ("good2", "true"), ("bad", "false")):
                (folder / "Dockerfile").write_text(
                    f"FROM {BUSYBOX}\nRUN echo {version} > /version\n"
                    f"HEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD {check}\n"
                    'CMD ["sleep", "3600"]\n'
                )
                ref = f"{SWARM_APP}:test-{version}"
                docker_client.images.build(
                    path=str(folder), tag=ref, labels={TEST_LABEL: "1"}, rm=True, forcerm=True
                )
                images[version] = ref
            yield images
    finally:
        for ref in images.values():
            try:
                docker_client.images.remove(ref, force=True)
            except docker.errors.APIError:
                pass


def running_images(docker_client, name):
    """Images of the service's running tasks, once swarm reports every wanted task running."""
    service = docker_client.services.get(name)
    for _ in range(60):
        tasks = service.tasks(filters={"desired-state": "running"})
        if tasks and all(t["Status"]["State"] == "running" for t in tasks):
            break
        time.sleep(0.5)
    return {t["Spec"]["ContainerSpec"]["Image"].split("@")[0] for t in tasks}
