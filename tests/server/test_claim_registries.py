"""What pull credentials a claimed stage carries: those of the hosts its images are on, from its
Drone pull secrets (given as secrets are, so a pull request gets only those that allow pull
requests) and from the repository's registries (every build but a fork's pull request).

Originals: drone-runners/drone-runner-docker engine/compiler/compiler.go, ``Compile`` and
``findSecret`` (pull secrets are secrets: the secret provider's pull-request rule applies);
woodpecker-ci/woodpecker server/services/registry/db.go, ``RegistryListPipeline`` (the
repository's registries for every pipeline) with server/model/repo.go ``RequireApprovalForks``,
the default, which holds a fork's pull request until someone approves it; nobody approves here,
so a fork never gets them.
"""

from __future__ import annotations

import base64
import json

from runner.core import Build
from runner.pipeline.spec import CloneSpec, StageSpec, StepSpec
from runner.store import stage_from_spec
from tests.server.conftest import auth

PRIVATE = "registry.example.com:5000/team/builder:1"


def _config(host: str, user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {host: {"auth": token}}})


def _build(stores, repo, event: str, *, fork: bool = False) -> Build:
    spec = StageSpec(
        name="default",
        clone=CloneSpec(disable=True),
        pull_secrets=["dockerconfig"],
        trust="fork" if fork else "own",
        services=[StepSpec(name="db", image="postgres:16", kind="service")],
        steps=[StepSpec(name="build", image=PRIVATE, commands=["make"])],
    )
    build = Build(
        id=0,
        repo_id=repo.id,
        number=0,
        event=event,
        branch="main",
        commit="c" * 40,
        context={"commit": "c" * 40, "event": event, "fork": fork},
        stages=[stage_from_spec(spec)],
    )
    return stores.builds.create(build)


def _claim(client, tokens) -> dict:
    resp = client.post("/rpc/v1/claim", headers=auth(tokens["agent"]), json={"timeout": 0})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def test_a_push_gets_the_pull_secret_first_and_only_hosts_its_images_are_on(
    client, stores, repo, tokens
):
    stores.secrets.set(
        repo.id, "dockerconfig", _config("registry.example.com:5000", "builder", "from-secret")
    )
    stores.registries.set(repo.id, "registry.example.com:5000", "repo-user", "from-registry")
    stores.registries.set(repo.id, "docker.io", "hub-user", "hub-pass")
    stores.registries.set(repo.id, "ghcr.io", "unused", "never-sent")
    _build(stores, repo, "push")
    claimed = _claim(client, tokens)
    assert claimed["registries"] == [
        {"address": "registry.example.com:5000", "username": "builder", "password": "from-secret"},
        {"address": "docker.io", "username": "hub-user", "password": "hub-pass"},
    ]
    assert "never-sent" not in json.dumps(claimed)
    assert claimed["spec"]["pull_secrets"] == ["dockerconfig"]


def test_a_pull_request_gets_registries_but_only_pull_secrets_that_allow_pull_requests(
    client, stores, repo, tokens
):
    stores.secrets.set(
        repo.id, "dockerconfig", _config("registry.example.com:5000", "builder", "push-only")
    )
    stores.registries.set(repo.id, "registry.example.com:5000", "repo-user", "from-registry")
    _build(stores, repo, "pull_request")
    claimed = _claim(client, tokens)
    assert claimed["registries"] == [
        {
            "address": "registry.example.com:5000",
            "username": "repo-user",
            "password": "from-registry",
        }
    ]


def test_a_fork_gets_no_registries_only_pull_secrets_allowed_for_pull_requests(
    client, stores, repo, tokens
):
    stores.secrets.set(
        repo.id,
        "dockerconfig",
        _config("registry.example.com:5000", "builder", "pr-allowed"),
        events=["push", "pull_request"],
        allow_pull_request=True,
    )
    stores.registries.set(repo.id, "registry.example.com:5000", "repo-user", "from-registry")
    stores.registries.set(repo.id, "docker.io", "hub-user", "hub-pass")
    _build(stores, repo, "pull_request", fork=True)
    claimed = _claim(client, tokens)
    assert claimed["registries"] == [
        {"address": "registry.example.com:5000", "username": "builder", "password": "pr-allowed"}
    ]
