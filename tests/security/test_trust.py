"""Trust classes against a real server, its embedded agent and the Docker engine: host-escape
pipelines (an allow-listed image with commands and the host's /, privileged mode, the same from
a fork) end in error and write nothing; the plugin as shipped gets the socket and its image-bound
secret, commands on its image get neither; a fork's cache write never reaches a push build; a
socket step for tags only leaves pushes alone; a fork cannot ask for a guarded environment's
agents; fork_privileged is a repository admin's switch.

Drone's runner is the model for the privileged list: drone-runner-docker's compiler
(engine/compiler/compiler.go, ``isPrivileged``) grants an allow-listed image privilege only in a
step without commands, command, entrypoint or volumes. Woodpecker's compiler
(pipeline/frontend/yaml/compiler/compiler.go, ``Secret.Available``) gives a secret with an image
filter to plugin steps only.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from runner.forges.github import signature
from runner.testing import TEST_LABEL, LocalRepo, ServerProcess, git, github_push

pytestmark = [pytest.mark.docker]

BUSYBOX = "runner-test/busybox"
PLUGIN_REPOSITORY = "runner-test/trust-plugin"
# What the plugin does as shipped: say whether it got the socket and its password setting.
PLUGIN_PROGRAM = (
    "if test -S /var/run/docker.sock; then echo socket-ok; else echo socket-missing; fi; "
    'if test -n "$PLUGIN_PASSWORD"; then echo secret-present; else echo secret-absent; fi'
)


@pytest.fixture(scope="module")
def run_tag():
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def plugin_image(docker_client, run_tag):
    """A plugin image made here (no registry): busybox whose own command is PLUGIN_PROGRAM."""
    labels = {TEST_LABEL: run_tag}
    container = docker_client.containers.create(BUSYBOX, "true", labels=labels)
    try:
        container.commit(
            repository=PLUGIN_REPOSITORY,
            tag=run_tag,
            changes=[f"CMD {json.dumps(['sh', '-c', PLUGIN_PROGRAM])}"],
        )
    finally:
        container.remove(force=True)
    image = f"{PLUGIN_REPOSITORY}:{run_tag}"
    yield image
    docker_client.images.remove(image, force=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory, docker_client, plugin_image, run_tag):
    """One server whose agents allow-list the shipped docker plugins and the test plugin."""
    privileged = f"plugins/docker,pipeline-runner/docker,{PLUGIN_REPOSITORY}"
    proc = ServerProcess(
        tmp_path_factory.mktemp("trust") / "data",
        engine_labels=f"{TEST_LABEL}={run_tag}",
        extra_env={"RUNNER_AGENT_PRIVILEGED_IMAGES": privileged},
    ).start()
    proc.admin_token = proc.token("admin")
    yield proc
    proc.stop()
    _remove_labelled(docker_client, f"{TEST_LABEL}={run_tag}")


def _remove_labelled(client, label: str) -> None:
    for container in client.containers.list(all=True, filters={"label": label}):
        container.remove(force=True)
    for network in client.networks.list(filters={"label": label}):
        network.remove()
    for volume in client.volumes.list(filters={"label": label}):
        volume.remove(force=True)


class Project:
    """One repository of the server, its forge (a local bare repository) and its webhooks."""

    def __init__(self, server: ServerProcess, root: Path):
        self.server = server
        self.token = server.admin_token
        self.slug = f"acme/trust-{uuid.uuid4().hex[:8]}"
        self.forge = LocalRepo(root / "git")
        resp = server.api(
            "POST",
            "/repos",
            self.token,
            json={"slug": self.slug, "forge": "github", "clone_url": self.forge.clone_url},
        )
        assert resp.status_code == 201, resp.text
        self.secret = resp.json()["webhook_secret"]
        self.pull_requests = 0

    def ok(self, method: str, path: str, **kwargs) -> dict:
        resp = self.server.api(method, f"/repos/{self.slug}{path}", self.token, **kwargs)
        assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def push(self, pipeline: str) -> dict:
        """Commit ``pipeline`` to main and deliver the signed push; the build when it is over."""
        sha = self.forge.commit({".drone.yml": pipeline}, f"push {uuid.uuid4().hex[:6]}")
        return self._deliver(*github_push(self.slug, self.forge, sha, self.secret))

    def tag(self, name: str) -> dict:
        sha = git(self.forge.work, "rev-parse", "HEAD")
        git(self.forge.work, "tag", name)
        git(self.forge.work, "push", "-q", "origin", f"refs/tags/{name}")
        headers, body = github_push(self.slug, self.forge, sha, self.secret)
        payload = json.loads(body)
        payload["ref"] = f"refs/tags/{name}"
        body = json.dumps(payload).encode()
        headers["X-Hub-Signature-256"] = signature(body, self.secret)
        return self._deliver(headers, body)

    def fork_pull_request(self, pipeline: str, head_repo: str = "stranger/trust") -> dict:
        """A pull request from another repository, as GitHub sends it; the build when over."""
        self.pull_requests += 1
        number = self.pull_requests
        sha = self.forge.commit({".drone.yml": pipeline}, f"fork change {number}", "fork-work")
        git(self.forge.work, "push", "-q", "-f", "origin", f"HEAD:refs/pull/{number}/head")
        payload = {
            "action": "opened",
            "number": number,
            "pull_request": {
                "number": number,
                "title": f"Improve things {number}",
                "body": "",
                "html_url": f"https://github.com/{self.slug}/pull/{number}",
                "user": {"login": "stranger", "avatar_url": ""},
                "head": {"ref": "main", "sha": sha, "repo": {"full_name": head_repo}},
                "base": {"ref": "main", "sha": sha, "repo": {"full_name": self.slug}},
            },
            "repository": {"full_name": self.slug, "clone_url": self.forge.clone_url},
            "sender": {"login": "stranger", "avatar_url": ""},
        }
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": signature(body, self.secret),
        }
        return self._deliver(headers, body)

    def _deliver(self, headers: dict, body: bytes) -> dict:
        resp = self.server.post_hook(self.slug, headers, body)
        assert resp.status_code == 201, resp.text
        number = resp.json()["build"]["number"]
        return self.server.wait_build(self.slug, number, self.token)

    def log(self, build: dict, step_name: str) -> str:
        for stage in build["stages"]:
            for step in stage["steps"]:
                if step["name"] == step_name:
                    path = f"/builds/{build['number']}/logs/{stage['number']}/{step['number']}"
                    resp = self.server.api("GET", f"/repos/{self.slug}{path}", self.token)
                    assert resp.status_code == 200, resp.text
                    return resp.text
        raise AssertionError(f"no step {step_name} in {build}")


def output(log: str) -> list[str]:
    """The lines a step printed, without the echo of its commands."""
    return [line for line in log.splitlines() if line and not line.startswith("+ ")]


@pytest.fixture
def project(server, tmp_path):
    return Project(server, tmp_path)


def escape_pipeline(image: str, host_dir: Path, data_dir: Path, extra: str = "") -> str:
    """The attack: an allow-listed image, its own commands, the host's / and the socket."""
    return f"""\
kind: pipeline
name: escape
clone: {{disable: true}}
steps:
- name: escape
  image: {image}
{extra}  commands:
  - touch /host{host_dir}/escaped
  - cat /host{data_dir}/secret.key
  volumes:
  - {{name: root, path: /host}}
  - {{name: sock, path: /var/run/docker.sock}}
volumes:
- {{name: root, host: {{path: /}}}}
- {{name: sock, host: {{path: /var/run/docker.sock}}}}
"""


