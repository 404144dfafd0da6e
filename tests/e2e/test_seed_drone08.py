"""The seeds' Drone 0.8 file runs unchanged, under `runner exec` and through a server and agent.

The file is ../shared/seeds/drone08-cmdb_api.yml, kept verbatim in
tests/pipeline/fidelity/seeds/; ``LOCAL_EDITS`` swaps only what cannot be reached here: the
image names (to images of the local engine) and the addresses of the two servers (the
registry's ``registry:``/``repo:``, which name the pushed image, and the S3 ``endpoint:``).
Everything else runs as written for tag ``v1.2.3``, as Drone 0.8 ran it:

- ``build_static`` collects the static files to static_root/1.2.3 (``${DRONE_TAG##v}``);
- ``push_static`` (drone_aliyun_oss's settings: ``target`` the local folder, ``dest`` the key
  prefix) puts them in a real S3 server (moto) under cmdb-api/static/1.2.3/;
- ``publish`` (``image: plugins/docker``, which ``runner plugin build`` tags; the Docker socket
  is Drone's privileged-plugin grant) pushes the image to a real registry with htpasswd as
  ``latest`` and ``1.2.3``, logged in with ``username: ${DOCKER_USER}``/``password:
  ${DOCKER_PASSWORD}``;
- ``deploy`` runs ``pip install aliyun_cs_tools`` and the deploy script, which sees
  VERSION=1.2.3 and every secret, masked in the log.

The secrets reach the file as Drone 0.5–0.8 substituted them (``${ALIYUN_ACCESS_KEY_ID}``, for
a secret added with ``drone secret add --skip-verify``): here a secret created with
``"substitute": true``, and every ``runner exec --secret``. No registry or index is reachable
here, so the step image stands in for the team's (``django:cmdb_api``, ``python:2.7``): the
local Python image with pip and a wheel folder holding a stand-in ``aliyun_cs_tools``
(``PIP_NO_INDEX``, ``PIP_FIND_LINKS``), as a team's base image points pip at its own mirror.
The step containers reach the S3 server on the gateway address of a network the test creates.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from runner.commands.plugin import build_plugin_images, drone_name_refs, plugins_dir
from runner.commands.plugin_wheelhouse import (
    REQUIREMENTS,
    ensure_wheelhouse,
    probe_target,
    wheel_files,
)
from runner.testing import TEST_LABEL, session_id
from tests.e2e.harness import AgentProcess, LocalRepo, ServerProcess, github_push
from tests.plugins.conftest import PYTHON, start_registry  # noqa: F401  (a fixture)

# The module's images are built in its first test's setup, and its builds may each wait up to
# 600 s for a loaded machine: the default per-test limit would cut a slow but sound run.
pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]

SEED = Path(__file__).resolve().parents[1] / "pipeline" / "fidelity" / "seeds"
PROJECT = Path(__file__).parent / "seed" / "project"
SLUG = "ops/cmdb_api"
TAG = "v1.2.3"
SECRETS = {
    "ALIYUN_ACCESS_KEY_ID": "LTAI5tSeedAccessKeyId01",
    "ALIYUN_ACCESS_KEY_SECRET": "seedAccessKeySecret-0123456789abcdef",
    "DOCKER_USER": "cmdb-deployer",
    "DOCKER_PASSWORD": "Seed-Registry-Passw0rd",
    "CLUSTER_ID": "c4f2a9e1b7d34e8f9a0b",
    "PGCRYPTO_DEFAULT_KEY": "pgcrypto-seed-key-5ab3",
}
SEED_PYTHON = f"runner-test/seed-python:{session_id()}"
PLUGIN_PREFIX = f"runner-test/seed-{session_id()}-"


def local_edits(registry: str, endpoint: str) -> dict[str, str]:
    """Each line of the seeds' file that changes here, and what it becomes."""
    return {
        "    image: registry.cn-hangzhou.aliyuncs.com/ly_ops/django:cmdb_api": (
            f"    image: {SEED_PYTHON}"
        ),
        "    image: registry.cn-hangzhou.aliyuncs.com/ly_ops/drone_aliyun_oss": (
            f"    image: {PLUGIN_PREFIX}oss:latest"
        ),
        "    endpoint: oss-cn-shanghai.aliyuncs.com": f"    endpoint: {endpoint}",
        "    registry: registry.cn-hangzhou.aliyuncs.com": f"    registry: {registry}",
        "    repo: registry.cn-hangzhou.aliyuncs.com/ly_ops/cmdb_api": (
            f"    repo: {registry}/ly_ops/cmdb_api"
        ),
        "    image: python:2.7": f"    image: {SEED_PYTHON}",
    }


