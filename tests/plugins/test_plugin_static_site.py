"""pipelines/static-site-oss.yml runs under ``runner exec`` with the real oss and notify plugin
images: the site lands in a real S3 server (moto) with its cache headers, stale files go, and
the DingTalk notification reaches a local receiver. Only what cannot run here is swapped: the
node build (no registry) becomes a busybox script, the endpoints point at local servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml
from moto.server import ThreadedMotoServer

from tests.plugins.conftest import BUSYBOX, TEST_LABEL

PIPELINE = Path(__file__).resolve().parents[2] / "pipelines" / "static-site-oss.yml"
ACCESS_KEY = "AKIDSITE"
SECRET_KEY = "site-secret-key-0123"
BUILD = [
    "mkdir -p public/css",
    "echo '<h1>home</h1>' > public/index.html",
    "echo 'body {}' > public/css/site.css",
]


def _local_variant(endpoint: str, receiver_url: str, images: dict[str, str]) -> str:
    doc = yaml.safe_load(PIPELINE.read_text())
    steps = {s["name"]: s for s in doc["steps"]}
    steps["build"].update(image=BUSYBOX, commands=BUILD)
    steps["build"].pop("cache", None)
    for name in ("publish", "archive-release"):
        steps[name]["image"] = images["oss"]
        steps[name]["settings"].update(endpoint=endpoint, bucket="www-example", path_style=True)
        steps[name]["network_mode"] = "host"  # moto listens on the host's 127.0.0.1
    steps["notify"]["image"] = images["notify"]
    steps["notify"]["settings"]["dingtalk_url"] = f"{receiver_url}/robot/send"
    steps["notify"]["network_mode"] = "host"
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.mark.docker
def test_static_site_pipeline_publishes_to_object_storage(
    docker_client, plugin_images, receiver, tmp_path, run_id
):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket="www-example")
        s3.put_object(Bucket="www-example", Key="old-page.html", Body=b"gone after deploy")

        project = tmp_path / "site"
        project.mkdir()
        (project / ".pipeline.yml").write_text(
            _local_variant(endpoint, receiver.url, plugin_images)
        )
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, check=True)
        subprocess.run(git + ["add", "."], cwd=project, check=True)
        subprocess.run(git + ["commit", "-qm", "site"], cwd=project, check=True)
        secrets = {
            "oss_access_key_id": ACCESS_KEY,
            "oss_access_key_secret": SECRET_KEY,
            "dingtalk_token": "ding-token-xyz",
            "dingtalk_secret": "ding-secret-xyz",
        }
        args = [sys.executable, "-m", "runner", "exec", "--event", "push", "--branch", "main"]
        args += ["--trusted"]  # network_mode: host, only to reach the local test servers
        for name, value in secrets.items():
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
            timeout=300,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        for value in secrets.values():
            assert value not in output

        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="www-example")["Contents"])
        assert keys == ["css/site.css", "index.html"]
        html = s3.head_object(Bucket="www-example", Key="index.html")
        css = s3.head_object(Bucket="www-example", Key="css/site.css")
        assert (html["ContentType"], html["CacheControl"]) == (
            "text/html; charset=utf-8",
            "no-cache",
        )
        assert (css["ContentType"], css["CacheControl"]) == (
            "text/css; charset=utf-8",
            "max-age=31536000",
        )
        (ding,) = receiver.requests
        assert "ding-token-xyz" in ding.path
        assert ding.json()["markdown"]["text"].startswith("Build succeeded: ")
    finally:
        server.stop()