def shipped_pipeline(image: str, more_steps: str = "") -> str:
    return f"""\
kind: pipeline
name: publish
clone: {{disable: true}}
steps:
- name: publish
  image: {image}
  settings:
    password: {{from_secret: registry_password}}
  volumes:
  - {{name: sock, path: /var/run/docker.sock}}
{more_steps}volumes:
- {{name: sock, host: {{path: /var/run/docker.sock}}}}
"""


@pytest.mark.parametrize("listed", ["plugins/docker", "local plugin"])
@pytest.mark.parametrize("extra", ["", "  privileged: true\n"], ids=["host-root", "privileged"])
def test_allow_listed_image_with_commands_and_host_root_is_an_error_and_writes_nothing(
    server, project, plugin_image, tmp_path, listed, extra
):
    image = plugin_image if listed == "local plugin" else listed
    build = project.push(escape_pipeline(image, tmp_path, server.data_dir, extra))
    assert build["status"] == "error", build
    assert ".drone.yml:5" in build["error"]
    assert "only as shipped" in build["error"] and "commands" in build["error"]
    assert build["stages"] == []
    assert not (tmp_path / "escaped").exists()


def test_fork_pull_request_gets_no_privileged_step_unless_the_repository_allows_plugins(
    server, project, plugin_image, tmp_path
):
    escape = escape_pipeline(plugin_image, tmp_path, server.data_dir)
    build = project.fork_pull_request(escape)
    assert build["status"] == "error" and "from a fork" in build["error"], build
    shipped = project.fork_pull_request(shipped_pipeline(plugin_image))
    assert shipped["status"] == "error" and "fork_privileged" in shipped["error"], shipped

    # A repository admin (not a server admin) turns fork_privileged on.
    server.cli("user", "add", "maintainer", "--password", "password-of-maintainer")
    project.ok("PUT", "/perms/maintainer", json={"role": "admin"})
    maintainer = server.token("maintainer")
    resp = server.api("PATCH", f"/repos/{project.slug}", maintainer, json={"fork_privileged": True})
    assert resp.status_code == 200 and resp.json()["fork_privileged"] is True, resp.text

    shipped = project.fork_pull_request(shipped_pipeline(plugin_image))
    assert shipped["status"] == "success", shipped
    published = output(project.log(shipped, "publish"))
    assert published[:2] == [
        "warning: secret registry_password was not given to this step: "
        "no such secret in this repository",
        "socket-ok",
    ], published
    build = project.fork_pull_request(escape)
    assert build["status"] == "error" and "only as shipped" in build["error"], build
    assert not (tmp_path / "escaped").exists()


