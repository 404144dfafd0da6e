"""An S3-compatible bucket that holds the logs of ended stages (AWS S3, MinIO, Aliyun OSS).

The server talks to it through boto3, imported only when a bucket is configured, so a server
that keeps its logs in the database never loads it. A bucket is named by the ``log_store``
setting as ``s3://BUCKET/PREFIX``; every object this server writes lies under the prefix.

Reads are ranged GETs (a log is read a few chunks at a time, as from the database); writes
stream from a file in parts of ``PART_BYTES``, one part in flight, so moving a 64 MiB log
holds about one part in memory. A failure of the bucket is a ``BucketUnavailable`` (503 to an
API client, a retry at the next tick for the mover).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from runner.errors import Busy, NotFound, RunnerError

if TYPE_CHECKING:
    from runner.settings import Settings

PART_BYTES = 8 * 1024 * 1024
_DELETE_BATCH = 1000  # keys per DeleteObjects call, the S3 API's limit
_ADDRESSING = ("auto", "path", "virtual")


class BucketUnavailable(Busy):
    """The bucket did not answer, or refused what was asked (503; try again later)."""

    def __init__(self, message: str):
        super().__init__(message, retry_after=5)


@dataclass(frozen=True)
class BucketConfig:
    """Where the bucket is and how to sign requests to it (see ``Settings.log_store*``)."""

    bucket: str
    prefix: str  # "" or ending with "/"
    endpoint: str = ""
    region: str = ""
    access_key: str = ""
    secret_key: str = ""
    addressing: str = "auto"

    @classmethod
    def from_settings(cls, settings: Settings) -> BucketConfig | None:
        """The configured bucket; None when logs stay in the database. Raises ``RunnerError``
        naming the setting when it is malformed."""
        if not settings.log_store:
            return None
        parts = urlsplit(settings.log_store)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise RunnerError(
                f"log_store must be s3://BUCKET or s3://BUCKET/PREFIX, not {settings.log_store!r}"
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
        self._client: Any = None

    def key(self, name: str) -> str:
        """The object key of ``name`` under this server's prefix."""
        return self.config.prefix + name

    def put(self, key: str, source: IO[bytes]) -> None:
        """Write the object ``key`` from the file ``source`` (read from where it is)."""
        from boto3.s3.transfer import TransferConfig

        transfer = TransferConfig(
            multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES, use_threads=False
        )
        with _answers(f"writing {key}"):
            self._s3().upload_fileobj(source, self.config.bucket, key, Config=transfer)

    def read(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of the object ``key``."""
        if end <= start:
            return b""
        with _answers(f"reading {key}"):
            try:
                answer = self._s3().get_object(
                    Bucket=self.config.bucket, Key=key, Range=f"bytes={start}-{end - 1}"
                )
            except Exception as exc:  # the client's error classes exist only once it is made
                if _code(exc) in ("NoSuchKey", "404"):
                    raise NotFound(f"the log object {key} is no longer in the bucket") from None
                raise
            with answer["Body"] as body:
                data: bytes = body.read()
        if len(data) != end - start:
            raise BucketUnavailable(
                f"the bucket gave {len(data)} bytes of {key} for a range of {end - start}"
            )
        return data

    def delete(self, keys: list[str]) -> None:
        """Remove the objects ``keys`` (a key already gone is no error)."""
        for at in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": key} for key in keys[at : at + _DELETE_BATCH]]
            with _answers("deleting log objects"):
                answer = self._s3().delete_objects(
                    Bucket=self.config.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            failed = [e for e in answer.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if failed:
                first = failed[0]
                raise BucketUnavailable(
                    f"the bucket kept {len(failed)} log objects, first {first.get('Key')}: "
                    f"{first.get('Code')} {first.get('Message', '')}".rstrip()
                )

    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = _client(self.config)
            return self._client


def _client(config: BucketConfig) -> Any:
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {}
    if config.access_key:
        options.update(aws_access_key_id=config.access_key, aws_secret_access_key=config.secret_key)
    return boto3.session.Session().client(
        "s3",
        endpoint_url=config.endpoint or None,
        region_name=config.region or None,
        config=Config(
            s3={"addressing_style": config.addressing},
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=32,
        ),
        **options,
    )


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


@contextmanager
def _answers(doing: str) -> Iterator[None]:
    """Turns the client's failures into ``BucketUnavailable`` naming what was being done."""
    try:
        yield
    except RunnerError:
        raise
    except Exception as exc:
        code = _code(exc)
        reason = f"{code}: {exc}" if code and code not in str(exc) else str(exc)
        raise BucketUnavailable(f"log bucket: {doing}: {reason}") from exc
