"""The trust rules as logic: trust classes, image matching, plugins as shipped, image-bound
secrets, forks' agent labels, and that a build is judged by the steps that run for its event.

The same rules against a real server, agent and Docker engine: tests/security/test_trust.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from runner.errors import PipelineError
from runner.pipeline.config import load_pipeline
from runner.pipeline.spec import BuildContext, Mount, SecretRef, StepSpec
from runner.pipeline.trust import (
    DOCKER_SOCKET,
    FORK,
    OWN,
    TRUSTED,
    image_matches,
    is_plugin,
    publish_name,
    published_names,
    refusal,
    route_refusal,
    secret_fits,
    trust_class,
)

SOCKET = Mount("host", DOCKER_SOCKET, DOCKER_SOCKET)
ROOT = Mount("host", "/", "/host")
PLUGINS = ["plugins/docker"]


def plugin(**kw) -> StepSpec:
    return StepSpec(**{"name": "publish", "image": "plugins/docker:20", "mounts": [SOCKET], **kw})


@pytest.mark.parametrize(
    ("fork", "repo_trusted", "expected"),
    [
        (False, False, OWN),  # push, tag, cron, pull request from a branch of the repository
        (True, False, FORK),  # a pull request from another repository, restarted or promoted
        (True, True, FORK),  # a stranger's change, even in a trusted repository
        (False, True, TRUSTED),
    ],
)
def test_trust_class_comes_from_repository_and_forge_never_the_file(fork, repo_trusted, expected):
    assert trust_class(repo_trusted=repo_trusted, fork=fork) == expected


# Drone's DRONE_RUNNER_PRIVILEGED_IMAGES ("a list of Docker images that are started as
# privileged containers by default", docs.drone.io runner reference) is matched by
# drone-runner-docker internal/docker/image/image.go, ``Match``: the familiar name (no
# docker.io host, no library/), "the image tag is not used in the matching logic". The same
# here for a pattern without a tag; a pattern with a tag is stricter; globs are runner.globs.
@pytest.mark.parametrize(
    ("patterns", "image", "matched"),
    [
        ([], "anything", False),
        (["plugins/docker"], "index.docker.io/plugins/docker:20", True),
        (["docker.io/plugins/docker"], "plugins/docker", True),
        (["plugins/*"], "plugins/a/b", False),  # `*` stops at `/`
        (["plugins/**"], "plugins/a/b", True),
        (["*"], "plugins/docker", False),
        (["plugins/docker"], "plugins/docker", True),
        (["plugins/docker"], "plugins/docker:latest", True),
        (["plugins/docker"], "docker.io/plugins/docker:20", True),
        (["plugins/docker"], "plugins/docker@sha256:abc", True),
        (["plugins/docker"], "plugins/docker-evil", False),
        (["plugins/docker"], "evil/plugins/docker", False),
        (["plugins/docker:20"], "plugins/docker:21", False),
        (["plugins/docker:latest"], "plugins/docker", True),
        (["plugins/*"], "plugins/s3:1", True),
        (["alpine"], "docker.io/library/alpine:3", True),
        (["registry:5000/app:1"], "registry:5000/app:1", True),
        (["registry:5000/app"], "registry:5000/app:2", True),
    ],
)
def test_one_image_rule_for_privileged_lists_and_secrets(patterns, image, matched):
    assert image_matches(image, patterns) is matched


def test_allow_listed_plugin_as_shipped_gets_the_socket():
    assert refusal(plugin(), trust=OWN, privileged_images=PLUGINS) == ""
    assert refusal(plugin(privileged=True), trust=OWN, privileged_images=PLUGINS) == ""


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"commands": ["cat /host/etc/shadow"]}, "commands"),
        ({"entrypoint": ["/bin/sh", "-c"]}, "entrypoint"),
        ({"command": ["sh", "-c", "id"]}, "command"),
        ({"mounts": [SOCKET, ROOT]}, "the host path /"),
    ],
)
def test_allow_listed_plugin_loses_privileges_when_changed(change, named):
    # drone-runner-docker, engine/compiler/compiler.go isPrivileged: an allow-listed image
    # is privileged only in a step without commands, command, entrypoint or volumes.
    reason = refusal(plugin(**change), trust=OWN, privileged_images=PLUGINS)
    assert "only as shipped" in reason and named in reason
    assert refusal(plugin(**change), trust=TRUSTED, privileged_images=PLUGINS) == ""


def test_allow_listed_plugin_cannot_build_an_image_under_an_allow_listed_name():
    # The socket plugin tags what it builds on the agent's engine: tagged plugins/docker, a
    # user's image would run as the trusted plugin in every later build.
    poisoned = plugin(environment={"PLUGIN_REPO": "plugins/docker"})
    assert "privileged list" in refusal(poisoned, trust=OWN, privileged_images=PLUGINS)
    honest = plugin(environment={"PLUGIN_REPO": "registry.example.com/acme/app"})
    assert refusal(honest, trust=OWN, privileged_images=PLUGINS) == ""


@pytest.mark.parametrize(
    "settings",
    [
        # The project's plugin puts registry before repo (docker_plugin.make_plan).
        {"PLUGIN_REGISTRY": "plugins", "PLUGIN_REPO": "docker", "PLUGIN_DRY_RUN": "true"},
        {"PLUGIN_REGISTRY": "https://plugins/", "PLUGIN_REPO": "docker"},
        # ... and so does drone-docker's DOCKER_REGISTRY fallback, which it reads too.
        {"DOCKER_REGISTRY": "plugins", "PLUGIN_REPO": "docker", "PLUGIN_PURGE": "false"},
        # Every entry of a list, comma-joined (the runner's form of a YAML list) or JSON.
        {"PLUGIN_REPO": "myorg/app,plugins/docker"},
        {"PLUGIN_REPO": '["myorg/app", "plugins/docker"]'},
        {"PLUGIN_REPO": "myorg/app", "PLUGIN_IMAGE": "plugins/docker"},
        # Spellings of one name: case, Docker Hub's hosts, library/, path segments, a tag.
        {"PLUGIN_REPO": "PLUGINS/DOCKER"},
        {"PLUGIN_REPO": "index.docker.io/library/../plugins/docker"},
        {"PLUGIN_REPO": "docker.io/plugins/docker:20"},
        {"PLUGIN_REPO": "registry-1.docker.io/plugins/./docker"},
        # A tag that turns the name into another: docker.io:443/plugins/docker.
        {"PLUGIN_REPO": "docker.io", "PLUGIN_TAGS": "443/plugins/docker"},
    ],
    ids=lambda settings: ",".join(f"{k.lower()}={v}" for k, v in settings.items()),
)
def test_no_spelling_of_an_allow_listed_name_can_be_built_with_the_socket(settings):
    reason = refusal(plugin(environment=settings), trust=OWN, privileged_images=PLUGINS)
    assert "would build the image plugins/docker" in reason and "privileged list" in reason


def test_image_names_that_only_the_running_step_knows_are_refused():
    for setting in ("PLUGIN_REPO", "PLUGIN_REGISTRY", "DOCKER_REGISTRY", "PLUGIN_TAGS"):
        from_secret = plugin(secrets=[SecretRef(env=setting, name="where")])
        reason = refusal(from_secret, trust=OWN, privileged_images=PLUGINS)
        assert "cannot be told before it runs" in reason and "secret where" in reason, setting


def test_honest_publish_settings_still_get_the_socket():
    settings = {
        "PLUGIN_REGISTRY": "https://registry.example.com",
        "PLUGIN_REPO": "acme/app,acme/app-docs",
        "PLUGIN_TAGS": "latest,1.2.3,feature/x",
    }
    assert refusal(plugin(environment=settings), trust=OWN, privileged_images=PLUGINS) == ""
    assert "registry.example.com/acme/app" in published_names(plugin(environment=settings))


@pytest.mark.parametrize(
    ("ref", "name"),
    [
        ("plugins/docker", "plugins/docker"),
        ("HTTPS://Index.Docker.IO/library/../Plugins/Docker:1", "plugins/docker"),
        ("docker.io/library/alpine@sha256:abc", "alpine"),
        ("registry:5000/team/app:2", "registry:5000/team/app"),
        ("../../plugins/docker", "plugins/docker"),
    ],
)
def test_published_names_are_compared_in_one_spelling(ref, name):
    assert publish_name(ref) == name


def test_names_mirror_what_the_docker_plugin_tags():
    # The rule reads the settings as plugins/docker/docker_plugin.py does: every image the
    # plugin's own plan would tag is among the names the rule judges.
    plugins = Path(__file__).resolve().parents[2] / "plugins"
    for folder in ("_lib", "docker"):
        if str(plugins / folder) not in sys.path:
            sys.path.insert(0, str(plugins / folder))
    import docker_plugin
    from plugin_kit.settings import Settings

    cases = [
        {"PLUGIN_REGISTRY": "plugins", "PLUGIN_REPO": "docker"},
        {"PLUGIN_REGISTRY": "http://registry.local:5000/", "PLUGIN_REPO": "team/app"},
        {"PLUGIN_REGISTRY": "docker.io", "PLUGIN_REPO": "team/app", "PLUGIN_TAGS": "1,2"},
        {"PLUGIN_IMAGE": "ghcr.io/team/app", "PLUGIN_TAG": "v1"},
    ]
    for settings in cases:
        plan = docker_plugin.make_plan(Settings(settings))
        judged = published_names(plugin(environment=settings))
        assert {publish_name(ref) for ref in plan.refs()} <= set(judged), settings


def test_other_images_need_a_trusted_repository():
    step = StepSpec(name="x", image="alpine", privileged=True)
    assert "needs a trusted repository" in refusal(step, trust=OWN, privileged_images=PLUGINS)
    assert refusal(StepSpec(name="x", image="alpine"), trust=FORK) == ""


def test_forks_get_no_privileged_plugin_unless_the_repository_allows_it():
    reason = refusal(plugin(), trust=FORK, privileged_images=PLUGINS)
    assert "fork" in reason and "fork_privileged" in reason
    assert refusal(plugin(), trust=FORK, privileged_images=PLUGINS, fork_privileged=True) == ""
    changed = plugin(commands=["id"])
    assert "only as shipped" in refusal(
        changed, trust=FORK, privileged_images=PLUGINS, fork_privileged=True
    )


def test_image_bound_secret_reaches_only_the_plugin_as_shipped():
    # Woodpecker, pipeline/frontend/yaml/compiler/compiler.go Secret.Available: a secret with
    # an image filter "is only allowed to be used by plugins" (no commands, no entrypoint).
    assert secret_fits(["plugins/docker"], "plugins/docker:20", plugin=True)
    assert not secret_fits(["plugins/docker"], "plugins/docker:20", plugin=False)
    assert not secret_fits(["plugins/docker"], "alpine", plugin=True)
    assert secret_fits([], "alpine", plugin=False)


@pytest.mark.parametrize("field", ["commands", "entrypoint", "command"])
def test_a_step_that_replaces_the_shipped_program_is_no_plugin_in_either_form(field):
    # Woodpecker and Drone both take `command:`; it replaces the image's CMD like `commands:`
    # replaces its program, so an image-bound secret must not reach it.
    program = ["sh", "-c", "env"]
    assert not is_plugin(StepSpec(name="s", image="plugins/docker", **{field: program}))
    assert not is_plugin({"name": "s", "image": "plugins/docker", field: program})
    assert is_plugin(StepSpec(name="s", image="plugins/docker"))
    assert is_plugin({"name": "s", "image": "plugins/docker", field: None})


def env(name, labels, approval=False, lock=False):
    return SimpleNamespace(name=name, labels=labels, approval_required=approval, lock=lock)


def test_fork_labels_of_a_guarded_environment_are_refused():
    environments = [
        env("staging", {"env": "staging"}),
        env("production", {"env": "production"}, approval=True),
        env("db", {"pool": "db"}, lock=True),
    ]
    assert route_refusal({"env": "staging"}, environments) == ""
    assert route_refusal({"arch": "arm64"}, environments) == ""
    assert "production" in route_refusal({"env": "production"}, environments)
    assert "production" in route_refusal({"env": "*"}, environments)
    assert "lock" in route_refusal({"pool": "db"}, environments)


SOCKET_ON_TAGS = """\
kind: pipeline
name: ci
steps:
- name: test
  image: alpine
  commands: [true]
- name: publish
  image: alpine
  volumes: [{name: sock, path: /var/run/docker.sock}]
  when: {event: tag}
volumes:
- {name: sock, host: {path: /var/run/docker.sock}}
"""


def test_only_steps_that_run_for_the_event_are_judged():
    files = {".drone.yml": SOCKET_ON_TAGS}
    push = load_pipeline(files, BuildContext(event="push"))
    assert [s.name for s in push.stages[0].steps] == ["clone", "test"]
    with pytest.raises(PipelineError) as refused:
        load_pipeline(files, BuildContext(event="tag", tag="v1"))
    assert refused.value.line == 7 and "needs a trusted repository" in str(refused.value)


def test_fork_stage_labels_refused_at_the_node_line():
    text = "kind: pipeline\nname: ci\nnode:\n  env: production\nsteps:\n- {name: a, image: x}\n"
    fork = BuildContext(event="pull_request", fork=True)
    with pytest.raises(PipelineError) as refused:
        load_pipeline({".drone.yml": text}, fork, fork_route=lambda labels: "no production")
    assert refused.value.line == 3 and "no production" in str(refused.value)
    own = BuildContext(event="pull_request", fork=False)
    assert load_pipeline({".drone.yml": text}, own, fork_route=lambda labels: "no production")