def test_plugin_as_shipped_gets_socket_and_bound_secret_commands_on_its_image_do_not(
    server, project, plugin_image
):
    project.ok(
        "POST",
        "/secrets",
        json={"name": "registry_password", "value": "hunter2-registry", "images": [plugin_image]},
    )
    check = 'if test -n "$PASSWORD"; then echo secret-present; else echo secret-absent; fi'
    script = f"""\
- name: script
  image: {plugin_image}
  environment:
    PASSWORD: {{from_secret: registry_password}}
  commands:
  - {check}
- name: command
  image: {plugin_image}
  environment:
    PASSWORD: {{from_secret: registry_password}}
  command: [sh, -c, '{check}']
"""
    pipeline = shipped_pipeline(plugin_image, script)
    build = project.push(pipeline)
    assert build["status"] == "success", build
    assert output(project.log(build, "publish")) == ["socket-ok", "secret-present"]
    withheld = (
        f"warning: secret registry_password was not given to this step: it is restricted to "
        f"images ({plugin_image}), and a step with commands or an entrypoint cannot have an "
        "image-restricted secret"
    )
    assert output(project.log(build, "script")) == [withheld, "secret-absent"]
    # `command:` (Drone's and Woodpecker's) replaces the shipped program as `commands:` does.
    assert output(project.log(build, "command")) == [withheld, "secret-absent"]


@pytest.mark.parametrize(
    "settings",
    [
        "repo: plugins/docker",
        # The plugin puts the registry before the repository: it would tag plugins/docker.
        "registry: plugins\n    repo: docker\n    purge: false",
        "repo: [myorg/app, plugins/docker]",
        "repo: index.docker.io/library/../plugins/docker",
    ],
    ids=["repo", "registry+repo", "repo-list", "hub-path"],
)
def test_plugin_with_the_socket_cannot_build_an_image_under_an_allow_listed_name(
    server, project, plugin_image, settings
):
    pipeline = shipped_pipeline(plugin_image).replace(
        "  settings:\n", f"  settings:\n    {settings}\n    dry_run: true\n"
    )
    build = project.push(pipeline)
    assert build["status"] == "error" and ".drone.yml:5" in build["error"], build
    assert "would build the image plugins/docker" in build["error"]
    assert build["stages"] == []


