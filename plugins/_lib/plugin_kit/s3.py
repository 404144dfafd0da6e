"""A small S3 client: AWS Signature Version 4 and the four calls an upload needs.

Works with AWS S3, MinIO, moto and Aliyun OSS's S3-compatible endpoint. Addressing is
path-style (``http://host/bucket/key``) or virtual-hosted (``http://bucket.host/key``).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import ssl
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class S3Error(Exception):
    """The storage answered with an error; the message carries its code and what to check."""


def _quote(text: str, safe: str = "-_.~") -> str:
    return urllib.parse.quote(text, safe=safe)


def canonical_query(query: dict[str, str]) -> str:
    return "&".join(f"{_quote(k)}={_quote(str(v))}" for k, v in sorted(query.items()))


def sign_v4(
    method: str,
    host: str,
    path: str,
    query: dict[str, str],
    headers: dict[str, str],
    payload_hash: str,
    access_key: str,
    secret_key: str,
    region: str,
    service: str = "s3",
    now: datetime.datetime | None = None,
) -> dict[str, str]:
    """Return ``headers`` plus the signature headers (``Authorization``, ``X-Amz-Date`` ...).

    ``path`` is the already URI-encoded request path. Every header passed in is signed.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    signed = {k.lower(): " ".join(str(v).strip().split()) for k, v in headers.items()}
    signed["host"] = host
    signed["x-amz-date"] = amz_date
    if service == "s3":
        signed["x-amz-content-sha256"] = payload_hash
    names = sorted(signed)
    canonical = "\n".join(
        [
            method,
            path or "/",
            canonical_query(query),
            "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names),
            payload_hash,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = dict(headers)
    out["Host"] = host
    out["X-Amz-Date"] = amz_date
    if service == "s3":
        out["X-Amz-Content-Sha256"] = payload_hash
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return out


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


@dataclass
class S3Client:
    """Signed calls against one endpoint. ``endpoint`` is ``http(s)://host[:port]``."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    path_style: bool = True
    timeout: float = 60.0
    insecure: bool = False

    def __post_init__(self) -> None:
        if "://" not in self.endpoint:
            self.endpoint = "https://" + self.endpoint
        parts = urllib.parse.urlsplit(self.endpoint)
        self._scheme = parts.scheme
        self._host = parts.hostname or ""
        self._port = parts.port

    def address(self, bucket: str, key: str = "") -> tuple[str, str]:
        """The ``(Host header, encoded path)`` of an object, by the addressing style."""
        host = self._host if not self._port else f"{self._host}:{self._port}"
        encoded_key = _quote(key, safe="-_.~/")
        if self.path_style:
            return host, f"/{bucket}/{encoded_key}" if key else f"/{bucket}"
        return f"{bucket}.{host}", f"/{encoded_key}"

    def _call(self, method, bucket, key="", query=None, body=b"", headers=None, ok=(200, 204)):
        host, path = self.address(bucket, key)
        query = dict(query or {})
        payload_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        signed = sign_v4(
            method,
            host,
            path,
            query,
            dict(headers or {}),
            payload_hash,
            self.access_key,
            self.secret_key,
            self.region,
        )
        connect_host = host.split(":")[0]
        if self._scheme == "https":
            context = (
                ssl._create_unverified_context() if self.insecure else ssl.create_default_context()
            )
            conn = http.client.HTTPSConnection(
                connect_host, self._port, timeout=self.timeout, context=context
            )
        else:
            conn = http.client.HTTPConnection(connect_host, self._port, timeout=self.timeout)
        target = path + ("?" + canonical_query(query) if query else "")
        try:
            conn.request(method, target, body=body or None, headers=signed)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status not in ok:
            raise S3Error(_error_text(method, bucket, key, resp.status, data))
        return data

    def put_object(self, bucket: str, key: str, body: bytes, headers: dict[str, str]) -> None:
        self._call("PUT", bucket, key, body=body, headers=headers, ok=(200,))

    def delete_object(self, bucket: str, key: str) -> None:
        self._call("DELETE", bucket, key, ok=(200, 204))

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` (ListObjectsV2, following continuation tokens)."""
        keys: list[str] = []
        token = ""
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if token:
                query["continuation-token"] = token
            root = ET.fromstring(self._call("GET", bucket, query=query, ok=(200,)))
            ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            keys += [el.text or "" for el in root.iter(f"{ns}Key")]
            truncated = (root.findtext(f"{ns}IsTruncated") or "").lower() == "true"
            token = root.findtext(f"{ns}NextContinuationToken") or ""
            if not truncated or not token:
                return keys


def _error_text(method, bucket, key, status, data) -> str:
    code = message = ""
    try:
        root = ET.fromstring(data)
        code = root.findtext("Code") or ""
        message = root.findtext("Message") or ""
    except ET.ParseError:
        message = data[:200].decode("utf-8", "replace")
    what = f"s3://{bucket}/{key}" if key else f"bucket {bucket!r}"
    hints = {
        "NoSuchBucket": "create the bucket or fix the 'bucket' setting",
        "AccessDenied": "check the key's permissions on the bucket",
        "InvalidAccessKeyId": "check 'access_key'",
        "SignatureDoesNotMatch": "check 'secret_key', 'region' and 'path_style'",
    }
    hint = hints.get(code, "check 'endpoint', 'bucket' and the credentials")
    return f"{method} {what} failed: {status} {code} {message}".rstrip() + f" ({hint})"
