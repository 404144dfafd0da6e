"""Upload files or a folder of the workspace to object storage through the S3 API.

Works with AWS S3, MinIO and Aliyun OSS (its S3-compatible endpoint). Accepts the settings of
plugins/s3 (``access_key``, ``secret_key``, ``path_style``, ``region``) and of
drone_aliyun_oss-style plugins (``access_key_id``, ``access_key_secret``, ``endpoint``,
``bucket``, and ``target``: the local folder, ``dest``: the key prefix). ``delete`` removes
stale objects under the target prefix, for static sites. The S3 calls are boto3's. See README.md.
"""

from __future__ import annotations

import fnmatch
import glob
import mimetypes
import os
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
from plugin_kit.output import PluginError, run, say
from plugin_kit.settings import SettingError, Settings

# Types the Python table misses or gets wrong for the web.
EXTRA_TYPES = {
    ".js": "application/javascript",
    ".mjs": "application/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".webp": "image/webp",
    ".md": "text/markdown",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
}
ACLS = {
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "default",
}


# What each S3 error code asks the user to check.
HINTS = {
    "NoSuchBucket": "create the bucket or fix the 'bucket' setting",
    "AccessDenied": "check the key's permissions on the bucket",
    "InvalidAccessKeyId": "check 'access_key'",
    "SignatureDoesNotMatch": "check 'secret_key', 'region' and 'path_style'",
}


@dataclass
class Upload:
    path: str  # file in the workspace
    key: str  # object key
    params: dict[str, str] = field(default_factory=dict)  # ContentType, ACL... of put_object


def region_for(endpoint: str, region: str = "") -> str:
    """The signing region: the setting, else ``oss-cn-x`` from an Aliyun host, else us-east-1."""
    if region:
        return region
    host = urllib.parse.urlsplit(endpoint if "://" in endpoint else "//" + endpoint).hostname or ""
    if host.endswith(".aliyuncs.com"):
        return host.split(".")[0].replace("-internal", "")
    if host.startswith("s3.") and host.endswith(".amazonaws.com") and host.count(".") == 3:
        return host.split(".")[1]
    return "us-east-1"


def default_path_style(endpoint: str) -> bool:
    """Path-style for MinIO and other self-hosted endpoints; virtual-hosted for AWS and OSS."""
    host = urllib.parse.urlsplit(endpoint).hostname or ""
    return not (host.endswith(".aliyuncs.com") or host.endswith("amazonaws.com"))


def find_files(source: str, excludes: list[str]) -> tuple[list[str], str]:
    """Files matching ``source`` (a glob with ``**``, a file or a folder), and the folder
    prefix to strip by default (the folder itself when ``source`` names one)."""
    base = ""
    pattern = source
    if os.path.isdir(source):
        base = source.rstrip("/") + "/"
        pattern = base + "**/*"
    paths = sorted(
        os.path.normpath(p) for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)
    )
    paths = [p for p in paths if not any(fnmatch.fnmatch(p, x) for x in excludes)]
    return paths, os.path.normpath(base) + "/" if base else ""


def object_key(path: str, target: str, strip_prefix: str) -> str:
    rel = path.replace(os.sep, "/")
    if strip_prefix and rel.startswith(strip_prefix.lstrip("./")):
        rel = rel[len(strip_prefix.lstrip("./")) :]
    rel = rel.lstrip("/")
    prefix = target.strip("/")
    return f"{prefix}/{rel}" if prefix else rel


def pick(table: dict[str, str] | str, path: str) -> str:
    """A per-file value: a plain string, or the first glob/extension of a table that matches."""
    if isinstance(table, str):
        return table
    ext = os.path.splitext(path)[1]
    for pattern, value in table.items():
        if pattern in (ext, ext.lstrip(".")) or fnmatch.fnmatch(path, pattern):
            return value
    return ""


def content_type(path: str, overrides: dict[str, str] | str) -> str:
    chosen = pick(overrides, path) if overrides else ""
    if chosen:
        return chosen
    ext = os.path.splitext(path)[1].lower()
    guessed = EXTRA_TYPES.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/javascript", "application/json"):
        guessed += "; charset=utf-8"
    return guessed


def table_or_string(s: Settings, *names: str) -> dict[str, str] | str:
    value = s.get(*names)
    if value is None:
        return {}
    if value.strip().startswith("{"):
        return s.map(*names)
    return value


def source_and_prefix(s: Settings) -> tuple[str, str]:
    """What to upload and the key prefix, in either plugin's words.

    plugins/s3 names the local files ``source`` and the key prefix ``target``. The
    drone_aliyun_oss images (an ``ossutil cp -r target oss://bucket/dest`` wrapper) name the
    local folder ``target`` and the key prefix ``dest``. A step with ``source`` speaks the
    first; one without speaks the second, so both kinds of files run unchanged.
    """
    source = s.get("source", "src")
    if source is not None:
        return source, s.get("target", "dest", "destination", default="")
    local = s.require(
        "source",
        "target",
        hint="source (or drone_aliyun_oss's target): a file, a folder or a glob such as dist/**/*",
    )
    return local, s.get("dest", "destination", default="")


