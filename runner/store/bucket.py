"""An S3-compatible bucket that holds the logs of ended stages (AWS S3, MinIO, Aliyun OSS).

The server talks to it through boto3, imported only when a bucket is configured, so a server
that keeps its logs in the database never loads it. A bucket is named by the ``log_store``
setting as ``s3://BUCKET/PREFIX``; every object this server writes lies under the prefix.

Two clients, because two kinds of callers wait on the bucket:

- readers run on the server's request threads, which the API, webhooks and agents' RPC
  share: a read gets short timeouts and one retry, at most ``READS_AT_ONCE`` are under way
  (beyond, a reader is answered 503 at once), and after a failure reads fail at once for
  ``BACKOFF_SECONDS`` rather than each waiting for the same dead bucket;
- the log mover (a background thread) writes and deletes with longer timeouts, streaming an
  object from a file in parts of ``PART_BYTES``, one part in flight.

Requests carry checksums only where the S3 API requires them and in the form every
S3-compatible store takes (a plain signed body, ``Content-MD5``), not the newer trailing
checksums some stores refuse; deletes go one key at a time for the same reason. A failure is
``StorageUnavailable`` (503 to an API client, without the bucket's address; the details are
logged), a missing object ``NotFound``.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from runner.errors import NotFound, RunnerError, StorageUnavailable

if TYPE_CHECKING:
    from runner.settings import Settings

log = logging.getLogger(__name__)

PART_BYTES = 8 * 1024 * 1024
READS_AT_ONCE = 8
BACKOFF_SECONDS = 5.0
_ADDRESSING = ("auto", "path", "virtual")
# S3's rule for bucket names (lower-case letters, digits, dots and hyphens, 3-63 characters).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_MISSING = ("NoSuchKey", "404")


@dataclass(frozen=True)
class BucketConfig:
    """Where the bucket is and how to sign requests to it (see ``Settings.log_store*``)."""

    bucket: str
    prefix: str  # "" or ending with "/"
    endpoint: str = ""
    region: str = ""
    access_key: str = ""
    secret_key: str = field(default="", repr=False)
    addressing: str = "auto"

    @classmethod
    def from_settings(cls, settings: Settings) -> BucketConfig | None:
        """The configured bucket; None when logs stay in the database. Raises ``RunnerError``
        naming the setting when it is malformed."""
        if not settings.log_store:
            return None
        parts = urlsplit(settings.log_store)
        if parts.scheme != "s3" or not _BUCKET.match(parts.netloc) or parts.query or parts.fragment:
            raise RunnerError(
                "log_store must be s3://BUCKET or s3://BUCKET/PREFIX with an S3 bucket name "
                f"(3-63 lower-case letters, digits, dots, hyphens), not {settings.log_store!r}"
            )
        endpoint = urlsplit(settings.log_store_endpoint)
        if settings.log_store_endpoint and (
            endpoint.scheme not in ("http", "https") or not endpoint.hostname
        ):
            raise RunnerError(
                "log_store_endpoint must be an http:// or https:// URL, "
                f"not {settings.log_store_endpoint!r}"
            )
        if settings.log_store_addressing not in _ADDRESSING:
            raise RunnerError(
                f"log_store_addressing is one of {', '.join(_ADDRESSING)}, "
                f"not {settings.log_store_addressing!r}"
            )
        if bool(settings.log_store_access_key) != bool(settings.log_store_secret_key):
            raise RunnerError("log_store_access_key and log_store_secret_key go together")
        if importlib.util.find_spec("boto3") is None:
            raise RunnerError("log_store needs boto3: pip install 'pipeline-runner[s3]'")
        prefix = parts.path.strip("/")
        return cls(
            bucket=parts.netloc,
            prefix=prefix + "/" if prefix else "",
            endpoint=settings.log_store_endpoint,
            region=settings.log_store_region,
            access_key=settings.log_store_access_key,
            secret_key=settings.log_store_secret_key,
            addressing=settings.log_store_addressing,
        )


class LogBucket:
    """Objects of one bucket under one prefix. Thread-safe (boto3 clients are)."""

    def __init__(self, config: BucketConfig):
        self.config = config
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._session: Any = None
        self._reading = threading.BoundedSemaphore(READS_AT_ONCE)
        self._reads_fail_until = 0.0  # monotonic

    def key(self, name: str) -> str:
        """The object key of ``name`` under this server's prefix."""
        return self.config.prefix + name

    def put(self, key: str, source: IO[bytes]) -> None:
        """Write the object ``key`` from the file ``source`` (read from where it is)."""
        from boto3.s3.transfer import TransferConfig

        transfer = TransferConfig(
            multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES, use_threads=False
        )
        with _answers("writing a log object", key):
            self._client("mover").upload_fileobj(source, self.config.bucket, key, Config=transfer)

    def read(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of the object ``key``."""
        if end <= start:
            return b""
        if time.monotonic() < self._reads_fail_until:
            raise StorageUnavailable("the log bucket did not answer a moment ago")
        if not self._reading.acquire(blocking=False):
            raise StorageUnavailable("the log bucket is busy with other readers")
        try:
            with _answers("reading a log object", key):
                data = self._get(key, start, end)
        except StorageUnavailable:
            self._reads_fail_until = time.monotonic() + BACKOFF_SECONDS
            raise
        finally:
            self._reading.release()
        if len(data) != end - start:
            log.warning("log bucket gave %d bytes of %s for %d", len(data), key, end - start)
            raise StorageUnavailable("the log bucket gave a short answer")
        return data

    def _get(self, key: str, start: int, end: int) -> bytes:
        try:
            answer = self._client("reader").get_object(
                Bucket=self.config.bucket, Key=key, Range=f"bytes={start}-{end - 1}"
            )
        except Exception as exc:  # the client's error classes exist only once it is made
            if _code(exc) in _MISSING:
                raise NotFound("this log is no longer in the log bucket") from None
            raise
        with answer["Body"] as body:
            data: bytes = body.read()
        return data

    def delete(self, key: str) -> None:
        """Remove the object ``key`` (one already gone is no error)."""
        with _answers("deleting a log object", key):
            try:
                self._client("mover").delete_object(Bucket=self.config.bucket, Key=key)
            except Exception as exc:
                if _code(exc) not in _MISSING:
                    raise

    def _client(self, kind: str) -> Any:
        with self._lock:
            if kind not in self._clients:
                if self._session is None:
                    import boto3

                    # One session for both clients: each session parses S3's service model
                    # and endpoint tables (several MiB of Python objects) once.
                    self._session = boto3.session.Session()
                self._clients[kind] = _client(self._session, self.config, reader=kind == "reader")
            return self._clients[kind]


def _client(session: Any, config: BucketConfig, *, reader: bool) -> Any:
    from botocore.config import Config

    options: dict[str, Any] = {}
    if config.access_key:
        options.update(aws_access_key_id=config.access_key, aws_secret_access_key=config.secret_key)
    return session.client(
        "s3",
        endpoint_url=config.endpoint or None,
        region_name=config.region or None,
        config=Config(
            s3={"addressing_style": config.addressing},
            # Trailing CRC checksums (aws-chunked uploads) are refused by Aliyun OSS and
            # others: checksums only where the operation requires one.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            connect_timeout=2 if reader else 10,
            read_timeout=5 if reader else 60,
            retries={"max_attempts": 2 if reader else 4, "mode": "standard"},
            max_pool_connections=READS_AT_ONCE if reader else 2,
        ),
        **options,
    )


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


@contextmanager
def _answers(doing: str, key: str) -> Iterator[None]:
    """Turns the client's failures into ``StorageUnavailable``; the details (the bucket's
    address, the key, the client's words) go to the server's log, not to the caller."""
    try:
        yield
    except RunnerError:
        raise
    except Exception as exc:
        log.warning("log bucket: %s %s failed: %s %s", doing, key, _code(exc), exc)
        raise StorageUnavailable(f"the log bucket did not answer ({doing})") from exc
