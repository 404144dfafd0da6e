"""Upload files or a folder of the workspace to object storage through the S3 API.

Works with AWS S3, MinIO and Aliyun OSS (its S3-compatible endpoint). Accepts the settings of
plugins/s3 (``access_key``, ``secret_key``, ``path_style``, ``region``) and of
drone_aliyun_oss-style plugins (``access_key_id``, ``access_key_secret``, ``endpoint``,
``bucket``, ``target``/``dest``). ``delete`` removes stale objects under the target prefix,
for static sites. See README.md.
"""

from __future__ import annotations

import fnmatch
import glob
import mimetypes
import os
import urllib.parse
from dataclasses import dataclass, field

from plugin_kit.output import PluginError, run, say
from plugin_kit.s3 import S3Client, S3Error, region_for
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


@dataclass
class Upload:
    path: str  # file in the workspace
    key: str  # object key
    headers: dict[str, str] = field(default_factory=dict)


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


def plan_uploads(s: Settings) -> tuple[list[Upload], str]:
    """The uploads and the target prefix, from the settings and the workspace."""
    source = s.require("source", "src", hint="a file, a folder or a glob such as dist/**/*")
    target = s.get("target", "dest", "destination", default="") or ""
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
        headers = {"Content-Type": content_type(path, types)}
        if acl and acl != "default":
            headers["x-amz-acl"] = acl
        for header, table in (("Cache-Control", cache_control), ("Content-Encoding", encodings)):
            value = pick(table, path) if table else ""
            if value:
                headers[header] = value
        uploads.append(Upload(path, object_key(path, target, strip_prefix), headers))
    return uploads, target.strip("/")


def make_client(s: Settings) -> tuple[S3Client, str]:
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
    client = S3Client(
        endpoint=endpoint,
        access_key=access_key,
        secret_key=secret_key,
        region=region_for(endpoint, region),
        path_style=path_style,
        insecure=s.bool("skip_verify", "insecure"),
    )
    return client, bucket


def main(environ: dict[str, str] | None = None) -> int:
    s = Settings(environ)
    client, bucket = make_client(s)
    uploads, prefix = plan_uploads(s)
    dry_run = s.bool("dry_run")
    say(f"uploading {len(uploads)} file(s) to {client.endpoint} bucket {bucket} prefix /{prefix}")
    try:
        for up in uploads:
            say(f"{up.path} -> {up.key} ({up.headers['Content-Type']})")
            if not dry_run:
                with open(up.path, "rb") as fh:
                    client.put_object(bucket, up.key, fh.read(), up.headers)
        if s.bool("delete", "delete_stale", "sync"):
            keep = {up.key for up in uploads}
            listing_prefix = f"{prefix}/" if prefix else ""
            stale = [k for k in client.list_keys(bucket, listing_prefix) if k not in keep]
            for key in stale:
                say(f"deleting stale {key}")
                if not dry_run:
                    client.delete_object(bucket, key)
            say(f"deleted {len(stale)} stale object(s)")
    except S3Error as exc:
        raise PluginError(str(exc)) from None
    say("dry run: nothing written" if dry_run else f"uploaded {len(uploads)} file(s)")
    return 0


if __name__ == "__main__":
    run(main)