def plan_uploads(s: Settings) -> tuple[list[Upload], str]:
    """The uploads and the target prefix, from the settings and the workspace."""
    source, target = source_and_prefix(s)
    excludes = s.list("exclude", "ignore")
    files, folder = find_files(source, excludes)
    if not files:
        raise PluginError(f"no file matches source {source!r} in {os.getcwd()}")
    strip_prefix = s.get("strip_prefix", default=folder) or ""
    acl = s.get("acl", default="") or ""
    if acl and acl not in ACLS:
        raise SettingError(f"setting 'acl' {acl!r} is not one of {', '.join(sorted(ACLS))}")
    cache_control = table_or_string(s, "cache_control")
    types = table_or_string(s, "content_type")
    encodings = table_or_string(s, "content_encoding")
    uploads = []
    for path in files:
        params = {"ContentType": content_type(path, types)}
        if acl and acl != "default":
            params["ACL"] = acl
        for param, table in (("CacheControl", cache_control), ("ContentEncoding", encodings)):
            value = pick(table, path) if table else ""
            if value:
                params[param] = value
        uploads.append(Upload(path, object_key(path, target, strip_prefix), params))
    return uploads, target.strip("/")


def make_client(s: Settings) -> tuple[Any, str]:
    """A boto3 S3 client for the endpoint of the settings, and the bucket."""
    bucket = s.require("bucket")
    access_key = s.require_secret("access_key", "access_key_id", "aws_access_key_id")
    secret_key = s.require_secret(
        "secret_key", "access_key_secret", "secret_access_key", "aws_secret_access_key"
    )
    region = s.get("region", default="") or ""
    endpoint = s.get("endpoint", default="") or ""
    if not endpoint:
        endpoint = f"https://s3.{region}.amazonaws.com" if region else "https://s3.amazonaws.com"
    if "://" not in endpoint:
        endpoint = "https://" + endpoint
    path_style = s.bool("path_style", "force_path_style", default=default_path_style(endpoint))
    config = botocore.config.Config(
        region_name=region_for(endpoint, region),
        signature_version="s3v4",
        s3={"addressing_style": "path" if path_style else "virtual"},
        connect_timeout=60,
        read_timeout=60,
        retries={"mode": "standard", "max_attempts": 3},
        # Checksums only where S3 requires them: S3-compatible stores (Aliyun OSS, older
        # MinIO) refuse the newer default trailing checksums.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        verify=not s.bool("skip_verify", "insecure"),
        config=config,
    )
    return client, bucket


def list_keys(client: Any, bucket: str, prefix: str) -> list[str]:
    """Every key under ``prefix`` (ListObjectsV2, all pages)."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def error_text(exc: botocore.exceptions.ClientError, bucket: str, key: str = "") -> str:
    """One line: the call, the storage's status, code and message, and what to check."""
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
    method = {"PutObject": "PUT", "DeleteObject": "DELETE"}.get(exc.operation_name, "GET")
    what = f"s3://{bucket}/{key}" if key else f"bucket {bucket!r}"
    hint = HINTS.get(code, "check 'endpoint', 'bucket' and the credentials")
    return f"{method} {what} failed: {status} {code} {error.get('Message', '')}".rstrip() + (
        f" ({hint})"
    )


def main(environ: dict[str, str] | None = None) -> int:
    s = Settings(environ)
    client, bucket = make_client(s)
    uploads, prefix = plan_uploads(s)
    dry_run = s.bool("dry_run")
    endpoint = client.meta.endpoint_url
    say(f"uploading {len(uploads)} file(s) to {endpoint} bucket {bucket} prefix /{prefix}")
    key = ""
    try:
        for up in uploads:
            key = up.key
            say(f"{up.path} -> {up.key} ({up.params['ContentType']})")
            if not dry_run:
                with open(up.path, "rb") as fh:
                    client.put_object(Bucket=bucket, Key=up.key, Body=fh, **up.params)
        if s.bool("delete", "delete_stale", "sync"):
            keep = {up.key for up in uploads}
            key = ""
            listing_prefix = f"{prefix}/" if prefix else ""
            stale = [k for k in list_keys(client, bucket, listing_prefix) if k not in keep]
            for key in stale:
                say(f"deleting stale {key}")
                if not dry_run:
                    client.delete_object(Bucket=bucket, Key=key)
            say(f"deleted {len(stale)} stale object(s)")
    except botocore.exceptions.ClientError as exc:
        raise PluginError(error_text(exc, bucket, key)) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise PluginError(f"{exc} (check 'endpoint')") from None
    say("dry run: nothing written" if dry_run else f"uploaded {len(uploads)} file(s)")
    return 0


if __name__ == "__main__":
    run(main)