def seed_file(registry: str, endpoint: str) -> str:
    """The seeds' file with ``local_edits`` and nothing else changed."""
    lines = (SEED / "drone08-cmdb_api.yml").read_text(encoding="utf-8").split("\n")
    edits = local_edits(registry, endpoint)
    assert sorted(line for line in lines if line in edits) == sorted(edits)
    changed = [edits.get(line, line) for line in lines]
    assert "image: plugins/docker" in "\n".join(changed)  # as written: it resolves locally
    return "\n".join(changed)


def project_files(pipeline: str) -> dict[str, str]:
    files = {".drone.yml": pipeline}
    for path in sorted(PROJECT.rglob("*")):
        if path.is_file():
            files[str(path.relative_to(PROJECT))] = path.read_text(encoding="utf-8")
    return files


# Images -------------------------------------------------------------------------------------


def _stand_in_wheel() -> tuple[str, bytes]:
    """A wheel of a stand-in ``aliyun_cs_tools`` (the real one needs an index)."""
    files = {
        "aliyun_cs_tools/__init__.py": b'"""Stand-in for the seeds\' deploy helpers."""\n'
        b'VERSION = "0.0.0+seed"\n',
        "aliyun_cs_tools-0.0.0.dist-info/METADATA": b"Metadata-Version: 2.1\n"
        b"Name: aliyun_cs_tools\nVersion: 0.0.0\n",
        "aliyun_cs_tools-0.0.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\n"
        b"Root-Is-Purelib: true\nTag: py2-none-any\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("aliyun_cs_tools-0.0.0.dist-info/RECORD,,")
    files["aliyun_cs_tools-0.0.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
    return "aliyun_cs_tools-0.0.0-py2.py3-none-any.whl", out.getvalue()


SEED_DOCKERFILE = f"""\
FROM {PYTHON}
COPY wheels/ /wheels/
# As the python images on Docker Hub: pip, pip3 and python on the PATH, no PEP 668 marker.
RUN rm -f /usr/lib/python3*/EXTERNALLY-MANAGED && set -- /wheels/pip-*.whl && \\
    python3 "$1/pip" install --no-index --no-cache-dir --quiet "$1" && \\
    ln -s /usr/bin/python3 /usr/local/bin/python
ENV PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels PIP_DISABLE_PIP_VERSION_CHECK=1
"""


def _build_seed_python(client: Any, labels: dict[str, str]) -> None:
    target = probe_target(client, PYTHON, labels)
    wheelhouse = ensure_wheelhouse(target, plugins_dir() / REQUIREMENTS, log=lambda _: None)
    (pip_wheel,) = [w for w in wheel_files(wheelhouse) if w.name.startswith("pip-")]
    wheel_name, wheel = _stand_in_wheel()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (
            ("Dockerfile", SEED_DOCKERFILE.encode()),
            (f"wheels/{wheel_name}", wheel),
            (f"wheels/{pip_wheel.name}", pip_wheel.read_bytes()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    stream = client.api.build(
        fileobj=context,
        custom_context=True,
        tag=SEED_PYTHON,
        labels=labels,
        network_mode="none",
        rm=True,
        forcerm=True,
        decode=True,
    )
    errors = [chunk["error"] for chunk in stream if "error" in chunk]
    assert not errors, errors


@pytest.fixture(scope="module")
def seed_images(docker_client: Any, session_labels: dict[str, str]) -> Iterator[None]:
    """The stand-in step image, and the oss and docker plugin images as `runner plugin build`
    makes them (the docker one also as ``plugins/docker:latest``)."""
    _build_seed_python(docker_client, session_labels)
    refs = build_plugin_images(
        docker_client,
        ["docker", "oss"],
        base_image=PYTHON,
        tag_prefix=PLUGIN_PREFIX,
        tag="latest",
        labels=session_labels,
        log=lambda _: None,
        network_mode="none",
    )
    yield
    for ref in [SEED_PYTHON, *refs, *drone_name_refs(["docker"], "latest")]:
        try:
            docker_client.images.remove(ref, force=True)
        except Exception:
            pass


# Servers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(docker_client: Any, session_labels: dict[str, str]) -> Iterator[str]:
    """The host's address on a network this module creates: step containers (on their
    stage's own network) reach a server listening there, never one on 127.0.0.1."""
    network = docker_client.networks.create(
        f"seed-{uuid.uuid4().hex[:8]}", driver="bridge", labels=session_labels
    )
    network.reload()
    yield network.attrs["IPAM"]["Config"][0]["Gateway"]
    network.remove()


@pytest.fixture
def s3(gateway: str) -> Iterator[tuple[str, Any]]:
    """A real S3 server (moto) on the gateway address, with the seeds' bucket."""
    server = ThreadedMotoServer(ip_address=gateway, port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=SECRETS["ALIYUN_ACCESS_KEY_ID"],
        aws_secret_access_key=SECRETS["ALIYUN_ACCESS_KEY_SECRET"],
        region_name="us-east-1",
    )
    # Every moto server of one test process shares one store: start from an empty one, so
    # another test's objects in the same bucket are not listed here.
    requests.post(f"{endpoint}/moto-api/reset", timeout=30).raise_for_status()
    client.create_bucket(Bucket="lyops")
    yield endpoint, client
    server.stop()


# What a user sees ---------------------------------------------------------------------------


def assert_static_files_uploaded(client: Any) -> None:
    listing = client.list_objects_v2(Bucket="lyops").get("Contents", [])
    keys = sorted(o["Key"] for o in listing)
    assert keys == ["cmdb-api/static/1.2.3/css/site.css", "cmdb-api/static/1.2.3/js/app.js"]
    body = client.get_object(Bucket="lyops", Key="cmdb-api/static/1.2.3/css/site.css")["Body"]
    assert body.read() == (PROJECT / "static" / "css" / "site.css").read_bytes()


def assert_image_pushed(docker_client: Any, registry: Any) -> None:
    auth = {"username": registry.username, "password": registry.password}
    repository = f"{registry.address}/ly_ops/cmdb_api"
    for tag in ("latest", "1.2.3"):
        docker_client.images.pull(repository, tag=tag, auth_config=auth)
        try:
            out = docker_client.containers.run(
                f"{repository}:{tag}",
                ["cat", "/app/static_root/1.2.3/css/site.css"],
                labels={TEST_LABEL: session_id()},
                remove=True,
            )
            assert out == (PROJECT / "static" / "css" / "site.css").read_bytes()
        finally:
            docker_client.images.remove(f"{repository}:{tag}", force=True)


def assert_deploy_saw_its_variables(log: str) -> None:
    for name in ("ALIYUN_ACCESS_KEY_ID", "ALIYUN_ACCESS_KEY_SECRET", "CLUSTER_ID"):
        digest = hashlib.sha256(SECRETS[name].encode()).hexdigest()[:16]
        assert f"{name} sha256 {digest}" in log, log
    digest = hashlib.sha256(SECRETS["PGCRYPTO_DEFAULT_KEY"].encode()).hexdigest()[:16]
    assert f"PGCRYPTO_DEFAULT_KEY sha256 {digest}" in log, log
    assert "cluster id as printed: ******" in log, log
    assert "deploying cmdb-api 1.2.3 to cluster in cn-shanghai with aliyun_cs_tools" in log


def assert_no_secret_shown(text: str) -> None:
    for name, value in SECRETS.items():
        assert value not in text, f"the value of {name} is shown"


# Tests --------------------------------------------------------------------------------------


def test_seed_file_runs_under_runner_exec(
    seed_images: None,
    s3: tuple[str, Any],
    start_registry: Any,  # noqa: F811
    docker_client: Any,
    tmp_path: Path,
    run_id: str,
) -> None:
    endpoint, client = s3
    registry = start_registry(SECRETS["DOCKER_USER"], SECRETS["DOCKER_PASSWORD"])
    project = tmp_path / "cmdb_api"
    for name, text in project_files(seed_file(registry.address, endpoint)).items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text, encoding="utf-8")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "master"], cwd=project, check=True)
    subprocess.run(git + ["add", "."], cwd=project, check=True)
    subprocess.run(git + ["commit", "-qm", "release 1.2.3"], cwd=project, check=True)
    args = [sys.executable, "-m", "runner", "exec", "--tag", TAG, "--repo", SLUG]
    for name, value in SECRETS.items():
        args += ["--secret", f"{name}={value}"]
    result = subprocess.run(
        args,
        cwd=project,
        env={
            **os.environ,
            "RUNNER_EXEC_LABELS": f"{TEST_LABEL}={run_id}",
            "RUNNER_DATA_DIR": str(tmp_path / "data"),
            "NO_COLOR": "1",
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert_static_files_uploaded(client)
    assert_image_pushed(docker_client, registry)
    assert_deploy_saw_its_variables(output)
    assert_no_secret_shown(output)


def test_seed_file_runs_through_the_server_and_an_agent(
    seed_images: None,
    s3: tuple[str, Any],
    start_registry: Any,  # noqa: F811
    docker_client: Any,
    tmp_path: Path,
) -> None:
    endpoint, client = s3
    registry = start_registry(SECRETS["DOCKER_USER"], SECRETS["DOCKER_PASSWORD"])
    server = ServerProcess(tmp_path / "server", embedded_agent=False).start()
    agent = None
    try:
        agent = AgentProcess(server, tmp_path / "agent", name="seed-agent").start()
        token = server.token("admin")
        repo = LocalRepo(tmp_path / "git")
        resp = server.api(
            "POST",
            "/repos",
            token,
            json={"slug": SLUG, "forge": "github", "clone_url": repo.clone_url},
        )
        assert resp.status_code == 201, resp.text
        hook_secret = resp.json()["webhook_secret"]
        for name, value in SECRETS.items():
            # drone secret add --skip-verify ops/cmdb_api NAME VALUE
            resp = server.api(
                "POST",
                f"/repos/{SLUG}/secrets",
                token,
                json={"name": name, "value": value, "substitute": True},
            )
            assert resp.status_code == 201, resp.text
        files = project_files(seed_file(registry.address, endpoint))
        sha = repo.commit(files, message="release 1.2.3", branch="master", tag=TAG)
        headers, body = github_push(SLUG, repo, sha, hook_secret, branch="master", tag=TAG)
        resp = server.post_hook(SLUG, headers, body)
        assert resp.status_code in (200, 201, 202), resp.text
        number = server.api("GET", f"/repos/{SLUG}/builds", token).json()[0]["number"]
        build = server.wait_build(SLUG, number, token, timeout=600)
        (stage,) = build["stages"]
        logs = {}
        for step in stage["steps"]:
            path = f"/repos/{SLUG}/builds/{number}/logs/{stage['number']}/{step['number']}"
            logs[step["name"]] = server.api("GET", path, token).text
        statuses = {step["name"]: step["status"] for step in stage["steps"]}
        if build["status"] != "success":
            # In full: an assertion's message is cut short, and the failed step's log says why.
            failed = [name for name, status in statuses.items() if status != "success"]
            shown = "".join(f"\n--- {name}\n{logs[name][-6000:]}" for name in failed)
            pytest.fail(f"build {build['status']}: {statuses}{shown}\n--- agent\n{agent.log()}")
        assert list(statuses) == ["clone", "build_static", "push_static", "publish", "deploy"]
        assert_static_files_uploaded(client)
        assert_image_pushed(docker_client, registry)
        assert_deploy_saw_its_variables(logs["deploy"])
        assert_no_secret_shown("\n".join(logs.values()))
    finally:
        if agent is not None:
            agent.stop()
        server.stop()
