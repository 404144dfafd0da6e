"""A step whose image is private to a registry that wants a login runs through a real server
and agent when the repository holds the credentials, as Drone's pull secrets or as
Woodpecker's registries; without them, or with a wrong password, the step ends in error
saying the image cannot be pulled: unauthorized. The password never comes back from the API
nor sits in the database in clear.

Originals: Drone resolves ``image_pull_secrets`` to secrets, parses each as a Docker config
(drone/runner-go registry/auths/auth.go, ``Parse``) and gives a step the first credential
whose address is its image's registry host (drone-runners/drone-runner-docker
engine/compiler/compiler.go, ``Compile``; internal/docker/image/image.go, ``MatchHostname``);
Woodpecker hands a repository's registries to the compiler, which matches them the same way
(woodpecker-ci/woodpecker server/pipeline/items.go; pipeline/frontend/yaml/compiler/convert.go,
``createProcess``), and ``woodpecker-cli repo registry add`` stores them.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.e2e.conftest import add_repo
from tests.e2e.harness import github_push
from tests.fixtures.registry import forget_image, htpasswd_registry, push_private

pytestmark = [pytest.mark.docker]

BUSYBOX = "runner-test/busybox"
USER = "deployer"
PASSWORD = "Reg1stry-pa55word-e2e"

DRONE_FILE = """\
kind: pipeline
name: default
image_pull_secrets:
- dockerconfig
steps:
- name: private
  image: IMAGE
  commands:
  - echo ran the private image
"""

WOODPECKER_FILE = """\
steps:
  - name: private
    image: IMAGE
    commands:
      - echo ran the private image
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    with htpasswd_registry(tmp_path_factory.mktemp("registry"), USER, PASSWORD) as reg:
        yield reg


@pytest.fixture
def private_image(docker_client, registry):
    """A fresh private image in the registry, absent from the local engine."""
    ref = push_private(docker_client, registry, BUSYBOX, "team/private")
    yield ref
    forget_image(docker_client, ref)


def _run(server, token, slug, local_repo, files):
    """Commit ``files``, deliver the push, wait for the build; the build and its last step's log."""
    repo = server.api("GET", f"/repos/{slug}", token).json()
    sha = local_repo.commit(files)
    headers, body = github_push(slug, local_repo, sha, repo["webhook_secret"])
    assert server.post_hook(slug, headers, body).status_code in (200, 201, 202)
    number = server.api("GET", f"/repos/{slug}/builds", token).json()[0]["number"]
    build = server.wait_build(slug, number, token)
    step = build["stages"][0]["steps"][-1]
    log = server.api("GET", f"/repos/{slug}/builds/{number}/logs/1/{step['number']}", token)
    return build, step, log.text


def _docker_config(address: str, username: str, password: str) -> str:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {address: {"auth": auth}}})


def test_drone_pull_secret_pulls_the_private_image(
    server, admin_token, local_repo, registry, private_image
):
    slug = "acme/drone-private"
    add_repo(server, admin_token, slug, local_repo)
    config = _docker_config(registry.address, USER, PASSWORD)
    resp = server.api(
        "POST",
        f"/repos/{slug}/secrets",
        admin_token,
        json={"name": "dockerconfig", "value": config},
    )
    assert resp.status_code == 201, resp.text
    files = {".drone.yml": DRONE_FILE.replace("IMAGE", private_image)}
    build, step, log = _run(server, admin_token, slug, local_repo, files)
    assert build["status"] == "success", (step, log)
    assert "ran the private image" in log
    assert PASSWORD not in log


def test_woodpecker_registry_pulls_the_private_image_and_is_never_shown(
    server, admin_token, local_repo, registry, private_image
):
    slug = "acme/woodpecker-private"
    add_repo(server, admin_token, slug, local_repo)
    out = server.cli(
        "registry", "add", slug, registry.address, "--username", USER, "--password", PASSWORD
    )
    assert f"registry {registry.address} saved" in out
    listed = server.cli("registry", "ls", slug)
    assert listed.split() == [registry.address, USER]
    files = {".woodpecker.yml": WOODPECKER_FILE.replace("IMAGE", private_image)}
    build, step, log = _run(server, admin_token, slug, local_repo, files)
    assert build["status"] == "success", (step, log)
    assert "ran the private image" in log

    answers = [server.api("GET", f"/repos/{slug}/registries", admin_token)]
    answers.append(server.api("GET", f"/repos/{slug}/builds/{build['number']}", admin_token))
    assert answers[0].json() == [
        {
            "id": answers[0].json()[0]["id"],
            "repo_id": answers[0].json()[0]["repo_id"],
            "hostname": registry.address,
            "username": USER,
            "created": answers[0].json()[0]["created"],
        }
    ]
    for answer in answers:
        assert PASSWORD not in answer.text
    assert PASSWORD.encode() not in (server.data_dir / "runner.db").read_bytes()
    assert "deleted" in server.cli("registry", "rm", slug, registry.address)
    assert server.cli("registry", "ls", slug) == ""


@pytest.mark.parametrize(
    ("password", "hint"),
    [(None, "no credentials for"), ("wrong-password", f"refused user {USER}")],
    ids=["no-credentials", "wrong-password"],
)
def test_without_the_right_credentials_the_step_says_unauthorized(
    server, admin_token, local_repo, registry, private_image, password, hint
):
    slug = f"acme/private-{'none' if password is None else 'wrong'}"
    add_repo(server, admin_token, slug, local_repo)
    if password is not None:
        resp = server.api(
            "POST",
            f"/repos/{slug}/registries",
            admin_token,
            json={"hostname": registry.address, "username": USER, "password": password},
        )
        assert resp.status_code == 201, resp.text
    files = {".drone.yml": DRONE_FILE.replace("IMAGE", private_image)}
    build, step, _ = _run(server, admin_token, slug, local_repo, files)
    assert build["status"] in ("failure", "error"), build
    assert step["status"] == "error", step
    assert f"image {private_image} cannot be pulled: unauthorized" in step["error"]
    assert hint in step["error"]
