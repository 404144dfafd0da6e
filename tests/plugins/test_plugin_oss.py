"""The oss plugin uploads a workspace folder to a real S3-compatible server (moto), with
content types, prefixes, headers and deletion of stale objects; the addresses and signing
region it gives boto3 for AWS, Aliyun OSS and self-hosted endpoints."""

from __future__ import annotations

import boto3
import oss_plugin
import pytest
from moto.server import ThreadedMotoServer

ACCESS_KEY = "AKIDTESTPLUGIN"
SECRET_KEY = "wJalrXUtnFEMI-secret-key-for-tests"


@pytest.fixture
def s3_server():
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
    client.create_bucket(Bucket="site")
    yield endpoint, client
    server.stop()


def _site(tmp_path):
    ws = tmp_path / "ws"
    (ws / "public" / "css").mkdir(parents=True)
    (ws / "public" / "index.html").write_text("<h1>hello</h1>")
    (ws / "public" / "css" / "site.css").write_text("h1 {}")
    (ws / "public" / "app.js").write_text("console.log(1)")
    (ws / "public" / "logo.svg").write_text("<svg/>")
    (ws / "public" / "notes.tmp").write_text("excluded")
    (ws / "src.py").write_text("not uploaded")
    return ws


def _object_url(env: dict[str, str], key: str) -> str:
    client, bucket = oss_plugin.make_client(oss_plugin.Settings(env))
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
    return url.split("?")[0]


def test_addressing_and_regions():
    keys = {"PLUGIN_ACCESS_KEY": ACCESS_KEY, "PLUGIN_SECRET_KEY": SECRET_KEY}
    aliyun = dict(keys, PLUGIN_ENDPOINT="https://oss-cn-hangzhou.aliyuncs.com")
    aliyun["PLUGIN_BUCKET"] = "site"
    assert _object_url(aliyun, "a b/c.html") == (
        "https://site.oss-cn-hangzhou.aliyuncs.com/a%20b/c.html"
    )
    minio = dict(keys, PLUGIN_ENDPOINT="http://127.0.0.1:9000", PLUGIN_BUCKET="site")
    assert _object_url(minio, "a b/c.html") == "http://127.0.0.1:9000/site/a%20b/c.html"
    assert oss_plugin.region_for("https://oss-cn-hangzhou.aliyuncs.com") == "oss-cn-hangzhou"
    assert oss_plugin.region_for("s3.eu-west-1.amazonaws.com") == "eu-west-1"
    assert oss_plugin.region_for("http://127.0.0.1:9000") == "us-east-1"
    assert oss_plugin.default_path_style("http://127.0.0.1:9000")
    assert not oss_plugin.default_path_style("https://oss-cn-beijing.aliyuncs.com")


def test_aliyun_style_settings_are_accepted(tmp_path, monkeypatch):
    monkeypatch.chdir(_site(tmp_path))
    env = {
        "PLUGIN_ENDPOINT": "oss-cn-shanghai.aliyuncs.com",
        "PLUGIN_ACCESS_KEY_ID": ACCESS_KEY,
        "PLUGIN_ACCESS_KEY_SECRET": SECRET_KEY,
        "PLUGIN_BUCKET": "site",
        "PLUGIN_SOURCE": "public",
        "PLUGIN_DEST": "/www/",
    }
    s = oss_plugin.Settings(env)
    client, bucket = oss_plugin.make_client(s)
    uploads, prefix = oss_plugin.plan_uploads(s)
    assert (client.meta.region_name, client.meta.config.s3, bucket, prefix) == (
        "oss-cn-shanghai",
        {"addressing_style": "virtual"},
        "site",
        "www",
    )
    assert "www/css/site.css" in [u.key for u in uploads]


def test_missing_secret_key_is_one_line_and_masks(tmp_path, in_process):
    env = {"PLUGIN_BUCKET": "site", "PLUGIN_ACCESS_KEY": ACCESS_KEY, "PLUGIN_SOURCE": "x"}
    code, out = in_process(oss_plugin.main, env)
    assert code == 1
    assert out.count("\n") == 1 and "missing required setting 'secret_key'" in out
    assert ACCESS_KEY not in out


@pytest.mark.docker
def test_uploads_a_folder_and_deletes_stale_objects(plugin_images, run_plugin, s3_server, tmp_path):
    endpoint, client = s3_server
    client.put_object(Bucket="site", Key="www/old.html", Body=b"stale")
    client.put_object(Bucket="site", Key="other/keep.txt", Body=b"outside the prefix")
    env = {
        "PLUGIN_ENDPOINT": endpoint,
        "PLUGIN_ACCESS_KEY": ACCESS_KEY,
        "PLUGIN_SECRET_KEY": SECRET_KEY,
        "PLUGIN_BUCKET": "site",
        "PLUGIN_PATH_STYLE": "true",
        "PLUGIN_SOURCE": "public/**/*",
        "PLUGIN_STRIP_PREFIX": "public/",
        "PLUGIN_TARGET": "/www",
        "PLUGIN_EXCLUDE": "*.tmp",
        "PLUGIN_ACL": "public-read",
        "PLUGIN_CACHE_CONTROL": '{"*.html": "no-cache", "*": "max-age=3600"}',
        "PLUGIN_DELETE": "true",
    }
    result = run_plugin(
        plugin_images["oss"], env, workspace=_site(tmp_path), host_network=True, timeout=120
    )
    assert result.exit_code == 0, result.output
    assert SECRET_KEY not in result.output and ACCESS_KEY not in result.output
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket="site")["Contents"])
    assert keys == [
        "other/keep.txt",
        "www/app.js",
        "www/css/site.css",
        "www/index.html",
        "www/logo.svg",
    ]
    expected = {
        "www/index.html": ("text/html; charset=utf-8", "no-cache"),
        "www/css/site.css": ("text/css; charset=utf-8", "max-age=3600"),
        "www/app.js": ("application/javascript; charset=utf-8", "max-age=3600"),
        "www/logo.svg": ("image/svg+xml", "max-age=3600"),
    }
    for key, (ctype, cache) in expected.items():
        head = client.head_object(Bucket="site", Key=key)
        assert (head["ContentType"], head["CacheControl"]) == (ctype, cache)
    body = client.get_object(Bucket="site", Key="www/index.html")["Body"].read()
    assert body == b"<h1>hello</h1>"
    grants = client.get_object_acl(Bucket="site", Key="www/index.html")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)


@pytest.mark.docker
def test_missing_bucket_fails_with_a_clear_message(plugin_images, run_plugin, s3_server, tmp_path):
    endpoint, _client = s3_server
    env = {
        "PLUGIN_ENDPOINT": endpoint,
        "PLUGIN_ACCESS_KEY": ACCESS_KEY,
        "PLUGIN_SECRET_KEY": SECRET_KEY,
        "PLUGIN_BUCKET": "nope",
        "PLUGIN_SOURCE": "public",
    }
    result = run_plugin(plugin_images["oss"], env, workspace=_site(tmp_path), host_network=True)
    assert result.exit_code == 1
    assert "NoSuchBucket" in result.output.splitlines()[-1]
