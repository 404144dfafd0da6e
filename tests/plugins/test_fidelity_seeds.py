"""The oss and docker plugins read the seeds' Drone settings as the plugins they replace do.

- oss, in drone_aliyun_oss's words (the seeds' plugin; ../shared/seeds/README.md and the
  file's own note ``ossutil cp file_url oss://bucket[/prefix] [-r]``): ``target`` is the local
  folder, ``dest`` the key prefix; in plugins/s3's words (drone-plugins/drone-s3 README:
  ``source`` the files, ``target`` the prefix) as before. Uploads go to a real S3 server (moto).
- docker, in drone-docker's words (drone-plugins/drone-docker cmd/drone-docker/main.go, the
  ``EnvVar`` of each flag): ``PLUGIN_USERNAME,DOCKER_USERNAME``,
  ``PLUGIN_PASSWORD,DOCKER_PASSWORD``, ``PLUGIN_REGISTRY,DOCKER_REGISTRY``; ``repo``, ``tags``
  (``PLUGIN_TAG,PLUGIN_TAGS``), ``dockerfile``. ``runner plugin build`` tags the image under
  the Drone name ``plugins/docker`` too, and that image pushes to a real registry with
  htpasswd with only the ``DOCKER_*`` variables a Drone 0.8 ``secrets:`` entry exports.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import boto3
import click
import docker
import docker_plugin
import oss_plugin
import pytest
import requests
from click.testing import CliRunner
from moto.server import ThreadedMotoServer

from runner.commands import plugin as plugin_command
from runner.commands.plugin import drone_name_refs
from runner.testing import session_id
from tests.plugins.conftest import BUSYBOX, PYTHON, TEST_LABEL

ACCESS_KEY = "LTAI-seed-access-key"
SECRET_KEY = "seed-secret-key-0123456789"
PASSWORD = "seed-Registry-pa55"


@pytest.fixture
def s3() -> Any:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )
    # Every moto server of one test process shares one store: start from an empty one, so
    # another test's objects in the same bucket are not listed here.
    requests.post(f"{endpoint}/moto-api/reset", timeout=30).raise_for_status()
    client.create_bucket(Bucket="lyops")
    yield endpoint, client
    server.stop()


def _static_root(ws: Path) -> Path:
    (ws / "static_root" / "1.2.3" / "css").mkdir(parents=True)
    (ws / "static_root" / "1.2.3" / "css" / "site.css").write_text("h1 {}")
    (ws / "static_root" / "1.2.3" / "app.js").write_text("console.log(1)")
    (ws / "static_root" / "1.2.2").mkdir()
    (ws / "static_root" / "1.2.2" / "old.js").write_text("not this version")
    return ws


def test_aliyun_oss_target_is_the_local_folder_and_dest_the_key_prefix(
    s3: Any, tmp_path: Path, in_process: Any
) -> None:
    endpoint, client = s3
    env = {
        "PLUGIN_ACCESS_KEY_ID": ACCESS_KEY,
        "PLUGIN_ACCESS_KEY_SECRET": SECRET_KEY,
        "PLUGIN_ENDPOINT": endpoint,
        "PLUGIN_BUCKET": "lyops",
        "PLUGIN_TARGET": "static_root/1.2.3",
        "PLUGIN_DEST": "cmdb-api/static/1.2.3",
    }
    code, out = in_process(oss_plugin.main, env, cwd=_static_root(tmp_path))
    assert code == 0, out
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket="lyops")["Contents"])
    assert keys == ["cmdb-api/static/1.2.3/app.js", "cmdb-api/static/1.2.3/css/site.css"]
    body = client.get_object(Bucket="lyops", Key="cmdb-api/static/1.2.3/css/site.css")["Body"]
    assert body.read() == b"h1 {}"
    assert SECRET_KEY not in out and ACCESS_KEY not in out


@pytest.mark.parametrize(
    ("settings", "local", "prefix"),
    [
        ({"TARGET": "static_root", "DEST": "cmdb-api/static"}, "static_root", "cmdb-api/static"),
        ({"TARGET": "static_root"}, "static_root", ""),  # dest optional: the bucket root
        ({"SOURCE": "public", "TARGET": "/site"}, "public", "/site"),  # plugins/s3
        ({"SOURCE": "public", "DEST": "site"}, "public", "site"),
    ],
    ids=["aliyun", "aliyun-no-dest", "s3", "s3-dest-alias"],
)
def test_source_and_prefix_follow_the_plugin_whose_words_the_step_uses(
    settings: dict[str, str], local: str, prefix: str
) -> None:
    s = oss_plugin.Settings({f"PLUGIN_{k}": v for k, v in settings.items()})
    assert oss_plugin.source_and_prefix(s) == (local, prefix)


def test_no_source_and_no_target_is_one_line(in_process: Any) -> None:
    env = {"PLUGIN_BUCKET": "b", "PLUGIN_ACCESS_KEY_ID": "k", "PLUGIN_ACCESS_KEY_SECRET": "s"}
    code, out = in_process(oss_plugin.main, env)
    assert code == 1 and out.count("\n") == 1
    assert "missing required setting 'source' (or target)" in out


def test_docker_login_falls_back_to_the_docker_variables(plugin_env: dict[str, str]) -> None:
    env = dict(
        plugin_env,
        PLUGIN_REPO="team/app",
        PLUGIN_TAGS="latest,1.2.3",
        DOCKER_REGISTRY="registry.local:5000",
        DOCKER_USERNAME="ci",
        DOCKER_PASSWORD=PASSWORD,
    )
    plan = docker_plugin.make_plan(docker_plugin.Settings(env))
    assert plan is not None
    assert (plan.image, plan.registry, plan.username, plan.password, plan.tags) == (
        "registry.local:5000/team/app",
        "registry.local:5000",
        "ci",
        PASSWORD,
        ["latest", "1.2.3"],
    )
    env.update(PLUGIN_USERNAME="deploy", PLUGIN_PASSWORD="from-settings")  # settings first
    plan = docker_plugin.make_plan(docker_plugin.Settings(env))
    assert plan is not None and (plan.username, plan.password) == ("deploy", "from-settings")


def test_the_plugin_build_names_the_docker_plugin_as_drone_files_do() -> None:
    assert drone_name_refs(["docker", "oss"], "1.0") == ["plugins/docker:1.0"]


@pytest.mark.docker
def test_plugins_docker_image_pushes_with_drone_08_docker_variables(
    docker_client: Any,
    plugin_images: dict[str, str],
    run_plugin: Any,
    start_registry: Any,
    plugin_env: dict[str, str],
    tmp_path: Path,
) -> None:
    (image,) = drone_name_refs(["docker"], f"test-{session_id()}")
    assert (
        docker_client.images.get(image).id == docker_client.images.get(plugin_images["docker"]).id
    )
    registry = start_registry("ci", PASSWORD)
    marker = uuid.uuid4().hex
    (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\nRUN echo {marker} > /marker\n")
    env = dict(
        plugin_env,
        PLUGIN_REGISTRY=registry.address,
        PLUGIN_REPO=f"{registry.address}/ly_ops/cmdb_api",
        PLUGIN_DOCKERFILE="Dockerfile",
        PLUGIN_TAGS="latest,1.2.3",
        PLUGIN_LABELS=f"{TEST_LABEL}=1",
        DOCKER_USERNAME="ci",
        DOCKER_PASSWORD=PASSWORD,
    )
    result = run_plugin(image, env, workspace=tmp_path, socket_mount=True)
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert f"logged in to {registry.address} as ci" in result.output
    auth = {"username": "ci", "password": PASSWORD}
    for tag in ("latest", "1.2.3"):
        ref = f"{registry.address}/ly_ops/cmdb_api:{tag}"
        docker_client.images.pull(f"{registry.address}/ly_ops/cmdb_api", tag=tag, auth_config=auth)
        try:
            out = docker_client.containers.run(
                ref, ["cat", "/marker"], labels={TEST_LABEL: "1"}, remove=True
            )
            assert out.decode().strip() == marker
        finally:
            docker_client.images.remove(ref, force=True)


@pytest.mark.docker
def test_cli_tags_the_docker_plugin_under_its_drone_name(docker_client: Any) -> None:
    group = click.Group()
    plugin_command.register(group)
    tag = f"test-cli-{uuid.uuid4().hex[:8]}"
    args = ["plugin", "build", "docker", "--base-image", PYTHON, "--tag", tag]
    result = CliRunner().invoke(group, args + ["--tag-prefix", "pipeline-runner/cli-"])
    try:
        assert result.exit_code == 0, result.output
        assert f"built: pipeline-runner/cli-docker:{tag}" in result.output
        assert f"tagged for Drone files: plugins/docker:{tag}" in result.output
        built = docker_client.images.get(f"pipeline-runner/cli-docker:{tag}")
        assert docker_client.images.get(f"plugins/docker:{tag}").id == built.id
    finally:
        for ref in (f"pipeline-runner/cli-docker:{tag}", f"plugins/docker:{tag}"):
            try:
                docker_client.images.remove(ref, force=True)
            except docker.errors.ImageNotFound:
                pass
