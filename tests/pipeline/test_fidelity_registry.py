"""Private step images: Drone's ``image_pull_secrets`` compile into the stage by name (never by
value), and every image is pulled with the credential of its registry host, the first of the
pull secrets' Docker configs and then the repository's registries.

Originals:
- drone-runners/drone-runner-docker engine/compiler/compiler.go, ``Compile``: each name of
  ``image_pull_secrets`` is looked up as a secret and parsed as a Docker config; a secret that
  does not parse is passed over; the parsed credentials go before the registry provider's, and
  each step takes the first whose address matches its image's host.
- drone/runner-go registry/auths/auth.go, ``Parse``/``decode``/``hostname``: an entry's
  ``auth`` (base64 ``user:password``, split at the first colon) wins over ``username`` and
  ``password``; a URL key counts by its host; bad base64 gives empty credentials.
- drone-runner-docker internal/docker/image/image.go and woodpecker-ci/woodpecker
  pipeline/frontend/yaml/utils/image.go, ``MatchHostname``: the image's domain by Docker's
  reference rules, ``index.docker.io`` meaning ``docker.io``.
- woodpecker-ci/woodpecker server/pipeline/items.go: the repository's registries go to the
  compiler of every workflow; a Woodpecker file has no pull secrets of its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.pipeline.config import load_pipeline
from runner.pipeline.registry_auth import (
    RegistryAuth,
    auth_for,
    image_host,
    needed,
    parse_docker_config,
    pull_secret_auths,
)
from runner.pipeline.spec import KIND_CLONE, BuildContext

FILES = Path(__file__).parent / "fidelity" / "registry"
CTX = BuildContext(repo="acme/app", event="push", branch="main", commit="c" * 40)
SECRETS = {
    "dockerconfig": (FILES / "dockerconfig.json").read_text(),
    "gcr_config": (FILES / "gcr_config.json").read_text(),
}


def _stage(file_name: str, source: str):
    build = load_pipeline({file_name: (FILES / source).read_text()}, CTX)
    assert len(build.stages) == 1
    return build.stages[0]


def test_drone_pull_secrets_compile_by_name_and_no_value_reaches_the_plan():
    stage = _stage(".drone.yml", "drone_pull_secrets.yml")
    assert stage.pull_secrets == ["dockerconfig", "gcr_config"]
    plan = json.dumps(stage.to_dict())
    for secret in ("s3cret", "correct-horse", "service_account", "YnVpbGRlcj"):
        assert secret not in plan


def test_each_image_is_pulled_with_the_credential_of_its_registry_host():
    stage = _stage(".drone.yml", "drone_pull_secrets.yml")
    auths = pull_secret_auths(stage.pull_secrets, SECRETS)
    pulled_with = {}
    for step in [*stage.services, *stage.steps]:
        if step.kind == KIND_CLONE:
            continue
        auth = auth_for(step.image, auths)
        pulled_with[step.name] = (auth.address, auth.username, auth.password) if auth else None
    assert pulled_with == {
        "cache": ("registry.example.com:5000", "builder", "s3cret:with:colons"),
        "build": ("registry.example.com:5000", "builder", "s3cret:with:colons"),
        "lint": ("docker.io", "octocat", "correct-horse-battery-staple"),
        "scan": ("gcr.io", "_json_key", '{"type": "service_account"}'),
        "notify": None,  # quay.io: no credential, pulled anonymously
    }


def test_a_woodpecker_file_names_no_pull_secrets_and_takes_the_repository_registries():
    stage = _stage(".woodpecker.yml", "woodpecker_registry.yml")
    assert stage.pull_secrets == []
    registries = [
        RegistryAuth("ghcr.io", "bot", "ghp-token"),
        RegistryAuth("registry.example.com:5000", "ci", "ci-pass"),
    ]
    build = next(s for s in stage.steps if s.name == "build")
    assert auth_for(build.image, registries) == registries[1]


def test_pull_secrets_win_over_registries_and_a_stage_gets_only_the_hosts_it_pulls_from():
    stage = _stage(".drone.yml", "drone_pull_secrets.yml")
    registries = [
        RegistryAuth("registry.example.com:5000", "repo-user", "repo-pass"),
        RegistryAuth("quay.io", "quay-user", "quay-pass"),
        RegistryAuth("ghcr.io", "unused", "unused-pass"),
    ]
    images = [s.image for s in [*stage.services, *stage.steps]]
    given = needed(images, pull_secret_auths(stage.pull_secrets, SECRETS) + registries)
    assert [(a.address, a.username) for a in given] == [
        ("registry.example.com:5000", "builder"),
        ("docker.io", "octocat"),
        ("gcr.io", "_json_key"),
        ("quay.io", "quay-user"),
    ]


def test_a_pull_secret_that_is_missing_or_not_a_docker_config_adds_nothing():
    values = {"dockerconfig": "not json at all", "empty": '{"auths": {}}', "deep": "[" * 100_000}
    assert pull_secret_auths(["dockerconfig", "empty", "absent", "deep"], values) == []


def test_docker_config_forms_as_drone_reads_them():
    sample = (
        '{"auths": {"https://index.docker.io/v1/": '
        '{"auth": "b2N0b2NhdDpjb3JyZWN0LWhvcnNlLWJhdHRlcnktc3RhcGxl"}}}'
    )
    assert parse_docker_config(sample) == [
        RegistryAuth("docker.io", "octocat", "correct-horse-battery-staple")
    ]
    both = '{"auths": {"r.io": {"auth": "b2N0b2NhdDp==", "username": "u", "password": "p"}}}'
    assert parse_docker_config(both) == [RegistryAuth("r.io", "", "")]  # bad auth: empty
    plain = '{"auths": {"r.io:443": {"username": "u", "password": "p"}}}'
    assert parse_docker_config(plain) == [RegistryAuth("r.io:443", "u", "p")]
    with pytest.raises(ValueError) as caught:
        parse_docker_config("secret-value-not-json")
    assert "secret-value" not in str(caught.value)


@pytest.mark.parametrize(
    ("image", "host"),
    [
        ("alpine", "docker.io"),
        ("alpine:3.19", "docker.io"),
        ("library/alpine", "docker.io"),
        ("docker.io/library/alpine", "docker.io"),
        ("index.docker.io/library/alpine", "docker.io"),
        ("team/app:1", "docker.io"),
        ("localhost/app", "localhost"),
        ("localhost:5000/app", "localhost:5000"),
        ("127.0.0.1:5000/team/app:1", "127.0.0.1:5000"),
        ("ghcr.io/acme/tool@sha256:abc", "ghcr.io"),
        ("registry.example.com/a/b/c:2", "registry.example.com"),
    ],
)
def test_image_registry_host_by_dockers_naming_rule(image, host):
    assert image_host(image) == host
