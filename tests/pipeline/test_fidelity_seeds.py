"""The seeds' Drone 0.8 file and its plugins compile to what Drone 0.8 would hand the plugins.

- ``drone08-cmdb_api.yml`` (the first team's file, verbatim from ../shared/seeds) on a tag:
  every step kept in order, settings as ``PLUGIN_*`` under the names the plugins read, the
  version taken from the tag without its ``v``; on a push nothing but the clone runs (every
  step says ``when: event: tag``).
- ``plugins/docker`` as written in Drone files gets the Docker socket without asking, because
  Drone runs the images of its privileged list privileged without the file asking: Drone 0.8's
  ``DRONE_ESCALATE`` (drone/drone 0.8 cmd/drone-server/server.go, named by drone-plugins/
  drone-docker README.md, "Special privileges") and drone-runner-docker's
  engine/compiler/compiler.go ``isPrivileged``, which also drops the privilege of a step that
  sets commands. This project's docker plugin builds through the agent's engine socket, so the
  grant is the socket (runner/pipeline/plugin_socket.py), for its names only: Drone's own
  images of the list (plugins/ecr...) are left alone. A fork's build gets nothing.
- Drone 0.8 ``secrets: [docker_username, docker_password]`` reach the plugin as
  ``DOCKER_USERNAME``/``DOCKER_PASSWORD`` (and ``PLUGIN_*``), the fallbacks drone-docker reads
  (cmd/drone-docker/main.go, flags ``docker.username``: ``PLUGIN_USERNAME,DOCKER_USERNAME``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from runner.commands.plugin import drone_name_refs
from runner.pipeline.config import load_pipeline
from runner.pipeline.spec import BuildContext, Mount, StepSpec
from runner.pipeline.trust import DOCKER_SOCKET, SOCKET_PLUGIN_IMAGES, image_matches
from runner.settings import Settings

FILES = Path(__file__).parent / "fidelity" / "seeds"
SOCKET = Mount(kind="host", source=DOCKER_SOCKET, target=DOCKER_SOCKET)
TAG = BuildContext(
    repo="ops/cmdb_api",
    event="tag",
    branch="master",
    tag="v1.2.3",
    ref="refs/tags/v1.2.3",
    commit="5d2f8c1a9b3e4d6f7a8b9c0d1e2f3a4b5c6d7e8f",
    build_number=7,
)
PUSH = BuildContext(
    repo="ops/cmdb_api",
    event="push",
    branch="master",
    ref="refs/heads/master",
    commit="5d2f8c1a9b3e4d6f7a8b9c0d1e2f3a4b5c6d7e8f",
    build_number=8,
)


def steps_of(name: str, ctx: BuildContext = TAG, **options: object) -> dict[str, StepSpec]:
    text = (FILES / name).read_text(encoding="utf-8")
    options.setdefault("privileged_images", Settings().agent_privileged_images)
    build = load_pipeline({".drone.yml": text}, ctx, environ={}, **options)  # type: ignore[arg-type]
    (stage,) = build.stages
    return {step.name: step for step in stage.steps}


def plugin_settings(step: StepSpec) -> dict[str, str]:
    return {k: v for k, v in step.environment.items() if k.startswith("PLUGIN_")}


def test_seed_file_on_a_tag_runs_every_step_with_the_version_from_the_tag() -> None:
    steps = steps_of("drone08-cmdb_api.yml")
    assert list(steps) == ["clone", "build_static", "push_static", "publish", "deploy"]
    assert steps["build_static"].environment["STATIC_VERSION"] == "1.2.3"
    assert plugin_settings(steps["push_static"]) == {
        # ${ALIYUN_ACCESS_KEY_ID} and ${ALIYUN_ACCESS_KEY_SECRET} are secrets substituted into
        # the file; without such secrets they are empty, as in Drone.
        "PLUGIN_ACCESS_KEY_ID": "",
        "PLUGIN_ACCESS_KEY_SECRET": "",
        "PLUGIN_ENDPOINT": "oss-cn-shanghai.aliyuncs.com",
        "PLUGIN_BUCKET": "lyops",
        "PLUGIN_TARGET": "static_root/1.2.3",
        "PLUGIN_DEST": "cmdb-api/static/1.2.3",
    }
    publish = steps["publish"]
    assert publish.image == "plugins/docker"
    assert plugin_settings(publish) == {
        "PLUGIN_REGISTRY": "registry.cn-hangzhou.aliyuncs.com",
        "PLUGIN_REPO": "registry.cn-hangzhou.aliyuncs.com/ly_ops/cmdb_api",
        "PLUGIN_USERNAME": "",
        "PLUGIN_PASSWORD": "",
        "PLUGIN_DOCKERFILE": "Dockerfile",
        "PLUGIN_TAGS": "latest,1.2.3",
    }
    assert publish.mounts == [SOCKET] and not publish.privileged
    assert steps["deploy"].environment["VERSION"] == "1.2.3"
    assert steps["deploy"].environment["PROJECT_NAME"] == "cmdb-api"
    assert steps["deploy"].commands == [
        "pip install aliyun_cs_tools",
        "python tools/deploy/deploy.py",
    ]


def test_seed_file_on_a_push_runs_only_the_clone() -> None:
    assert list(steps_of("drone08-cmdb_api.yml", PUSH)) == ["clone"]


def test_plugins_docker_as_shipped_gets_the_socket_and_with_commands_does_not() -> None:
    steps = steps_of("plugins_docker.yml")
    publish, inspect = steps["publish"], steps["inspect"]
    assert publish.mounts == [SOCKET]
    assert publish.needs_trust == [f"the Docker socket {DOCKER_SOCKET}"]
    assert inspect.mounts == [] and inspect.commands == ["docker version"]
    refs = {(ref.env, ref.name) for ref in publish.secrets}
    # Drone 0.8 gave the upper-cased target only; a plugin step also gets PLUGIN_<TARGET> for
    # plugins written for ``settings:`` (tests/pipeline/test_fidelity_drone08.py).
    assert refs == {
        ("DOCKER_USERNAME", "docker_username"),
        ("DOCKER_PASSWORD", "docker_password"),
        ("PLUGIN_DOCKER_USERNAME", "docker_username"),
        ("PLUGIN_DOCKER_PASSWORD", "docker_password"),
    }


def test_plugins_docker_gets_no_socket_off_the_privileged_list_or_in_a_fork() -> None:
    assert steps_of("plugins_docker.yml", privileged_images=())["publish"].mounts == []
    fork = dataclasses.replace(
        TAG, event="pull_request", tag="", ref="refs/pull/3/head", pull_request=3, fork=True
    )
    text = (FILES / "plugins_docker.yml").read_text().replace("event: tag", "event: pull_request")
    privileged = Settings().agent_privileged_images
    build = load_pipeline({".drone.yml": text}, fork, environ={}, privileged_images=privileged)
    assert build.stages[0].trust == "fork"
    assert [s.mounts for s in build.stages[0].steps if s.name == "publish"] == [[]]
    allowed = load_pipeline(
        {".drone.yml": text},
        fork,
        environ={},
        privileged_images=privileged,
        fork_privileged=True,
    )
    assert [s.mounts for s in allowed.stages[0].steps if s.name == "publish"] == [[SOCKET]]


def test_only_the_docker_plugins_names_get_the_socket_of_the_privileged_list() -> None:
    text = (FILES / "plugins_docker.yml").read_text().replace("plugins/docker", "plugins/ecr")
    listed = ["plugins/ecr", "plugins/docker"]
    build = load_pipeline({".drone.yml": text}, TAG, environ={}, privileged_images=listed)
    # plugins/ecr is Drone's own image (Docker in Docker): the socket is not what it needs.
    assert [s.mounts for s in build.stages[0].steps if s.name == "publish"] == [[]]
    own = text.replace("plugins/ecr", "pipeline-runner/docker:1.0")
    build = load_pipeline({".drone.yml": own}, TAG, environ={}, privileged_images=["*/docker"])
    assert [s.mounts for s in build.stages[0].steps if s.name == "publish"] == [[SOCKET]]
    for ref in drone_name_refs(["docker"]):
        assert image_matches(ref, SOCKET_PLUGIN_IMAGES)


def test_aliyun_oss_and_s3_style_settings_compile_as_written() -> None:
    steps = steps_of("aliyun_oss.yml")
    assert plugin_settings(steps["push_static"]) == {
        "PLUGIN_ENDPOINT": "oss-cn-shanghai.aliyuncs.com",
        "PLUGIN_BUCKET": "lyops",
        "PLUGIN_TARGET": "static_root/1.2.3",
        "PLUGIN_DEST": "cmdb-api/static/1.2.3",
    }
    assert plugin_settings(steps["push_site"]) == {
        "PLUGIN_BUCKET": "www",
        "PLUGIN_SOURCE": "public",
        "PLUGIN_TARGET": "/site/1.2.3",
    }