CACHE_PIPELINE = """\
kind: pipeline
name: cached
clone: {disable: true}
steps:
- name: work
  image: runner-test/busybox
  cache: [/cache]
  commands:
"""


def test_fork_cache_write_is_invisible_to_the_next_push_build(server, project):
    first = project.push(CACHE_PIPELINE + "  - echo own > /cache/own.txt\n")
    assert first["status"] == "success", first
    fork = project.fork_pull_request(
        CACHE_PIPELINE + "  - printf 'echo pwned > /tmp/pwned\\n' > /cache/build.sh\n"
    )
    assert fork["status"] == "success", fork
    check = (
        "  - cat /cache/own.txt\n"
        "  - if test -e /cache/build.sh; then echo poisoned; else echo cache-clean; fi\n"
    )
    second = project.push(CACHE_PIPELINE + check)
    assert second["status"] == "success", second
    # The push builds' cache is kept; what the fork wrote is not in it.
    assert output(project.log(second, "work")) == ["own", "cache-clean"]
    listed = server.cli("cache", "ls", "--repo", project.slug)
    assert sorted(line.split()[3] for line in listed.splitlines()[1:]) == ["fork", "own"]


def test_socket_step_for_tags_only_does_not_error_a_push_build(server, project):
    pipeline = """\
kind: pipeline
name: ci
clone: {disable: true}
steps:
- name: test
  image: runner-test/busybox
  commands: [echo tested]
- name: release
  image: runner-test/busybox
  commands: [docker version]
  volumes: [{name: sock, path: /var/run/docker.sock}]
  when: {event: tag}
volumes:
- {name: sock, host: {path: /var/run/docker.sock}}
"""
    push = project.push(pipeline)
    assert push["status"] == "success", push
    assert [s["name"] for s in push["stages"][0]["steps"]] == ["test"]
    tag = project.tag(f"v1.0.{int(time.time())}")
    assert tag["status"] == "error" and ".drone.yml:8" in tag["error"], tag
    assert "needs a trusted repository" in tag["error"]


def test_fork_cannot_route_itself_to_an_approval_environment_agent(server, project):
    project.ok(
        "POST",
        "/environments",
        json={
            "name": "production",
            "tags": ["v*"],
            "labels": {"env": "production"},
            "approval": True,
        },
    )
    pipeline = """\
kind: pipeline
name: ci
node:
  env: production
clone: {disable: true}
steps:
- name: deploy
  image: runner-test/busybox
  commands: [echo deployed]
"""
    build = project.fork_pull_request(pipeline)
    assert build["status"] == "error", build
    assert ".drone.yml:3" in build["error"] and "environment production" in build["error"]
    assert build["stages"] == []
    wildcard = project.fork_pull_request(pipeline.replace("env: production", "env: '*'"))
    assert wildcard["status"] == "error" and "production" in wildcard["error"], wildcard
    staging = project.fork_pull_request(pipeline.replace("node:\n  env: production\n", ""))
    assert staging["status"] == "success", staging


def test_fork_privileged_is_off_by_default_and_only_a_repository_admin_turns_it_on(server, project):
    assert project.ok("GET", "")["fork_privileged"] is False
    server.cli("user", "add", "writer", "--password", "password-of-writer")
    project.ok("PUT", "/perms/writer", json={"role": "write"})
    resp = server.api(
        "PATCH", f"/repos/{project.slug}", server.token("writer"), json={"fork_privileged": True}
    )
    assert resp.status_code == 403, resp.text
    assert project.ok("GET", "")["fork_privileged"] is False
    server.cli("repo", "update", project.slug, "--fork-privileged")
    assert project.ok("GET", "")["fork_privileged"] is True
    assert "fork plugins:   privileged" in server.cli("repo", "show", project.slug)
    server.cli("repo", "update", project.slug, "--no-fork-privileged")
    assert project.ok("GET", "")["fork_privileged"] is False
